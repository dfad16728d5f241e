// The real `passerelle` binary: started on 127.0.0.1:0 with a fresh data directory, stopped with
// SIGTERM. Nothing here knows how Passerelle works inside.
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
export const BIN = path.resolve(repo, process.env.PASSERELLE_BIN || 'target/debug/passerelle');

/** Our environment without the caller's PASSERELLE_* settings, plus `extra`. */
function cleanEnv(extra = {}) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('PASSERELLE_')));
  return { ...env, ...extra };
}

export class Passerelle {
  constructor({ env = {} } = {}) {
    this.dir = mkdtempSync(path.join(tmpdir(), 'passerelle-browser-'));
    this.dataDir = path.join(this.dir, 'data');
    this.env = env;
    this.stdout = [];
  }

  cli(...args) {
    return execFileSync(BIN, ['--data-dir', this.dataDir, ...args], { env: cleanEnv(), encoding: 'utf8', timeout: 60_000 });
  }

  addClient({ name, redirectUri }) {
    const out = this.cli('client', 'add', '--name', name, '--redirect-uri', redirectUri,
      '--auth-method', 'client_secret_basic', '--account', 'sandbox', '--json');
    return JSON.parse(out);
  }

  personas() {
    return JSON.parse(this.cli('sandbox', 'personas', '--json'));
  }

  /** Starts `passerelle serve` and resolves once its first two stdout lines are read. */
  start({ waitMs = 60_000 } = {}) {
    const log = createWriteStream(path.join(this.dir, 'stderr.log'));
    this.proc = spawn(BIN, ['--data-dir', this.dataDir, 'serve', '--listen', '127.0.0.1:0'], {
      env: cleanEnv(this.env),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc.stderr.pipe(log);
    const proc = this.proc;
    process.once('exit', () => proc.exitCode === null && proc.kill('SIGKILL')); // never leave it behind
    this.exited = new Promise((resolve) => this.proc.on('exit', (code, signal) => resolve({ code, signal })));
    const lines = createInterface({ input: this.proc.stdout });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`passerelle did not start in ${waitMs} ms: ${this.stdout.join('\n')}`)), waitMs);
      this.exited.then(({ code }) => reject(new Error(`passerelle exited with ${code} before listening`)));
      lines.on('line', (line) => {
        this.stdout.push(line);
        if (this.stdout.length === 2) {
          clearTimeout(timer);
          const listening = /^Passerelle \S+ is listening on 127\.0\.0\.1:(\d+)$/.exec(this.stdout[0]);
          const issuer = /^\s+Issuer:\s+(\S+)$/.exec(this.stdout[1]);
          if (!listening || !issuer) {
            reject(new Error(`unexpected banner: ${this.stdout.join(' | ')}`));
            return;
          }
          this.port = Number(listening[1]);
          this.base = `http://127.0.0.1:${this.port}`;
          this.issuer = issuer[1];
          resolve(this);
        }
      });
    });
  }

  /** SIGTERM; resolves with the exit code (rejects if it hangs past `timeoutMs`). */
  async stop({ timeoutMs = 10_000 } = {}) {
    if (!this.proc) return null;
    this.proc.kill('SIGTERM');
    let timer;
    const hang = new Promise((_, reject) => {
      timer = setTimeout(() => {
        this.proc.kill('SIGKILL');
        reject(new Error(`passerelle did not stop within ${timeoutMs} ms of SIGTERM`));
      }, timeoutMs);
    });
    try {
      const { code } = await Promise.race([this.exited, hang]);
      return code;
    } finally {
      clearTimeout(timer);
      this.proc = null;
    }
  }

  cleanup() {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
