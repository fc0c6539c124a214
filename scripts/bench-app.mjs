// `make bench-app`: the release app against a hello-world Tauri window built with the same
// profile (the floor). Prints figures; asserts nothing about speed. Run inside
// scripts/with-keyring.sh and a display (the make target does both):
//   1. start-up, offline, with a restored session: launch → the signed-in screen is complete
//      in the page (the UI's `latchkey:ready` mark: account and balance shown; the floor: its
//      page's DOMContentLoaded), median of N. Not "painted": with no input, WebKit under Xvfb
//      runs no animation frames, so a paint mark would only measure the polling;
//   2. idle PSS of the process and its WebKit children, 10 s after launch;
//   3. sizes of the release binaries and of the .deb.
// The app draws in software on Linux (src-tauri/src/lib.rs, `software_rendering`); a default
// Tauri window composites with GL. So each figure is also given like for like: against the
// floor drawn in software (WEBKIT_DISABLE_COMPOSITING_MODE=1), and, for memory, the app with
// WebKit's default (LATCHKEY_GPU=1) against the default floor.
import { execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIdp, startDriver, machine, cliBinary, repo } from '../tests/e2e/harness.mjs';
import { Session, sleep } from '../tests/e2e/webdriver.mjs';

const RUNS = Number(process.env.BENCH_RUNS || 15);
const app = join(repo, 'target/release/latchkey-app');
const floor = join(repo, 'target/release/examples/floor');
const debDir = join(repo, 'target/release/bundle/deb');
const SOFTWARE = { WEBKIT_DISABLE_COMPOSITING_MODE: '1' };
// WebDriver launches a program with the driver's environment: a wrapper adds the variable.
const wrappers = mkdtempSync(join(tmpdir(), 'latchkey-bench-'));
const floorSoftware = join(wrappers, 'floor-software');
writeFileSync(floorSoftware, `#!/bin/sh\nWEBKIT_DISABLE_COMPOSITING_MODE=1 exec '${floor}' "$@"\n`);
chmodSync(floorSoftware, 0o755);

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
const pct = (xs, p) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]; };
const mib = (bytes) => `${(bytes / 1048576).toFixed(2)} MiB`;

// A restored session with no provider: sign in once with the CLI, then stop the provider.
const idp = await startIdp();
const m = machine({ issuer: idp.issuer, login: 'bench' });
m.env.LATCHKEY_BROWSER = `node ${join(repo, 'tests/idp/browser-http.mjs')}`;
execFileSync(cliBinary, ['login', '--timeout', '60'], { env: m.env, stdio: 'ignore' });
execFileSync(cliBinary, ['wallet', 'grant', '--credits', '5', '--key', 'bench'], { env: m.env, stdio: 'ignore' });
await idp.stop();

// 1. Start-up, alternating app and floor so both see the same machine.
const READY = `
  const done = arguments[arguments.length - 1];
  const app = arguments[0];
  const check = () => {
    const nav = performance.getEntriesByType('navigation')[0];
    const mark = performance.getEntriesByName('latchkey:ready')[0];
    if (nav && nav.domContentLoadedEventEnd > 0 && (mark || !app)) {
      const page = performance.timeOrigin + nav.domContentLoadedEventEnd;
      return done({
        ready: app ? performance.timeOrigin + mark.startTime : page,
        page,
        email: app ? document.getElementById('account-email').textContent : null,
      });
    }
    setTimeout(check, 2);
  };
  check();`;
const driver = await startDriver(m.env);
const times = { app: [], floor: [], floorSoftware: [], appPage: [], floorPage: [], floorSoftwarePage: [] };
let sample;
try {
  for (let i = 0; i <= RUNS; i++) {
    for (const [name, binary] of [['app', app], ['floor', floor], ['floorSoftware', floorSoftware]]) {
      const t0 = Date.now();
      const s = await Session.start(driver.base, binary);
      const r = await s.cmd('POST', '/execute/async', { script: READY, args: [name === 'app'] });
      if (name === 'app' && i === RUNS) {
        // Not timed: the session really was restored offline (the badge follows the failed check).
        await s.waitFor('#offline-badge', { what: 'the offline badge' });
        r.offline = true;
      }
      await s.end();
      if (i > 0) { // the first round warms the disk cache
        times[name].push(r.ready - t0);
        times[`${name}Page`].push(r.page - t0);
      }
      if (name === 'app') sample = r;
      await sleep(300);
    }
  }
} finally {
  await driver.stop();
}
if (!sample.email || !sample.offline) {
  throw new Error(`the app did not show a restored, offline session: ${JSON.stringify(sample)}`);
}

// 2. Idle PSS: launched directly (no WebDriver), measured after 10 s.
function tree(root) {
  const parent = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      parent.set(Number(d), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch { /* gone */ }
  }
  const pids = [root];
  for (let i = 0; i < pids.length; i++) for (const [p, pp] of parent) if (pp === pids[i]) pids.push(p);
  return pids;
}
function pssKiB(pid) {
  const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
  return m ? Number(m[1]) : 0;
}
async function idlePss(binary, extra = {}) {
  const child = spawn(binary, [], { env: { ...m.env, ...extra }, stdio: 'ignore' });
  await sleep(10000);
  const pids = tree(child.pid);
  let total = 0;
  for (const p of pids) { try { total += pssKiB(p); } catch { /* gone */ } }
  child.kill('SIGTERM');
  await new Promise((ok) => child.once('exit', ok));
  return { kib: total, processes: pids.length };
}
// The median of a few launches each (one launch varies by several MiB), alternating.
const PSS_RUNS = Number(process.env.BENCH_PSS_RUNS || 3);
const samples = { app: [], floor: [], floorSoftware: [], appDefault: [] };
for (let i = 0; i < PSS_RUNS; i++) {
  samples.app.push(await idlePss(app));
  samples.floor.push(await idlePss(floor));
  samples.floorSoftware.push(await idlePss(floor, SOFTWARE));
  samples.appDefault.push(await idlePss(app, { LATCHKEY_GPU: '1' }));
}
const pss = Object.fromEntries(Object.entries(samples).map(([k, xs]) => [k, {
  kib: median(xs.map((x) => x.kib)),
  processes: xs[0].processes,
}]));
m.cleanup();
rmSync(wrappers, { recursive: true, force: true });

// 3. Sizes.
const deb = readdirSync(debDir).filter((f) => f.endsWith('.deb')).map((f) => join(debDir, f))
  .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs)[0];
const size = { app: statSync(app).size, floor: statSync(floor).size, deb: deb ? statSync(deb).size : NaN };

const row = (label, a, f, unit, fmt = (x) => x.toFixed(1)) =>
  console.log(`${label.padEnd(58)} ${`${fmt(a)} ${unit}`.padStart(12)} ${`${fmt(f)} ${unit}`.padStart(12)} ${`${fmt(a - f)} ${unit}`.padStart(12)}`);
console.log(`Latchkey app vs hello-world Tauri floor (release profile; ${RUNS} launches each, after 1 warm-up)`);
console.log(`${''.padEnd(58)} ${'app'.padStart(12)} ${'floor'.padStart(12)} ${'app - floor'.padStart(12)}`);
row('launch → ready, offline, median (floor: WebKit default)', median(times.app), median(times.floor), 'ms');
row('  same, floor drawn in software like the app', median(times.app), median(times.floorSoftware), 'ms');
row('launch → ready, offline, p90 (floor: WebKit default)', pct(times.app, 90), pct(times.floor, 90), 'ms');
row('launch → ready, offline, min (floor: WebKit default)', Math.min(...times.app), Math.min(...times.floor), 'ms');
row('  of which launch → page loaded, median', median(times.appPage), median(times.floorPage), 'ms');
console.log('  (ready: the app shows the restored account and its balance, laid out; the floor has loaded its page)');
const mb = (k) => k / 1024;
row(`idle PSS after 10 s, median of ${PSS_RUNS}, as shipped (floor: WebKit default)`, mb(pss.app.kib), mb(pss.floor.kib), 'MiB');
row('  like for like: both drawn in software', mb(pss.app.kib), mb(pss.floorSoftware.kib), 'MiB');
row('  like for like: both WebKit default (app: LATCHKEY_GPU=1)', mb(pss.appDefault.kib), mb(pss.floor.kib), 'MiB');
console.log(`  (${pss.app.processes} / ${pss.floor.processes} processes: the program and its WebKit children)`);
row('release binary', size.app / 1048576, size.floor / 1048576, 'MiB', (x) => x.toFixed(2));
console.log(`${'.deb'.padEnd(58)} ${mib(size.deb).padStart(12)}   (${deb})`);
console.log('Targets: start-up within 100 ms of the floor; idle PSS within 25 MB of it; .deb at most 5 MiB.');
