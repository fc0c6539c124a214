// "Sign in on another device" in the app's real window (tauri-driver + WebKitWebDriver), against
// the real OpenID Provider on loopback: with the device flow, the window shows the code and the
// address and tests/idp/device-user.mjs plays the phone that types it; without it, the window
// shows the link to open elsewhere and takes the address that browser ended on, pasted as a
// person would. Nothing opens a browser on this machine. Screenshots: tests/artifacts/e2e/device/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { startIdp, startDriver, machine, artifacts, repo } from './harness.mjs';

/** tests/idp/device-user.mjs (the user's other device); its JSON record. */
function deviceUser(args) {
  return JSON.parse(execFileSync('node', [join(repo, 'tests/idp/device-user.mjs'), ...args], { encoding: 'utf8' }));
}

/** The window with one provider at `idp`, on the sign-in screen; `run(s, m)` drives it. */
async function withWindow(idp, name, run) {
  const m = machine({ issuer: idp.issuer, login: 'nobody' });
  // No browser may be needed: one that opens would show up as a failed test.
  m.env.LATCHKEY_BROWSER = 'false';
  const driver = await startDriver(m.env);
  let s;
  try {
    s = await driver.open();
    await s.waitFor('#sign-in-local', { what: 'the sign-in button' });
    await s.click('#device-sign-in > summary');
    await s.waitFor('[data-testid="device-sign-in-local"]');
    await s.screenshot(join(artifacts('device'), `${name}-01-offer.png`));
    await s.click('[data-testid="device-sign-in-local"]');
    await run(s);
  } finally {
    await s?.end();
    await driver.stop();
    m.cleanup();
  }
}

const value = (s, id) => s.script('return document.getElementById(arguments[0]).value', [id]);

test('the device flow: the window shows the code, the phone approves, the window is signed in', async () => {
  const idp = await startIdp(['--device-flow', '--device-interval', '1']);
  try {
    await withWindow(idp, 'code', async (s) => {
      await s.waitForText('#device-code', (t) => t.trim().length >= 4);
      const code = (await s.text('#device-code')).trim();
      const page = (await s.text('#device-uri')).trim();
      assert.equal(page, `${idp.issuer}/device`, 'the address to open on the phone');
      await s.screenshot(join(artifacts('device'), 'code-02-shown.png'));
      const phone = deviceUser(['--login', 'dave', '--code', code, page]);
      assert.equal(phone.error, null, JSON.stringify(phone));
      await s.waitForText('#account-email', 'dave@example.test', { timeoutMs: 60000 });
      await s.screenshot(join(artifacts('device'), 'code-03-signed-in.png'));
    });
  } finally {
    await idp.stop();
  }
});

test('without a device endpoint: the address the browser elsewhere ended on, pasted, signs in', async () => {
  const idp = await startIdp();
  try {
    await withWindow(idp, 'paste', async (s) => {
      await s.waitFor('#paste-input');
      const link = await value(s, 'paste-link');
      assert.ok(link.startsWith(`${idp.issuer}/auth?`), `the link to open elsewhere: ${link}`);
      await s.type('#paste-input', 'this is not it');
      await s.click('#paste-submit');
      await s.waitForText('#error-message', (t) => t.includes('isn’t right'));
      assert.ok(await s.script('return !document.getElementById("paste-box").hidden'), 'the sign-in still waits');
      const browser = deviceUser(['--stop-at-redirect', '--login', 'erin', link]);
      assert.ok(browser.address, JSON.stringify(browser));
      await s.script('document.getElementById("paste-input").value = ""');
      await s.type('#paste-input', browser.address);
      await s.screenshot(join(artifacts('device'), 'paste-02-pasted.png'));
      await s.click('#paste-submit');
      await s.waitForText('#account-email', 'erin@example.test', { timeoutMs: 60000 });
    });
  } finally {
    await idp.stop();
  }
});
