// @ts-check
// The contract between this page and the shell: one function per command the shell offers
// (src-tauri/src/commands/), with the types of what each takes and gives, like the guest
// bindings a Tauri plugin ships. app.js and wallet.js call the shell only through these.
// tests/ipc.rs checks that the commands named here (each name passed to `command`), the shell's
// handler list and the capabilities grant agree exactly; `tsc --noEmit` checks the callers.
// A classic script (no modules, no build step): it declares one global, `latchkeyApi`.

/**
 * Every `Code` the core classifies failures into (crates/latchkey-core/src/error.rs).
 * @typedef {'config' | 'not_signed_in' | 'session_expired' | 'sign_in_denied'
 *   | 'sign_in_timed_out' | 'sign_in_cancelled' | 'sign_in_rejected' | 'keychain_unavailable'
 *   | 'offline' | 'provider' | 'unknown_account' | 'storage' | 'internal'
 *   | 'insufficient_credits' | 'idempotency_conflict' | 'unknown_entry' | 'voucher_rejected'
 *   | 'invalid_input' | 'wallet_damaged' | 'busy' | 'service_unavailable'
 *   | 'purchase_not_completed' | 'purchase_timed_out' | 'cancelled' | 'provider_changed'
 *   | 'lease_hold'} ErrorCode
 */

/**
 * What every command rejects with, and the `auth://sign-in-failed` payload. The code decides
 * the words; the message is detail for people.
 * @typedef {object} CoreError
 * @property {ErrorCode} code
 * @property {string} message
 */

/**
 * A signed-in account (never a token).
 * @typedef {object} Account
 * @property {string} provider The configured provider's name.
 * @property {string} issuer
 * @property {string} subject
 * @property {string | null} email
 * @property {string | null} username The provider's preferred_username (Microsoft accounts
 *   often have no email): shown where there is no email.
 * @property {string | null} name
 * @property {string | null} picture The picture the core kept, as a `data:` URL (never the
 *   picture host's address: the window loads no image from the network).
 * @property {boolean} active
 * @property {string | null} expires_at When the access token expires (RFC 3339).
 * @property {string} session_expires_at When the sign-in ends (RFC 3339).
 * @property {boolean} offline The provider could not be reached just now.
 * @property {string} display_name How to name the person in one line (the core's one way).
 * @property {boolean} [provider_changed] Its provider's settings now name another issuer or
 *   client: nothing is sent there; the window says "provider changed — sign in again".
 */

/**
 * A provider's sign-in button.
 * @typedef {object} ProviderChoice
 * @property {string} name
 * @property {string} label "Sign in with Google".
 */

/**
 * A sign-in waiting for the browser.
 * @typedef {object} SignInStarted
 * @property {string} provider
 * @property {string} url The link to open, or to copy into the right browser profile.
 * @property {number} timeout_secs
 * @property {number} remaining_secs
 * @property {boolean} browser_opened False when no browser could be started.
 * @property {'browser' | 'device' | 'paste_back'} mode In this browser; on another device with
 *   a code (RFC 8628); or in a browser elsewhere, finished by pasting back its address.
 * @property {DeviceCodes | null} device `device`: the code and where to type it.
 * @property {string | null} paste_prefix `paste_back`: what the address to paste starts with.
 */

/**
 * A device sign-in's code and where to type it.
 * @typedef {object} DeviceCodes
 * @property {string} user_code
 * @property {string} verification_uri
 * @property {string | null} verification_uri_complete The same with the code filled in.
 */

/**
 * The `auth://signed-in` payload.
 * @typedef {Account & {welcome_credits: number | null, wallet_problem: string | null}} SignedInEvent
 */

/**
 * @typedef {object} Balance
 * @property {number} posted
 * @property {number} held
 * @property {number} available Posted less held; never negative.
 */

/**
 * The balance the window shows: the local wallet's, or the credit service's.
 * @typedef {Balance & {stale: boolean, as_of: string | null, service: boolean}} WalletBalance
 *   `service`: kept by the credit service (credits can be bought); `stale`: the service could
 *   not be reached and this is the last known balance, read at `as_of`.
 */

/** @typedef {'grant' | 'voucher' | 'spend' | 'refund' | 'reserve' | 'capture' | 'release' | 'expire' | 'purchase' | 'reversal'} EntryKind */

/**
 * One ledger entry.
 * @typedef {object} Entry
 * @property {number} id
 * @property {EntryKind} kind
 * @property {number} amount
 * @property {number} posted_after
 * @property {number} held_after
 * @property {number} available_after
 * @property {string | null} idempotency_key
 * @property {string | null} memo
 * @property {number | null} related
 * @property {string | null} expires_at
 * @property {string} created_at RFC 3339, UTC.
 * @property {number | null} [captured_by] For a hold that was captured: the capture's id
 *   (shown with its capture as one line, "held then paid").
 */

/**
 * A page of history, newest first.
 * @typedef {object} HistoryPage
 * @property {Entry[]} entries
 * @property {string | null} next_cursor Pass it back for the next page.
 */

/**
 * A page of history as the window shows it.
 * @typedef {HistoryPage & {stale: boolean, as_of: string | null}} WalletHistory
 */

/**
 * @typedef {object} WalletView
 * @property {WalletBalance} balance
 * @property {WalletHistory} history The newest page.
 */

/**
 * A credit pack on sale at the credit service.
 * @typedef {object} Pack
 * @property {string} id
 * @property {number} credits
 * @property {number} amount Price in minor units (cents).
 * @property {string} currency ISO 4217, lower case.
 * @property {string} label
 */

/**
 * A purchase waiting for its payment in the browser.
 * @typedef {object} PurchaseStarted
 * @property {string} pack
 * @property {string} url The payment page, to open again or copy.
 * @property {number} timeout_secs
 * @property {number} remaining_secs
 * @property {boolean} browser_opened
 */

/**
 * The `credits://purchased` payload.
 * @typedef {object} PurchasedEvent
 * @property {Pack} pack
 * @property {Balance} balance
 */

/**
 * The `deeplink://purchase` payload: the service's link back after a payment.
 * @typedef {object} PurchaseLink
 * @property {string} checkout
 */

/**
 * The first screen, from local files only.
 * @typedef {object} Startup
 * @property {Account[]} accounts
 * @property {ProviderChoice[]} providers
 * @property {SignInStarted | null} pending A sign-in still waiting (after a reload).
 * @property {WalletView | null} wallet The active account's wallet (with a credit service,
 *   the last known one, stale; null before the first contact).
 * @property {CoreError | null} wallet_error Why the wallet could not be read.
 * @property {string[]} vouchers Vouchers from links that came before the page listened.
 */

/**
 * @typedef {object} LogoutReport
 * @property {Account[]} signed_out
 * @property {number} revoked Refresh tokens the providers confirmed revoked.
 * @property {string[]} warnings Technical: for a bug report, not for the notice.
 * @property {string[]} end_session_urls Provider sign-out pages opened in the browser.
 */

/**
 * What a voucher claims (not yet verified).
 * @typedef {object} Voucher
 * @property {string} id
 * @property {number} credits
 * @property {string | null} issuer
 * @property {string | null} subject
 * @property {string | null} expires_at
 * @property {string} key_id
 */

/**
 * A voucher verified for the active account, and that account: what the question names.
 * @typedef {Voucher & {account: {issuer: string, subject: string, display_name: string}}} VoucherPreview
 */

/**
 * @typedef {object} Receipt
 * @property {Entry} entry
 * @property {Balance} balance
 * @property {boolean} replayed
 */

/**
 * A redeem made while the credit service could not be reached: checked here and queued for the
 * next sync, not counted yet.
 * @typedef {object} QueuedVoucher
 * @property {true} queued
 * @property {string} key
 * @property {boolean} replayed True when it was queued before (one entry).
 * @property {string} voucher_id
 * @property {number} credits
 * @property {string} queued_at
 * @property {Balance | null} balance The last balance read from the service (unchanged).
 */

/**
 * A column of a dataset.
 * @typedef {object} DatasetColumn
 * @property {number} index 0-based.
 * @property {string} name
 * @property {'date' | 'date_time' | 'number' | 'category' | 'text'} kind
 * @property {'day_first' | 'month_first' | null} date_order
 * @property {'data' | 'default' | 'user' | null} date_order_decided_by
 * @property {'point' | 'comma' | null} decimal_mark
 */

/**
 * An imported dataset (analytics).
 * @typedef {object} Dataset
 * @property {number} id
 * @property {string} name
 * @property {string} source_name The file it came from.
 * @property {string} sha256
 * @property {number} bytes
 * @property {number} rows
 * @property {string} encoding
 * @property {string} delimiter
 * @property {boolean} has_header
 * @property {number} created_at Seconds since 1970-01-01 UTC.
 * @property {DatasetColumn[]} columns
 */

/**
 * @typedef {object} Imported
 * @property {Dataset} dataset
 * @property {boolean} existing The same file was imported before: nothing new was stored.
 */

/** @typedef {'date' | 'date_time' | 'number' | 'category' | 'text'} ColumnKindName */

/**
 * The user's corrections to what an import detects; every field optional.
 * @typedef {object} Corrections
 * @property {Record<string, ColumnKindName>} [kinds] Column name -> its type.
 * @property {'day_first' | 'month_first'} [date_order] How 05/03/2024 is read, in every date column.
 * @property {'point' | 'comma'} [decimal_mark] Of every number column.
 */

/**
 * A column as an import would store it, with an example value.
 * @typedef {DatasetColumn & {sample: string | null, sample_day_first: string | null, sample_month_first: string | null}} DetectedColumn
 */

/**
 * What importing an uploaded file would store (nothing is stored yet).
 * @typedef {object} Detection
 * @property {string} source_name
 * @property {string} sha256
 * @property {number} bytes
 * @property {string} encoding
 * @property {string} delimiter
 * @property {boolean} has_header
 * @property {number} rows
 * @property {DetectedColumn[]} columns
 * @property {string[][]} preview The first rows, as written in the file.
 * @property {Dataset | null} existing The dataset this file was imported as before.
 */

/**
 * @typedef {object} ColumnProfile
 * @property {DatasetColumn} column
 * @property {number} missing
 * @property {number} distinct
 * @property {number | null} min
 * @property {number | null} max
 * @property {number | null} mean
 * @property {number | null} median
 * @property {string | null} first
 * @property {string | null} last
 * @property {[string, number][]} top
 */

/**
 * @typedef {object} Profile
 * @property {number} dataset_id
 * @property {number} rows
 * @property {ColumnProfile[]} columns
 */

/**
 * A page of a dataset's rows.
 * @typedef {object} Preview
 * @property {number} dataset_id
 * @property {number} offset
 * @property {number} total_rows
 * @property {string[]} columns
 * @property {(string | number | null)[][]} rows
 */

/** @typedef {'timeseries' | 'breakdown' | 'compare' | 'trend'} AnalysisKind */
/** @typedef {'sum' | 'mean' | 'count' | 'min' | 'max'} Agg */
/** @typedef {'day' | 'week' | 'month' | 'year'} PeriodName */

/**
 * What to run (the engine's `Analysis`, tagged by `kind`); unset fields take the defaults.
 * @typedef {object} AnalysisSpec
 * @property {AnalysisKind} kind
 * @property {string | null} [measure]
 * @property {Agg} [agg]
 * @property {PeriodName} [by] timeseries, trend: the period.
 * @property {string | null} [split] timeseries: a category column.
 * @property {'month' | 'year'} [period] compare.
 * @property {number} [top]
 * @property {number} [window]
 * @property {number} [horizon]
 */

/**
 * @typedef {object} PeriodInfo
 * @property {string} label `2024-03`, `2024-W10`...
 * @property {string} start Its first day, YYYY-MM-DD.
 */

/**
 * @typedef {object} Series
 * @property {string} name
 * @property {(number | null)[]} values
 * @property {number[]} counts
 * @property {(number | null)[]} rolling
 */

/**
 * @typedef {object} Change
 * @property {string | null} category
 * @property {number | null} current
 * @property {number | null} previous
 * @property {number | null} change
 * @property {number | null} change_pct
 */

/**
 * A result (the engine's `AnalysisResult`, tagged by `kind`).
 * @typedef {{kind: 'timeseries', params: any, date: string, periods: PeriodInfo[], series: Series[], skipped_rows: number}
 *   | {kind: 'breakdown', params: any, rows: {category: string, value: number | null, count: number, share: number | null}[], total: number | null}
 *   | {kind: 'compare', params: any, current: PeriodInfo, previous: PeriodInfo, total: Change, rows: Change[]}
 *   | {kind: 'trend', params: any, method: string, periods: PeriodInfo[], values: (number | null)[], fitted: (number | null)[], slope: number | null, forecast: [PeriodInfo, number][], median: number | null, mad: number | null, outliers: {period: PeriodInfo, value: number, z: number}[]}} AnalysisResult
 */

/**
 * A saved result; `result` is null in listings.
 * @typedef {object} SavedResult
 * @property {number} id
 * @property {number} dataset_id
 * @property {AnalysisKind} kind
 * @property {any} params
 * @property {AnalysisResult | null} result
 * @property {number} cost Credits paid.
 * @property {number} created_at Seconds since 1970-01-01 UTC.
 */

/**
 * A finished, paid analysis.
 * @typedef {object} PaidResult
 * @property {SavedResult} saved
 * @property {Balance} balance
 */

/**
 * The `deeplink://redeem` payload: a voucher from a link, checked for shape only.
 * @typedef {object} RedeemLink
 * @property {string} voucher
 */

/**
 * An entry the credit service refused, from any of the account's devices (it moved no credits).
 * @typedef {object} Refused
 * @property {string} entry_id
 * @property {string} at When the service refused it (RFC 3339); for a conflict, when it was made here.
 * @property {string | null} made_at When it was made on this device (RFC 3339; null for another device's).
 * @property {string | null} device_id
 * @property {string | null} device_name As the service last listed it (null: not known yet).
 * @property {boolean} this_device
 * @property {string} kind What it tried (`spend`).
 * @property {number} amount
 * @property {'rejected' | 'conflict'} outcome
 * @property {string} reason `device_removed`, `beyond_lease`, `lease_closed`, `lease_expired`,
 *   `unknown_lease`, `not_pushable`, `invalid` or `conflict`.
 * @property {string} words The reason in words, to follow "not accepted, because".
 * @property {string | null} memo
 */

/**
 * A local wallet entry the import into the credit service did not count.
 * @typedef {object} ImportNoticeEntry
 * @property {number} entry_id
 * @property {string} kind `grant`, `voucher`, `spend`, `refund` or `capture`.
 * @property {number} amount
 * @property {string} reason
 * @property {string} words The reason in words, to follow "not counted, because".
 */

/**
 * What the sync that imported this computer's single-machine wallet did.
 * @typedef {object} ImportNotice
 * @property {number} sent
 * @property {number} credited
 * @property {number} spent
 * @property {ImportNoticeEntry[]} refused
 */

/**
 * The sync with the credit service, for the active account (`sync://status` events too).
 * @typedef {object} SyncStatus
 * @property {'off' | 'idle' | 'syncing' | 'synced' | 'offline' | 'failed'} phase `off`: no
 *   credit service, or nobody signed in.
 * @property {string | null} last_synced_at RFC 3339.
 * @property {string | null} offline_since While offline: since when (RFC 3339).
 * @property {CoreError | null} error Why the last sync failed.
 * @property {number | null} offline_available What this device may spend offline (null: no lease).
 * @property {number} unpushed Offline spends not yet sent.
 * @property {Refused[]} refused Every device's refused entries, newest first.
 * @property {ImportNotice | null} import The wallet import's report, until `syncImportShown`.
 * @property {boolean} changed In an event: the sync moved something (read the wallet again).
 */

/**
 * One of the account's devices.
 * @typedef {object} Device
 * @property {string} device_id
 * @property {string} name
 * @property {string} last_seen_at RFC 3339.
 * @property {string | null} removed_at Removed as lost (RFC 3339).
 * @property {number | null} lease_remaining Credits it holds for offline use (null: none).
 * @property {string | null} lease_expires_at
 * @property {boolean} this_device
 */

/**
 * The part of Tauri's IPC this page uses (what @tauri-apps/api's `core.invoke` and
 * `event.listen` call, without its global bundle: 41 KB every start would evaluate).
 * @typedef {object} TauriInternals
 * @property {(cmd: string, args: Record<string, unknown> | Uint8Array, options?: {headers: Record<string, string>}) => Promise<any>} invoke
 * @property {(callback: (event: {payload: any}) => void) => number} transformCallback
 */

const latchkeyApi = (() => {
'use strict';

const tauri = /** @type {TauriInternals} */ (/** @type {any} */ (window).__TAURI_INTERNALS__);

/**
 * One of the app's own commands. Bytes (a file) go as the raw body, with `headers`.
 * @param {string} name
 * @param {Record<string, unknown> | Uint8Array} [args]
 * @param {{headers: Record<string, string>}} [options]
 * @returns {Promise<any>}
 */
const command = (name, args = {}, options) => tauri.invoke(name, args, options);

/**
 * Calls `handler` with each payload of `event` from the shell.
 * @template T
 * @param {string} event
 * @param {(payload: T) => void} handler
 * @returns {Promise<number>} The listener's id.
 */
const listen = (event, handler) =>
  tauri.invoke('plugin:event|listen', {
    event,
    target: { kind: 'Any' },
    handler: tauri.transformCallback((e) => handler(e.payload)),
  });

return {
  // ---------- the first screen ----------
  /** @returns {Promise<Startup>} Rejects only with `config`. */
  appStartup: () => command('app_startup'),

  // ---------- accounts and signing in ----------
  /** @returns {Promise<Account[]>} From local files only. */
  authStatus: () => command('auth_status'),
  /** @returns {Promise<Account[]>} Sessions checked with the providers. */
  authRefreshStatus: () => command('auth_refresh_status'),
  /** @returns {Promise<ProviderChoice[]>} */
  authProviders: () => command('auth_providers'),
  /**
   * Starts a sign-in; the outcome arrives as `onSignedIn` or `onSignInFailed`.
   * @param {string} provider
   * @param {boolean} addAccount Ask the provider for its account chooser.
   * @returns {Promise<SignInStarted>}
   */
  authSignIn: (provider, addAccount) => command('auth_sign_in', { provider, addAccount }),
  /** @returns {Promise<SignInStarted | null>} */
  authPending: () => command('auth_pending'),
  /** @returns {Promise<void>} The sign-in then fails with `sign_in_cancelled`. */
  authCancel: () => command('auth_cancel'),
  /** @returns {Promise<void>} */
  authOpenAgain: () => command('auth_open_again'),
  /**
   * @param {string | null} subject The active account when null.
   * @param {boolean} everywhere Also end the session at the provider.
   * @returns {Promise<LogoutReport>}
   */
  authSignOut: (subject, everywhere) => command('auth_sign_out', { subject, everywhere }),
  /**
   * @param {string} subject
   * @returns {Promise<Account>}
   */
  authSwitch: (subject) => command('auth_switch', { subject }),
  /**
   * "Sign in on another device": the device flow, or (`mode: 'paste_back'`) a sign-in in a
   * browser elsewhere whose final address is pasted back. Same events as `authSignIn`.
   * @param {string} provider
   * @param {boolean} addAccount
   * @returns {Promise<SignInStarted>}
   */
  authSignInDevice: (provider, addAccount) => command('auth_sign_in_device', { provider, addAccount }),
  /**
   * The address the browser elsewhere ended on, for the pending paste-back sign-in.
   * @param {string} address
   * @returns {Promise<void>} Rejects with `invalid_input` when it is not that address.
   */
  authPasteBack: (address) => command('auth_paste_back', { address }),

  // ---------- the wallet ----------
  /** @returns {Promise<WalletBalance>} */
  walletBalance: () => command('wallet_balance'),
  /**
   * @param {string | null} cursor The newest page when null.
   * @param {number} limit
   * @returns {Promise<WalletHistory>}
   */
  walletHistory: (cursor, limit) => command('wallet_history', { cursor, limit }),
  /**
   * Verifies the voucher for the active account (signature, expiry, binding, not used here).
   * @param {string} voucher
   * @returns {Promise<VoucherPreview>}
   */
  walletVoucherPreview: (voucher) => command('wallet_voucher_preview', { voucher }),
  /**
   * Redeems into the account the question named; refused when another one is active now.
   * @param {string} voucher
   * @param {string} issuer
   * @param {string} subject
   * @returns {Promise<Receipt | QueuedVoucher>}
   */
  walletRedeem: (voucher, issuer, subject) => command('wallet_redeem', { voucher, issuer, subject }),
  /** @returns {Promise<string>} The saved file's path. */
  walletExportCsv: () => command('wallet_export_csv'),

  // ---------- analytics: datasets, analyses, saved results ----------
  /**
   * Begins handing over a file the user picked (never a path): its chunks follow.
   * @param {string} fileName
   * @param {number} size In bytes.
   * @returns {Promise<string>} The upload's id.
   */
  datasetUploadBegin: (fileName, size) => command('dataset_upload_begin', { fileName, size }),
  /**
   * One piece of the file, in order (at most 8 MiB).
   * @param {string} upload
   * @param {number} offset Where the piece starts in the file.
   * @param {Uint8Array} bytes
   * @returns {Promise<number>} The bytes received so far.
   */
  datasetUploadChunk: (upload, offset, bytes) => command('dataset_upload_chunk', bytes, {
    headers: { 'x-upload': encodeURIComponent(upload), 'x-offset': String(offset) },
  }),
  /**
   * Drops an upload and the app's copy of it.
   * @param {string} upload
   * @returns {Promise<void>}
   */
  datasetUploadCancel: (upload) => command('dataset_upload_cancel', { upload }),
  /**
   * What importing the uploaded file would store. Free; stores nothing.
   * @param {string} upload
   * @param {Corrections | null} corrections
   * @param {number} rows How many of its first rows to show.
   * @returns {Promise<Detection>}
   */
  datasetDetect: (upload, corrections, rows) => command('dataset_detect', { upload, corrections, rows }),
  /**
   * Imports the uploaded file (the app's copy goes, whatever happens). Free.
   * @param {string} upload
   * @param {string | null} name The dataset's name (the file's when null).
   * @param {Corrections | null} corrections
   * @param {number | null} replace Import it again over this dataset (the same file).
   * @returns {Promise<Imported>}
   */
  datasetImport: (upload, name, corrections, replace) => command('dataset_import', { upload, name, corrections, replace }),
  /** @returns {Promise<Dataset[]>} Oldest first. */
  datasetList: () => command('dataset_list'),
  /**
   * @param {number} id
   * @param {string} name
   * @returns {Promise<Dataset>}
   */
  datasetRename: (id, name) => command('dataset_rename', { id, name }),
  /**
   * Deletes a dataset with its saved results.
   * @param {number} id
   * @returns {Promise<void>}
   */
  datasetDelete: (id) => command('dataset_delete', { id }),
  /**
   * @param {number} id
   * @returns {Promise<Profile>}
   */
  datasetProfile: (id) => command('dataset_profile', { id }),
  /**
   * @param {number} id
   * @param {number} offset
   * @param {number} limit At most 1,000.
   * @returns {Promise<Preview>}
   */
  datasetPreview: (id, offset, limit) => command('dataset_preview', { id, offset, limit }),
  /**
   * @param {AnalysisKind} kind
   * @returns {Promise<number>} Credits.
   */
  analysisPrice: (kind) => command('analysis_price', { kind }),
  /**
   * Runs a paid analysis; `analysisCancel(ticket)` stops it (it then rejects with `cancelled`).
   * @param {number} dataset
   * @param {AnalysisSpec} analysis
   * @param {string} ticket Letters, digits and -, unique per run.
   * @returns {Promise<PaidResult>}
   */
  analysisRun: (dataset, analysis, ticket) => command('analysis_run', { dataset, analysis, ticket }),
  /**
   * @param {string} ticket
   * @returns {Promise<void>}
   */
  analysisCancel: (ticket) => command('analysis_cancel', { ticket }),
  /**
   * @param {number | null} dataset All datasets' when null.
   * @returns {Promise<SavedResult[]>} Newest first, without their bodies.
   */
  analysisResults: (dataset) => command('analysis_results', { dataset }),
  /**
   * @param {number} id
   * @returns {Promise<SavedResult>} Free, offline.
   */
  analysisResult: (id) => command('analysis_result', { id }),
  /**
   * @param {number} id
   * @returns {Promise<string>} The saved file's path.
   */
  analysisExportCsv: (id) => command('analysis_export_csv', { id }),
  /**
   * @param {number} id
   * @param {'png' | 'svg'} format
   * @param {Uint8Array} bytes
   * @returns {Promise<string>} The saved file's path.
   */
  analysisExportChart: (id, format, bytes) => command('analysis_export_chart', bytes, {
    headers: { 'x-result-id': String(id), 'x-format': format },
  }),

  // ---------- buying credits ----------
  /** @returns {Promise<Pack[]>} */
  creditsPacks: () => command('credits_packs'),
  /**
   * Opens the pack's payment page; the outcome arrives as `onPurchased` or `onPurchaseFailed`.
   * @param {string} pack
   * @returns {Promise<PurchaseStarted>}
   */
  creditsBuy: (pack) => command('credits_buy', { pack }),
  /** @returns {Promise<PurchaseStarted | null>} */
  creditsPending: () => command('credits_pending'),
  /** @returns {Promise<void>} The purchase then fails with `purchase_not_completed`. */
  creditsCancel: () => command('credits_cancel'),
  /** @returns {Promise<void>} */
  creditsOpenAgain: () => command('credits_open_again'),

  // ---------- sync and devices (with a credit service) ----------
  /** @returns {Promise<SyncStatus>} From local files only. */
  syncStatus: () => command('sync_status'),
  /** @returns {Promise<SyncStatus>} Rejects with why the sync failed. */
  syncNow: () => command('sync_now'),
  /** @returns {Promise<void>} Something changed here: sync in a moment. */
  syncSoon: () => command('sync_soon'),
  /** @returns {Promise<void>} The import's report was shown: it is not sent again. */
  syncImportShown: () => command('sync_import_shown'),
  /** @returns {Promise<Device[]>} Oldest first, removed ones too; needs the service. */
  devicesList: () => command('devices_list'),
  /**
   * Removes another device as lost.
   * @param {string} deviceId
   * @returns {Promise<Device>}
   */
  devicesRemove: (deviceId) => command('devices_remove', { deviceId }),

  // ---------- events from the shell ----------
  /** @param {(account: SignedInEvent) => void} handler */
  onSignedIn: (handler) => listen('auth://signed-in', handler),
  /** @param {(error: CoreError) => void} handler */
  onSignInFailed: (handler) => listen('auth://sign-in-failed', handler),
  /** @param {(link: RedeemLink) => void} handler */
  onRedeemLink: (handler) => listen('deeplink://redeem', handler),
  /** @param {(event: PurchasedEvent) => void} handler */
  onPurchased: (handler) => listen('credits://purchased', handler),
  /** @param {(error: CoreError) => void} handler */
  onPurchaseFailed: (handler) => listen('credits://purchase-failed', handler),
  /** @param {(link: PurchaseLink) => void} handler */
  onPurchaseLink: (handler) => listen('deeplink://purchase', handler),
  /** @param {() => void} handler The CLI (another process) changed accounts or the wallet. */
  onStateChanged: (handler) => listen('state://changed', () => handler()),
  /** @param {(status: SyncStatus) => void} handler */
  onSyncStatus: (handler) => listen('sync://status', handler),
};
})();
