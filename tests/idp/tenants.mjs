#!/usr/bin/env node
// Real OpenID Providers (panva/oidc-provider, one instance per issuer) shaped like Microsoft Entra's
// tenants and a Google Workspace, on one loopback port, for the multi-tenant tests.
// Usage: node tenants.mjs [--port N] [--common-tenant GUID|NAME]
// stdout: exactly one JSON line {"base":"http://127.0.0.1:PORT","port":PORT,"tenants":{...}}; logs go to stderr.
// See README.md ("tenants.mjs") for the paths, tenants and accounts.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { parseArgs } from 'node:util';

console.log = console.info = console.error;

let server;
let stopping = false;
function stop(why) {
  if (stopping) return;
  stopping = true;
  console.error(`tenants stopping (${why})`);
  if (!server) process.exit(0);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', () => stop('stdin closed'));
  process.stdin.on('error', () => stop('stdin error'));
  process.stdin.resume();
}

const { default: Provider } = await import('oidc-provider');

// Tenant ids (GUIDs). `consumers` is Microsoft's real consumer tenant id; the rest are made up.
export const TENANTS = {
  contoso: 'aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa',
  fabrikam: 'bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb',
  consumers: '9188040d-6c67-4c5b-b112-36a304b66dad',
  // Misbehaving tenants, real providers all the same: tokens whose `tid` names contoso (so `iss`
  // and `tid` disagree), tokens without `tid`, and an issuer that is the literal template.
  liar: 'cccccccc-3333-4333-8333-cccccccccccc',
  notid: 'dddddddd-4444-4444-8444-dddddddddddd',
  template: '{tenantid}',
};

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'common-tenant': { type: 'string', default: 'contoso' },
  },
});
const port = Number(opts.port);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad --port ${opts.port}`);
const tenantId = (v) => TENANTS[v] ?? v;
let commonTenant = tenantId(opts['common-tenant']);

const REDIRECT_URIS = ['http://127.0.0.1/callback', 'latchkey://auth/callback'];
const client = {
  client_id: 'desktop-public',
  token_endpoint_auth_method: 'none',
  application_type: 'native',
  redirect_uris: REDIRECT_URIS,
  post_logout_redirect_uris: ['http://127.0.0.1/logged-out'],
  grant_types: ['authorization_code', 'refresh_token'],
  response_types: ['code'],
};
// One signing key for every tenant, as Microsoft's common JWKS serves every tenant's keys.
const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
const jwks = { keys: [{ ...jwk, kid: randomUUID(), use: 'sig', alg: 'RS256' }] };

let handler = (req, res) => { res.statusCode = 503; res.end(); };
server = createServer((req, res) => handler(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const boundPort = server.address().port;
const base = `http://127.0.0.1:${boundPort}`;

// Microsoft accounts: no email, a preferred_username, and the tenant's `tid`.
function entraClaims(tid, label) {
  return (login) => {
    const claims = { sub: login, name: `Test ${login}`, preferred_username: `${login}@${label}.example` };
    if (label === 'liar' || label === 'template') claims.tid = TENANTS.contoso;
    else if (label !== 'notid') claims.tid = tid;
    return claims;
  };
}
// Google accounts: `user@domain` is a Workspace account of `domain` (hd); a login starting with
// `personal.` is a consumer account whose email merely ends in that domain (no hd).
function googleClaims(login) {
  const email = login.includes('@') ? login : `${login}@gmail.example`;
  const claims = { sub: login, name: `Test ${login.split('@')[0]}`, email, email_verified: true };
  if (login.includes('@') && !login.startsWith('personal.')) claims.hd = login.split('@')[1];
  return claims;
}

// Codes and tokens a tenant issued, so `/common/...` routes them back to it.
const issuedBy = new Map();
function instance(prefix, claimsFor, claims) {
  const issuer = `${base}${prefix}`;
  const provider = new Provider(issuer, {
    clients: [client],
    jwks,
    cookies: { keys: [randomBytes(32).toString('base64url')], names: { session: `_s${prefix.length}${randomUUID().slice(0, 6)}`, interaction: `_i${randomUUID().slice(0, 6)}`, resume: `_r${randomUUID().slice(0, 6)}` } },
    pkce: { required: () => true },
    scopes: ['openid', 'profile', 'email', 'offline_access'],
    claims,
    conformIdTokenClaims: false,
    issueRefreshToken: async (ctx, c) => c.grantTypeAllowed('refresh_token'),
    features: {
      devInteractions: { enabled: true },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      rpInitiatedLogout: { enabled: true },
    },
    findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => claimsFor(sub) }),
  });
  provider.on('server_error', (ctx, err) => console.error('server_error', err));
  provider.use(async (ctx, next) => {
    await next();
    const location = ctx.response.get('location');
    const code = location && new URL(location, issuer).searchParams.get('code');
    if (code) issuedBy.set(code, prefix);
    for (const k of ['access_token', 'refresh_token']) {
      if (ctx.body && typeof ctx.body === 'object' && ctx.body[k]) issuedBy.set(ctx.body[k], prefix);
    }
  });
  return { prefix, issuer, provider, callback: provider.callback() };
}

const entraClaimsConfig = { openid: ['sub', 'tid'], profile: ['name', 'preferred_username'] };
const mounts = [];
for (const [label, tid] of Object.entries(TENANTS)) {
  mounts.push(instance(`/${tid}/v2.0`, entraClaims(tid, label), entraClaimsConfig));
}
mounts.push(instance('/google', googleClaims, { openid: ['sub'], profile: ['name', 'hd'], email: ['email', 'email_verified'] }));

const mountFor = (prefix) => mounts.find((m) => m.prefix === prefix);
const tenantMount = (tid) => mountFor(`/${tid}/v2.0`);

async function metadataOf(m) {
  const r = await fetch(`${m.issuer}/.well-known/openid-configuration`);
  return r.json();
}

// `/common/v2.0` and `/organizations/v2.0`: the issuer is the template; every endpoint is served
// here and handed to a tenant: the one named by `domain_hint` (authorization), the one that
// issued the code or token (token, userinfo, revocation), else the --common-tenant.
async function multiTenant(req, res, name, rest) {
  const home = tenantMount(commonTenant);
  if (rest === '/.well-known/openid-configuration') {
    const meta = await metadataOf(home);
    const here = `${base}/${name}/v2.0`;
    for (const [k, v] of Object.entries(meta)) {
      if (typeof v === 'string' && v.startsWith(home.issuer)) meta[k] = here + v.slice(home.issuer.length);
    }
    meta.issuer = `${base}/{tenantid}/v2.0`;
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(meta));
    return;
  }
  const url = new URL(req.url, base);
  if (rest === '/auth' || rest === '/session/end') {
    const hinted = tenantMount(tenantId(url.searchParams.get('domain_hint') ?? '')) ?? home;
    res.writeHead(302, { location: `${hinted.issuer}${rest}${url.search}` }).end();
    return;
  }
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const body = Buffer.concat(chunks);
  const form = new URLSearchParams(body.toString());
  const bearer = (req.headers.authorization ?? '').replace(/^Bearer /i, '');
  const key = [form.get('code'), form.get('refresh_token'), form.get('token'), bearer].find((k) => k && issuedBy.has(k));
  const target = key ? mountFor(issuedBy.get(key)) : home;
  const headers = { ...req.headers };
  delete headers.host;
  delete headers['content-length'];
  const answer = await fetch(`${target.issuer}${rest}${url.search}`, {
    method: req.method, headers, body: ['GET', 'HEAD'].includes(req.method) ? undefined : body, redirect: 'manual',
  });
  const out = Buffer.from(await answer.arrayBuffer());
  const outHeaders = Object.fromEntries([...answer.headers].filter(([k]) => !['content-length', 'content-encoding', 'transfer-encoding', 'connection'].includes(k)));
  res.writeHead(answer.status, outHeaders).end(out);
}

// `/consumers/v2.0`: the consumer tenant's own document (issuer with its GUID), at this path.
// A misbehaving variant (POST /_test/consumers-tenant?tid=...) keeps that issuer but sends
// sign-ins to another tenant, whose tokens name their own tenant.
let consumersTarget = TENANTS.consumers;
async function consumers(req, res, rest) {
  if (rest !== '/.well-known/openid-configuration') {
    res.writeHead(404).end();
    return;
  }
  const meta = await metadataOf(tenantMount(consumersTarget));
  meta.issuer = tenantMount(TENANTS.consumers).issuer;
  res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(meta));
}

handler = (req, res) => {
  const path = req.url.split('?')[0];
  const fail = (err) => { console.error(err); if (!res.headersSent) res.writeHead(502).end(); };
  if (req.method === 'POST' && path === '/_test/common-tenant') {
    commonTenant = tenantId(new URL(req.url, base).searchParams.get('tid'));
    res.writeHead(tenantMount(commonTenant) ? 204 : 400).end();
    return;
  }
  if (req.method === 'POST' && path === '/_test/consumers-tenant') {
    consumersTarget = tenantId(new URL(req.url, base).searchParams.get('tid'));
    res.writeHead(tenantMount(consumersTarget) ? 204 : 400).end();
    return;
  }
  for (const name of ['common', 'organizations']) {
    if (path.startsWith(`/${name}/v2.0/`)) {
      multiTenant(req, res, name, path.slice(`/${name}/v2.0`.length)).catch(fail);
      return;
    }
  }
  if (path.startsWith('/consumers/v2.0/')) {
    consumers(req, res, path.slice('/consumers/v2.0'.length)).catch(fail);
    return;
  }
  // Each instance sees its own path; oidc-provider finds its mount path from originalUrl.
  const decoded = decodeURIComponent(path);
  const m = mounts.find((x) => decoded === x.prefix || decoded.startsWith(`${x.prefix}/`));
  if (!m) {
    res.writeHead(404).end();
    return;
  }
  const rawPrefixLength = path.length - (decoded.length - m.prefix.length);
  req.originalUrl = req.url;
  req.url = req.url.slice(rawPrefixLength) || '/';
  m.callback(req, res);
};

console.error(`latchkey test tenants at ${base} (common -> ${commonTenant})`);
process.stdout.write(`${JSON.stringify({ base, port: boundPort, tenants: TENANTS })}\n`);
