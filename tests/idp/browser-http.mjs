#!/usr/bin/env node
// Fast scripted "system browser": fetch + cookie jar, loopback only. Usage: browser-http.mjs [...] URL
// Returns at once; a detached child signs in on oidc-provider's dev pages and loads the callback.
import { env, isLoopback, isWebUrl, main, openDeepLink } from './browser-common.mjs';

const jar = new Map(); // cookie name -> value (one loopback "site", fresh per run)

function storeCookies(res) {
  for (const line of res.headers.getSetCookie()) {
    const [pair, ...attrs] = line.split(';');
    const eq = pair.indexOf('=');
    const name = pair.slice(0, eq).trim();
    const expired = attrs.some((a) => {
      const [k, v = ''] = a.trim().split('=');
      return (/^max-age$/i.test(k) && Number(v) <= 0) || (/^expires$/i.test(k) && Date.parse(v) < Date.now());
    });
    if (expired) jar.delete(name);
    else jar.set(name, pair.slice(eq + 1).trim());
  }
}

const cookieHeader = () => [...jar].map(([k, v]) => `${k}=${v}`).join('; ');

const decode = (s) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"')
  .replace(/&#39;|&#x27;/g, "'").replace(/&amp;/g, '&');

function pageText(html) {
  return decode(html.replace(/<(script|style)[\s\S]*?<\/\1>/gi, ' ').replace(/<[^>]*>/g, ' '))
    .replace(/\s+/g, ' ').trim();
}

// oidc-provider's dev pages: a POST form with a hidden `prompt` (login|consent) and an abort link.
function parseInteraction(html, base) {
  const form = html.match(/<form[^>]*action="([^"]+)"[^>]*method="post"[^>]*>([\s\S]*?)<\/form>/i);
  const prompt = form?.[2].match(/name="prompt" value="([^"]+)"/)?.[1];
  if (!prompt) return null;
  const abort = html.match(/href="([^"]*\/abort)"/)?.[1];
  return {
    prompt,
    action: new URL(decode(form[1]), base).href,
    abort: abort && new URL(decode(abort), base).href,
  };
}

async function browse(startUrl) {
  const steps = [];
  let url = startUrl;
  let init = { method: 'GET' };
  for (let i = 0; i < 25; i++) {
    if (!isWebUrl(url)) return { ...(await openDeepLink(url)), steps };
    if (!isLoopback(url)) return { final_url: url, error: `refused to load non-loopback URL ${url}`, steps };
    const res = await fetch(url, {
      ...init,
      redirect: 'manual',
      signal: AbortSignal.timeout(15_000),
      headers: { ...init.headers, cookie: cookieHeader(), 'user-agent': 'latchkey-test-browser-http' },
    });
    steps.push(`${init.method} ${url} -> ${res.status}`);
    storeCookies(res);
    const location = res.headers.get('location');
    if (res.status >= 300 && res.status < 400 && location) {
      url = new URL(location, url).href;
      init = { method: 'GET' };
      continue;
    }
    const html = await res.text();
    const step = parseInteraction(html, url);
    if (!step) return { final_url: url, status: res.status, body_text: pageText(html), error: null, steps };
    if (env.deny && step.abort) {
      url = step.abort;
      init = { method: 'GET' };
    } else {
      const fields = step.prompt === 'login'
        ? { prompt: 'login', login: env.login, password: 'any-password' }
        : { prompt: step.prompt };
      url = step.action;
      init = {
        method: 'POST',
        body: new URLSearchParams(fields).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      };
    }
  }
  return { final_url: url, error: 'too many steps', steps };
}

await main(import.meta.url, browse);
