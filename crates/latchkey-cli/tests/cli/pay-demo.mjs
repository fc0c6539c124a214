#!/usr/bin/env node
// A scripted "system browser" for the credit service's DEMO checkout page. Usage: pay-demo.mjs URL
// LATCHKEY_TEST_DEMO=pay (default) submits the page's "Pay (DEMO)" form; =cancel follows its
// Cancel link. Loopback only. Writes what it did to LATCHKEY_TEST_BROWSER_LOG.
import { writeFileSync } from 'node:fs';

const url = process.argv.at(-1);
const action = process.env.LATCHKEY_TEST_DEMO || 'pay';
const log = [];
const decode = (s) => s.replace(/&amp;/g, '&').replace(/&quot;/g, '"');
try {
  const loopback = (u) => ['127.0.0.1', '[::1]', 'localhost'].includes(new URL(u).hostname);
  if (!loopback(url)) throw new Error(`refused to load non-loopback URL ${url}`);
  const page = await fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(15_000) });
  const html = await page.text();
  log.push(`GET ${url} -> ${page.status}`);
  if (!html.includes('DEMO')) throw new Error('not a DEMO checkout page');
  if (action === 'pay') {
    const form = html.match(/<form method="post" action="([^"]+)"/);
    if (!form) throw new Error('no Pay form on the page');
    const target = new URL(decode(form[1]), url).href;
    const res = await fetch(target, { method: 'POST', redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    log.push(`POST ${target} -> ${res.status}`);
  } else {
    const link = html.match(/href="([^"]*\/cancel)"/);
    if (!link) throw new Error('no Cancel link on the page');
    const target = new URL(decode(link[1]), url).href;
    const res = await fetch(target, { redirect: 'manual', signal: AbortSignal.timeout(15_000) });
    log.push(`GET ${target} -> ${res.status}`);
  }
} catch (e) {
  log.push(`error: ${e.message}`);
}
if (process.env.LATCHKEY_TEST_BROWSER_LOG) writeFileSync(process.env.LATCHKEY_TEST_BROWSER_LOG, `${log.join('\n')}\n`);
