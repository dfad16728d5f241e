// OpenID CIBA (poll mode) with openid-client, whose own CIBA client (initiateBackchannelAuthentication,
// pollBackchannelAuthenticationGrant) honours the interval and slow_down and validates the ID
// token; no browser: the person is a scripted sandbox persona, who answers at once.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import * as client from 'openid-client';
import { Passerelle, BIN } from '../lib/passerelle.mjs';

let passerelle;
let registration;
let config;
let personas;

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run cargo build -p passerelle`);
  passerelle = new Passerelle();
  personas = passerelle.personas();
  await passerelle.start();
  // A backchannel-only client: no redirect URI.
  registration = JSON.parse(passerelle.cli('client', 'add', '--name', 'CIBA Kiosk', '--account', 'sandbox',
    '--ciba-mode', 'poll', '--json'));
  config = await client.discovery(new URL(passerelle.issuer), registration.client_id, undefined,
    client.ClientSecretBasic(registration.client_secret), { execute: [client.allowInsecureRequests] });
});

after(async () => {
  const code = await passerelle?.stop();
  passerelle?.cleanup();
  assert.equal(code, 0, 'passerelle exits with 0 on SIGTERM');
});

function persona(behaviour) {
  const p = personas.find((x) => x.behaviour === behaviour && x.country === 'BE');
  assert.ok(p, `no ${behaviour} persona`);
  return p;
}

test('openid-client completes a CIBA poll login, then reads userinfo', async () => {
  const p = persona('approve');
  const started = await client.initiateBackchannelAuthentication(config, {
    scope: 'openid profile',
    login_hint: p.phone_number,
    binding_message: 'Kiosk 2',
  });
  assert.ok(started.auth_req_id.length >= 43);
  assert.equal(started.interval, 5);
  const tokens = await client.pollBackchannelAuthenticationGrant(config, started, undefined,
    { signal: AbortSignal.timeout(60_000) });
  const claims = tokens.claims();
  assert.equal(claims.iss, passerelle.issuer);
  assert.equal(claims.aud, registration.client_id);
  assert.equal(claims.acr, 'high');
  assert.equal(claims.family_name, p.attributes.family_name);
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(userinfo.family_name, p.attributes.family_name);
});

test('a refusal in the app ends the poll with access_denied', async () => {
  const started = await client.initiateBackchannelAuthentication(config, {
    scope: 'openid',
    login_hint: persona('refuse').phone_number,
  });
  await assert.rejects(
    client.pollBackchannelAuthenticationGrant(config, started, undefined, { signal: AbortSignal.timeout(60_000) }),
    (e) => e.error === 'access_denied',
  );
});

test('an unknown phone number is unknown_user_id', async () => {
  await assert.rejects(
    client.initiateBackchannelAuthentication(config, { scope: 'openid', login_hint: '+32479999999' }),
    (e) => e.error === 'unknown_user_id',
  );
});
