//! Model-based property test of the sync protocol (issue 9): N devices and the service, with
//! partitions, duplicated, reordered and dropped push messages, service and device crashes,
//! old replays and conflicting reuse of entry ids. Issue 9's invariants are checked after
//! every step, and once more after a final sync of every device.
//!
//! Two runs share the code:
//! - the service is an in-memory model of the rules, written here from the issue (256 cases);
//! - the same model AND the real service code (`sync::Devices` on the real PostgreSQL, no HTTP)
//!   side by side (24 cases): every push, lease and removal must get the same outcomes and leave
//!   the same balance in both, and the invariants are checked on the real balance too.
//!
//! Lease requests and removals are modelled as reliable round trips (only pushes and their
//! answers travel through the faulty network); lease expiry is not exercised (no clock moves).

use crate::support::ledger;
use chrono::{DateTime, Utc};
use latchkey_server::ledger::{Account, Operation};
use latchkey_server::sync::{Devices, LeasePolicy};
use latchkey_wire::{EntryKind, Outcome, PushBatch, PushEntry, RejectReason};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU32, Ordering};

const DEVICES: usize = 3;

#[derive(Debug, Clone)]
enum Step {
    Grant(i64),
    Lease(usize, i64),
    Spend(usize, i64),
    Send(usize),
    Deliver(usize),
    Duplicate(usize),
    Drop(usize),
    Partition(usize),
    Heal(usize),
    CrashService,
    CrashDevice(usize),
    Remove(usize),
    /// Re-sends an entry the device already had answered (an old replay).
    Replay(usize, usize),
    /// Sends an already used entry id with another amount.
    Reuse(usize, usize),
}

fn step() -> impl Strategy<Value = Step> {
    let d = 0..DEVICES;
    prop_oneof![
        1 => (1i64..60).prop_map(Step::Grant),
        2 => (d.clone(), 0i64..40).prop_map(|(d, c)| Step::Lease(d, c)),
        5 => (d.clone(), 1i64..12).prop_map(|(d, a)| Step::Spend(d, a)),
        3 => d.clone().prop_map(Step::Send),
        4 => any::<usize>().prop_map(Step::Deliver),
        1 => any::<usize>().prop_map(Step::Duplicate),
        1 => any::<usize>().prop_map(Step::Drop),
        1 => d.clone().prop_map(Step::Partition),
        1 => d.clone().prop_map(Step::Heal),
        1 => Just(Step::CrashService),
        1 => d.clone().prop_map(Step::CrashDevice),
        1 => d.clone().prop_map(Step::Remove),
        1 => (d.clone(), any::<usize>()).prop_map(|(d, n)| Step::Replay(d, n)),
        1 => (d, any::<usize>()).prop_map(|(d, n)| Step::Reuse(d, n)),
    ]
}

/// The service's rules, as issue 9 states them.
#[derive(Default)]
struct ModelService {
    posted: i64,
    granted_total: i64,
    next_lease: i64,
    /// lease id -> (device, granted, spent, hold, closed)
    leases: BTreeMap<i64, ModelLease>,
    removed: HashSet<usize>,
    /// entry id -> (params, stored outcome)
    entries: HashMap<String, ((usize, i64, i64), Stored)>,
}

#[derive(Debug, Clone)]
struct ModelLease {
    device: usize,
    granted: i64,
    spent: i64,
    hold: i64,
    closed: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stored {
    Applied(i64),
    Rejected(RejectReason),
}

/// An outcome without its `server_seq` (the model has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    Applied,
    Already,
    Conflict,
    Rejected(RejectReason),
}

fn said(o: &Outcome) -> Said {
    match o {
        Outcome::Applied { .. } => Said::Applied,
        Outcome::AlreadyApplied { .. } => Said::Already,
        Outcome::Conflict => Said::Conflict,
        Outcome::Rejected { reason, .. } => Said::Rejected(*reason),
    }
}

impl ModelService {
    fn held(&self) -> i64 {
        self.leases
            .values()
            .filter(|l| !l.closed)
            .map(|l| l.hold)
            .sum()
    }

    fn available(&self) -> i64 {
        self.posted - self.held()
    }

    fn open_lease(&self, d: usize) -> Option<i64> {
        self.leases
            .iter()
            .find(|(_, l)| l.device == d && !l.closed)
            .map(|(id, _)| *id)
    }

    /// `Err(())`: the device is removed.
    fn lease(&mut self, d: usize, asked: i64, real_id: Option<i64>) -> Result<(i64, i64), ()> {
        if self.removed.contains(&d) {
            return Err(());
        }
        let target = asked.clamp(0, LeasePolicy::default().max_credits);
        let mut free = self.available();
        if let Some(id) = self.open_lease(d) {
            let l = self.leases.get_mut(&id).unwrap();
            free += l.hold;
            let remaining = l.granted - l.spent;
            l.hold = remaining.max(target).min(free);
            l.granted = l.spent + remaining.max(l.hold);
            return Ok((id, l.granted));
        }
        self.next_lease += 1;
        let id = real_id.unwrap_or(self.next_lease);
        let hold = target.min(free);
        self.leases.insert(
            id,
            ModelLease {
                device: d,
                granted: hold,
                spent: 0,
                hold,
                closed: false,
            },
        );
        Ok((id, hold))
    }

    fn remove(&mut self, d: usize) {
        if self.removed.insert(d) {
            if let Some(id) = self.open_lease(d) {
                self.leases.get_mut(&id).unwrap().closed = true;
            }
        }
    }

    fn push(&mut self, d: usize, batch: &[Local]) -> Vec<Said> {
        let mut out = Vec::new();
        for e in batch {
            let params = (d, e.amount, e.lease);
            if let Some((p, stored)) = self.entries.get(&e.id) {
                out.push(match (p == &params, stored) {
                    (false, _) => Said::Conflict,
                    (true, Stored::Applied(_)) => Said::Already,
                    (true, Stored::Rejected(r)) => Said::Rejected(*r),
                });
                continue;
            }
            let free = self.available();
            let stored = if self.removed.contains(&d) {
                Stored::Rejected(RejectReason::DeviceRemoved)
            } else {
                match self.leases.get_mut(&e.lease) {
                    Some(l) if l.device == d => {
                        if l.closed {
                            Stored::Rejected(RejectReason::LeaseClosed)
                        } else if l.spent + e.amount > l.granted {
                            Stored::Rejected(RejectReason::BeyondLease)
                        } else {
                            let from_hold = l.hold.min(e.amount);
                            if e.amount - from_hold > free {
                                Stored::Rejected(RejectReason::BeyondLease)
                            } else {
                                l.hold -= from_hold;
                                l.spent += e.amount;
                                self.posted -= e.amount;
                                Stored::Applied(e.amount)
                            }
                        }
                    }
                    _ => Stored::Rejected(RejectReason::UnknownLease),
                }
            };
            out.push(match stored {
                Stored::Applied(_) => Said::Applied,
                Stored::Rejected(r) => Said::Rejected(r),
            });
            self.entries.insert(e.id.clone(), (params, stored));
        }
        out
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Pending,
    Applied,
    Rejected,
}

#[derive(Debug, Clone)]
struct Local {
    id: String,
    amount: i64,
    lease: i64,
    status: Status,
}

#[derive(Default)]
struct ModelDevice {
    /// (lease id, granted) as last answered.
    lease: Option<(i64, i64)>,
    entries: Vec<Local>,
    offline: bool,
}

impl ModelDevice {
    /// What the device may still spend offline: its lease less every entry not rejected.
    fn remaining(&self) -> i64 {
        self.lease
            .map_or(0, |(id, granted)| granted - self.spent_under(id))
    }

    fn spent_under(&self, lease: i64) -> i64 {
        self.entries
            .iter()
            .filter(|e| e.lease == lease && e.status != Status::Rejected)
            .map(|e| e.amount)
            .sum()
    }
}

enum Msg {
    Push(usize, Vec<Local>),
    Answer(usize, Vec<(String, Said)>),
}

impl Msg {
    fn device(&self) -> usize {
        match self {
            Msg::Push(d, _) | Msg::Answer(d, _) => *d,
        }
    }

    fn copy(&self) -> Msg {
        match self {
            Msg::Push(d, b) => Msg::Push(*d, b.clone()),
            Msg::Answer(d, a) => Msg::Answer(*d, a.clone()),
        }
    }
}

/// The real service code over PostgreSQL, one account per case.
struct Real<'a> {
    devices: &'a Devices,
    ledger: &'a latchkey_server::ledger::Ledger,
    who: Account,
}

fn device_id(d: usize) -> String {
    format!("model-device-{d:04}")
}

fn now() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2026-01-01T00:00:00Z")
        .unwrap()
        .with_timezone(&Utc)
}

fn wire(e: &Local) -> PushEntry {
    PushEntry {
        entry_id: e.id.clone(),
        kind: EntryKind::Spend,
        amount: e.amount,
        lease_id: e.lease,
        local_time: now(),
        memo: None,
    }
}

struct World<'a> {
    service: ModelService,
    devices: Vec<ModelDevice>,
    net: Vec<Msg>,
    real: Option<Real<'a>>,
    next_entry: usize,
}

fn fail(msg: String) -> TestCaseError {
    TestCaseError::fail(msg)
}

impl World<'_> {
    /// The service answers a push: the model, and the real code when present (same outcomes).
    async fn serve(&mut self, d: usize, batch: &[Local]) -> Result<Vec<Said>, TestCaseError> {
        let want = self.service.push(d, batch);
        if let Some(r) = &self.real {
            let b = PushBatch {
                entries: batch.iter().map(wire).collect(),
            };
            let got = r
                .devices
                .push(&r.who, &device_id(d), &b, now())
                .await
                .map_err(|e| fail(format!("push: {e}")))?;
            let got: Vec<Said> = got.outcomes.iter().map(|o| said(&o.outcome)).collect();
            prop_assert_eq!(
                &got,
                &want,
                "the real service and the model disagree on a push"
            );
        }
        Ok(want)
    }

    fn receive(&mut self, d: usize, answers: &[(String, Said)]) {
        for (id, s) in answers {
            let Some(e) = self.devices[d].entries.iter_mut().find(|e| &e.id == id) else {
                continue;
            };
            match s {
                Said::Applied | Said::Already => e.status = Status::Applied,
                Said::Rejected(_) => e.status = Status::Rejected,
                // Never sent by an honest device for its own entries (Reuse answers are dropped).
                Said::Conflict => {}
            }
        }
    }

    async fn step(&mut self, s: &Step) -> Result<(), TestCaseError> {
        match *s {
            Step::Grant(a) => {
                self.service.posted += a;
                self.service.granted_total += a;
                if let Some(r) = &self.real {
                    let op = Operation::Grant {
                        amount: a,
                        memo: None,
                    };
                    r.ledger.apply(&r.who, None, &op, now()).await.unwrap();
                }
            }
            Step::Lease(d, c) => {
                if self.devices[d].offline {
                    return Ok(());
                }
                let real = match &self.real {
                    Some(r) => Some(
                        r.devices
                            .lease(&r.who, &device_id(d), Some(c), now())
                            .await
                            .map_err(|e| e.to_string()),
                    ),
                    None => None,
                };
                let real_id = real
                    .as_ref()
                    .and_then(|r| r.as_ref().ok().map(|l| l.lease_id));
                let want = self.service.lease(d, c, real_id);
                if let Some(got) = real {
                    match (&got, &want) {
                        (Ok(l), Ok((id, granted))) => {
                            prop_assert_eq!((l.lease_id, l.granted), (*id, *granted))
                        }
                        (Err(_), Err(())) => {}
                        _ => prop_assert!(false, "lease: real {:?} model {:?}", got, want),
                    }
                }
                if let Ok(l) = want {
                    self.devices[d].lease = Some(l);
                }
            }
            Step::Spend(d, a) => {
                // The device's own rule: only from what is left of its lease.
                if self.devices[d].remaining() >= a {
                    let (id, lease) = (self.next_entry, self.devices[d].lease.unwrap().0);
                    self.next_entry += 1;
                    self.devices[d].entries.push(Local {
                        id: format!("e{id}"),
                        amount: a,
                        lease,
                        status: Status::Pending,
                    });
                }
            }
            Step::Send(d) => {
                let pending: Vec<Local> = self.devices[d]
                    .entries
                    .iter()
                    .filter(|e| e.status == Status::Pending)
                    .cloned()
                    .collect();
                if !self.devices[d].offline && !pending.is_empty() {
                    self.net.push(Msg::Push(d, pending));
                }
            }
            Step::Deliver(n) if !self.net.is_empty() => {
                let m = self.net.remove(n % self.net.len());
                if self.devices[m.device()].offline {
                    return Ok(()); // cut by the partition
                }
                match m {
                    Msg::Push(d, batch) => {
                        let said = self.serve(d, &batch).await?;
                        let answers = batch.iter().map(|e| e.id.clone()).zip(said).collect();
                        self.net.push(Msg::Answer(d, answers));
                    }
                    Msg::Answer(d, answers) => self.receive(d, &answers),
                }
            }
            Step::Duplicate(n) if !self.net.is_empty() => {
                let copy = self.net[n % self.net.len()].copy();
                self.net.push(copy);
            }
            Step::Drop(n) if !self.net.is_empty() => {
                let n = n % self.net.len();
                self.net.remove(n);
            }
            Step::Deliver(_) | Step::Duplicate(_) | Step::Drop(_) => {}
            Step::Partition(d) => self.devices[d].offline = true,
            Step::Heal(d) => self.devices[d].offline = false,
            // Committed state survives; whatever was in flight (answers included) is lost.
            Step::CrashService => self.net.clear(),
            Step::CrashDevice(d) => self.net.retain(|m| m.device() != d),
            Step::Remove(d) => {
                let by = (d + 1) % DEVICES;
                if self.devices[by].offline {
                    return Ok(());
                }
                self.service.remove(d);
                if let Some(r) = &self.real {
                    r.devices
                        .remove(&r.who, &device_id(d), now())
                        .await
                        .map_err(|e| fail(format!("remove: {e}")))?;
                }
            }
            Step::Replay(d, n) => {
                let done: Vec<Local> = self.devices[d]
                    .entries
                    .iter()
                    .filter(|e| e.status != Status::Pending)
                    .cloned()
                    .collect();
                if let Some(e) = done.get(n % done.len().max(1)) {
                    let said = self.serve(d, std::slice::from_ref(e)).await?;
                    if e.status == Status::Applied {
                        prop_assert_eq!(said[0], Said::Already, "an old replay changes nothing");
                    } else {
                        prop_assert!(matches!(said[0], Said::Rejected(_)), "still rejected");
                    }
                }
            }
            Step::Reuse(d, n) => {
                // Only ids the service has stored: a used id with other parameters is refused.
                let stored: Vec<Local> = self.devices[d]
                    .entries
                    .iter()
                    .filter(|e| self.service.entries.contains_key(&e.id))
                    .cloned()
                    .collect();
                if let Some(e) = stored.get(n % stored.len().max(1)) {
                    let mut other = e.clone();
                    other.amount += 1;
                    let said = self.serve(d, &[other]).await?;
                    prop_assert_eq!(said[0], Said::Conflict, "a reused id is a conflict");
                }
            }
        }
        Ok(())
    }

    async fn invariants(&self) -> Result<(), TestCaseError> {
        let m = &self.service;
        prop_assert!(m.available() >= 0, "available >= 0");
        let applied: i64 = m
            .entries
            .values()
            .filter_map(|(_, s)| match s {
                Stored::Applied(a) => Some(*a),
                _ => None,
            })
            .sum();
        prop_assert_eq!(
            m.posted,
            m.granted_total - applied,
            "each applied entry counted once, nothing else moved"
        );
        for l in m.leases.values() {
            prop_assert!(l.spent <= l.granted, "a lease is never overspent: {:?}", l);
        }
        for (i, d) in self.devices.iter().enumerate() {
            if let Some((id, granted)) = d.lease {
                prop_assert!(
                    d.spent_under(id) <= granted,
                    "device {}'s offline spends exceed its lease",
                    i
                );
            }
            for e in &d.entries {
                match (e.status, m.entries.get(&e.id).map(|x| x.1)) {
                    (Status::Pending, _) => {}
                    (Status::Applied, Some(Stored::Applied(_))) => {}
                    (Status::Rejected, Some(Stored::Rejected(_))) => {}
                    (s, stored) => {
                        prop_assert!(false, "{} shows {:?}, service {:?}", e.id, s, stored)
                    }
                }
            }
        }
        if let Some(r) = &self.real {
            let b = r.ledger.balance(&r.who, now()).await.unwrap();
            prop_assert_eq!(
                (b.posted, b.held),
                (m.posted, m.held()),
                "the real balance is the model's"
            );
            prop_assert!(b.available >= 0);
        }
        Ok(())
    }

    /// Heal everything, forget the network, and let every device push until nothing is
    /// pending; then every local entry is applied or rejected, as the service says, and the
    /// real service's pull lists every entry id once.
    async fn settle(&mut self) -> Result<(), TestCaseError> {
        self.net.clear();
        for d in 0..DEVICES {
            self.devices[d].offline = false;
            let pending: Vec<Local> = self.devices[d]
                .entries
                .iter()
                .filter(|e| e.status == Status::Pending)
                .cloned()
                .collect();
            if !pending.is_empty() {
                let said = self.serve(d, &pending).await?;
                let answers: Vec<_> = pending.iter().map(|e| e.id.clone()).zip(said).collect();
                self.receive(d, &answers);
            }
            prop_assert!(
                self.devices[d]
                    .entries
                    .iter()
                    .all(|e| e.status != Status::Pending),
                "every local entry ends applied or rejected"
            );
        }
        self.invariants().await?;
        if let Some(r) = &self.real {
            let mut seen = HashMap::new();
            let mut after = 0;
            loop {
                let page = r
                    .devices
                    .pull(&r.who, Some(after), Some(7))
                    .await
                    .map_err(|e| fail(format!("pull: {e}")))?;
                for e in &page.entries {
                    if let Some(id) = &e.entry_id {
                        prop_assert!(
                            seen.insert(id.clone(), e.rejected.is_none()).is_none(),
                            "{} pulled twice",
                            id
                        );
                    }
                }
                after = page.cursor;
                if !page.more {
                    break;
                }
            }
            for (id, (_, stored)) in &self.service.entries {
                prop_assert_eq!(
                    seen.get(id).copied(),
                    Some(matches!(stored, Stored::Applied(_))),
                    "every device sees {} as the service has it",
                    id
                );
            }
        }
        Ok(())
    }
}

async fn run(real: Option<Real<'_>>, steps: &[Step]) -> Result<(), TestCaseError> {
    if let Some(r) = &real {
        for d in 0..DEVICES {
            r.devices
                .register(&r.who, &device_id(d), "model", now())
                .await
                .map_err(|e| fail(format!("register: {e}")))?;
        }
    }
    let mut w = World {
        service: ModelService::default(),
        devices: (0..DEVICES).map(|_| ModelDevice::default()).collect(),
        net: Vec::new(),
        real,
        next_entry: 0,
    };
    for (i, s) in steps.iter().enumerate() {
        w.step(s)
            .await
            .map_err(|e| fail(format!("step {i} {s:?}: {e}")))?;
        w.invariants()
            .await
            .map_err(|e| fail(format!("after step {i} {s:?}: {e}")))?;
    }
    w.settle().await
}

#[test]
fn the_protocol_keeps_its_invariants_in_the_model() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let mut runner = TestRunner::new(Config {
        cases: 256,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(step(), 1..80), |steps| {
            rt.block_on(run(None, &steps))
        })
        .unwrap();
}

#[test]
fn the_real_service_agrees_with_the_model() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (l, _) = rt.block_on(ledger());
    let devices = Devices::new(l.pool().clone(), LeasePolicy::default());
    static CASE: AtomicU32 = AtomicU32::new(0);
    let mut runner = TestRunner::new(Config {
        cases: 24,
        failure_persistence: None,
        ..Config::default()
    });
    runner
        .run(&proptest::collection::vec(step(), 1..60), |steps| {
            let real = Real {
                devices: &devices,
                ledger: &l,
                who: Account {
                    issuer: "https://issuer.test".into(),
                    subject: format!("sync-model-{}", CASE.fetch_add(1, Ordering::SeqCst)),
                },
            };
            rt.block_on(run(Some(real), &steps))
        })
        .unwrap();
}
