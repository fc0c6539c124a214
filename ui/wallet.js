// @ts-check
// The wallet half of the UI: credits, history, chart, CSV export, vouchers, buying credits.
// Talks to the shell only through api.js; text from outside is set with textContent only.
// A classic script (no modules: one less round trip before the first screen), loaded before
// app.js, which calls `latchkeyWallet.initWallet`.
const latchkeyWallet = (() => {
'use strict';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
// Numbers as en-US writes them ("-1,234", "1,234.50"), by hand: Intl.NumberFormat would load
// ICU's locale data into the page's process (about 2 MiB that stays).
/**
 * @param {number} x
 * @param {number} decimals
 */
function grouped(x, decimals) {
  const abs = Math.abs(x);
  // Rounds the digits as written (1.005 → 1.01), as Intl does, not the binary value.
  const rounded = /e/.test(String(abs)) ? abs : Number(`${Math.round(Number(`${abs}e${decimals}`))}e-${decimals}`);
  const [int, frac] = rounded.toFixed(decimals).split('.');
  const sign = x < 0 && rounded !== 0 ? '-' : '';
  return sign + int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? `.${frac}` : '');
}
/** @param {number} c */
const credits = (c) => grouped(c, 0);

/** @type {Record<EntryKind, string>} */
const KIND = { grant: 'Credits given', purchase: 'Credits bought', voucher: 'Voucher redeemed', spend: 'Spent', refund: 'Refund', reserve: 'Held', capture: 'Paid from hold', release: 'Hold released', expire: 'Hold expired', reversal: 'Refund of purchase' };
/** @param {string} text */
const capitalised = (text) => text.charAt(0).toUpperCase() + text.slice(1);
/** @param {string} iso */
const shownTime = (iso) => iso.replace('T', ' ').replace(/\.\d+(Z|[+-]\d\d:\d\d)$|Z$|[+-]00:00$/, '');

/**
 * What the wallet needs from app.js.
 * @typedef {object} WalletUi
 * @property {typeof latchkeyApi} api
 * @property {(err: unknown) => void} showError
 * @property {() => void} clearError
 * @property {(text: string) => void} notice
 * @property {() => Account | null} active
 * @property {() => void} [changed] Credits moved here (a redemption, a purchase): sync soon.
 * @property {() => void} [serviceReached] The credit service answered (ui/sync.js).
 * @property {() => HistoryExtra[]} [extraRows] More lines for the history, newest first, shown
 *   among the entries by date (the spends the credit service refused: ui/sync.js).
 */

/**
 * A line of the history that is not a ledger entry.
 * @typedef {object} HistoryExtra
 * @property {string} at RFC 3339.
 * @property {() => HTMLTableRowElement} row
 */

/**
 * Wires the wallet card.
 * @param {WalletUi} ui
 */
function initWallet(ui) {
  const { api, showError, clearError, notice, active } = ui;
  const state = {
    /** @type {string | null} */
    cursor: null,
    /** @type {Entry[]} */
    entries: [],
    /** @type {string | null} */
    pendingVoucher: null,
    /** The account the redeem question named. @type {{issuer: string, subject: string} | null} */
    pendingVoucherFor: null,
    /** A credit service keeps the credits (then they can be bought). */
    service: false,
    /** The purchase waiting for its payment. @type {(PurchaseStarted & {deadline: number}) | null} */
    buying: null,
    /** The user pressed Cancel: the failure that follows is theirs, not an error. */
    buyCancelled: false,
  };

  async function refresh() {
    if (!active()) return;
    try {
      // Both at once: every round trip to the shell delays the screen.
      const [b] = await Promise.all([api.walletBalance(), loadHistory(true)]);
      renderBalance(b);
    } catch (e) {
      showError(e);
    }
  }

  /**
   * The wallet as `app_startup` gives it: the balance and the newest page of history.
   * @param {WalletView} view
   */
  function show(view) {
    state.entries = view.history.entries;
    state.cursor = view.history.next_cursor;
    renderHistory();
    renderBalance(view.balance);
    // The credit service's last known values: ask it for today's.
    if (view.balance.stale) void refresh();
  }

  /** @param {boolean} on */
  function setService(on) {
    state.service = on;
    $('buy-credits').hidden = !on || state.buying !== null;
  }

  /** @param {Balance & {stale?: boolean, as_of?: string | null, service?: boolean}} b */
  function renderBalance(b) {
    if (b.service !== undefined) setService(b.service);
    if (b.service && b.stale === false) ui.serviceReached?.();
    $('balance-available').textContent = credits(b.available);
    $('balance-held').textContent = credits(b.held);
    const stale = $('balance-stale');
    stale.hidden = !b.stale;
    stale.textContent = b.stale ? `Last known, as of ${shownTime(b.as_of || '')} UTC: the credit service can’t be reached right now, so nothing can be bought (a voucher you redeem waits for it and is not counted until then); paid runs can use only the credits this device holds for offline use.` : '';
  }

  // Refreshes can overlap (a run's end and a file change both refresh): only the newest load
  // applies, so a page is never appended twice.
  let historyLoads = 0;
  /** @param {boolean} reset */
  async function loadHistory(reset) {
    const ticket = ++historyLoads;
    const page = await api.walletHistory(reset ? null : state.cursor, 20);
    if (ticket !== historyLoads) return;
    state.entries = reset ? page.entries : state.entries.concat(page.entries);
    state.cursor = page.next_cursor;
    renderHistory();
  }

  function renderHistory() {
    const body = $('history');
    body.replaceChildren();
    // Extra lines go among the entries by date, down to the oldest entry loaded (all of them
    // once every page is).
    const oldest = state.entries.length ? Date.parse(state.entries[state.entries.length - 1].created_at) : -Infinity;
    const extra = (ui.extraRows?.() || []).filter((x) => !state.cursor || Date.parse(x.at) >= oldest);
    let next = 0;
    // A capture without a note reads with its hold's ("Analytics run").
    /** @type {Map<number, string>} */
    const holdMemo = new Map();
    for (const e of state.entries) if (e.kind === 'reserve' && e.memo) holdMemo.set(e.id, e.memo);
    for (const e of state.entries) {
      while (next < extra.length && Date.parse(extra[next].at) >= Date.parse(e.created_at)) body.append(extra[next++].row());
      // A hold that was captured is shown with its capture, as one line (not two spends).
      if (e.captured_by != null) continue;
      const tr = document.createElement('tr');
      tr.dataset.kind = e.kind;
      const sign = ['spend', 'reserve', 'capture', 'reversal'].includes(e.kind) ? '−' : '+';
      // "Analytics run −2, held then paid".
      const note = e.memo || (e.related != null ? holdMemo.get(e.related) : undefined);
      const what = e.kind === 'capture' ? `${capitalised(note || 'paid from a hold')} ${sign}${credits(e.amount)}, held then paid` : KIND[e.kind] || e.kind;
      /** @type {[string, string][]} */
      const cells = [
        [shownTime(e.created_at), ''],
        [what, ''],
        [`${sign}${credits(e.amount)}`, 'num'],
        [credits(e.available_after), 'num'],
        [e.kind === 'capture' ? '' : e.memo || '', ''],
      ];
      for (const [text, cls] of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      body.append(tr);
    }
    while (next < extra.length) body.append(extra[next++].row());
    $('history-empty').hidden = body.children.length > 0;
    $('load-more').hidden = !state.cursor;
    renderBalanceChart();
  }

  // Charts: hand-drawn SVG, each with a text alternative.
  const SVG = 'http://www.w3.org/2000/svg';
  /**
   * @param {string} name
   * @param {Record<string, string | number>} attrs
   * @param {string} [text]
   */
  function el(name, attrs, text) {
    const n = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function renderBalanceChart() {
    const svg = $('balance-chart');
    svg.replaceChildren();
    const points = state.entries.filter((e) => e.captured_by == null).reverse().map((e) => e.available_after);
    svg.toggleAttribute('hidden', points.length < 2);
    if (points.length < 2) { $('balance-chart-text').textContent = 'The chart of available credits appears after a few movements.'; return; }
    const max = Math.max(...points, 1);
    const w = 300, h = 100, x0 = 20;
    svg.append(el('line', { class: 'axis', x1: x0, y1: 5, x2: x0, y2: h + 5 }), el('line', { class: 'axis', x1: x0, y1: h + 5, x2: w + x0, y2: h + 5 }));
    svg.append(el('text', { x: 0, y: 12 }, credits(max)), el('text', { x: 0, y: h + 5 }, '0'));
    const d = points.map((p, i) => `${i ? 'L' : 'M'}${x0 + (i * w) / (points.length - 1)},${5 + h - (p / max) * h}`).join(' ');
    svg.append(el('path', { class: 'line', d }));
    $('balance-chart-text').textContent = `Available credits over the last ${points.length} movements: from ${credits(points[0])} to ${credits(points[points.length - 1])}.`;
  }

  /**
   * Asks before redeeming `voucher` (typed, pasted, or from a latchkey://redeem link).
   * @param {string} voucher
   */
  async function askRedeem(voucher) {
    clearError();
    const who = active();
    if (!who) {
      showError({ code: 'not_signed_in', message: 'Sign in first, then open the voucher link again.' });
      return;
    }
    try {
      // Verified by the shell (a trusted signature, not expired, meant for this account, not
      // used yet) before any amount is shown.
      const v = await api.walletVoucherPreview(voucher);
      state.pendingVoucher = voucher;
      // The account the question names: the answer applies to it only (the shell refuses
      // the redeem when another account is active by then).
      state.pendingVoucherFor = { issuer: v.account.issuer, subject: v.account.subject };
      $('redeem-confirm-text').textContent = `Redeem a voucher for ${credits(v.credits)} credits into ${v.account.display_name}’s account?`;
      $('redeem-confirm').hidden = false;
      // Cancel first: an Enter meant for another window (a link arrives while typing) must
      // never confirm.
      $('redeem-no').focus();
    } catch (e) { showError(e); }
  }

  const voucherInput = /** @type {HTMLInputElement} */ ($('voucher-input'));
  $('redeem-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = voucherInput.value.trim();
    if (v) askRedeem(v);
  });
  $('redeem-no').addEventListener('click', () => { state.pendingVoucher = null; $('redeem-confirm').hidden = true; });
  $('redeem-yes').addEventListener('click', async () => {
    const voucher = state.pendingVoucher;
    const named = state.pendingVoucherFor;
    $('redeem-confirm').hidden = true;
    state.pendingVoucher = null;
    if (!voucher) return;
    const now = active();
    if (!named || !now || now.subject !== named.subject || now.issuer !== named.issuer) {
      showError({ code: 'cancelled', message: 'The account changed since the voucher was shown; nothing was redeemed. Open the voucher again to redeem it into this account.' });
      return;
    }
    try {
      const r = await api.walletRedeem(voucher, named.issuer, named.subject);
      voucherInput.value = '';
      // The credit service could not be reached: checked here and queued, not counted yet.
      if ('queued' in r) notice(`The credit service can’t be reached right now, so this voucher for ${credits(r.credits)} credits will be redeemed when it can (at the next sync). It is not counted in your balance yet.`);
      else notice(`Redeemed ${credits(r.entry.amount)} credits.`);
      ui.changed?.();
      await refresh();
    } catch (e) { showError(e); }
  });
  $('load-more').addEventListener('click', () => loadHistory(false).catch(showError));
  $('export-csv').addEventListener('click', async () => {
    try { const path = await api.walletExportCsv(); $('export-result').textContent = `Saved to ${path}`; $('export-result').hidden = false; } catch (e) { showError(e); }
  });
  // ---------- buying credits (the service's checkout, paid in the browser) ----------
  /** @type {number | undefined} */
  let buyTimer;
  $('buy-credits').addEventListener('click', async () => {
    clearError();
    const buy = /** @type {HTMLButtonElement} */ ($('buy-credits'));
    buy.disabled = true;
    try {
      const packs = await api.creditsPacks();
      const list = $('buy-pack-list');
      list.replaceChildren();
      for (const p of packs) {
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.testid = `buy-pack-${p.id}`;
        const price = `${grouped(p.amount / 100, 2)} ${p.currency.toUpperCase()}`;
        b.textContent = `${p.label || p.id}: ${credits(p.credits)} credits for ${price}`;
        b.addEventListener('click', () => startBuying(p.id));
        list.append(b);
      }
      $('buy-packs').hidden = false;
      /** @type {HTMLButtonElement | null} */ (list.querySelector('button'))?.focus();
    } catch (e) { showError(e); } finally { buy.disabled = false; }
  });
  $('buy-close').addEventListener('click', () => { $('buy-packs').hidden = true; $('buy-credits').focus(); });

  /** @param {string} pack */
  async function startBuying(pack) {
    clearError();
    notice('');
    $('buy-packs').hidden = true;
    try {
      showBuying(await api.creditsBuy(pack));
      $('buy-cancel').focus();
    } catch (e) { showError(e); }
  }

  /** @param {PurchaseStarted} started */
  function showBuying(started) {
    state.buying = { ...started, deadline: Date.now() + started.remaining_secs * 1000 };
    state.buyCancelled = false;
    $('buy-waiting-text').textContent = started.browser_opened
      ? 'We opened the payment page in your browser. Latchkey shows your new balance as soon as the payment is confirmed.'
      : 'Your browser could not be opened. Copy the payment link below into your browser.';
    const link = /** @type {HTMLInputElement} */ ($('buy-link'));
    link.value = started.url;
    link.hidden = started.browser_opened;
    $('buy-link-label').hidden = started.browser_opened;
    $('buy-waiting').hidden = false;
    $('buy-credits').hidden = true;
    clearInterval(buyTimer);
    buyTimer = setInterval(buyTick, 1000);
    buyTick();
  }

  function buyTick() {
    const b = state.buying;
    if (!b) return;
    const left = Math.max(0, Math.ceil((b.deadline - Date.now()) / 1000));
    $('buy-remaining').textContent = `${Math.floor(left / 60)}:${String(left % 60).padStart(2, '0')}`;
  }

  function endBuying() {
    state.buying = null;
    clearInterval(buyTimer);
    $('buy-waiting').hidden = true;
    $('buy-credits').hidden = !state.service;
  }

  /** After a reload or on focus: the purchase still waiting, if any. */
  async function recheckBuying() {
    if (!state.service) return;
    try {
      const pending = await api.creditsPending();
      if (pending && !state.buying) showBuying(pending);
      else if (!pending && state.buying) { endBuying(); await refresh(); }
    } catch (e) { showError(e); }
  }

  $('buy-cancel').addEventListener('click', () => { state.buyCancelled = true; api.creditsCancel().catch(showError); });
  $('buy-open-again').addEventListener('click', () => api.creditsOpenAgain().then(() => notice('Opened the payment page again.')).catch(showError));
  $('buy-copy-link').addEventListener('click', async () => {
    const link = /** @type {HTMLInputElement} */ ($('buy-link'));
    link.hidden = false;
    $('buy-link-label').hidden = false;
    link.focus();
    link.select();
    try { await navigator.clipboard.writeText(link.value); notice('Payment link copied. Paste it into the browser you want to use.'); } catch { notice('Select the link and copy it (Ctrl+C).'); }
  });

  api.onPurchased(async (done) => {
    endBuying();
    clearError();
    notice(`Bought ${credits(done.pack.credits)} credits. Available now: ${credits(done.balance.available)}.`);
    ui.changed?.();
    renderBalance({ ...done.balance, stale: false, as_of: null, service: true });
    await refresh();
  });
  api.onPurchaseFailed((err) => {
    const mine = state.buyCancelled;
    endBuying();
    if (mine && err.code === 'purchase_not_completed') notice('Purchase cancelled here. If you paid anyway, your credits still arrive.');
    else showError(err);
  });
  // The service's "Back to Latchkey" link after paying: the shell brought the window
  // forward; show the balance now (a waiting purchase also learns it by asking the service).
  api.onPurchaseLink(() => { void refresh(); });

  return { refresh, show, askRedeem, recheckBuying, redrawHistory: renderHistory };
}

return { initWallet };
})();
