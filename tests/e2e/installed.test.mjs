// The .deb as users get it. `make package-test` builds it, installs it with `dpkg -i`, runs
// this file (inside scripts/with-keyring.sh and Xvfb), then removes the package.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { startIdp, startDriver, machine, artifacts, cliBinary, repo } from './harness.mjs';

const sh = (cmd, args, env) => execFileSync(cmd, args, { env, encoding: 'utf8' }).trim();

test('the installed .deb registers latchkey://, and the installed app starts and takes a link', async () => {
  const files = sh('dpkg', ['-L', 'latchkey']).split('\n');
  const binary = files.find((f) => f.startsWith('/usr/bin/'));
  const desktop = files.find((f) => f.startsWith('/usr/share/applications/') && f.endsWith('.desktop'));
  assert.ok(binary, `the package installs a program in /usr/bin: ${files.join(' ')}`);
  assert.ok(desktop, 'the package installs a desktop entry');
  const entry = readFileSync(desktop, 'utf8');
  assert.match(entry, /^Exec=\S+ %u$/m, 'the desktop entry passes the link (%u)');
  assert.match(entry, /^MimeType=.*x-scheme-handler\/latchkey;/m);

  const idp = await startIdp();
  const seller = machine({ issuer: idp.issuer });
  const keyFile = join(seller.dir, 'seller.key');
  const pub = sh(cliBinary, ['wallet', 'voucher', 'keygen', '--out', keyFile], seller.env);
  // A release build trusts vouchers signed by keys in the user's own config only in the fully
  // local mode (no credit service): offline_only says so.
  const m = machine({ issuer: idp.issuer, login: 'inez', wallet: `[wallet]\noffline_only = true\nvoucher_keys = ["${pub}"]\n` });
  m.env.LATCHKEY_BROWSER = `node ${join(repo, 'tests/idp/browser-http.mjs')}`;
  let driver;
  let s;
  try {
    // Before the app ever runs (it also registers itself at start, in $HOME): the system's
    // MIME cache, which dpkg's trigger rebuilt, names the package's desktop entry.
    assert.equal(sh('xdg-mime', ['query', 'default', 'x-scheme-handler/latchkey'], m.env), basename(desktop));

    driver = await startDriver(m.env, binary);
    s = await driver.open();
    await s.click('#sign-in-local');
    await s.waitForText('#account-email', 'inez@example.test', { timeoutMs: 60000 });
    // An installed app leaves the package's handler in charge (no per-user copy shadows it).
    assert.equal(sh('xdg-mime', ['query', 'default', 'x-scheme-handler/latchkey'], m.env), basename(desktop));

    // A link opened the way a browser's checkout page would: through the desktop's handler.
    const voucher = sh(cliBinary, ['wallet', 'voucher', 'issue', '--key', keyFile, '--credits', '3'], seller.env);
    sh('xdg-open', [`latchkey://redeem?voucher=${voucher}`], m.env);
    await s.waitForText('#redeem-confirm-text', '3 credits', { timeoutMs: 30000 });
    await s.screenshot(join(artifacts('installed'), '01-link-through-handler.png'));
    await s.click('#redeem-yes');
    await s.waitForText('#balance-available', (t) => t === '3');
  } finally {
    await s?.end();
    await driver?.stop();
    await idp.stop();
    m.cleanup();
    seller.cleanup();
  }
});
