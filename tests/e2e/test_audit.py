"""The audit trail, as an operator reads it: `passerelle audit` while the server runs."""

import json
import time

from harness import RelyingParty, login, unique

BE = "+32470000001"


def test_the_audit_command_shows_a_clients_events_without_personal_data(server):
    client = server.add_client(unique("Audited shop"))
    rp = RelyingParty(server, client, scope="openid profile nin")
    result = login(rp, BE)
    # Events outside a transaction are written by the audit writer a moment later.
    for _ in range(100):
        events = server.cli_json("audit", "--since", "1h", "--client", client["client_id"])
        if any(e["kind"] == "login.approved" for e in events):
            break
        time.sleep(0.05)
    kinds = [(e["kind"], e["outcome"]) for e in events]
    for expected in [("client.added", "ok"), ("login.approved", "ok"), ("token.issued", "ok")]:
        assert expected in kinds, kinds
    approved = next(e for e in events if e["kind"] == "login.approved")
    assert approved["service"] == "identification"
    assert approved["subject"] and len(approved["subject"]) == 22
    text = json.dumps(events)
    for personal in (BE, "470000001", result.userinfo["nin"], result.userinfo["family_name"], result.id_claims["sub"]):
        assert personal not in text

    # The table form, and a client with no events since a moment in the future.
    table = server.cli("audit", "--since", "1h", "--client", client["client_id"]).stdout
    assert "login.approved" in table and "token.issued" in table
    assert server.cli_json("audit", "--since", "2099-01-01", "--client", client["client_id"]) == []
    bad = server.cli("audit", "--since", "yesterday", check=False)
    assert bad.returncode != 0 and "--since" in bad.stderr


def test_the_audit_trail_knows_the_keys_were_made(server):
    events = server.cli_json("audit", "--since", "7d", "--limit", "100000")
    created = [e["detail"] for e in events if e["kind"] == "key.created"]
    assert any("purpose=op-rs256" in d for d in created), created
    assert all("material" not in d and '"d"' not in d for d in created)
