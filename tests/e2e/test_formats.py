"""Token formats per client, read by joserfc as a relying party would: an ID token encrypted to
the client's own key (a nested JWT), and userinfo signed then encrypted (OIDC Core §5.3.2)."""

import json

from joserfc import jwe, jwt
from joserfc.jwk import ECKey, KeySet, RSAKey

from harness import HTTP_TIMEOUT, RP_CALLBACK, RelyingParty, authorize, unique

BE = "+32470000001"


def client_keys(tmp_path):
    """The relying party's encryption keys (RSA and EC), and its public JWKS on disk."""
    rsa = RSAKey.generate_key(2048, parameters={"kid": "rp-rsa-enc", "use": "enc"}, private=True)
    ec = ECKey.generate_key("P-256", parameters={"kid": "rp-ec-enc", "use": "enc"}, private=True)
    path = tmp_path / "rp-jwks.json"
    path.write_text(json.dumps({"keys": [rsa.as_dict(private=False), ec.as_dict(private=False)]}))
    return KeySet([rsa, ec]), path


def test_an_encrypted_id_token_and_signed_then_encrypted_userinfo_open_with_the_clients_keys(server, tmp_path):
    private, jwks_file = client_keys(tmp_path)
    client = server.cli_json(
        "client", "add",
        "--name", unique("Encrypting RP"),
        "--redirect-uri", RP_CALLBACK,
        "--jwks", str(jwks_file),
        "--id-token-alg", "PS256",
        "--id-token-encryption-alg", "ECDH-ES",
        "--id-token-encryption-enc", "A256GCM",
        "--userinfo-alg", "ES256",
        "--userinfo-encryption-alg", "RSA-OAEP-256",
    )
    assert client["id_token_encrypted_response_alg"] == "ECDH-ES"
    assert client["id_token_encrypted_response_enc"] == "A256GCM"
    assert client["userinfo_signed_response_alg"] == "ES256"
    assert client["userinfo_encrypted_response_alg"] == "RSA-OAEP-256"
    assert client["userinfo_encrypted_response_enc"] == "A128CBC-HS256"
    meta = server.discovery
    assert "ECDH-ES" in meta["id_token_encryption_alg_values_supported"]
    assert "A256GCM" in meta["id_token_encryption_enc_values_supported"]
    assert meta["userinfo_signing_alg_values_supported"] == ["RS256", "PS256", "ES256"]

    rp = RelyingParty(server, client, scope="openid name")
    token = rp.redeem(authorize(rp, BE))

    # The ID token: a JWE to the client's EC key, holding the PS256-signed ID token.
    encrypted = jwe.decrypt_compact(token["id_token"], private, algorithms=["ECDH-ES", "A256GCM"])
    assert encrypted.protected["cty"] == "JWT"
    assert encrypted.protected["kid"] == "rp-ec-enc"
    inner = encrypted.plaintext.decode()
    header, claims = rp.verify_id_token({**token, "id_token": inner})
    assert header["alg"] == "PS256"
    assert claims["given_name"]

    # Userinfo: application/jwt, a JWE to the client's RSA key of an ES256-signed JWT.
    r = rp.oauth.get(meta["userinfo_endpoint"], timeout=HTTP_TIMEOUT)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"] == "application/jwt"
    outer = jwe.decrypt_compact(r.text, private, algorithms=["RSA-OAEP-256", "A128CBC-HS256"])
    assert outer.protected["cty"] == "JWT"
    signed = jwt.decode(outer.plaintext.decode(), KeySet.import_key_set(server.jwks()), algorithms=["ES256"])
    assert signed.header["alg"] == "ES256"
    assert signed.claims["iss"] == server.issuer
    assert signed.claims["aud"] == client["client_id"]
    assert signed.claims["sub"] == claims["sub"]
    assert signed.claims["given_name"] == claims["given_name"]
