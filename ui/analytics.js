// @ts-check
// The analytics half of the UI: datasets (import: the file sent in pieces, what was detected
// shown for the user to correct a type, the date order or the decimal mark; rename, delete), a
// profile and paged rows, the run form (the price shown before running, Cancel while it runs),
// saved results, and a result's chart (uPlot, vendored in ui/vendor/ by `make npm`) with its
// numbers in a table, exported as CSV, PNG or SVG. Talks to the shell only through api.js;
// text from files is set with textContent only. A classic script, loaded before app.js, which
// calls `initAnalytics`.
const latchkeyAnalytics = (() => {
'use strict';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {string} id */
const $select = (id) => /** @type {HTMLSelectElement} */ (document.getElementById(id));

/**
 * Numbers as en-US writes them, by hand (see wallet.js: Intl would load ICU's locale data).
 * @param {number | null | undefined} x
 * @param {number} [decimals] Default: up to 2, none for whole numbers.
 */
function fmt(x, decimals) {
  if (x === null || x === undefined || Number.isNaN(x)) return '–';
  const d = decimals ?? (Number.isInteger(x) ? 0 : 2);
  const [int, frac] = Math.abs(x).toFixed(d).split('.');
  const sign = x < 0 && Number(Math.abs(x).toFixed(d)) !== 0 ? '−' : '';
  return sign + int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? `.${frac}` : '');
}
/** @param {number | null} x A share (0..1) as a percentage. */
const pct = (x) => (x === null ? '–' : `${fmt(x * 100, 1)} %`);
/** @param {number} secs */
const when = (secs) => new Date(secs * 1000).toISOString().slice(0, 16).replace('T', ' ');

/**
 * A new element with text.
 * @param {string} tag
 * @param {string} [text]
 * @param {string} [cls]
 */
function el(tag, text, cls) {
  const n = document.createElement(tag);
  if (text !== undefined) n.textContent = text;
  if (cls) n.className = cls;
  return n;
}

/** @type {Record<string, string>} */
const KIND_NAME = { timeseries: 'Time series', breakdown: 'Breakdown', compare: 'Comparison', trend: 'Trend' };
/** @type {Record<string, string>} */
const TYPE_NAME = { date: 'date', date_time: 'date and time', number: 'number', category: 'category', text: 'text' };

/**
 * What a result's parameters ask, in words: "sum of precipitation per month, split by weather".
 * @param {any} p
 * @param {string} kind
 */
function describe(p, kind) {
  const what = p.measure ? `${p.agg || 'sum'} of ${p.measure}` : 'row count';
  if (kind === 'breakdown') return `${what} by ${p.by}`;
  if (kind === 'compare') return `${what}, this ${p.period || 'month'} against the last${p.by ? `, by ${p.by}` : ''}`;
  const per = `${what} per ${p.by || 'month'}`;
  return kind === 'timeseries' && p.split ? `${per}, split by ${p.split}` : per;
}

// ---------- charts: one description, drawn by uPlot on screen and as SVG for export ----------

/**
 * @typedef {object} ChartSeries
 * @property {string} name
 * @property {(number | null)[]} values
 * @property {'line' | 'bar' | 'points'} mark
 * @property {boolean} [dashed]
 * @property {number} [slot] Bars side by side: -1 left, 1 right, 0 centred.
 */
/**
 * @typedef {object} Chart
 * @property {string[]} labels One per x position.
 * @property {ChartSeries[]} series
 * @property {boolean} stacked Bars stacked (a split time series).
 * @property {string} xTitle
 * @property {string} yTitle
 * @property {string} text The text alternative.
 */

// Colour-blind-safe hues (Tableau 10) that read on both the light and the dark background;
// "other" in grey.
const PALETTE = ['#4e79a7', '#f28e2b', '#e15759', '#59a14f', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7'];
/**
 * @param {ChartSeries} s
 * @param {number} i
 */
const colour = (s, i) => (s.name === 'other' ? '#9c9c9c' : PALETTE[i % PALETTE.length]);

/**
 * @param {AnalysisResult} r
 * @returns {Chart}
 */
function chartOf(r) {
  const measure = r.params.measure ? `${r.params.agg || 'sum'} of ${r.params.measure}` : 'rows';
  if (r.kind === 'timeseries') {
    const labels = r.periods.map((p) => p.label);
    const split = !!r.params.split;
    const negative = r.series.some((s) => s.values.some((v) => v !== null && v < 0));
    // Stacked bars for a split (parts of a whole); lines when a part can be negative or for
    // one series (with its rolling average).
    const stacked = split && !negative && r.params.agg !== 'mean' && r.params.agg !== 'min' && r.params.agg !== 'max';
    /** @type {ChartSeries[]} */
    const series = r.series.map((s) => ({ name: s.name, values: s.values, mark: stacked ? 'bar' : 'line' }));
    if (!split && r.series[0] && r.series[0].rolling.length) {
      series.push({ name: `${r.params.window}-period average`, values: r.series[0].rolling, mark: 'line', dashed: true });
    }
    const parts = split ? `, one ${stacked ? 'stacked bar part' : 'line'} per ${r.params.split}` : '';
    return {
      labels, series, stacked, xTitle: r.params.by || 'month', yTitle: measure,
      text: `${measure} per ${r.params.by} from ${labels[0]} to ${labels[labels.length - 1]}${parts}. The numbers are in the table below.`,
    };
  }
  if (r.kind === 'breakdown') {
    return {
      labels: r.rows.map((x) => x.category),
      series: [{ name: measure, values: r.rows.map((x) => x.value), mark: 'bar' }],
      stacked: false, xTitle: r.params.by, yTitle: measure,
      text: `${measure} per ${r.params.by}, largest first: ${r.rows.slice(0, 3).map((x) => `${x.category} ${fmt(x.value)}`).join(', ')}${r.rows.length > 3 ? '…' : ''}.`,
    };
  }
  if (r.kind === 'compare') {
    const rows = r.rows.length ? r.rows : [r.total];
    return {
      labels: rows.map((x) => x.category ?? 'total'),
      series: [
        { name: r.previous.label, values: rows.map((x) => x.previous), mark: 'bar', slot: -1 },
        { name: r.current.label, values: rows.map((x) => x.current), mark: 'bar', slot: 1 },
      ],
      stacked: false, xTitle: r.params.by || 'total', yTitle: measure,
      text: `${measure}: ${r.current.label} ${fmt(r.total.current)} against ${r.previous.label} ${fmt(r.total.previous)} (${r.total.change_pct === null ? 'no % change' : `${fmt(r.total.change_pct, 1)} %`}).`,
    };
  }
  const n = r.periods.length;
  const future = r.forecast.map(([p]) => p.label);
  const pad = (/** @type {(number | null)[]} */ v) => v.concat(future.map(() => null));
  const outliers = r.periods.map((p, i) => (r.outliers.some((o) => o.period.label === p.label) ? r.values[i] : null));
  return {
    labels: r.periods.map((p) => p.label).concat(future),
    series: [
      { name: measure, values: pad(r.values), mark: 'line' },
      { name: `trend (${r.method})`, values: pad(r.fitted), mark: 'line', dashed: true },
      { name: 'forecast', values: Array(n).fill(null).concat(r.forecast.map(([, v]) => v)), mark: 'line', dashed: true },
      { name: 'outliers', values: pad(outliers), mark: 'points' },
    ],
    stacked: false, xTitle: r.params.by || 'month', yTitle: measure,
    text: `${measure} per ${r.params.by} with a ${r.method} trend, a forecast of ${future.length} periods and ${r.outliers.length} outlying period(s).`,
  };
}

/**
 * The values as drawn: stacked bars are cumulative, so each part sits on the ones before.
 * @param {Chart} c
 * @returns {(number | null)[][]}
 */
function drawnValues(c) {
  if (!c.stacked) return c.series.map((s) => s.values);
  const sums = c.labels.map(() => 0);
  return c.series.map((s) => s.values.map((v, i) => { sums[i] += v ?? 0; return sums[i]; }));
}

/** @param {string} name */
const cssVar = (name) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();

/**
 * Draws `c` with uPlot into `box`; returns the plot (null when uPlot is not there).
 * @param {Chart} c
 * @param {HTMLElement} box
 */
function drawUplot(c, box) {
  const uPlot = /** @type {any} */ (window).uPlot;
  if (!uPlot) return null;
  const drawn = drawnValues(c);
  const xs = c.labels.map((_, i) => i);
  const fg = cssVar('--muted') || '#5b6475';
  const grid = cssVar('--line') || '#d9deea';
  const bars = uPlot.paths && uPlot.paths.bars;
  const order = c.series.map((_, i) => i);
  // Stacked: the tallest (cumulative) part first, each shorter one drawn over it.
  if (c.stacked) order.reverse();
  const nBars = c.series.filter((s) => s.mark === 'bar').length;
  const series = order.map((i) => {
    const s = c.series[i];
    const stroke = colour(s, i);
    /** @type {Record<string, any>} */
    const o = { label: s.name, stroke, width: 2, value: (/** @type {any} */ _u, /** @type {any} */ _v, /** @type {any} */ _si, /** @type {number | null} */ idx) => (idx === null ? '–' : fmt(s.values[idx])) };
    if (s.mark === 'bar') {
      const size = nBars > 1 && !c.stacked ? 0.4 : 0.7;
      o.paths = bars({ size: [size, 80], align: s.slot || 0 });
      o.fill = stroke;
      o.points = { show: false };
    } else if (s.mark === 'points') {
      o.paths = () => null;
      o.points = { show: true, size: 10, stroke: '#e15759', fill: '#e15759' };
      o.stroke = '#e15759';
    } else {
      o.points = { show: c.labels.length < 40 };
      if (s.dashed) o.dash = [6, 4];
    }
    return o;
  });
  const opts = {
    width: Math.max(box.clientWidth, 280),
    height: 300,
    scales: { x: { time: false, range: () => [-0.6, c.labels.length - 0.4] } },
    axes: [
      {
        stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid },
        label: c.xTitle, labelFont: '12px sans-serif', font: '11px sans-serif',
        splits: () => xs,
        values: (/** @type {any} */ _u, /** @type {number[]} */ splits) => {
          const every = Math.ceil(splits.length / Math.max(1, Math.floor(box.clientWidth / 70)));
          return splits.map((i) => (Number.isInteger(i) && i % every === 0 ? c.labels[i] ?? '' : ''));
        },
      },
      {
        stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid },
        label: c.yTitle, labelFont: '12px sans-serif', font: '11px sans-serif', size: 60,
        values: (/** @type {any} */ _u, /** @type {number[]} */ ticks) => ticks.map((t) => fmt(t)),
      },
    ],
    series: /** @type {Record<string, any>[]} */ ([{ label: c.xTitle, value: (/** @type {any} */ _u, /** @type {number | null} */ i) => (i === null ? '–' : c.labels[i] ?? '') }]).concat(series),
    legend: { live: true },
  };
  const data = /** @type {(number | null)[][]} */ ([xs]).concat(order.map((i) => drawn[i]));
  return new uPlot(opts, data, box);
}

/**
 * The chart as a standalone SVG document (export, and the picture when uPlot is missing).
 * Light colours always: an exported file is read outside the app.
 * @param {Chart} c
 * @param {string} title
 */
function svgOf(c, title) {
  const W = 800, H = 420, L = 70, R = 20, T = 60, B = 60;
  const drawn = drawnValues(c);
  const all = drawn.flat().filter((v) => v !== null).map(Number);
  const bars = c.series.some((s) => s.mark === 'bar');
  let lo = Math.min(...all, bars ? 0 : Infinity), hi = Math.max(...all, bars ? 0 : -Infinity);
  if (!Number.isFinite(lo)) { lo = 0; hi = 1; }
  if (lo === hi) hi = lo + 1;
  const n = Math.max(c.labels.length, 1);
  const x = (/** @type {number} */ i) => L + ((i + 0.5) * (W - L - R)) / n;
  const y = (/** @type {number} */ v) => T + ((hi - v) * (H - T - B)) / (hi - lo);
  const esc = (/** @type {string} */ s) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
  /** @type {string[]} */
  const out = [`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<title>${esc(title)}</title><desc>${esc(c.text)}</desc>`,
    `<rect width="${W}" height="${H}" fill="#ffffff"/>`,
    `<text x="${L}" y="20" font-size="14" fill="#1d2330">${esc(title)}</text>`];
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    out.push(`<line x1="${L}" x2="${W - R}" y1="${y(v)}" y2="${y(v)}" stroke="#d9deea"/>`,
      `<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" fill="#5b6475">${esc(fmt(v))}</text>`);
  }
  const every = Math.ceil(n / 12);
  c.labels.forEach((lab, i) => {
    if (i % every === 0) out.push(`<text x="${x(i)}" y="${H - B + 16}" text-anchor="middle" fill="#5b6475">${esc(lab)}</text>`);
  });
  out.push(`<text x="${(L + W - R) / 2}" y="${H - 12}" text-anchor="middle" fill="#5b6475">${esc(c.xTitle)}</text>`,
    `<text transform="translate(14 ${(T + H - B) / 2}) rotate(-90)" text-anchor="middle" fill="#5b6475">${esc(c.yTitle)}</text>`);
  const nBars = c.series.filter((s) => s.mark === 'bar').length;
  const order = c.series.map((_, i) => i);
  if (c.stacked) order.reverse();
  for (const si of order) {
    const s = c.series[si];
    const col = colour(s, si);
    const vals = drawn[si];
    if (s.mark === 'bar') {
      const bw = ((W - L - R) / n) * (nBars > 1 && !c.stacked ? 0.4 : 0.7);
      vals.forEach((v, i) => {
        if (v === null) return;
        const x0 = x(i) - bw / 2 + ((s.slot || 0) * bw) / 2;
        const top = Math.min(y(v), y(0)), h = Math.abs(y(v) - y(0));
        out.push(`<rect x="${x0.toFixed(1)}" y="${top.toFixed(1)}" width="${bw.toFixed(1)}" height="${h.toFixed(1)}" fill="${col}"/>`);
      });
    } else if (s.mark === 'points') {
      vals.forEach((v, i) => { if (v !== null) out.push(`<circle cx="${x(i)}" cy="${y(v)}" r="5" fill="${col}"/>`); });
    } else {
      let d = '';
      vals.forEach((v, i) => { if (v !== null) d += `${d && vals[i - 1] !== null ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`; });
      if (d) out.push(`<path d="${d}" fill="none" stroke="${col}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6 4"' : ''}/>`);
    }
  }
  c.series.forEach((s, i) => {
    const lx = L + (i % 4) * 180, ly = 36 + Math.floor(i / 4) * 14;
    out.push(`<rect x="${lx}" y="${ly - 9}" width="10" height="10" fill="${colour(s, i)}"/>`, `<text x="${lx + 14}" y="${ly}" fill="#1d2330">${esc(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('');
}

/**
 * The numbers of a result as a table: header, rows, which columns are numeric.
 * @param {AnalysisResult} r
 * @returns {{caption: string, head: string[], rows: string[][]}}
 */
function tableOf(r) {
  if (r.kind === 'timeseries') {
    const split = !!r.params.split;
    const rolling = !split && r.series[0] && r.series[0].rolling.length ? r.series[0].rolling : null;
    const head = ['Period'].concat(r.series.map((s) => s.name), rolling ? [`${r.params.window}-period average`] : [], split ? ['Total'] : []);
    const rows = r.periods.map((p, i) => {
      const vals = r.series.map((s) => s.values[i]);
      const cells = [p.label].concat(vals.map((v) => fmt(v)));
      if (rolling) cells.push(fmt(rolling[i]));
      if (split) cells.push(fmt(vals.reduce((/** @type {number} */ a, v) => a + (v ?? 0), 0)));
      return cells;
    });
    return { caption: `${describe(r.params, r.kind)}${r.skipped_rows ? ` (${fmt(r.skipped_rows)} rows without a date left out)` : ''}`, head, rows };
  }
  if (r.kind === 'breakdown') {
    return {
      caption: `${describe(r.params, r.kind)}; total ${fmt(r.total)}`,
      head: ['Category', 'Value', 'Rows', 'Share'],
      rows: r.rows.map((x) => [x.category, fmt(x.value), fmt(x.count), pct(x.share)]),
    };
  }
  if (r.kind === 'compare') {
    const line = (/** @type {Change} */ x) => [x.category ?? 'Total', fmt(x.previous), fmt(x.current), fmt(x.change), x.change_pct === null ? '–' : `${fmt(x.change_pct, 1)} %`];
    return {
      caption: describe(r.params, r.kind),
      head: ['', r.previous.label, r.current.label, 'Change', 'Change in %'],
      rows: r.rows.map(line).concat([line(r.total)]),
    };
  }
  const rows = r.periods.map((p, i) => {
    const o = r.outliers.find((x) => x.period.label === p.label);
    return [p.label, fmt(r.values[i]), fmt(r.fitted[i]), '', o ? `outlier (z ${fmt(o.z, 1)})` : ''];
  }).concat(r.forecast.map(([p, v]) => [p.label, '', '', fmt(v), 'forecast']));
  return { caption: `${describe(r.params, r.kind)}; ${r.method}${r.slope === null ? '' : `, ${fmt(r.slope)} per ${r.params.by}`}`, head: ['Period', 'Value', 'Trend', 'Forecast', 'Note'], rows };
}

/**
 * What the analytics screens need from app.js.
 * @typedef {object} AnalyticsUi
 * @property {typeof latchkeyApi} api
 * @property {(err: unknown) => void} showError
 * @property {() => void} clearError
 * @property {(text: string) => void} notice
 * @property {() => Account | null} active
 * @property {() => Promise<void>} balanceChanged Refreshes the credits card.
 */

/**
 * Wires the analytics cards.
 * @param {AnalyticsUi} ui
 */
function initAnalytics(ui) {
  const { api, showError, clearError, notice, active, balanceChanged } = ui;
  const PAGE = 50;
  const state = {
    /** @type {string | null} Whose data is shown (issuer + subject). */
    account: null,
    /** @type {Dataset[]} */
    datasets: [],
    /** @type {Dataset | null} */
    dataset: null,
    offset: 0,
    /** @type {string | null} The running analysis' ticket. */
    running: null,
    /** @type {SavedResult | null} */
    result: null,
    /** @type {any} */
    plot: null,
  };

  async function refresh() {
    if (!active()) return;
    try {
      const [datasets, results] = await Promise.all([api.datasetList(), api.analysisResults(null)]);
      state.datasets = datasets;
      renderDatasets();
      renderResults(results);
      if (state.dataset && !datasets.some((d) => d.id === state.dataset?.id)) closeDataset();
    } catch (e) { showError(e); }
  }

  /**
   * Called on every render of the signed-in screen: reloads when the account changed.
   * @param {Account} a
   */
  function shown(a) {
    const key = `${a.issuer} ${a.subject}`;
    if (key === state.account) return;
    state.account = key;
    closeDataset();
    closeImport();
    $('result-view').hidden = true;
    refresh();
  }

  function renderDatasets() {
    const body = $('datasets');
    body.replaceChildren();
    for (const d of state.datasets) {
      const tr = el('tr');
      const name = el('th');
      name.setAttribute('scope', 'row');
      name.textContent = d.name;
      const cols = d.columns.map((c) => c.name).join(', ');
      const open = el('button', 'Open');
      open.setAttribute('type', 'button');
      open.className = 'quiet';
      open.dataset.testid = `dataset-open-${d.id}`;
      open.setAttribute('aria-label', `Open ${d.name}`);
      open.addEventListener('click', () => openDataset(d.id));
      const act = el('td');
      act.append(open);
      tr.append(name, el('td', fmt(d.rows), 'num'), el('td', cols), act);
      body.append(tr);
    }
    $('datasets-empty').hidden = state.datasets.length > 0;
  }

  /** @param {SavedResult[]} results */
  function renderResults(results) {
    const body = $('results');
    body.replaceChildren();
    for (const r of results) {
      const d = state.datasets.find((x) => x.id === r.dataset_id);
      const tr = el('tr');
      const open = el('button', 'Open');
      open.setAttribute('type', 'button');
      open.className = 'quiet';
      open.dataset.testid = `result-open-${r.id}`;
      open.setAttribute('aria-label', `Open result ${r.id}`);
      open.addEventListener('click', () => openResult(r.id));
      const act = el('td');
      act.append(open);
      tr.append(el('td', when(r.created_at)), el('td', d ? d.name : `#${r.dataset_id}`),
        el('td', `${KIND_NAME[r.kind] || r.kind}: ${describe(r.params, r.kind)}`), el('td', fmt(r.cost), 'num'), act);
      body.append(tr);
    }
    $('results-empty').hidden = results.length > 0;
  }

  function closeDataset() {
    state.dataset = null;
    $('dataset-view').hidden = true;
  }

  /** @param {number} id */
  async function openDataset(id) {
    clearError();
    const d = state.datasets.find((x) => x.id === id);
    if (!d) return;
    state.dataset = d;
    state.offset = 0;
    $('dataset-title').textContent = d.name;
    $('dataset-facts').textContent = `${fmt(d.rows)} rows from ${d.source_name} (${fmt(d.bytes)} bytes, ${d.encoding.replace('_', ' ')}, “${d.delimiter === '\t' ? 'tab' : d.delimiter}” between values), imported ${when(d.created_at)} UTC.`;
    $('dataset-rename-form').hidden = true;
    $('dataset-delete-confirm').hidden = true;
    fillForm(d);
    $('dataset-view').hidden = false;
    try {
      const [profile] = await Promise.all([api.datasetProfile(id), loadPage()]);
      renderProfile(profile);
      await showPrice();
    } catch (e) { showError(e); }
    $('dataset-title').focus();
  }

  /** @param {Profile} p */
  function renderProfile(p) {
    const body = $('profile');
    body.replaceChildren();
    for (const c of p.columns) {
      let summary = '';
      const k = c.column.kind;
      if (k === 'number') summary = `min ${fmt(c.min)}, max ${fmt(c.max)}, mean ${fmt(c.mean)}, median ${fmt(c.median)}`;
      else if (k === 'date' || k === 'date_time') summary = `${c.first ?? '–'} to ${c.last ?? '–'}`;
      else if (k === 'category') summary = c.top.slice(0, 5).map(([v, n]) => `${v} (${fmt(n)})`).join(', ');
      const tr = el('tr');
      const th = el('th', c.column.name);
      th.setAttribute('scope', 'row');
      tr.append(th, el('td', TYPE_NAME[k] || k), el('td', fmt(c.missing), 'num'), el('td', fmt(c.distinct), 'num'), el('td', summary));
      body.append(tr);
    }
  }

  async function loadPage() {
    const d = state.dataset;
    if (!d) return;
    const page = await api.datasetPreview(d.id, state.offset, PAGE);
    const head = $('preview-head');
    const hr = el('tr');
    for (const c of page.columns) { const th = el('th', c); th.setAttribute('scope', 'col'); hr.append(th); }
    head.replaceChildren(hr);
    const body = $('preview');
    body.replaceChildren();
    for (const row of page.rows) {
      const tr = el('tr');
      for (const v of row) tr.append(typeof v === 'number' ? el('td', fmt(v), 'num') : el('td', v ?? ''));
      body.append(tr);
    }
    const last = page.offset + page.rows.length;
    $('preview-where').textContent = page.rows.length ? `Rows ${fmt(page.offset + 1)}–${fmt(last)} of ${fmt(page.total_rows)}` : 'No rows';
    /** @type {HTMLButtonElement} */ ($('preview-prev')).disabled = page.offset === 0;
    /** @type {HTMLButtonElement} */ ($('preview-next')).disabled = last >= page.total_rows;
  }

  /**
   * The run form's choices from the dataset's columns.
   * @param {Dataset} d
   */
  function fillForm(d) {
    /**
     * @param {string} id
     * @param {[string, string][]} options
     */
    const fill = (id, options) => {
      const sel = $select(id);
      const keep = sel.value;
      sel.replaceChildren(...options.map(([value, label]) => { const o = el('option', label); /** @type {HTMLOptionElement} */ (o).value = value; return o; }));
      if (options.some(([v]) => v === keep)) sel.value = keep;
    };
    const numbers = d.columns.filter((c) => c.kind === 'number').map((c) => /** @type {[string, string]} */ ([c.name, c.name]));
    const cats = d.columns.filter((c) => c.kind === 'category' || c.kind === 'text').map((c) => /** @type {[string, string]} */ ([c.name, c.name]));
    fill('run-measure', numbers.concat([['', '(count rows)']]));
    fill('run-split', /** @type {[string, string][]} */ ([['', '(none)']]).concat(cats));
    formKind();
  }

  /** Shows the fields the chosen kind takes. */
  function formKind() {
    const kind = $select('run-kind').value;
    const per = kind === 'timeseries' || kind === 'trend' || kind === 'compare';
    const split = kind !== 'trend';
    $('run-by').hidden = !per; $('run-by-label').hidden = !per;
    $('run-split').hidden = !split; $('run-split-label').hidden = !split;
    $('run-split-label').textContent = kind === 'breakdown' ? 'By category' : kind === 'compare' ? 'Per category' : 'Split by';
    $('run-by-label').textContent = kind === 'compare' ? 'Compare the last' : 'Per';
  }

  /** @returns {AnalysisSpec} */
  function spec() {
    const kind = /** @type {AnalysisKind} */ ($select('run-kind').value);
    const measure = $select('run-measure').value || null;
    const agg = /** @type {Agg} */ (measure ? $select('run-agg').value : 'count');
    const by = /** @type {PeriodName} */ ($select('run-by').value);
    const split = $select('run-split').value || null;
    if (kind === 'breakdown') return { kind, measure, agg, by: /** @type {any} */ (split), top: 10 };
    if (kind === 'compare') return { kind, measure, agg, period: by === 'year' ? 'year' : 'month', by: /** @type {any} */ (split) };
    if (kind === 'trend') return { kind, measure, agg, by };
    return { kind, measure, agg, by, split };
  }

  async function showPrice() {
    const kind = /** @type {AnalysisKind} */ ($select('run-kind').value);
    try {
      const [price, balance] = await Promise.all([api.analysisPrice(kind), api.walletBalance()]);
      $('run-price').textContent = `This analysis costs ${fmt(price)} credit${price === 1 ? '' : 's'}; you have ${fmt(balance.available)} available. Held when it starts, paid only when the result is saved.`;
      $('run-go').textContent = `Run for ${fmt(price)} credit${price === 1 ? '' : 's'}`;
    } catch (e) { showError(e); }
  }

  /** @param {number} id */
  async function openResult(id) {
    clearError();
    try {
      const saved = await api.analysisResult(id);
      showResult(saved);
      $('result-title').focus();
    } catch (e) { showError(e); }
  }

  /** @param {SavedResult} saved */
  function showResult(saved) {
    const r = saved.result;
    if (!r) return;
    state.result = saved;
    const d = state.datasets.find((x) => x.id === saved.dataset_id);
    $('result-title').textContent = `${KIND_NAME[saved.kind] || saved.kind} of ${d ? d.name : `dataset ${saved.dataset_id}`}`;
    $('result-facts').textContent = `${describe(saved.params, saved.kind)}. Run ${when(saved.created_at)} UTC for ${fmt(saved.cost)} credit${saved.cost === 1 ? '' : 's'}; opening it again is free.`;
    $('export-result-path').hidden = true;
    $('result-view').hidden = false;
    drawChart();
    const t = tableOf(r);
    $('result-table-caption').textContent = t.caption;
    const hr = el('tr');
    t.head.forEach((h, i) => { const th = el('th', h, i ? 'num' : ''); th.setAttribute('scope', 'col'); hr.append(th); });
    $('result-head').replaceChildren(hr);
    $('result-body').replaceChildren(...t.rows.map((row) => {
      const tr = el('tr');
      row.forEach((v, i) => {
        if (i === 0) { const th = el('th', v); th.setAttribute('scope', 'row'); tr.append(th); } else tr.append(el('td', v, 'num'));
      });
      return tr;
    }));
  }

  function drawChart() {
    const saved = state.result;
    const box = $('result-chart');
    if (state.plot) { state.plot.destroy(); state.plot = null; }
    box.replaceChildren();
    if (!saved || !saved.result) return;
    const c = chartOf(saved.result);
    $('result-chart-text').textContent = c.text;
    box.setAttribute('aria-label', c.text);
    state.plot = drawUplot(c, box);
    if (!state.plot) {
      // No uPlot (a build without `make npm`): the same chart as SVG, parsed as an image.
      const img = document.createElement('img');
      img.alt = '';
      img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgOf(c, $('result-title').textContent || ''))}`;
      img.className = 'chart-img';
      box.append(img);
    }
  }

  /**
   * @param {'png' | 'svg'} format
   * @returns {Promise<Uint8Array>}
   */
  async function chartBytes(format) {
    const saved = state.result;
    if (!saved || !saved.result) throw new Error('no result is open');
    const c = chartOf(saved.result);
    const title = $('result-title').textContent || '';
    if (format === 'svg') return new TextEncoder().encode(svgOf(c, title));
    const src = /** @type {HTMLCanvasElement | null} */ ($('result-chart').querySelector('canvas'));
    const canvas = document.createElement('canvas');
    const ctx = /** @type {CanvasRenderingContext2D} */ (canvas.getContext('2d'));
    if (src) {
      // On the page's own background, so the dark theme's light text stays readable.
      canvas.width = src.width; canvas.height = src.height;
      ctx.fillStyle = cssVar('--bg') || '#ffffff';
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.drawImage(src, 0, 0);
    } else {
      const img = new Image();
      img.src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(svgOf(c, title))}`;
      await img.decode();
      canvas.width = img.width; canvas.height = img.height;
      ctx.drawImage(img, 0, 0);
    }
    const blob = await new Promise((ok) => canvas.toBlob(ok, 'image/png'));
    if (!blob) throw new Error('the chart could not be turned into a PNG');
    return new Uint8Array(await /** @type {Blob} */ (blob).arrayBuffer());
  }

  /** @param {string} path */
  function saved(path) {
    $('export-result-path').textContent = `Saved to ${path}`;
    $('export-result-path').hidden = false;
  }

  // ---------- importing: the file in pieces, what was detected, the user's corrections ----------
  /** Bytes per piece of a file sent to the app: the app holds one piece at a time. */
  const CHUNK = 1 << 20;
  /** Rows of the file shown before importing it. */
  const SHOWN_ROWS = 10;
  /** @type {[ColumnKindName, string][]} */
  const KIND_CHOICES = [['date', 'date'], ['date_time', 'date and time'], ['number', 'number'], ['category', 'category'], ['text', 'text']];
  const imp = {
    /** @type {File | null} The file picked. */
    file: null,
    /** @type {string | null} The app's copy of it, while there is one (a refused import drops it). */
    upload: null,
    /** @type {Detection | null} */
    found: null,
    /** Moved on by Cancel and by a new pick: work for an older turn stops. */
    turn: 0,
  };
  const importGo = /** @type {HTMLButtonElement} */ ($('import-go'));

  /**
   * Sends `file` to the app piece by piece (never whole); the upload's id, or null when the
   * import was cancelled meanwhile (the app's copy is then dropped).
   * @param {File} file
   * @param {number} turn
   * @returns {Promise<string | null>}
   */
  async function upload(file, turn) {
    const id = await api.datasetUploadBegin(file.name, file.size);
    try {
      for (let offset = 0; offset < file.size && turn === imp.turn; offset += CHUNK) {
        const piece = new Uint8Array(await file.slice(offset, offset + CHUNK).arrayBuffer());
        const got = await api.datasetUploadChunk(id, offset, piece);
        if (file.size > CHUNK) $('import-facts').textContent = `Reading ${file.name}: ${Math.floor((got * 100) / file.size)} %…`;
      }
    } catch (e) {
      api.datasetUploadCancel(id).catch(() => {});
      throw e;
    }
    if (turn !== imp.turn) { api.datasetUploadCancel(id).catch(() => {}); return null; }
    return id;
  }

  /** @param {Detection} f */
  const factsOf = (f) => `${f.source_name}: ${fmt(f.rows)} rows and ${f.columns.length} columns (${fmt(f.bytes)} bytes, ${f.encoding.replace('_', ' ')}, ${f.delimiter === '\t' ? 'tab' : `“${f.delimiter}”`} between values, ${f.has_header ? 'column names in the first row' : 'no row of column names'}). Nothing is stored until you import it.`;

  /** The detected date order and decimal mark (what the selects start from). @param {Detection} f */
  function detected(f) {
    const date = f.columns.find((c) => c.date_order !== null);
    const number = f.columns.find((c) => c.decimal_mark !== null);
    return { order: date?.date_order ?? 'day_first', mark: number?.decimal_mark ?? 'point' };
  }

  /**
   * What the choices start from: the dataset as stored when this file was imported before
   * (perhaps with corrections), else the detection.
   * @param {Detection} f
   */
  function baseline(f) {
    const stored = f.existing;
    if (!stored) return { kinds: Object.fromEntries(f.columns.map((c) => [c.name, c.kind])), ...detected(f) };
    const date = stored.columns.find((c) => c.date_order !== null);
    const number = stored.columns.find((c) => c.decimal_mark !== null);
    return {
      kinds: Object.fromEntries(f.columns.map((c) => [c.name, stored.columns.find((s) => s.name === c.name)?.kind ?? c.kind])),
      order: date?.date_order ?? 'day_first',
      mark: number?.decimal_mark ?? 'point',
    };
  }

  /** @param {DetectedColumn} c */
  const typeSelect = (c) => $select(`import-type-${c.index}`);

  /** Whether the choices differ from where they started (see `baseline`). */
  function changed() {
    const f = imp.found;
    if (!f) return false;
    const b = baseline(f);
    return f.columns.some((c) => typeSelect(c).value !== b.kinds[c.name])
      || $select('import-date-order').value !== b.order
      || $select('import-decimal-mark').value !== b.mark;
  }

  /** @param {Detection} f */
  function renderDetection(f) {
    $('import-facts').textContent = factsOf(f);
    const start = baseline(f);
    const body = $('import-columns');
    body.replaceChildren();
    for (const c of f.columns) {
      const tr = el('tr');
      const th = el('th', c.name);
      th.setAttribute('scope', 'row');
      const sel = document.createElement('select');
      sel.id = `import-type-${c.index}`;
      sel.dataset.testid = `import-type-${c.index}`;
      sel.setAttribute('aria-label', `Type of ${c.name}`);
      sel.replaceChildren(...KIND_CHOICES.map(([value, label]) => { const o = /** @type {HTMLOptionElement} */ (el('option', label)); o.value = value; return o; }));
      sel.value = start.kinds[c.name];
      sel.addEventListener('change', choicesChanged);
      const td = el('td');
      td.append(sel);
      const example = el('td');
      example.id = `import-example-${c.index}`;
      tr.append(th, td, example);
      body.append(tr);
    }
    $select('import-date-order').value = start.order;
    $select('import-decimal-mark').value = start.mark;
    const hr = el('tr');
    for (const c of f.columns) { const th = el('th', c.name); th.setAttribute('scope', 'col'); hr.append(th); }
    $('import-preview-head').replaceChildren(hr);
    $('import-preview').replaceChildren(...f.preview.map((row) => { const tr = el('tr'); for (const v of row) tr.append(el('td', v)); return tr; }));
    const e = f.existing;
    $('import-existing').textContent = e ? `This file was imported before, as “${e.name}”, with the choices below. Change them to import it again over “${e.name}”: its rows are replaced; its name and saved results are kept.` : '';
    $('import-existing').hidden = !e;
    choicesChanged();
    $('import-details').hidden = false;
  }

  /** The corrections to send: what differs from the detection; null when nothing does. */
  function corrections() {
    const f = imp.found;
    if (!f) return null;
    /** @type {Corrections} */
    const out = {};
    /** @type {Record<string, ColumnKindName>} */
    const kinds = {};
    for (const c of f.columns) {
      const chosen = /** @type {ColumnKindName} */ (typeSelect(c).value);
      if (chosen !== c.kind) kinds[c.name] = chosen;
    }
    if (Object.keys(kinds).length) out.kinds = kinds;
    const { order, mark } = detected(f);
    const chosenOrder = /** @type {'day_first' | 'month_first'} */ ($select('import-date-order').value);
    if (chosenOrder !== order) out.date_order = chosenOrder;
    const chosenMark = /** @type {'point' | 'comma'} */ ($select('import-decimal-mark').value);
    if (chosenMark !== mark) out.decimal_mark = chosenMark;
    return Object.keys(out).length ? out : null;
  }

  /** Examples, the fields that apply and the button's words for the choices made. */
  function choicesChanged() {
    const f = imp.found;
    if (!f) return;
    const monthFirst = $select('import-date-order').value === 'month_first';
    let dates = false, numbers = false, either = false;
    for (const c of f.columns) {
      const kind = typeSelect(c).value;
      const temporal = kind === 'date' || kind === 'date_time';
      dates ||= temporal;
      numbers ||= kind === 'number';
      either ||= temporal && c.date_order_decided_by === 'default' && c.kind === kind;
      let example = c.sample ?? '–';
      if (temporal && c.sample && (c.sample_day_first || c.sample_month_first)) {
        const read = monthFirst ? c.sample_month_first : c.sample_day_first;
        example = `${c.sample} → ${read ?? 'not a date this way'}`;
      }
      $(`import-example-${c.index}`).textContent = example;
    }
    for (const id of ['import-date-order', 'import-date-order-label']) $(id).hidden = !dates;
    for (const id of ['import-decimal-mark', 'import-decimal-mark-label']) $(id).hidden = !numbers;
    $('import-order-note').textContent = either
      ? 'Every date in this file reads both ways (no day is over 12), so day first was assumed: choose month first if the file writes the month first.'
      : '';
    importGo.textContent = f.existing ? (changed() ? `Import again over “${f.existing.name}”` : `Open “${f.existing.name}”`) : 'Import';
  }

  /** @param {unknown} e */
  function importError(e) {
    const err = /** @type {any} */ (e);
    if (err && err.code === 'invalid_input' && typeof err.message === 'string') {
      $('import-error').textContent = err.message;
      $('import-error').hidden = false;
    } else showError(e);
  }

  /** Closes the check and drops the app's copy of the file. */
  function closeImport() {
    imp.turn += 1;
    if (imp.upload) api.datasetUploadCancel(imp.upload).catch(() => {});
    imp.upload = null;
    imp.found = null;
    imp.file = null;
    $('import-check').hidden = true;
  }

  $('dataset-import-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    clearError();
    const file = /** @type {HTMLInputElement} */ ($('dataset-file')).files?.[0];
    if (!file) { showError({ code: 'invalid_input', message: 'Pick a CSV or TSV file first.' }); return; }
    notice('');
    closeImport();
    const turn = imp.turn;
    imp.file = file;
    $('import-details').hidden = true;
    $('import-existing').hidden = true;
    $('import-error').hidden = true;
    importGo.disabled = true;
    importGo.textContent = 'Import';
    $('import-facts').textContent = `Reading ${file.name}…`;
    $('import-check').hidden = false;
    try {
      const id = await upload(file, turn);
      if (!id) return;
      imp.upload = id;
      const found = await api.datasetDetect(id, null, SHOWN_ROWS);
      if (turn !== imp.turn) return;
      imp.found = found;
      renderDetection(found);
      importGo.disabled = false;
      $('import-check-title').focus();
    } catch (e) {
      if (turn !== imp.turn) return;
      if (imp.upload) api.datasetUploadCancel(imp.upload).catch(() => {});
      imp.upload = null;
      $('import-facts').textContent = `${file.name} cannot be imported:`;
      importError(e);
    }
  });
  $('import-date-order').addEventListener('change', choicesChanged);
  $('import-decimal-mark').addEventListener('change', choicesChanged);
  $('import-cancel').addEventListener('click', () => {
    closeImport();
    notice('Import cancelled: nothing was stored.');
    $('dataset-file').focus();
  });
  $('import-check-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = imp.found, file = imp.file;
    if (!f || !file || importGo.disabled) return;
    const turn = imp.turn;
    $('import-error').hidden = true;
    importGo.disabled = true;
    // Imported before: unchanged, it is opened as it is; changed, imported again over it.
    const replace = f.existing && changed() ? f.existing.id : null;
    const fix = f.existing && !replace ? null : corrections();
    try {
      let id = imp.upload;
      imp.upload = null;
      // A refused import dropped the app's copy: the file is sent again.
      if (!id) id = await upload(file, turn);
      if (!id) return;
      $('import-facts').textContent = `Importing ${file.name}…`;
      const done = await api.datasetImport(id, null, fix, replace);
      if (turn !== imp.turn) return;
      closeImport();
      notice(done.existing
        ? `${file.name} was imported before, as “${done.dataset.name}”: nothing new was stored.`
        : `Imported ${fmt(done.dataset.rows)} rows from ${file.name}, free.`);
      await refresh();
      await openDataset(done.dataset.id);
    } catch (e) {
      if (turn !== imp.turn) return;
      $('import-facts').textContent = factsOf(f);
      importError(e);
      importGo.disabled = false;
    }
  });

  // ---------- events ----------
  $('preview-prev').addEventListener('click', () => { state.offset = Math.max(0, state.offset - PAGE); loadPage().catch(showError); });
  $('preview-next').addEventListener('click', () => { state.offset += PAGE; loadPage().catch(showError); });
  $('dataset-rename').addEventListener('click', () => {
    const input = /** @type {HTMLInputElement} */ ($('dataset-new-name'));
    input.value = state.dataset ? state.dataset.name : '';
    $('dataset-rename-form').hidden = false;
    input.focus();
  });
  $('dataset-rename-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const d = state.dataset;
    if (!d) return;
    try {
      const renamed = await api.datasetRename(d.id, /** @type {HTMLInputElement} */ ($('dataset-new-name')).value);
      $('dataset-rename-form').hidden = true;
      notice(`Renamed to “${renamed.name}”.`);
      await refresh();
      state.dataset = renamed;
      $('dataset-title').textContent = renamed.name;
    } catch (e) { showError(e); }
  });
  $('dataset-delete').addEventListener('click', () => {
    const d = state.dataset;
    if (!d) return;
    $('dataset-delete-text').textContent = `Delete “${d.name}” and its saved results from this computer? The file you imported is not touched.`;
    $('dataset-delete-confirm').hidden = false;
    $('dataset-delete-yes').focus();
  });
  $('dataset-delete-no').addEventListener('click', () => { $('dataset-delete-confirm').hidden = true; });
  $('dataset-delete-yes').addEventListener('click', async () => {
    const d = state.dataset;
    if (!d) return;
    try {
      await api.datasetDelete(d.id);
      notice(`Deleted “${d.name}”.`);
      closeDataset();
      if (state.result && state.result.dataset_id === d.id) $('result-view').hidden = true;
      await refresh();
    } catch (e) { showError(e); }
  });
  $('run-kind').addEventListener('change', () => { formKind(); showPrice(); });
  $('run-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const d = state.dataset;
    if (!d || state.running) return;
    clearError();
    const ticket = `run-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 10)}`;
    state.running = ticket;
    const go = /** @type {HTMLButtonElement} */ ($('run-go'));
    go.disabled = true;
    $('run-cancel').hidden = false;
    notice('Running… the credits are held until the result is saved.');
    try {
      const paid = await api.analysisRun(d.id, spec(), ticket);
      notice(`Done: ${fmt(paid.saved.cost)} credit${paid.saved.cost === 1 ? '' : 's'} paid; ${fmt(paid.balance.available)} left. The result is saved below.`);
      showResult(paid.saved);
      $('result-title').focus();
    } catch (e) {
      if (e && /** @type {any} */ (e).code === 'cancelled') notice('Cancelled: the held credits were given back and nothing was saved.');
      else showError(e);
    } finally {
      state.running = null;
      go.disabled = false;
      $('run-cancel').hidden = true;
      await Promise.all([refresh(), balanceChanged(), showPrice()]);
    }
  });
  $('run-cancel').addEventListener('click', () => {
    if (state.running) api.analysisCancel(state.running).catch(showError);
  });
  $('export-result-csv').addEventListener('click', async () => {
    if (!state.result) return;
    try { saved(await api.analysisExportCsv(state.result.id)); } catch (e) { showError(e); }
  });
  for (const format of /** @type {('png' | 'svg')[]} */ (['png', 'svg'])) {
    $(`export-result-${format}`).addEventListener('click', async () => {
      if (!state.result) return;
      try { saved(await api.analysisExportChart(state.result.id, format, await chartBytes(format))); } catch (e) { showError(e); }
    });
  }
  // Redrawn for a new width or colour scheme (uPlot draws on a canvas with fixed colours).
  /** @type {number | undefined} */
  let resizeTimer;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = window.setTimeout(() => { if (!$('result-view').hidden) drawChart(); }, 150); });
  window.matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { if (!$('result-view').hidden) drawChart(); });

  return { refresh, shown };
}

return { initAnalytics };
})();
