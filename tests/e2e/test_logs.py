"""With every log line on (PASSERELLE_LOG=debug), nothing personal and no credential reaches the
logs: run many flows on a server of its own, stop it, then read everything it wrote."""

import re
from urllib.parse import parse_qsl, urljoin, urlsplit

import pytest
import requests

from harness import ALL_SCOPES, AUTHENTICATION, Browser, Page, RelyingParty, Server, authorize, login, query, unique


@pytest.fixture(scope="module")
def run(binary, tmp_path_factory, personas):
    """Runs the flows; returns (logs, secrets seen by the RP and the browser, port)."""
    server = Server(tmp_path_factory.mktemp("logs") / "data", env={"PASSERELLE_LOG": "debug"}).start()
    seen: list[str] = []
    browsers: list[Browser] = []

    def browser():
        b = Browser()
        browsers.append(b)
        return b

    try:
        basic = server.add_client(unique("Log shop"))
        post = server.add_client(unique("Log post"), auth_method="client_secret_post")
        seen += [basic["client_secret"], post["client_secret"]]

        for p in personas:
            if p["behaviour"] == "approve":
                for client, scope in ((basic, ALL_SCOPES), (post, AUTHENTICATION)):
                    result = login(RelyingParty(server, client, scope=scope), p["phone_number"], browser())
                    seen += [result.params["code"], result.token["access_token"], result.token["id_token"]]
            elif p["behaviour"] in ("refuse", "timeout", "blocked"):
                params = query(authorize(RelyingParty(server, basic), p["phone_number"], browser()))
                assert params["error"] == "access_denied"

        # A manual persona: two wrong codes, then the right one, typed in the app.
        manual = next(p for p in personas if p["behaviour"] == "manual")
        rp = RelyingParty(server, basic, scope=ALL_SCOPES)
        b = browser()
        waiting = b.submit_phone(b.open(rp.authorization_url()), manual["phone_number"].replace("+", "00"))
        app_url = urljoin(waiting.url, next(a["href"] for a in Page(waiting.text).links if "/app/actions/" in a["href"]))
        for code in ("00000", "99998", manual["code"]):
            requests.post(app_url, data={"code": code, "decision": "approve"}, timeout=10)
        callback = b.wait_for_rp(waiting)
        token = rp.redeem(callback)
        seen += [query(callback)["code"], token["access_token"]]

        # CIBA: a backchannel-only client; a scripted persona's poll login, and the manual persona
        # approving in the sandbox inbox (whose URL carries the phone number).
        till = server.cli_json("client", "add", "--name", unique("Log till"), "--account", "sandbox", "--ciba-mode", "poll")
        seen.append(till["client_secret"])
        till_auth = (till["client_id"], till["client_secret"])

        def backchannel(phone):
            r = requests.post(
                server.discovery["backchannel_authentication_endpoint"],
                data={"scope": ALL_SCOPES, "login_hint": phone, "binding_message": "Till 9"},
                auth=till_auth,
                timeout=10,
            )
            assert r.status_code == 200, r.text
            return r.json()["auth_req_id"]

        def ciba_tokens(auth_req_id):
            r = requests.post(
                server.discovery["token_endpoint"],
                data={"grant_type": "urn:openid:params:grant-type:ciba", "auth_req_id": auth_req_id},
                auth=till_auth,
                timeout=30,
            )
            assert r.status_code == 200, r.text
            return r.json()

        approver = next(p for p in personas if p["behaviour"] == "approve")
        for phone in (approver["phone_number"], manual["phone_number"]):
            auth_req_id = backchannel(phone)
            if phone == manual["phone_number"]:
                inbox = requests.get(f"{server.base}/sandbox/v2/app/inbox", params={"phone": phone}, timeout=10)
                link = next(a["href"] for a in Page(inbox.text).links if "/app/actions/" in a["href"])
                requests.post(urljoin(inbox.url, link), data={"code": manual["code"], "decision": "approve"}, timeout=10)
            t = ciba_tokens(auth_req_id)
            seen += [auth_req_id, t["access_token"], t["id_token"]]

        # Failures that carry credentials.
        bad = "wrong-secret-" + "z" * 20
        requests.post(server.discovery["token_endpoint"], data={"grant_type": "authorization_code", "code": "c" * 43}, auth=(basic["client_id"], bad), timeout=10)
        requests.get(server.discovery["userinfo_endpoint"], headers={"Authorization": "Bearer " + "t" * 43}, timeout=10)
        seen += [bad, "c" * 43, "t" * 43]

        # Every code the browsers carried, the sandbox's own codes to Passerelle included.
        for b in browsers:
            for url in b.history:
                seen += [v for k, v in parse_qsl(urlsplit(url).query) if k == "code"]
    finally:
        code = server.stop()
    assert code == 0
    return server.logs(), seen, server.port


def test_the_logs_are_not_empty(run):
    logs, _, _ = run
    assert "DEBUG" in logs, "PASSERELLE_LOG=debug must turn on debug lines"
    assert len(logs.splitlines()) > 100


def personal_values(persona):
    a = persona["attributes"]
    values = [a.get("name"), a.get("given_name"), a.get("family_name"), a.get("email")]
    values += [a.get("nin"), a.get("itsme_document_number")]
    phone = persona["phone_number"]
    values += [phone, phone.lstrip("+"), "00" + phone.lstrip("+")]
    if a.get("address"):
        values.append(a["address"]["street_address"])
    return [v for v in values if v]


def occurrence(value, logs):
    """Where `value` stands alone in the logs (not inside a longer random id), with context."""
    m = re.search(rf"(?<![A-Za-z0-9_-]){re.escape(value)}(?![A-Za-z0-9_-])", logs)
    return logs[max(0, m.start() - 150) : m.end() + 50] if m else None


def test_no_personal_data_in_the_logs(run, personas):
    logs, _, _ = run
    leaks = {v: occurrence(v, logs) for p in personas for v in personal_values(p)}
    leaks = {v: where for v, where in leaks.items() if where}
    assert not leaks, f"personal data in the logs: {leaks}"


def test_no_itsme_codes_in_the_logs(run, personas):
    logs, _, port = run
    # The port is logged, and may look like a code.
    found = {p["code"]: occurrence(p["code"], logs) for p in personas if p["code"] != str(port)}
    found = {c: where for c, where in found.items() if where}
    assert not found, f"itsme codes in the logs: {found}"


def test_no_credentials_in_the_logs(run):
    logs, seen, _ = run
    assert len(seen) > 50
    leaked = [s[:12] + "…" for s in seen if s in logs]
    assert not leaked, f"{len(leaked)} codes, tokens or secrets in the logs, e.g. {leaked[:5]}"
