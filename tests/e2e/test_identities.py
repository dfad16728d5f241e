"""Authentication and Identification for the approving persona of every country, compared with
what `passerelle sandbox personas --json` promises for each."""

import pytest

from harness import ALL_SCOPES, AUTHENTICATION, RelyingParty, login, unique

COUNTRIES = ["BE", "EE", "FR", "IE", "IT", "LU", "PT", "NL"]

LOGIN_CLAIMS = {"name", "given_name", "family_name", "email", "email_verified"}
# Standard-scope claims: in the ID token as well as at userinfo.
ID_TOKEN_CLAIMS = LOGIN_CLAIMS | {"gender", "birthdate", "locale", "phone_number", "phone_number_verified", "address"}
# Protected attributes: only at userinfo.
USERINFO_ONLY_PREFIXES = ("nin", "nationality", "place_of_birth", "country_of_birth", "itsme_")
PROTOCOL_CLAIMS = {"iss", "sub", "aud", "exp", "iat", "nbf", "auth_time", "nonce", "acr", "amr", "idp", "at_hash", "sandbox", "azp", "sid"}


def test_every_country_has_an_approving_persona(personas):
    countries = {p["country"] for p in personas if p["behaviour"] == "approve"}
    assert countries >= set(COUNTRIES)


@pytest.mark.parametrize("country", COUNTRIES)
def test_authentication(server, sandbox_client, by_behaviour, country):
    persona = by_behaviour("approve", country)
    rp = RelyingParty(server, sandbox_client, scope=AUTHENTICATION)
    result = login(rp, persona["phone_number"])

    attrs = persona["attributes"]
    expected = {k: v for k, v in attrs.items() if k in LOGIN_CLAIMS}
    assert expected.keys() >= {"name", "given_name", "family_name"}
    assert result.userinfo == {"sub": result.id_claims["sub"], **expected}

    claims = result.id_claims
    assert claims["sandbox"] is True
    for k, v in expected.items():
        assert claims[k] == v, k
    personal = set(claims) - PROTOCOL_CLAIMS
    assert personal == set(expected), "an Authentication releases only the login claims"
    assert set(result.token["scope"].split()) == set(AUTHENTICATION.split())


@pytest.mark.parametrize("country", COUNTRIES)
def test_identification_with_every_scope(server, sandbox_client, by_behaviour, country):
    persona = by_behaviour("approve", country)
    rp = RelyingParty(server, sandbox_client, scope=ALL_SCOPES)
    result = login(rp, persona["phone_number"])

    # `sandbox personas --json` is exactly userinfo minus `sub`, itsme's subject (idp_id) included.
    assert len(persona["attributes"]["idp_id"]) == 36
    info = result.userinfo
    assert info == {"sub": result.id_claims["sub"], **persona["attributes"]}

    claims = result.id_claims
    assert claims["sandbox"] is True
    for k, v in persona["attributes"].items():
        if k in ID_TOKEN_CLAIMS:
            assert claims[k] == v, k
        if k.startswith(USERINFO_ONLY_PREFIXES):
            assert k not in claims, f"{k} must only be released at userinfo"

    if country == "BE":
        assert info["nin"] == persona["attributes"]["nin"]
        assert len(info["nin"]) == 11
    else:
        assert not [k for k in info if k.startswith("nin")], f"a {country} document has no national number"


def test_subject_is_pairwise_and_stable(server, sandbox_client, by_behaviour):
    persona = by_behaviour("approve", "BE")
    phone = persona["phone_number"]
    auth = login(RelyingParty(server, sandbox_client, scope=AUTHENTICATION), phone)
    ident = login(RelyingParty(server, sandbox_client, scope=ALL_SCOPES), phone)
    again = login(RelyingParty(server, sandbox_client, scope=AUTHENTICATION), phone)
    assert auth.id_claims["sub"] == ident.id_claims["sub"] == again.id_claims["sub"]
    assert auth.userinfo["sub"] == auth.id_claims["sub"]

    other_client = server.add_client(unique("Other shop"))
    elsewhere = login(RelyingParty(server, other_client, scope=AUTHENTICATION), phone)
    assert elsewhere.id_claims["sub"] != auth.id_claims["sub"]

    other_person = login(RelyingParty(server, sandbox_client, scope=AUTHENTICATION), by_behaviour("approve", "FR")["phone_number"])
    assert other_person.id_claims["sub"] != auth.id_claims["sub"]


def test_phone_number_formats(server, sandbox_client, by_behaviour):
    persona = by_behaviour("approve", "BE")
    assert persona["phone_number"] == "+32470000001"
    subs = set()
    for typed in ("+32 470 00 00 01", "0032470000001", "0032 470 000 001"):
        result = login(RelyingParty(server, sandbox_client, scope=AUTHENTICATION), typed)
        assert result.userinfo["name"] == persona["attributes"]["name"], typed
        subs.add(result.id_claims["sub"])
    assert len(subs) == 1
