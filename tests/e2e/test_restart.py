"""Passerelle keeps no flow state in memory: a login survives a restart of the server."""

from harness import ALL_SCOPES, Browser, RelyingParty, Server, login, query


def test_login_survives_a_restart(binary, tmp_path):
    server = Server(tmp_path / "data").start()
    try:
        client = server.add_client("Restart shop")
        jwks_before = server.jwks()
        rp = RelyingParty(server, client, scope=ALL_SCOPES)
        browser = Browser()
        phone_page = browser.open(rp.authorization_url())
        assert phone_page.status_code == 200
        port = server.port

        assert server.stop() == 0
        server.start(port=port)  # same data directory, same address
        assert server.port == port

        assert server.jwks() == jwks_before, "the signing keys are kept across restarts"
        callback = browser.wait_for_rp(browser.submit_phone(phone_page, "+32470000002"))
        assert isinstance(callback, str), "the login went on after the restart"
        params = query(callback)
        assert "code" in params, params
        token = rp.redeem(callback)
        _, claims = rp.verify_id_token(token)
        info = rp.userinfo()
        assert info["sub"] == claims["sub"]
        assert info["nin"] == "90021404284"
        assert info["family_name"] == "Dubois"

        # And the client registered before the restart logs people in afterwards too.
        again = login(RelyingParty(server, client), "+32470000002")
        assert again.id_claims["sub"] == claims["sub"]
    finally:
        if server.proc is not None:
            assert server.stop() == 0
