"""A PostgreSQL server of a test's own, in a temporary directory, on a free port of 127.0.0.1:
started, stopped (`-m immediate`, as a crash would) and started again at will, and removed
afterwards. Never the shared server on 5432, which other suites use.

Uses the server binaries (`initdb`, `pg_ctl`) directly rather than Debian's pg_createcluster, so
nothing is written under /etc and nothing outlives the test. `initdb` refuses to run as root: as
root (CI), every command runs as the `postgres` user through `runuser`, and the directory is
handed to that user.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path


def server_bindir() -> Path | None:
    """The newest installed PostgreSQL server's bin directory (Debian: /usr/lib/postgresql/N/bin),
    else the directory of an `initdb` on PATH; None when there is none."""
    candidates = [Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")]
    candidates.sort(key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    for d in reversed(candidates):
        if (d / "pg_ctl").exists():
            return d
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).parent
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresInstance:
    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.as_root = os.geteuid() == 0
        self.dir = Path(tempfile.mkdtemp(prefix="passerelle-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = free_port()
        if self.as_root:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        os.chmod(self.dir, 0o700)

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        cmd = [str(self.bindir / tool), *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.dir, stdin=subprocess.DEVNULL)

    def init(self) -> "PostgresInstance":
        r = self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "--no-sync", "--no-locale", "-E", "UTF8")
        if r.returncode != 0:
            raise AssertionError(f"initdb failed: {r.stderr}")
        return self

    def start(self) -> None:
        # fsync off: a process crash (what `-m immediate` is) loses nothing the OS was given, and
        # every commit is still written to the OS before it is acknowledged (synchronous_commit
        # keeps its default, on).
        options = f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off"
        r = self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "-t", "30", "start")
        if r.returncode != 0:
            raise AssertionError(f"pg_ctl start failed: {r.stderr}\n{self.server_log()[-2000:]}")

    def stop(self, mode: str = "immediate") -> None:
        r = self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "30", "stop")
        if r.returncode != 0:
            raise AssertionError(f"pg_ctl stop failed: {r.stderr}")

    def is_running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status").returncode == 0

    def server_log(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def remove(self) -> None:
        """Stops the server if it runs and deletes everything; never raises."""
        try:
            if self.data.exists() and self.is_running():
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except Exception:  # noqa: BLE001 - cleanup goes on whatever happened
            pass
        shutil.rmtree(self.dir, ignore_errors=True)
