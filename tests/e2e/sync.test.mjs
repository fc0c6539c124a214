// Offline-first in the real window (issue 9): the real credit service (latchkey-server over a
// throwaway PostgreSQL) reached through a loopback relay this test cuts and restores, the real
// provider with headless Chromium for the sign-in, the real keychain. Signed in, the window
// says "Synced" and what this device may spend offline; cut off, it says "Offline since …"
// with the reason in words; a paid analysis is then paid from the device's offline credits;
// when the relay is back, the window syncs by itself, says "Synced" again, and the history
// shows the spend the service took. Also: a lost device removed from the Devices card, and a
// spend this device made offline after another device removed it, and one the removed laptop
// sent late, both shown in the history as not accepted, with the device and the reason.
// Screenshots: tests/artifacts/e2e/sync/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createServer, connect } from 'node:net';
import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIdp, startService, startDriver, machine, artifacts, cliBinary, freePort } from './harness.mjs';

/**
 * A TCP relay on 127.0.0.1:`port` to `target` ("http://host:port"). `cut()` closes it and
 * every open connection (new ones are refused: the network is gone); `restore()` listens
 * again on the same port.
 */
async function startRelay(target) {
  const { hostname, port: targetPort } = new URL(target);
  const port = await freePort();
  const open = new Set();
  const server = createServer((client) => {
    const upstream = connect(Number(targetPort), hostname);
    open.add(client);
    open.add(upstream);
    const end = () => { client.destroy(); upstream.destroy(); open.delete(client); open.delete(upstream); };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const listen = () => new Promise((ok, fail) => { server.once('error', fail); server.listen(port, '127.0.0.1', ok); });
  await listen();
  return {
    base: `http://127.0.0.1:${port}`,
    cut: () => new Promise((ok) => { server.close(() => ok()); for (const s of open) s.destroy(); open.clear(); }),
    restore: listen,
    stop: () => new Promise((ok) => { for (const s of open) s.destroy(); if (server.listening) server.close(() => ok()); else ok(); }),
  };
}

const run = promisify(execFile);

/**
 * Another device of the same account: `latchkey` (the CLI) over a data dir of its own with the
 * window's sign-in (a copy of the account and its sealed tokens; the keys are in the same
 * keychain), with this name. Returns `run(args)`.
 */
function otherDevice(m, name, id) {
  const data = join(m.dir, name.replace(/\W+/g, '-'));
  mkdirSync(data, { recursive: true });
  cpSync(join(m.env.LATCHKEY_DATA_DIR, 'accounts.json'), join(data, 'accounts.json'));
  cpSync(join(m.env.LATCHKEY_DATA_DIR, 'tokens'), join(data, 'tokens'), { recursive: true });
  writeFileSync(join(data, 'device.json'), JSON.stringify({ device_id: id, name }));
  // Another machine: it reaches the service directly, whatever happens to this one's network.
  const config = join(data, 'config.toml');
  writeFileSync(config, readFileSync(m.config, 'utf8').replace(relay.base, service.base));
  const env = { ...m.env, LATCHKEY_DATA_DIR: data, LATCHKEY_CONFIG: config };
  const device = async (args) => (await run(cliBinary, args, { env })).stdout;
  device.config = config;
  return device;
}

/** Sets a <select> as a person would (the change event included). */
const choose = (s, id, value) => s.script(
  'const e = document.getElementById(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event("change")); return e.value;',
  [id, value],
);
const visible = (s, id) => s.script('const e = document.getElementById(arguments[0]); return !!e && !e.hidden && e.getClientRects().length > 0;', [id]);

let idp;
let service;
let relay;
before(async () => {
  idp = await startIdp();
  service = await startService({ issuer: idp.issuer, welcome: 30 });
  relay = await startRelay(service.base);
});
after(async () => {
  await relay?.stop();
  await service?.stop();
  await idp?.stop();
});

test('offline badge, available offline, a spend from the lease, reconnect, synced history', async () => {
  const shots = artifacts('sync');
  const shot = (s, name) => s.screenshot(join(shots, name));
  const m = machine({
    issuer: idp.issuer,
    login: 'olga',
    wallet: `[wallet]\nanalytics_cost = 2\n\n[service]\nurl = "${relay.base}"\n`,
  });
  // While the service cannot be reached, try again every second (the default is 15).
  m.env.LATCHKEY_SYNC_RETRY_SECS = '1';
  const driver = await startDriver(m.env);
  let s;
  try {
    s = await driver.open();
    await s.click('#sign-in-local');
    await s.waitForText('#account-email', 'olga@example.test', { timeoutMs: 60000 });

    // Online: synced, with a lease of 20 of the 30 welcome credits for offline use here.
    await s.waitForText('#sync-status', (t) => t === 'Synced', { timeoutMs: 30000 });
    await s.waitForText('#offline-available', 'Available offline: 20');
    await s.waitForText('#devices', 'This device');
    assert.match(await s.text('#devices'), /20/, 'the devices list shows the lease this device holds');
    assert.equal(await visible(s, 'sync-detail'), false, 'no error while synced');
    await shot(s, '01-synced.png');

    // A dataset, imported on this machine with `latchkey analytics import` (free, local; the
    // same account and data dir), then the window reloaded to list it.
    const csv = join(m.dir, 'steps.csv');
    writeFileSync(csv, 'date,value\n2026-01-05,1\n2026-02-07,3\n2026-03-09,5\n');
    await run(cliBinary, ['analytics', 'import', csv], { env: m.env });
    await s.script('location.reload()');
    await s.waitForText('#account-email', 'olga@example.test');
    await s.waitFor('[data-testid="dataset-open-1"]', { what: 'the imported dataset' });
    await s.waitForText('#sync-status', (t) => t === 'Synced');

    // A second device takes the other 10 credits as its lease; the window lists it after a
    // sync, and removes it as lost once the user confirms what that does.
    const laptop = otherDevice(m, 'Old laptop', '0123456789abcdef0123456789abcdef');
    await laptop(['sync']);
    await s.click('#sync-now');
    await s.waitForText('#devices', 'Old laptop');
    await s.waitForText('#balance-available', (t) => t === '0');
    await s.script('document.getElementById("devices-card").scrollIntoView()');
    await s.click('[data-testid="remove-device-0123456789abcdef0123456789abcdef"]');
    const question = await s.waitForText('#device-remove-text', 'Remove “Old laptop” as lost?');
    assert.match(question, /10 credits it holds for offline use come back to your balance/);
    assert.match(question, /sends later is refused/);
    assert.equal(await s.script('return document.activeElement.id'), 'device-remove-no', 'the safe answer has the focus');
    await shot(s, '02-remove-lost-device.png');
    await s.click('#device-remove-yes');
    await s.waitForText('#notice', 'Removed “Old laptop”');
    await s.waitForText('#devices', 'Removed');
    await s.waitForText('#balance-available', (t) => t === '10');

    // The network goes away: "Sync now" finds the service unreachable.
    await relay.cut();
    await s.click('#sync-now');
    const badge = await s.waitForText('#sync-status', (t) => t.startsWith('Offline since'), { timeoutMs: 30000 });
    assert.match(badge, /^Offline since \d\d:\d\d UTC$|^Offline since \d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    const detail = await s.waitForText('#sync-detail', 'The credit service can’t be reached');
    assert.match(detail, /Last synced/, `when it last synced: ${detail}`);
    await s.waitForText('#offline-available', 'Available offline: 20');
    await shot(s, '03-offline.png');

    // A paid analysis while offline: paid from this device's offline credits.
    await s.click('[data-testid="dataset-open-1"]');
    await s.waitFor('#dataset-view', { what: 'the dataset' });
    await choose(s, 'run-kind', 'timeseries');
    await choose(s, 'run-measure', 'value');
    await choose(s, 'run-agg', 'sum');
    await choose(s, 'run-by', 'month');
    await s.waitForText('#run-go', 'Run for 2 credits');
    await s.script('document.getElementById("run-go").scrollIntoView({ block: "center" })');
    await s.click('#run-go');
    await s.waitFor('#result-view', { what: 'the result, paid offline' });
    await s.waitForText('#notice', 'Done: 2 credits paid');
    await s.waitForText('#offline-available', 'Available offline: 18');
    await s.waitForText('#sync-detail', '1 spend made offline waits to be sent');
    assert.match(await s.text('#sync-status'), /^Offline since/, 'still offline');
    await s.script('window.scrollTo(0, 0)');
    await shot(s, '04-spent-offline.png');

    // The network returns: the window syncs by itself and the service has the spend.
    await relay.restore();
    await s.waitForText('#sync-status', (t) => t === 'Synced', { timeoutMs: 30000 });
    await s.waitForText('#history', 'Spent', { timeoutMs: 30000 });
    assert.match(await s.text('#history'), /Spent\s*−2/, 'the synced spend, 2 credits');
    assert.match(await s.text('#history'), /analytics run/);
    await s.waitForText('#offline-available', 'Available offline: 18');
    assert.equal(await visible(s, 'sync-detail'), false, 'nothing waits, no error');
    assert.doesNotMatch(await s.text('#history'), /Not accepted/, 'nothing was refused');
    await s.script('document.getElementById("history").scrollIntoView({ block: "center" })');
    await shot(s, '05-synced-again.png');

    // This device spends offline again, and meanwhile is removed as lost from a phone: when it
    // sends the spend, the service refuses it, and the history says why, in words.
    const me = JSON.parse(readFileSync(join(m.env.LATCHKEY_DATA_DIR, 'device.json'), 'utf8')).device_id;
    const phone = otherDevice(m, 'Phone', 'fedcba9876543210fedcba9876543210');
    await phone(['sync']);
    await relay.cut();
    await s.click('#sync-now');
    await s.waitForText('#sync-status', (t) => t.startsWith('Offline since'));
    await s.script('document.getElementById("run-go").scrollIntoView({ block: "center" })');
    await s.click('#run-go');
    await s.waitForText('#offline-available', 'Available offline: 16');
    await phone(['devices', 'remove', me]);
    await relay.restore();
    await s.waitForText('#sync-status', (t) => t === 'Synced', { timeoutMs: 30000 });
    const refused = await s.waitForText('#history', 'Not accepted, from this device');
    assert.match(refused, /Analytics run, 2 credits: not accepted, because this device had been removed as lost \(from another device\) before it sent it\. Nothing was charged for it\./);
    await s.waitForText('#devices-note', 'This device was removed as lost');
    await s.script('document.getElementById("history").scrollIntoView()');
    await shot(s, '06-refused-after-removal.png');

    // The lost laptop, unaware it was removed, spends from the offline credits it thinks it
    // still holds while cut off, and sends the spend later: refused at the service, and this
    // window lists it in the history under the laptop's name once it syncs.
    const closed = 'http://127.0.0.1:9';
    writeFileSync(laptop.config, readFileSync(laptop.config, 'utf8').replace(service.base, closed));
    await laptop(['wallet', 'spend', '--credits', '3', '--key', 'late-1', '--memo', 'late report']);
    writeFileSync(laptop.config, readFileSync(laptop.config, 'utf8').replace(closed, service.base));
    await laptop(['sync']);
    await s.click('#sync-now');
    const late = await s.waitForText('#history', 'Not accepted, from “Old laptop”', { timeoutMs: 30000 });
    assert.match(late, /Late report, 3 credits: not accepted, because that device had been removed as lost before it sent it\. Nothing was charged for it\./);
    await shot(s, '07-refused-from-the-lost-laptop.png');

    // A new start syncs by itself (not "Last synced …", which a window that has not synced
    // yet shows), and the refused spend is still explained, from this machine's records.
    await s.end();
    s = await driver.open();
    await s.waitForText('#account-email', 'olga@example.test');
    await s.waitForText('#sync-status', (t) => t === 'Synced' || t === 'Not synced', { timeoutMs: 30000 });
    assert.equal(await s.text('#sync-status'), 'Synced', `the start sync: ${await s.script('return document.getElementById("sync-detail").title')}`);
    await s.waitForText('#history', 'Not accepted, from this device');
    await s.waitForText('#history', 'Not accepted, from “Old laptop”');
  } finally {
    await s?.end();
    await driver.stop();
    m.cleanup();
  }
});
