// The desktop app end to end, in its real window: tauri-driver + WebKitWebDriver, the real
// OpenID Provider on loopback, headless Chromium as the system browser, the real keychain
// (run inside scripts/with-keyring.sh) and a display (Xvfb). Screenshots of every step go to
// tests/artifacts/e2e/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIdp, startDriver, machine, artifacts, appBinary, cliBinary, repo } from './harness.mjs';

let idp;
before(async () => { idp = await startIdp(); });
after(async () => { await idp?.stop(); });

/** Sets a <select> as a person would (the change event included). */
const choose = (s, id, value) => s.script(
  'const e = document.getElementById(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event("change")); return e.value;',
  [id, value],
);

function cli(env, args) {
  return execFileSync(cliBinary, args, { env, encoding: 'utf8' }).trim();
}

/** A seller with its own key and machine (kept until `cleanup()`), and a function that issues vouchers. */
function seller() {
  const box = machine({ issuer: idp.issuer });
  const keyFile = join(box.dir, 'seller.key');
  const pub = cli(box.env, ['wallet', 'voucher', 'keygen', '--out', keyFile]);
  return {
    pub,
    issue: (credits) => cli(box.env, ['wallet', 'voucher', 'issue', '--key', keyFile, '--credits', String(credits)]),
    cleanup: box.cleanup,
  };
}

test('sign in, redeem, pay for analytics, restart offline, sign out', async () => {
  const shots = artifacts('main');
  const shot = (s, name) => s.screenshot(join(shots, name));
  const sell = seller();
  const m = machine({ issuer: idp.issuer, login: 'alice', wallet: `[wallet]\nanalytics_cost = 2\nvoucher_keys = ["${sell.pub}"]\n` });
  m.env.LATCHKEY_TEST_SCREENSHOT_DIR = join(shots, 'browser'); // the provider's pages, in Chromium
  const driver = await startDriver(m.env);
  let s;
  try {
    s = await driver.open();
    await s.waitFor('#sign-in-local', { what: 'the sign-in button' });
    await shot(s, '01-signed-out.png');

    await s.click('#sign-in-local');
    await s.waitFor('#waiting');
    await shot(s, '02-waiting.png');
    await s.waitForText('#account-email', 'alice@example.test', { timeoutMs: 60000 });
    assert.equal(await s.text('#account-name'), 'Test alice');
    await shot(s, '03-signed-in.png');

    const voucher = sell.issue(50);
    await s.type('#voucher-input', voucher);
    await s.click('#redeem-button');
    await s.waitForText('#redeem-confirm-text', '50 credits');
    await shot(s, '04-redeem-confirm.png');
    await s.click('#redeem-yes');
    await s.waitForText('#balance-available', (t) => t === '50');
    await shot(s, '05-redeemed.png');

    // No file picked: the code decides the headline, the detail says what exactly.
    await s.click('#dataset-import');
    await s.waitForText('#error-message', 'nothing changed');
    assert.equal(await s.text('#error-detail'), 'Pick a CSV or TSV file first.');
    await shot(s, '05b-error-with-detail.png');
    await s.click('#error-dismiss');

    // The paid feature: import a small export (free), then a paid monthly time series.
    const csv = join(m.dir, 'steps.csv');
    writeFileSync(csv, 'date,value\n2026-01-05,1200\n2026-01-20,800\n2026-02-02,1500\n');
    const input = await s.waitFor('#dataset-file');
    await s.cmd('POST', `/element/${input}/value`, { text: csv });
    await s.click('#dataset-import');
    // What was detected is shown first; nothing to correct here.
    await s.waitForText('#import-facts', (t) => t.includes('steps.csv: 3 rows and 2 columns'));
    await s.click('#import-go');
    await s.waitForText('#dataset-title', 'steps.csv');
    await s.waitForText('#notice', 'Imported 3 rows');
    assert.equal(await s.text('#balance-available'), '50', 'importing is free');
    await choose(s, 'run-kind', 'timeseries');
    await choose(s, 'run-measure', 'value');
    await choose(s, 'run-by', 'month');
    await s.waitForText('#run-price', 'costs 2 credits; you have 50 available');
    await s.script('document.getElementById("run-go").scrollIntoView({ block: "center" })');
    await s.click('#run-go');
    await s.waitFor('#result-view', { what: 'the result' });
    const rows = await s.script('return [...document.querySelectorAll("#result-body tr")].map((tr) => [...tr.children].slice(0, 2).map((c) => c.textContent));');
    assert.deepEqual(rows, [['2026-01', '2,000'], ['2026-02', '1,500']], 'the sums per month of the file');
    await s.waitForText('#balance-available', (t) => t === '48');
    // The table's text glues its cells together: compare the "What" cells themselves.
    await s.waitForText('#history', (t) => t.includes('Analytics run −2, held then paid'));
    const what = await s.script('return [...document.querySelectorAll("#history tr")].map((tr) => tr.children[1].textContent);');
    assert.deepEqual(what, ['Analytics run −2, held then paid', 'Voucher redeemed'], 'a hold and its capture read as one line');
    await s.script('document.getElementById("result-view").scrollIntoView()');
    await shot(s, '06-analytics.png');

    await s.end();
    await idp.stop();
    s = await driver.open();
    await s.waitForText('#account-email', 'alice@example.test');
    await s.waitForText('#balance-available', (t) => t === '48');
    await s.waitFor('#offline-badge', { what: 'the offline badge' });
    await shot(s, '07-restarted-offline.png');

    await s.click('#sign-out');
    await s.waitFor('#sign-in-local');
    await shot(s, '08-signed-out-again.png');
    const status = JSON.parse(cli(m.env, ['status', '--json']));
    assert.deepEqual(status.accounts, [], 'signed out in the core too');
  } finally {
    await s?.end();
    await driver.stop();
    idp = await startIdp();
    m.cleanup();
    sell.cleanup();
  }
});

test('a cancelled sign-in leaves the window usable; names are text, never HTML', async () => {
  const shots = artifacts('cancel-xss');
  const m = machine({ issuer: idp.issuer, login: 'xss-eve' });
  m.env.LATCHKEY_TEST_BROWSER_NOOP = '1';
  const driver = await startDriver(m.env);
  let s;
  try {
    s = await driver.open();
    await s.click('#sign-in-local');
    await s.waitFor('#cancel');
    await s.click('#cancel');
    await s.waitFor('#sign-in-local');
    await s.waitForText('#notice', 'cancelled');
    await s.screenshot(join(shots, '01-cancelled.png'));
    await s.end();
    await driver.stop();

    delete m.env.LATCHKEY_TEST_BROWSER_NOOP;
    m.env.LATCHKEY_BROWSER = `node ${join(repo, 'tests/idp/browser-http.mjs')}`;
    const d2 = await startDriver(m.env);
    try {
      s = await d2.open();
      await s.click('#sign-in-local');
      await s.waitForText('#account-email', 'xss-eve@example.test', { timeoutMs: 60000 });
      assert.equal(await s.text('#account-name'), '<img src=x onerror=alert(1)>', 'shown as text');
      assert.equal(await s.script('return document.querySelectorAll("header img:not(#avatar img)").length'), 0);
      await s.screenshot(join(shots, '02-xss-name-as-text.png'));
    } finally {
      await s?.end();
      await d2.stop();
    }
  } finally {
    m.cleanup();
  }
});

test('a second launch with a redeem link reaches the first window', async () => {
  const shots = artifacts('deep-link');
  const sell = seller();
  const m = machine({ issuer: idp.issuer, login: 'dora', wallet: `[wallet]\nvoucher_keys = ["${sell.pub}"]\n` });
  m.env.LATCHKEY_BROWSER = `node ${join(repo, 'tests/idp/browser-http.mjs')}`;
  const driver = await startDriver(m.env);
  let s;
  try {
    s = await driver.open();
    await s.click('#sign-in-local');
    await s.waitForText('#account-email', 'dora@example.test', { timeoutMs: 60000 });
    const voucher = sell.issue(7);
    const second = spawn(appBinary, [`latchkey://redeem?voucher=${voucher}`], { env: m.env, stdio: 'ignore' });
    const exited = await new Promise((ok) => { second.once('exit', (code) => ok(code)); setTimeout(() => ok('still running'), 20000); });
    assert.equal(exited, 0, 'the second launch hands over its link and exits');
    await s.waitForText('#redeem-confirm-text', '7 credits', { timeoutMs: 20000 });
    await s.screenshot(join(shots, '01-redeem-from-link.png'));
    await s.click('#redeem-yes');
    await s.waitForText('#balance-available', (t) => t === '7');

    // 200% zoom of this 960-pixel window lays out like a 480-pixel-wide one: nothing may need
    // sideways scrolling.
    await s.cmd('POST', '/window/rect', { width: 480, height: 640 });
    await s.waitFor('#balance-available');
    const widths = await s.script('return [document.documentElement.scrollWidth, document.documentElement.clientWidth]');
    await s.screenshot(join(shots, '02-narrow-as-200-percent.png'));
    assert.ok(widths[0] <= widths[1], `no sideways scrolling at 480 px: content ${widths[0]} > window ${widths[1]}`);
  } finally {
    await s?.end();
    await driver.stop();
    m.cleanup();
    sell.cleanup();
  }
});
