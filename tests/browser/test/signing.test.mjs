// The signing API in Chromium, as a person signs: the relying party (this test, with Node's
// fetch) uploads two PDFs and creates a qualified session (PKISIGNING); the browser opens
// `signatureUrl`, where the person reads the documents, ticks the box and signs with itsme; the
// manual persona types their number on the sandbox's phone page and approves twice in the
// emulated app on a second page (the phone): the signing account, then both documents in one
// approval. The relying party then reads the session and has pyHanko validate each signed PDF.
// Also: a refusal of the second approval in the app, a person who declines on the signer page,
// and the same-device path of a phone ("Open itsme" for each approval, the app in the same
// browser). Each page is saved as a screenshot under tests/browser/artifacts/<test>/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Rig, Shots, PHONE, DESKTOP, MANUAL, ARTIFACTS, STEP } from '../lib/browser.mjs';
import { SigningRp, samplePdf, pyhankoValidate } from '../lib/signing.mjs';

const rig = new Rig();
const rp = new SigningRp();
const DOCUMENTS = [
  { filename: 'loan-agreement.pdf', pdf: samplePdf('Loan agreement') },
  { filename: 'general-terms.pdf', pdf: samplePdf('General terms') },
];

before(async () => {
  await rig.setup();
  await rp.listen();
  await rp.register(rig.passerelle);
});
after(async () => {
  await rp.close();
  await rig.teardown();
  console.log(`screenshots: ${ARTIFACTS}`);
});

/** Uploads both documents and creates a qualified session signing them. */
async function newSession(title) {
  const ids = [];
  for (const d of DOCUMENTS) ids.push(await rp.upload(d.pdf, d.filename));
  const session = await rp.createSession(ids, { title });
  assert.equal(session.documents.length, 2);
  return session;
}

/** The signer page of `session` in a new page of `context`: its title and both documents listed. */
async function openSigner(context, session) {
  const page = await context.newPage();
  await page.goto(session.signatureUrl);
  await page.getByRole('heading', { level: 1, name: 'Sign documents with itsme' }).waitFor();
  const main = await page.locator('main').textContent();
  assert.match(main, new RegExp(rp.name), 'the page says who asks');
  assert.ok(main.includes(session.title), 'the page shows the session\'s title');
  return page;
}

/**
 * Each document's link opens it, in a new tab, as the PDF that was uploaded: asserts the links'
 * names, and what each serves to this browser.
 */
async function assertDocumentsOpen(page, shots) {
  const links = page.locator('main ul li a');
  assert.equal(await links.count(), DOCUMENTS.length, 'the page lists both documents');
  for (const [i, d] of DOCUMENTS.entries()) {
    const link = links.nth(i);
    assert.equal((await link.textContent()).trim(), d.filename);
    assert.equal(await link.getAttribute('target'), '_blank');
    const href = new URL(await link.getAttribute('href'), page.url()).href;
    const served = page.context().waitForEvent('response', (r) => r.url() === href);
    const [tab] = await Promise.all([page.waitForEvent('popup'), link.click()]);
    const response = await served;
    assert.equal(response.status(), 200, `${d.filename} opens`);
    assert.equal(response.headers()['content-type'], 'application/pdf');
    assert.match(response.headers()['content-disposition'], /^inline/);
    assert.equal(tab.url(), href);
    await tab.waitForLoadState();
    await shots.take(tab, `document-${i + 1}`);
    await tab.close();
    // The same link, read again by this browser: the bytes uploaded.
    const again = await page.request.get(href);
    assert.equal(again.status(), 200);
    assert.ok(Buffer.from(await again.body()).equals(d.pdf), `${d.filename} is the uploaded PDF`);
  }
}

/** Ticks the box and signs: the browser reaches the sandbox's phone page, where the number is typed. */
async function signWithItsme(page, shots) {
  await page.getByRole('checkbox', { name: 'I have read the documents and I agree to sign them.' }).check();
  await page.getByRole('button', { name: 'Sign with itsme' }).click();
  await page.getByLabel('Mobile phone number').waitFor();
  assert.match(new URL(page.url()).pathname, /^\/sandbox\//, 'the signing service is the sandbox\'s');
  await shots.take(page, 'phone-page');
  await page.getByLabel('Mobile phone number').fill(MANUAL.phone);
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(/\/actions\/[^/]+\/wait/);
  await page.getByRole('heading', { name: 'Confirm in the itsme app' }).waitFor();
  await shots.take(page, 'waiting-first-approval');
  return new URL(page.url()).pathname;
}

/** The waiting page and the app show the same icon, for the person to match. */
async function assertSameIcon(page, app) {
  const name = await page.locator('.icon-match .icon[role=img]').getAttribute('aria-label');
  assert.ok(name, 'the waiting page shows an icon');
  assert.equal(await app.locator('.icon-match .icon[role=img]').getAttribute('aria-label'), name, 'the app shows the same icon');
}

/** The phone: the request waiting in the manual persona's app, opened from its inbox. */
async function openInApp(phone, shots, step) {
  const app = await phone.newPage();
  await app.goto(`${rig.passerelle.base}/sandbox/v2/app/inbox?phone=${encodeURIComponent(MANUAL.phone)}`);
  const open = app.getByRole('link', { name: 'Open', exact: true });
  await open.first().waitFor();
  assert.equal(await open.count(), 1, 'one request waits in the app');
  await shots.take(app, `${step}-inbox`);
  await open.click();
  await app.getByRole('heading', { name: 'itsme app (sandbox)' }).waitFor();
  assert.ok((await app.locator('main').textContent()).includes(MANUAL.phone), 'the app is the persona\'s');
  return app;
}

/** Confirms the app's request with the code; the app says so. */
async function confirmWithCode(app, shots, step) {
  await app.getByLabel('Your 5-digit itsme code').fill(MANUAL.code);
  await app.getByRole('button', { name: 'Confirm', exact: true }).click();
  assert.match(await app.locator('.ok[role=status]').textContent(), /Confirmed/);
  await shots.take(app, `${step}-confirmed`);
  await app.close();
}

/** The first approval (the signing account) in the app, and the first tab moving on by itself to the second. */
async function approveAccount(page, phone, firstWait, shots, { firstTime }) {
  const app = await openInApp(phone, shots, 'account');
  await assertSameIcon(page, app);
  const main = await app.locator('main').textContent();
  assert.match(main, /wants to use your itsme signing account/, main);
  if (firstTime) {
    assert.match(main, /creates your qualified certificate/, 'the first signature announces the certificate');
  } else {
    assert.doesNotMatch(main, /creates your qualified certificate/, 'the certificate exists already');
  }
  await shots.take(app, 'account-app');
  await confirmWithCode(app, shots, 'account');
  // Nobody touches the first tab: it goes through Passerelle to the second approval's waiting page.
  await page.waitForURL((u) => /\/actions\/[^/]+\/wait$/.test(u.pathname) && u.pathname !== firstWait, { timeout: STEP });
  await page.getByRole('heading', { name: 'Confirm in the itsme app' }).waitFor();
  await shots.take(page, 'waiting-second-approval');
}

/** The second approval as the app shows it: the session's description, and both documents at once. */
async function openDocumentsApproval(page, phone, session, shots) {
  const app = await openInApp(phone, shots, 'documents');
  await assertSameIcon(page, app);
  const main = await app.locator('main').textContent();
  assert.match(main, /asks you to sign with your qualified certificate/, main);
  const description = await app.locator('dt:has-text("Description") + dd').textContent();
  assert.ok(description.includes(session.title), `the description names the session: ${description}`);
  assert.match(description, /2 documents/, 'one approval for both documents');
  assert.equal((await app.locator('dt:has-text("To sign") + dd').textContent()).trim(), '2 documents');
  await shots.take(app, 'documents-app');
  return app;
}

/** Where the first tab ends: the RP's page for `which`, with the session's id and reference. */
async function assertEndsAt(page, which, session, shots) {
  await page.waitForURL((u) => u.href.startsWith(rp.redirects[which]), { timeout: STEP });
  const query = JSON.parse(await page.locator('#result').textContent());
  assert.equal(query.sessionId, session.id);
  assert.equal(query.externalReference, 'order-42');
  assert.equal(query.error, undefined);
  await shots.take(page, `rp-${which}`);
}

test('a person signs two PDFs with one approval in the itsme app (qualified), and pyHanko finds both VALID', { timeout: 180_000 }, async () => {
  const shots = new Shots('signing-qualified');
  const session = await newSession('Loan agreement 2024-117');
  const desktop = await rig.context(DESKTOP);
  const phone = await rig.context(PHONE);
  try {
    const page = await openSigner(desktop, session);
    await shots.take(page, 'signer');
    await assertDocumentsOpen(page, shots);
    const firstWait = await signWithItsme(page, shots);
    await approveAccount(page, phone, firstWait, shots, { firstTime: true });
    const app = await openDocumentsApproval(page, phone, session, shots);
    await confirmWithCode(app, shots, 'documents');
    await assertEndsAt(page, 'success', session, shots);

    // The signing link of a signed session says so.
    await page.goto(session.signatureUrl);
    await page.getByRole('heading', { level: 1, name: 'Signed' }).waitFor();
    assert.match(await page.getByRole('status').textContent(), /have been signed/);
    await shots.take(page, 'signed-page');
  } finally {
    await phone.close();
    await desktop.close();
  }

  const done = await rp.session(session.id);
  assert.equal(done.lifecycle.state, 'SIGNED', JSON.stringify(done));
  const signatures = done.output.signatures;
  assert.equal(signatures.length, 2, JSON.stringify(signatures));
  const root = await rp.sandboxRoot();
  for (const [i, sig] of signatures.entries()) {
    assert.equal(sig.signatureType, 'PADES');
    const signed = await rp.download(sig.resultDocumentId);
    assert.ok(signed.subarray(0, DOCUMENTS[i].pdf.length).equals(DOCUMENTS[i].pdf),
      'a signed PDF keeps the original bytes, in the session\'s order');
    const verdict = await pyhankoValidate(signed, root);
    assert.ok(verdict.ok, `pyHanko: ${DOCUMENTS[i].filename}: ${verdict.out}`);
    console.log(`pyHanko, ${DOCUMENTS[i].filename} signed: ${verdict.out.trim()}`);
    // And it is not the chain of trust that pyHanko was given that makes it valid by accident:
    // a changed byte in the signed range is INVALID.
    const tampered = Buffer.from(signed);
    tampered[Math.floor(DOCUMENTS[i].pdf.length / 2)] ^= 0x01;
    const refused = await pyhankoValidate(tampered, root);
    assert.equal(refused.ok, false, 'pyHanko refuses a changed byte');
    console.log(`pyHanko, ${DOCUMENTS[i].filename} with a changed byte: ${refused.out.trim()}`);
  }
});

test('a person who refuses the documents in the app: the tab ends at the cancel URL, the session is REJECTED', { timeout: 180_000 }, async () => {
  const shots = new Shots('signing-refused-in-app');
  const session = await newSession('Lease contract');
  const desktop = await rig.context(DESKTOP);
  const phone = await rig.context(PHONE);
  try {
    const page = await openSigner(desktop, session);
    await shots.take(page, 'signer');
    const firstWait = await signWithItsme(page, shots);
    await approveAccount(page, phone, firstWait, shots, { firstTime: false });
    const app = await openDocumentsApproval(page, phone, session, shots);
    await app.getByRole('button', { name: 'Refuse' }).click();
    assert.match(await app.getByRole('status').textContent(), /You refused the request/);
    await shots.take(app, 'documents-refused');
    await assertEndsAt(page, 'cancel', session, shots);

    await page.goto(session.signatureUrl);
    await page.getByRole('heading', { level: 1, name: 'Declined' }).waitFor();
    await shots.take(page, 'declined-page');
  } finally {
    await phone.close();
    await desktop.close();
  }
  const rejected = await rp.session(session.id);
  assert.equal(rejected.lifecycle.state, 'REJECTED', JSON.stringify(rejected));
  assert.deepEqual(rejected.output?.signatures ?? [], []);
});

test('a person who declines on the signer page: the box unticked is said first, then the cancel URL, REJECTED', { timeout: 90_000 }, async () => {
  const shots = new Shots('signing-declined');
  const session = await newSession('Marketing consent');
  const desktop = await rig.context(DESKTOP);
  try {
    const page = await openSigner(desktop, session);
    // Signing without ticking the box: the page says what is missing and nothing starts.
    await page.getByRole('button', { name: 'Sign with itsme' }).click();
    assert.match(await page.getByRole('alert').textContent(), /Tick the box/);
    assert.ok(page.url().startsWith(session.signatureUrl), 'still on the signer page');
    await shots.take(page, 'box-not-ticked');
    assert.equal((await rp.session(session.id)).lifecycle.state, 'READY');

    await page.getByRole('button', { name: 'Decline' }).click();
    await assertEndsAt(page, 'cancel', session, shots);
    await page.goto(session.signatureUrl);
    await page.getByRole('heading', { level: 1, name: 'Declined' }).waitFor();
    assert.match(await page.getByRole('alert').textContent(), /not signed/);
    await shots.take(page, 'declined-page');
  } finally {
    await desktop.close();
  }
  const rejected = await rp.session(session.id);
  assert.equal(rejected.lifecycle.state, 'REJECTED');
  assert.deepEqual(rejected.output?.signatures ?? [], []);
});

test('on a phone: "Open itsme" for each approval, the app in the same browser, back to the RP, SIGNED', { timeout: 120_000 }, async () => {
  const shots = new Shots('signing-on-a-phone');
  const session = await newSession('Loan agreement 2024-118');
  const context = await rig.context(PHONE);
  try {
    const page = await openSigner(context, session);
    await shots.take(page, 'signer');
    await page.getByRole('checkbox', { name: 'I have read the documents and I agree to sign them.' }).check();
    await page.getByRole('button', { name: 'Sign with itsme' }).tap();
    assert.equal(await page.locator('input[type=tel]').count(), 0, 'no phone-number form on a phone');

    // The first approval: this phone's app, once the person says whose phone it is.
    await page.locator('#open-app').waitFor();
    assert.match(await page.locator('main').textContent(), /signing account/);
    await shots.take(page, 'open-itsme-account');
    await page.locator('#open-app').tap();
    await page.getByRole('heading', { name: 'Whose phone is this?' }).waitFor();
    await page.getByRole('radio', { name: new RegExp(MANUAL.phone.replace('+', '\\+')) }).check();
    await page.getByRole('button', { name: 'Use this person' }).tap();
    await page.getByRole('heading', { name: 'itsme app (sandbox)' }).waitFor();
    assert.match(await page.locator('main').textContent(), /wants to use your itsme signing account/);
    await shots.take(page, 'app-account');
    await page.getByLabel('Your 5-digit itsme code').fill(MANUAL.code);
    await page.getByRole('button', { name: 'Confirm', exact: true }).tap();
    await page.locator('.ok[role=status]').waitFor();
    await shots.take(page, 'app-account-confirmed');
    await page.locator('a.button[href*="/actions/"]').tap();

    // Back in the browser, through Passerelle, to the second approval: "Open itsme" again.
    await page.waitForURL(/\/actions\/[^/]+\/wait$/);
    await page.locator('#open-app').waitFor();
    await shots.take(page, 'open-itsme-documents');
    await page.locator('#open-app').tap();
    await page.getByRole('heading', { name: 'itsme app (sandbox)' }).waitFor();
    const description = await page.locator('dt:has-text("Description") + dd').textContent();
    assert.ok(description.includes(session.title), description);
    assert.equal((await page.locator('dt:has-text("To sign") + dd').textContent()).trim(), '2 documents');
    await shots.take(page, 'app-documents');
    await page.getByLabel('Your 5-digit itsme code').fill(MANUAL.code);
    await page.getByRole('button', { name: 'Confirm', exact: true }).tap();
    await page.locator('.ok[role=status]').waitFor();
    await shots.take(page, 'app-documents-confirmed');
    await page.locator('a.button[href*="/actions/"]').tap();
    await assertEndsAt(page, 'success', session, shots);
  } finally {
    await context.close();
  }
  const done = await rp.session(session.id);
  assert.equal(done.lifecycle.state, 'SIGNED', JSON.stringify(done));
  assert.deepEqual(done.output.signatures.map((s) => s.signatureType), ['PADES', 'PADES']);
});
