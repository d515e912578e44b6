//! The tracking plan at ingest: judging a frame's events, and the violation
//! counters kept beside the log.
//!
//! Counters are per (event name, violation kind, path), each with how many
//! violations were allowed, flagged and quarantined, when the first and the
//! last were seen, and the last one's message as an example. They count
//! from the plan's activation ([`Partition::set_plan`](super::Partition::set_plan)
//! starts them again). A partition keeps at most [`MAX_PLAN_COUNTERS`]
//! triples; past that, new ones are counted per kind only, under no event
//! and no path, so that a flood of unplanned names cannot grow storage.
//!
//! Key: `n` + name length (u32 BE) + name + kind code (u16 BE) + path; the
//! per-kind overflow uses the length `0xffff_ffff` and no name or path.
//! Value: `1` + allowed, flagged, quarantined, first seen, last seen (u64 BE
//! each) + the example message.

use super::payload::{self, Marks};
use super::types::{PlanTally, ReplayOutcome};
use super::{log_be_u64, log_corrupt, Partition, PartitionError, STORED_LIMITS};
use crate::event::Event;
use crate::frame;
use crate::log::{Log, RetentionPolicy};
use crate::plan::{Action, Plan, Violation, ViolationKind};
use crate::storage::{keys, Storage, StorageError, WriteBatch};
use std::collections::BTreeMap;

/// Most (event, kind, path) counters one partition keeps.
pub const MAX_PLAN_COUNTERS: u64 = 1_000;

const VALUE_VERSION: u8 = 1;
const OVERFLOW: u32 = u32::MAX;

fn count_key() -> Vec<u8> {
    keys::with_str(keys::LOG_META, "plan-counters")
}

/// What the plan decided for one frame's events.
#[derive(Debug, Default)]
pub(crate) struct Judged {
    /// Marks of the frame's event batch: the quarantined events omitted,
    /// the flagged ones' violations.
    pub events: Marks,
    /// Marks of its quarantine batch: every other event omitted, the
    /// quarantined ones' violations.
    pub quarantine: Marks,
    /// The counts the append reports.
    pub tally: PlanTally,
    /// Every violation with its event's name and the action taken.
    counted: Vec<(String, Violation, Action)>,
}

impl Judged {
    /// True when no event is quarantined.
    pub fn keeps_all(&self) -> bool {
        self.tally.quarantined == 0
    }
}

/// Judges every event of a frame.
pub(crate) fn judge(plan: &Plan, events: &[Event<'_>]) -> Judged {
    let mut j = Judged::default();
    for (i, e) in events.iter().enumerate() {
        let verdict = plan.check(e);
        if verdict.violations.is_empty() {
            continue;
        }
        let i = i as u32;
        j.tally.violations += verdict.violations.len() as u32;
        match verdict.action {
            Action::Allow => {}
            Action::Flag => {
                j.tally.flagged += 1;
                j.events.add_violations(i, &verdict.violations);
            }
            Action::Quarantine => {
                j.tally.quarantined += 1;
                j.events.omitted.push(i);
                j.quarantine.add_violations(i, &verdict.violations);
            }
        }
        for v in verdict.violations {
            j.counted
                .push((e.trigger_name().to_owned(), v, verdict.action));
        }
    }
    if !j.keeps_all() {
        j.quarantine.omitted = (0..events.len() as u32)
            .filter(|i| j.events.omitted.binary_search(i).is_err())
            .collect();
    }
    j
}

/// One counter, as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanCounter {
    /// The event's name as the plan names it (`$page`, a track name); `None`
    /// for the per-kind overflow past [`MAX_PLAN_COUNTERS`].
    pub event: Option<String>,
    /// The kind of violation.
    pub kind: ViolationKind,
    /// Where (`properties.price`, `event`); `None` for the overflow.
    pub path: Option<String>,
    /// Violations on events the plan let through unmarked.
    pub allowed: u64,
    /// Violations on flagged events.
    pub flagged: u64,
    /// Violations on quarantined events.
    pub quarantined: u64,
    /// When the first was counted (ms since the epoch).
    pub first_seen: u64,
    /// When the last was counted.
    pub last_seen: u64,
    /// The last one's message.
    pub example: String,
}

impl PlanCounter {
    /// Every violation counted.
    pub fn total(&self) -> u64 {
        self.allowed + self.flagged + self.quarantined
    }

    fn new(event: Option<&str>, v: &Violation, now: u64) -> PlanCounter {
        PlanCounter {
            event: event.map(str::to_owned),
            kind: v.kind,
            path: event.map(|_| v.path.clone()),
            allowed: 0,
            flagged: 0,
            quarantined: 0,
            first_seen: now,
            last_seen: now,
            example: String::new(),
        }
    }

    fn add(&mut self, action: Action, now: u64, message: &str) {
        match action {
            Action::Allow => self.allowed += 1,
            Action::Flag => self.flagged += 1,
            Action::Quarantine => self.quarantined += 1,
        }
        self.last_seen = now;
        message.clone_into(&mut self.example);
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(41 + self.example.len());
        v.push(VALUE_VERSION);
        for n in [
            self.allowed,
            self.flagged,
            self.quarantined,
            self.first_seen,
            self.last_seen,
        ] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        v.extend_from_slice(self.example.as_bytes());
        v
    }
}

fn key(event: Option<&str>, kind: ViolationKind, path: &str) -> Vec<u8> {
    let (len, name) = match event {
        Some(n) => (n.len() as u32, n),
        None => (OVERFLOW, ""),
    };
    let mut k = Vec::with_capacity(7 + name.len() + path.len());
    k.push(keys::PLAN_COUNTERS);
    k.extend_from_slice(&len.to_be_bytes());
    k.extend_from_slice(name.as_bytes());
    k.extend_from_slice(&kind.code().to_be_bytes());
    if event.is_some() {
        k.extend_from_slice(path.as_bytes());
    }
    k
}

fn corrupt(k: &[u8], reason: &str) -> StorageError {
    StorageError::Corrupt {
        key: String::from_utf8_lossy(k).into_owned(),
        reason: reason.to_owned(),
    }
}

fn decode(k: &[u8], v: &[u8]) -> Result<PlanCounter, StorageError> {
    fn be<'b>(k: &[u8], b: &'b [u8], at: usize, n: usize) -> Result<&'b [u8], StorageError> {
        b.get(at..at + n).ok_or_else(|| corrupt(k, "short"))
    }
    let len = u32::from_be_bytes(be(k, k, 1, 4)?.try_into().unwrap_or_default());
    let (event, rest) = if len == OVERFLOW {
        (None, 5)
    } else {
        let name = be(k, k, 5, len as usize)?;
        let name = String::from_utf8(name.to_vec()).map_err(|_| corrupt(k, "name"))?;
        (Some(name), 5 + len as usize)
    };
    let code = u16::from_be_bytes(be(k, k, rest, 2)?.try_into().unwrap_or_default());
    let kind = ViolationKind::from_code(code).ok_or_else(|| corrupt(k, "unknown kind"))?;
    let path = event
        .as_ref()
        .map(|_| String::from_utf8_lossy(&k[rest + 2..]).into_owned());
    if v.first() != Some(&VALUE_VERSION) || v.len() < 41 {
        return Err(corrupt(k, "counter of unknown format"));
    }
    let n = |i: usize| u64::from_be_bytes(v[1 + 8 * i..9 + 8 * i].try_into().unwrap_or_default());
    Ok(PlanCounter {
        event,
        kind,
        path,
        allowed: n(0),
        flagged: n(1),
        quarantined: n(2),
        first_seen: n(3),
        last_seen: n(4),
        example: String::from_utf8_lossy(&v[41..]).into_owned(),
    })
}

/// Adds a frame's violations to the counters, into `writes`.
pub(crate) fn stage_counters<S: Storage>(
    store: &S,
    writes: &mut WriteBatch,
    judged: &Judged,
    now: u64,
) -> Result<(), StorageError> {
    if judged.counted.is_empty() {
        return Ok(());
    }
    let count_key = count_key();
    let mut stored = match store.get(&count_key)? {
        Some(v) => u64::from_be_bytes(
            v.as_slice()
                .try_into()
                .map_err(|_| corrupt(&count_key, "bad count"))?,
        ),
        None => 0,
    };
    let before = stored;
    let mut touched: BTreeMap<Vec<u8>, PlanCounter> = BTreeMap::new();
    for (event, v, action) in &judged.counted {
        let mut k = key(Some(event), v.kind, &v.path);
        if !touched.contains_key(&k) {
            match store.get(&k)? {
                Some(value) => {
                    touched.insert(k.clone(), decode(&k, &value)?);
                }
                None if stored < MAX_PLAN_COUNTERS => {
                    stored += 1;
                    touched.insert(k.clone(), PlanCounter::new(Some(event), v, now));
                }
                None => {
                    k = key(None, v.kind, "");
                    if !touched.contains_key(&k) {
                        let c = match store.get(&k)? {
                            Some(value) => decode(&k, &value)?,
                            None => PlanCounter::new(None, v, now),
                        };
                        touched.insert(k.clone(), c);
                    }
                }
            }
        }
        if let Some(c) = touched.get_mut(&k) {
            c.add(*action, now, &v.message);
        }
    }
    for (k, c) in touched {
        writes.put(k, c.encode());
    }
    if stored != before {
        writes.put(count_key, stored.to_be_bytes().to_vec());
    }
    Ok(())
}

/// Every counter, in key order (by event name length, then name).
pub(crate) fn read_counters<S: Storage>(store: &S) -> Result<Vec<PlanCounter>, StorageError> {
    let start = [keys::PLAN_COUNTERS];
    let limit = MAX_PLAN_COUNTERS as usize + ViolationKind::ALL.len();
    store
        .scan(&start, &keys::prefix_end(&start), limit)?
        .iter()
        .map(|(k, v)| decode(k, v))
        .collect()
}

/// Starts the counters again, into `writes`.
pub(crate) fn reset_counters(writes: &mut WriteBatch) {
    let start = [keys::PLAN_COUNTERS];
    writes.delete_range(start.to_vec(), keys::prefix_end(&start));
    writes.delete(count_key());
}

pub(super) fn plan_key() -> Vec<u8> {
    keys::with_str(keys::TRIGGER_META, "active-plan")
}

fn plan_since_key() -> Vec<u8> {
    keys::with_str(keys::TRIGGER_META, "plan-since")
}

/// The violation counters of a partition's plan.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PlanCounters {
    /// When the active plan was set (the counters count from then).
    pub since: Option<u64>,
    /// Each (event, kind, path) counter.
    pub counters: Vec<PlanCounter>,
}

impl Partition {
    /// Activates a tracking plan: stores its JSON (restored by
    /// [`Partition::open`]), starts its violation counters again and judges
    /// every event appended from now on. `plan` must be `Plan::parse(json)`.
    /// Events already stored stay where they are; quarantined ones come
    /// out with [`Partition::replay_quarantine`].
    pub fn set_plan<S: Storage>(
        &mut self,
        store: &mut S,
        json: &str,
        plan: Plan,
        now: u64,
    ) -> Result<(), PartitionError> {
        let mut writes = WriteBatch::new();
        writes.put(plan_key(), json.as_bytes().to_vec());
        writes.put(plan_since_key(), now.to_be_bytes().to_vec());
        reset_counters(&mut writes);
        store.commit(writes)?;
        self.plan = Some(plan);
        self.plan_error = None;
        Ok(())
    }

    /// The active plan's JSON, if one was set.
    pub fn plan_file<S: Storage>(&self, store: &S) -> Result<Option<String>, PartitionError> {
        Ok(store
            .get(&plan_key())?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The active plan's violation counters.
    pub fn plan_counters<S: Storage>(&self, store: &S) -> Result<PlanCounters, PartitionError> {
        let since = match store.get(&plan_since_key())? {
            Some(v) => Some(log_be_u64(&v, 0)?),
            None => None,
        };
        Ok(PlanCounters {
            since,
            counters: read_counters(store)?,
        })
    }

    /// One bounded step of a replay of the quarantine: the batches below
    /// `until` (the stream's end when the replay started; `None` on the
    /// first step) are judged again by the active plan (with none, every
    /// event is let through). What it lets through is appended to the event
    /// stream, flagged events with their violations; what it still
    /// quarantines is appended to the quarantine again with the violations
    /// found now; the batches replayed leave the quarantine, all in one
    /// commit, so every event stays in exactly one of the two streams.
    ///
    /// Released events keep their frame's context, identity and time of
    /// receipt; triggers do not run on them (they are late: the visitor's
    /// state has moved on) and the counters do not count them again.
    pub fn replay_quarantine<S: Storage>(
        &mut self,
        store: &mut S,
        until: Option<u64>,
        now: u64,
    ) -> Result<ReplayOutcome, PartitionError> {
        let quarantine = Log::quarantine();
        let mut qmeta = quarantine.meta(store)?;
        let until = until.unwrap_or(qmeta.next_offset).min(qmeta.next_offset);
        let mut out = ReplayOutcome {
            until,
            ..ReplayOutcome::default()
        };
        let mut writes = WriteBatch::new();
        // Retention's front deletion, bounded, keeping what is at or past
        // `until` (the batches this replay appends).
        let everything_below = RetentionPolicy {
            max_age_ms: None,
            max_bytes: Some(0),
            keep_from: Some(until),
        };
        let bound = self.config.max_timeout_work.max(1);
        let step = quarantine.enforce_retention(
            store,
            &mut qmeta,
            &mut writes,
            everything_below,
            now,
            bound,
        )?;
        out.more = step.more && qmeta.earliest_offset < until;
        let events = Log::events();
        let mut emeta = events.meta(store)?;
        for batch in &step.deleted {
            let key = quarantine.batch_key(batch.base_offset);
            let stored = payload::decode(batch.payload(), &key)?;
            let frame = frame::decode(stored.frame, &STORED_LIMITS)
                .map_err(|e| log_corrupt(&key, &e.to_string()))?;
            // What the batch holds, judged again: let through (`released`)
            // or still quarantined (`kept`), each side with its events'
            // frame indices, newest timestamp and marks.
            let received_at = stored.marks.received_at.unwrap_or(batch.header.append_time);
            let mut released = Side::new(received_at, None);
            let mut kept = Side::new(received_at, stored.marks.placed);
            for (i, event) in frame.events.iter().enumerate() {
                let index = i as u32;
                if !stored.marks.holds(index) {
                    continue;
                }
                match self.plan.as_ref().map(|p| p.check(event)) {
                    Some(v) if v.action == Action::Quarantine => {
                        kept.take(index, event.timestamp, &v.violations)
                    }
                    Some(v) if v.action == Action::Flag => {
                        released.take(index, event.timestamp, &v.violations)
                    }
                    _ => released.take(index, event.timestamp, &[]),
                }
            }
            out.released += released.holds.len() as u64;
            out.kept += kept.holds.len() as u64;
            let all = frame.events.len() as u32;
            for (side, log, meta) in [
                (released, events, &mut emeta),
                (kept, quarantine, &mut qmeta),
            ] {
                if side.holds.is_empty() {
                    continue;
                }
                let mut marks = side.marks;
                marks.omitted = (0..all)
                    .filter(|i| side.holds.binary_search(i).is_err())
                    .collect();
                let bytes = payload::encode(stored.frame, stored.enrichment.as_ref(), &marks);
                log.append(
                    meta,
                    &mut writes,
                    side.holds.len(),
                    now,
                    side.newest,
                    &bytes,
                )?;
            }
        }
        if !writes.is_empty() {
            store.commit(writes)?;
        }
        Ok(out)
    }
}

/// One side of a quarantine batch judged again by
/// [`Partition::replay_quarantine`].
struct Side {
    /// The frame indices of its events, ascending.
    holds: Vec<u32>,
    /// Their newest timestamp.
    newest: u64,
    /// Their violations, receipt time and placement (`omitted` is set from
    /// `holds` when the batch is written).
    marks: Marks,
}

impl Side {
    fn new(received_at: u64, placed: Option<(u64, u32)>) -> Side {
        Side {
            holds: Vec::new(),
            newest: 0,
            marks: Marks {
                received_at: Some(received_at),
                placed,
                ..Marks::default()
            },
        }
    }

    fn take(&mut self, index: u32, timestamp: u64, violations: &[crate::plan::Violation]) {
        self.holds.push(index);
        self.newest = self.newest.max(timestamp);
        if !violations.is_empty() {
            self.marks.add_violations(index, violations);
        }
    }
}
