//! Deterministic simulation of producers, partitions and slow readers with
//! injected faults, checked against the queue properties Jepsen checks:
//! no lost acknowledged event, no duplicate, no offset with two values, no
//! gap.
//!
//! Everything is driven by one seed and simulated time, so a failing run
//! replays exactly: `SIM_SEED=123 cargo test -p broker-core --test sim`.
//! `SIM_SEEDS=N` runs seeds `0..N` (default 300); `SIM_DEBUG=1` prints every
//! append's outcome.
//!
//! Faults: a commit that fails with nothing applied, a commit that applies
//! but whose reply is lost (the driver crashed between the append and the
//! acknowledgement), a partition restart (the driver state is rebuilt from
//! storage), lost and duplicated network messages delivered in any order
//! (so retries arrive late and out of order), producers idle long enough
//! to expire, readers that read a few records at a time, fall behind
//! retention and restart from their committed position.

#[path = "sim/readers.rs"]
mod readers;
#[path = "sim/support.rs"]
mod support;

use broker_core::log::partition_for;
use broker_core::log::LogError;
use broker_core::partition::{Partition, PartitionConfig, PartitionError};
use broker_core::trigger::{firing_id, Firing, TriggerFile};
use readers::{read_firings_once, read_once};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use support::{tagged_frame, FaultyStorage, Rng, Tag};

const PARTITIONS: u32 = 3;
const PRODUCERS: u64 = 9;
const STEPS: usize = 800;
const T0: u64 = 1_764_000_000_000;
const MIN: u64 = 60_000;

/// `every` fires on each frame's first event at once; `later` on each
/// frame's second event, two minutes after it (a delayed firing, fired from
/// the alarm or before the visitor's next event).
const TRIGGERS: &str = r#"{"version": 1, "triggers": [
  {"id": "every", "when": {"event": "Sim Event", "where": [{"prop": "i", "op": "eq", "value": 0}]},
   "action": {"type": "note", "payload": {"n": 1}}},
  {"id": "later", "when": {"event": "Sim Event", "where": [{"prop": "i", "op": "eq", "value": 1}]},
   "unless": {"event": "Never Sent", "within": "2m"}, "action": {"type": "late"}}
]}"#;
const DELAY: u64 = 2 * MIN;

fn config(partition: u32) -> PartitionConfig {
    let mut c = PartitionConfig::new(partition, PARTITIONS);
    c.max_past_ms = 10 * MIN;
    c.max_future_ms = MIN;
    // More than max_past + max_future: the rule that makes accepting a
    // first-seen producer at any sequence safe (see the log module docs).
    c.producer_ttl_ms = 11 * MIN + 1;
    c.retention_ms = Some(40 * MIN);
    c.retention_bytes = Some(256 * 1024);
    c.max_timeout_work = 3;
    c
}

struct Pending {
    seq: u64,
    bytes: Vec<u8>,
}

struct Producer {
    id: u64,
    visitor: String,
    partition: usize,
    next_seq: u64,
    pending: Option<Pending>,
    /// sequence -> (base offset, count) acknowledged.
    acked: BTreeMap<u64, (u64, u32)>,
    /// sequence -> event count of every frame ever sent.
    sent: BTreeMap<u64, u64>,
    idle_until: u64,
    /// Non-empty frames acknowledged with no events (refused for their
    /// timestamps as their producer's next frame, then sent again): never
    /// stored before, never stored after, so none of their events may be
    /// in the log. (A frame refused after its producer expired may have
    /// been stored before, by an attempt whose reply was lost.)
    refused: BTreeSet<u64>,
}

struct Reader {
    name: String,
    position: Option<u64>,
    skipped: u64,
}

struct Part {
    store: FaultyStorage,
    part: Partition,
    reader: Reader,
    /// Every (offset, tag) any read ever returned.
    observed: BTreeMap<u64, Tag>,
    firing_reader: Reader,
    /// Every (offset, firing) any read of the firing stream returned.
    observed_firings: BTreeMap<u64, Firing>,
    /// Firing ids a page acknowledged, and those whose ack failed (it may
    /// or may not have been applied).
    acked_firings: BTreeSet<String>,
    maybe_acked: BTreeSet<String>,
    restarts: u64,
}

struct Msg {
    producer: usize,
    seq: u64,
    bytes: Vec<u8>,
}

#[derive(Default)]
struct Counters {
    appends: u64,
    duplicates: u64,
    stale: u64,
    expired_timestamps: u64,
    storage_errors: u64,
    lost_replies: u64,
    exact_firing_checks: u64,
    firings: u64,
}

struct Sim {
    rng: Rng,
    now: u64,
    producers: Vec<Producer>,
    parts: Vec<Part>,
    net: Vec<Msg>,
    faults: bool,
    c: Counters,
}

type Check = Result<(), String>;

impl Sim {
    fn new(seed: u64) -> Sim {
        let mut rng = Rng::new(seed);
        let parts = (0..PARTITIONS)
            .map(|p| {
                let mut store = FaultyStorage::new(rng.next_u64(), 0, 0);
                let mut part = Partition::open(&store, config(p)).expect("open");
                let file = TriggerFile::parse(TRIGGERS).expect("the sim's triggers are valid");
                part.set_triggers(&mut store, TRIGGERS, file)
                    .expect("set triggers");
                store.fail_before = 40;
                store.fail_after = 40;
                Part {
                    store,
                    part,
                    reader: Reader {
                        name: format!("reader-{p}"),
                        position: None,
                        skipped: 0,
                    },
                    observed: BTreeMap::new(),
                    firing_reader: Reader {
                        name: format!("firing-reader-{p}"),
                        position: None,
                        skipped: 0,
                    },
                    observed_firings: BTreeMap::new(),
                    acked_firings: BTreeSet::new(),
                    maybe_acked: BTreeSet::new(),
                    restarts: 0,
                }
            })
            .collect();
        let producers = (0..PRODUCERS)
            .map(|i| {
                // Producers 6.. share a visitor with another: a second tab, or a
                // page reload (a new producer id for the same visitor).
                let visitor = format!("visitor-{seed}-{}", i % 6);
                Producer {
                    id: rng.next_u64(),
                    partition: partition_for(&visitor, PARTITIONS) as usize,
                    visitor,
                    next_seq: rng.below(3) * 7, // some start past 0: first-seen
                    pending: None,
                    acked: BTreeMap::new(),
                    sent: BTreeMap::new(),
                    idle_until: 0,
                    refused: BTreeSet::new(),
                }
            })
            .collect();
        Sim {
            rng,
            now: T0,
            producers,
            parts,
            net: Vec::new(),
            faults: true,
            c: Counters::default(),
        }
    }

    fn step(&mut self) -> Check {
        self.now += if self.rng.chance(10) {
            5 * MIN + self.rng.below(10 * MIN)
        } else {
            self.rng.below(3_000)
        };
        match self.rng.below(100) {
            0..=29 => self.produce(),
            30..=64 => self.deliver()?,
            65..=66 if self.faults => self.restart_partition(),
            67..=76 => self.alarms(),
            77..=87 => self.read()?,
            88..=92 => self.read_firings()?,
            93..=94 => self.page_connects()?,
            95..=96 if self.faults => self.restart_reader(),
            _ => {}
        }
        Ok(())
    }

    fn produce(&mut self) {
        let i = self.rng.below(self.producers.len() as u64) as usize;
        let now = self.now;
        let p = &mut self.producers[i];
        if p.pending.is_none() {
            if now < p.idle_until {
                return;
            }
            let count = if self.rng.chance(30) {
                0
            } else {
                1 + self.rng.below(6)
            };
            let seq = p.next_seq;
            p.sent.insert(seq, count);
            p.pending = Some(Pending {
                seq,
                bytes: tagged_frame(&p.visitor, p.id, seq, count, now),
            });
        }
        // Send, or resend after a timeout; sometimes twice at once.
        if let Some(pending) = &p.pending {
            let copies = if self.faults && self.rng.chance(100) {
                2
            } else {
                1
            };
            for _ in 0..copies {
                self.net.push(Msg {
                    producer: i,
                    seq: pending.seq,
                    bytes: pending.bytes.clone(),
                });
            }
        }
    }

    fn deliver(&mut self) -> Check {
        if self.net.is_empty() {
            return Ok(());
        }
        // Any message may overtake any other.
        let k = self.rng.below(self.net.len() as u64) as usize;
        let msg = if self.faults && self.rng.chance(50) {
            let m = &self.net[k];
            Msg {
                producer: m.producer,
                seq: m.seq,
                bytes: m.bytes.clone(),
            }
        } else {
            self.net.swap_remove(k)
        };
        let part_idx = self.producers[msg.producer].partition;
        let part = &mut self.parts[part_idx];
        let result = part.part.append(&mut part.store, &msg.bytes, self.now);
        if self.faults && self.rng.chance(50) {
            self.c.lost_replies += 1;
            return Ok(());
        }
        self.on_reply(msg.producer, msg.seq, result)
    }

    fn on_reply(
        &mut self,
        i: usize,
        seq: u64,
        result: Result<broker_core::partition::AppendOutcome, PartitionError>,
    ) -> Check {
        let now = self.now;
        if std::env::var_os("SIM_DEBUG").is_some() {
            let r = result
                .as_ref()
                .map(|o| (o.base_offset, o.count, o.duplicate, o.firings.len()));
            eprintln!("t={now} producer={i} seq={seq} -> {r:?}");
        }
        let idle = if self.rng.chance(20) {
            self.rng.below(25 * MIN)
        } else {
            0
        };
        let p = &mut self.producers[i];
        let is_pending = p.pending.as_ref().is_some_and(|x| x.seq == seq);
        match result {
            Ok(out) => {
                self.c.appends += 1;
                self.c.duplicates += u64::from(out.duplicate);
                if out.sequence != seq || out.producer_id != p.id {
                    return Err(format!(
                        "reply for {seq} names {}/{}",
                        out.producer_id, out.sequence
                    ));
                }
                let got = (out.base_offset, out.count);
                if let Some(prev) = p.acked.insert(seq, got) {
                    // An empty frame owns no offsets, and carries no timestamp
                    // to refuse it by once its producer expired: a late copy
                    // is taken again at the then next offset, storing nothing.
                    if prev != got && got.1 != 0 {
                        return Err(format!(
                            "producer {} seq {seq} acknowledged twice with different offsets: {prev:?} then {got:?}",
                            p.id
                        ));
                    }
                }
                if out.count == 0 && p.sent[&seq] > 0 {
                    // Refused for its timestamps before (the reply may have
                    // been lost): taken with no events.
                    p.refused.insert(seq);
                } else if u64::from(out.count) != p.sent[&seq] {
                    return Err(format!(
                        "seq {seq}: acked {} events, sent {}",
                        out.count, p.sent[&seq]
                    ));
                }
                if is_pending {
                    p.pending = None;
                    p.next_seq = seq + 1;
                    p.idle_until = now + idle;
                }
            }
            Err(PartitionError::Log(LogError::StaleSequence { .. })) => {
                // Stored before, offsets forgotten: only ever for old copies.
                self.c.stale += 1;
                if is_pending {
                    return Err(format!(
                        "the pending frame {seq} of {} was called stale",
                        p.id
                    ));
                }
            }
            Err(e @ PartitionError::Log(LogError::SequenceGap { .. })) => {
                // Liveness: producers send in order and move on only past a
                // frame that was stored or refused for good (whose sequence
                // the partition then took), so they never meet a gap.
                return Err(format!("producer {} met a gap: {e}", p.id));
            }
            Err(PartitionError::TimestampOutOfRange { .. }) => {
                self.c.expired_timestamps += 1;
                if is_pending {
                    // The SDK drops a frame the relay will never take.
                    p.pending = None;
                    p.next_seq = seq + 1;
                }
            }
            Err(PartitionError::Storage(_)) => self.c.storage_errors += 1,
            Err(e) => return Err(format!("unexpected append error: {e}")),
        }
        Ok(())
    }

    fn restart_partition(&mut self) {
        let k = self.rng.below(PARTITIONS as u64) as usize;
        let part = &mut self.parts[k];
        part.part = Partition::open(&part.store, config(k as u32)).expect("reopen");
        part.restarts += 1;
    }

    fn alarms(&mut self) {
        let now = self.now;
        for part in &mut self.parts {
            if let Ok(Some(due)) = part.part.poll_timeout(&part.store, now) {
                if due <= now {
                    // A failed alarm is simply run again later.
                    let _ = part.part.handle_timeout(&mut part.store, now);
                }
            }
        }
    }

    fn restart_reader(&mut self) {
        let k = self.rng.below(PARTITIONS as u64) as usize;
        self.parts[k].reader.position = None;
        self.parts[k].firing_reader.position = None;
    }

    fn read_firings(&mut self) -> Check {
        let k = self.rng.below(PARTITIONS as u64) as usize;
        let most = if self.rng.chance(300) { 200 } else { 8 };
        let max_records = 1 + self.rng.below(most) as usize;
        let commit = self.rng.chance(300);
        read_firings_once(&mut self.parts[k], max_records, commit)
    }

    /// A page of a visitor connects: it is sent the undelivered firings
    /// and acknowledges some of them.
    fn page_connects(&mut self) -> Check {
        let i = self.rng.below(self.producers.len() as u64) as usize;
        let visitor = self.producers[i].visitor.clone();
        let part = &mut self.parts[self.producers[i].partition];
        let pending = match part.part.undelivered_firings(&part.store, &visitor) {
            Ok(p) => p,
            Err(e) => return Err(format!("undelivered_firings failed: {e}")),
        };
        let mut acks = Vec::new();
        for (offset, f) in &pending {
            if *f.visitor != *visitor || part.acked_firings.contains(&f.firing_id) {
                return Err(format!("undelivered to {visitor}: {f:?} (acked before?)"));
            }
            if self.rng.chance(600) {
                acks.push((*offset, f.firing_id.clone()));
            }
        }
        let offsets: Vec<u64> = acks.iter().map(|a| a.0).collect();
        let ok = part
            .part
            .ack_firings(&mut part.store, &visitor, &offsets)
            .is_ok();
        for (_, id) in acks {
            if ok {
                part.acked_firings.insert(id);
            } else {
                part.maybe_acked.insert(id);
            }
        }
        Ok(())
    }

    fn read(&mut self) -> Check {
        let k = self.rng.below(PARTITIONS as u64) as usize;
        // Mostly a few records at a time; now and then a catch-up read.
        let most = if self.rng.chance(300) { 200 } else { 8 };
        let max_records = 1 + self.rng.below(most) as usize;
        let max_bytes = if self.rng.chance(300) { 1 } else { usize::MAX };
        let commit = self.rng.chance(300);
        read_once(&mut self.parts[k], max_records, max_bytes, commit)
    }

    /// Faults off: every producer gets its pending frame acknowledged.
    fn drain(&mut self) -> Check {
        self.faults = false;
        for part in &mut self.parts {
            part.store.fail_before = 0;
            part.store.fail_after = 0;
        }
        for _ in 0..20_000 {
            if self.producers.iter().all(|p| p.pending.is_none()) {
                self.net.clear();
                // Every delayed firing falls due.
                self.now += DELAY;
                for part in &mut self.parts {
                    while part
                        .part
                        .handle_timeout(&mut part.store, self.now)
                        .map_err(|e| e.to_string())?
                        .more
                    {}
                }
                return Ok(());
            }
            self.now += 30_000;
            for i in 0..self.producers.len() {
                let p = &self.producers[i];
                if let Some(pending) = &p.pending {
                    let (seq, bytes) = (pending.seq, pending.bytes.clone());
                    let part = &mut self.parts[p.partition];
                    let r = part.part.append(&mut part.store, &bytes, self.now);
                    self.on_reply(i, seq, r)?;
                }
            }
            self.alarms();
        }
        Err("producers still pending after draining".into())
    }

    fn check(&mut self) -> Check {
        // The readers read on to the end (counting what retention took
        // from under them).
        for part in &mut self.parts {
            loop {
                let before = part.reader.position;
                read_once(part, 1_000, usize::MAX, false)?;
                if part.reader.position == before {
                    break;
                }
            }
        }
        let mut seen: HashMap<Tag, (usize, u64)> = HashMap::new();
        for (k, part) in self.parts.iter().enumerate() {
            let stats = part.part.stats(&part.store).map_err(|e| e.to_string())?;
            if part.reader.position != Some(stats.events.end) {
                return Err(format!(
                    "partition {k}: final read stopped at {:?}, end {}",
                    part.reader.position, stats.events.end
                ));
            }
            for (&offset, &tag) in &part.observed {
                if let Some(prev) = seen.insert(tag, (k, offset)) {
                    return Err(format!(
                        "duplicate: {tag:?} at {prev:?} and at ({k}, {offset})"
                    ));
                }
                let p = self.producers.iter().find(|p| p.id == tag.0);
                if p.is_some_and(|p| p.refused.contains(&tag.1)) {
                    return Err(format!("{tag:?} is stored, but its frame was refused"));
                }
                let known = p.is_some_and(|p| {
                    p.partition == k && p.sent.get(&tag.1).is_some_and(|&n| tag.2 < n)
                });
                if !known {
                    return Err(format!(
                        "partition {k} offset {offset} holds {tag:?}, never sent there"
                    ));
                }
            }
        }
        for p in &self.producers {
            let part = &self.parts[p.partition];
            let earliest = part
                .part
                .stats(&part.store)
                .map_err(|e| e.to_string())?
                .events
                .earliest;
            for (&seq, &(base, count)) in &p.acked {
                for i in 0..u64::from(count) {
                    let offset = base + i;
                    match part.observed.get(&offset) {
                        Some(&tag) if tag == (p.id, seq, i) => {}
                        Some(&tag) => {
                            return Err(format!(
                                "offset {offset} acked for {:?} holds {tag:?}",
                                (p.id, seq, i)
                            ))
                        }
                        // Never read before retention deleted it: allowed
                        // only below the earliest offset.
                        None if offset < earliest => {}
                        None => {
                            return Err(format!(
                                "lost acknowledged event {:?} at {offset}",
                                (p.id, seq, i)
                            ))
                        }
                    }
                }
            }
        }
        self.check_firings()
    }

    /// Firings: each exactly once in the firing stream at dense offsets,
    /// every one the observed events call for, none they do not (where the
    /// readers saw everything), and the undelivered entries exactly the
    /// stored, unacknowledged firings.
    fn check_firings(&mut self) -> Check {
        let visitor_of: HashMap<u64, String> = self
            .producers
            .iter()
            .map(|p| (p.id, p.visitor.clone()))
            .collect();
        for (k, part) in self.parts.iter_mut().enumerate() {
            let stats = part.part.stats(&part.store).map_err(|e| e.to_string())?;
            self.c.firings += stats.firings.end;
            loop {
                let before = part.firing_reader.position;
                read_firings_once(part, 1_000, false)?;
                if part.firing_reader.position == before {
                    break;
                }
            }
            let mut ids = BTreeSet::new();
            for f in part.observed_firings.values() {
                if !ids.insert(f.firing_id.clone()) {
                    return Err(format!(
                        "partition {k}: firing {} stored twice",
                        f.firing_id
                    ));
                }
            }
            let mut expected = BTreeSet::new();
            for (&offset, tag) in &part.observed {
                let visitor = &visitor_of[&tag.0];
                match tag.2 {
                    0 => expected.insert(firing_id("every", visitor, offset)),
                    1 => expected.insert(firing_id("later", visitor, offset)),
                    _ => false,
                };
            }
            if part.firing_reader.skipped == 0 {
                self.c.exact_firing_checks += 1;
                if let Some(missing) = expected.difference(&ids).next() {
                    return Err(format!("partition {k}: firing {missing} never stored"));
                }
            }
            if part.reader.skipped == 0 {
                if let Some(phantom) = ids.difference(&expected).next() {
                    return Err(format!("partition {k}: firing {phantom} has no event"));
                }
            }
            for p in self.producers.iter().filter(|p| p.partition == k) {
                let got: BTreeSet<String> = part
                    .part
                    .undelivered_firings(&part.store, &p.visitor)
                    .map_err(|e| e.to_string())?
                    .into_iter()
                    .map(|(_, f)| f.firing_id)
                    .collect();
                let stored: BTreeSet<String> = part
                    .observed_firings
                    .range(stats.firings.earliest..)
                    .filter(|(_, f)| *f.visitor == *p.visitor)
                    .map(|(_, f)| f.firing_id.clone())
                    .filter(|id| !part.acked_firings.contains(id))
                    .collect();
                let must: BTreeSet<&String> = stored
                    .iter()
                    .filter(|id| !part.maybe_acked.contains(*id))
                    .collect();
                let extra: Vec<&String> = got.iter().filter(|id| !stored.contains(*id)).collect();
                let missing: Vec<&&String> = must.iter().filter(|id| !got.contains(**id)).collect();
                if !extra.is_empty() || !missing.is_empty() {
                    return Err(format!(
                        "partition {k}: undelivered for {} has {extra:?} not stored unacked, lacks {missing:?}",
                        p.visitor
                    ));
                }
            }
        }
        Ok(())
    }
}

fn run(seed: u64) -> Result<Sim, String> {
    let mut sim = Sim::new(seed);
    for _ in 0..STEPS {
        sim.step()?;
    }
    sim.drain()?;
    sim.check()?;
    Ok(sim)
}

#[test]
fn simulated_runs_keep_the_queue_properties() {
    let seeds: Vec<u64> = match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED must be a number")],
        Err(_) => {
            let n = std::env::var("SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(300);
            (0..n).collect()
        }
    };
    let mut total = Counters::default();
    let (mut injected, mut restarts, mut skipped, mut events) = (0, 0, 0, 0);
    for &seed in &seeds {
        match run(seed) {
            Ok(sim) => {
                let c = &sim.c;
                total.appends += c.appends;
                total.duplicates += c.duplicates;
                total.stale += c.stale;
                total.expired_timestamps += c.expired_timestamps;
                total.storage_errors += c.storage_errors;
                total.lost_replies += c.lost_replies;
                total.exact_firing_checks += c.exact_firing_checks;
                total.firings += c.firings;
                for part in &sim.parts {
                    injected += part.store.injected;
                    restarts += part.restarts;
                    skipped += part.reader.skipped;
                    events += part.observed.len() as u64;
                }
            }
            Err(why) => panic!(
                "seed {seed} failed: {why}\nreplay: SIM_SEED={seed} cargo test -p broker-core --test sim"
            ),
        }
    }
    println!(
        "{} seeds: {} appends ({} duplicates), {} events read, {} firings, {} injected storage faults, {} storage errors seen, {} lost replies, {} restarts, {} stale, {} too old, {} offsets skipped by slow readers, {} of {} partitions with exact firing checks",
        seeds.len(), total.appends, total.duplicates, events, total.firings, injected, total.storage_errors,
        total.lost_replies, restarts, total.stale, total.expired_timestamps, skipped,
        total.exact_firing_checks, seeds.len() as u64 * u64::from(PARTITIONS)
    );
    // The faults must actually have happened, or the run proves little.
    if seeds.len() >= 50 {
        assert!(total.duplicates > 0 && injected > 0 && restarts > 0 && total.stale > 0);
        assert!(skipped > 0 && total.expired_timestamps > 0);
    }
}
