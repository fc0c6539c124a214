// @ts-check
// Sync with the credit service, the window's side (issue 9): the indicator ("Synced",
// "Syncing…", "Offline since …" with the last error in words) and "Sync now", what this device
// may spend offline, the spends the service refused, and the Devices card with "Remove lost
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

/** Why the service refused an offline spend, in words. @type {Record<string, string>} */
const REFUSED_BECAUSE = {
  device_removed: 'this device had been removed as lost (from another device) before it sent it',
  beyond_lease: 'it was more than this device still held for offline use',
  lease_closed: 'the credits this device held for offline use had already been given back',
  lease_expired: 'the credits this device held for offline use had lapsed, and your balance did not cover it',
  unknown_lease: 'the credit service did not know the offline credits it was paid from',
  not_pushable: 'only spends can be made offline',
  invalid: 'its amount or note was out of range',
};

/** @param {Refused} r */
function refusedWords(r) {
  const why = r.outcome === 'conflict'
    ? 'a different spend with the same id was already recorded'
    : REFUSED_BECAUSE[r.reason || ''] || `the credit service refused it (${r.reason || 'no reason given'})`;
  const what = r.memo ? r.memo.charAt(0).toUpperCase() + r.memo.slice(1) : 'A spend';
  return `${what}, ${credits(r.amount)} credit${r.amount === 1 ? '' : 's'}: not accepted, because ${why}. Nothing was charged for it.`;
}

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
 */

/**
 * Wires the sync indicator, the offline credits, the refused spends and the Devices card.
 * @param {SyncUi} ui
 */
function initSync(ui) {
  const { api, showError, clearError, notice, active, errorWords, walletChanged } = ui;
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
      $('history-refused').hidden = true;
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

    const list = $('refused-list');
    list.replaceChildren();
    for (const r of s.refused) {
      const li = document.createElement('li');
      li.dataset.reason = r.reason || r.outcome;
      li.textContent = refusedWords(r);
      list.append(li);
    }
    $('history-refused').hidden = s.refused.length === 0;
  }

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

  return { refresh, shown, changed, serviceReached };
}

return { initSync };
})();
