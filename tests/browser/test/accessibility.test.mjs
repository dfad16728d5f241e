// axe-core on every page a person sees on the ways into a login, in each of the four languages,
// at a desktop viewport (1280×800) and a phone's (390×844): the phone-number page with its QR
// code, the QR code's waiting page, the waiting page with the verification icon, the app asking
// (with biometrics, and code-only for acr_advanced), "Open itsme", the device page, the app's
// answer with its return button, and the broker's "started in another browser" page; and the
// signing API's pages: the signer page (its language from Accept-Language, and from the
// session's ui.language in a browser of another language), with its "tick the box" message, the
// signed and declined pages, and the sandbox's two signing approvals (the signing account, then
// the documents) on the waiting page and in the app. No rule is turned off. Each page is also
// saved as a screenshot (artifacts/accessibility-<lang>/ and artifacts/accessibility-signing-<lang>/).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Rig, Shots, PHONE, DESKTOP, MANUAL, LANGUAGES, LOCALES, ACR_ADVANCED, ARTIFACTS,
  DESKTOP_VIEWPORT, PHONE_VIEWPORT, axeViolations, keepStill,
} from '../lib/browser.mjs';
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

/** Checks `page` at both viewports; returns the violations found, each labelled with where. */
async function check(page, lang, name, shots) {
  assert.equal(await page.evaluate(() => document.documentElement.lang), lang, `${name} is in ${lang}`);
  const found = [];
  for (const [size, viewport] of [['desktop', DESKTOP_VIEWPORT], ['phone', PHONE_VIEWPORT]]) {
    await page.setViewportSize(viewport);
    for (const v of await axeViolations(page)) found.push({ page: name, lang, size, url: page.url(), ...v });
    await shots.take(page, `${name}-${size}`);
  }
  return found;
}

/** The desktop phone-number form, filled with the manual persona's number; lands on the waiting page. */
async function submitPhone(page) {
  await page.locator('input[name=phone]').fill(MANUAL.phone);
  await page.locator('form[action$="/phone"] button[type=submit]').click();
  await page.waitForURL(/\/wait/);
}

/** The app page of the action a waiting page waits for, opened in `phone`. */
async function appOf(waiting, phone) {
  const href = await waiting.locator('a[target=_blank][href*="/app/actions/"]').getAttribute('href');
  const app = await phone.newPage();
  await app.goto(new URL(href, rig.passerelle.base).href);
  await app.locator('input[name=code]').waitFor();
  return app;
}

for (const lang of LANGUAGES) {
  test(`every page of the ways in passes axe-core in ${lang}, on a desktop and on a phone`, { timeout: 180_000 }, async () => {
    const shots = new Shots(`accessibility-${lang}`);
    const options = { locale: LOCALES[lang], bypassCSP: true };
    const extra = { ui_locales: lang };
    const desktop = await rig.context(DESKTOP, options);
    const phone = await rig.context(PHONE, options);
    const other = await rig.context(PHONE, options);
    const found = [];
    // The waiting pages stay as they are while they are checked; and so the phone's first
    // browser does not finish the login before the return in the other one (as when it is in the
    // background), which meets the broker's "another browser" page.
    for (const c of [desktop, phone, other]) await keepStill(c);
    try {
      // Desktop: the phone-number page with its QR code, and the QR code's own waiting page.
      const start = await rig.login(desktop, 'openid profile', extra);
      await start.locator('#qr-box #qr').waitFor();
      found.push(...await check(start, lang, 'phone-with-qr', shots));
      const qrWait = await start.locator('#qr-box a[href$="wait?scan=1"]').getAttribute('href');
      await start.goto(new URL(qrWait, rig.passerelle.base).href);
      await start.locator('img.qr-img').waitFor();
      found.push(...await check(start, lang, 'qr-waiting', shots));

      // The phone number typed: the waiting page with its icon, and the app offering biometrics.
      const waiting = await rig.login(desktop, 'openid profile', extra);
      await submitPhone(waiting);
      await waiting.locator('.icon-match').waitFor();
      found.push(...await check(waiting, lang, 'waiting-with-icon', shots));
      const app = await appOf(waiting, phone);
      assert.equal(await app.locator('button[value=fingerprint]').count(), 1, 'biometrics are offered');
      found.push(...await check(app, lang, 'app-with-biometrics', shots));

      // acr_advanced: the app asks for the code only.
      const advanced = await rig.login(desktop, 'openid profile', { ...extra, acr_values: ACR_ADVANCED });
      await submitPhone(advanced);
      const codeOnly = await appOf(advanced, phone);
      assert.equal(await codeOnly.locator('button[value=fingerprint]').count(), 0, 'no biometrics for acr_advanced');
      found.push(...await check(codeOnly, lang, 'app-code-only', shots));

      // Phone: "Open itsme"; the app link followed in another browser: the device page, the
      // app's answer with its return button, and the broker's "another browser" page.
      const open = await rig.login(phone, 'openid profile', extra);
      await open.locator('#open-app').waitFor();
      found.push(...await check(open, lang, 'open-itsme', shots));
      const href = await open.locator('#open-app').getAttribute('href');
      const elsewhere = await other.newPage();
      await elsewhere.goto(new URL(href, rig.passerelle.base).href);
      await elsewhere.locator('input[type=radio]').first().waitFor();
      found.push(...await check(elsewhere, lang, 'device', shots));
      await elsewhere.locator(`input[type=radio][value="${MANUAL.phone}"]`).check();
      await elsewhere.locator('form button[type=submit]').click();
      await elsewhere.locator('input[name=code]').fill(MANUAL.code);
      await elsewhere.locator('button[value=approve]').click();
      await elsewhere.locator('a.button[href*="/actions/"]').waitFor();
      found.push(...await check(elsewhere, lang, 'app-done-with-return', shots));
      await elsewhere.locator('a.button[href*="/actions/"]').click();
      await elsewhere.waitForURL(/\/auth\/open\/connect\/itsme\/callback/);
      await elsewhere.getByRole('alert').waitFor();
      found.push(...await check(elsewhere, lang, 'another-browser', shots));
    } finally {
      await other.close();
      await phone.close();
      await desktop.close();
    }
    assert.deepEqual(found, [], `axe-core violations:\n${JSON.stringify(found, null, 1)}`);
  });
}

/** A qualified session signing two fresh PDFs; `more` adds to the session (`ui`…). */
async function signingSession(more = {}) {
  const ids = [
    await signing.upload(samplePdf('Loan agreement'), 'loan-agreement.pdf'),
    await signing.upload(samplePdf('General terms'), 'general-terms.pdf'),
  ];
  return signing.createSession(ids, { title: 'Loan agreement 2024-117', ...more });
}

/** Opens `signatureUrl` in a new page of `context`; waits for its form. */
async function signerPage(context, session) {
  const page = await context.newPage();
  await page.goto(session.signatureUrl);
  await page.locator('input[type=checkbox][name=agree]').waitFor();
  return page;
}

/**
 * Goes on from a waiting page whose polls are held (keepStill) once the app decided: the page
 * itself, loaded again, follows the answer.
 */
async function moveOn(page) {
  await page.goto(page.url());
}

for (const lang of LANGUAGES) {
  test(`the signer's pages and the two signing approvals pass axe-core in ${lang}, on a desktop and on a phone`, { timeout: 180_000 }, async () => {
    const shots = new Shots(`accessibility-signing-${lang}`);
    const options = { locale: LOCALES[lang], bypassCSP: true };
    const browser = await rig.context(DESKTOP, options);
    // A browser in another language: the session's ui.language decides.
    const foreign = await rig.context(DESKTOP, { locale: lang === 'de' ? 'fr-BE' : 'de-DE', bypassCSP: true });
    const phone = await rig.context(PHONE, options);
    const found = [];
    for (const c of [browser, foreign, phone]) await keepStill(c);
    try {
      // The language from Accept-Language: the signer page, the page saying the box was not
      // ticked, and the declined page.
      const declined = await signingSession();
      const page = await signerPage(browser, declined);
      found.push(...await check(page, lang, 'signer', shots));
      await page.locator('button[value=sign]').click();
      await page.getByRole('alert').waitFor();
      found.push(...await check(page, lang, 'signer-box-not-ticked', shots));
      await page.locator('button[value=decline]').click();
      await page.waitForURL((u) => u.href.startsWith(signing.redirects.cancel));
      await page.goto(declined.signatureUrl);
      await page.locator('main h1').waitFor();
      assert.equal(await page.locator('input[name=agree]').count(), 0, 'no form once declined');
      found.push(...await check(page, lang, 'declined', shots));

      // The session's ui.language: the signer page, the phone page, each approval's waiting
      // page and app page, and the signed page.
      const signed = await signingSession({ ui: { language: lang } });
      const signer = await signerPage(foreign, signed);
      found.push(...await check(signer, lang, 'signer-ui-language', shots));
      await signer.locator('input[name=agree]').check();
      await signer.locator('button[value=sign]').click();
      await signer.locator('input[name=phone]').waitFor();
      found.push(...await check(signer, lang, 'sign-phone', shots));
      await submitPhone(signer);
      await signer.locator('.icon-match').waitFor();
      found.push(...await check(signer, lang, 'waiting-account', shots));
      const account = await appOf(signer, phone);
      found.push(...await check(account, lang, 'app-account', shots));
      await account.locator('input[name=code]').fill(MANUAL.code);
      await account.locator('button[value=approve]').click();
      await account.locator('.ok[role=status]').waitFor();
      const firstWait = signer.url();
      await moveOn(signer);
      assert.notEqual(signer.url(), firstWait, 'the second approval has its own waiting page');
      assert.match(signer.url(), /\/actions\/[^/]+\/wait$/);
      found.push(...await check(signer, lang, 'waiting-documents', shots));
      const documents = await appOf(signer, phone);
      assert.equal(await documents.locator('dl dd').count(), 2, 'the description and the count');
      found.push(...await check(documents, lang, 'app-documents', shots));
      await documents.locator('input[name=code]').fill(MANUAL.code);
      await documents.locator('button[value=approve]').click();
      await documents.locator('.ok[role=status]').waitFor();
      await moveOn(signer);
      assert.ok(signer.url().startsWith(signing.redirects.success), signer.url());
      await signer.goto(signed.signatureUrl);
      await signer.locator('main .ok[role=status]').waitFor();
      found.push(...await check(signer, lang, 'signed', shots));
    } finally {
      await phone.close();
      await foreign.close();
      await browser.close();
    }
    assert.deepEqual(found, [], `axe-core violations:\n${JSON.stringify(found, null, 1)}`);
  });
}
