"""Requests a careless or hostile client could make: what the authorization, token and userinfo
endpoints answer."""

import threading
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuthError

from harness import AUTHENTICATION, RP_CALLBACK, Browser, Page, RelyingParty, authorize, login, query

BE = "+32470000001"


def assert_error_page(r):
    assert r.status_code == 400
    assert "Location" not in r.headers, "an untrusted client or redirect URI must never be redirected to"
    assert r.headers["Content-Type"].startswith("text/html")
    assert Page(r.text).text


def test_unregistered_redirect_uri_is_an_html_page(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client, redirect_uri="http://evil.test/cb")
    assert_error_page(requests.get(rp.authorization_url(), allow_redirects=False, timeout=10))


def test_unknown_client_id_is_an_html_page(server):
    fake = {"client_id": "no-such-client", "client_secret": "x", "token_endpoint_auth_method": "client_secret_basic"}
    rp = RelyingParty(server, fake)
    assert_error_page(requests.get(rp.authorization_url(), allow_redirects=False, timeout=10))


def redirect_error(url):
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code in (302, 303), r.text
    assert r.headers["Location"].startswith(RP_CALLBACK + "?")
    return query(r.headers["Location"])


def test_pkce_is_required(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client)
    rp.oauth.code_challenge_method = None  # authlib then sends no code_challenge
    params = redirect_error(rp.authorization_url())
    assert params["error"] == "invalid_request"
    assert "PKCE" in params["error_description"] or "code_challenge" in params["error_description"]
    assert params["state"] == rp.state


def test_plain_pkce_is_refused(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client)
    url = rp.authorization_url()
    plain = url.replace("code_challenge_method=S256", "code_challenge_method=plain")
    assert plain != url
    assert redirect_error(plain)["error"] == "invalid_request"


def test_scope_without_openid_is_refused(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client, scope="name email")
    assert redirect_error(rp.authorization_url())["error"] == "invalid_scope"


def test_wrong_code_verifier_is_invalid_grant(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client)
    callback = authorize(rp, BE)
    rp.verifier = "x" * 50
    with pytest.raises(OAuthError) as e:
        rp.redeem(callback)
    assert e.value.error == "invalid_grant"


def test_reused_code_is_invalid_grant_and_revokes_its_tokens(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client)
    result = login(rp, BE)
    # Within half a second of the redemption a second presentation counts as part of the race
    # for the code (a double submit) and revokes nothing; after that it is a replay.
    time.sleep(0.6)
    with pytest.raises(OAuthError) as e:
        rp.redeem(result.callback)
    assert e.value.error == "invalid_grant"
    r = requests.get(rp.meta["userinfo_endpoint"], headers={"Authorization": f"Bearer {result.token['access_token']}"}, timeout=10)
    assert r.status_code == 401, "the tokens of a replayed code are revoked (RFC 6749 §4.1.2)"


def test_unknown_code_is_invalid_grant(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client)
    rp.authorization_url()
    with pytest.raises(OAuthError) as e:
        rp.redeem(f"{RP_CALLBACK}?code=not-a-real-code&state={rp.state}&iss={server.issuer}")
    assert e.value.error == "invalid_grant"


def test_bad_client_secret_is_401_invalid_client(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client)
    callback = authorize(rp, BE)
    form = {
        "grant_type": "authorization_code",
        "code": query(callback)["code"],
        "redirect_uri": RP_CALLBACK,
        "code_verifier": rp.verifier,
    }
    r = requests.post(rp.meta["token_endpoint"], data=form, auth=(sandbox_client["client_id"], "wrong-secret"), timeout=10)
    assert r.status_code == 401
    assert r.headers["Content-Type"].startswith("application/json")
    body = r.json()
    assert body["error"] == "invalid_client"
    assert body["error_description"]
    assert "Basic" in r.headers.get("WWW-Authenticate", "")

    # A failed client authentication does not burn the code of the real client.
    token = rp.redeem(callback)
    rp.verify_id_token(token)


def test_token_errors_are_json(server, sandbox_client):
    r = requests.post(
        server.discovery["token_endpoint"],
        data={"grant_type": "password", "username": "a", "password": "b"},
        auth=(sandbox_client["client_id"], sandbox_client["client_secret"]),
        timeout=10,
    )
    assert r.status_code == 400
    assert r.json()["error"] == "unsupported_grant_type"
    assert "no-store" in r.headers.get("Cache-Control", "")


def test_userinfo_with_a_bad_token_is_401(server):
    r = requests.get(server.discovery["userinfo_endpoint"], headers={"Authorization": "Bearer not-a-token"}, timeout=10)
    assert r.status_code == 401
    challenge = r.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer")
    assert 'error="invalid_token"' in challenge


def test_userinfo_without_a_token_is_401(server):
    r = requests.get(server.discovery["userinfo_endpoint"], timeout=10)
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert "error=" not in r.headers["WWW-Authenticate"], "no error code when no token was sent (RFC 6750 §3.1)"


def test_login_finished_in_another_browser_is_refused(server, sandbox_client):
    """The sandbox's answer comes back to a browser without the cookie of the one that started."""
    rp = RelyingParty(server, sandbox_client, scope=AUTHENTICATION)
    starter = Browser()
    page = starter.open(rp.authorization_url())
    form = Page(page.text).forms[0]
    r = starter.http.post(requests.compat.urljoin(page.url, form.action), data={"phone": BE}, allow_redirects=False, timeout=10)
    wait_url = requests.compat.urljoin(page.url, r.headers["Location"])
    other = Browser()  # no cookies
    result = other.open(wait_url)
    assert not isinstance(result, str), "a stranger's browser must not receive the code"
    assert result.status_code == 400


def test_one_code_presented_twenty_times_at_once_has_one_winner_that_keeps_its_tokens(server, sandbox_client):
    """Issue 5, defect 3, black-box: 20 threads present one code at the same moment, 5 rounds."""
    userinfo = server.discovery["userinfo_endpoint"]
    auth = (sandbox_client["client_id"], sandbox_client["client_secret"])
    for round_ in range(5):
        rp = RelyingParty(server, sandbox_client, scope=AUTHENTICATION)
        callback = authorize(rp, BE)
        form = {"grant_type": "authorization_code", "code": query(callback)["code"], "redirect_uri": RP_CALLBACK, "code_verifier": rp.verifier}
        barrier = threading.Barrier(20)
        answers = [None] * 20

        def present(i):
            barrier.wait()
            answers[i] = requests.post(rp.meta["token_endpoint"], data=form, auth=auth, timeout=30)

        threads = [threading.Thread(target=present, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        winners = [a for a in answers if a.status_code == 200]
        assert len(winners) == 1, f"round {round_}: {[a.status_code for a in answers]}"
        for a in answers:
            if a.status_code != 200:
                assert a.status_code == 400 and a.json()["error"] == "invalid_grant"
        token = winners[0].json()["access_token"]
        r = requests.get(userinfo, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200, f"round {round_}: the winner keeps working tokens"
    # A replay after the race revokes the last winner's tokens.
    time.sleep(0.6)
    r = requests.post(rp.meta["token_endpoint"], data=form, auth=auth, timeout=30)
    assert r.json()["error"] == "invalid_grant"
    r = requests.get(userinfo, headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 401
