"""The database goes down in the middle of concurrent logins, and comes back.

On a PostgreSQL server of its own (`pg_instance`, never the shared one), the real binary runs
complete logins from several threads at once (authorize → phone page → phone → waiting page →
callback → token → userinfo, with the approving persona); the server is stopped with
`pg_ctl stop -m immediate` (a crash: connections cut, nothing flushed) in the middle, then
started again. What must hold:

- every request is answered within 5 s, none with a 500, none with internal detail in its body;
- while the database is down the answers are 503 `temporarily_unavailable` (JSON at token and
  userinfo, a page at the pages, with Retry-After) or a `temporarily_unavailable` redirect to the
  relying party;
- the process keeps running, and logins succeed again within seconds of the database's return,
  without a restart; the PostgreSQL listener is listening again;
- no authorization code ever yields tokens twice: every code that reached the relying party is
  presented again after the recovery, and one that already gave tokens gets `invalid_grant`.

Skips only when the PostgreSQL server binaries are missing (scripts/install-deps installs them).
About 30 s, most of it initdb and the outage window.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from urllib.parse import urlencode, urljoin, urlsplit

import pytest
import requests

from harness import RP_CALLBACK, Page, Server, query
from pg_instance import PostgresInstance, server_bindir

PHONE = "+32470000001"  # approves at once
WORKERS = 8
CEILING = 5.0  # seconds: the longest any answer may take, outage or not
OUTAGE = 6.0  # seconds the database stays down
RECOVERY_LIMIT = 15.0  # seconds after the restart by which a login must succeed again
# Every `[rate_limits]` key (README, "Configuration").
RATE_LIMITS = ("AUTHORIZE_PER_IP", "TOKEN_PER_IP", "TOKEN_PER_CLIENT", "USERINFO_PER_IP", "SANDBOX_TOKEN_PER_IP",
               "SANDBOX_TOKEN_PER_CLIENT", "PHONE_PER_IP", "APP_CODE_PER_IP")
# What must never reach a client: traces, driver and OS messages, internal names.
LEAKS = ("panicked", "backtrace", "sqlx", "SQLSTATE", "os error", "Connection refused", "pool timed out", "database error", "internal error")

BINDIR = server_bindir()
pytestmark = pytest.mark.skipif(BINDIR is None, reason="PostgreSQL server binaries (initdb, pg_ctl) are not installed; scripts/install-deps installs them")


@dataclass
class Call:
    kind: str
    status: int | None  # None: no answer (timeout, connection error)
    seconds: float
    started: float
    problem: str | None = None  # what is wrong with the answer, if anything


@dataclass
class Record:
    """Everything the workers saw, shared under a lock."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    calls: list[Call] = field(default_factory=list)
    codes: list[str] = field(default_factory=list)  # every code that reached the RP
    redeemed: Counter = field(default_factory=Counter)  # code -> successful token responses
    verifiers: dict[str, str] = field(default_factory=dict)  # code -> its PKCE verifier
    logins: list[tuple[float, float]] = field(default_factory=list)  # (started, finished) of complete logins
    rp_errors: Counter = field(default_factory=Counter)
    abandoned: Counter = field(default_factory=Counter)  # step -> logins that stopped there

    def add(self, call: Call) -> None:
        with self.lock:
            self.calls.append(call)


def kind_of(url: str) -> str:
    path = urlsplit(url).path
    for marker, kind in (
        ("/connect/authorize", "authorize"),
        ("/connect/itsme/callback", "callback"),
        ("/connect/token", "token"),
        ("/connect/userinfo", "userinfo"),
        ("/sandbox/v2/authorization", "sandbox-authorization"),
        ("/phone", "phone"),
        ("/wait", "wait"),
        ("/readyz", "readyz"),
        ("/healthz", "healthz"),
    ):
        if marker in path:
            return kind
    return path


JSON_KINDS = {"token", "userinfo"}


def check(kind: str, resp: requests.Response) -> str | None:
    """What is wrong with an answer, or None."""
    body = resp.text
    # Error answers only: a token response's random base64 may spell anything.
    for leak in LEAKS if resp.status_code >= 400 else ():
        if leak.lower() in body.lower():
            return f"body leaks {leak!r}: {body[:300]}"
    if resp.status_code >= 500 and resp.status_code != 503:
        return f"{resp.status_code}: {body[:300]}"
    if resp.status_code == 503 and kind != "readyz":  # /readyz is for probes: its own JSON
        if resp.headers.get("Retry-After") != "5":
            return "503 without Retry-After: 5"
        if kind in JSON_KINDS:
            try:
                error = resp.json().get("error")
            except ValueError:
                return f"503 at {kind} is not JSON: {body[:200]}"
            if error != "temporarily_unavailable":
                return f"503 at {kind} says {error!r}"
        elif not resp.headers.get("Content-Type", "").startswith("text/html") or "temporarily unavailable" not in Page(body).text:
            return f"503 at {kind} is not the unavailable page: {body[:200]}"
    return None


class Worker(threading.Thread):
    def __init__(self, server: Server, client: dict, record: Record, stop: threading.Event):
        super().__init__(daemon=True)
        self.server, self.client, self.record, self.stop = server, client, record, stop
        meta = server.discovery
        self.authorize_endpoint = meta["authorization_endpoint"]
        self.token_endpoint = meta["token_endpoint"]
        self.userinfo_endpoint = meta["userinfo_endpoint"]

    def call(self, method, url: str, **kw) -> requests.Response | None:
        kind = kind_of(url)
        started = time.monotonic()
        try:
            resp = method(url, allow_redirects=False, timeout=3 * CEILING, **kw)
        except requests.RequestException as e:
            self.record.add(Call(kind, None, time.monotonic() - started, started, f"no answer: {e}"))
            return None
        seconds = time.monotonic() - started
        self.record.add(Call(kind, resp.status_code, seconds, started, check(kind, resp)))
        return resp

    def run(self) -> None:
        while not self.stop.is_set():
            self.login()

    def login(self) -> None:
        started = time.monotonic()
        browser = requests.Session()
        verifier = secrets.token_urlsafe(48)
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        state = secrets.token_urlsafe(12)
        params = {
            "response_type": "code",
            "client_id": self.client["client_id"],
            "redirect_uri": RP_CALLBACK,
            "scope": "openid profile",
            "state": state,
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        resp = self.call(browser.get, f"{self.authorize_endpoint}?{urlencode(params)}")
        callback = None
        for _ in range(12):
            if resp is None:
                return self.abandon("no answer")
            if resp.is_redirect:
                location = urljoin(resp.url, resp.headers["Location"])
                if location.startswith(RP_CALLBACK):
                    callback = location
                    break
                resp = self.call(browser.get, location)
            elif resp.status_code == 200 and 'type="tel"' in resp.text:
                form = next(f for f in Page(resp.text).forms if "phone" in f.inputs)
                resp = self.call(browser.post, urljoin(resp.url, form.action), data={"phone": PHONE})
            elif resp.status_code == 200 and Page(resp.text).refresh:
                resp = self.call(browser.get, urljoin(resp.url, Page(resp.text).refresh))
            else:
                return self.abandon(f"{kind_of(resp.url)} {resp.status_code}")
        if callback is None:
            return self.abandon("too many hops")
        answer = query(callback)
        if "error" in answer:
            with self.record.lock:
                self.record.rp_errors[answer["error"]] += 1
            return
        code = answer["code"]
        with self.record.lock:
            self.record.codes.append(code)
            self.record.verifiers[code] = verifier
        token = self.redeem(code, verifier)
        if token is None or token.status_code != 200:
            return self.abandon(f"token {token.status_code if token is not None else 'no answer'}")
        access_token = token.json()["access_token"]
        info = self.call(requests.get, self.userinfo_endpoint, headers={"Authorization": f"Bearer {access_token}"})
        if info is None or info.status_code != 200:
            return self.abandon(f"userinfo {info.status_code if info is not None else 'no answer'}")
        with self.record.lock:
            self.record.logins.append((started, time.monotonic()))

    def redeem(self, code: str, verifier: str) -> requests.Response | None:
        resp = self.call(
            requests.post,
            self.token_endpoint,
            auth=(self.client["client_id"], self.client["client_secret"]),
            data={"grant_type": "authorization_code", "code": code, "redirect_uri": RP_CALLBACK, "code_verifier": verifier},
        )
        if resp is not None and resp.status_code == 200:
            with self.record.lock:
                self.record.redeemed[code] += 1
        return resp

    def abandon(self, where: str) -> None:
        with self.record.lock:
            self.record.abandoned[where] += 1


def wait_until(predicate, limit: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < limit, f"{what} did not happen within {limit} s"
        time.sleep(0.1)
    return time.monotonic() - started


def test_postgres_stopped_mid_login_gives_quick_clean_errors_and_recovers(binary, tmp_path):
    pg = PostgresInstance(BINDIR)
    # Rate limits off: many logins from one address is this test's load, not an attack.
    limits = {f"PASSERELLE_RATE_LIMITS_{k}": "0" for k in RATE_LIMITS}
    server = Server(tmp_path / "data", database_url=pg.url, env={"PASSERELLE_LOG": "info", **limits})
    stop = threading.Event()
    workers: list[Worker] = []
    record = Record()
    try:
        pg.init().start()
        server.start()
        client = server.add_client("Fault shop")
        workers = [Worker(server, client, record, stop) for _ in range(WORKERS)]
        for w in workers:
            w.start()

        # Warm: logins succeed.
        wait_until(lambda: len(record.logins) >= 2 * WORKERS, 60, "the first logins")

        # The database crashes in the middle of the logins.
        pg.stop("immediate")
        down_at = time.monotonic()
        # Probes of every shape while it is down (the workers are somewhere in their logins).
        probe = Worker(server, client, record, stop)
        time.sleep(0.5)
        token = probe.call(requests.post, probe.token_endpoint, auth=(client["client_id"], client["client_secret"]),
                           data={"grant_type": "authorization_code", "code": "x" * 43, "redirect_uri": RP_CALLBACK, "code_verifier": "v" * 43})
        userinfo = probe.call(requests.get, probe.userinfo_endpoint, headers={"Authorization": "Bearer " + "t" * 43})
        page = probe.call(requests.get, f"{probe.authorize_endpoint}?client_id={client['client_id']}")
        ready = probe.call(requests.get, f"{server.base}/readyz")
        for resp in (token, userinfo, page, ready):
            assert resp is not None and resp.status_code == 503, resp and (resp.status_code, resp.text[:300])
        live = probe.call(requests.get, f"{server.base}/healthz")
        assert live is not None and live.status_code == 200, "alive: a restart would not bring the database back"
        assert token.json() == {"error": "temporarily_unavailable", "error_description": token.json()["error_description"]}
        assert "temporarily unavailable" in Page(page.text).text
        time.sleep(max(0.0, OUTAGE - (time.monotonic() - down_at)))
        assert server.proc is not None and server.proc.poll() is None, "passerelle exited while the database was down"

        # The database returns; the same process serves again.
        pg.start()
        back_at = time.monotonic()
        recovered = wait_until(
            lambda: any(started >= back_at for started, _ in record.logins), RECOVERY_LIMIT, "a complete login after the restart"
        )
        time.sleep(2)
        stop.set()
        for w in workers:
            w.join(timeout=60)
        assert not any(w.is_alive() for w in workers), "a worker is stuck"

        # Every code that reached the RP, presented again: one that gave tokens is spent.
        replays = Counter()
        for code in record.codes:
            resp = probe.redeem(code, record.verifiers[code])
            assert resp is not None
            if resp.status_code == 200:
                replays["first redemption after the outage"] += 1
                resp = probe.redeem(code, record.verifiers[code])
            assert resp.status_code == 400 and resp.json()["error"] == "invalid_grant", (resp.status_code, resp.text)
            replays["invalid_grant"] += 1
        twice = [c for c, n in record.redeemed.items() if n > 1]
        assert not twice, f"{len(twice)} codes gave tokens twice"

        assert server.proc.poll() is None, "passerelle exited"
        assert requests.get(f"{server.base}/readyz", timeout=CEILING).status_code == 200

        # What every answer looked like.
        problems = [c for c in record.calls if c.problem]
        slow = [c for c in record.calls if c.seconds >= CEILING]
        statuses = Counter((c.kind, c.status) for c in record.calls)
        during = [c for c in record.calls if down_at <= c.started < back_at]
        slowest = max(record.calls, key=lambda c: c.seconds)
        summary = (
            f"{len(record.calls)} requests, {len(record.logins)} complete logins, {len(record.codes)} codes to the RP; "
            f"outage {back_at - down_at:.1f} s, {len(during)} requests during it, slowest "
            f"{max(c.seconds for c in during):.2f} s (overall: {slowest.kind} {slowest.status} in {slowest.seconds:.2f} s, "
            f"{slowest.started - down_at:+.1f} s from the stop, {slowest.started - back_at:+.1f} s from the start); "
            f"first login after the restart {recovered:.1f} s; RP errors {dict(record.rp_errors)}; "
            f"abandoned {dict(record.abandoned)}; replays {dict(replays)}; statuses {dict(sorted(statuses.items(), key=str))}"
        )
        print(summary)
        assert not problems, f"{len(problems)} bad answers, e.g. {problems[:5]}\n{summary}"
        assert not slow, f"{len(slow)} answers took {CEILING} s or more, e.g. {slow[:5]}\n{summary}"
        assert any(c.status == 503 for c in during), summary
        assert set(record.rp_errors) <= {"temporarily_unavailable"}, summary

        logs = server.logs()
        assert "panicked" not in logs
        assert logs.count("listening for other nodes' notifications") >= 2, "the LISTEN task is listening again"
        assert server.stop() == 0
    finally:
        stop.set()
        server.kill()
        pg.remove()
