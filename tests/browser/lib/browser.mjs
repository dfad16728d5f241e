// What the browser test files share: Debian's Chromium (never a downloaded one), a desktop and a
// phone to open windows as, one Passerelle with one openid-client relying party per test file,
// screenshots saved as test artefacts, and axe-core run inside a page.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { Passerelle, BIN } from './passerelle.mjs';
import { RelyingParty } from './rp.mjs';

export const CHROMIUM = '/usr/bin/chromium';
export const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
export const STEP = 30_000; // the longest any single step may take
export const CLIENT_NAME = 'Browser Test Shop';
export const LANGUAGES = ['en', 'nl', 'fr', 'de'];
/** A browser locale per page language, so that Accept-Language agrees with ui_locales. */
export const LOCALES = { en: 'en-US', nl: 'nl-BE', fr: 'fr-BE', de: 'de-DE' };
export const ACR_ADVANCED = 'http://itsme.services/v2/claim/acr_advanced';

export const ANDROID_UA = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) '
  + 'Chrome/126.0.0.0 Mobile Safari/537.36';
export const DESKTOP_VIEWPORT = { width: 1280, height: 800 };
export const PHONE_VIEWPORT = { width: 390, height: 844 };
/** A phone-sized Android Chrome: the sandbox shows it the same-device path. */
export const PHONE = { viewport: PHONE_VIEWPORT, isMobile: true, hasTouch: true, deviceScaleFactor: 2, userAgent: ANDROID_UA };
/** A desktop window (Chromium's own desktop User-Agent): the phone-number form and the QR code. */
export const DESKTOP = { viewport: DESKTOP_VIEWPORT };

/** The manual Belgian persona: approves in the app with code 24680 (or a fingerprint). */
export const MANUAL = { phone: '+32470000007', code: '24680' };

const here = path.dirname(fileURLToPath(import.meta.url));
/** Where screenshots go: tests/browser/artifacts/<test>/<step>.png. */
export const ARTIFACTS = path.resolve(here, '../artifacts');

/**
 * One Passerelle, one relying party registered with it, and one Chromium, for a test file.
 * Call `setup()` in `before` and `teardown()` in `after`.
 */
export class Rig {
  async setup() {
    assert.ok(existsSync(BIN), `${BIN} is missing: run cargo build -p passerelle`);
    assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
    this.passerelle = new Passerelle();
    await this.passerelle.start();
    this.rp = await new RelyingParty().listen();
    const registration = this.passerelle.addClient({ name: CLIENT_NAME, redirectUri: this.rp.redirectUri });
    await this.rp.configure(this.passerelle.issuer, registration);
    this.browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
    return this;
  }

  async teardown() {
    await this.browser?.close();
    await this.rp?.close();
    const code = await this.passerelle?.stop();
    this.passerelle?.cleanup();
    assert.equal(code, 0, 'passerelle exits with 0 on SIGTERM');
  }

  /** A new window with fresh cookies: `device` is PHONE or DESKTOP, plus any context options. */
  async context(device, options = {}) {
    const context = await this.browser.newContext({ locale: 'en-US', ...device, ...options });
    context.setDefaultTimeout(STEP);
    return context;
  }

  /** Opens the RP's login in a new page of `context`; it lands on the sandbox's first page. */
  async login(context, scope = 'openid profile', extra = {}) {
    const page = await context.newPage();
    await page.goto(this.rp.loginUrl(scope, extra));
    assert.match(new URL(page.url()).pathname, /^\/sandbox\/v2\//, 'the RP sent the browser through Passerelle to the sandbox');
    return page;
  }

  /** Waits for `page` to reach the RP's callback, and reads what the RP made of it. */
  async outcome(page, timeout = STEP) {
    await page.waitForURL((u) => u.href.startsWith(this.rp.redirectUri), { timeout });
    return JSON.parse(await page.locator('#result').textContent());
  }
}

/** Screenshots of one test's steps, numbered in the order taken (a run replaces the last run's). */
export class Shots {
  constructor(test) {
    this.dir = path.join(ARTIFACTS, test.replace(/[^a-z0-9]+/gi, '-').replace(/^-|-$/g, '').toLowerCase());
    rmSync(this.dir, { recursive: true, force: true });
    mkdirSync(this.dir, { recursive: true });
    this.n = 0;
  }

  /**
   * The whole page as it is now. Through the DevTools protocol rather than page.screenshot:
   * Playwright's waits for a page that has a navigation under way, and the waiting pages always
   * have one (their meta refresh long-polls for up to 20 s).
   */
  async take(page, step) {
    this.n += 1;
    const file = path.join(this.dir, `${String(this.n).padStart(2, '0')}-${step}.png`);
    const cdp = await page.context().newCDPSession(page);
    try {
      const { cssContentSize: size } = await cdp.send('Page.getLayoutMetrics');
      const { data } = await cdp.send('Page.captureScreenshot', {
        format: 'png',
        captureBeyondViewport: true,
        clip: { x: 0, y: 0, width: Math.ceil(size.width), height: Math.ceil(size.height), scale: 1 },
      });
      writeFileSync(file, Buffer.from(data, 'base64'));
    } finally {
      await cdp.detach();
    }
    return file;
  }
}

const require = createRequire(import.meta.url);
const AXE = require.resolve('axe-core/axe.min.js');

/**
 * axe-core's violations on the page as it is now (every rule axe enables by default: WCAG 2.x A
 * and AA, and best practices). The page's context must be created with `bypassCSP: true`, since
 * the pages' Content-Security-Policy (rightly) refuses an injected script.
 * The waiting pages move on by themselves (a meta refresh that long-polls): a check that a
 * navigation interrupts is run again on the page that replaced it.
 */
export async function axeViolations(page) {
  for (let attempt = 1; ; attempt++) {
    try {
      await page.waitForLoadState();
      if (!(await page.evaluate(() => typeof window.axe === 'object'))) {
        await page.addScriptTag({ path: AXE });
      }
      return await page.evaluate(async () => {
        const results = await window.axe.run(document, { resultTypes: ['violations'] });
        return results.violations.map((v) => ({
          id: v.id,
          impact: v.impact,
          help: v.help,
          nodes: v.nodes.map((n) => `${n.target.join(' ')}: ${n.failureSummary}`),
        }));
      });
    } catch (e) {
      if (attempt >= 3 || !/context was destroyed|navigat/i.test(String(e))) throw e;
    }
  }
}

// The waiting pages ("Open itsme", the waiting page, the QR code's) move on by themselves: their
// script long-polls the action's status (…/status) and then goes to …/wait; without JavaScript a
// meta refresh long-polls …/wait?poll=1 instead.
const POLLS = /\/actions\/[^/]+\/(status$|wait\?poll=1)/;

/**
 * Holds the polls of the waiting pages of `context` until the returned function is called: a
 * phone's browser in the background, while the person is in the app, does not run its page. A
 * first tab that polls on meanwhile learns of the app's answer at once and wins every race with
 * a return in another browser.
 */
export async function holdPolls(context) {
  let release;
  const released = new Promise((resolve) => { release = resolve; });
  await context.route(POLLS, async (route) => {
    await released;
    await route.continue();
  });
  return release;
}

/**
 * Keeps the waiting pages of `context` still, for checking a page as it is shown: their polls
 * are never answered.
 */
export async function keepStill(context) {
  await context.route(POLLS, () => {});
}

/** Reads the ID token's claims and userinfo from the RP's outcome, failing with the whole outcome. */
export function assertLoggedIn(outcome) {
  assert.equal(outcome.ok, true, JSON.stringify(outcome));
  assert.equal(outcome.claims.acr, 'high', 'itsme is a high level of assurance');
  return outcome.claims;
}
