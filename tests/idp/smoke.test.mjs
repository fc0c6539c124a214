// Proves the harness end to end: `cd tests/idp && npm test` (node --test).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';

const here = new URL('.', import.meta.url).pathname;
const SECRET = 'throwaway-local-test-secret';
const TTL = 120;
const children = new Set();
const tmp = mkdtempSync(join(tmpdir(), 'latchkey-idp-test-'));
let idp; // { issuer, port, proc, meta }
let receiver; // { server, port, waiters }

function startProvider(args = []) {
  const proc = spawn(process.execPath, [join(here, 'provider.mjs'), ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
  children.add(proc);
  proc.on('exit', () => children.delete(proc));
  let stderr = '';
  proc.stderr.on('data', (d) => { stderr += d; });
  return new Promise((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (d) => {
      out += d;
      if (out.includes('\n')) resolve({ ...JSON.parse(out.split('\n')[0]), proc, stdout: () => out, stderr: () => stderr });
    });
    proc.on('exit', (code) => reject(new Error(`provider exited ${code}: ${stderr}`)));
    setTimeout(() => reject(new Error(`provider did not start: ${stderr}`)), 10_000).unref();
  });
}

// The app's loopback redirect listener, reduced to a map state -> callback params.
async function startReceiver() {
  const waiters = new Map();
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    if (url.pathname !== '/callback') { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'content-type': 'text/html' }).end('<h1>Latchkey: you can close this window</h1>');
    waiters.get(url.searchParams.get('state'))?.(url.searchParams);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return { server, port: server.address().port, waiters };
}

const b64url = (buf) => Buffer.from(buf).toString('base64url');
const jwtPayload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'));

async function waitForLogLine(file, timeoutMs) {
  for (const end = Date.now() + timeoutMs; Date.now() < end; await sleep(50)) {
    const lines = (() => { try { return readFileSync(file, 'utf8').trim().split('\n').filter(Boolean); } catch { return []; } })();
    if (lines.length) return JSON.parse(lines.at(-1));
  }
  throw new Error(`no browser log line in ${file} after ${timeoutMs} ms`);
}

// Runs one authorization request through a scripted browser; returns the callback params and log.
async function authorize({ clientId = 'desktop-public', browser = 'browser-http.mjs', env = {}, redirectUri, timeoutMs = 15_000 } = {}) {
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(12));
  const nonce = b64url(randomBytes(12));
  const log = join(tmp, `browser-${state}.jsonl`);
  redirectUri ??= `http://127.0.0.1:${receiver.port}/callback`;
  const url = new URL(idp.meta.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: clientId, response_type: 'code', scope: 'openid profile email offline_access', redirect_uri: redirectUri,
    state, nonce, code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256',
  });
  const callback = new Promise((resolve) => receiver.waiters.set(state, resolve));
  const started = Date.now();
  const proc = spawn(process.execPath, [join(here, browser), url.href], {
    stdio: 'ignore', env: { ...process.env, LATCHKEY_TEST_BROWSER_LOG: log, ...env },
  });
  const [code] = await once(proc, 'exit');
  const launcherMs = Date.now() - started;
  assert.equal(code, 0, 'browser launcher exits 0');
  const logLine = await waitForLogLine(log, timeoutMs);
  const params = redirectUri.startsWith('http') ? await callback : null;
  receiver.waiters.delete(state);
  return { params, log: logLine, verifier, state, nonce, redirectUri, launcherMs };
}

async function tokenRequest(clientId, body, secret = SECRET) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  const form = new URLSearchParams(body);
  if (clientId === 'desktop-confidential') headers.authorization = `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
  else form.set('client_id', clientId);
  const res = await fetch(idp.meta.token_endpoint, { method: 'POST', headers, body: form });
  return { status: res.status, json: await res.json() };
}

const exchange = (clientId, a) => tokenRequest(clientId, {
  grant_type: 'authorization_code', code: a.params.get('code'), redirect_uri: a.redirectUri, code_verifier: a.verifier,
});

async function introspect(token) {
  const res = await fetch(idp.meta.introspection_endpoint, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token, client_id: 'desktop-public' }),
  });
  return res.json();
}

async function verifyIdToken(idToken, { sub, nonce, clientId = 'desktop-public' }) {
  const [h, p, s] = idToken.split('.');
  const header = JSON.parse(Buffer.from(h, 'base64url'));
  assert.equal(header.alg, 'RS256');
  const { keys } = await (await fetch(idp.meta.jwks_uri)).json();
  const jwk = keys.find((k) => k.kid === header.kid);
  assert.ok(jwk, 'signing key is published in the JWKS');
  assert.ok(verify('RSA-SHA256', Buffer.from(`${h}.${p}`), createPublicKey({ key: jwk, format: 'jwk' }), Buffer.from(s, 'base64url')), 'ID token signature verifies');
  const claims = jwtPayload(idToken);
  assert.equal(claims.iss, idp.issuer);
  assert.equal(claims.aud, clientId);
  assert.equal(claims.sub, sub);
  if (nonce) assert.equal(claims.nonce, nonce);
  return claims;
}

before(async () => {
  idp = await startProvider(['--access-token-ttl', String(TTL)]);
  idp.meta = await (await fetch(`${idp.issuer}/.well-known/openid-configuration`)).json();
  receiver = await startReceiver();
});

after(async () => {
  receiver?.server.close();
  receiver?.server.closeAllConnections();
  for (const proc of children) proc.kill('SIGKILL');
  rmSync(tmp, { recursive: true, force: true });
});

test('provider prints one JSON line and serves loopback discovery', () => {
  assert.match(idp.issuer, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(idp.stdout(), `${JSON.stringify({ issuer: idp.issuer, port: idp.port })}\n`);
  assert.equal(idp.meta.issuer, idp.issuer);
  assert.deepEqual(idp.meta.code_challenge_methods_supported, ['S256']);
  for (const ep of ['authorization_endpoint', 'token_endpoint', 'jwks_uri', 'userinfo_endpoint', 'revocation_endpoint', 'introspection_endpoint', 'end_session_endpoint']) {
    assert.ok(idp.meta[ep]?.startsWith(`${idp.issuer}/`), ep);
  }
});

test('public client: code + PKCE, claims, refresh rotation, revocation', async () => {
  const a = await authorize();
  assert.ok(a.launcherMs < 1500, `launcher returned in ${a.launcherMs} ms`);
  assert.equal(a.params.get('iss'), idp.issuer);
  assert.equal(a.log.status, 200);
  assert.match(a.log.body_text, /you can close this window/);

  // Wrong verifier is refused (PKCE really enforced), then the right one works.
  const bad = await tokenRequest('desktop-public', { grant_type: 'authorization_code', code: a.params.get('code'), redirect_uri: a.redirectUri, code_verifier: b64url(randomBytes(32)) });
  assert.equal(bad.json.error, 'invalid_grant');
  const a2 = await authorize();
  const { status, json: tok } = await exchange('desktop-public', a2);
  assert.equal(status, 200, JSON.stringify(tok));
  assert.equal(tok.expires_in, TTL);
  assert.ok(tok.refresh_token, 'refresh token issued');
  const claims = await verifyIdToken(tok.id_token, { sub: 'alice', nonce: a2.nonce });
  assert.equal(claims.email, 'alice@example.test');
  assert.equal(claims.email_verified, true);
  assert.equal(claims.name, 'Test alice');
  assert.equal(claims.picture, undefined);

  const ui = await (await fetch(idp.meta.userinfo_endpoint, { headers: { authorization: `Bearer ${tok.access_token}` } })).json();
  assert.equal(ui.sub, 'alice');

  const r1 = await tokenRequest('desktop-public', { grant_type: 'refresh_token', refresh_token: tok.refresh_token });
  assert.equal(r1.status, 200, JSON.stringify(r1.json));
  assert.ok(r1.json.id_token && r1.json.access_token);
  assert.notEqual(r1.json.refresh_token, tok.refresh_token, 'public client refresh token rotated');
  assert.equal((await introspect(tok.refresh_token)).active, false, 'old refresh token inactive');
  const fresh = r1.json.refresh_token;
  assert.equal((await introspect(fresh)).active, true);
  const rev = await fetch(idp.meta.revocation_endpoint, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ token: fresh, token_type_hint: 'refresh_token', client_id: 'desktop-public' }),
  });
  assert.equal(rev.status, 200);
  assert.equal((await introspect(fresh)).active, false, 'revoked refresh token inactive');
  assert.equal((await tokenRequest('desktop-public', { grant_type: 'refresh_token', refresh_token: fresh })).json.error, 'invalid_grant');

  // Reuse of a rotated refresh token is treated as theft: the whole grant is revoked.
  const t = (await exchange('desktop-public', await authorize())).json;
  const next = (await tokenRequest('desktop-public', { grant_type: 'refresh_token', refresh_token: t.refresh_token })).json.refresh_token;
  assert.equal((await introspect(next)).active, true);
  assert.equal((await tokenRequest('desktop-public', { grant_type: 'refresh_token', refresh_token: t.refresh_token })).json.error, 'invalid_grant');
  assert.equal((await introspect(next)).active, false, 'replay of a rotated token revokes its successor too');
});

test('confidential client: basic auth, other login, refresh', async () => {
  const a = await authorize({ clientId: 'desktop-confidential', env: { LATCHKEY_TEST_LOGIN: 'bob' } });
  const wrong = await tokenRequest('desktop-confidential', { grant_type: 'authorization_code', code: a.params.get('code'), redirect_uri: a.redirectUri, code_verifier: a.verifier }, 'nope');
  assert.equal(wrong.status, 401);
  const a2 = await authorize({ clientId: 'desktop-confidential', env: { LATCHKEY_TEST_LOGIN: 'bob' } });
  const { status, json: tok } = await exchange('desktop-confidential', a2);
  assert.equal(status, 200, JSON.stringify(tok));
  assert.ok(tok.refresh_token);
  const claims = await verifyIdToken(tok.id_token, { sub: 'bob', nonce: a2.nonce, clientId: 'desktop-confidential' });
  assert.equal(claims.email, 'bob@example.test');
  const r = await tokenRequest('desktop-confidential', { grant_type: 'refresh_token', refresh_token: tok.refresh_token });
  assert.equal(r.status, 200, JSON.stringify(r.json));
  assert.equal(r.json.refresh_token, tok.refresh_token, 'confidential client keeps its refresh token');
});

test('special logins: xss name and picture', async () => {
  const x = await authorize({ env: { LATCHKEY_TEST_LOGIN: 'xss1' } });
  assert.equal(jwtPayload((await exchange('desktop-public', x)).json.id_token).name, '<img src=x onerror=alert(1)>');
  const p = await authorize({ env: { LATCHKEY_TEST_LOGIN: 'pic-dave' } });
  assert.match(jwtPayload((await exchange('desktop-public', p)).json.id_token).picture, /^data:image\/svg\+xml;base64,/);
});

test('LATCHKEY_TEST_DENY=1 brings error=access_denied to the callback', async () => {
  const a = await authorize({ env: { LATCHKEY_TEST_DENY: '1' } });
  assert.equal(a.params.get('error'), 'access_denied');
  assert.equal(a.params.get('state'), a.state);
  assert.equal(a.params.get('code'), null);
  assert.match(a.log.final_url, /error=access_denied/);
});

test('custom-scheme redirect goes to LATCHKEY_TEST_DEEPLINK_CMD and the code is redeemable', async () => {
  const out = join(tmp, 'deeplink.txt');
  const a = await authorize({ redirectUri: 'latchkey://auth/callback', env: { LATCHKEY_TEST_DEEPLINK_CMD: `printf '%s\\n' >>'${out}'` } });
  const link = new URL(readFileSync(out, 'utf8').trim());
  assert.equal(`${link.protocol}//${link.host}${link.pathname}`, 'latchkey://auth/callback');
  assert.equal(link.searchParams.get('state'), a.state);
  assert.equal(a.log.final_url, link.href);
  const { status, json } = await exchange('desktop-public', { ...a, params: link.searchParams });
  assert.equal(status, 200, JSON.stringify(json));
});

test('provider refuses an unregistered redirect_uri; browser refuses non-loopback URLs', async () => {
  const browse = async (url) => {
    const log = join(tmp, `refuse-${randomBytes(4).toString('hex')}.jsonl`);
    const proc = spawn(process.execPath, [join(here, 'browser-http.mjs'), url], { stdio: 'ignore', env: { ...process.env, LATCHKEY_TEST_BROWSER_LOG: log } });
    await once(proc, 'exit');
    return waitForLogLine(log, 5_000);
  };
  const bad = new URL(idp.meta.authorization_endpoint);
  bad.search = new URLSearchParams({
    client_id: 'desktop-public', response_type: 'code', scope: 'openid', redirect_uri: `http://127.0.0.1:${receiver.port}/evil`,
    code_challenge: 'x'.repeat(43), code_challenge_method: 'S256',
  });
  const r1 = await browse(bad.href);
  assert.equal(r1.status, 400);
  assert.match(r1.body_text, /redirect_uri/);
  assert.equal(new URL(r1.final_url).port, String(idp.port), 'stayed on the provider');
  const r2 = await browse('https://example.com/authorize');
  assert.match(r2.error, /non-loopback/);
});

test('LATCHKEY_TEST_BROWSER_NOOP=1 does nothing', async () => {
  const log = join(tmp, 'noop.jsonl');
  const proc = spawn(process.execPath, [join(here, 'browser-http.mjs'), `${idp.issuer}/.well-known/openid-configuration`], {
    stdio: 'ignore', env: { ...process.env, LATCHKEY_TEST_BROWSER_NOOP: '1', LATCHKEY_TEST_BROWSER_LOG: log },
  });
  assert.deepEqual(await once(proc, 'exit'), [0, null]);
  await sleep(500);
  assert.throws(() => readFileSync(log));
});

test('RP-initiated logout accepts the registered post_logout_redirect_uri only', async () => {
  const end = (uri) => fetch(`${idp.meta.end_session_endpoint}?${new URLSearchParams({ client_id: 'desktop-public', post_logout_redirect_uri: uri })}`, { redirect: 'manual' });
  assert.equal((await end('http://127.0.0.1:5555/logged-out')).status, 200);
  assert.equal((await end('http://127.0.0.1:5555/elsewhere')).status, 400);
});

test('real headless Chromium signs in (browser-chromium.mjs)', async () => {
  const shots = join(tmp, 'shots');
  const a = await authorize({ browser: 'browser-chromium.mjs', env: { LATCHKEY_TEST_LOGIN: 'carol', LATCHKEY_TEST_SCREENSHOT_DIR: shots }, timeoutMs: 60_000 });
  assert.ok(a.launcherMs < 1500, `launcher returned in ${a.launcherMs} ms`);
  assert.equal(a.log.error, null, JSON.stringify(a.log));
  assert.equal(a.log.status, 200);
  assert.match(a.log.body_text, /you can close this window/);
  assert.ok(a.log.steps.some((s) => s.startsWith('blocked https://fonts.googleapis.com')), 'non-loopback font request was blocked');
  assert.deepEqual(readdirSync(shots).sort(), ['01-login.png', '02-consent.png', '03-final.png']);
  const { json } = await exchange('desktop-public', a);
  assert.equal((await verifyIdToken(json.id_token, { sub: 'carol', nonce: a.nonce })).name, 'Test carol');
});

test('provider exits on stdin close and on SIGTERM', async () => {
  const p1 = await startProvider();
  p1.proc.stdin.end();
  assert.deepEqual(await once(p1.proc, 'exit'), [0, null]);
  const p2 = await startProvider(['--demo']);
  for (let i = 0; i < 40 && !/DEMO/.test(p2.stderr()); i++) await sleep(25);
  assert.match(p2.stderr(), /DEMO identity provider.*\n.*ANY username and ANY password/);
  p2.proc.kill('SIGTERM');
  assert.deepEqual(await once(p2.proc, 'exit'), [0, null]);
});
