#!/usr/bin/env node
// A real OpenID Provider (panva/oidc-provider) on loopback, for tests and demo mode.
// Usage: node provider.mjs [--port N] [--access-token-ttl SECONDS] [--demo]
//        [--device-flow [--device-interval SECONDS] [--device-code-ttl SECONDS]]
// stdout: exactly one JSON line {"issuer":"http://127.0.0.1:PORT","port":PORT}; logs go to stderr.
import { createServer } from 'node:http';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { fstatSync } from 'node:fs';
import { parseArgs } from 'node:util';

// oidc-provider prints notices with console.info (stdout): keep stdout for the one JSON line.
console.log = console.info = console.error;

let server;
let stopping = false;
function stop(why) {
  if (stopping) return;
  stopping = true;
  console.error(`provider stopping (${why})`);
  if (!server) process.exit(0);
  server.close(() => process.exit(0));
  server.closeAllConnections();
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', () => stop('SIGTERM'));
process.on('SIGINT', () => stop('SIGINT'));
// Die with the parent: when stdin is a pipe/socket and it closes, exit. (Not when stdin is
// /dev/null or a terminal, so `node provider.mjs &` in a script still stays up.)
const stdin = fstatSync(0);
if (stdin.isFIFO() || stdin.isSocket()) {
  process.stdin.on('end', () => stop('stdin closed'));
  process.stdin.on('error', () => stop('stdin error'));
  process.stdin.resume();
}

const { default: Provider } = await import('oidc-provider');

const { values: opts } = parseArgs({
  options: {
    port: { type: 'string', default: '0' },
    'access-token-ttl': { type: 'string', default: '3600' },
    demo: { type: 'boolean', default: false },
    // RFC 8628 device authorization grant (off unless asked: discovery then lists
    // device_authorization_endpoint). interval: sent in the device authorization answer (none
    // by default, so clients use 5 s); code ttl: how long a device code lives.
    'device-flow': { type: 'boolean', default: false },
    'device-interval': { type: 'string', default: '' },
    'device-code-ttl': { type: 'string', default: '600' },
  },
});
const deviceFlow = opts['device-flow'];
const deviceInterval = opts['device-interval'] === '' ? null : Number(opts['device-interval']);
const deviceCodeTtl = Number(opts['device-code-ttl']);
if (deviceInterval !== null && (!Number.isInteger(deviceInterval) || deviceInterval < 0)) throw new Error(`bad --device-interval ${opts['device-interval']}`);
if (!Number.isInteger(deviceCodeTtl) || deviceCodeTtl < 1) throw new Error(`bad --device-code-ttl ${opts['device-code-ttl']}`);
const port = Number(opts.port);
const accessTokenTtl = Number(opts['access-token-ttl']);
if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad --port ${opts.port}`);
if (!Number.isInteger(accessTokenTtl) || accessTokenTtl < 1) throw new Error(`bad --access-token-ttl ${opts['access-token-ttl']}`);

const CONFIDENTIAL_SECRET = 'throwaway-local-test-secret';
const REDIRECT_URIS = ['http://127.0.0.1/callback', 'latchkey://auth/callback'];
const common = {
  application_type: 'native',
  redirect_uris: REDIRECT_URIS,
  post_logout_redirect_uris: ['http://127.0.0.1/logged-out'],
  grant_types: ['authorization_code', 'refresh_token',
    ...(deviceFlow ? ['urn:ietf:params:oauth:grant-type:device_code'] : [])],
  response_types: ['code'],
};

const PICTURE = `data:image/svg+xml;base64,${Buffer.from(
  '<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"><circle cx="32" cy="32" r="30" fill="#2a9d8f"/></svg>',
).toString('base64')}`;

function claimsFor(login) {
  const claims = { sub: login, name: `Test ${login}`, email: `${login}@example.test`, email_verified: true };
  if (login.startsWith('xss')) claims.name = '<img src=x onerror=alert(1)>';
  if (login.startsWith('pic')) claims.picture = PICTURE;
  return claims;
}

// Fresh RS256 signing key per run (never committed).
const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });

let handler = (req, res) => { res.statusCode = 503; res.end(); };
server = createServer((req, res) => handler(req, res));
await new Promise((resolve, reject) => {
  server.once('error', reject);
  server.listen(port, '127.0.0.1', resolve);
});
const boundPort = server.address().port;
const issuer = `http://127.0.0.1:${boundPort}`;

const provider = new Provider(issuer, {
  clients: [
    { client_id: 'desktop-public', token_endpoint_auth_method: 'none', ...common },
    { client_id: 'desktop-confidential', client_secret: CONFIDENTIAL_SECRET, token_endpoint_auth_method: 'client_secret_basic', ...common },
  ],
  jwks: { keys: [{ ...jwk, kid: randomUUID(), use: 'sig', alg: 'RS256' }] },
  cookies: { keys: [randomBytes(32).toString('base64url')] },
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'email', 'offline_access'],
  claims: { openid: ['sub'], profile: ['name', 'picture'], email: ['email', 'email_verified'] },
  conformIdTokenClaims: false, // else the ID token carries only sub
  // Refresh tokens for both clients even without prompt=consent; public clients get them rotated (default).
  issueRefreshToken: async (ctx, client) => client.grantTypeAllowed('refresh_token'),
  ttl: {
    AccessToken: accessTokenTtl,
    AuthorizationCode: 60,
    IdToken: 3600,
    RefreshToken: 14 * 24 * 3600,
    Interaction: 3600,
    Session: 14 * 24 * 3600,
    Grant: 14 * 24 * 3600,
    DeviceCode: deviceCodeTtl,
  },
  features: {
    devInteractions: { enabled: true },
    userinfo: { enabled: true },
    revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
    introspection: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
    rpInitiatedLogout: { enabled: true },
    deviceFlow: { enabled: deviceFlow },
  },
  findAccount: async (ctx, sub) => ({ accountId: sub, claims: async () => claimsFor(sub) }),
});
provider.on('server_error', (ctx, err) => console.error('server_error', err));
// OIDC Core's `prompt=select_account` ("Add account" / "Use a different account"), which Google
// supports and oidc-provider's dev interactions lack: shown as the login page, where any
// account can be picked, as an account chooser would.
provider.use(async (ctx, next) => {
  if (ctx.path === '/auth' && ctx.query.prompt === 'select_account') {
    const params = new URLSearchParams(ctx.querystring);
    params.set('prompt', 'login');
    ctx.querystring = params.toString();
  }
  await next();
});
// --device-interval: oidc-provider sends no `interval`; add it to the device authorization answer.
if (deviceFlow && deviceInterval !== null) {
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      ctx.body = { ...ctx.body, interval: deviceInterval };
    }
  });
}
handler = provider.callback();

console.error(opts.demo
  ? `Latchkey DEMO identity provider (local, NOT a real account service) at ${issuer}\n`
    + '  Sign in with ANY username and ANY password. Nothing leaves this machine.'
  : `latchkey test OpenID Provider listening at ${issuer} (clients: desktop-public, desktop-confidential; access token ttl ${accessTokenTtl}s)`);
process.stdout.write(`${JSON.stringify({ issuer, port: boundPort })}\n`);
