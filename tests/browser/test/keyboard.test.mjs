// The ways in with the keyboard alone: Tab, Shift+Tab, arrows, Enter, Space and typing — no
// mouse, no element.click(). On every page, Tab reaches every control in document order, Shift+Tab
// goes back, and the focused control has a visible outline.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, Shots, PHONE, DESKTOP, MANUAL, ARTIFACTS } from '../lib/browser.mjs';
import { SigningRp, samplePdf } from '../lib/signing.mjs';

const rig = new Rig();
const signing = new SigningRp();

before(async () => {
  await rig.setup();
  await signing.listen();
  await signing.register(rig.passerelle);
});
after(async () => {
  await signing.close();
  await rig.teardown();
  console.log(`screenshots: ${ARTIFACTS}`);
});

/** The focused element, named by what it is, with the outline it is drawn with. */
function focused(page) {
  return page.evaluate(() => {
    const e = document.activeElement;
    if (!e || e === document.body || e === document.documentElement) return null;
    const s = getComputedStyle(e);
    const key = e.type === 'radio' ? `radio:${e.name}`
      : `${e.tagName.toLowerCase()}:${e.id || e.getAttribute('value') || e.getAttribute('href') || e.textContent.trim()}`;
    return { key, outline: s.outlineStyle, width: parseFloat(s.outlineWidth), colour: s.outlineColor };
  });
}

/** Every control a person can reach on the page, in document order (a radio group counts once). */
function controls(page) {
  return page.evaluate(() => {
    const keys = [];
    for (const e of document.querySelectorAll('a[href], button, input:not([type=hidden]), select, textarea')) {
      if (e.disabled || e.getClientRects().length === 0) continue;
      const key = e.type === 'radio' ? `radio:${e.name}`
        : `${e.tagName.toLowerCase()}:${e.id || e.getAttribute('value') || e.getAttribute('href') || e.textContent.trim()}`;
      if (!keys.includes(key)) keys.push(key);
    }
    return keys;
  });
}

/**
 * Tabs through the whole page once: asserts that the order is the document order of its
 * controls, reaches every one of them, shows each with an outline, and that Shift+Tab goes back.
 */
async function assertTabOrder(page, what) {
  const expected = await controls(page);
  const seen = [];
  for (let i = 0; i < 3 * expected.length + 6; i++) {
    await page.keyboard.press('Tab');
    const f = await focused(page);
    if (!f) continue; // past the last control, focus leaves the document before it wraps
    if (seen.length && f.key === seen[0]) break;
    assert.notEqual(f.outline, 'none', `${what}: ${f.key} shows its focus`);
    assert.ok(f.width >= 2, `${what}: ${f.key} has a focus outline at least 2px wide (${f.width})`);
    seen.push(f.key);
  }
  // The tour starts after whatever had the focus (the phone page's field has it from the start).
  const from = Math.max(0, expected.indexOf(seen[0]));
  const tour = [...expected.slice(from), ...expected.slice(0, from)];
  assert.deepEqual(seen, tour, `${what}: Tab reaches every control, in order`);
  // Back where the tour started: Tab then Shift+Tab comes back to it.
  if (seen.length > 1) {
    await page.keyboard.press('Tab');
    assert.equal((await focused(page)).key, seen[1]);
    await page.keyboard.press('Shift+Tab');
    assert.equal((await focused(page)).key, seen[0], `${what}: Shift+Tab goes back`);
  }
}

/** Presses Tab until the control matching `selector` has the focus. */
async function tabTo(page, selector) {
  for (let i = 0; i < 30; i++) {
    if (await page.evaluate((s) => document.activeElement?.matches(s) ?? false, selector)) return;
    await page.keyboard.press('Tab');
  }
  assert.fail(`Tab never reached ${selector}`);
}

test('the desktop phone-number path with the keyboard alone', { timeout: 90_000 }, async () => {
  const shots = new Shots('keyboard-desktop');
  const context = await rig.context(DESKTOP);
  try {
    const page = await rig.login(context);
    await page.locator('#qr-box').waitFor();
    assert.equal((await focused(page))?.key, 'input:phone', 'the phone field has the focus from the start');
    await assertTabOrder(page, 'phone page');
    await tabTo(page, 'input[name=phone]');
    await page.keyboard.type(MANUAL.phone);
    await shots.take(page, 'phone-typed');
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/wait/);
    await page.locator('.icon-match').waitFor();

    await assertTabOrder(page, 'waiting page');
    await tabTo(page, 'a[target=_blank]');
    await shots.take(page, 'waiting-focus-on-app-link');
    const [app] = await Promise.all([context.waitForEvent('page'), page.keyboard.press('Enter')]);
    await app.waitForLoadState();
    await app.locator('input[name=code]').waitFor();

    await assertTabOrder(app, 'app page');
    await tabTo(app, 'input[name=code]');
    await app.keyboard.type(MANUAL.code);
    await shots.take(app, 'code-typed');
    // Enter in the code field confirms with the code (not with a biometric button before it).
    await app.keyboard.press('Enter');
    await app.locator('.ok[role=status]').waitFor();
    await shots.take(app, 'app-done');

    const outcome = await rig.outcome(page);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.claims.amr, ['pin', 'mfa'], 'the code was what confirmed');
  } finally {
    await context.close();
  }
});

test('the mobile path with the keyboard alone', { timeout: 90_000 }, async () => {
  const shots = new Shots('keyboard-mobile');
  const context = await rig.context(PHONE);
  try {
    const page = await rig.login(context);
    await page.locator('#open-app').waitFor();
    await assertTabOrder(page, 'Open itsme page');
    await tabTo(page, '#open-app');
    await shots.take(page, 'open-focused');
    await page.keyboard.press('Enter');

    await page.locator('input[type=radio]').first().waitFor();
    await assertTabOrder(page, 'device page');
    await tabTo(page, 'input[type=radio]');
    // Arrows move through the group (and check what they reach); Space checks the focused one.
    for (let i = 0; i < 40; i++) {
      if (await page.evaluate((v) => document.activeElement.value === v, MANUAL.phone)) break;
      await page.keyboard.press('ArrowDown');
    }
    await page.keyboard.press('Space');
    assert.ok(await page.locator(`input[type=radio][value="${MANUAL.phone}"]`).isChecked());
    await shots.take(page, 'device-chosen');
    await tabTo(page, 'button[type=submit]');
    await page.keyboard.press('Enter');

    await page.locator('button[value=fingerprint]').waitFor();
    await assertTabOrder(page, 'app page');
    await tabTo(page, 'button[value=fingerprint]');
    await shots.take(page, 'fingerprint-focused');
    await page.keyboard.press('Space');

    await page.locator('a.button[href*="/actions/"]').waitFor();
    await assertTabOrder(page, 'app answer');
    await tabTo(page, 'a.button[href*="/actions/"]');
    await shots.take(page, 'return-focused');
    await page.keyboard.press('Enter');

    const outcome = await rig.outcome(page);
    assert.equal(outcome.ok, true, JSON.stringify(outcome));
    assert.deepEqual(outcome.claims.amr, ['fpt', 'mfa']);
  } finally {
    await context.close();
  }
});

test('the signer page with the keyboard alone: tick the box, press Sign', { timeout: 90_000 }, async () => {
  const shots = new Shots('keyboard-signer');
  const ids = [
    await signing.upload(samplePdf('Loan agreement'), 'loan-agreement.pdf'),
    await signing.upload(samplePdf('General terms'), 'general-terms.pdf'),
  ];
  const session = await signing.createSession(ids);
  const context = await rig.context(DESKTOP);
  try {
    const page = await context.newPage();
    await page.goto(session.signatureUrl);
    await page.locator('input[name=agree]').waitFor();
    await assertTabOrder(page, 'signer page');
    // Sign without the box: the page says so, and the keyboard goes on from there.
    await tabTo(page, 'button[value=sign]');
    await page.keyboard.press('Enter');
    await page.getByRole('alert').waitFor();
    await shots.take(page, 'box-not-ticked');
    await tabTo(page, 'input[name=agree]');
    await page.keyboard.press('Space');
    assert.ok(await page.locator('input[name=agree]').isChecked(), 'Space ticks the box');
    await tabTo(page, 'button[value=sign]');
    await shots.take(page, 'sign-focused');
    await page.keyboard.press('Enter');

    // The sandbox's phone page: its field has the focus, the number typed and Enter.
    await page.locator('input[name=phone]').waitFor();
    assert.equal((await focused(page))?.key, 'input:phone', 'the phone field has the focus from the start');
    await page.keyboard.type(MANUAL.phone);
    await page.keyboard.press('Enter');
    await page.waitForURL(/\/actions\/[^/]+\/wait/);
    await shots.take(page, 'waiting-first-approval');
    assert.equal((await signing.session(session.id)).lifecycle.state, 'READY', 'signing, not yet signed');
  } finally {
    await context.close();
  }
});
