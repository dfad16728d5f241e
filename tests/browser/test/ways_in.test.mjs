// The ways into a login beside the desktop phone-number form, in Chromium as a person uses them:
// the same-device path of a phone ("Open itsme", the emulated app that learns whose phone it is,
// the return to the relying party — also in another browser), the desktop QR code scanned with a
// second device, and the phone-number path's verification icon. Each page is saved as a
// screenshot under tests/browser/artifacts/<test>/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, Shots, PHONE, DESKTOP, MANUAL, CLIENT_NAME, ARTIFACTS, STEP, holdPolls } from '../lib/browser.mjs';

const rig = new Rig();

before(() => rig.setup());
after(async () => {
  await rig.teardown();
  console.log(`screenshots: ${ARTIFACTS}`);
});

/** The device page: picks the manual persona by its label, as a person would. */
async function choosePerson(page, shots) {
  await page.getByRole('heading', { name: 'Whose phone is this?' }).waitFor();
  const radios = page.getByRole('radio');
  assert.ok(await radios.count() > 1, 'the device page lists the test people');
  await shots.take(page, 'device');
  await page.getByRole('radio', { name: new RegExp(MANUAL.phone.replace('+', '\\+')) }).check();
  await page.getByRole('button', { name: 'Use this person' }).click();
  await page.getByRole('heading', { name: 'itsme app (sandbox)' }).waitFor();
}

/** The app page of a pending request: who asks, and the phone's person. */
async function assertAppAsks(page) {
  const main = await page.locator('main').textContent();
  assert.match(main, new RegExp(CLIENT_NAME), 'the app says who asks');
  assert.ok(main.includes(MANUAL.phone), 'the app shows the phone\'s account');
}

for (const how of ['code', 'fingerprint']) {
  test(`on a phone: Open itsme, choose the person, approve with the ${how}, return to the RP`, { timeout: 90_000 }, async () => {
    const shots = new Shots(`mobile-${how}`);
    const context = await rig.context(PHONE);
    try {
      const page = await rig.login(context);
      assert.equal(await page.locator('input[type=tel]').count(), 0, 'no phone-number form on a phone');
      const open = page.locator('#open-app');
      await open.waitFor();
      assert.match(await page.locator('main').textContent(), new RegExp(CLIENT_NAME), 'the page names the RP');
      await shots.take(page, 'open-itsme');
      await open.tap();

      await choosePerson(page, shots);
      await assertAppAsks(page);
      await shots.take(page, 'app-pending');
      if (how === 'code') {
        await page.getByLabel('Your 5-digit itsme code').fill(MANUAL.code);
        await page.getByRole('button', { name: 'Confirm', exact: true }).tap();
      } else {
        await page.getByRole('button', { name: 'Confirm with fingerprint' }).tap();
      }
      const back = page.getByRole('link', { name: `Return to ${CLIENT_NAME}` });
      await back.waitFor();
      assert.match(await page.locator('.ok[role=status]').textContent(), /Confirmed/);
      await shots.take(page, 'app-done');
      await back.tap();

      const outcome = await rig.outcome(page);
      await shots.take(page, 'rp');
      assert.equal(outcome.ok, true, JSON.stringify(outcome));
      const id = outcome.claims;
      assert.equal(id.acr, 'high');
      assert.deepEqual(id.amr, how === 'code' ? ['pin', 'mfa'] : ['fpt', 'mfa']);
      assert.equal(id.idp, 'itsme');

      // The phone now knows its person: the next login goes straight to the app.
      const again = await rig.login(context);
      await again.locator('#open-app').tap();
      await again.getByRole('heading', { name: 'itsme app (sandbox)' }).waitFor();
      await assertAppAsks(again);
      assert.equal(await again.getByRole('link', { name: 'Not you? Change the person' }).count(), 1);
    } finally {
      await context.close();
    }
  });
}

test('on a phone, a return in another browser: that browser is told so, the first moves on by itself', { timeout: 90_000 }, async () => {
  const shots = new Shots('mobile-other-browser');
  const first = await rig.context(PHONE);
  const other = await rig.context(PHONE);
  try {
    // The first browser is in the background while the person is in the app.
    const wakeFirst = await holdPolls(first);
    const page = await rig.login(first);
    const href = await page.locator('#open-app').getAttribute('href');
    await shots.take(page, 'open-itsme');

    // The app link opened in another browser (as when an in-app browser hands over).
    const app = await other.newPage();
    await app.goto(new URL(href, rig.passerelle.base).href);
    await choosePerson(app, shots);
    await app.getByLabel('Your 5-digit itsme code').fill(MANUAL.code);
    await app.getByRole('button', { name: 'Confirm', exact: true }).tap();
    const back = app.getByRole('link', { name: `Return to ${CLIENT_NAME}` });
    await back.waitFor();
    await shots.take(app, 'app-done');
    await back.tap();
    await app.waitForURL(/\/auth\/open\/connect\/itsme\/callback/);
    const said = await app.getByRole('alert').textContent();
    assert.match(said, /started in another browser/, said);
    assert.ok(!app.url().startsWith(rig.rp.redirectUri), 'the other browser never reaches the RP');
    await shots.take(app, 'another-browser');

    // The first browser comes to the foreground; the test never touches its tab: the tab moves on,
    // and its code redeems.
    wakeFirst();
    const outcome = await rig.outcome(page);
    await shots.take(page, 'rp');
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.claims.amr, ['pin', 'mfa']);
  } finally {
    await other.close();
    await first.close();
  }
});

test('on a phone, a first tab still awake finishes the login as soon as the app answers in another browser', { timeout: 90_000 }, async () => {
  const shots = new Shots('mobile-other-browser-first-awake');
  const first = await rig.context(PHONE);
  const other = await rig.context(PHONE);
  try {
    const page = await rig.login(first);
    const href = await page.locator('#open-app').getAttribute('href');
    const app = await other.newPage();
    await app.goto(new URL(href, rig.passerelle.base).href);
    await choosePerson(app, shots);
    await app.getByRole('button', { name: 'Confirm with fingerprint' }).tap();
    // The first tab's script learns of the answer at once: the login is over before any return.
    const outcome = await rig.outcome(page);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.claims.amr, ['fpt', 'mfa']);
    const back = app.getByRole('link', { name: `Return to ${CLIENT_NAME}` });
    await back.tap();
    // The login already finished in the first tab: the other browser is told so, not that
    // something went wrong.
    await app.getByRole('heading', { name: 'Done' }).waitFor();
    assert.match(await app.getByRole('status').textContent(), /complete/);
    assert.equal(await app.getByRole('alert').count(), 0, 'no error');
    await shots.take(app, 'return-after-the-end');
    assert.ok(!app.url().startsWith(rig.rp.redirectUri), 'the other browser never reaches the RP');
  } finally {
    await other.close();
    await first.close();
  }
});

test('on a desktop, the QR code scanned with a phone: the desktop page moves on by itself', { timeout: 90_000 }, async () => {
  const shots = new Shots('desktop-qr');
  const desktop = await rig.context(DESKTOP);
  const phone = await rig.context(PHONE);
  try {
    const page = await rig.login(desktop);
    const qr = page.locator('#qr-box #qr');
    await qr.waitFor();
    await page.waitForFunction(() => document.getElementById('qr').complete);
    const width = await qr.evaluate((img) => img.naturalWidth);
    assert.ok(width > 0, 'the QR code image is displayed');
    assert.ok(await page.locator('input[type=tel]').isVisible(), 'the phone-number form stays beside the code');
    await shots.take(page, 'phone-page-with-qr');
    const scan = page.locator('#qr-box a[href*="/scan?t="]');
    assert.equal(await scan.getAttribute('target'), '_blank');
    const href = await scan.getAttribute('href');

    // "Scanning": the code's link in a phone.
    const app = await phone.newPage();
    await app.goto(href);
    await choosePerson(app, shots);
    await assertAppAsks(app);
    await shots.take(app, 'app-pending');
    // Once the code is scanned, the desktop page's script moves it to the waiting page.
    await page.waitForURL(/\/actions\/[^/]+\/wait/);
    await page.getByRole('heading', { name: 'Confirm in the itsme app' }).waitFor();
    await shots.take(page, 'desktop-waiting');
    await app.getByRole('button', { name: 'Confirm with fingerprint' }).tap();
    await app.locator('.ok[role=status]').waitFor();
    await shots.take(app, 'app-done');
    assert.equal(await app.getByRole('link', { name: /^Return to/ }).count(), 0,
      'a scanned code has no way back on the phone: the desktop continues');

    const outcome = await rig.outcome(page);
    await shots.take(page, 'rp');
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.claims.amr, ['fpt', 'mfa']);
  } finally {
    await phone.close();
    await desktop.close();
  }
});

test('on a desktop, the phone number: the waiting page and the app show the same icon', { timeout: 90_000 }, async () => {
  const shots = new Shots('desktop-phone-number');
  const context = await rig.context(DESKTOP);
  try {
    const page = await rig.login(context);
    await shots.take(page, 'phone-page');
    await page.getByLabel('Mobile phone number').fill(MANUAL.phone);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL(/\/wait/);
    const icon = page.locator('.icon-match .icon[role=img]');
    await icon.waitFor();
    const name = await icon.getAttribute('aria-label');
    assert.ok(name, 'the icon has a name');
    assert.match(await page.locator('.icon-match').textContent(), new RegExp(name));
    await shots.take(page, 'waiting-with-icon');

    const [app] = await Promise.all([context.waitForEvent('page'), page.getByRole('link', { name: 'Open the sandbox itsme app' }).click()]);
    await app.waitForLoadState();
    assert.equal(await app.locator('.icon-match .icon[role=img]').getAttribute('aria-label'), name, 'the app shows the same icon');
    await shots.take(app, 'app-pending');
    await app.getByLabel('Your 5-digit itsme code').fill(MANUAL.code);
    await app.getByRole('button', { name: 'Confirm', exact: true }).click();
    await app.locator('.ok[role=status]').waitFor();
    await shots.take(app, 'app-done');

    const outcome = await rig.outcome(page, STEP);
    await shots.take(page, 'rp');
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.claims.amr, ['pin', 'mfa']);
  } finally {
    await context.close();
  }
});
