"""OpenID CIBA (poll mode) with an unmodified client library.

authlib has no CIBA client, so the relying party uses what it has: an OAuth2Session that
authenticates the client itself (client_secret_basic) for the backchannel request, and
`fetch_token(grant_type="urn:openid:params:grant-type:ciba", auth_req_id=…)` for the polls; the
ID token is verified with joserfc (authlib's JOSE) against the published JWKS. The person is a
sandbox persona: a scripted one answers at once, a manual one approves in the emulated phone's
inbox, read as HTML as a person would.
"""

from __future__ import annotations

import time

import pytest
import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from joserfc import jwt
from joserfc.jwk import KeySet

from harness import HTTP_TIMEOUT, Browser, Page, unique

CIBA_GRANT = "urn:openid:params:grant-type:ciba"


@pytest.fixture(scope="module")
def ciba_client(server) -> dict:
    # A backchannel-only client: no redirect URI.
    client = server.cli_json(
        "client", "add", "--name", unique("CIBA Till"), "--account", "sandbox", "--ciba-mode", "poll"
    )
    assert client["backchannel_token_delivery_mode"] == "poll"
    assert client["redirect_uris"] == []
    return client


def session(client: dict) -> OAuth2Session:
    return OAuth2Session(client["client_id"], client["client_secret"], token_endpoint_auth_method="client_secret_basic")


def backchannel(server, client: dict, **params) -> requests.Response:
    """The backchannel request, with the client authenticated by authlib."""
    rp = session(client)
    return rp.post(
        server.discovery["backchannel_authentication_endpoint"],
        data=params,
        auth=rp.client_auth("client_secret_basic"),
        withhold_token=True,
        timeout=HTTP_TIMEOUT,
    )


def poll_until_done(server, client: dict, started: dict, limit: float = 60) -> dict:
    """Polls the token endpoint as CIBA §7.3 says: every `interval` seconds, 5 s more after a
    slow_down, until tokens or a final error."""
    rp = session(client)
    interval = started["interval"]
    deadline = time.monotonic() + limit
    while True:
        try:
            return rp.fetch_token(
                server.discovery["token_endpoint"], grant_type=CIBA_GRANT, auth_req_id=started["auth_req_id"]
            )
        except OAuthError as e:
            if e.error == "slow_down":
                interval += 5
            elif e.error != "authorization_pending":
                raise
        assert time.monotonic() < deadline, "no answer in time"
        time.sleep(interval)


def verify(server, client: dict, token: dict) -> dict:
    keys = KeySet.import_key_set(server.jwks())
    decoded = jwt.decode(token["id_token"], keys, algorithms=["RS256", "ES256"])
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": server.issuer},
        aud={"essential": True, "value": client["client_id"]},
        sub={"essential": True},
        exp={"essential": True},
    )
    registry.validate(decoded.claims)
    assert decoded.claims["acr"] == "high"
    assert "nonce" not in decoded.claims
    return decoded.claims


def test_discovery_advertises_ciba(server):
    d = server.discovery
    assert d["backchannel_authentication_endpoint"] == f"{server.issuer}/connect/ciba"
    assert d["backchannel_token_delivery_modes_supported"] == ["poll", "ping"]
    assert d["backchannel_user_code_parameter_supported"] is False
    assert CIBA_GRANT in d["grant_types_supported"]


def test_a_scripted_persona_logs_in_through_the_back_channel(server, ciba_client, by_behaviour):
    persona = by_behaviour("approve")
    r = backchannel(
        server, ciba_client, scope="openid profile", login_hint=persona["phone_number"], binding_message="Till 4"
    )
    assert r.status_code == 200, r.text
    started = r.json()
    assert set(started) == {"auth_req_id", "expires_in", "interval"}
    token = poll_until_done(server, ciba_client, started)
    claims = verify(server, ciba_client, token)
    assert claims["family_name"] == persona["attributes"]["family_name"]
    userinfo = requests.get(
        server.discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {token['access_token']}"},
        timeout=HTTP_TIMEOUT,
    ).json()
    assert userinfo["sub"] == claims["sub"]
    # The auth_req_id is spent.
    with pytest.raises(OAuthError) as e:
        session(ciba_client).fetch_token(
            server.discovery["token_endpoint"], grant_type=CIBA_GRANT, auth_req_id=started["auth_req_id"]
        )
    assert e.value.error == "invalid_grant"


def test_a_manual_persona_approves_in_the_phones_inbox(server, ciba_client, by_behaviour):
    persona = by_behaviour("manual", "BE")
    r = backchannel(server, ciba_client, scope="openid", login_hint=persona["phone_number"], binding_message="Order 1138")
    assert r.status_code == 200, r.text
    started = r.json()

    phone = Browser().http
    inbox = phone.get(f"{server.base}/sandbox/v2/app/inbox", params={"phone": persona["phone_number"]}, timeout=10)
    assert inbox.status_code == 200
    page = Page(inbox.text)
    assert "Order 1138" in page.text
    link = next(a["href"] for a in page.links if a.get("href", "").startswith("/sandbox/v2/app/actions/"))
    app = phone.get(f"{server.base}{link}", timeout=10)
    assert "Order 1138" in Page(app.text).text
    done = phone.post(f"{server.base}{link}", data={"decision": "approve", "code": persona["code"]}, timeout=10)
    assert done.status_code == 200 and 'class="ok"' in done.text

    token = poll_until_done(server, ciba_client, started)
    verify(server, ciba_client, token)


@pytest.mark.parametrize(
    "params, error",
    [
        ({"scope": "openid", "login_hint": "+32479999999"}, "unknown_user_id"),
        ({"scope": "openid", "login_hint": "0470 00 00 01"}, "invalid_request"),
        ({"scope": "openid"}, "invalid_request"),
        ({"scope": "openid", "login_hint": "+32470000001", "binding_message": "x" * 65}, "invalid_binding_message"),
        ({"scope": "profile", "login_hint": "+32470000001"}, "invalid_scope"),
    ],
)
def test_bad_backchannel_requests_get_cibas_errors(server, ciba_client, params, error):
    r = backchannel(server, ciba_client, **params)
    assert r.status_code == 400, r.text
    assert r.json()["error"] == error


def test_a_refusal_reaches_the_client_as_access_denied(server, ciba_client, by_behaviour):
    r = backchannel(server, ciba_client, scope="openid", login_hint=by_behaviour("refuse")["phone_number"])
    with pytest.raises(OAuthError) as e:
        poll_until_done(server, ciba_client, r.json())
    assert e.value.error == "access_denied"
