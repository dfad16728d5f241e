"""Refresh tokens, revocation (RFC 7009) and introspection (RFC 7662, RFC 9701) with authlib's
own client methods against the real binary: `OAuth2Session.refresh_token`, `revoke_token` and
`introspect_token`, the signed introspection response verified with joserfc against the
published JWKS."""

from __future__ import annotations

import requests
import pytest
from authlib.integrations.requests_client import OAuth2Session, OAuthError
from joserfc import jwt
from joserfc.jwk import KeySet

from harness import HTTP_TIMEOUT, RelyingParty, login, unique

BE = "+32470000001"
OFFLINE = "openid name offline_access"


def userinfo_status(server, access_token: str) -> int:
    return requests.get(
        server.discovery["userinfo_endpoint"],
        headers={"Authorization": f"Bearer {access_token}"},
        timeout=HTTP_TIMEOUT,
    ).status_code


def offline_rp(server) -> RelyingParty:
    client = server.add_client(unique("Offline shop"), grants=("refresh_token",))
    assert "refresh_token" in client["grant_types"], client
    return RelyingParty(server, client, scope=OFFLINE)


def resource_server(server) -> OAuth2Session:
    rs = server.add_client(unique("Resource server"), grants=("introspection",))
    return OAuth2Session(rs["client_id"], rs["client_secret"], token_endpoint_auth_method="client_secret_basic")


def test_discovery_advertises_refresh_revocation_and_introspection(server):
    meta = server.discovery
    assert "refresh_token" in meta["grant_types_supported"]
    assert "offline_access" in meta["scopes_supported"]
    assert meta["revocation_endpoint"] == f"{server.issuer}/connect/revocation"
    assert meta["introspection_endpoint"] == f"{server.issuer}/connect/introspect"


def test_refresh_rotates_and_a_reused_refresh_token_revokes_the_family(server):
    rp = offline_rp(server)
    first = login(rp, BE)
    assert first.token["scope"] == OFFLINE
    old = dict(first.token)
    new = rp.oauth.refresh_token(rp.meta["token_endpoint"])
    assert new["refresh_token"] != old["refresh_token"]
    assert new["access_token"] != old["access_token"]
    keys = KeySet.import_key_set(server.jwks())
    id_token = jwt.decode(new["id_token"], keys, algorithms=["RS256"]).claims
    assert id_token["sub"] == first.id_claims["sub"]
    assert id_token["auth_time"] == first.id_claims["auth_time"]
    assert id_token["aud"] == rp.client["client_id"]
    assert "nonce" not in id_token
    # The session now holds the refreshed token.
    assert rp.userinfo() == first.userinfo

    with pytest.raises(OAuthError) as reused:
        rp.oauth.refresh_token(rp.meta["token_endpoint"], refresh_token=old["refresh_token"])
    assert reused.value.error == "invalid_grant"
    assert userinfo_status(server, new["access_token"]) == 401
    with pytest.raises(OAuthError) as revoked:
        rp.oauth.refresh_token(rp.meta["token_endpoint"], refresh_token=new["refresh_token"])
    assert revoked.value.error == "invalid_grant"


def test_offline_access_without_the_grant_gives_no_refresh_token(server, sandbox_client):
    rp = RelyingParty(server, sandbox_client, scope=OFFLINE)
    result = login(rp, BE)
    assert "refresh_token" not in result.token
    assert result.token["scope"] == "openid name"


def test_introspection_and_revocation(server):
    rp = offline_rp(server)
    tokens = login(rp, BE).token
    rs = resource_server(server)
    meta = server.discovery

    info = rs.introspect_token(meta["introspection_endpoint"], token=tokens["access_token"])
    assert info.status_code == 200, info.text
    info = info.json()
    assert info["active"] is True
    assert info["client_id"] == rp.client["client_id"]
    assert info["scope"] == OFFLINE
    assert info["token_type"] == "Bearer"
    assert info["iss"] == server.issuer

    signed = rs.introspect_token(
        meta["introspection_endpoint"],
        token=tokens["refresh_token"],
        token_type_hint="refresh_token",
        headers={"Accept": "application/token-introspection+jwt"},
    )
    assert signed.status_code == 200, signed.text
    assert signed.headers["Content-Type"] == "application/token-introspection+jwt"
    decoded = jwt.decode(signed.text, KeySet.import_key_set(server.jwks()), algorithms=["RS256"])
    assert decoded.header["typ"] == "token-introspection+jwt"
    assert decoded.claims["iss"] == server.issuer
    assert decoded.claims["aud"] == rs.client_id
    assert decoded.claims["token_introspection"]["active"] is True
    assert decoded.claims["token_introspection"]["token_type"] == "refresh_token"

    # The client itself is not a resource server; nobody introspects without credentials.
    own = rp.oauth.introspect_token(meta["introspection_endpoint"], token=tokens["access_token"])
    assert own.status_code == 400 and own.json()["error"] == "unauthorized_client", own.text
    bare = requests.post(meta["introspection_endpoint"], data={"token": tokens["access_token"]}, timeout=HTTP_TIMEOUT)
    assert bare.status_code == 401 and bare.json()["error"] == "invalid_client", bare.text

    # Revoking the access token ends it alone; revoking the refresh token ends the family.
    r = rp.oauth.revoke_token(meta["revocation_endpoint"], token=tokens["access_token"], token_type_hint="access_token")
    assert r.status_code == 200, r.text
    assert userinfo_status(server, tokens["access_token"]) == 401
    assert rs.introspect_token(meta["introspection_endpoint"], token=tokens["access_token"]).json() == {"active": False}
    refreshed = rp.oauth.refresh_token(meta["token_endpoint"], refresh_token=tokens["refresh_token"])
    r = rp.oauth.revoke_token(meta["revocation_endpoint"], token=refreshed["refresh_token"])
    assert r.status_code == 200, r.text
    assert userinfo_status(server, refreshed["access_token"]) == 401
    assert rs.introspect_token(meta["introspection_endpoint"], token=refreshed["refresh_token"]).json() == {"active": False}
    # An unknown token is revoked without complaint (RFC 7009 §2.2).
    assert rp.oauth.revoke_token(meta["revocation_endpoint"], token="not-a-token").status_code == 200
