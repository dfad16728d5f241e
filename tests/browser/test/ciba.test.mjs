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

test('a manual persona approves a CIBA request in the emulated phone\'s inbox, in Chromium', { timeout: 120_000 }, async () => {
  const { chromium } = await import('playwright-core');
  const { Shots, PHONE, MANUAL, CHROMIUM, CHROMIUM_ARGS, axeViolations } = await import('../lib/browser.mjs');
  const shots = new Shots('ciba-inbox');
  const started = await client.initiateBackchannelAuthentication(config, {
    scope: 'openid profile',
    login_hint: MANUAL.phone,
    binding_message: 'Kiosk 7',
  });
  const polled = client.pollBackchannelAuthenticationGrant(config, started, undefined,
    { signal: AbortSignal.timeout(90_000) });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  try {
    const context = await browser.newContext({ locale: 'en-US', bypassCSP: true, ...PHONE });
    const page = await context.newPage();
    await page.goto(`${passerelle.base}/sandbox/v2/app/inbox?phone=${encodeURIComponent(MANUAL.phone)}`);
    await page.getByText('Kiosk 7').first().waitFor();
    assert.deepEqual(await axeViolations(page), [], 'the inbox has no axe violations');
    await shots.take(page, 'inbox');
    await page.getByRole('link', { name: 'Open' }).first().click();
    await page.getByRole('heading', { name: 'itsme app (sandbox)' }).waitFor();
    const main = await page.locator('main').textContent();
    assert.match(main, /CIBA Kiosk/, 'the app says who asks');
    assert.match(main, /Kiosk 7/, 'the app shows the binding message');
    assert.deepEqual(await axeViolations(page), [], 'the app page has no axe violations');
    await shots.take(page, 'app');
    await page.getByLabel('Your 5-digit itsme code').fill(MANUAL.code);
    await page.getByRole('button', { name: 'Confirm', exact: true }).click();
    await page.locator('.ok').waitFor();
    await shots.take(page, 'approved');
    await context.close();
  } finally {
    await browser.close();
  }
  const tokens = await polled;
  const claims = tokens.claims();
  assert.equal(claims.aud, registration.client_id);
  assert.deepEqual(claims.amr, ['pin', 'mfa']);
  console.log(`screenshots: ${shots.dir}`);
});
