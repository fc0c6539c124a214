// A small W3C WebDriver client (fetch only) for tauri-driver: enough to find, click, type,
// read text, run script and take screenshots in the real app window.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

const ELEMENT = 'element-6066-11e4-a52e-4f735466cecf';

export class Session {
  constructor(base, id) {
    this.base = base;
    this.id = id;
  }

  static async start(base, application, { timeoutMs = 60000 } = {}) {
    const body = { capabilities: { alwaysMatch: { 'tauri:options': { application } } } };
    const value = await call(base, 'POST', '/session', body, timeoutMs);
    return new Session(base, value.sessionId);
  }

  cmd(method, path, body) {
    return call(this.base, method, `/session/${this.id}${path}`, body);
  }

  async find(css) {
    const v = await this.cmd('POST', '/element', { using: 'css selector', value: css });
    return v[ELEMENT];
  }

  async findAll(css) {
    const v = await this.cmd('POST', '/elements', { using: 'css selector', value: css });
    return v.map((e) => e[ELEMENT]);
  }

  /** Waits until `css` matches an element that is displayed; returns it. */
  async waitFor(css, { timeoutMs = 30000, what = css } = {}) {
    const end = Date.now() + timeoutMs;
    let last;
    while (Date.now() < end) {
      try {
        const el = await this.find(css);
        if (await this.cmd('GET', `/element/${el}/displayed`)) return el;
      } catch (e) {
        last = e;
      }
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${what}${last ? ` (${last.message})` : ''}`);
  }

  /**
   * Waits until `css`'s text satisfies `test`: a predicate, or a string that must appear
   * whole, not as part of a longer number ('50 credits' is not found in '150 credits'). Letters
   * may touch it: WebDriver joins table cells with no separator ('20Analytics run').
   */
  async waitForText(css, test, { timeoutMs = 30000 } = {}) {
    const ok = typeof test === 'function' ? test : (t) => containsWhole(t, test);
    const end = Date.now() + timeoutMs;
    let text = '';
    while (Date.now() < end) {
      try {
        text = await this.text(css);
        if (ok(text)) return text;
      } catch {
        // not there yet
      }
      await sleep(100);
    }
    throw new Error(`timed out waiting for ${css} text; last seen: ${JSON.stringify(text)}`);
  }

  async click(css) {
    // The UI may re-render between finding and clicking: find again when the node went stale.
    for (let attempt = 0; ; attempt++) {
      const el = await this.waitFor(css);
      try {
        await this.cmd('POST', `/element/${el}/click`, {});
        return;
      } catch (e) {
        if (attempt >= 5 || !/stale element/.test(e.message)) throw e;
      }
    }
  }

  async type(css, text) {
    const el = await this.waitFor(css);
    await this.cmd('POST', `/element/${el}/clear`, {});
    await this.cmd('POST', `/element/${el}/value`, { text });
  }

  async text(css) {
    const el = await this.find(css);
    return this.cmd('GET', `/element/${el}/text`);
  }

  async html(css) {
    return this.script('return document.querySelector(arguments[0]).innerHTML', [css]);
  }

  script(source, args = []) {
    return this.cmd('POST', '/execute/sync', { script: source, args });
  }

  asyncScript(source, args = []) {
    return this.cmd('POST', '/execute/async', { script: source, args });
  }

  /** Saves a PNG of the window, after two animation frames so the last change is painted. */
  /**
   * The window as it is on the (Xvfb) display, after the page has drawn a frame. Taken from
   * the X server, not with WebDriver's screenshot: WebKitWebDriver's never returns while the
   * page is drawn in software, which is how the app draws on Linux (src-tauri/src/lib.rs).
   */
  async screenshot(path) {
    await this.asyncScript(
      'const done = arguments[arguments.length - 1]; requestAnimationFrame(() => requestAnimationFrame(() => setTimeout(() => done(true), 50)));',
    );
    const r = await this.cmd('GET', '/window/rect');
    await run('import', ['-window', 'root', '-crop', `${r.width}x${r.height}+${r.x}+${r.y}`, '+repage', path]);
  }

  async end() {
    try {
      await this.cmd('DELETE', '');
    } catch {
      // the app may already be gone
    }
  }
}

async function call(base, method, path, body, timeoutMs = 30000) {
  const res = await fetch(base + path, {
    method,
    headers: body ? { 'content-type': 'application/json' } : {},
    body: body ? JSON.stringify(body) : undefined,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const json = await res.json().catch(() => ({}));
  if (!res.ok || (json.value && json.value.error)) {
    const v = json.value || {};
    throw new Error(`${method} ${path}: ${v.error || res.status} ${v.message || ''}`.trim());
  }
  return json.value;
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const DIGIT = /\p{N}/u;

/** Whether `needle` occurs in `text` with no digit glued to a digit at either end of it. */
export function containsWhole(text, needle) {
  for (let at = text.indexOf(needle); at !== -1; at = text.indexOf(needle, at + 1)) {
    const before = at > 0 ? text[at - 1] : '';
    const after = text[at + needle.length] ?? '';
    const gluedBefore = DIGIT.test(needle[0] ?? '') && DIGIT.test(before);
    const gluedAfter = DIGIT.test(needle[needle.length - 1] ?? '') && DIGIT.test(after);
    if (!gluedBefore && !gluedAfter) return true;
  }
  return false;
}
