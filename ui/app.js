// Latchkey's UI shell: signing in and out, accounts, errors. It talks only to the app's own
// commands (no token ever reaches this page). Provider-supplied text (names, emails) is
// always set with textContent, never as HTML.
// A classic script (see wallet.js), run after the page is parsed (`defer`).
(() => {
'use strict';

// Tauri's IPC, the two calls this page needs. The same as @tauri-apps/api's `core.invoke` and
// `event.listen`, without its global bundle (`withGlobalTauri`): 41 KB of script every start
// would evaluate, for two functions.
const tauri = window.__TAURI_INTERNALS__;
const invoke = (cmd, args = {}) => tauri.invoke(cmd, args);
const listen = (event, handler) =>
  invoke('plugin:event|listen', { event, target: { kind: 'Any' }, handler: tauri.transformCallback(handler) });

// The first screen's data, asked for before anything else so the shell works on it while this
// script sets up the page (see "start" at the end).
const firstScreen = invoke('app_startup');

// Windows: its own system font (style.css; macOS and Linux need no mark).
if (/Windows/.test(navigator.userAgent)) document.documentElement.classList.add('windows');

const $ = (id) => document.getElementById(id);
const state = {
  accounts: [],
  providers: [],
  offline: false,
  configBroken: false,
  // The sign-in waiting for the browser: { provider, addAccount, url, timeout_secs, deadline }.
  pending: null,
  // The last sign-in tried, for "Try again".
  lastAttempt: null,
};
const active = () => state.accounts.find((a) => a.active) || null;

// ---------- messages: the code decides the words ----------
const PLAIN = {
  sign_in_denied: () => 'The sign-in was declined at the provider. Try again, and allow Latchkey access when asked.',
  sign_in_timed_out: () => 'Nothing came back from your browser in time, so the sign-in was stopped. Try again; if your browser shows no sign-in page, use “Copy sign-in link”.',
  sign_in_cancelled: () => 'Sign-in cancelled.',
  sign_in_rejected: (m) => `The provider’s answer did not pass Latchkey’s checks, so you were not signed in. Try again; if it keeps happening, check the provider setup. (${m})`,
  keychain_unavailable: () => 'Your keychain is locked or unavailable. Unlock it (or install gnome-keyring on Linux) and try again.',
  offline: (m, who) => `${who || 'The provider'} can’t be reached. Check your internet connection and try again.`,
  provider: (m) => `The provider answered with an error. Try again in a moment. (${m})`,
  config: (m) => `Latchkey’s configuration has a problem: ${m}`,
  not_signed_in: (m) => m || 'You are not signed in.',
  session_expired: () => 'Your session ended. Please sign in again.',
  unknown_account: (m) => `That account is not signed in here any more. (${m})`,
  storage: (m) => `Latchkey could not read or write its files: ${m}`,
  internal: (m) => `Something went wrong: ${m}`,
};

/**
 * Shows `{code, message}` in plain words; `retry` adds a "Try again" button; `who` names the
 * provider involved.
 */
function showError(err, retry, who) {
  const code = err && err.code;
  const message = (err && err.message) || String(err);
  $('error-message').textContent = PLAIN[code] ? PLAIN[code](message, who) : message;
  $('error').dataset.code = code || '';
  $('error').hidden = false;
  notice('');
  retryAction = retry || null;
  $('error-retry').hidden = !retry;
}
let retryAction = null;
function clearError() {
  $('error').hidden = true;
  $('error').dataset.code = '';
  retryAction = null;
}
function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}
$('error-dismiss').addEventListener('click', clearError);
$('error-retry').addEventListener('click', () => { const again = retryAction; clearError(); if (again) again(); });

const wallet = window.latchkeyWallet.initWallet({ invoke, showError, clearError, notice, active });

// ---------- screens ----------
function show(screen) {
  for (const id of ['loading', 'signed-out', 'waiting', 'signed-in']) $(id).hidden = id !== screen;
}

function render() {
  const a = active();
  $('offline-badge').hidden = !(a && state.offline);
  $('account-box').hidden = !a;
  if (a) renderAccount(a);
  renderProviders();
  if (state.pending) show('waiting');
  else if (a) show('signed-in');
  else show('signed-out');
}

/** Up to two letters: the first letter or digit of the first two words (of the name, else the email). */
function initials(a) {
  const source = a.name || a.email || a.subject || '';
  const letters = source.split(/[\s@._-]+/).map((w) => (w.match(/[\p{L}\p{N}]/u) || [''])[0]).filter(Boolean);
  return (letters.slice(0, 2).join('') || '?').toUpperCase();
}

function renderAvatar(a) {
  const box = $('avatar');
  const fallback = () => { box.replaceChildren(); box.textContent = initials(a); };
  // Offline, a remote picture cannot load: initials straight away, no broken image.
  const usable = a.picture && (/^data:image\//.test(a.picture) || (!state.offline && /^https:/.test(a.picture)));
  if (!usable) { fallback(); return; }
  const current = box.querySelector('img');
  if (current && current.getAttribute('src') === a.picture) return;
  const img = document.createElement('img');
  img.alt = '';
  img.addEventListener('error', fallback);
  img.src = a.picture;
  box.replaceChildren(img);
}

function renderAccount(a) {
  $('account-name').textContent = a.name || (a.email ? a.email.split('@')[0] : a.subject);
  $('account-email').textContent = a.email || '';
  renderAvatar(a);
  const sel = $('account-switcher');
  sel.replaceChildren();
  for (const acc of state.accounts) {
    const o = document.createElement('option');
    o.value = acc.subject;
    o.textContent = `${acc.email || acc.name || acc.subject} (${acc.provider})`;
    o.selected = acc.active;
    sel.append(o);
  }
}

// Re-rendered only when the list changes, so a button is never replaced under a click.
let renderedProviders = null;
function renderProviders() {
  const key = JSON.stringify(state.providers);
  if (key === renderedProviders) return;
  renderedProviders = key;
  const box = $('providers');
  box.replaceChildren();
  for (const p of state.providers) {
    const b = document.createElement('button');
    b.type = 'button';
    b.id = `sign-in-${p.name}`;
    b.dataset.testid = `sign-in-${p.name}`;
    b.textContent = p.label;
    b.addEventListener('click', () => signIn(p.name, false));
    box.append(b);
  }
  $('no-providers').hidden = state.providers.length > 0 || state.configBroken;
  $('config-broken').hidden = !state.configBroken;
}

// ---------- state: local first (no network), then the network ----------
async function loadLocal() {
  const [accounts, providers] = await Promise.allSettled([invoke('auth_status'), invoke('auth_providers')]);
  const problem = [accounts, providers].find((r) => r.status === 'rejected');
  state.accounts = accounts.status === 'fulfilled' ? accounts.value : [];
  state.providers = providers.status === 'fulfilled' ? providers.value : [];
  if (problem) {
    state.configBroken = problem.reason && problem.reason.code === 'config';
    showError(problem.reason);
  }
  render();
}

async function refreshOnline() {
  if (state.configBroken) return;
  try {
    state.accounts = await invoke('auth_refresh_status');
    state.offline = state.accounts.some((a) => a.active && a.offline);
  } catch (e) {
    if (e && e.code === 'offline') state.offline = true; else showError(e);
  }
  render();
}

// ---------- signing in ----------
let timer = null;

async function signIn(provider, addAccount) {
  clearError();
  notice('');
  state.lastAttempt = { provider, addAccount };
  const buttons = document.querySelectorAll('#providers button, #add-account');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const started = await invoke('auth_sign_in', { provider, addAccount });
    startWaiting({ ...started, addAccount });
    $('cancel').focus();
  } catch (e) {
    showError(e, () => signIn(provider, addAccount), providerName(provider));
    render();
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

function providerName(name) {
  const p = state.providers.find((x) => x.name === name);
  return p ? p.label.replace(/^Sign in with /, '') : name;
}

function startWaiting(started) {
  state.pending = { ...started, deadline: Date.now() + started.remaining_secs * 1000 };
  $('waiting-provider').textContent = providerName(started.provider);
  $('waiting-opened').textContent = started.browser_opened ? 'We opened the sign-in page of' : 'Your browser could not be opened. Copy the link below to sign in with';
  $('waiting-opened-end').textContent = started.browser_opened ? ' in your browser.' : '.';
  $('sign-in-link').value = started.url;
  $('sign-in-link').hidden = started.browser_opened;
  $('sign-in-link-label').hidden = started.browser_opened;
  $('waiting-hint').hidden = true;
  clearInterval(timer);
  timer = setInterval(tick, 1000);
  tick();
  render();
}

function tick() {
  const p = state.pending;
  if (!p) return;
  const left = Math.max(0, Math.ceil((p.deadline - Date.now()) / 1000));
  $('waiting-remaining').textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  const waited = p.timeout_secs - left;
  $('waiting-hint').hidden = waited < 30;
  // The core reports the timeout as an event; if that was missed, ask.
  if (left === 0 && Date.now() - p.deadline > 3000) recheck();
}

function endWaiting() {
  state.pending = null;
  clearInterval(timer);
  $('sign-in-link').hidden = true;
  $('sign-in-link-label').hidden = true;
}

/** Asks the shell whether a sign-in is still waiting (window focus, reload, missed event). */
async function recheck() {
  try {
    const pending = await invoke('auth_pending');
    if (!pending && state.pending) {
      endWaiting();
      await loadLocal();
      await wallet.refresh();
    } else if (pending && !state.pending) {
      startWaiting({ ...pending, addAccount: false });
    } else if (pending) {
      state.pending.deadline = Date.now() + pending.remaining_secs * 1000;
    }
  } catch (e) { showError(e); }
}

$('cancel').addEventListener('click', () => invoke('auth_cancel').catch(showError));
$('open-again').addEventListener('click', () => invoke('auth_open_again').then(() => notice('Opened the sign-in page again.')).catch(showError));
$('copy-link').addEventListener('click', async () => {
  const link = $('sign-in-link');
  link.hidden = false;
  $('sign-in-link-label').hidden = false;
  link.focus();
  link.select();
  try { await navigator.clipboard.writeText(link.value); notice('Sign-in link copied. Paste it into the browser you want to use.'); } catch { notice('Select the link and copy it (Ctrl+C).'); }
});

function focusStart() {
  if (!$('error').hidden && !$('error-retry').hidden) $('error-retry').focus();
  else if (!$('signed-out').hidden) { const b = document.querySelector('#providers button'); if (b) b.focus(); }
}

// ---------- accounts ----------
const menu = $('account-menu');
function closeMenu() { if (menu.open) { menu.open = false; $('account-menu-button').focus(); } }
menu.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeMenu(); });
document.addEventListener('click', (ev) => { if (menu.open && !menu.contains(ev.target)) menu.open = false; });
$('add-account').addEventListener('click', () => {
  menu.open = false;
  const a = active();
  const provider = a ? a.provider : (state.providers[0] || {}).name;
  if (provider) signIn(provider, true);
});
$('account-switcher').addEventListener('change', async (ev) => {
  clearError();
  try {
    const a = await invoke('auth_switch', { subject: ev.target.value });
    notice(`Now using ${a.email || a.name || a.subject}.`);
    await loadLocal();
    await wallet.refresh();
  } catch (e) { showError(e); await loadLocal(); }
});

async function signOut(everywhere) {
  menu.open = false;
  clearError();
  const who = active();
  try {
    const report = await invoke('auth_sign_out', { subject: null, everywhere });
    const name = who ? (who.email || who.name || who.subject) : 'the account';
    let text = `Signed out of ${name} on this computer.`;
    if (everywhere && report.end_session_urls.length) text += ' Finish signing out of the provider in your browser.';
    else if (everywhere) text += ' The provider could not be asked to end your session there; sign out on its website if you need to.';
    if (report.revoked === 0 && report.warnings.length) text += ' The provider could not be reached, so its saved sign-in was only forgotten here; it ends on its own later.';
    // The core's warnings are technical: for a bug report, not for the notice.
    for (const w of report.warnings) console.warn(w);
    notice(text);
    await loadLocal();
    await wallet.refresh();
    focusStart();
    refreshOnline();
  } catch (e) { showError(e); }
}
$('sign-out').addEventListener('click', () => signOut(false));
$('sign-out-everywhere').addEventListener('click', () => signOut(true));

// ---------- events from the shell ----------
listen('auth://signed-in', async (ev) => {
  const a = ev.payload;
  const known = state.accounts.some((x) => x.issuer === a.issuer && x.subject === a.subject);
  endWaiting();
  clearError();
  notice('');
  const who = a.email || a.name || a.subject;
  let text = known ? `Signed in again as ${who}; its saved sign-in was replaced.` : `Signed in as ${who}.`;
  if (a.welcome_credits) text += ` Welcome: ${a.welcome_credits} credits were added.`;
  if (a.wallet_problem) text += ` The wallet could not be opened: ${a.wallet_problem}`;
  notice(text);
  state.offline = false;
  await loadLocal();
  // The focused control (Cancel) is gone with the waiting screen: land on the account menu.
  $('account-menu-button').focus();
  await wallet.refresh();
});
listen('auth://sign-in-failed', async (ev) => {
  endWaiting();
  notice('');
  const attempt = state.lastAttempt;
  if (ev.payload.code === 'sign_in_cancelled') {
    clearError();
    notice('Sign-in cancelled.');
  } else {
    showError(ev.payload, attempt ? () => signIn(attempt.provider, attempt.addAccount) : null, attempt && providerName(attempt.provider));
  }
  render();
  focusStart();
});
// A latchkey://redeem link: the shell checked its shape; the user confirms before anything.
listen('deeplink://redeem', (ev) => wallet.askRedeem(ev.payload.voucher));
// The CLI (another process) changed the accounts or the wallet.
listen('state://changed', async () => { await loadLocal(); await wallet.refresh(); });
window.addEventListener('focus', async () => {
  await recheck();
  if (!state.pending) { await loadLocal(); await wallet.refresh(); }
});

// ---------- start ----------
// The first screen from one call (local files only), rendered once; then the network check.
(async () => {
  let first;
  try {
    first = await firstScreen;
  } catch (e) {
    if (e && e.code === 'config') {
      state.configBroken = true;
      showError(e);
      render();
    } else {
      // e.g. unreadable account files: the separate calls show what they can, and the error.
      await loadLocal();
    }
    return;
  }
  try {
    state.accounts = first.accounts;
    state.providers = first.providers;
    wallet.setCost(first.analytics_cost);
    if (first.wallet) wallet.show(first.wallet);
    if (first.wallet_error) showError(first.wallet_error);
    if (first.pending) startWaiting({ ...first.pending, addAccount: false });
    else render();
    focusStart();
    // The first complete screen (account and balance from local data), laid out, fonts
    // included (reading a size forces the layout now, not later): `make bench-app` reads it.
    void document.body.offsetHeight;
    performance.mark('latchkey:ready');
    const early = first.vouchers;
    if (early.length) wallet.askRedeem(early[early.length - 1]);
    await refreshOnline();
  } catch (e) {
    showError(e);
    render();
  }
})();
})();
