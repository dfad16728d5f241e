"""Pushed authorization requests (RFC 9126) with a request object (RFC 9101) that joserfc signs
with the client's key and encrypts to Passerelle's published key, as an RP library would: the
client is registered with the command line to require both, and completes a login with the
real binary."""

import json
import secrets
import time
from urllib.parse import urlencode

import requests
from authlib.common.security import generate_token
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc import jwe, jwt
from joserfc.jwk import RSAKey

from harness import RP_CALLBACK, Browser, Page, RelyingParty, query, unique

BE = "+32470000001"


def register(server, tmp_path):
    """A client_secret_basic client with an RSA key for its request objects, then made to
    require PAR and signed request objects with `client update`."""
    key = RSAKey.generate_key(2048, parameters={"kid": "ro-1", "use": "sig"}, private=True)
    jwks = tmp_path / f"jwks-{secrets.token_hex(4)}.json"
    jwks.write_text(json.dumps({"keys": [key.as_dict(private=False)]}))
    client = server.add_client(unique("PAR shop"), jwks_file=jwks)
    updated = server.cli_json(
        "client", "update", client["client_id"],
        "--require-pushed-authorization-requests", "true",
        "--require-signed-request-object", "true",
    )
    assert updated["require_pushed_authorization_requests"] is True
    assert updated["require_signed_request_object"] is True
    return client, key


def enc_key(server):
    published = [k for k in server.jwks()["keys"] if k.get("use") == "enc"]
    assert len(published) == 1 and published[0]["alg"] == "RSA-OAEP-256"
    return RSAKey.import_key(published[0])


def request_object(server, client, key, rp, enc):
    """The authorization request as a PS256 JWT, encrypted with RSA-OAEP-256 and `enc`."""
    now = int(time.time())
    claims = {
        "iss": client["client_id"],
        "aud": server.issuer,
        "nbf": now,
        "exp": now + 300,
        "jti": generate_token(16),
        "client_id": client["client_id"],
        "response_type": "code",
        "redirect_uri": RP_CALLBACK,
        "scope": "openid name",
        "state": rp.state,
        "nonce": rp.nonce,
        "code_challenge": create_s256_code_challenge(rp.verifier),
        "code_challenge_method": "S256",
    }
    signed = jwt.encode({"alg": "PS256", "kid": "ro-1", "typ": "oauth-authz-req+jwt"}, claims, key, algorithms=["PS256"])
    op = enc_key(server)
    header = {"alg": "RSA-OAEP-256", "enc": enc, "cty": "JWT", "kid": op.kid}
    return jwe.encrypt_compact(header, signed, op, algorithms=["RSA-OAEP-256", enc])


def push(server, client, form):
    return requests.post(
        server.discovery["pushed_authorization_request_endpoint"],
        data=form,
        auth=(client["client_id"], client["client_secret"]),
        timeout=10,
    )


def test_a_pushed_signed_and_encrypted_request_object_completes_a_login(server, tmp_path):
    meta = server.discovery
    assert meta["require_pushed_authorization_requests"] is False
    assert "PS256" in meta["request_object_signing_alg_values_supported"]
    client, key = register(server, tmp_path)
    for enc in ("A128CBC-HS256", "A256GCM"):
        rp = RelyingParty(server, client, scope="openid name")
        rp.state, rp.nonce, rp.verifier = generate_token(16), generate_token(16), generate_token(48)
        r = push(server, client, {"request": request_object(server, client, key, rp, enc)})
        assert r.status_code == 201, r.text
        assert r.headers["Cache-Control"] == "no-store"
        pushed = r.json()
        assert pushed["request_uri"].startswith("urn:ietf:params:oauth:request_uri:")
        assert 60 <= pushed["expires_in"] <= 90
        url = meta["authorization_endpoint"] + "?" + urlencode({"client_id": client["client_id"], "request_uri": pushed["request_uri"]})
        browser = Browser()
        page = browser.open(url)
        assert not isinstance(page, str) and page.status_code == 200, page
        callback = browser.wait_for_rp(browser.submit_phone(page, BE))
        assert isinstance(callback, str), Page(callback.text).text[:300]
        params = query(callback)
        assert "error" not in params, params
        assert params["state"] == rp.state and params["iss"] == server.issuer
        token = rp.redeem(callback)
        _, claims = rp.verify_id_token(token)
        assert claims["aud"] == client["client_id"]
        assert rp.userinfo()["family_name"]
        # Used up by the code.
        again = Browser().get(url)
        assert again.status_code == 400
        assert "invalid_request_uri" in again.text


def test_the_requirements_refuse_what_is_weaker(server, tmp_path):
    client, key = register(server, tmp_path)
    meta = server.discovery
    # A plain request at the authorization endpoint: PAR is required.
    rp = RelyingParty(server, client)
    refused = Browser().open(rp.authorization_url())
    assert isinstance(refused, str), refused
    params = query(refused)
    assert params["error"] == "invalid_request"
    assert "require_pushed_authorization_requests" in params["error_description"]
    # Pushed but not signed: a signed request object is required.
    form = {
        "response_type": "code",
        "client_id": client["client_id"],
        "redirect_uri": RP_CALLBACK,
        "scope": "openid",
        "code_challenge": create_s256_code_challenge(generate_token(48)),
        "code_challenge_method": "S256",
    }
    r = push(server, client, form)
    assert r.status_code == 400 and r.json()["error"] == "invalid_request", r.text
    assert "require_signed_request_object" in r.json()["error_description"]
    # Unsigned (alg none): invalid_request_object. Without credentials: invalid_client.
    unsigned = jwt.encode({"alg": "none"}, {**form, "iss": client["client_id"], "aud": meta["issuer"]}, None, algorithms=["none"])
    r = push(server, client, {"request": unsigned})
    assert r.status_code == 400 and r.json()["error"] == "invalid_request_object", r.text
    r = requests.post(meta["pushed_authorization_request_endpoint"], data=form, timeout=10)
    assert r.status_code == 401 and r.json()["error"] == "invalid_client", r.text
