#!/usr/bin/env node
// Scripted "system browser" driving real headless Chromium (Debian /usr/bin/chromium) via playwright-core.
// Usage: browser-chromium.mjs [...] URL. Returns at once; a detached child does the work (<= 60 s).
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { env, isLoopback, isWebUrl, main, openDeepLink } from './browser-common.mjs';

const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-quic',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1',
];

async function browse(startUrl) {
  const steps = [];
  if (!isLoopback(startUrl)) return { final_url: startUrl, error: `refused to load non-loopback URL ${startUrl}`, steps };
  const profile = mkdtempSync(join(tmpdir(), 'latchkey-chromium-'));
  process.on('exit', () => rmSync(profile, { recursive: true, force: true })); // also on the 60 s cap
  let context;
  let shot = 0;
  const screenshot = async (page, name) => {
    if (!env.screenshotDir) return;
    mkdirSync(env.screenshotDir, { recursive: true });
    await page.screenshot({ path: join(env.screenshotDir, `${String(++shot).padStart(2, '0')}-${name}.png`), fullPage: true });
  };
  try {
    const { chromium } = await import('playwright-core'); // lazy: keep the foreground launcher fast
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.LATCHKEY_TEST_CHROMIUM || '/usr/bin/chromium', headless: true, args: ARGS, timeout: 30_000,
    });
    const page = context.pages()[0] ?? await context.newPage();
    page.setDefaultTimeout(15_000);
    let status = null;
    page.on('response', (res) => {
      if (res.request().isNavigationRequest() && res.frame() === page.mainFrame()) status = res.status();
    });
    await context.route('**/*', (route) => {
      const url = route.request().url();
      if (isLoopback(url) || url.startsWith('data:')) return route.continue();
      steps.push(`blocked ${url}`);
      return route.abort('blockedbyclient');
    });
    // A redirect to a custom scheme (deep link) is invisible to route()/page events while
    // interception is on; CDP's Network domain still reports it.
    let deepLink = null;
    let onDeepLink;
    const deepLinkSeen = new Promise((resolve) => { onDeepLink = resolve; });
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.requestWillBeSent', ({ request }) => {
      if (!deepLink && !isWebUrl(request.url) && !request.url.startsWith('data:')) onDeepLink(deepLink = request.url);
    });

    await page.goto(startUrl, { waitUntil: 'load' }).catch((err) => steps.push(`goto: ${err.message.split('\n')[0]}`));
    for (let i = 0; i < 6; i++) {
      if (deepLink) return { ...(await openDeepLink(deepLink)), steps };
      await page.waitForLoadState('load').catch(() => {});
      steps.push(`page ${page.url()}`);
      const prompt = await page.locator('input[name="prompt"]').getAttribute('value', { timeout: 1_000 }).catch(() => null);
      await screenshot(page, prompt ?? 'final');
      if (!prompt) break;
      const before = page.url();
      if (env.deny) {
        await page.locator('a[href$="/abort"]').click();
      } else {
        if (prompt === 'login') {
          await page.fill('input[name="login"]', env.login);
          await page.fill('input[name="password"]', 'any-password');
        }
        await page.locator('button[type="submit"]').click();
      }
      await Promise.race([
        deepLinkSeen,
        page.waitForURL((u) => u.href !== before, { waitUntil: 'load' }).catch((err) => steps.push(`wait: ${err.message.split('\n')[0]}`)),
      ]);
    }
    if (deepLink) return { ...(await openDeepLink(deepLink)), steps };
    const finalUrl = page.url();
    const bodyText = (await page.locator('body').innerText({ timeout: 5_000 }).catch(() => '')).replace(/\s+/g, ' ').trim();
    return { final_url: finalUrl, status, body_text: bodyText, error: null, steps };
  } finally {
    await context?.close().catch(() => {});
    rmSync(profile, { recursive: true, force: true });
  }
}

await main(import.meta.url, browse);
