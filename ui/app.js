// @ts-check
// Latchkey's UI shell: signing in and out, accounts, errors. It talks to the shell only
// through api.js (no token ever reaches this page). Provider-supplied text (names, emails) is
// always set with textContent, never as HTML.
// A classic script (see wallet.js), run after the page is parsed (`defer`), after api.js.
(() => {
'use strict';

const api = latchkeyApi;

// The first screen's data, asked for before anything else so the shell works on it while this
// script sets up the page (see "start" at the end).
const firstScreen = api.appStartup();

// Windows: its own system font (style.css; macOS and Linux need no mark).
if (/Windows/.test(navigator.userAgent)) document.documentElement.classList.add('windows');

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const $input = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));

/**
 * @typedef {object} Attempt
 * @property {string} provider
 * @property {boolean} addAccount
 * @property {boolean} [device] "Sign in on another device".
 */
/** @typedef {SignInStarted & {addAccount: boolean, deadline: number}} Waiting */

const state = {
  /** @type {Account[]} */
  accounts: [],
  /** @type {ProviderChoice[]} */
  providers: [],
  offline: false,
  configBroken: false,
  /** The sign-in waiting for the browser. @type {Waiting | null} */
  pending: null,
  /** The last sign-in tried, for "Try again". @type {Attempt | null} */
  lastAttempt: null,
};
const active = () => state.accounts.find((a) => a.active) || null;

// ---------- messages: the code decides the words ----------
// Every code the core has, in plain words with the next step (UX.md "Errors"). The core's
// message is shown below as detail, never as the headline. tests/ipc.rs fails when a code has
// no entry here; `who` names the provider involved, when known.
/** @type {Record<ErrorCode, (who: string) => string>} */
const ERROR_WORDS = {
  config: () => 'Latchkey’s configuration file has a problem. Fix what is named below, then restart Latchkey.',
  not_signed_in: () => 'You are not signed in. Sign in, then try again.',
  session_expired: () => 'Your session has ended. Sign in again to continue.',
  sign_in_denied: (who) => `The sign-in was declined at ${who}. Try again, and allow Latchkey access when asked.`,
  sign_in_timed_out: () => 'Nothing came back from your browser in time, so the sign-in was stopped. Try again; if your browser shows no sign-in page, use “Copy sign-in link”.',
  sign_in_cancelled: () => 'Sign-in cancelled. Start again whenever you are ready.',
  sign_in_rejected: (who) => `The answer from ${who} did not pass Latchkey’s security checks, so you were not signed in. Try again; if it keeps happening, ask whoever set up the provider to check it.`,
  keychain_unavailable: () => 'Your keychain is locked or unavailable. Unlock it (or install gnome-keyring on Linux) and try again.',
  offline: (who) => `${who} can’t be reached. Check your internet connection and try again.`,
  provider: (who) => `${who} answered with an error. Try again in a moment.`,
  unknown_account: () => 'That account is not signed in here any more. Pick another account, or sign in again.',
  storage: () => 'Latchkey could not read or write its files. Check that the disk has room and that Latchkey’s data folder is writable, then try again.',
  internal: () => 'Something went wrong inside Latchkey. Try again; if it keeps happening, report it with the details below.',
  insufficient_credits: () => 'You don’t have enough credits for that, so nothing was charged. Redeem a voucher to add credits, then try again.',
  idempotency_conflict: () => 'That request was already made with different details, so nothing changed. Try again.',
  unknown_entry: () => 'That credit entry does not exist or was already settled, so nothing changed. Refresh and try again.',
  voucher_rejected: () => 'This voucher can’t be used. Check that you copied all of it and that it is meant for this account, not expired and not used yet.',
  invalid_input: () => 'Something in what you entered isn’t right, so nothing changed. Fix what is named below and try again.',
  wallet_damaged: () => 'Your credit wallet file is damaged, so Latchkey will not change it. Restore it from a backup; nothing was changed.',
  busy: () => 'Another Latchkey window or command is using the wallet right now. Wait a moment and try again.',
  service_unavailable: () => 'The credit service can’t be reached right now, so nothing was charged. The balance shown is the last one Latchkey knew. Check your connection and try again.',
  purchase_not_completed: () => 'The purchase was cancelled or expired before it was paid, so nothing was charged. Start again whenever you are ready.',
  purchase_timed_out: () => 'Nothing came back from the payment page in time. If you did pay, your credits will appear in your balance shortly; otherwise start again.',
  cancelled: () => 'Stopped, as you asked. Nothing was charged and nothing was saved.',
  provider_changed: () => 'Provider changed — sign in again. This account’s provider settings now point somewhere else, so its sign-in was not sent there.',
  lease_hold: () => 'Those credits are a device’s offline allowance, so nothing changed. Only that device (when it syncs) or removing it as lost gives them back.',
};

/**
 * Whether `err` is the shell's `{code, message}` (anything else is a bug in this page).
 * @param {unknown} err
 * @returns {err is CoreError}
 */
function isCoreError(err) {
  return typeof err === 'object' && err !== null && Object.prototype.hasOwnProperty.call(ERROR_WORDS, /** @type {any} */ (err).code);
}

/**
 * Shows an error: the code's words as the headline, the message as detail. `retry` adds a
 * "Try again" button; `who` names the provider involved.
 * @param {unknown} err A {@link CoreError}, or anything a bug threw.
 * @param {(() => void) | null} [retry]
 * @param {string | null} [who]
 */
function showError(err, retry, who) {
  const known = isCoreError(err) ? err : { code: /** @type {ErrorCode} */ ('internal'), message: String(err) };
  $('error-message').textContent = ERROR_WORDS[known.code](who || 'The provider');
  $('error-detail').textContent = known.message;
  $('error-detail').hidden = !known.message;
  $('error').dataset.code = known.code;
  $('error').hidden = false;
  notice('');
  retryAction = retry || null;
  $('error-retry').hidden = !retry;
}
/** @type {(() => void) | null} */
let retryAction = null;
function clearError() {
  $('error').hidden = true;
  $('error').dataset.code = '';
  retryAction = null;
}
/** @param {string} text */
function notice(text) {
  $('notice').textContent = text;
  $('notice').hidden = !text;
}
$('error-dismiss').addEventListener('click', clearError);
$('error-retry').addEventListener('click', () => { const again = retryAction; clearError(); if (again) again(); });

const wallet = latchkeyWallet.initWallet({ api, showError, clearError, notice, active, changed: () => sync.changed(), serviceReached: () => sync.serviceReached(), extraRows: () => sync.historyRows() });
const analytics = latchkeyAnalytics.initAnalytics({ api, showError, clearError, notice, active, balanceChanged: () => { sync.changed(); return wallet.refresh(); } });
const sync = latchkeySync.initSync({ api, showError, clearError, notice, active, errorWords: (e) => ERROR_WORDS[e.code]('The provider'), walletChanged: () => wallet.refresh(), historyChanged: () => wallet.redrawHistory() });

// ---------- screens ----------
/** @param {'loading' | 'signed-out' | 'waiting' | 'device' | 'signed-in'} screen */
function show(screen) {
  for (const id of ['loading', 'signed-out', 'waiting', 'device', 'signed-in']) $(id).hidden = id !== screen;
}

function render() {
  const a = active();
  $('offline-badge').hidden = !(a && state.offline);
  $('account-box').hidden = !a;
  if (a) { renderAccount(a); analytics.shown(a); }
  renderProviders();
  if (state.pending) show(state.pending.mode === 'device' || state.pending.mode === 'paste_back' ? 'device' : 'waiting');
  else if (a) show('signed-in');
  else show('signed-out');
}

/**
 * Up to two letters: the first letter or digit of the first two words of the name the core
 * gives (the name, else the email, else the subject).
 * @param {Account} a
 */
function initials(a) {
  const letters = a.display_name.split(/[\s@._-]+/).map((w) => (w.match(/[\p{L}\p{N}]/u) || [''])[0]).filter(Boolean);
  return (letters.slice(0, 2).join('') || '?').toUpperCase();
}

/** @param {Account} a */
function renderAvatar(a) {
  const box = $('avatar');
  const fallback = () => { box.replaceChildren(); box.textContent = initials(a); };
  // Offline, a remote picture cannot load: initials straight away, no broken image.
  // The shell hands over only the picture the core kept (a data: URL); the page loads no
  // image from the network (the CSP allows none).
  const picture = a.picture;
  const usable = picture && /^data:image\//.test(picture);
  if (!picture || !usable) { fallback(); return; }
  const current = box.querySelector('img');
  if (current && current.getAttribute('src') === picture) return;
  const img = document.createElement('img');
  img.alt = '';
  img.addEventListener('error', fallback);
  img.src = picture;
  box.replaceChildren(img);
}

/**
 * "Provider changed — sign in again" beside the name, when the account's provider settings
 * now name another issuer or client (the core sent nothing there).
 * @param {Account} a
 */
function renderProviderChanged(a) {
  let badge = $('provider-changed-badge');
  if (!badge) {
    badge = document.createElement('span');
    badge.id = 'provider-changed-badge';
    badge.dataset.testid = 'provider-changed-badge';
    badge.className = 'badge';
    badge.setAttribute('role', 'status');
    badge.textContent = 'Provider changed — sign in again';
    badge.title = ERROR_WORDS.provider_changed(a.provider);
    $('account-name').after(badge);
  }
  badge.hidden = !a.provider_changed;
}

/** @param {Account} a */
function renderAccount(a) {
  $('account-name').textContent = a.display_name;
  $('account-email').textContent = a.email || a.username || '';
  renderProviderChanged(a);
  renderAvatar(a);
  const sel = $('account-switcher');
  sel.replaceChildren();
  for (const acc of state.accounts) {
    const o = document.createElement('option');
    o.value = acc.subject;
    const contact = acc.email || acc.username;
    o.textContent = `${acc.display_name}${contact && contact !== acc.display_name ? `, ${contact}` : ''} (${acc.provider})${acc.provider_changed ? ' — provider changed, sign in again' : ''}`;
    o.selected = acc.active;
    sel.append(o);
  }
}

// Re-rendered only when the list changes, so a button is never replaced under a click.
/** @type {string | null} */
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
  const other = $('device-providers');
  other.replaceChildren();
  for (const p of state.providers) {
    const b = document.createElement('button');
    b.type = 'button';
    b.className = 'quiet';
    b.dataset.testid = `device-sign-in-${p.name}`;
    b.textContent = `${p.label} on another device`;
    b.addEventListener('click', () => signInDevice(p.name, false));
    other.append(b);
  }
  $('device-sign-in').hidden = state.providers.length === 0;
  $('no-providers').hidden = state.providers.length > 0 || state.configBroken;
  $('config-broken').hidden = !state.configBroken;
}

// ---------- state: local first (no network), then the network ----------
async function loadLocal() {
  const [accounts, providers] = await Promise.allSettled([api.authStatus(), api.authProviders()]);
  state.accounts = accounts.status === 'fulfilled' ? accounts.value : [];
  state.providers = providers.status === 'fulfilled' ? providers.value : [];
  const problem = accounts.status === 'rejected' ? accounts.reason : providers.status === 'rejected' ? providers.reason : null;
  if (problem) {
    state.configBroken = isCoreError(problem) && problem.code === 'config';
    showError(problem);
  }
  render();
}

async function refreshOnline() {
  if (state.configBroken) return;
  try {
    state.accounts = await api.authRefreshStatus();
    state.offline = state.accounts.some((a) => a.active && a.offline);
  } catch (e) {
    if (isCoreError(e) && e.code === 'offline') state.offline = true; else showError(e);
  }
  render();
}

// ---------- signing in ----------
/** @type {number | undefined} */
let timer;

/**
 * @param {string} provider
 * @param {boolean} addAccount
 */
async function signIn(provider, addAccount) {
  clearError();
  notice('');
  state.lastAttempt = { provider, addAccount };
  /** @type {NodeListOf<HTMLButtonElement>} */
  const buttons = document.querySelectorAll('#providers button, #add-account');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const started = await api.authSignIn(provider, addAccount);
    startWaiting({ ...started, addAccount });
    $('cancel').focus();
  } catch (e) {
    showError(e, () => signIn(provider, addAccount), providerName(provider));
    render();
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

/**
 * "Sign in on another device": a code to type elsewhere, or an address to paste back.
 * @param {string} provider
 * @param {boolean} addAccount
 */
async function signInDevice(provider, addAccount) {
  clearError();
  notice('');
  state.lastAttempt = { provider, addAccount, device: true };
  /** @type {NodeListOf<HTMLButtonElement>} */
  const buttons = document.querySelectorAll('#providers button, #device-providers button, #add-account, #use-device');
  buttons.forEach((b) => { b.disabled = true; });
  try {
    const started = await api.authSignInDevice(provider, addAccount);
    startWaiting({ ...started, addAccount });
    $(started.mode === 'paste_back' ? 'paste-input' : 'device-cancel').focus();
  } catch (e) {
    showError(e, () => signInDevice(provider, addAccount), providerName(provider));
    render();
  } finally {
    buttons.forEach((b) => { b.disabled = false; });
  }
}

/** @param {string} name */
function providerName(name) {
  const p = state.providers.find((x) => x.name === name);
  return p ? p.label.replace(/^Sign in with /, '') : name;
}

/** @param {SignInStarted & {addAccount: boolean}} started */
function startWaiting(started) {
  state.pending = { ...started, deadline: Date.now() + started.remaining_secs * 1000 };
  $('waiting-provider').textContent = providerName(started.provider);
  $('waiting-opened').textContent = started.browser_opened ? 'We opened the sign-in page of' : 'Your browser could not be opened. Copy the link below to sign in with';
  $('waiting-opened-end').textContent = started.browser_opened ? ' in your browser.' : '.';
  $input('sign-in-link').value = started.url;
  $('sign-in-link').hidden = started.browser_opened;
  $('sign-in-link-label').hidden = started.browser_opened;
  $('waiting-hint').hidden = true;
  // No browser here: signing in on another device is the way out, so it is offered first.
  $('use-device').textContent = started.browser_opened ? 'Sign in on another device instead' : 'No browser here? Sign in on another device';
  const codes = started.device;
  $('device-code-box').hidden = started.mode !== 'device' || !codes;
  $('paste-box').hidden = started.mode !== 'paste_back';
  if (codes) {
    $('device-provider').textContent = providerName(started.provider);
    $('device-uri').textContent = codes.verification_uri;
    $('device-code').textContent = codes.user_code;
    $('device-complete').textContent = codes.verification_uri_complete || '';
    $('device-complete-box').hidden = !codes.verification_uri_complete;
  }
  if (started.mode === 'paste_back') {
    $('paste-provider').textContent = providerName(started.provider);
    $input('paste-link').value = started.url;
    $('paste-prefix').textContent = started.paste_prefix || '';
    $input('paste-input').value = '';
  }
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
  $('device-remaining').textContent = $('waiting-remaining').textContent;
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
  $input('paste-input').value = '';
}

/** Asks the shell whether a sign-in is still waiting (window focus, reload, missed event). */
async function recheck() {
  try {
    const pending = await api.authPending();
    if (!pending && state.pending) {
      endWaiting();
      await loadLocal();
      await wallet.refresh();
    } else if (pending && !state.pending) {
      startWaiting({ ...pending, addAccount: false });
    } else if (pending && state.pending) {
      state.pending.deadline = Date.now() + pending.remaining_secs * 1000;
    }
  } catch (e) { showError(e); }
}

$('cancel').addEventListener('click', () => api.authCancel().catch(showError));
$('device-cancel').addEventListener('click', () => api.authCancel().catch(showError));
$('use-device').addEventListener('click', () => {
  const p = state.pending;
  // A new sign-in replaces the pending one (which then reports nothing).
  if (p) signInDevice(p.provider, p.addAccount);
});
/**
 * Copies `text`, saying so; where the clipboard is refused, says how instead.
 * @param {string} text
 * @param {string} what
 */
async function copyText(text, what) {
  try { await navigator.clipboard.writeText(text); notice(`${what} copied.`); } catch { notice(`Select the ${what.toLowerCase()} and copy it (Ctrl+C).`); }
}
$('copy-device-code').addEventListener('click', () => copyText($('device-code').textContent || '', 'Code'));
$('copy-device-uri').addEventListener('click', () => copyText($('device-uri').textContent || '', 'Address'));
$('copy-paste-link').addEventListener('click', () => { $input('paste-link').select(); copyText($input('paste-link').value, 'Address'); });
$('paste-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const address = $input('paste-input').value.trim();
  if (!address) return;
  clearError();
  try {
    await api.authPasteBack(address);
    notice('Checking the address…');
  } catch (e) {
    // Not this sign-in's address: nothing changed, the sign-in still waits; paste again.
    showError(e);
    $input('paste-input').select();
  }
});
$('open-again').addEventListener('click', () => api.authOpenAgain().then(() => notice('Opened the sign-in page again.')).catch(showError));
$('copy-link').addEventListener('click', async () => {
  const link = $input('sign-in-link');
  link.hidden = false;
  $('sign-in-link-label').hidden = false;
  link.focus();
  link.select();
  try { await navigator.clipboard.writeText(link.value); notice('Sign-in link copied. Paste it into the browser you want to use.'); } catch { notice('Select the link and copy it (Ctrl+C).'); }
});

function focusStart() {
  if (!$('error').hidden && !$('error-retry').hidden) $('error-retry').focus();
  else if (!$('signed-out').hidden) {
    /** @type {HTMLButtonElement | null} */
    const b = document.querySelector('#providers button');
    if (b) b.focus();
  }
}

// ---------- accounts ----------
const menu = /** @type {HTMLDetailsElement} */ ($('account-menu'));
function closeMenu() { if (menu.open) { menu.open = false; $('account-menu-button').focus(); } }
menu.addEventListener('keydown', (ev) => { if (ev.key === 'Escape') closeMenu(); });
document.addEventListener('click', (ev) => { if (menu.open && !menu.contains(/** @type {Node | null} */ (ev.target))) menu.open = false; });
$('add-account').addEventListener('click', () => {
  menu.open = false;
  const a = active();
  const provider = a ? a.provider : state.providers[0]?.name;
  if (provider) signIn(provider, true);
});
$('account-switcher').addEventListener('change', async (ev) => {
  clearError();
  try {
    const a = await api.authSwitch(/** @type {HTMLSelectElement} */ (ev.target).value);
    notice(`Now using ${a.display_name}.`);
    await loadLocal();
    sync.changed();
    void sync.shown();
    await wallet.refresh();
  } catch (e) { showError(e); await loadLocal(); }
});

/** @param {boolean} everywhere */
async function signOut(everywhere) {
  menu.open = false;
  clearError();
  const who = active();
  try {
    const report = await api.authSignOut(null, everywhere);
    const name = who ? who.display_name : 'the account';
    let text = `Signed out of ${name} on this computer.`;
    if (everywhere && report.end_session_urls.length) text += ' Finish signing out of the provider in your browser.';
    else if (everywhere) text += ' The provider could not be asked to end your session there; sign out on its website if you need to.';
    if (report.revoked === 0 && report.warnings.length) text += ' The provider could not be reached, so its saved sign-in was only forgotten here; it ends on its own later.';
    // The core's warnings are technical: for a bug report, not for the notice.
    for (const w of report.warnings) console.warn(w);
    notice(text);
    await loadLocal();
    void sync.shown();
    await wallet.refresh();
    focusStart();
    refreshOnline();
  } catch (e) { showError(e); }
}
$('sign-out').addEventListener('click', () => signOut(false));
$('sign-out-everywhere').addEventListener('click', () => signOut(true));

// ---------- events from the shell ----------
api.onSignedIn(async (a) => {
  const known = state.accounts.some((x) => x.issuer === a.issuer && x.subject === a.subject);
  endWaiting();
  clearError();
  notice('');
  const who = a.display_name;
  let text = known ? `Signed in again as ${who}; its saved sign-in was replaced.` : `Signed in as ${who}.`;
  if (a.welcome_credits) text += ` Welcome: ${a.welcome_credits} credits were added.`;
  if (a.wallet_problem) text += ` The wallet could not be opened: ${a.wallet_problem}`;
  notice(text);
  state.offline = false;
  await loadLocal();
  // The focused control (Cancel) is gone with the waiting screen: land on the account menu.
  $('account-menu-button').focus();
  sync.changed();
  void sync.shown();
  await wallet.refresh();
});
api.onSignInFailed(async (err) => {
  endWaiting();
  notice('');
  const attempt = state.lastAttempt;
  if (err.code === 'sign_in_cancelled') {
    clearError();
    notice('Sign-in cancelled.');
  } else {
    const again = attempt && (() => (attempt.device ? signInDevice : signIn)(attempt.provider, attempt.addAccount));
    showError(err, again, attempt && providerName(attempt.provider));
  }
  render();
  focusStart();
});
// A latchkey://redeem link: the shell checked its shape; the user confirms before anything.
api.onRedeemLink((link) => wallet.askRedeem(link.voucher));
// The CLI (another process) changed the accounts or the wallet.
api.onStateChanged(async () => { await loadLocal(); await wallet.refresh(); await sync.refresh(); });
window.addEventListener('focus', async () => {
  await recheck();
  if (!state.pending) { await loadLocal(); await wallet.refresh(); await wallet.recheckBuying(); }
});

// ---------- start ----------
// The first screen from one call (local files only), rendered once; then the network check.
(async () => {
  /** @type {Startup} */
  let first;
  try {
    first = await firstScreen;
  } catch (e) {
    if (isCoreError(e) && e.code === 'config') {
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
    if (first.wallet) wallet.show(first.wallet);
    else if (first.accounts.some((a) => a.active) && !first.wallet_error) void wallet.refresh();
    void wallet.recheckBuying();
    if (first.wallet_error) showError(first.wallet_error);
    if (first.pending) startWaiting({ ...first.pending, addAccount: false });
    else render();
    void sync.shown();
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
