"""What the end-to-end tests share: the real `passerelle` binary, a person's browser, and a
relying party built on authlib.

Nothing here knows how Passerelle works inside. The server is started as a user would start it,
the sandbox pages are read as HTML and submitted as forms, and the relying party only uses the
discovery document, authlib's OAuth2Session and joserfc.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oidc.core import CodeIDToken
from joserfc import jwt
from joserfc.jwk import KeySet

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("PASSERELLE_BIN", "target/debug/passerelle"))
if not BIN.is_absolute():
    BIN = REPO / BIN

# The redirect URI of the relying parties here: nothing listens there, the browser stops before it.
RP_CALLBACK = "http://rp.test/cb"

AUTHENTICATION = "openid name email"
ALL_SCOPES = (
    "openid name email idp-id profile date-of-birth gender phone address "
    "nin nationality place-of-birth itsme-eid itsme-validity itsme-issuance-locality"
)

LISTENING = re.compile(r"^Passerelle \S+ is listening on 127\.0\.0\.1:(\d+)$")
ISSUER_LINE = re.compile(r"^\s+Issuer:\s+(\S+)$")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
HTTP_TIMEOUT = 30


# --------------------------------------------------------------------------------------------
# The binary
# --------------------------------------------------------------------------------------------


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for the binary: ours, without any PASSERELLE_* setting of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PASSERELLE_")}
    env.update(extra or {})
    return env


class Server:
    """One `passerelle serve` process on 127.0.0.1, with its data directory and its logs."""

    def __init__(self, data_dir: Path, *, database_url: str | None = None, env: dict[str, str] | None = None):
        self.data_dir = Path(data_dir)
        self.database_url = database_url
        self.env = env or {}
        self.proc: subprocess.Popen | None = None
        self.port: int | None = None
        self.issuer: str | None = None
        self.stdout_lines: list[str] = []
        self.log_files: list[Path] = []
        self._discovery: dict | None = None

    # -- process ---------------------------------------------------------------------------

    def global_args(self) -> list[str]:
        args = ["--data-dir", str(self.data_dir)]
        if self.database_url:
            args += ["--database-url", self.database_url]
        return args

    def start(self, port: int = 0, wait_seconds: float = 60) -> "Server":
        assert self.proc is None, "already running"
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = self.data_dir.parent / f"{self.data_dir.name}-stderr-{len(self.log_files)}.log"
        self.log_files.append(log)
        with open(log, "wb") as err:
            self.proc = subprocess.Popen(
                [str(BIN), *self.global_args(), "serve", "--listen", f"127.0.0.1:{port}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
                env=clean_env(self.env),
                text=True,
            )
        lines: list[str] = []
        self.stdout_lines = lines
        ready = threading.Event()

        def drain(stream):
            for line in stream:
                lines.append(line.rstrip("\n"))
                if len(lines) >= 2:
                    ready.set()
            ready.set()

        threading.Thread(target=drain, args=(self.proc.stdout,), daemon=True).start()
        if not ready.wait(wait_seconds) or len(lines) < 2:
            self.kill()
            raise AssertionError(f"passerelle did not start: stdout={lines!r}\nstderr:\n{self.logs()[-3000:]}")
        first = LISTENING.match(lines[0])
        second = ISSUER_LINE.match(lines[1])
        assert first, f"unexpected first line: {lines[0]!r}"
        assert second, f"unexpected second line: {lines[1]!r}"
        self.port = int(first.group(1))
        self.issuer = second.group(1)
        assert self.issuer == f"http://127.0.0.1:{self.port}/auth/open"
        self._discovery = None
        return self

    def stdout_line(self, prefix: str, timeout: float = 10) -> str:
        """The first line of the startup banner that starts with `prefix` (after indentation)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.stdout_lines):
                if line.strip().startswith(prefix):
                    return line.strip()
            time.sleep(0.05)
        raise AssertionError(f"no {prefix!r} line in {self.stdout_lines!r}")

    def stop(self, timeout: float = 10) -> int:
        """SIGTERM, then the exit code (a hang past `timeout` is killed and reported)."""
        assert self.proc is not None
        proc, self.proc = self.proc, None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError(f"passerelle did not stop within {timeout} s of SIGTERM")

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None

    def logs(self) -> str:
        """Everything the server wrote to stderr, in every run, without colours."""
        text = "".join(p.read_text(errors="replace") for p in self.log_files if p.exists())
        return ANSI.sub("", text)

    # -- command line ----------------------------------------------------------------------

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [str(BIN), *self.global_args(), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
        )
        if check and result.returncode != 0:
            raise AssertionError(f"passerelle {' '.join(args)} failed ({result.returncode}): {result.stderr}")
        return result

    def cli_json(self, *args: str):
        return json.loads(self.cli(*args, "--json").stdout)

    def add_client(
        self,
        name: str,
        *,
        redirect_uris: tuple[str, ...] = (RP_CALLBACK,),
        auth_method: str = "client_secret_basic",
        account: str = "sandbox",
        grants: tuple[str, ...] = (),
        jwks_file: Path | None = None,
        id_token_alg: str | None = None,
    ) -> dict:
        args = ["client", "add", "--name", name, "--auth-method", auth_method, "--account", account]
        for uri in redirect_uris:
            args += ["--redirect-uri", uri]
        for g in grants:
            args += ["--grant", g]
        if jwks_file:
            args += ["--jwks", str(jwks_file)]
        if id_token_alg:
            args += ["--id-token-alg", id_token_alg]
        return self.cli_json(*args)

    # -- HTTP ------------------------------------------------------------------------------

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def discovery(self) -> dict:
        if self._discovery is None:
            r = requests.get(f"{self.issuer}/.well-known/openid-configuration", timeout=HTTP_TIMEOUT)
            r.raise_for_status()
            self._discovery = r.json()
        return self._discovery

    def jwks(self) -> dict:
        r = requests.get(self.discovery["jwks_uri"], timeout=HTTP_TIMEOUT)
        r.raise_for_status()
        return r.json()


# A PostgreSQL server for the runs on PostgreSQL (e.g. postgres://postgres@127.0.0.1:5432), or "".
POSTGRES = os.environ.get("PASSERELLE_TEST_POSTGRES", "").rstrip("/")


def pg_command(tool: str, name: str) -> None:
    """Runs `createdb NAME` or `dropdb NAME` against POSTGRES."""
    u = urlsplit(POSTGRES)
    env = dict(os.environ)
    if u.password:
        env["PGPASSWORD"] = u.password
    args = [tool, "-h", u.hostname or "127.0.0.1", "-p", str(u.port or 5432), "-U", u.username or "postgres", name]
    subprocess.run(args, check=True, env=env, capture_output=True, timeout=60)


def personas_json() -> list[dict]:
    """`passerelle sandbox personas --json`: needs no server and no data directory."""
    result = subprocess.run(
        [str(BIN), "sandbox", "personas", "--json"], capture_output=True, text=True, env=clean_env(), timeout=60, check=True
    )
    return json.loads(result.stdout)


# --------------------------------------------------------------------------------------------
# HTML, as a browser reads it
# --------------------------------------------------------------------------------------------


@dataclass
class Form:
    action: str
    method: str
    inputs: dict[str, str] = field(default_factory=dict)
    buttons: list[tuple[str, str]] = field(default_factory=list)


class Page(HTMLParser):
    """The parts of a page the tests look at: forms, links, labels, meta refresh, visible text."""

    def __init__(self, html: str):
        super().__init__(convert_charrefs=True)
        self.forms: list[Form] = []
        self.inputs: list[dict[str, str]] = []
        self.links: list[dict[str, str]] = []
        self.labels: dict[str, str] = {}
        self.refresh: str | None = None
        self.text_parts: list[str] = []
        self._label_for: str | None = None
        self._in_skip = 0
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        a = {k: (v or "") for k, v in attrs}
        if tag in ("style", "script", "title"):
            self._in_skip += 1
        if tag == "form":
            self.forms.append(Form(action=a.get("action", ""), method=a.get("method", "get").lower()))
        elif tag == "input":
            self.inputs.append(a)
            if self.forms and a.get("name"):
                self.forms[-1].inputs[a["name"]] = a.get("value", "")
        elif tag == "button" and self.forms and a.get("name"):
            self.forms[-1].buttons.append((a["name"], a.get("value", "")))
        elif tag == "a":
            self.links.append(a)
        elif tag == "label":
            self._label_for = a.get("for")
            self.labels.setdefault(self._label_for or "", "")
        elif tag == "meta" and a.get("http-equiv", "").lower() == "refresh":
            content = a.get("content", "")
            if "url=" in content.lower():
                self.refresh = content[content.lower().index("url=") + 4 :]

    def handle_endtag(self, tag):
        if tag in ("style", "script", "title"):
            self._in_skip -= 1
        if tag == "label":
            self._label_for = None

    def handle_data(self, data):
        if self._in_skip:
            return
        self.text_parts.append(data)
        if self._label_for is not None:
            self.labels[self._label_for] += data

    @property
    def text(self) -> str:
        return " ".join(" ".join(self.text_parts).split())


# --------------------------------------------------------------------------------------------
# The person's browser: one cookie jar, stops at the relying party's redirect URI
# --------------------------------------------------------------------------------------------


class Browser:
    def __init__(self, stop_at: str = RP_CALLBACK):
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "passerelle-e2e"
        self.stop_at = stop_at
        self.history: list[str] = []  # every URL this browser was sent to, the RP's included

    def get(self, url: str, **kw) -> requests.Response:
        self.history.append(url)
        return self.http.get(url, allow_redirects=False, timeout=HTTP_TIMEOUT, **kw)

    def follow(self, response: requests.Response) -> requests.Response | str:
        """Follows redirects; returns the URL the RP would receive, or the page where it stopped."""
        for _ in range(20):
            if not response.is_redirect:
                return response
            location = urljoin(response.url, response.headers["Location"])
            if location.startswith(self.stop_at):
                self.history.append(location)
                return location
            response = self.get(location)
        raise AssertionError("too many redirects")

    def open(self, url: str) -> requests.Response | str:
        return self.follow(self.get(url))

    def submit_phone(self, phone_page: requests.Response, phone: str) -> requests.Response | str:
        page = Page(phone_page.text)
        form = next(f for f in page.forms if "phone" in f.inputs)
        assert form.method == "post"
        r = self.http.post(urljoin(phone_page.url, form.action), data={"phone": phone}, allow_redirects=False, timeout=HTTP_TIMEOUT)
        return self.follow(r)

    def wait_for_rp(self, result: requests.Response | str, timeout: float = 40) -> requests.Response | str:
        """Lets a waiting page move on by itself (its meta refresh, a long poll) until it leaves."""
        deadline = time.monotonic() + timeout
        while not isinstance(result, str):
            page = Page(result.text)
            if page.refresh is None:
                return result  # a page that does not move by itself (e.g. the form_post page)
            assert time.monotonic() < deadline, "the waiting page never moved on"
            result = self.open(urljoin(result.url, page.refresh))
        return result


def query(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


# --------------------------------------------------------------------------------------------
# The relying party: authlib
# --------------------------------------------------------------------------------------------


class RelyingParty:
    """One client of Passerelle, as an authlib OAuth2Session with PKCE S256."""

    def __init__(self, server: Server, client: dict, *, scope: str = AUTHENTICATION, redirect_uri: str = RP_CALLBACK, private_key=None):
        self.server = server
        self.client = client
        self.meta = server.discovery
        method = client["token_endpoint_auth_method"]
        secret = private_key if method == "private_key_jwt" else client.get("client_secret")
        self.oauth = OAuth2Session(
            client["client_id"],
            secret,
            scope=scope,
            redirect_uri=redirect_uri,
            code_challenge_method="S256",
            token_endpoint_auth_method=method,
        )
        if method == "private_key_jwt":
            # authlib's first argument is the assertion's `aud` (it defaults to the token
            # endpoint's URL): Passerelle accepts only its issuer identifier (RFC 7523bis).
            self.oauth.register_client_auth_method(PrivateKeyJWT(self.meta["issuer"]))
        self.state = self.nonce = self.verifier = None

    def authorization_url(self, **extra) -> str:
        self.verifier = generate_token(48)
        self.nonce = generate_token(20)
        url, self.state = self.oauth.create_authorization_url(
            self.meta["authorization_endpoint"], code_verifier=self.verifier, nonce=self.nonce, **extra
        )
        return url

    def redeem(self, callback_url: str) -> dict:
        return self.oauth.fetch_token(
            self.meta["token_endpoint"], authorization_response=callback_url, state=self.state, code_verifier=self.verifier
        )

    def userinfo(self) -> dict:
        r = self.oauth.get(self.meta["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
        assert r.status_code == 200, r.text
        assert r.headers["Content-Type"].startswith("application/json")
        return r.json()

    def verify_id_token(self, token: dict) -> tuple[dict, dict]:
        """Verifies the ID token against the published JWKS; returns (header, claims)."""
        keys = KeySet.import_key_set(self.server.jwks())
        decoded = jwt.decode(token["id_token"], keys, algorithms=self.meta["id_token_signing_alg_values_supported"])
        options = {
            "iss": {"essential": True, "value": self.server.issuer},
            "aud": {"essential": True, "value": self.client["client_id"]},
            "exp": {"essential": True},
            "iat": {"essential": True},
            "sub": {"essential": True},
            "nonce": {"essential": True, "value": self.nonce},
            "at_hash": {"essential": True},
        }
        claims = CodeIDToken(
            decoded.claims,
            decoded.header,
            options,
            {"nonce": self.nonce, "client_id": self.client["client_id"], "access_token": token["access_token"]},
        )
        claims.validate(leeway=5)
        assert claims["acr"] == "high"
        assert claims["idp"] == "itsme"
        assert claims["exp"] > time.time()
        return decoded.header, dict(claims)


@dataclass
class Login:
    callback: str
    params: dict[str, str]
    token: dict
    header: dict
    id_claims: dict
    userinfo: dict


def authorize(rp: RelyingParty, phone: str, browser: Browser | None = None, **extra) -> str:
    """A person's whole trip through the browser: RP → Passerelle → sandbox → Passerelle → RP.
    Returns the URL the RP receives (its redirect URI with the response parameters)."""
    browser = browser or Browser()
    page = browser.open(rp.authorization_url(**extra))
    assert not isinstance(page, str), f"expected the phone page, got a redirect to the RP: {page}"
    assert page.status_code == 200, page.text
    assert urlsplit(page.url).path.startswith("/sandbox/v2/"), page.url
    result = browser.wait_for_rp(browser.submit_phone(page, phone))
    assert isinstance(result, str), f"the flow stopped at {result.url}: {Page(result.text).text[:300]}"
    return result


def login(rp: RelyingParty, phone: str, browser: Browser | None = None, **extra) -> Login:
    """`authorize`, then the RP's back channel: token, ID-token verification, userinfo."""
    callback = authorize(rp, phone, browser, **extra)
    params = query(callback)
    assert "error" not in params, params
    assert params["state"] == rp.state
    assert params["iss"] == rp.server.issuer
    token = rp.redeem(callback)
    assert token["token_type"].lower() == "bearer"
    header, claims = rp.verify_id_token(token)
    return Login(callback, params, token, header, claims, rp.userinfo())


def form_post_fields(page: requests.Response, action: str) -> dict[str, str]:
    """The fields of the auto-submitting form_post page, checked to post to `action`."""
    forms = Page(page.text).forms
    assert len(forms) == 1, page.text
    assert forms[0].method == "post" and forms[0].action == action
    return forms[0].inputs


def callback_url(redirect_uri: str, params: dict[str, str]) -> str:
    return f"{redirect_uri}?{urlencode(params)}"


def unique(prefix: str) -> str:
    return f"{prefix} {secrets.token_hex(3)}"
