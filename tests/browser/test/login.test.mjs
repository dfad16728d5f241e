// A person in Debian's Chromium logs in to an openid-client relying party through the real
// Passerelle binary and its itsme sandbox: the phone page, the waiting page and the app emulator
// are used as a person would use them.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { chromium } from 'playwright-core';
import { Passerelle, BIN } from '../lib/passerelle.mjs';
import { RelyingParty } from '../lib/rp.mjs';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const ALL_SCOPES = 'openid name email idp-id profile date-of-birth gender phone address nin nationality '
  + 'place-of-birth itsme-eid itsme-validity itsme-issuance-locality';
const CLIENT_NAME = 'Browser Test Shop';
const STEP = 30_000; // the longest any single step may take

let passerelle;
let rp;
let browser;
let personas;

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run cargo build -p passerelle`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  passerelle = new Passerelle();
  personas = passerelle.personas();
  await passerelle.start();
  rp = await new RelyingParty().listen();
  const registration = passerelle.addClient({ name: CLIENT_NAME, redirectUri: rp.redirectUri });
  await rp.configure(passerelle.issuer, registration);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await rp?.close();
  const code = await passerelle?.stop();
  passerelle?.cleanup();
  assert.equal(code, 0, 'passerelle exits with 0 on SIGTERM');
});

function persona(behaviour, country) {
  const p = personas.find((x) => x.behaviour === behaviour && x.country === country);
  assert.ok(p, `no ${behaviour} persona for ${country}`);
  return p;
}

/** A new browser window (fresh cookies) on the RP's login, which lands on the sandbox phone page. */
async function startLogin(scope) {
  const context = await browser.newContext({ locale: 'en-US' });
  context.setDefaultTimeout(STEP);
  const page = await context.newPage();
  await page.goto(rp.loginUrl(scope));
  assert.match(new URL(page.url()).pathname, /^\/sandbox\/v2\//, 'the RP sent the browser through Passerelle to the sandbox');
  return { context, page };
}

/** Types the number into the phone page, checking the field is a labelled tel input. */
async function enterPhone(page, typed) {
  const input = page.locator('input[name=phone]');
  assert.equal(await input.getAttribute('type'), 'tel');
  const id = await input.getAttribute('id');
  const label = (await page.locator(`label[for="${id}"]`).textContent())?.trim();
  assert.ok(label, 'the phone input has a visible label');
  assert.equal(await page.getByRole('textbox', { name: label }).count(), 1, 'the label names the input');
  await page.getByLabel(label).fill(typed);
  await page.getByRole('button', { name: 'Continue' }).click();
}

async function rpOutcome(page) {
  await page.waitForURL((u) => u.href.startsWith(rp.redirectUri), { timeout: STEP });
  return JSON.parse(await page.locator('#result').textContent());
}

/** `+32470000001` as a person might type it: `+32 470 000 001` or `0032470000001`. */
function typedForm(e164, index) {
  const digits = e164.slice(1);
  if (index % 2 === 1) return `00${digits}`;
  return `+${digits.slice(0, 2)} ${digits.slice(2).replace(/(\d{3})(?=\d)/g, '$1 ')}`;
}

const COUNTRIES = ['BE', 'EE', 'FR', 'IE', 'IT', 'LU', 'PT', 'NL'];

COUNTRIES.forEach((country, index) => {
  test(`Identification of the approving ${country} persona`, { timeout: 60_000 }, async () => {
    const p = persona('approve', country);
    const { context, page } = await startLogin(ALL_SCOPES);
    try {
      assert.match(await page.locator('main').textContent(), new RegExp(CLIENT_NAME), 'the phone page names the RP');
      await enterPhone(page, country === 'BE' ? '+32 470 00 00 01' : typedForm(p.phone_number, index));
      const outcome = await rpOutcome(page);
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      assert.ok(p.attributes.idp_id, 'sandbox personas --json includes itsme\'s subject');
      assert.deepEqual(outcome.userinfo, { sub: outcome.claims.sub, ...p.attributes });
      assert.equal(outcome.claims.iss, passerelle.issuer);
      assert.equal(outcome.claims.acr, 'high');
      assert.equal(outcome.claims.idp, 'itsme');
      assert.equal(outcome.claims.family_name, p.attributes.family_name);
      assert.equal(outcome.claims.nin, undefined, 'the national number is only at userinfo');
      if (country !== 'BE') assert.equal(outcome.userinfo.nin, undefined);
    } finally {
      await context.close();
    }
  });
});

test('Authentication with a 00-prefixed number', { timeout: 60_000 }, async () => {
  const p = persona('approve', 'BE');
  const { context, page } = await startLogin('openid name email');
  try {
    await enterPhone(page, '0032470000001');
    const outcome = await rpOutcome(page);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.userinfo, {
      sub: outcome.claims.sub,
      name: p.attributes.name,
      given_name: p.attributes.given_name,
      family_name: p.attributes.family_name,
      email: p.attributes.email,
      email_verified: p.attributes.email_verified,
    });
  } finally {
    await context.close();
  }
});

/** The waiting page's link to the app emulator, opened in a new tab as a person would. */
async function openApp(context, page) {
  await page.getByRole('status').waitFor();
  const link = page.locator('a[href*="/app/actions/"]');
  assert.equal(await link.getAttribute('target'), '_blank');
  const [app] = await Promise.all([context.waitForEvent('page'), link.click()]);
  await app.waitForLoadState();
  return app;
}

test('a manual persona approves in the app; the waiting tab moves on by itself', { timeout: 90_000 }, async () => {
  const p = persona('manual', 'BE');
  const { context, page } = await startLogin(ALL_SCOPES);
  try {
    await enterPhone(page, p.phone_number);
    await page.waitForURL(/\/wait/);
    const waitingUrl = page.url();
    const app = await openApp(context, page);
    const shown = await app.locator('main').textContent();
    assert.match(shown, new RegExp(CLIENT_NAME), 'the app says who asks');
    assert.match(shown, new RegExp(p.attributes.family_name), 'the app shows the data requested');
    assert.match(shown, new RegExp(p.attributes.nin), 'the app shows the national number requested');
    assert.equal(page.url(), waitingUrl, 'the first tab is still waiting');
    await app.locator('input[name=code]').fill(p.code);
    await app.getByRole('button', { name: 'Confirm', exact: true }).click();
    await app.locator('.ok[role=status]').waitFor();
    // From here on the test never touches the first tab: it must reach the RP by itself.

    const outcome = await rpOutcome(page);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.equal(outcome.userinfo.nin, p.attributes.nin);
    assert.equal(outcome.claims.family_name, p.attributes.family_name);
  } finally {
    await context.close();
  }
});

test('a manual persona refuses in the app; the RP gets access_denied', { timeout: 90_000 }, async () => {
  const p = persona('manual', 'IT');
  const { context, page } = await startLogin('openid name email');
  try {
    await enterPhone(page, p.phone_number);
    await page.waitForURL(/\/wait/);
    const app = await openApp(context, page);
    assert.match(await app.locator('main').textContent(), new RegExp(CLIENT_NAME));
    await app.getByRole('button', { name: 'Refuse' }).click();
    await app.locator('[role=status]').waitFor();

    const outcome = await rpOutcome(page);
    assert.equal(outcome.ok, false);
    assert.equal(outcome.error, 'access_denied');
    assert.match(outcome.error_description, /refused/i);
  } finally {
    await context.close();
  }
});
