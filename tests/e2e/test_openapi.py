"""The OpenAPI document at /openapi.json, fuzzed by schemathesis against the real binary.

schemathesis reads the document the server serves and sends every documented operation
generated requests, valid and invalid, with all of its checks: no 5xx, only documented statuses,
content types and headers, bodies that match their schemas, invalid requests refused, valid ones
accepted, authentication enforced, undocumented methods answered 405. It runs with real
credentials (a client's secret for `client_secret_basic`, an access token from a real login for
userinfo, an API token for the REST and signing APIs), so it gets past client authentication. Zero failures is the bar.

On PostgreSQL too, when PASSERELLE_TEST_POSTGRES names a server, with fewer examples and without
the client's Basic credentials: there schemathesis makes up the client authentication (Basic
credentials, `client_id` and `client_secret` in the body, client assertions), so that the text it
generates reaches the database, whose text type is pickier than SQLite's (it refuses NUL).

PASSERELLE_SCHEMATHESIS_EXAMPLES and PASSERELLE_SCHEMATHESIS_SEED change the number of examples
per operation and the seed (fixed by default, so that a run can be repeated).
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from harness import ALL_SCOPES, HTTP_TIMEOUT, POSTGRES, RelyingParty, Server, login, pg_command

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
EXAMPLES = {"sqlite": 150, "postgres": 50}
SEED = os.environ.get("PASSERELLE_SCHEMATHESIS_SEED", "20261127")

# Operations documented ahead of the code (issue 5: JSON /healthz, /readyz); the same list as
# AHEAD_OF_CODE in crates/passerelle/tests/openapi.rs. They are left out of the run while the
# server does not answer them with JSON; once it does, test_operations_documented_ahead_of_the_code
# fails so that they are removed from both lists.
AHEAD_OF_CODE: list[str] = []

# What schemathesis is told beyond the document (each `[[operations]]` entry selects by one
# criterion: two `include-*` keys in one entry select the operations matching either). Each operation below may refuse a request the
# schema calls valid, for a reason a schema cannot express:
# - token endpoints: a well-formed request carries a code schemathesis made up (400
#   invalid_grant), client credentials in the body besides the Basic header (400
#   invalid_request), or at the sandbox, a client assertion nobody signed (400 invalid_client);
# - revocation and introspection: client credentials in the body besides the Basic header (400
#   invalid_request); at introspection, the fuzzing client is not a resource server (400
#   unauthorized_client);
# - the PAR endpoint: a well-formed request names a redirect URI the client did not register,
#   lacks PKCE, or carries a made-up request object (400), or client credentials in the body
#   besides the Basic header (400, 401);
# - the backchannel endpoint (CIBA): a well-formed request names a phone number nobody has
#   (400 unknown_user_id), carries a made-up id_token_hint or request object (400), or client
#   credentials in the body besides the Basic header (400);
# - the sandbox's backchannel endpoint and user discovery sessions: a client assertion nobody
#   signed (401), and their per-address limits (429: the backchannel request costs three RSA
#   verifications, and shares the sandbox authorization endpoint's limit);
# - userinfo by POST: an `access_token` in the body besides the Authorization header (400),
#   or alone and made up (401);
# - the REST API: a session whose callback URLs are not the client's registered redirect URIs
#   (400), a headless session while the sandbox's user discovery limit is spent (503), and a
#   made-up session id (404);
# - client registration: metadata the shared client rules refuse (a redirect URI that is not
#   https, no redirect URI, encryption without keys: 400), and at a registration's own URI a
#   made-up client id, which the registration access token does not open (401). Their
#   per-address limit (60 a minute) is raised for this server, so that the fuzzing reaches the
#   metadata rules rather than 429;
# - the signing API: an upload of bytes that are not the PDF they claim to be (400), or with a
#   media type it does not keep (415); a collection or sessions naming documents this client never
#   uploaded, or redirect URLs it did not register (400); a made-up id (404); deleting a document
#   an open session uses (409); an `after` cursor beyond 64 bits (400). Its uploads get real PDFs
#   as well as arbitrary bytes (schemathesis_hooks.py): any of them is 201, 400, 413 or 415.
HOOKS = Path(__file__).with_name("schemathesis_hooks.py")
BASIC = """
[auth.openapi.clientSecretBasic]
username = "{client_id}"
password = "{client_secret}"
"""
CONFIG = """
[auth.openapi.bearerAuth]
bearer = "{access_token}"

[auth.openapi.apiToken]
bearer = "{api_token}"

[auth.openapi.initialAccessToken]
bearer = "{initial_access_token}"

[auth.openapi.registrationAccessToken]
bearer = "{registration_access_token}"

[[operations]]
include-path = ["/auth/open/connect/token", "/sandbox/v2/token", "/auth/open/connect/ciba", "/auth/open/connect/revocation", "/auth/open/connect/introspect", "/auth/open/connect/par"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401"]

[[operations]]
include-path = ["/sandbox/v2/backchannel/authentication", "/sandbox/v2/user_discovery_sessions", "/sandbox/v2/user_discovery_sessions/{{id}}"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401", "429"]

[[operations]]
include-path = ["/auth/open/connect/register", "/auth/open/connect/register/{{client_id}}"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401"]

[[operations]]
include-name = "POST /auth/open/connect/userinfo"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "401"]

[[operations]]
include-path = "/auth/rest/sessions"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "503"]

[[operations]]
include-path = "/auth/rest/sessions/{{id}}"
checks.positive_data_acceptance.expected-statuses = ["2xx", "404"]

[[operations]]
include-path = "/sign/documents"
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "413", "415"]

[[operations]]
include-name = ["POST /sign/document-collections", "POST /sign/signing-sessions", "GET /sign/signing-sessions", "GET /sign/events"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400"]

[[operations]]
include-path = [
    "/sign/documents/{{id}}", "/sign/documents/{{id}}/metadata",
    "/sign/document-collections/{{id}}", "/sign/signing-sessions/{{id}}",
]
checks.positive_data_acceptance.expected-statuses = ["2xx", "400", "404", "409"]
"""


def is_json(response: requests.Response) -> bool:
    return response.headers.get("Content-Type", "").startswith("application/json")


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def fuzzed(request, binary, tmp_path_factory):
    """A server of its own (the fuzzing fills its logs), with a client and a live access token."""
    backend = request.param
    database = None
    if backend == "postgres":
        if not POSTGRES:
            pytest.skip("set PASSERELLE_TEST_POSTGRES=postgres://USER@HOST:PORT to run")
        database = f"passerelle_e2e_openapi_{os.getpid()}_{secrets.token_hex(4)}"
        pg_command("createdb", database)
    server = Server(
        tmp_path_factory.mktemp(f"openapi-{backend}") / "data",
        database_url=f"{POSTGRES}/{database}" if database else None,
        env={"PASSERELLE_REGISTRATION_ENABLED": "true", "PASSERELLE_RATE_LIMITS_REGISTRATION_PER_IP": "100000"},
    )
    try:
        server.start()
        client = server.add_client("OpenAPI fuzzing")
        # Past client authentication at the backchannel endpoint too.
        server.cli("client", "update", client["client_id"], "--ciba-mode", "poll")
        token = login(RelyingParty(server, client, scope=ALL_SCOPES), "+32470000001").token
        api = requests.post(
            f"{server.issuer}/connect/token",
            auth=(client["client_id"], client["client_secret"]),
            data={"grant_type": "client_credentials", "scope": "signicat-api"},
            timeout=HTTP_TIMEOUT,
        )
        assert api.status_code == 200, api.text
        token["api_token"] = api.json()["access_token"]
        # Registration: a token for every example schemathesis makes, and one registered client.
        token["initial_access_token"] = server.cli_json("registration", "issue", "--uses", "1000")["token"]
        registered = requests.post(
            f"{server.issuer}/connect/register",
            headers={"Authorization": f"Bearer {token['initial_access_token']}"},
            json={"client_name": "Fuzzed registration", "redirect_uris": ["https://rp.example/callback"]},
            timeout=HTTP_TIMEOUT,
        )
        assert registered.status_code == 201, registered.text
        token["registration_access_token"] = registered.json()["registration_access_token"]
        yield backend, server, client, token
        assert server.stop() == 0
    finally:
        server.kill()
        if database:
            pg_command("dropdb", database)


def test_the_document_is_served(fuzzed):
    _, server, _, _ = fuzzed
    r = requests.get(f"{server.base}/openapi.json", timeout=HTTP_TIMEOUT)
    assert r.status_code == 200 and is_json(r)
    doc = r.json()
    assert doc["openapi"].startswith("3.1.")
    assert doc["servers"][0]["url"] == server.base
    assert "/auth/open/connect/token" in doc["paths"]


def test_operations_documented_ahead_of_the_code(fuzzed):
    _, server, _, _ = fuzzed
    served = [path for path in AHEAD_OF_CODE if is_json(requests.get(f"{server.base}{path}", timeout=HTTP_TIMEOUT))]
    assert not served, (
        f"{served} answer JSON now: remove them from AHEAD_OF_CODE here and in "
        "crates/passerelle/tests/openapi.rs, so that schemathesis checks them too"
    )


def test_schemathesis_finds_nothing(fuzzed, tmp_path):
    backend, server, client, token = fuzzed
    config = tmp_path / "schemathesis.toml"
    basic = BASIC.format(client_id=client["client_id"], client_secret=client["client_secret"])
    config.write_text(f'hooks = "{HOOKS}"\n' + (basic if backend == "sqlite" else "") + CONFIG.format(**token))
    examples = os.environ.get("PASSERELLE_SCHEMATHESIS_EXAMPLES", str(EXAMPLES[backend]))
    command = [
        str(SCHEMATHESIS),
        "--config-file", str(config),
        "run", f"{server.base}/openapi.json",
        "--checks", "all",
        "--max-examples", examples,
        "--seed", SEED,
        "--generation-database", "none",
        "--no-color",
    ]  # fmt: skip
    for path in AHEAD_OF_CODE:
        command += ["--exclude-path", path]
    result = subprocess.run(
        command, cwd=tmp_path, capture_output=True, text=True, timeout=600, env={**os.environ, "NO_COLOR": "1"}
    )
    output = result.stdout + result.stderr
    summary = re.search(r"(\d+) generated, (\d+) (?:passed|found)[^\n]*", output)
    print(f"schemathesis on {backend}: {summary.group(0) if summary else '?'}")
    assert result.returncode == 0, f"schemathesis failed ({result.returncode}):\n{output[-20000:]}"
    assert summary and int(summary.group(1)) > 100, output[-5000:]
    # Nothing went wrong on the server's side either, even where no answer showed it.
    logs = server.logs()
    assert " ERROR " not in logs, "\n".join(line for line in logs.splitlines() if " ERROR " in line)[:5000]
