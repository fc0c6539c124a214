// The wallet half of the UI: credits, history, chart, CSV export, vouchers, paid analytics.
// Talks only to the app's own commands; text from outside is set with textContent only.
// A classic script (no modules: one less round trip before the first screen), loaded before
// app.js, which calls `latchkeyWallet.initWallet`.
window.latchkeyWallet = (() => {
'use strict';

const $ = (id) => document.getElementById(id);
// Numbers as en-US writes them ("-1,234", "1,234.50"), by hand: Intl.NumberFormat would load
// ICU's locale data into the page's process (about 2 MiB that stays).
function grouped(x, decimals) {
  const abs = Math.abs(x);
  // Rounds the digits as written (1.005 → 1.01), as Intl does, not the binary value.
  const rounded = /e/.test(String(abs)) ? abs : Number(`${Math.round(Number(`${abs}e${decimals}`))}e-${decimals}`);
  const [int, frac] = rounded.toFixed(decimals).split('.');
  const sign = x < 0 && rounded !== 0 ? '-' : '';
  return sign + int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? `.${frac}` : '');
}
const credits = (c) => grouped(c, 0);
const num = (x) => grouped(x, Number.isInteger(x) ? 0 : 2);

const KIND = { grant: 'Credits given', voucher: 'Voucher redeemed', spend: 'Spent', refund: 'Refund', reserve: 'Held', capture: 'Paid from hold', release: 'Hold released', expire: 'Hold expired' };

/** Wires the wallet card; `ui` gives the shell's helpers. */
function initWallet(ui) {
  const { invoke, showError, clearError, notice, active } = ui;
  const state = { cursor: null, entries: [], pendingVoucher: null };

  async function refresh() {
    if (!active()) return;
    try {
      // Both at once: every round trip to the shell delays the screen.
      const [b] = await Promise.all([invoke('wallet_balance'), loadHistory(true)]);
      renderBalance(b);
    } catch (e) {
      showError(e);
    }
  }

  /** The wallet as `app_startup` gives it: `{balance, history}` (the newest page). */
  function show(view) {
    state.entries = view.history.entries;
    state.cursor = view.history.next_cursor;
    renderHistory();
    renderBalance(view.balance);
  }

  function setCost(n) {
    $('analytics-cost').textContent = credits(n);
  }

  function renderBalance(b) {
    $('balance-available').textContent = credits(b.available);
    $('balance-held').textContent = credits(b.held);
  }

  async function loadHistory(reset) {
    if (reset) { state.cursor = null; state.entries = []; }
    const page = await invoke('wallet_history', { cursor: state.cursor, limit: 20 });
    state.entries = state.entries.concat(page.entries);
    state.cursor = page.next_cursor;
    renderHistory();
  }

  function renderHistory() {
    const body = $('history');
    body.replaceChildren();
    for (const e of state.entries) {
      const tr = document.createElement('tr');
      const sign = ['spend', 'reserve', 'capture'].includes(e.kind) ? '−' : '+';
      for (const [text, cls] of [
        [e.created_at.replace('T', ' ').replace(/\.\d+Z$|Z$/, ''), ''],
        [KIND[e.kind] || e.kind, ''],
        [`${sign}${credits(e.amount)}`, 'num'],
        [credits(e.available_after), 'num'],
        [e.memo || '', ''],
      ]) {
        const td = document.createElement('td');
        td.textContent = text;
        if (cls) td.className = cls;
        tr.append(td);
      }
      body.append(tr);
    }
    $('history-empty').hidden = state.entries.length > 0;
    $('load-more').hidden = !state.cursor;
    renderBalanceChart();
  }

  // Charts: hand-drawn SVG, each with a text alternative.
  const SVG = 'http://www.w3.org/2000/svg';
  function el(name, attrs, text) {
    const n = document.createElementNS(SVG, name);
    for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, String(v));
    if (text !== undefined) n.textContent = text;
    return n;
  }

  function renderBalanceChart() {
    const svg = $('balance-chart');
    svg.replaceChildren();
    const points = state.entries.slice().reverse().map((e) => e.available_after);
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

  function renderAnalytics(run) {
    const r = run.report;
    const rows = [['Rows', credits(r.rows)], ['Sum', num(r.sum)], ['Mean', num(r.mean)], ['Min', num(r.min)], ['Max', num(r.max)]];
    const body = $('analytics-summary');
    body.replaceChildren();
    for (const [k, v] of rows) {
      const tr = document.createElement('tr');
      const th = document.createElement('th'); th.scope = 'row'; th.textContent = k;
      const td = document.createElement('td'); td.className = 'num'; td.textContent = v;
      tr.append(th, td); body.append(tr);
    }
    const svg = $('analytics-chart');
    svg.replaceChildren();
    const months = r.months;
    const max = Math.max(...months.map((m) => Math.abs(m.total)), 1e-9);
    const w = 300, h = 110, x0 = 20, bw = w / months.length;
    svg.append(el('line', { class: 'axis', x1: x0, y1: h + 5, x2: w + x0, y2: h + 5 }));
    months.forEach((m, i) => {
      const bh = (Math.abs(m.total) / max) * h;
      svg.append(el('rect', { class: 'bar', x: x0 + i * bw + 2, y: 5 + h - bh, width: Math.max(bw - 4, 1), height: bh }));
      if (months.length <= 12) svg.append(el('text', { x: x0 + i * bw + 2, y: h + 16 }, m.month));
    });
    $('analytics-chart-text').textContent = 'Totals per month: ' + months.map((m) => `${m.month} ${num(m.total)}`).join(', ') + '.';
    $('analytics-result').hidden = false;
  }

  /** Asks before redeeming `voucher` (typed, pasted, or from a latchkey://redeem link). */
  async function askRedeem(voucher) {
    clearError();
    if (!active()) {
      showError({ code: 'not_signed_in', message: 'Sign in first, then open the voucher link again.' });
      return;
    }
    try {
      const v = await invoke('wallet_voucher_preview', { voucher });
      state.pendingVoucher = voucher;
      $('redeem-confirm-text').textContent = `Redeem a voucher for ${credits(v.credits)} credits into ${active().email || 'this account'}?`;
      $('redeem-confirm').hidden = false;
      $('redeem-yes').focus();
    } catch (e) { showError(e); }
  }

  $('redeem-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const v = $('voucher-input').value.trim();
    if (v) askRedeem(v);
  });
  $('redeem-no').addEventListener('click', () => { state.pendingVoucher = null; $('redeem-confirm').hidden = true; });
  $('redeem-yes').addEventListener('click', async () => {
    const voucher = state.pendingVoucher;
    $('redeem-confirm').hidden = true;
    state.pendingVoucher = null;
    try {
      const r = await invoke('wallet_redeem', { voucher });
      $('voucher-input').value = '';
      notice(`Redeemed ${credits(r.entry.amount)} credits.`);
      await refresh();
    } catch (e) { showError(e); }
  });
  $('load-more').addEventListener('click', () => loadHistory(false).catch(showError));
  $('export-csv').addEventListener('click', async () => {
    try { const path = await invoke('wallet_export_csv'); $('export-result').textContent = `Saved to ${path}`; $('export-result').hidden = false; } catch (e) { showError(e); }
  });
  $('analytics-run').addEventListener('click', async () => {
    clearError();
    const file = $('analytics-file').files[0];
    if (!file) { showError({ code: 'invalid_input', message: 'Pick a CSV file first.' }); return; }
    $('analytics-run').disabled = true;
    try {
      const run = await invoke('analytics_run', { csv: await file.text() });
      renderAnalytics(run);
      notice(`Analytics done: ${credits(run.cost)} credit(s) used.`);
      await refresh();
    } catch (e) {
      showError(e);
      await refresh();
    } finally {
      $('analytics-run').disabled = false;
    }
  });

  return { refresh, show, setCost, askRedeem };
}

return { initWallet };
})();
