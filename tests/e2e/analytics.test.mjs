// Personal analytics in the real window (tauri-driver + WebKitWebDriver under Xvfb, the real
// provider, the real keychain): correct what an import detected (a column's type, the date
// order; a wrong correction refused naming its line and column, nothing imported), import
// vega-datasets' seattle-weather.csv through the file input, look at its profile and rows, see the price, run a paid monthly time series of
// precipitation split by weather, check the chart is drawn and the numbers against sums of the
// raw text, watch the balance drop, then restart offline and reopen the saved result for free.
// Screenshots: tests/artifacts/e2e/analytics/; with LATCHKEY_DOCS_PICTURE=1 the result's
// picture also goes to docs/analytics-result.png (the README shows it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startIdp, startDriver, machine, artifacts, repo } from './harness.mjs';

const SEATTLE = join(repo, 'crates/latchkey-analytics/tests/data/node_modules/vega-datasets/data/seattle-weather.csv');

let idp;
before(async () => { idp = await startIdp(); });
after(async () => { await idp?.stop(); });

/** Per month, the sum of precipitation on the days whose weather is `weather`, from the text. */
function monthly(weather) {
  const out = new Map();
  for (const line of readFileSync(SEATTLE, 'utf8').split('\n').slice(1)) {
    if (!line) continue;
    const f = line.split(',');
    const month = f[0].slice(0, 7);
    out.set(month, (out.get(month) ?? 0) + (f[5] === weather ? Number(f[1]) : 0));
  }
  return out;
}

/** As the window writes a number: en-US grouping, two decimals unless whole. */
const shown = (x) => {
  const [int, frac] = Math.abs(x).toFixed(Number.isInteger(x) ? 0 : 2).split('.');
  return (x < 0 ? '−' : '') + int.replace(/\B(?=(\d{3})+(?!\d))/g, ',') + (frac ? `.${frac}` : '');
};

/** Sets a <select> as a person would (the change event included). */
const choose = (s, id, value) => s.script(
  'const e = document.getElementById(arguments[0]); e.value = arguments[1]; e.dispatchEvent(new Event("change")); return e.value;',
  [id, value],
);

/** The result table as text cells: [header, ...rows]. */
const table = (s) => s.script(
  'return [...document.querySelectorAll("#result-table tr")].map((tr) => [...tr.children].map((c) => c.textContent));',
);

test('import seattle-weather, profile, pay for a split monthly series, reopen it offline for free', async () => {
  const shots = artifacts('analytics');
  const shot = (s, name) => s.screenshot(join(shots, name));
  const m = machine({ issuer: idp.issuer, login: 'wanda', wallet: '[wallet]\nwelcome_credits = 20\nanalytics_cost = 2\n' });
  // uPlot formats with the page's language, which WebKit takes from LANG; under LANG=C (CI)
  // `Intl` refuses "C" and uPlot cannot load (the window then draws the same chart as SVG).
  m.env.LANG = 'en_US.UTF-8';
  m.env.LANGUAGE = 'en_US';
  const driver = await startDriver(m.env);
  let s;
  try {
    s = await driver.open();
    await s.click('#sign-in-local');
    await s.waitForText('#account-email', 'wanda@example.test', { timeoutMs: 60000 });
    await s.waitForText('#balance-available', (t) => t === '20');

    // A file whose detection needs correcting: `code` looks like numbers but is a code, and
    // every date reads both ways (no day over 12), so day first is only assumed.
    const codes = join(m.dir, 'codes.csv');
    let text = 'day,code,amount\n';
    for (let d = 1; d <= 12; d++) text += `${String(d).padStart(2, '0')}/02/2026,${100 + (d % 3)},${d}.5\n`;
    writeFileSync(codes, text);
    /** Picks `path` in the file input, as a person does, and presses Import. */
    const pick = async (path) => {
      const input = await s.waitFor('#dataset-file');
      await s.script('document.getElementById("dataset-file").value = ""');
      await s.cmd('POST', `/element/${input}/value`, { text: path });
      await s.click('#dataset-import');
    };
    await pick(codes);
    await s.waitFor('#import-details', { what: 'what was detected' });
    await s.waitForText('#import-facts', (t) => t.includes('codes.csv: 12 rows and 3 columns'));
    const value = (id) => s.script('return document.getElementById(arguments[0]).value', [id]);
    assert.equal(await value('import-type-1'), 'number', '`code` was detected as a number');
    assert.equal(await value('import-date-order'), 'day_first');
    assert.match(await s.text('#import-order-note'), /reads both ways/);
    assert.equal(await s.text('#import-example-0'), '01/02/2026 → 2026-02-01');
    assert.equal(await s.text('#import-preview-table tbody tr:first-child td:first-child'), '01/02/2026', 'rows as written');
    await s.script('document.getElementById("import-check").scrollIntoView()');
    await shot(s, '00-detected.png');
    // A wrong correction: the day as a number. Refused with the line and column; nothing stored.
    await choose(s, 'import-type-0', 'number');
    await s.click('#import-go');
    const refused = await s.waitForText('#import-error', (t) => t.length > 0);
    assert.equal(refused, 'codes.csv: line 2, column 1 (day): `01/02/2026` is not a number; nothing imported');
    assert.equal(await s.script('return document.querySelectorAll("#datasets tr").length'), 0, 'nothing imported');
    // The right ones: the date back, `code` a category, month first (the file is sent again).
    await choose(s, 'import-type-0', 'date');
    await choose(s, 'import-type-1', 'category');
    await choose(s, 'import-date-order', 'month_first');
    assert.equal(await s.text('#import-example-0'), '01/02/2026 → 2026-01-02');
    await s.click('#import-go');
    await s.waitForText('#dataset-title', 'codes.csv');
    await s.waitForText('#notice', 'Imported 12 rows');
    assert.equal(await s.script('return document.getElementById("import-check").hidden'), true);
    const corrected = await s.waitForText('#profile-table', (t) => t.includes('code'));
    assert.match(corrected, /code\s*category/, 'the type chosen');
    await s.waitForText('#preview', (t) => t.includes('2026-'));
    const days = await s.script('return [...document.querySelectorAll("#preview tr")].map((tr) => tr.children[0].textContent)');
    assert.deepEqual(days, Array.from({ length: 12 }, (_, i) => `2026-${String(i + 1).padStart(2, '0')}-02`), 'DD/02/2026 read month first: the 2nd of each month');

    // The same file again: recognised, its stored choices shown; day first imports it again
    // over the dataset (its rows replaced, still one dataset).
    await pick(codes);
    await s.waitFor('#import-existing', { what: 'the earlier import named' });
    await s.waitForText('#import-go', 'Open “codes.csv”');
    assert.equal(await value('import-date-order'), 'month_first', 'as it was imported');
    assert.equal(await value('import-type-1'), 'category');
    await choose(s, 'import-date-order', 'day_first');
    assert.equal(await s.text('#import-go'), 'Import again over “codes.csv”');
    await s.click('#import-go');
    await s.waitForText('#notice', 'Imported 12 rows');
    await s.waitForText('#preview', (t) => t.includes('2026-02-12'));
    const dayFirst = await s.script('return [...document.querySelectorAll("#preview tr")].map((tr) => tr.children[0].textContent)');
    assert.deepEqual(dayFirst, Array.from({ length: 12 }, (_, i) => `2026-02-${String(i + 1).padStart(2, '0')}`), 'read day first now: 1 to 12 February');
    assert.equal(await s.script('return document.querySelectorAll("#datasets tr").length'), 1, 'replaced, not added');

    // Import: the file input, as a person picks a file; the page sends it in pieces.
    await pick(SEATTLE);
    await s.waitForText('#import-facts', (t) => t.includes('seattle-weather.csv: 1,461 rows and 6 columns'));
    await s.click('#import-go');
    await s.waitForText('#dataset-title', 'seattle-weather.csv');
    await s.waitForText('#notice', 'Imported 1,461 rows');
    // A table's text glues its cells together ("weathercategory"): wait for the word inside.
    const profile = await s.waitForText('#profile-table', (t) => t.includes('weather'));
    assert.match(profile, /weather\s*category\s*0\s*5\s*rain \(641\)/, 'five kinds of weather, rain the most frequent');
    assert.match(profile, /precipitation\s*number/);
    assert.match(profile, /date\s*date\s*0\s*1,461\s*2012-01-01 to 2015-12-31/, 'the date column: no missing, 1,461 days');
    await s.waitForText('#preview-where', 'Rows 1–50 of 1,461');
    await s.script('document.getElementById("preview-next").scrollIntoView({ block: "center" })');
    await s.click('#preview-next');
    await s.waitForText('#preview-where', 'Rows 51–100 of 1,461');
    assert.equal(await s.text('#balance-available'), '20', 'importing and looking are free');
    await shot(s, '01-profile.png');

    // The run form: the price before running.
    await choose(s, 'run-kind', 'timeseries');
    await choose(s, 'run-measure', 'precipitation');
    await choose(s, 'run-agg', 'sum');
    await choose(s, 'run-by', 'month');
    await choose(s, 'run-split', 'weather');
    await s.waitForText('#run-price', 'costs 2 credits; you have 20 available');
    assert.equal(await s.text('#run-go'), 'Run for 2 credits');
    await s.script('document.getElementById("run-form").scrollIntoView()');
    await shot(s, '02-price-before-running.png');

    await s.script('document.getElementById("run-go").scrollIntoView({ block: "center" })');
    await s.click('#run-go');
    await s.waitFor('#result-view', { what: 'the result' });
    await s.waitForText('#balance-available', (t) => t === '18');
    assert.equal(await s.script('return document.querySelectorAll("#result-chart canvas").length > 0'), true, 'uPlot drew the chart');
    assert.match(await s.text('#result-chart-text'), /sum of precipitation per month from 2012-01 to 2015-12, one stacked bar part per weather/);
    const [head, ...rows] = await table(s);
    const rain = head.indexOf('rain');
    assert.ok(rain > 0, `a column for rain: ${head}`);
    const expected = monthly('rain');
    assert.equal(rows.length, expected.size, 'one row per month');
    for (const row of rows) {
      // The cell shows two decimals at most: within half a hundredth of the sum.
      const cell = Number(row[rain].replace(/,/g, '').replace('−', '-'));
      assert.ok(Math.abs(cell - expected.get(row[0])) <= 0.005 + 1e-9, `rain in ${row[0]}: ${row[rain]} for ${expected.get(row[0])}`);
    }
    assert.equal(rows.find((r) => r[0] === '2012-01')[rain], shown(expected.get('2012-01')));
    await s.script('document.getElementById("result-view").scrollIntoView()');
    await shot(s, '03-result.png');
    // The README's picture, when asked for (so a test run does not change a tracked file).
    if (process.env.LATCHKEY_DOCS_PICTURE === '1') {
      mkdirSync(join(repo, 'docs'), { recursive: true });
      copyFileSync(join(shots, '03-result.png'), join(repo, 'docs/analytics-result.png'));
    }

    await s.click('#export-result-csv');
    await s.waitForText('#export-result-path', '.csv');
    await s.click('#export-result-svg');
    await s.waitForText('#export-result-path', '.svg');
    await s.click('#export-result-png');
    await s.waitForText('#export-result-path', '.png');
    const pngPath = (await s.text('#export-result-path')).replace(/^Saved to /, '');
    assert.deepEqual([...readFileSync(pngPath).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], 'a PNG file');

    // Offline: the provider is gone; the saved result opens again, free.
    await s.end();
    await idp.stop();
    s = await driver.open();
    await s.waitForText('#account-email', 'wanda@example.test');
    await s.waitFor('#offline-badge', { what: 'the offline badge' });
    await s.waitForText('#balance-available', (t) => t === '18');
    const open = await s.waitFor('#results button', { what: 'a saved result' });
    await s.cmd('POST', `/element/${open}/click`, {});
    await s.waitFor('#result-view', { what: 'the reopened result' });
    const [, ...again] = await table(s);
    assert.deepEqual(again, rows, 'the same numbers');
    assert.equal(await s.script('return document.querySelectorAll("#result-chart canvas").length > 0'), true);
    assert.equal(await s.text('#balance-available'), '18', 'reopening is free');
    await s.script('document.getElementById("result-view").scrollIntoView()');
    await shot(s, '04-reopened-offline.png');

    // 200% zoom of this window lays out like a 480-pixel-wide one: no sideways scrolling (wide
    // tables scroll inside their own box).
    await s.cmd('POST', '/window/rect', { width: 480, height: 640 });
    await s.waitFor('#result-view');
    await new Promise((r) => setTimeout(r, 500));
    const widths = await s.script('const W = document.documentElement.clientWidth; return [document.documentElement.scrollWidth, W, [...document.querySelectorAll("main *")].filter((e) => e.getBoundingClientRect().right > W + 1 && !e.closest(".scroll")).slice(0, 5).map((e) => e.tagName + "#" + e.id + "." + e.className)]');
    await shot(s, '05-narrow-as-200-percent.png');
    assert.ok(widths[0] <= widths[1], `no sideways scrolling at 480 px: ${JSON.stringify(widths)}`);
  } finally {
    await s?.end();
    await driver.stop();
    m.cleanup();
  }
});
