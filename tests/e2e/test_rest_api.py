"""The Authentication REST API against the real binary, as the README's curl example uses it:
plain HTTP and JSON (requests, as curl would), a person's browser for the redirect flow, and the
emulated phone's scan page for the headless flow."""

from __future__ import annotations

import time

import requests

from harness import HTTP_TIMEOUT, RP_CALLBACK, Browser, Page, query, unique

APPROVES = "+32470000001"


def api_token(server, client: dict) -> str:
    r = requests.post(
        f"{server.issuer}/connect/token",
        auth=(client["client_id"], client["client_secret"]),
        data={"grant_type": "client_credentials", "scope": "signicat-api"},
        timeout=HTTP_TIMEOUT,
    )
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


def rest(server, token: str, method: str, path: str, **kw) -> requests.Response:
    return requests.request(
        method, f"{server.base}/auth/rest{path}", headers={"Authorization": f"Bearer {token}"}, timeout=HTTP_TIMEOUT, **kw
    )


def test_a_redirect_session_from_the_readme(server):
    client = server.add_client(unique("REST shop"))
    token = api_token(server, client)
    r = rest(
        server,
        token,
        "POST",
        "/sessions",
        json={
            "allowedProviders": ["itsme"],
            "flow": "redirect",
            "requestedLoa": "high",
            "requestedAttributes": ["firstName", "lastName", "dateOfBirth", "nin"],
            "callbackUrls": {"success": RP_CALLBACK, "abort": RP_CALLBACK, "error": RP_CALLBACK},
        },
    )
    assert r.status_code == 201, r.text
    session = r.json()
    assert session["status"] == "CREATED"
    browser = Browser()
    phone_page = browser.open(session["authenticationUrl"])
    back = browser.submit_phone(phone_page, APPROVES)
    back = browser.wait_for_rp(back)
    assert isinstance(back, str) and query(back)["sessionId"] == session["id"], back
    done = rest(server, token, "GET", f"/sessions/{session['id']}").json()
    assert done["status"] == "SUCCESS", done
    subject = done["subject"]
    assert subject["firstName"] and subject["lastName"] and subject["dateOfBirth"]
    assert subject["nin"]["issuingCountry"] == "BE"
    # Read once.
    again = rest(server, token, "GET", f"/sessions/{session['id']}").json()
    assert "subject" not in again


def test_a_headless_session_and_bad_requests(server):
    client = server.add_client(unique("REST kiosk"))
    token = api_token(server, client)
    r = rest(server, token, "POST", "/sessions", json={"flow": "headless", "requestedAttributes": ["lastName"]})
    assert r.status_code == 201, r.text
    session = r.json()
    headless = session["headless"]
    assert headless["stage"] == "SCAN" and headless["qrCode"].startswith("data:image/")
    # The phone scans: the emulated app's scan page, where the person says which account scans.
    phone = Browser()
    page = phone.get(headless["appLink"])
    form = next(f for f in Page(page.text).forms if "phone" in f.inputs)
    scanned = phone.http.post(requests.compat.urljoin(page.url, form.action), data={"phone": APPROVES}, timeout=HTTP_TIMEOUT)
    assert scanned.status_code == 200
    deadline = time.monotonic() + 40
    while True:
        state = rest(server, token, "GET", f"/sessions/{session['id']}").json()
        if state["status"] != "CREATED":
            break
        assert time.monotonic() < deadline, state
        time.sleep(state["headless"]["pollInterval"])
    assert state["status"] == "SUCCESS", state
    assert state["subject"]["lastName"]
    # Problems, never a 500.
    assert rest(server, "forged", "POST", "/sessions", json={"flow": "redirect"}).status_code == 401
    bad = requests.post(
        f"{server.base}/auth/rest/sessions",
        data=b"{not json",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        timeout=HTTP_TIMEOUT,
    )
    assert bad.status_code == 400 and bad.headers["Content-Type"] == "application/problem+json"
    other = server.add_client(unique("REST other"))
    assert rest(server, api_token(server, other), "GET", f"/sessions/{session['id']}").status_code == 404
