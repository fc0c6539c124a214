#!/usr/bin/env node
// The user's "other device", scripted over HTTP (fetch + cookie jar, loopback only), for the
// sign-ins that happen away from the app's machine. Runs in the foreground; prints one JSON line.
//
//   node device-user.mjs [--deny] [--login NAME] --code USER_CODE VERIFICATION_URL
//     RFC 8628: opens the verification page, types the user code (or uses
//     verification_uri_complete when given as the URL with no --code), confirms (or aborts
//     with --deny), signs in and consents on oidc-provider's dev pages.
//     stdout: {"final_url", "status", "body_text", "error", "steps"}
//
//   node device-user.mjs [--deny] [--login NAME] --stop-at-redirect AUTHORIZATION_URL
//     A browser on another machine: signs in at the authorization URL and stops at the
//     redirect back to the app WITHOUT loading it (the app's loopback port is out of its
//     reach); prints {"address": "<the address the browser ended on>", ...}, which the
//     test then pastes into `latchkey login --device`.
import { parseArgs } from 'node:util';
import { isLoopback } from './browser-common.mjs';

const { values: opts, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    deny: { type: 'boolean', default: false },
    login: { type: 'string', default: 'alice' },
    code: { type: 'string' },
    'stop-at-redirect': { type: 'boolean', default: false },
  },
});
const start = positionals.at(-1);
if (!start) {
  console.error('usage: device-user.mjs [--deny] [--login NAME] (--code CODE | --stop-at-redirect) URL');
  process.exit(2);
}

const jar = new Map();
function storeCookies(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair] = line.split(';');
    const eq = pair.indexOf('=');
    jar.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
}
const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
const decode = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
  .replace(/&#39;|&#x27;/g, "'").replace(/&amp;/g, '&');
const pageText = (html) => decode(html.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' '))
  .replace(/\s+/g, ' ').trim();
const attr = (tag, name) => tag.match(new RegExp(`\\b${name}="([^"]*)"`, 'i'))?.[1];

// The page's first POST form: its action and the fields a person would send.
function formOf(html, base) {
  const m = html.match(/<form\b([^>]*)>([\s\S]*?)<\/form>/i);
  if (!m || !/method="post"/i.test(m[1])) return null;
  const fields = {};
  let typed = false;
  for (const input of m[2].match(/<input\b[^>]*>/gi) ?? []) {
    const name = attr(input, 'name');
    if (!name) continue;
    const value = decode(attr(input, 'value') ?? '');
    if (name === 'user_code' && !attr(input, 'value')) { fields.user_code = opts.code ?? ''; typed = true; continue; }
    if (name === 'login') { fields.login = opts.login; continue; }
    if (name === 'password') { fields.password = 'any-password'; continue; }
    fields[name] = value;
  }
  const id = attr(m[1], 'id');
  if (id === 'op.deviceConfirmForm' && opts.deny) fields.abort = 'yes';
  return { action: new URL(decode(attr(m[1], 'action') ?? base), base).href, fields, typed };
}

async function browse(url) {
  const steps = [];
  let init = { method: 'GET' };
  for (let i = 0; i < 30; i++) {
    if (!isLoopback(url)) return { final_url: url, error: `refused to load non-loopback URL ${url}`, steps };
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
      headers: { ...init.headers, cookie: cookieHeader(), 'user-agent': 'latchkey-test-device-user' },
    });
    steps.push(`${init.method} ${url} -> ${res.status}`);
    storeCookies(res);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      const next = new URL(location, url).href;
      // The redirect back to the app: a browser elsewhere cannot load it; a person copies it.
      if (opts['stop-at-redirect'] && new URL(next).origin !== new URL(start).origin) {
        return { address: next, final_url: next, status: res.status, error: null, steps };
      }
      url = next;
      init = { method: 'GET' };
      continue;
    }
    const html = await res.text();
    const form = formOf(html, url);
    // After an abort the provider shows its code form again: the user stops there.
    if (!form || init.body?.includes('abort=yes')) {
      return { final_url: url, status: res.status, body_text: pageText(html), error: null, steps };
    }
    url = form.action;
    init = {
      method: 'POST',
      body: new URLSearchParams(form.fields).toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    };
  }
  return { final_url: url, error: 'too many steps', steps };
}

let rec;
try {
  rec = await browse(start);
} catch (err) {
  rec = { final_url: null, error: String(err?.stack || err) };
}
process.stdout.write(`${JSON.stringify(rec)}\n`);
process.exit(rec.error ? 1 : 0);
