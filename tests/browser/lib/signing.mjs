// The relying party of the signing API (Signicat Sign API v2 shape, `<base>/sign`) as the browser
// tests play it with Node's fetch: a sandbox client with three redirect URIs on a tiny local
// server (success, cancel, error), its client-credentials token, documents, sessions, and
// pyHanko's verdict on what comes back. Nothing here knows how Passerelle signs inside.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
/** pyHanko's command line: PASSERELLE_PYHANKO, or the one scripts/python-env installs in .venv. */
export const PYHANKO = process.env.PASSERELLE_PYHANKO || path.join(repo, '.venv/bin/pyhanko');

/**
 * A one-page PDF with a classic cross-reference table (each offset counted, as a validator
 * checks them), its text in the page: the same shape as tests/signing.rs's.
 */
export function samplePdf(text) {
  const content = `BT /F1 18 Tf 72 720 Td (${text}) Tj ET`;
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(content, 'latin1')} >>\nstream\n${content}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ];
  const parts = [Buffer.from('%PDF-1.7\n%\xe2\xe3\xcf\xd3\n', 'latin1')];
  let length = parts[0].length;
  const offsets = [];
  objects.forEach((o, i) => {
    offsets.push(length);
    const b = Buffer.from(`${i + 1} 0 obj\n${o}\nendobj\n`, 'latin1');
    parts.push(b);
    length += b.length;
  });
  const xref = length;
  let tail = `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`;
  for (const o of offsets) tail += `${String(o).padStart(10, '0')} 00000 n \n`;
  tail += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`;
  parts.push(Buffer.from(tail, 'latin1'));
  return Buffer.concat(parts);
}

/**
 * The signing relying party. `listen()` first (the redirect URIs need the port), then
 * `register(passerelle)`: a sandbox client with the three redirect URIs, and its token.
 */
export class SigningRp {
  async listen() {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url, this.base);
      const which = url.pathname.slice(1);
      if (!['success', 'cancel', 'error'].includes(which)) {
        res.writeHead(404).end();
        return;
      }
      const query = JSON.stringify(Object.fromEntries(url.searchParams), null, 1).replace(/&/g, '&amp;').replace(/</g, '&lt;');
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><html lang="en"><title>RP: ${which}</title><h1>Relying party: ${which}</h1><pre id="result">${query}</pre></html>`);
    });
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${this.server.address().port}`;
    this.redirects = { success: `${this.base}/success`, cancel: `${this.base}/cancel`, error: `${this.base}/error` };
    return this;
  }

  /** A sandbox client of `passerelle` named `name`, and a client-credentials token (scope signicat-api). */
  async register(passerelle, name = 'Browser Test Notary') {
    this.passerelle = passerelle;
    this.api = `${passerelle.base}/sign`;
    const out = passerelle.cli('client', 'add', '--name', name,
      ...Object.values(this.redirects).flatMap((u) => ['--redirect-uri', u]),
      '--auth-method', 'client_secret_basic', '--account', 'sandbox', '--json');
    this.client = JSON.parse(out);
    this.name = name;
    const basic = Buffer.from(`${encodeURIComponent(this.client.client_id)}:${encodeURIComponent(this.client.client_secret)}`).toString('base64');
    const resp = await fetch(`${passerelle.base}/auth/open/connect/token`, {
      method: 'POST',
      headers: { Authorization: `Basic ${basic}`, 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'signicat-api' }),
    });
    const body = await resp.json();
    assert.equal(resp.status, 200, JSON.stringify(body));
    assert.equal(body.token_type.toLowerCase(), 'bearer');
    this.token = body.access_token;
    return this;
  }

  async call(method, pathname, { json, body, headers = {}, expect = 200 } = {}) {
    const h = { Authorization: `Bearer ${this.token}`, ...headers };
    if (json !== undefined) {
      h['Content-Type'] = 'application/json';
      body = JSON.stringify(json);
    }
    const resp = await fetch(`${this.api}${pathname}`, { method, headers: h, body });
    const bytes = Buffer.from(await resp.arrayBuffer());
    assert.equal(resp.status, expect, `${method} ${pathname}: ${resp.status} ${bytes.toString('utf8', 0, 2000)}`);
    return { resp, bytes, json: () => JSON.parse(bytes.toString('utf8')) };
  }

  /** Uploads a PDF; returns its documentId. */
  async upload(pdf, filename) {
    const r = await this.call('POST', '/documents', {
      body: pdf,
      headers: { 'Content-Type': 'application/pdf', 'Content-Disposition': `attachment; filename="${filename}"` },
      expect: 201,
    });
    return r.json().documentId;
  }

  /** Creates one session signing `documentIds` (PKISIGNING unless `flow`); returns it as created. */
  async createSession(documentIds, { title = 'Loan agreement', flow = 'PKISIGNING', externalReference = 'order-42', ...more } = {}) {
    const r = await this.call('POST', '/signing-sessions', {
      json: [{
        title,
        documents: documentIds.map((documentId) => ({ action: 'SIGN', documentId })),
        signingSetup: [{ signingFlow: flow, identityProviders: [{ idpName: 'itsme' }] }],
        redirectSettings: this.redirects,
        externalReference,
        ...more,
      }],
      expect: 201,
    });
    const [session] = r.json();
    assert.equal(session.lifecycle.state, 'READY', JSON.stringify(session));
    assert.ok(session.signatureUrl.startsWith(`${this.api}/signer/`), session.signatureUrl);
    return session;
  }

  async session(id) {
    return (await this.call('GET', `/signing-sessions/${id}`)).json();
  }

  async download(documentId) {
    return (await this.call('GET', `/documents/${documentId}`)).bytes;
  }

  /** The sandbox's TEST ONLY root of qualified certificates, as PEM. */
  async sandboxRoot() {
    const resp = await fetch(`${this.passerelle.base}/sandbox/ca/root.pem`);
    assert.equal(resp.status, 200);
    const pem = await resp.text();
    assert.match(pem, /-----BEGIN CERTIFICATE-----/);
    return pem;
  }

  close() {
    return new Promise((resolve) => (this.server ? this.server.close(resolve) : resolve()));
  }
}

/**
 * pyHanko's executive summary of `pdf`, trusting only `rootPem` and checking no revocation:
 * `{ ok, out }`, `ok` when it exits with 0 and says `:VALID` (and never INVALID).
 */
export async function pyhankoValidate(pdf, rootPem) {
  assert.ok(existsSync(PYHANKO), `${PYHANKO} is missing: run scripts/python-env (or set PASSERELLE_PYHANKO)`);
  const dir = mkdtempSync(path.join(tmpdir(), 'pyhanko-'));
  try {
    const file = path.join(dir, 'signed.pdf');
    const root = path.join(dir, 'root.pem');
    writeFileSync(file, pdf);
    writeFileSync(root, rootPem);
    const args = ['sign', 'validate', '--executive-summary', '--trust', root, '--trust-replace', '--no-revocation-check', file];
    const { code, stdout, stderr } = await new Promise((resolve) => {
      execFile(PYHANKO, args, { timeout: 60_000 }, (error, stdout, stderr) => {
        resolve({ code: error ? (error.code ?? 1) : 0, stdout, stderr });
      });
    });
    const out = `${stdout}${stderr}`;
    return { ok: code === 0 && /:VALID/.test(stdout) && !/INVALID/.test(stdout), out, code };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
