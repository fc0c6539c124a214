// tenants.mjs: Microsoft-shaped discovery documents and tokens, and Google-shaped `hd` claims
// (`npm test` runs it with smoke.test.mjs).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer } from 'node:http';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { once } from 'node:events';

const here = new URL('.', import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), 'latchkey-tenants-test-'));
const CONTOSO = 'aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa';
const FABRIKAM = 'bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb';
const CONSUMERS = '9188040d-6c67-4c5b-b112-36a304b66dad';
let proc;
let base;
let receiver;
const waiters = new Map();

before(async () => {
  proc = spawn(process.execPath, [join(here, 'tenants.mjs')], { stdio: ['pipe', 'pipe', 'ignore'] });
  const [line] = await new Promise((resolve) => {
    let out = '';
    proc.stdout.on('data', (d) => { out += d; if (out.includes('\n')) resolve(out.split('\n')); });
  });
  ({ base } = JSON.parse(line));
  receiver = createServer((req, res) => {
    const url = new URL(req.url, 'http://127.0.0.1');
    res.writeHead(200).end('ok');
    waiters.get(url.searchParams.get('state'))?.(url.searchParams);
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
});

after(() => {
  proc?.kill('SIGKILL');
  receiver?.close();
  receiver?.closeAllConnections();
  rmSync(tmp, { recursive: true, force: true });
});

const meta = async (path) => (await fetch(`${base}/${path}/.well-known/openid-configuration`)).json();
const b64url = (b) => Buffer.from(b).toString('base64url');
const payload = (jwt) => JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url'));

// One sign-in through the HTTP-scripted browser at `path`'s endpoints; the ID token's claims.
async function signIn(path, login, extra = {}) {
  const m = await meta(path);
  const verifier = b64url(randomBytes(32));
  const state = b64url(randomBytes(12));
  const redirectUri = `http://127.0.0.1:${receiver.address().port}/callback`;
  const url = new URL(m.authorization_endpoint);
  url.search = new URLSearchParams({
    client_id: 'desktop-public', response_type: 'code', scope: 'openid profile email', redirect_uri: redirectUri,
    state, nonce: 'n', code_challenge: b64url(createHash('sha256').update(verifier).digest()), code_challenge_method: 'S256', ...extra,
  });
  const callback = new Promise((resolve) => waiters.set(state, resolve));
  spawn(process.execPath, [join(here, 'browser-http.mjs'), url.href], {
    stdio: 'ignore', env: { ...process.env, LATCHKEY_TEST_LOGIN: login, LATCHKEY_TEST_BROWSER_LOG: join(tmp, `${state}.jsonl`) },
  });
  const params = await callback;
  const res = await fetch(m.token_endpoint, {
    method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ grant_type: 'authorization_code', code: params.get('code'), redirect_uri: redirectUri, code_verifier: verifier, client_id: 'desktop-public' }),
  });
  const tok = await res.json();
  assert.equal(res.status, 200, JSON.stringify(tok));
  return { callbackIss: params.get('iss'), claims: payload(tok.id_token), tok, meta: m };
}

test('common and organizations name the template issuer; consumers its tenant', async () => {
  for (const path of ['common/v2.0', 'organizations/v2.0']) {
    const m = await meta(path);
    assert.equal(m.issuer, `${base}/{tenantid}/v2.0`);
    assert.equal(m.token_endpoint, `${base}/${path}/token`);
  }
  assert.equal((await meta('consumers/v2.0')).issuer, `${base}/${CONSUMERS}/v2.0`);
  assert.equal((await meta(`${CONTOSO}/v2.0`)).issuer, `${base}/${CONTOSO}/v2.0`);
});

test('a sign-in through common carries the tenant issuer and tid; domain_hint picks the tenant', async () => {
  const a = await signIn('common/v2.0', 'alice');
  assert.equal(a.claims.iss, `${base}/${CONTOSO}/v2.0`);
  assert.equal(a.claims.tid, CONTOSO);
  assert.equal(a.claims.preferred_username, 'alice@contoso.example');
  assert.equal(a.claims.email, undefined, 'Microsoft-shaped accounts have no email');
  assert.equal(a.callbackIss, a.claims.iss);
  const ui = await (await fetch(a.meta.userinfo_endpoint, { headers: { authorization: `Bearer ${a.tok.access_token}` } })).json();
  assert.equal(ui.tid, CONTOSO, 'userinfo at /common reaches the issuing tenant');

  const b = await signIn('common/v2.0', 'alice', { domain_hint: FABRIKAM });
  assert.equal(b.claims.iss, `${base}/${FABRIKAM}/v2.0`);
  assert.equal(b.claims.tid, FABRIKAM);
});

test('misbehaving tenants and Google hd', async () => {
  const liar = await signIn('common/v2.0', 'x', { domain_hint: 'liar' });
  assert.notEqual(liar.claims.iss, `${base}/${liar.claims.tid}/v2.0`, 'iss and tid disagree');
  assert.equal((await signIn('common/v2.0', 'x', { domain_hint: 'notid' })).claims.tid, undefined);
  assert.equal((await signIn('common/v2.0', 'x', { domain_hint: 'template' })).claims.iss, `${base}/{tenantid}/v2.0`);
  assert.equal((await signIn('google', 'ann@corp.example')).claims.hd, 'corp.example');
  const personal = (await signIn('google', 'personal.bob@corp.example')).claims;
  assert.equal(personal.hd, undefined);
  assert.equal(personal.email, 'personal.bob@corp.example');
});
