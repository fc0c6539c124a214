// Buying credits in the real window: the real credit service (latchkey-server over a
// throwaway PostgreSQL, DEMO payment provider), the real provider with headless Chromium for
// the sign-in, and the DEMO payment page "paid" by a scripted browser (pay-demo.mjs, as the
// CLI's test does). Screenshots: tests/artifacts/e2e/buy/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIdp, startService, startDriver, machine, artifacts, repo } from './harness.mjs';

let idp;
let service;
before(async () => {
  idp = await startIdp();
  // 30 welcome credits: the window's first sync lends 20 of them to this device for offline
  // use (held at the service), which leaves 10 available, the balance the test starts from.
  service = await startService({ issuer: idp.issuer, welcome: 30 });
});
after(async () => {
  await service?.stop();
  await idp?.stop();
});

test('buy a pack through the DEMO payment page and see the balance move', async () => {
  const shots = artifacts('buy');
  const shot = (s, name) => s.screenshot(join(shots, name));
  const m = machine({ issuer: idp.issuer, login: 'alice', wallet: `[service]\nurl = "${service.base}"\n` });
  // One "system browser" for both pages: the provider's in Chromium, the DEMO checkout paid.
  const opener = join(m.dir, 'browser.sh');
  writeFileSync(opener, '#!/bin/sh\ncase "$1" in\n'
    + `  */demo/*) exec node ${join(repo, 'crates/latchkey-cli/tests/cli/pay-demo.mjs')} "$1" ;;\n`
    + `  *) exec node ${join(repo, 'tests/idp/browser-chromium.mjs')} "$1" ;;\nesac\n`);
  chmodSync(opener, 0o755);
  m.env.LATCHKEY_BROWSER = opener;
  const driver = await startDriver(m.env);
  let s;
  try {
    s = await driver.open();
    await s.waitFor('#sign-in-local', { what: 'the sign-in button' });
    await s.click('#sign-in-local');
    await s.waitForText('#account-email', 'alice@example.test', { timeoutMs: 60000 });
    await s.waitForText('#balance-available', (t) => t === '10', { timeoutMs: 30000 });
    await shot(s, '01-signed-in-with-welcome-credits.png');

    await s.click('#buy-credits');
    await s.waitFor('[data-testid="buy-pack-small"]', { what: 'the DEMO pack' });
    assert.match(await s.text('#buy-pack-list'), /DEMO: 100 credits: 100 credits for 5\.00 EUR/);
    await shot(s, '02-packs.png');
    await s.click('[data-testid="buy-pack-small"]');
    await s.waitFor('#buy-waiting');
    await shot(s, '03-waiting-for-payment.png');

    await s.waitForText('#balance-available', (t) => t === '110', { timeoutMs: 60000 });
    await s.waitForText('#notice', 'Bought 100 credits');
    await s.waitForText('#history', 'Credits bought');
    await shot(s, '04-bought.png');
    assert.equal(await s.script('return document.getElementById("buy-waiting").hidden'), true, 'the waiting panel is gone');
  } finally {
    await s?.end();
    await driver.stop();
    m.cleanup();
  }
});
