//! One partition: the log and the trigger engine together, as the relay's
//! Durable Object drives it.
//!
//! Like `quinn-proto`, [`Partition`] does no I/O and reads no clock: the
//! driver passes `now` in, hands it a [`Storage`], and performs what it
//! returns (acknowledgements, firings to push, the next alarm from
//! [`Partition::poll_timeout`]). The struct holds only its configuration and
//! the trigger engine; everything durable is committed through the storage,
//! one atomic commit per operation, so a driver that restarts (or crashes
//! between a commit and its acknowledgement) opens the same storage and
//! carries on: a frame sent again is recognised as a duplicate.
//!
//! Key layout: see [`crate::log`]; the active trigger file is stored under
//! `t` + `active-file`, the active tracking plan under `t` + `active-plan`
//! (and when it was set under `t` + `plan-since`), its violation counters
//! ([`PlanCounter`]) under `n` + name length (u32) + event name + kind code
//! (u16) + path, and their number under `m` + `plan-counters`.
//!
//! With a tracking plan ([`Partition::set_plan`]), every event of a frame is
//! judged in the append's commit: allowed and flagged events go to the
//! event stream (flagged ones marked with their violations), quarantined
//! ones to the `quarantine` stream, never both and never neither; triggers
//! see only the event stream's.
//!
//! ```
//! use broker_core::frame::{self, Context, Frame};
//! use broker_core::partition::{Partition, PartitionConfig};
//! use broker_core::{Event, EventKind, MemoryStorage};
//!
//! let mut store = MemoryStorage::new();
//! let mut p = Partition::open(&store, PartitionConfig::new(0, 1))?;
//! let now = 1_764_000_000_000;
//! let page = Event { kind: EventKind::Page, name: "Home".into(), timestamp: now, properties: vec![] };
//! let bytes = frame::encode(&Frame {
//!     producer_id: 7,
//!     sequence: 0,
//!     sent_at: now,
//!     context: Context { anonymous_id: "v-1".into(), ..Context::default() },
//!     events: vec![page],
//! })?;
//! let ack = p.append(&mut store, &bytes, now)?;
//! assert_eq!((ack.base_offset, ack.count, ack.duplicate), (0, 1, false));
//! // Sent again (the reply was lost): same offsets, stored once.
//! let again = p.append(&mut store, &bytes, now)?;
//! assert_eq!((again.base_offset, again.duplicate), (0, true));
//! let read = p.read_events(&store, 0, 100, 1 << 20)?;
//! assert_eq!((read.records.len(), read.next_offset, read.end), (1, 1, 1));
//! assert_eq!(read.records[0].event.name, "Home");
//! // The driver sets its alarm to this: here, when the idle producer expires.
//! assert_eq!(p.poll_timeout(&store, now)?, Some(now + 24 * 3_600_000 + 600_000));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod error;
mod outcomes;
mod payload;
mod quality;
mod read;
mod types;

pub use error::PartitionError;
pub(crate) use error::STORAGE_CODE;
pub use outcomes::EXPLAIN_MAX_SCAN;
pub use quality::{PlanCounter, PlanCounters, MAX_PLAN_COUNTERS};
pub use types::{
    AppendOutcome, ConsumerPosition, EventRecord, EventSource, EventView, FiringRecord,
    PartitionConfig, PartitionStats, PlanTally, ReadOutcome, ReplayOutcome, StreamStats,
    TimeoutOutcome, ViewsRead, MAX_STATS_CONSUMERS,
};

use crate::context::Enrichment;
use crate::event::Event;
use crate::frame::{self, FrameError, Limits};
use crate::log::firing::{
    decode_firing, decode_outcomes, encode_outcomes_into, encode_undelivered,
    encode_undelivered_of, undelivered_entries, undelivered_key, undelivered_prefix,
};
use crate::log::BATCH_HEADER_LEN;
use crate::log::{
    self, check_sequence, Log, LogError, LogMeta, ProducerState, RecentBatch, RetentionPolicy,
    SequenceCheck, Stream,
};
use crate::plan::Plan;
use crate::stats;
use crate::storage::{keys, Storage, WriteBatch};
use crate::trigger::{Engine, Firing, Outcome, TriggerFile};
use std::borrow::Cow;
use std::ops::Range;

/// Limits for decoding frames already stored: they passed the configured
/// limits when they were appended, and must stay readable if the limits
/// are lowered later.
pub(crate) const STORED_LIMITS: Limits = Limits {
    max_frame_bytes: usize::MAX,
    max_inflated_bytes: usize::MAX,
    max_events: usize::MAX,
    max_properties: usize::MAX,
    max_depth: 64,
    max_string_bytes: usize::MAX,
};

/// Most undelivered firings returned for one visitor.
pub const MAX_UNDELIVERED: usize = 1_000;

fn trigger_file_key() -> Vec<u8> {
    keys::with_str(keys::TRIGGER_META, "active-file")
}

/// One partition of the topic. See the module docs.
#[derive(Debug)]
pub struct Partition {
    config: PartitionConfig,
    engine: Option<Engine>,
    /// Why the stored trigger file was not restored, if it was not.
    triggers_error: Option<String>,
    /// The active tracking plan.
    plan: Option<Plan>,
    /// Why the stored plan was not restored, if it was not.
    plan_error: Option<String>,
    /// The trigger counters' journal (its next sequence, its length).
    journal: stats::Journal,
    /// The last frame's vectors, for the next one's decode.
    reuse: frame::Reuse,
    /// Vectors an append's firings pass through, kept for the next append
    /// (seven appends in ten fire with the 50 bench triggers; the firings'
    /// and the outcomes' vectors were about a kilobyte each). Emptied at
    /// the start of each append and periodic run, so that a call that
    /// failed half-way leaves nothing behind.
    scratch: Scratch,
}

/// See [`Partition::scratch`].
#[derive(Debug, Default)]
struct Scratch {
    /// The engine's firings of one call.
    firings: Vec<Firing>,
    /// Those firings, then the call's conversions, for the firing stream.
    outcomes: Vec<Outcome>,
    /// Where each outcome's undelivered entry lies in the firing batch.
    entries: Vec<Option<Range<usize>>>,
    /// The delivered firings: their offsets and their entries' places.
    delivered: Vec<(u64, Range<usize>)>,
}

impl Partition {
    /// The partition over `store`, with the trigger file stored by the last
    /// [`Partition::set_triggers`] active again. A configuration that fails
    /// [`PartitionConfig::validate`] is [`PartitionError::InvalidConfig`].
    ///
    /// A stored trigger file that no longer parses (written by a newer
    /// version, or corrupt) does not keep the partition from opening: the
    /// log goes on accepting and serving events with no triggers running,
    /// [`PartitionStats::triggers_error`] says why, and the next
    /// [`Partition::set_triggers`] replaces the file.
    pub fn open<S: Storage>(
        store: &S,
        config: PartitionConfig,
    ) -> Result<Partition, PartitionError> {
        config
            .validate()
            .map_err(|reason| PartitionError::InvalidConfig { reason })?;
        let mut partition = Partition {
            config,
            engine: None,
            triggers_error: None,
            plan: None,
            plan_error: None,
            journal: stats::Journal::load(store)?,
            reuse: frame::Reuse::default(),
            scratch: Scratch::default(),
        };
        if let Some(bytes) = store.get(&quality::plan_key())? {
            match Plan::parse(&String::from_utf8_lossy(&bytes)) {
                Ok(plan) => partition.plan = Some(plan),
                Err(e) => {
                    partition.plan_error = Some(format!("the stored plan no longer parses: {e}"))
                }
            }
        }
        if let Some(bytes) = store.get(&trigger_file_key())? {
            let json = String::from_utf8_lossy(&bytes);
            match TriggerFile::parse(&json) {
                Ok(file) => {
                    let engine = counted(Engine::new(file));
                    partition.journal.bind(engine.file());
                    partition.engine = Some(engine);
                }
                Err(e) => {
                    let message = e
                        .errors
                        .iter()
                        .map(|x| format!("{}: {}", x.path, x.message))
                        .collect::<Vec<_>>()
                        .join("; ");
                    partition.triggers_error =
                        Some(PartitionError::StoredTriggersInvalid { message }.to_string());
                }
            }
        }
        Ok(partition)
    }

    /// The configuration.
    pub fn config(&self) -> &PartitionConfig {
        &self.config
    }

    /// Appends one frame as received (compressed or not), all or nothing.
    ///
    /// Checks, in order: the frame (inflate, decode, limits), the visitor's
    /// partition, the producer's sequence (a duplicate is acknowledged with
    /// its first offsets and nothing is written; its timestamps are not
    /// checked again), the event timestamps against `now`. Then one commit
    /// holds the batch, the producer state, the stream metadata, the trigger
    /// engine's state and the firings it caused.
    ///
    /// Every refusal writes nothing, except [`PartitionError::TimestampOutOfRange`]
    /// for a known producer: that frame's sequence is recorded as taken by
    /// an empty batch, so that the producer's next frame follows on (sent
    /// again, the refused frame is then acknowledged as a duplicate with no
    /// events).
    pub fn append<S: Storage>(
        &mut self,
        store: &mut S,
        frame_bytes: &[u8],
        now: u64,
    ) -> Result<AppendOutcome, PartitionError> {
        self.append_enriched(store, frame_bytes, now, None)
    }

    /// [`Partition::append`], with what the driver knows of the request
    /// and the page does not (place, device, bot verdict): stored with the
    /// frame and part of every event's context when read.
    pub fn append_enriched<S: Storage>(
        &mut self,
        store: &mut S,
        frame_bytes: &[u8],
        now: u64,
        enrichment: Option<&Enrichment>,
    ) -> Result<AppendOutcome, PartitionError> {
        let plain = self.plain_frame(frame_bytes)?;
        let mut frame = frame::decode_reusing(&plain, &self.config.limits, &mut self.reuse)?;
        let visitor = &frame.context.anonymous_id;
        if self.config.partitions > 0 {
            let expected = log::partition_for(visitor, self.config.partitions);
            if expected != self.config.partition {
                return Err(PartitionError::WrongPartition {
                    expected,
                    partition: self.config.partition,
                });
            }
        }
        let mut outcome = AppendOutcome {
            partition: self.config.partition,
            base_offset: 0,
            count: 0,
            duplicate: false,
            producer_id: frame.producer_id,
            sequence: frame.sequence,
            visitor: visitor.to_string(),
            firings: Vec::new(),
            plan: PlanTally::default(),
        };
        let state = ProducerState::load(store, frame.producer_id)?;
        if let SequenceCheck::Duplicate { base_offset, count } =
            check_sequence(state.as_ref(), frame.producer_id, frame.sequence)?
        {
            outcome.base_offset = base_offset;
            outcome.count = count;
            outcome.duplicate = true;
            return Ok(outcome);
        }
        let events_log = Log::events();
        let mut meta = events_log.meta(store)?;
        // An append with triggers writes about a dozen keys (event batch,
        // metadata, producer, visitor state, firings, counters).
        let mut writes = WriteBatch::with_capacity(16);
        let max_timestamp = match self.check_timestamps(&frame.events, now) {
            Ok(t) => t,
            Err(refused) => {
                // The frame is intact (its CRC passed) but can never be
                // stored: the SDK drops it and sends its next sequence.
                // Recording this one as taken, with no events, keeps that
                // next frame from meeting a gap until the producer expires.
                // Only for a known producer, whose frame here is `last + 1`:
                // a forgotten producer's next frame is accepted anyway, and
                // recording a late copy of an old frame would set its
                // sequence back.
                if state.is_some() {
                    let taken = RecentBatch {
                        sequence: frame.sequence,
                        base_offset: meta.next_offset,
                        count: 0,
                    };
                    ProducerState::record(
                        store,
                        state,
                        &mut writes,
                        frame.producer_id,
                        taken,
                        now,
                    )?;
                    store.commit(writes)?;
                }
                return Err(refused);
            }
        };
        if frame.events.is_empty() && state.is_none() {
            // An empty frame owns no offsets but still takes its sequence,
            // so that the producer's next frame is not a gap. From a
            // forgotten producer it takes nothing: it has no timestamp to
            // be refused by when it is a late copy of an old frame, and
            // recording it would set the producer's sequence back. (Its
            // next frame is accepted at any sequence anyway.)
            outcome.base_offset = meta.next_offset;
            return Ok(outcome);
        }
        let judged = match &self.plan {
            Some(plan) if !frame.events.is_empty() => quality::judge(plan, &frame.events),
            _ => quality::Judged::default(),
        };
        let kept = frame.events.len() - judged.tally.quarantined as usize;
        let count = u32::try_from(kept).map_err(|_| LogError::BatchTooLarge { count: kept })?;
        let base_offset = if count == 0 {
            meta.next_offset
        } else {
            events_log.append(
                &mut meta,
                &mut writes,
                kept,
                now,
                max_timestamp,
                &payload::encode(&plain, enrichment, &judged.events),
            )?
        };
        if !judged.keeps_all() {
            // The quarantined events, beside the frame's place in the
            // event stream, so that a replay can be matched with it.
            let log = Log::quarantine();
            let mut marks = judged.quarantine.clone();
            marks.placed = Some((base_offset, count));
            let quarantined = judged.tally.quarantined as usize;
            let mut qmeta = log.meta(store)?;
            let stored = payload::encode(&plain, enrichment, &marks);
            log.append(
                &mut qmeta,
                &mut writes,
                quarantined,
                now,
                max_timestamp,
                &stored,
            )?;
            // Triggers see only what the event stream holds.
            let mut i = 0u32;
            frame.events.retain(|_| {
                i += 1;
                judged.events.holds(i - 1)
            });
        }
        quality::stage_counters(store, &mut writes, &judged, now)?;
        outcome.plan = judged.tally;
        ProducerState::record(
            store,
            state,
            &mut writes,
            frame.producer_id,
            RecentBatch {
                sequence: frame.sequence,
                base_offset,
                count,
            },
            now,
        )?;
        match (&mut self.engine, count) {
            (Some(engine), 1..) => {
                // The events' context, as triggers read it: the frame's,
                // with what the relay added.
                let mut ctx = crate::context::context_view(&frame.context);
                if let Some(e) = enrichment {
                    e.add_to(&mut ctx);
                }
                // The record holds this call's outcomes only (a call that
                // failed may have left some).
                engine.clear_suppressed();
                let scratch = &mut self.scratch;
                scratch.clear();
                engine.on_events_into(
                    store,
                    &mut writes,
                    visitor,
                    (&frame.events, base_offset),
                    &ctx,
                    &mut scratch.firings,
                )?;
                outcomes(engine, &mut self.journal, store, &mut writes, scratch, now)?;
            }
            _ => self.scratch.clear(),
        }
        let mut firing_meta = None;
        outcome.firings =
            stage_firings(store, &mut firing_meta, &mut writes, &mut self.scratch, now)?;
        store.commit(writes)?;
        self.reuse.recycle(frame);
        outcome.base_offset = base_offset;
        outcome.count = count;
        Ok(outcome)
    }

    /// The frame as received, made plain. `frame::inflate` also checks the
    /// CRC, which `frame::decode` checks again: a plain frame (the usual
    /// case) skips it and gets only the size check that inflate would make.
    fn plain_frame<'b>(&self, bytes: &'b [u8]) -> Result<Cow<'b, [u8]>, PartitionError> {
        let max = self.config.limits.max_frame_bytes;
        if bytes.len() > max {
            return Err(FrameError::FrameTooLarge {
                len: bytes.len(),
                max,
            }
            .into());
        }
        if frame::peek(bytes)?.flags & frame::flags::DEFLATE == 0 {
            return Ok(Cow::Borrowed(bytes));
        }
        Ok(frame::inflate(bytes, &self.config.limits)?)
    }

    /// The newest timestamp of `events`, or the first one out of range.
    fn check_timestamps(&self, events: &[Event<'_>], now: u64) -> Result<u64, PartitionError> {
        let min = now.saturating_sub(self.config.max_past_ms);
        let max = now.saturating_add(self.config.max_future_ms);
        let mut newest = 0;
        for (index, e) in events.iter().enumerate() {
            if e.timestamp < min || e.timestamp > max {
                return Err(PartitionError::TimestampOutOfRange {
                    index,
                    timestamp: e.timestamp,
                    min,
                    max,
                });
            }
            newest = newest.max(e.timestamp);
        }
        Ok(newest)
    }

    /// The retention of `stream`: with an archive, only what the archive
    /// has written may go (the archive writes events and firings; the
    /// quarantine goes by age and size alone).
    fn retention<S: Storage>(
        &self,
        store: &S,
        stream: Stream,
    ) -> Result<RetentionPolicy, PartitionError> {
        let keep_from = match (self.config.archive, stream) {
            (true, Stream::Events | Stream::Firings) => {
                Some(log::archive_position(store, stream)?.unwrap_or(0))
            }
            _ => None,
        };
        Ok(RetentionPolicy {
            max_age_ms: self.config.retention_ms,
            max_bytes: self.config.retention_bytes,
            keep_from,
        })
    }

    /// Where the archive's next segment of `stream` starts: the position
    /// last committed, or the stream's earliest offset if none was.
    pub fn archive_position<S: Storage>(
        &self,
        store: &S,
        stream: Stream,
    ) -> Result<u64, PartitionError> {
        match log::archive_position(store, stream)? {
            Some(p) => Ok(p),
            None => Ok(stream.log().meta(store)?.earliest_offset),
        }
    }

    /// Moves the archive position of `stream` to `offset`, after the
    /// segment up to it was written. Past the stream's end is refused.
    pub fn commit_archive<S: Storage>(
        &mut self,
        store: &mut S,
        stream: Stream,
        offset: u64,
    ) -> Result<(), PartitionError> {
        not_past_end(store, stream, offset)?;
        let mut writes = WriteBatch::new();
        log::set_archive_position(&mut writes, stream, offset);
        store.commit(writes)?;
        Ok(())
    }

    /// The periodic work, from the driver's alarm: delayed trigger firings
    /// due at `now`, retention of both streams, producer expiry. Each kind
    /// of work is bounded by `max_timeout_work`; one commit holds it all.
    /// Safe to call at any time and more than once (alarms are
    /// at-least-once): work not due is not done.
    pub fn handle_timeout<S: Storage>(
        &mut self,
        store: &mut S,
        now: u64,
    ) -> Result<TimeoutOutcome, PartitionError> {
        let mut out = TimeoutOutcome::default();
        let mut writes = WriteBatch::new();
        let policy = self.retention(store, Stream::Events)?;
        let bound = self.config.max_timeout_work.max(1);

        let events_log = Log::events();
        let mut meta = events_log.meta(store)?;
        let step =
            events_log.enforce_retention(store, &mut meta, &mut writes, policy, now, bound)?;
        out.deleted_event_batches = step.deleted.len();
        out.more |= step.more;

        let firings_log = Log::firings();
        let policy = self.retention(store, Stream::Firings)?;
        let mut fmeta = firings_log.meta(store)?;
        let step =
            firings_log.enforce_retention(store, &mut fmeta, &mut writes, policy, now, bound)?;
        out.deleted_firing_batches = step.deleted.len();
        out.more |= step.more;
        let quarantine = Log::quarantine();
        let mut qmeta = quarantine.meta(store)?;
        let qpolicy = self.retention(store, Stream::Quarantine)?;
        out.more |= quarantine
            .enforce_retention(store, &mut qmeta, &mut writes, qpolicy, now, bound)?
            .more;
        for batch in &step.deleted {
            // A firing deleted from the log is no longer delivered either.
            let key = firings_log.batch_key(batch.base_offset);
            for (i, o) in decode_outcomes(batch.payload(), &key)?.iter().enumerate() {
                if let Outcome::Fired(f) = o {
                    if !f.held_out {
                        writes.delete(undelivered_key(&f.visitor, batch.base_offset + i as u64));
                    }
                }
            }
        }

        // The counter journal folded into the minute entries, then those
        // older than their retention deleted (one range delete).
        self.journal.fold(store, &mut writes, now)?;
        stats::expire(store, &mut writes, now)?;

        let expiry =
            log::expire_producers(store, &mut writes, now, self.config.producer_ttl_ms, bound)?;
        out.expired_producers = expiry.expired;
        out.more |= expiry.more;

        self.scratch.clear();
        if let Some(engine) = &mut self.engine {
            engine.clear_suppressed();
            self.scratch.firings = engine.on_timeout(store, &mut writes, now)?;
            outcomes(
                engine,
                &mut self.journal,
                store,
                &mut writes,
                &mut self.scratch,
                now,
            )?;
        }
        let mut firing_meta = Some(fmeta);
        out.firings = stage_firings(store, &mut firing_meta, &mut writes, &mut self.scratch, now)?;
        if !writes.is_empty() {
            store.commit(writes)?;
        }
        Ok(out)
    }

    /// When [`Partition::handle_timeout`] next has work (the driver sets
    /// its alarm to this), or `None` when nothing is scheduled. May be at or
    /// before `now`: call it right away.
    pub fn poll_timeout<S: Storage>(
        &self,
        store: &S,
        now: u64,
    ) -> Result<Option<u64>, PartitionError> {
        let candidates = [
            Log::events().retention_deadline(store, self.retention(store, Stream::Events)?, now)?,
            Log::firings().retention_deadline(
                store,
                self.retention(store, Stream::Firings)?,
                now,
            )?,
            Log::quarantine().retention_deadline(
                store,
                self.retention(store, Stream::Quarantine)?,
                now,
            )?,
            log::next_producer_expiry(store, self.config.producer_ttl_ms)?,
            match &self.engine {
                Some(engine) => engine.poll_timeout(store)?,
                None => None,
            },
        ];
        Ok(candidates.into_iter().flatten().min())
    }

    fn clamp(&self, max_records: usize, max_bytes: usize) -> (usize, usize) {
        (
            max_records.min(self.config.max_read_records),
            max_bytes.min(self.config.max_read_bytes),
        )
    }

    /// The firings of `visitor` its pages have not acknowledged, oldest
    /// first (at most [`MAX_UNDELIVERED`]), to send when a page connects.
    pub fn undelivered_firings<S: Storage>(
        &self,
        store: &S,
        visitor: &str,
    ) -> Result<Vec<(u64, Firing)>, PartitionError> {
        let prefix = undelivered_prefix(visitor);
        let entries = store.scan(&prefix, &keys::prefix_end(&prefix), MAX_UNDELIVERED)?;
        let mut out = Vec::with_capacity(entries.len());
        for (k, v) in entries {
            // A visitor id may contain NUL: `a\0b`'s entries also start with
            // `a`'s prefix, but their keys are longer.
            if k.len() != prefix.len() + 8 {
                continue;
            }
            let offset = log_be_u64(&k, prefix.len())?;
            for (o, bytes) in undelivered_entries(offset, &v, &k)? {
                if out.len() == MAX_UNDELIVERED {
                    return Ok(out);
                }
                let firing = decode_firing(bytes, &k)?;
                if *firing.visitor == *visitor {
                    out.push((o, firing));
                }
            }
        }
        Ok(out)
    }

    /// Marks firings of `visitor` as delivered. Unknown offsets are
    /// ignored, so that an ack sent twice is harmless. An append's firings
    /// share one undelivered entry: acknowledging part of them rewrites it
    /// with the rest (a read and a write per entry touched).
    pub fn ack_firings<S: Storage>(
        &mut self,
        store: &mut S,
        visitor: &str,
        firing_offsets: &[u64],
    ) -> Result<(), PartitionError> {
        let mut acked = firing_offsets.to_vec();
        acked.sort_unstable();
        acked.dedup();
        let prefix = undelivered_prefix(visitor);
        let end = keys::prefix_end(&prefix);
        let mut writes = WriteBatch::new();
        let mut i = 0;
        while let Some(&o) = acked.get(i) {
            // The entry that may hold `o`: the first at or after its key (an
            // entry is under the last offset it holds). Keys of another
            // length are of a visitor id that extends this one with a NUL.
            let found = store.scan(&undelivered_key(visitor, o), &end, 16)?;
            let Some((k, v)) = found.into_iter().find(|(k, _)| k.len() == prefix.len() + 8) else {
                break;
            };
            let key_offset = log_be_u64(&k, prefix.len())?;
            let held = undelivered_entries(key_offset, &v, &k)?;
            let held_len = held.len();
            let mut kept: Vec<(u64, &[u8])> = Vec::with_capacity(held_len);
            for (fo, bytes) in held {
                while acked.get(i).is_some_and(|&a| a < fo) {
                    i += 1;
                }
                if acked.get(i) == Some(&fo) {
                    i += 1;
                } else {
                    kept.push((fo, bytes));
                }
            }
            // Offsets up to the entry's key that it does not hold: unknown.
            while acked.get(i).is_some_and(|&a| a <= key_offset) {
                i += 1;
            }
            match kept.len() {
                0 => writes.delete(k),
                // The rest stays under the same key: the entries' order holds.
                n if n < held_len => writes.put(k.clone(), encode_undelivered(key_offset, &kept)),
                _ => {}
            }
        }
        if !writes.is_empty() {
            store.commit(writes)?;
        }
        Ok(())
    }

    /// Stores consumer `name`'s position on `stream`: the offset it reads
    /// next. An offset past the stream's end is refused; one below the
    /// earliest is kept (resuming from it then says it is out of range).
    pub fn commit_consumer<S: Storage>(
        &mut self,
        store: &mut S,
        stream: Stream,
        name: &str,
        offset: u64,
    ) -> Result<(), PartitionError> {
        not_past_end(store, stream, offset)?;
        let mut writes = WriteBatch::new();
        log::commit_consumer(&mut writes, stream, name, offset)?;
        store.commit(writes)?;
        Ok(())
    }

    /// Consumer `name`'s committed position on `stream`, if any.
    pub fn consumer_position<S: Storage>(
        &self,
        store: &S,
        stream: Stream,
        name: &str,
    ) -> Result<Option<u64>, PartitionError> {
        Ok(log::consumer_position(store, stream, name)?)
    }

    /// Activates a trigger file: stores its JSON (so that [`Partition::open`]
    /// restores it after a restart) and replaces the engine. `file` must be
    /// `TriggerFile::parse(file_json)`.
    pub fn set_triggers<S: Storage>(
        &mut self,
        store: &mut S,
        file_json: &str,
        file: TriggerFile,
    ) -> Result<(), PartitionError> {
        let mut writes = WriteBatch::new();
        writes.put(trigger_file_key(), file_json.as_bytes().to_vec());
        store.commit(writes)?;
        // State of triggers that changed or left the file is dropped lazily,
        // the next time each visitor's state is read: a rescan of every
        // visitor here would be one unbounded transaction.
        let engine = counted(Engine::new(file));
        self.journal.bind(engine.file());
        self.engine = Some(engine);
        self.triggers_error = None;
        Ok(())
    }

    /// The active trigger file's JSON, if one was set.
    pub fn trigger_file<S: Storage>(&self, store: &S) -> Result<Option<String>, PartitionError> {
        Ok(store
            .get(&trigger_file_key())?
            .map(|b| String::from_utf8_lossy(&b).into_owned()))
    }

    /// The trigger counters of minutes in `[from, to)` merged into buckets
    /// of `bucket` ms, for one trigger or all, reading at most `max_entries`
    /// stored entries (see [`stats`]).
    pub fn trigger_stats<S: Storage>(
        &self,
        store: &S,
        from: u64,
        to: u64,
        bucket: u64,
        trigger: Option<&str>,
        max_entries: usize,
    ) -> Result<stats::Read, PartitionError> {
        Ok(stats::read(store, from, to, bucket, trigger, max_entries)?)
    }

    /// The partition's figures.
    pub fn stats<S: Storage>(&self, store: &S) -> Result<PartitionStats, PartitionError> {
        let stream_stats = |m: LogMeta| StreamStats {
            earliest: m.earliest_offset,
            end: m.next_offset,
            bytes: m.bytes,
            batches: m.batches,
        };
        let start = [keys::CONSUMER];
        let mut consumers = Vec::new();
        for (k, v) in store.scan(&start, &keys::prefix_end(&start), MAX_STATS_CONSUMERS)? {
            let Some(stream) = k.get(1).and_then(|b| Stream::from_byte(*b)) else {
                continue;
            };
            consumers.push(ConsumerPosition {
                stream,
                name: String::from_utf8_lossy(&k[2..]).into_owned(),
                offset: log_be_u64(&v, 0).map_err(|_| log_corrupt(&k, "bad position"))?,
            });
        }
        Ok(PartitionStats {
            partition: self.config.partition,
            events: stream_stats(Log::events().meta(store)?),
            firings: stream_stats(Log::firings().meta(store)?),
            quarantine: stream_stats(Log::quarantine().meta(store)?),
            producers: log::producer_count(store)?,
            consumers,
            triggers_active: self.engine.is_some(),
            triggers_error: self.triggers_error.clone(),
            plan_active: self.plan.is_some(),
            plan_error: self.plan_error.clone(),
        })
    }
}

/// An engine that records its suppressions, for the counters.
fn counted(mut engine: Engine) -> Engine {
    engine.record_suppressions();
    engine
}

impl Scratch {
    fn clear(&mut self) {
        self.firings.clear();
        self.outcomes.clear();
        self.entries.clear();
        self.delivered.clear();
    }
}

/// The engine's firings of one call (`scratch.firings`, emptied), then the
/// conversions it found, into `scratch.outcomes`; the call's firings,
/// conversions and suppressions, as the engine recorded them, are added to
/// the trigger counters in `writes` (the same commit), through the counter
/// journal (bound to the engine's file).
fn outcomes<S: Storage>(
    engine: &mut Engine,
    journal: &mut stats::Journal,
    store: &S,
    writes: &mut WriteBatch,
    scratch: &mut Scratch,
    now: u64,
) -> Result<(), PartitionError> {
    let conversions = engine.take_conversions();
    let out = &mut scratch.outcomes;
    out.extend(scratch.firings.drain(..).map(Outcome::Fired));
    out.extend(conversions.into_iter().map(Outcome::Converted));
    let staged = journal.stage_logged(store, writes, engine.recorded(), now);
    engine.clear_suppressed();
    staged?;
    Ok(())
}

/// Appends `scratch.outcomes` (firings, held-out firings, conversions;
/// emptied; the scratch's other vectors empty on entry) to the firing
/// stream (one batch) and an undelivered entry per run of one visitor's
/// delivered firings into `writes`; `meta` is the
/// firing stream's metadata if the caller already holds it (it must be the
/// one later writes build on). Returns the delivered firings with their
/// offsets: held-out firings and conversions are never pushed to a page.
fn stage_firings<S: Storage>(
    store: &S,
    meta: &mut Option<LogMeta>,
    writes: &mut WriteBatch,
    scratch: &mut Scratch,
    now: u64,
) -> Result<Vec<(u64, Firing)>, PartitionError> {
    let fired = &mut scratch.outcomes;
    if fired.is_empty() {
        return Ok(Vec::new());
    }
    let log = Log::firings();
    let meta = match meta {
        Some(m) => m,
        None => meta.insert(log.meta(store)?),
    };
    let newest = fired.iter().map(Outcome::time).max().unwrap_or(0);
    let count = fired.len();
    // The stored value: room for the batch header, then the payload, where
    // the undelivered entries are copied from.
    let mut value = vec![0; BATCH_HEADER_LEN];
    let entries = &mut scratch.entries;
    encode_outcomes_into(fired, &mut value, entries);
    // The batch's base offset, as the append below gives it.
    let base = meta.next_offset;
    let mut out = Vec::with_capacity(count);
    let delivered = &mut scratch.delivered;
    for ((i, o), entry) in fired.drain(..).enumerate().zip(entries.drain(..)) {
        let offset = base + i as u64;
        if let (Outcome::Fired(f), Some(entry)) = (o, entry) {
            delivered.push((offset, entry));
            out.push((offset, f));
        }
    }
    // One undelivered entry per run of one visitor's firings, under its
    // last: an append's firings are all its visitor's, and a timeout makes
    // each visitor's in a row.
    let mut from = 0;
    while from < out.len() {
        let visitor = &out[from].1.visitor;
        let to = from
            + out[from..]
                .iter()
                .take_while(|(_, f)| f.visitor == *visitor)
                .count();
        let last = delivered[to - 1].0;
        let run = delivered[from..to]
            .iter()
            .map(|(o, r)| (*o, &value[r.clone()]));
        writes.put(
            undelivered_key(visitor, last),
            encode_undelivered_of(last, run),
        );
        from = to;
    }
    let appended = log.append_value(meta, writes, count, now, newest, value)?;
    debug_assert_eq!(appended, base);
    Ok(out)
}

pub(crate) fn log_corrupt(key: &[u8], reason: &str) -> PartitionError {
    PartitionError::Storage(crate::storage::StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_owned(),
    })
}

pub(crate) fn log_be_u64(bytes: &[u8], at: usize) -> Result<u64, PartitionError> {
    bytes
        .get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| log_corrupt(bytes, "value too short"))
}

/// A position at or below `stream`'s end (a consumer's or the archive's
/// commit); past it is [`LogError::OffsetOutOfRange`].
fn not_past_end<S: Storage>(store: &S, stream: Stream, offset: u64) -> Result<(), PartitionError> {
    let meta = stream.log().meta(store)?;
    if offset > meta.next_offset {
        return Err(LogError::OffsetOutOfRange {
            requested: offset,
            earliest: meta.earliest_offset,
            end: meta.next_offset,
        }
        .into());
    }
    Ok(())
}

#[cfg(test)]
mod tests;
