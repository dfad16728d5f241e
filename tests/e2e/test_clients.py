"""Client registrations: authentication methods, ID-token algorithms, response modes, and the
operator's grants, changed with the command line while the server runs."""

import json
import secrets
import time

import pytest
import requests
from authlib.integrations.requests_client import OAuthError
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from joserfc.jwk import ECKey, RSAKey

from harness import (
    ALL_SCOPES,
    RP_CALLBACK,
    Browser,
    Page,
    Server,
    RelyingParty,
    authorize,
    callback_url,
    form_post_fields,
    login,
    query,
    unique,
)

BE = "+32470000001"
# Production clients must use https redirect URIs (http only for localhost).
BANK_CALLBACK = "https://bank.test/cb"


def test_client_add_prints_the_registration(server):
    c = server.add_client(unique("Registration"), redirect_uris=(RP_CALLBACK, "http://rp.test/other"), auth_method="client_secret_post")
    assert c["client_id"] and c["client_secret"]
    assert c["redirect_uris"] == [RP_CALLBACK, "http://rp.test/other"]
    assert c["token_endpoint_auth_method"] == "client_secret_post"
    assert c["account"] == "sandbox"
    assert c["grants"] == []
    assert c["id_token_signed_response_alg"] == "RS256"
    shown = server.cli_json("client", "show", c["client_id"])
    assert "client_secret" not in shown, "the secret is shown once, at creation"
    assert shown["client_name"] == c["client_name"]
    assert c["client_id"] in {x["client_id"] for x in server.cli_json("client", "list")}


def test_client_secret_post(server):
    client = server.add_client(unique("Post shop"), auth_method="client_secret_post")
    rp = RelyingParty(server, client)
    result = login(rp, BE)
    assert result.userinfo["family_name"] == "Peeters"


def test_a_secret_may_be_sent_either_way(server):
    """client_secret_basic and client_secret_post are two ways of sending the same secret: a
    client registered with one may use the other (as most providers allow)."""
    client = server.add_client(unique("Post shop, Basic library"), auth_method="client_secret_post")
    rp = RelyingParty(server, client)
    callback = authorize(rp, BE)
    rp.oauth.token_endpoint_auth_method = "client_secret_basic"
    tokens = rp.redeem(callback)
    assert tokens["token_type"] == "Bearer"


def register_keys(server, tmp_path, key):
    """Registers a private_key_jwt client with `key`'s public half (a JWKS file, no secret)."""
    public = key.as_dict(private=False)
    assert "d" not in public
    jwks = tmp_path / f"jwks-{secrets.token_hex(4)}.json"
    jwks.write_text(json.dumps({"keys": [public]}))
    client = server.add_client(unique("Key shop"), auth_method="private_key_jwt", jwks_file=jwks)
    assert "client_secret" not in client
    assert client["token_endpoint_auth_method"] == "private_key_jwt"
    return client


def assertion_auth(rp, *, kid=None, alg="RS256", lifetime=120, aud=None):
    """authlib's PrivateKeyJWT with a short-lived assertion and, optionally, a kid header. Its
    first argument is the assertion's audience: the issuer identifier, unless `aud` says else."""
    headers = {"kid": kid} if kid else None
    claims = {"exp": int(time.time()) + lifetime}
    rp.oauth.register_client_auth_method(PrivateKeyJWT(aud or rp.meta["issuer"], claims=claims, headers=headers, alg=alg))


def test_private_key_jwt(server, tmp_path):
    key = RSAKey.generate_key(2048, parameters={"kid": "rp-key-1", "use": "sig", "alg": "RS256"})
    client = register_keys(server, tmp_path, key)
    rp = RelyingParty(server, client, scope=ALL_SCOPES, private_key=key)
    assertion_auth(rp, kid="rp-key-1")
    result = login(rp, BE)
    assert result.userinfo["nin"] == "85073001744"


def test_private_key_jwt_es256(server, tmp_path):
    key = ECKey.generate_key("P-256", parameters={"kid": "rp-ec-1", "use": "sig", "alg": "ES256"})
    client = register_keys(server, tmp_path, key)
    rp = RelyingParty(server, client, private_key=key)
    assertion_auth(rp, kid="rp-ec-1", alg="ES256")
    assert login(rp, BE).userinfo["family_name"] == "Peeters"


def test_private_key_jwt_assertion_without_kid(server, tmp_path):
    """The registered JWK has a kid; authlib's assertion header has none (its default). With a
    single matching key the assertion must verify (RFC 7515 §4.1.4: kid is OPTIONAL)."""
    key = RSAKey.generate_key(2048, parameters={"kid": "rp-key-1", "use": "sig"})
    client = register_keys(server, tmp_path, key)
    rp = RelyingParty(server, client, private_key=key)
    assertion_auth(rp, kid=None)
    assert login(rp, BE).userinfo["family_name"] == "Peeters"


def test_private_key_jwt_with_authlib_default_lifetime(server, tmp_path):
    """authlib's PrivateKeyJWT as documented makes assertions that live one hour (exp = iat +
    3600). RFC 7523 sets no upper bound and Passerelle's own sandbox accepts up to an hour; the
    broker should accept what the most common Python client library sends."""
    key = RSAKey.generate_key(2048, parameters={"use": "sig"})
    client = register_keys(server, tmp_path, key)
    rp = RelyingParty(server, client, private_key=key)  # PrivateKeyJWT with its defaults
    assert login(rp, BE).userinfo["family_name"] == "Peeters"


def test_private_key_jwt_audience_must_be_the_issuer_as_a_string(server, tmp_path):
    """Issue 5, defect 2: authlib's default audience (the token endpoint's URL) and an array
    holding the issuer are refused with invalid_client (audience injection, RFC 7523bis)."""
    key = RSAKey.generate_key(2048, parameters={"kid": "rp-aud", "use": "sig"})
    client = register_keys(server, tmp_path, key)
    for aud in (server.discovery["token_endpoint"], [server.issuer], [server.issuer, "https://elsewhere.test"]):
        rp = RelyingParty(server, client, private_key=key)
        if isinstance(aud, list):
            rp.oauth.register_client_auth_method(PrivateKeyJWT(server.issuer, claims={"aud": aud, "exp": int(time.time()) + 60}))
        else:
            assertion_auth(rp, aud=aud)
        callback = authorize(rp, BE)
        with pytest.raises(OAuthError) as e:
            rp.redeem(callback)
        assert e.value.error == "invalid_client", aud
        assert "aud" in e.value.description


def test_private_key_jwt_with_another_key_is_refused(server, tmp_path):
    client = register_keys(server, tmp_path, RSAKey.generate_key(2048, parameters={"kid": "rp-key-1", "use": "sig"}))
    intruder = RSAKey.generate_key(2048, parameters={"kid": "rp-key-1"})
    rp = RelyingParty(server, client, private_key=intruder)
    assertion_auth(rp, kid="rp-key-1")
    callback = authorize(rp, BE)
    with pytest.raises(OAuthError) as e:
        rp.redeem(callback)
    assert e.value.error == "invalid_client"


def test_es256_id_tokens(server):
    client = server.add_client(unique("EC shop"), id_token_alg="ES256")
    assert client["id_token_signed_response_alg"] == "ES256"
    result = login(RelyingParty(server, client), BE)
    assert result.header["alg"] == "ES256"
    ec_kids = {k["kid"] for k in server.jwks()["keys"] if k["kty"] == "EC"}
    assert result.header["kid"] in ec_kids


def test_rs256_is_the_default(server, sandbox_client):
    result = login(RelyingParty(server, sandbox_client), BE)
    assert result.header["alg"] == "RS256"
    rsa_kids = {k["kid"] for k in server.jwks()["keys"] if k["kty"] == "RSA"}
    assert result.header["kid"] in rsa_kids


def test_form_post_response_mode(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client)
    browser = Browser()
    page = browser.open(rp.authorization_url(response_mode="form_post"))
    result = browser.wait_for_rp(browser.submit_phone(page, BE))
    assert not isinstance(result, str), "form_post answers with a page, not a redirect"
    assert result.status_code == 200
    assert result.headers["Content-Type"].startswith("text/html")
    fields = form_post_fields(result, RP_CALLBACK)
    assert set(fields) == {"code", "state", "iss"}
    assert fields["state"] == rp.state
    assert fields["iss"] == server.issuer
    token = rp.redeem(callback_url(RP_CALLBACK, fields))
    _, claims = rp.verify_id_token(token)
    assert rp.userinfo()["sub"] == claims["sub"]


def test_form_post_error_response(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client)
    browser = Browser()
    page = browser.open(rp.authorization_url(response_mode="form_post"))
    result = browser.wait_for_rp(browser.submit_phone(page, "+32470000004"))
    fields = form_post_fields(result, RP_CALLBACK)
    assert fields["error"] == "access_denied"
    assert fields["state"] == rp.state


@pytest.fixture(scope="module")
def test_deployment(binary, tmp_path_factory):
    """A server whose operator let the sandbox answer production clients (a test deployment)."""
    s = Server(
        tmp_path_factory.mktemp("test-deployment") / "data",
        env={"PASSERELLE_SANDBOX_SERVE_PRODUCTION_CLIENTS_IN_TEST_DEPLOYMENT": "true"},
    ).start()
    yield s
    s.stop()


def test_production_clients_are_refused_without_a_real_itsme(server):
    """Issue 5, defect 1: fail closed. No real itsme is configured on the shared server, so a
    production client gets a page that says why, whose link carries unauthorized_client back."""
    health = requests.get(f"{server.base}/healthz", timeout=10).json()
    assert health["mode"] == "sandbox-only"
    assert "Mode:          sandbox-only" in server.stdout_line("Mode:")
    client = server.add_client(unique("Bank"), account="production", redirect_uris=(BANK_CALLBACK,))
    rp = RelyingParty(server, client, scope="openid name", redirect_uri=BANK_CALLBACK)
    browser = Browser(stop_at=BANK_CALLBACK)
    r = browser.get(rp.authorization_url())
    assert r.status_code == 403
    assert "Location" not in r.headers
    assert r.headers["Content-Type"].startswith("text/html")
    page = Page(r.text)
    assert "itsme" in page.text
    back = next(a["href"] for a in page.links if a.get("href", "").startswith(BANK_CALLBACK))
    params = query(back)
    assert params["error"] == "unauthorized_client"
    assert params["state"] == rp.state
    assert params["iss"] == server.issuer


def test_production_client_needs_a_grant_for_protected_scopes(test_deployment):
    server = test_deployment
    health = requests.get(f"{server.base}/healthz", timeout=10).json()
    assert health["mode"] == "test-deployment"
    client = server.add_client(unique("Bank"), account="production", redirect_uris=(BANK_CALLBACK,))
    assert client["account"] == "production"
    rp = RelyingParty(server, client, scope="openid name nin", redirect_uri=BANK_CALLBACK)

    # Refused at once, before any phone page.
    r = Browser().get(rp.authorization_url())
    assert r.status_code in (302, 303)
    assert r.headers["Location"].startswith(BANK_CALLBACK + "?")
    params = query(r.headers["Location"])
    assert params["error"] == "invalid_scope"
    assert "nin" in params["error_description"]
    assert params["state"] == rp.state
    assert params["iss"] == server.issuer

    updated = server.cli_json("client", "update", client["client_id"], "--grant", "nin")
    assert updated["grants"] == ["nin"]

    result = login(RelyingParty(server, client, scope="openid name nin", redirect_uri=BANK_CALLBACK), BE, Browser(stop_at=BANK_CALLBACK))
    assert result.userinfo["nin"] == "85073001744"
    # A test deployment: the sandbox answered, and the tokens say so.
    assert result.id_claims["sandbox"] is True, "made-up people are marked, whatever the client's account"

    # Other protected scopes stay refused.
    r = Browser().get(RelyingParty(server, client, scope="openid nationality", redirect_uri=BANK_CALLBACK).authorization_url())
    assert query(r.headers["Location"])["error"] == "invalid_scope"


def test_sandbox_client_gets_protected_scopes_without_grants(server, sandbox_client):
    result = login(RelyingParty(server, sandbox_client, scope="openid nin nationality"), BE)
    assert result.userinfo["nin"] == "85073001744"
    assert result.userinfo["nationality"] == "BEL"


def test_rotated_secret(server):
    client = server.add_client(unique("Rotating"))
    rotated = server.cli_json("client", "update", client["client_id"], "--rotate-secret")
    assert rotated["client_secret"] != client["client_secret"]

    old = RelyingParty(server, client)
    with pytest.raises(OAuthError) as e:
        old.redeem(authorize(old, BE))
    assert e.value.error == "invalid_client"

    assert login(RelyingParty(server, rotated), BE).userinfo["family_name"] == "Peeters"


def test_removed_client_cannot_start_a_login(server):
    client = server.add_client(unique("Gone"))
    url = RelyingParty(server, client).authorization_url()
    server.cli("client", "remove", client["client_id"])
    r = requests.get(url, allow_redirects=False, timeout=10)
    assert r.status_code == 400
    assert "Location" not in r.headers
