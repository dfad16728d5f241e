// openid-client (panva), unchanged, against Passerelle's OP features over real HTTP: PAR,
// private_key_jwt, DPoP (with server nonces), FAPI 2.0, signed request objects, encrypted ID
// tokens, refresh-token rotation, revocation, introspection, RP-initiated logout and dynamic
// client registration. The library
// does every protocol step with its own APIs; Debian's Chromium only does the person's part
// (the approving sandbox persona's phone number), as in login.test.mjs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { webcrypto as crypto } from 'node:crypto';
import { chromium } from 'playwright-core';
import * as client from 'openid-client';
import { Passerelle, BIN } from '../lib/passerelle.mjs';

const CHROMIUM = '/usr/bin/chromium';
const CHROMIUM_ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run'];
const STEP = 30_000; // the longest any single step may take
const insecure = { execute: [client.allowInsecureRequests] }; // plain http on 127.0.0.1

let passerelle;
let browser;
let server; // the RP's callback and post-logout pages
let redirectUri;
let byeUri;
let approving; // the approving BE persona

before(async () => {
  assert.ok(existsSync(BIN), `${BIN} is missing: run cargo build -p passerelle`);
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`);
  // Dynamic client registration is off by default; this server has it on.
  passerelle = new Passerelle({ env: { PASSERELLE_REGISTRATION_ENABLED: 'true' } });
  approving = passerelle.personas().find((p) => p.behaviour === 'approve' && p.country === 'BE');
  assert.ok(approving, 'an approving BE persona');
  await passerelle.start();
  server = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end('<!doctype html><title>RP</title><h1>Relying party</h1>');
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${server.address().port}`;
  redirectUri = `${base}/cb`;
  byeUri = `${base}/bye`;
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve()));
  const code = await passerelle?.stop();
  passerelle?.cleanup();
  assert.equal(code, 0, 'passerelle exits with 0 on SIGTERM');
});

/** `passerelle client add … --json` for a sandbox client redirecting to our callback. */
function addClient(name, ...args) {
  return JSON.parse(passerelle.cli('client', 'add', '--name', name, '--redirect-uri', redirectUri,
    '--account', 'sandbox', ...args, '--json'));
}

/** Writes a JWKS file of public keys and returns its path. */
function jwksFile(name, keys) {
  const file = path.join(passerelle.dir, `${name}.jwks.json`);
  writeFileSync(file, JSON.stringify({ keys }));
  return file;
}

async function es256() {
  const pair = await crypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, ['sign', 'verify']);
  const kid = `es-${crypto.randomUUID()}`;
  const jwk = { ...(await crypto.subtle.exportKey('jwk', pair.publicKey)), kid, use: 'sig', alg: 'ES256' };
  delete jwk.key_ops;
  delete jwk.ext;
  return { priv: { key: pair.privateKey, kid }, jwk };
}

async function rsaOaep256() {
  const pair = await crypto.subtle.generateKey({ name: 'RSA-OAEP', modulusLength: 2048,
    publicExponent: new Uint8Array([1, 0, 1]), hash: 'SHA-256' }, true, ['encrypt', 'decrypt']);
  const kid = `enc-${crypto.randomUUID()}`;
  const jwk = { ...(await crypto.subtle.exportKey('jwk', pair.publicKey)), kid, use: 'enc', alg: 'RSA-OAEP-256' };
  delete jwk.key_ops;
  delete jwk.ext;
  return { priv: { key: pair.privateKey, kid, alg: 'RSA-OAEP-256' }, jwk };
}

/** The person's part: in a fresh window, from the authorization URL to our callback. */
async function personLogsIn(authorizationUrl) {
  const context = await browser.newContext({ locale: 'en-US' });
  context.setDefaultTimeout(STEP);
  try {
    const page = await context.newPage();
    await page.goto(authorizationUrl.href);
    assert.match(new URL(page.url()).pathname, /^\/sandbox\/v2\//, `reached the sandbox: ${page.url()}`);
    await page.locator('input[name=phone]').fill(approving.phone_number);
    await page.getByRole('button', { name: 'Continue' }).click();
    await page.waitForURL((u) => u.href.startsWith(redirectUri), { timeout: STEP });
    return new URL(page.url());
  } finally {
    await context.close();
  }
}

/** Fresh PKCE, state and nonce for one authorization request. */
async function checks() {
  const pkceCodeVerifier = client.randomPKCECodeVerifier();
  return {
    pkceCodeVerifier,
    expectedState: client.randomState(),
    expectedNonce: client.randomNonce(),
    challenge: await client.calculatePKCECodeChallenge(pkceCodeVerifier),
  };
}

function authParams(c, scope) {
  return {
    redirect_uri: redirectUri,
    scope,
    code_challenge: c.challenge,
    code_challenge_method: 'S256',
    state: c.expectedState,
    nonce: c.expectedNonce,
  };
}

/** openid-client's error for a 401 at userinfo with `error="invalid_token"` in WWW-Authenticate. */
function invalidToken(e) {
  return e.status === 401 && e.cause?.[0]?.parameters?.error === 'invalid_token';
}

/** A whole login with a client_secret_basic client, through PAR; the token response. */
async function secretLogin(config, scope) {
  const c = await checks();
  const url = await client.buildAuthorizationUrlWithPAR(config, authParams(c, scope));
  const callback = await personLogsIn(url);
  return client.authorizationCodeGrant(config, callback, { ...c, idTokenExpected: true });
}

test('discovery advertises the new endpoints', async () => {
  const config = await client.discovery(new URL(passerelle.issuer), 'anyone', undefined, client.None(), insecure);
  const meta = config.serverMetadata();
  assert.equal(meta.pushed_authorization_request_endpoint, `${passerelle.issuer}/connect/par`);
  assert.equal(meta.revocation_endpoint, `${passerelle.issuer}/connect/revocation`);
  assert.equal(meta.introspection_endpoint, `${passerelle.issuer}/connect/introspect`);
  assert.equal(meta.end_session_endpoint, `${passerelle.issuer}/connect/endsession`);
  assert.ok(meta.dpop_signing_alg_values_supported?.includes('ES256'), JSON.stringify(meta.dpop_signing_alg_values_supported));
  assert.ok(meta.request_object_signing_alg_values_supported?.includes('ES256'));
  assert.equal(meta.registration_endpoint, `${passerelle.issuer}/connect/register`);
});

test('FAPI 2.0: PAR + private_key_jwt (ES256) + DPoP, then userinfo with DPoP', { timeout: 90_000 }, async () => {
  const sig = await es256();
  const reg = addClient('FAPI Shop', '--profile', 'fapi2', '--auth-method', 'private_key_jwt',
    '--jwks', jwksFile('fapi', [sig.jwk]), '--id-token-alg', 'ES256');
  const config = await client.discovery(new URL(passerelle.issuer), reg.client_id,
    { id_token_signed_response_alg: 'ES256' }, client.PrivateKeyJwt(sig.priv), insecure);
  const DPoP = client.getDPoPHandle(config, await client.randomDPoPKeyPair('ES256'));
  const nonces = []; // DPoP-Nonce headers Passerelle sent (openid-client retries use_dpop_nonce itself)
  config[client.customFetch] = async (...args) => {
    const res = await fetch(...args);
    if (res.headers.get('dpop-nonce')) nonces.push(new URL(args[0]).pathname);
    return res;
  };

  const c = await checks();
  // openid-client sends its DPoP proof to PAR too: Passerelle checks it (demanding its nonce
  // first) and binds the code to the key (RFC 9449 §10.1); the nonce then serves at the token
  // endpoint as well.
  const url = await client.buildAuthorizationUrlWithPAR(config, authParams(c, 'openid profile'), { DPoP });
  assert.ok(url.searchParams.get('request_uri'), 'PAR gave a request_uri');
  assert.deepEqual([...url.searchParams.keys()].sort(), ['client_id', 'request_uri']);
  assert.ok(nonces.some((p) => p.endsWith('/connect/par')), `PAR demanded a server nonce: ${nonces}`);
  const callback = await personLogsIn(url);
  const tokens = await client.authorizationCodeGrant(config, callback, { ...c, idTokenExpected: true }, undefined, { DPoP });
  assert.equal(tokens.token_type.toLowerCase(), 'dpop', 'a DPoP-bound access token');
  const claims = tokens.claims();
  assert.equal(claims.iss, passerelle.issuer);
  assert.equal(claims.aud, reg.client_id);
  assert.equal(claims.acr, 'high');
  assert.equal(claims.family_name, approving.attributes.family_name);

  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub, { DPoP });
  assert.equal(userinfo.sub, claims.sub);
  assert.equal(userinfo.family_name, approving.attributes.family_name);

  // The token is bound: as a plain bearer token (no proof) userinfo refuses it.
  await assert.rejects(client.fetchUserInfo(config, tokens.access_token, claims.sub), invalidToken);
  // And FAPI refuses an authorization request that did not come through PAR: an error response
  // to the redirect URI, which openid-client validates (state, iss) and reports.
  const c2 = await checks();
  const plain = client.buildAuthorizationUrl(config, authParams(c2, 'openid'));
  const res = await fetch(plain, { redirect: 'manual' });
  assert.equal(res.status, 302, 'no login page without PAR');
  const refused = new URL(res.headers.get('location'));
  assert.equal(refused.origin + refused.pathname, redirectUri);
  await assert.rejects(client.authorizationCodeGrant(config, refused, c2, undefined, { DPoP }),
    (e) => e.error === 'invalid_request' && /PAR/.test(e.error_description));
});

test('encrypted ID token (RSA-OAEP-256/A256GCM) and a signed request object pushed with PAR', { timeout: 90_000 }, async () => {
  const sig = await es256();
  const enc = await rsaOaep256();
  const reg = addClient('Encrypted Shop', '--auth-method', 'private_key_jwt',
    '--jwks', jwksFile('enc', [sig.jwk, enc.jwk]),
    '--id-token-encryption-alg', 'RSA-OAEP-256', '--id-token-encryption-enc', 'A256GCM',
    '--require-signed-request-object', 'true', '--require-pushed-authorization-requests', 'true');
  const config = await client.discovery(new URL(passerelle.issuer), reg.client_id,
    { request_object_signing_alg: 'ES256' }, client.PrivateKeyJwt(sig.priv), insecure);
  client.enableDecryptingResponses(config, ['A256GCM'], enc.priv);

  const c = await checks();
  const { searchParams: jar } = await client.buildAuthorizationUrlWithJAR(config, authParams(c, 'openid profile'), sig.priv);
  assert.equal(jar.get('request').split('.').length, 3, 'a signed request object');
  const url = await client.buildAuthorizationUrlWithPAR(config, jar);
  assert.ok(url.searchParams.get('request_uri'));
  const callback = await personLogsIn(url);

  // Seen raw, the ID token is a JWE to the client's key; openid-client decrypts and validates it.
  let raw;
  config[client.customFetch] = async (...args) => {
    const res = await fetch(...args);
    if (String(args[0]).endsWith('/connect/token')) raw = await res.clone().json().catch(() => undefined);
    return res;
  };
  const tokens = await client.authorizationCodeGrant(config, callback, { ...c, idTokenExpected: true });
  assert.equal(raw?.id_token?.split('.').length, 5, 'the ID token on the wire is a compact JWE');
  const header = JSON.parse(Buffer.from(raw.id_token.split('.')[0], 'base64url'));
  assert.equal(header.alg, 'RSA-OAEP-256');
  assert.equal(header.enc, 'A256GCM');
  const claims = tokens.claims();
  assert.equal(claims.aud, reg.client_id);
  assert.equal(claims.nonce, c.expectedNonce);
  assert.equal(claims.family_name, approving.attributes.family_name);
  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
  assert.equal(userinfo.family_name, approving.attributes.family_name);

  // The client must sign its requests: PAR without a request object is refused.
  await assert.rejects(client.buildAuthorizationUrlWithPAR(config, authParams(await checks(), 'openid')),
    (e) => e.error === 'invalid_request' && /signed request object/.test(e.error_description));
});

let shop; // the refresh-token client
let shopConfig;
let rsConfig; // the resource server that introspects

async function shopSetup() {
  if (shopConfig) return;
  shop = addClient('Refresh Shop', '--auth-method', 'client_secret_basic', '--grant', 'refresh_token',
    '--post-logout-redirect-uri', byeUri);
  const config = await client.discovery(new URL(passerelle.issuer), shop.client_id, undefined,
    client.ClientSecretBasic(shop.client_secret), insecure);
  // The CLI wants a redirect URI even for a resource server that never logs anyone in.
  const rs = addClient('Resource Server', '--auth-method', 'client_secret_basic', '--grant', 'introspection');
  rsConfig = await client.discovery(new URL(passerelle.issuer), rs.client_id, undefined,
    client.ClientSecretBasic(rs.client_secret), insecure);
  shopConfig = config;
}

test('refresh tokens rotate, and a used one is refused; introspection by a resource server', { timeout: 90_000 }, async () => {
  await shopSetup();
  const first = await secretLogin(shopConfig, 'openid profile offline_access');
  assert.ok(first.refresh_token, 'offline_access gave a refresh token');
  assert.match(first.scope, /offline_access/);
  const sub = first.claims().sub;

  const live = await client.tokenIntrospection(rsConfig, first.access_token);
  assert.equal(live.active, true, JSON.stringify(live));
  assert.equal(live.client_id, shop.client_id);
  assert.equal(live.sub, sub);
  assert.equal(live.iss, passerelle.issuer);

  const second = await client.refreshTokenGrant(shopConfig, first.refresh_token);
  assert.ok(second.refresh_token && second.refresh_token !== first.refresh_token, 'a new refresh token');
  assert.notEqual(second.access_token, first.access_token);
  assert.equal(second.claims().sub, sub, 'the refreshed ID token names the same person');
  const userinfo = await client.fetchUserInfo(shopConfig, second.access_token, sub);
  assert.equal(userinfo.family_name, approving.attributes.family_name);

  // The old refresh token is used up.
  await assert.rejects(client.refreshTokenGrant(shopConfig, first.refresh_token), (e) => e.error === 'invalid_grant');
  // Presenting it twice revoked the family: the newest refresh and access tokens are dead too.
  await assert.rejects(client.refreshTokenGrant(shopConfig, second.refresh_token), (e) => e.error === 'invalid_grant');
  assert.equal((await client.tokenIntrospection(rsConfig, second.access_token)).active, false);

  // Only a client granted introspection may introspect.
  await assert.rejects(client.tokenIntrospection(shopConfig, first.access_token), (e) => e.error === 'unauthorized_client');
});

test('revocation: an access token, then the refresh token and its family', { timeout: 90_000 }, async () => {
  await shopSetup();
  const tokens = await secretLogin(shopConfig, 'openid profile offline_access');
  const sub = tokens.claims().sub;
  await client.fetchUserInfo(shopConfig, tokens.access_token, sub);

  await client.tokenRevocation(shopConfig, tokens.access_token, { token_type_hint: 'access_token' });
  await assert.rejects(client.fetchUserInfo(shopConfig, tokens.access_token, sub),
    invalidToken);
  assert.equal((await client.tokenIntrospection(rsConfig, tokens.access_token)).active, false);
  assert.equal((await client.tokenIntrospection(rsConfig, tokens.refresh_token)).active, true, 'the refresh token lives on');

  const refreshed = await client.refreshTokenGrant(shopConfig, tokens.refresh_token);
  await client.tokenRevocation(shopConfig, refreshed.refresh_token, { token_type_hint: 'refresh_token' });
  await assert.rejects(client.refreshTokenGrant(shopConfig, refreshed.refresh_token), (e) => e.error === 'invalid_grant');
  assert.equal((await client.tokenIntrospection(rsConfig, refreshed.access_token)).active, false, 'the family went with it');
  // An unknown token is a 200.
  await client.tokenRevocation(shopConfig, 'no-such-token');
});

test('RP-initiated logout goes to the registered URI with the state and ends the tokens', { timeout: 90_000 }, async () => {
  await shopSetup();
  const tokens = await secretLogin(shopConfig, 'openid profile');
  const sub = tokens.claims().sub;
  await client.fetchUserInfo(shopConfig, tokens.access_token, sub);

  const state = client.randomState();
  const url = client.buildEndSessionUrl(shopConfig, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: byeUri,
    state,
  });
  assert.equal(url.origin + url.pathname, `${passerelle.issuer}/connect/endsession`);
  const context = await browser.newContext({ locale: 'en-US' });
  context.setDefaultTimeout(STEP);
  try {
    const page = await context.newPage();
    await page.goto(url.href);
    await page.waitForURL((u) => u.href.startsWith(byeUri), { timeout: STEP });
    const back = new URL(page.url());
    assert.equal(back.origin + back.pathname, byeUri);
    assert.equal(back.searchParams.get('state'), state);
  } finally {
    await context.close();
  }
  await assert.rejects(client.fetchUserInfo(shopConfig, tokens.access_token, sub),
    invalidToken);
});

test('dynamic client registration (RFC 7591) with an initial access token, then RFC 7592', { timeout: 90_000 }, async () => {
  const issued = JSON.parse(passerelle.cli('registration', 'issue', '--grant', 'refresh_token', '--note', 'browser test', '--json'));
  const metadata = {
    client_name: 'Self-registered Shop',
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    post_logout_redirect_uris: [byeUri],
  };
  const config = await client.dynamicClientRegistration(new URL(passerelle.issuer), metadata, undefined,
    { initialAccessToken: issued.token, ...insecure });
  const registered = config.clientMetadata();
  assert.ok(registered.client_secret, 'a secret was issued');
  assert.ok(registered.registration_access_token, 'a registration access token was issued');
  assert.equal(registered.registration_client_uri, `${passerelle.issuer}/connect/register/${registered.client_id}`);

  // The library's configuration logs a person in at once, through PAR, with a refresh token.
  const tokens = await secretLogin(config, 'openid profile offline_access');
  const claims = tokens.claims();
  assert.equal(claims.aud, registered.client_id);
  assert.equal(claims.family_name, approving.attributes.family_name);
  const refreshed = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal(refreshed.claims().sub, claims.sub);

  // The token was for one client.
  await assert.rejects(client.dynamicClientRegistration(new URL(passerelle.issuer), metadata, undefined,
    { initialAccessToken: issued.token, ...insecure }), (e) => e.status === 401);

  // RFC 7592: read with the registration access token; delete; the client is then gone.
  const bearer = { authorization: `Bearer ${registered.registration_access_token}` };
  const read = await fetch(registered.registration_client_uri, { headers: bearer });
  assert.equal(read.status, 200);
  assert.equal((await read.json()).client_name, 'Self-registered Shop');
  const gone = await fetch(registered.registration_client_uri, { method: 'DELETE', headers: bearer });
  assert.equal(gone.status, 204);
  // A 401 with a Basic challenge, which openid-client reports as a WWW-Authenticate challenge.
  await assert.rejects(client.refreshTokenGrant(config, refreshed.refresh_token),
    (e) => e.status === 401 && e.cause?.[0]?.parameters?.realm === 'passerelle');
});
