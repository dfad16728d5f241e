"""A few flows on PostgreSQL, the multi-node backend. Runs when PASSERELLE_TEST_POSTGRES names a
server (e.g. postgres://postgres@127.0.0.1:5432); each run gets a database of its own."""

import os
import secrets

import pytest

from harness import ALL_SCOPES, AUTHENTICATION, POSTGRES as BASE_URL, RelyingParty, Server, authorize, login, pg_command, query

pytestmark = pytest.mark.skipif(not BASE_URL, reason="set PASSERELLE_TEST_POSTGRES=postgres://USER@HOST:PORT to run")


@pytest.fixture(scope="module")
def pg_server(binary, tmp_path_factory):
    name = f"passerelle_e2e_{os.getpid()}_{secrets.token_hex(4)}"
    pg_command("createdb", name)
    server = Server(tmp_path_factory.mktemp("pg") / "data", database_url=f"{BASE_URL}/{name}")
    try:
        server.start()
        assert server.stdout_line("Database:").startswith("Database:      PostgreSQL at ")
        yield server
        assert server.stop() == 0
    finally:
        server.kill()
        pg_command("dropdb", name)


@pytest.fixture(scope="module")
def pg_client(pg_server):
    return pg_server.add_client("Postgres shop")


def test_authentication_on_postgres(pg_server, pg_client):
    result = login(RelyingParty(pg_server, pg_client, scope=AUTHENTICATION), "+32470000001")
    assert result.userinfo["name"] == "Jan Pieter Peeters"
    assert result.id_claims["sandbox"] is True


def test_identification_on_postgres(pg_server, pg_client, personas):
    persona = next(p for p in personas if p["phone_number"] == "+33639980001")
    result = login(RelyingParty(pg_server, pg_client, scope=ALL_SCOPES), persona["phone_number"])
    assert result.userinfo == {"sub": result.id_claims["sub"], **persona["attributes"]}


def test_refusal_on_postgres(pg_server, pg_client):
    rp = RelyingParty(pg_server, pg_client)
    params = query(authorize(rp, "+32470000004"))
    assert params["error"] == "access_denied"
    assert "refused" in params["error_description"]
    assert params["state"] == rp.state
