"""Discovery and the JWKS, as an RP library reads them."""

import requests
from authlib.oauth2.rfc8414 import AuthorizationServerMetadata
from joserfc.jwk import KeySet


def test_discovery_document(server):
    r = requests.get(f"{server.issuer}/.well-known/openid-configuration", timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("application/json")
    d = r.json()
    i = server.issuer
    assert d["issuer"] == i
    assert d["authorization_endpoint"] == f"{i}/connect/authorize"
    assert d["token_endpoint"] == f"{i}/connect/token"
    assert d["userinfo_endpoint"] == f"{i}/connect/userinfo"
    assert d["jwks_uri"] == f"{i}/.well-known/openid-configuration/jwks"
    assert d["response_types_supported"] == ["code"]
    assert set(d["response_modes_supported"]) == {"query", "form_post"}
    assert d["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials", "urn:openid:params:grant-type:ciba"]
    assert d["subject_types_supported"] == ["pairwise"]
    assert d["code_challenge_methods_supported"] == ["S256"]
    assert d["id_token_signing_alg_values_supported"] == ["RS256", "PS256", "ES256"]
    assert d["userinfo_signing_alg_values_supported"] == ["RS256", "PS256", "ES256"]
    assert d["id_token_encryption_alg_values_supported"] == ["RSA-OAEP-256", "RSA-OAEP", "ECDH-ES"]
    assert d["id_token_encryption_enc_values_supported"] == ["A128CBC-HS256", "A256GCM"]
    assert d["claims_parameter_supported"] is True
    assert set(d["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post", "private_key_jwt"}
    assert d["authorization_response_iss_parameter_supported"] is True
    expected_scopes = {
        "openid", "name", "email", "idp-id", "profile", "date-of-birth", "gender", "phone", "address",
        "nin", "nationality", "place-of-birth", "itsme-eid", "itsme-validity", "itsme-issuance-locality",
        "offline_access",
    }
    assert set(d["scopes_supported"]) == expected_scopes
    for claim in ("sub", "acr", "idp", "nonce", "at_hash", "name", "email", "address", "nin", "nationality", "itsme_document_number"):
        assert claim in d["claims_supported"], claim


def test_discovery_is_valid_rfc8414_metadata(server):
    # authlib's own validation of authorization-server metadata (issuer, endpoints, types).
    meta = AuthorizationServerMetadata(server.discovery)
    meta.validate_issuer = lambda: None  # it insists on https, which a local issuer is not
    meta.validate()


def test_jwks_holds_public_rs256_ps256_and_es256_keys(server):
    jwks = server.jwks()
    keys = jwks["keys"]
    assert {k["kty"] for k in keys} == {"RSA", "EC"}
    assert [k["alg"] for k in keys if k["use"] == "sig"] == ["RS256", "PS256", "ES256"]
    for k in keys:
        assert k.get("kid"), k
        # The signing keys, and the key request objects are encrypted to (RFC 9101).
        assert k["use"] == "sig" or k["alg"] == "RSA-OAEP-256", k
        for private in ("d", "p", "q", "dp", "dq", "qi"):
            assert private not in k, f"the JWKS leaks the private member {private}"
    KeySet.import_key_set(jwks)  # joserfc accepts it
