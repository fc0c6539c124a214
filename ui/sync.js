// @ts-check
// Sync with the credit service, the window's side (issue 9): the indicator ("Synced",
// "Syncing…", "Offline since …" with the last error in words) and "Sync now", what this device
// may spend offline, the entries the service refused (every device's, in the history by date),
// the report of the wallet's import, and the Devices card with "Remove lost
// device". The shell decides when to sync (src-tauri/src/sync.rs); this page asks for one
// after a local change and when the service answers again. Only through api.js; text from
// outside (device names, notes) is set with textContent only.
// A classic script, loaded before app.js, which calls `latchkeySync.initSync`.
const latchkeySync = (() => {
'use strict';

/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** @param {number} c */
const credits = (c) => String(Math.abs(c)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');

/**
 * A time for people, in UTC like the rest of the window: "10:32 UTC" today, else
 * "2026-11-29 10:32 UTC".
 * @param {string} iso RFC 3339.
 */
function when(iso) {
  const t = new Date(iso);
  if (Number.isNaN(t.getTime())) return iso;
  const day = t.toISOString().slice(0, 10);
  const time = t.toISOString().slice(11, 16);
  return day === new Date().toISOString().slice(0, 10) ? `${time} UTC` : `${day} ${time} UTC`;
}

/** A time as the history shows it ("2026-11-29 10:32:07"). @param {string} iso */
const shownTime = (iso) => iso.replace('T', ' ').replace(/\.\d+(Z|[+-]\d\d:\d\d)$|Z$|[+-]00:00$/, '');

/**
 * A refused entry in words: what, from which device, and why (the core's words).
 * @param {Refused} r
 */
function refusedWords(r) {
  const what = r.memo ? r.memo.charAt(0).toUpperCase() + r.memo.slice(1) : 'A spend';
  return `${what}, ${credits(r.amount)} credit${r.amount === 1 ? '' : 's'}: not accepted, because ${r.words}. Nothing was charged for it.`;
}

/** @param {Refused} r */
const fromDevice = (r) => (r.this_device ? 'this device' : r.device_name ? `“${r.device_name}”` : 'another device');

/** A local wallet entry's kind, for the import's report. @type {Record<string, string>} */
const LOCAL_KIND = { grant: 'Credits given', voucher: 'Voucher redeemed', spend: 'Spent', refund: 'Refund', capture: 'Paid from hold' };

/**
 * What sync needs from app.js.
 * @typedef {object} SyncUi
 * @property {typeof latchkeyApi} api
 * @property {(err: unknown) => void} showError
 * @property {() => void} clearError
 * @property {(text: string) => void} notice
 * @property {() => Account | null} active
 * @property {(err: CoreError) => string} errorWords The code's words (app.js's ERROR_WORDS).
 * @property {() => Promise<void>} walletChanged Reads the balance and history again.
 * @property {() => void} historyChanged Draws the history again (the refused entries changed).
 */

/**
 * Wires the sync indicator, the offline credits, the refused spends and the Devices card.
 * @param {SyncUi} ui
 */
function initSync(ui) {
  const { api, showError, clearError, notice, active, errorWords, walletChanged, historyChanged } = ui;
  /** The refused entries last drawn, to redraw the history only when they change. */
  let refusedDrawn = '';
  /** @type {SyncStatus | null} */
  let status = null;
  /** @type {Device | null} */
  let removing = null;

  /**
   * The words for the last failure, for the sync: an unreachable service is expected here.
   * @param {CoreError} e
   */
  function failureWords(e) {
    if (e.code === 'service_unavailable' || e.code === 'offline') {
      return 'The credit service can’t be reached. Latchkey tries again by itself; meanwhile paid runs are paid from the credits this device holds for offline use, and sent when the service is back.';
    }
    return errorWords(e);
  }

  /** @param {SyncStatus} s */
  function render(s) {
    status = s;
    const on = s.phase !== 'off' && active() !== null;
    $('sync-box').hidden = !on;
    $('offline-available').hidden = !on;
    $('devices-card').hidden = !on;
    if (!on) {
      $('balance-held-what').textContent = 'held for running jobs';
      $('sync-detail').hidden = true;
      $('import-report').hidden = true;
      redrawIfChanged();
      return;
    }
    const box = $('sync-status');
    box.dataset.phase = s.phase;
    const last = s.last_synced_at ? `Last synced ${when(s.last_synced_at)}.` : 'Not synced yet.';
    /** @type {Record<SyncStatus['phase'], string>} */
    const label = {
      off: '',
      idle: s.last_synced_at ? `Last synced ${when(s.last_synced_at)}` : 'Not synced yet',
      syncing: 'Syncing…',
      synced: 'Synced',
      offline: s.offline_since ? `Offline since ${when(s.offline_since)}` : 'Offline',
      failed: 'Not synced',
    };
    box.textContent = label[s.phase];
    box.title = s.phase === 'synced' ? last : label[s.phase];
    /** @type {HTMLButtonElement} */ ($('sync-now')).disabled = s.phase === 'syncing';

    $('offline-available-count').textContent = credits(s.offline_available ?? 0);
    // With a credit service, devices' offline allowances are held credits too.
    $('balance-held-what').textContent = 'held for running jobs and for offline use on your devices';

    const detail = $('sync-detail');
    if ((s.phase === 'offline' || s.phase === 'failed') && s.error) {
      const waiting = s.unpushed > 0 ? ` ${s.unpushed} spend${s.unpushed === 1 ? '' : 's'} made offline ${s.unpushed === 1 ? 'waits' : 'wait'} to be sent.` : '';
      detail.textContent = `${failureWords(s.error)} ${last}${waiting}`;
      detail.dataset.code = s.error.code;
      // The core's own words, for the curious and for bug reports.
      detail.title = s.error.message;
      detail.hidden = false;
    } else {
      detail.hidden = true;
      detail.textContent = '';
      detail.dataset.code = '';
      detail.title = '';
    }

    renderImport(s.import);
    redrawIfChanged();
  }

  /** The history shows the refused entries: draw it again when they changed. */
  function redrawIfChanged() {
    const key = JSON.stringify(historyRows().map((x) => x.at));
    const names = JSON.stringify((status?.refused || []).map((r) => [r.entry_id, r.device_name]));
    if (key + names !== refusedDrawn) {
      refusedDrawn = key + names;
      historyChanged();
    }
  }

  /**
   * The refused entries as history lines, newest first (wallet.js puts them among the entries
   * by date). Every device's, as this one knows them after its last sync.
   * @returns {{at: string, row: () => HTMLTableRowElement}[]}
   */
  function historyRows() {
    if (!status || status.phase === 'off' || !active()) return [];
    return status.refused.map((r) => ({
      at: r.at,
      row: () => {
        const tr = document.createElement('tr');
        tr.dataset.kind = 'refused';
        tr.dataset.reason = r.reason;
        tr.dataset.device = r.this_device ? 'this' : r.device_id || '';
        /** @type {[string, string][]} */
        const cells = [
          [shownTime(r.at), ''],
          [`Not accepted, from ${fromDevice(r)}`, ''],
          [`−${credits(r.amount)}`, 'num not-charged'],
          ['—', 'num'],
          [refusedWords(r), ''],
        ];
        for (const [text, cls] of cells) {
          const td = document.createElement('td');
          td.textContent = text;
          if (cls) td.className = cls;
          tr.append(td);
        }
        /** @type {HTMLElement} */ (tr.children[2]).title = 'Not charged';
        return tr;
      },
    }));
  }

  /**
   * The report of the sync that imported this computer's wallet, until the user has read it.
   * @param {ImportNotice | null} i
   */
  function renderImport(i) {
    const box = $('import-report');
    if (!i) { box.hidden = true; return; }
    const entries = `${i.sent} entr${i.sent === 1 ? 'y' : 'ies'}`;
    const used = i.spent > 0 ? ` Your spends made then used ${credits(i.spent)} of them.` : '';
    const counted = `${credits(i.credited)} credit${i.credited === 1 ? '' : 's'}`;
    $('import-report-text').textContent = `The first sync sent the ${entries} of the wallet this computer kept before the credit service was set up. The service counted ${counted}.${used}${i.refused.length ? ' Not counted:' : ' Everything counted.'}`;
    const list = $('import-report-list');
    list.replaceChildren();
    for (const x of i.refused) {
      const li = document.createElement('li');
      li.dataset.reason = x.reason;
      li.textContent = `${LOCAL_KIND[x.kind] || x.kind}, ${credits(x.amount)} credit${x.amount === 1 ? '' : 's'}: not counted, because ${x.words}.`;
      list.append(li);
    }
    list.hidden = i.refused.length === 0;
    box.hidden = false;
  }

  $('import-report-ok').addEventListener('click', () => {
    $('import-report').hidden = true;
    api.syncImportShown().catch(showError);
  });

  async function refresh() {
    try { render(await api.syncStatus()); } catch (e) { showError(e); }
  }

  // ---------- devices ----------
  /** @type {Device[]} */
  let devices = [];
  let devicesLoaded = false;

  async function loadDevices() {
    if (!status || status.phase === 'off' || !active()) return;
    try {
      devices = await api.devicesList();
      devicesLoaded = true;
      renderDevices(null);
    } catch (e) {
      // Offline: keep the last list read, and say so.
      renderDevices(/** @type {CoreError} */ (e));
    }
  }

  /** @param {CoreError | null} problem */
  function renderDevices(problem) {
    const body = $('devices');
    body.replaceChildren();
    for (const d of devices) {
      const tr = document.createElement('tr');
      tr.dataset.device = d.device_id;
      const name = document.createElement('th');
      name.scope = 'row';
      name.textContent = d.name;
      const seen = document.createElement('td');
      seen.textContent = when(d.last_seen_at).replace(/ UTC$/, '');
      const held = document.createElement('td');
      held.className = 'num';
      held.textContent = d.lease_remaining == null ? '—' : credits(d.lease_remaining);
      const act = document.createElement('td');
      if (d.this_device) {
        act.textContent = d.removed_at ? `This device (removed ${when(d.removed_at)})` : 'This device';
      } else if (d.removed_at) {
        act.textContent = `Removed ${when(d.removed_at)}`;
      } else {
        const b = document.createElement('button');
        b.type = 'button';
        b.className = 'quiet';
        b.dataset.testid = `remove-device-${d.device_id}`;
        b.textContent = 'Remove lost device';
        b.setAttribute('aria-label', `Remove lost device ${d.name}`);
        b.addEventListener('click', () => askRemove(d));
        act.append(b);
      }
      tr.append(name, seen, held, act);
      body.append(tr);
    }
    const note = $('devices-note');
    const me = devices.find((d) => d.this_device);
    if (problem && problem.code === 'service_unavailable') {
      note.textContent = devicesLoaded
        ? 'The credit service can’t be reached, so this is the list as last read.'
        : 'The list of devices appears once the credit service can be reached.';
    } else if (problem) {
      note.textContent = `The list of devices could not be read. ${errorWords(problem)}`;
    } else if (me && me.removed_at) {
      note.textContent = 'This device was removed as lost from another device: it can no longer spend offline, and what it sends is refused. To use it again, start over with a fresh data folder.';
    } else if (!me) {
      note.textContent = 'This device appears here after its first sync.';
    } else {
      note.textContent = '';
    }
    note.hidden = !note.textContent;
  }

  /** @param {Device} d */
  function askRemove(d) {
    clearError();
    removing = d;
    const held = d.lease_remaining ? ` The ${credits(d.lease_remaining)} credit${d.lease_remaining === 1 ? '' : 's'} it holds for offline use come back to your balance now.` : '';
    $('device-remove-text').textContent = `Remove “${d.name}” as lost? It can no longer spend offline.${held} Anything it spent offline and sends later is refused (it costs you nothing) and shown there as not accepted.`;
    $('device-remove-confirm').hidden = false;
    // The safe answer first: an Enter meant for something else must not remove a device.
    $('device-remove-no').focus();
  }

  $('device-remove-no').addEventListener('click', () => {
    removing = null;
    $('device-remove-confirm').hidden = true;
  });
  $('device-remove-yes').addEventListener('click', async () => {
    const d = removing;
    removing = null;
    $('device-remove-confirm').hidden = true;
    if (!d) return;
    try {
      await api.devicesRemove(d.device_id);
      notice(d.lease_remaining ? `Removed “${d.name}”. The ${credits(d.lease_remaining)} credits it held are back in your balance.` : `Removed “${d.name}”.`);
      await Promise.all([loadDevices(), walletChanged()]);
    } catch (e) { showError(e); }
  });

  // ---------- when to sync ----------
  $('sync-now').addEventListener('click', async () => {
    clearError();
    const b = /** @type {HTMLButtonElement} */ ($('sync-now'));
    b.disabled = true;
    try {
      // The outcome (also a failure) reaches the indicator as events.
      render(await api.syncNow());
    } catch {
      await refresh();
    } finally {
      b.disabled = status?.phase === 'syncing';
    }
  });

  api.onSyncStatus(async (s) => {
    const was = status ? status.phase : null;
    render(s);
    // Online: the devices may have changed. Just gone offline: say the list is as last read.
    if (s.phase === 'synced' || (s.phase === 'offline' && was !== 'offline')) void loadDevices();
    if (s.changed) await walletChanged();
  });

  /** Something changed here (a paid run, a redemption, a purchase, an account): sync soon. */
  function changed() {
    api.syncSoon().catch(() => { /* no service: nothing to do */ });
  }

  /** The credit service answered (a fresh balance): if the last sync found it offline, again. */
  function serviceReached() {
    if (status && status.phase === 'offline') changed();
  }

  /** The signed-in screen is shown (start, sign-in, switch): read the state, list devices. */
  async function shown() {
    await refresh();
    void loadDevices();
  }

  return { refresh, shown, changed, serviceReached, historyRows };
}

return { initSync };
})();
