// Real components for the desktop app's end-to-end tests: the OpenID Provider on loopback,
// tauri-driver (+ WebKitWebDriver) on ephemeral ports, a scratch machine (HOME, data dir,
// config), the debug app binary. Run inside scripts/with-keyring.sh and a display (Xvfb).
import { execFileSync, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { createServer } from 'node:net';
import { mkdirSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Session, sleep } from './webdriver.mjs';

export const repo = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const appBinary = process.env.LATCHKEY_APP_BINARY || join(repo, 'target/debug/latchkey-app');
export const cliBinary = join(repo, 'target/debug/latchkey');

/** The test OpenID Provider; `stop()` ends it. */
export async function startIdp(args = []) {
  const child = spawn('node', [join(repo, 'tests/idp/provider.mjs'), ...args], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const line = await new Promise((ok, fail) => {
    const rl = createInterface({ input: child.stdout });
    rl.once('line', ok);
    child.once('exit', (code) => fail(new Error(`provider exited (${code})`)));
  });
  const { issuer } = JSON.parse(line);
  return {
    issuer,
    stop: () => new Promise((ok) => {
      if (child.exitCode !== null) return ok();
      child.once('exit', ok);
      child.kill('SIGTERM');
    }),
  };
}

export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on('error', fail);
  });
}

/** A scratch user: config, data dir, and the environment the app runs with. */
export function machine({ issuer, provider = 'local', wallet = '', login = 'alice' }) {
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-e2e-'));
  const config = join(dir, 'auth.toml');
  writeFileSync(config, `[auth.${provider}]\nclient_id = "desktop-public"\n`
    + `server_metadata_url = "${issuer}/.well-known/openid-configuration"\n${wallet}`);
  const env = {
    ...process.env,
    LATCHKEY_CONFIG: config,
    LATCHKEY_DATA_DIR: join(dir, 'data'),
    LATCHKEY_KEYRING_SERVICE: `latchkey-e2e-${process.pid}`,
    LATCHKEY_BROWSER: `node ${join(repo, 'tests/idp/browser-chromium.mjs')}`,
    LATCHKEY_TEST_LOGIN: login,
    LATCHKEY_TEST_BROWSER_LOG: join(dir, 'browser.log'),
  };
  return { dir, config, env, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** tauri-driver with `env` for the app it launches; `open()` starts the app window. */
export async function startDriver(env, binary = appBinary) {
  const port = await freePort();
  const native = await freePort();
  // Its own process group: stop() ends tauri-driver, WebKitWebDriver and any app window they
  // started, so no app outlives a test (and keeps this process's pipes open).
  const child = spawn('tauri-driver', ['--port', String(port), '--native-port', String(native)], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  let log = '';
  child.stderr.on('data', (d) => { log += d; });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try {
      const res = await fetch(`${base}/status`);
      if (res.ok) break;
    } catch {
      await sleep(100);
    }
  }
  return {
    base,
    open: () => Session.start(base, binary),
    log: () => log,
    stop: () => new Promise((ok) => {
      const done = () => {
        try { process.kill(-child.pid, 'SIGKILL'); } catch { /* the group is gone */ }
        child.stderr.destroy();
        ok();
      };
      if (child.exitCode !== null) return done();
      child.once('exit', done);
      try { process.kill(-child.pid, 'SIGTERM'); } catch { done(); }
    }),
  };
}

/** Where screenshots go (kept as CI artifacts). */
export function artifacts(name) {
  const dir = join(repo, 'tests/artifacts/e2e', name);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/**
 * Opt-in: the credit service for the app to use, as `make run` starts it: a throwaway
 * PostgreSQL cluster (Debian's postgresql-15; as root through `runuser -u postgres`) on a free
 * loopback port and the real `latchkey-server` (target/debug) over it, trusting `issuer`'s
 * public client, with the DEMO payment provider, one pack `small` (100 credits) and
 * `welcome` welcome credits. `stop()` ends the server and removes the cluster.
 */
export async function startService({ issuer, welcome = 10 }) {
  const pgBin = '/usr/lib/postgresql/15/bin';
  const dir = mkdtempSync(join(tmpdir(), 'latchkey-e2e-pg-'));
  const root = process.getuid?.() === 0;
  const asPostgres = (tool, args) => (root
    ? ['runuser', ['-u', 'postgres', '--', join(pgBin, tool), ...args]]
    : [join(pgBin, tool), args]);
  const run = (tool, args) => {
    const [cmd, argv] = asPostgres(tool, args);
    execFileSync(cmd, argv, { stdio: 'ignore' });
  };
  if (root) execFileSync('chown', ['postgres', dir]);
  const port = await freePort();
  run('initdb', ['-D', join(dir, 'data'), '-A', 'trust', '-U', 'latchkey', '--no-sync', '-E', 'UTF8']);
  run('pg_ctl', ['-D', join(dir, 'data'), '-l', join(dir, 'log'), '-w', '-o',
    `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off`, 'start']);
  const config = join(dir, 'server.toml');
  writeFileSync(config, `listen = "127.0.0.1:0"\n`
    + `database_url = "postgresql://latchkey@127.0.0.1:${port}/postgres"\n`
    + `welcome_credits = ${welcome}\n\n[[packs]]\nid = "small"\ncredits = 100\namount = 500\n`
    + `currency = "eur"\nlabel = "DEMO: 100 credits"\n\n[payment]\nprovider = "demo"\n\n`
    + `[[providers]]\nissuer = "${issuer}"\nclient_ids = ["desktop-public"]\n`);
  const removeCluster = () => {
    try { run('pg_ctl', ['-D', join(dir, 'data'), '-m', 'fast', 'stop']); } catch { /* not running */ }
    rmSync(dir, { recursive: true, force: true });
  };
  const child = spawn(join(repo, 'target/debug/latchkey-server'), ['serve', '--config', config], {
    env: { ...process.env, RUST_LOG: 'warn' },
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let line;
  try {
    line = await new Promise((ok, fail) => {
      createInterface({ input: child.stdout }).once('line', ok);
      child.once('exit', (code) => fail(new Error(`latchkey-server exited (${code})`)));
    });
  } catch (e) {
    removeCluster();
    throw e;
  }
  child.stdout.resume(); // keep draining its output
  const base = `http://${JSON.parse(line).listen}`;
  return {
    base,
    stop: () => new Promise((ok) => {
      const done = () => { removeCluster(); ok(); };
      if (child.exitCode !== null) return done();
      child.once('exit', done);
      child.kill('SIGTERM');
    }),
  };
}
