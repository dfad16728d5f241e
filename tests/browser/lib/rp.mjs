// A tiny relying party on 127.0.0.1:0 built on openid-client (panva): /login starts a login with
// PKCE, state and nonce; /cb redeems the code, validates the ID token and calls userinfo, then
// shows the outcome as JSON in <pre id="result"> for the browser (and the test) to read.
import http from 'node:http';
import * as client from 'openid-client';

export class RelyingParty {
  /** Listens first: the client's redirect URI needs the port. */
  async listen() {
    this.pending = new Map(); // state -> { verifier, nonce }
    this.server = http.createServer((req, res) => this.handle(req, res).catch((e) => this.show(res, 500, { error: 'rp_failure', error_description: String(e) })));
    await new Promise((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.base = `http://127.0.0.1:${this.server.address().port}`;
    this.redirectUri = `${this.base}/cb`;
    return this;
  }

  /** Discovers Passerelle (plain http on 127.0.0.1, hence allowInsecureRequests). */
  async configure(issuer, registration) {
    this.registration = registration;
    this.config = await client.discovery(new URL(issuer), registration.client_id, undefined,
      client.ClientSecretBasic(registration.client_secret), { execute: [client.allowInsecureRequests] });
  }

  /** `extra`: more authorization parameters (`ui_locales`, `acr_values`, `display`…). */
  loginUrl(scope, extra = {}) {
    return `${this.base}/login?${new URLSearchParams({ ...extra, scope })}`;
  }

  async handle(req, res) {
    const url = new URL(req.url, this.base);
    if (url.pathname === '/login') {
      const verifier = client.randomPKCECodeVerifier();
      const state = client.randomState();
      const nonce = client.randomNonce();
      this.pending.set(state, { verifier, nonce });
      const target = client.buildAuthorizationUrl(this.config, {
        redirect_uri: this.redirectUri,
        scope: url.searchParams.get('scope'),
        code_challenge: await client.calculatePKCECodeChallenge(verifier),
        code_challenge_method: 'S256',
        state,
        nonce,
        ...Object.fromEntries([...url.searchParams].filter(([k]) => k !== 'scope')),
      });
      res.writeHead(302, { Location: target.href }).end();
      return;
    }
    if (url.pathname === '/cb') {
      const checks = this.pending.get(url.searchParams.get('state'));
      if (!checks) {
        this.show(res, 400, { error: 'unknown_state' });
        return;
      }
      this.pending.delete(url.searchParams.get('state'));
      try {
        const tokens = await client.authorizationCodeGrant(this.config, url, {
          pkceCodeVerifier: checks.verifier,
          expectedState: url.searchParams.get('state'),
          expectedNonce: checks.nonce,
          idTokenExpected: true,
        });
        const claims = tokens.claims();
        const userinfo = await client.fetchUserInfo(this.config, tokens.access_token, claims.sub);
        this.show(res, 200, { ok: true, claims, userinfo, scope: tokens.scope });
      } catch (e) {
        this.show(res, 200, { ok: false, error: e.error ?? e.code ?? 'exception', error_description: e.error_description ?? e.message });
      }
      return;
    }
    res.writeHead(404).end();
  }

  show(res, status, outcome) {
    const json = JSON.stringify(outcome, null, 1).replace(/&/g, '&amp;').replace(/</g, '&lt;');
    res.writeHead(status, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(`<!doctype html><title>RP</title><h1>Relying party</h1><pre id="result">${json}</pre>`);
  }

  close() {
    return new Promise((resolve) => this.server.close(resolve));
  }
}
