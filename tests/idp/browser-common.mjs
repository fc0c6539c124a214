// Shared bits of the scripted "system browsers" (browser-http.mjs, browser-chromium.mjs).
import { spawn } from 'node:child_process';
import { appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BG_FLAG = '--latchkey-background';
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);

export const env = {
  login: process.env.LATCHKEY_TEST_LOGIN || 'alice',
  deny: process.env.LATCHKEY_TEST_DENY === '1',
  noop: process.env.LATCHKEY_TEST_BROWSER_NOOP === '1',
  log: process.env.LATCHKEY_TEST_BROWSER_LOG,
  deepLinkCmd: process.env.LATCHKEY_TEST_DEEPLINK_CMD,
  screenshotDir: process.env.LATCHKEY_TEST_SCREENSHOT_DIR,
};

export function isLoopback(url) {
  try {
    const u = new URL(url);
    return (u.protocol === 'http:' || u.protocol === 'https:') && LOOPBACK_HOSTS.has(u.hostname);
  } catch {
    return false;
  }
}

export const isWebUrl = (url) => /^https?:$/.test(new URL(url).protocol);

// Behave like xdg-open: return at once, let a detached child do the browsing.
// `work(url)` runs in that child and must resolve to the log record.
export async function main(moduleUrl, work) {
  const args = process.argv.slice(2);
  const url = args.at(-1);
  if (args[0] !== BG_FLAG) {
    if (!url) {
      console.error(`usage: ${process.argv[1]} URL`);
      process.exit(2);
    }
    if (env.noop) process.exit(0);
    spawn(process.execPath, [fileURLToPath(moduleUrl), BG_FLAG, url], { detached: true, stdio: 'ignore' }).unref();
    process.exit(0);
  }
  setTimeout(() => { record({ final_url: null, status: null, body_text: '', error: 'timed out after 60 s' }); process.exit(1); }, 60_000).unref();
  let rec;
  try {
    rec = await work(url);
  } catch (err) {
    rec = { final_url: null, status: null, body_text: '', error: String(err?.stack || err) };
  }
  record(rec);
  process.exit(rec.error ? 1 : 0);
}

let recorded = false;
function record({ final_url = null, status = null, body_text = '', error = null, ...extra }) {
  if (recorded || !env.log) return;
  recorded = true;
  appendFileSync(env.log, `${JSON.stringify({ final_url, status, body_text, error, ...extra })}\n`);
}

// A redirect to a non-http scheme: hand it to the "OS" (LATCHKEY_TEST_DEEPLINK_CMD URL).
export function openDeepLink(url) {
  if (!env.deepLinkCmd) return Promise.resolve({ final_url: url, error: null, deeplink: 'not dispatched (LATCHKEY_TEST_DEEPLINK_CMD unset)' });
  return new Promise((resolve) => {
    const child = spawn('/bin/sh', ['-c', `${env.deepLinkCmd} "$@"`, 'sh', url], { stdio: 'ignore' });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    child.on('error', (err) => resolve({ final_url: url, error: `deep link command failed: ${err.message}` }));
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ final_url: url, error: code === 0 ? null : `deep link command exited ${code ?? signal}`, deeplink: `exit ${code ?? signal}` });
    });
  });
}
