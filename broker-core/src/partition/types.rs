//! What [`Partition`](super::Partition) takes and returns.

use crate::context::Enrichment;
use crate::event::Event;
use crate::frame::{Context, Limits};
use crate::log::Stream;
use crate::plan::Violation;
use crate::trigger::{Firing, Outcome};
use std::sync::Arc;

/// A partition's configuration. Every field has a documented default
/// ([`PartitionConfig::new`]); limits exceeded are errors, never truncation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionConfig {
    /// This partition's number.
    pub partition: u32,
    /// How many partitions the topic has (fixed at deploy time). A frame
    /// whose visitor hashes elsewhere is refused; 0 skips the check.
    pub partitions: u32,
    /// Frame limits (default [`Limits::DEFAULT`]: 64 KiB frames, 1,000
    /// events, ...).
    pub limits: Limits,
    /// Batches older than this (by append time) are deleted. Default 7 days;
    /// `None` keeps forever.
    pub retention_ms: Option<u64>,
    /// The oldest batches are deleted while a stream holds more bytes than
    /// this. Default 1 GiB per stream; `None`: no size limit.
    pub retention_bytes: Option<u64>,
    /// Idle producers are forgotten after this long. Default 24 h 10 min:
    /// more than `max_past_ms` plus `max_future_ms`, so that a producer is
    /// never forgotten while a frame it already sent could still be accepted
    /// again (see the `log` module on first-seen producers).
    pub producer_ttl_ms: u64,
    /// Events stamped more than this before `now` are refused. Default 24 h.
    pub max_past_ms: u64,
    /// Events stamped more than this after `now` are refused. Default 5 min.
    pub max_future_ms: u64,
    /// Most records one read returns, whatever the caller asks. Default 1,000.
    pub max_read_records: usize,
    /// Most stored bytes one read goes through. Default 1 MiB.
    pub max_read_bytes: usize,
    /// Most batches (and producers) one `handle_timeout` call deletes per
    /// kind of work, so that an alarm stays short. Default 256.
    pub max_timeout_work: usize,
    /// An archive writes the log out (the relay's R2 bucket): retention
    /// then deletes only batches below the archive position
    /// ([`Partition::commit_archive`](super::Partition::commit_archive)).
    /// Default `false`.
    pub archive: bool,
}

impl PartitionConfig {
    /// The defaults for partition `partition` of `partitions`.
    pub fn new(partition: u32, partitions: u32) -> PartitionConfig {
        PartitionConfig {
            partition,
            partitions,
            limits: Limits::DEFAULT,
            retention_ms: Some(7 * 24 * 3_600_000),
            retention_bytes: Some(1 << 30),
            producer_ttl_ms: 24 * 3_600_000 + 10 * 60_000,
            max_past_ms: 24 * 3_600_000,
            max_future_ms: 5 * 60_000,
            max_read_records: 1_000,
            max_read_bytes: 1 << 20,
            max_timeout_work: 256,
            archive: false,
        }
    }
}

impl PartitionConfig {
    /// Checks that the settings agree: `partition < partitions` (unless
    /// `partitions` is 0), reads return at least one record, and
    /// `producer_ttl_ms > max_past_ms + max_future_ms`: a producer forgotten
    /// sooner could have a retried frame accepted again as new (a first-seen
    /// producer is accepted at any sequence), storing it twice.
    /// [`Partition::open`](super::Partition::open) refuses a configuration
    /// that fails this.
    pub fn validate(&self) -> Result<(), String> {
        if self.partitions > 0 && self.partition >= self.partitions {
            return Err(format!(
                "partition {} of {} does not exist",
                self.partition, self.partitions
            ));
        }
        if self.max_read_records == 0 || self.max_read_bytes == 0 {
            return Err("max_read_records and max_read_bytes must be at least 1".into());
        }
        let window = self.max_past_ms.saturating_add(self.max_future_ms);
        if self.producer_ttl_ms <= window {
            return Err(format!(
                "producer_ttl_ms ({}) must exceed max_past_ms + max_future_ms ({window}), \
                 or a retried frame could be stored twice",
                self.producer_ttl_ms
            ));
        }
        Ok(())
    }
}

impl Default for PartitionConfig {
    /// Partition 0 of 1.
    fn default() -> Self {
        PartitionConfig::new(0, 1)
    }
}

/// What an append did.
#[derive(Debug, Clone, PartialEq)]
pub struct AppendOutcome {
    /// The partition.
    pub partition: u32,
    /// The offset of the frame's first event (for an empty frame, the next
    /// offset; it then owns no offsets).
    pub base_offset: u64,
    /// Events in the frame; they got `base_offset..base_offset + count`.
    pub count: u32,
    /// True when the frame had been stored before: nothing was written, the
    /// offsets are those it got the first time.
    pub duplicate: bool,
    /// The frame's producer.
    pub producer_id: u64,
    /// The frame's sequence.
    pub sequence: u64,
    /// The visitor's anonymous id.
    pub visitor: String,
    /// Firings the frame caused, with their firing-stream offsets, to push
    /// to the visitor's pages (also stored as undelivered until acked).
    pub firings: Vec<(u64, Firing)>,
    /// What the active tracking plan found (all zero without a plan, and
    /// for a duplicate: it was judged the first time).
    pub plan: PlanTally,
}

/// What the tracking plan found in one frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PlanTally {
    /// Events stored in the event stream marked with their violations.
    pub flagged: u32,
    /// Events kept in the quarantine stream instead of the event stream.
    pub quarantined: u32,
    /// Violations found, on every event (allowed ones included).
    pub violations: u32,
}

/// What one step of [`Partition::replay_quarantine`](super::Partition::replay_quarantine) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayOutcome {
    /// Events the active plan now lets through: appended to the event
    /// stream (flagged ones with their violations).
    pub released: u64,
    /// Events it still quarantines: appended to the quarantine stream again,
    /// with the violations found now.
    pub kept: u64,
    /// The quarantine offset the replay goes up to (the stream's end when
    /// it started): pass it to the next step.
    pub until: u64,
    /// True when the step stopped at its bound with batches below `until`
    /// left: call again.
    pub more: bool,
}

/// What `handle_timeout` did.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct TimeoutOutcome {
    /// Delayed firings that fell due, with their offsets, to push.
    pub firings: Vec<(u64, Firing)>,
    /// Event batches deleted by retention.
    pub deleted_event_batches: usize,
    /// Firing batches deleted by retention.
    pub deleted_firing_batches: usize,
    /// Producers forgotten.
    pub expired_producers: u64,
    /// True when a bound stopped the work: call again soon (the next
    /// `poll_timeout` says now).
    pub more: bool,
}

/// An event as read back from the log, borrowed from its decoded frame:
/// what an [`EventRecord`] holds, without copying the event's strings and
/// properties ([`Partition::read_event_views`](super::Partition::read_event_views),
/// the archive's path).
#[derive(Debug, Clone, Copy)]
pub struct EventView<'a> {
    /// The partition.
    pub partition: u32,
    /// Its offset in the event stream.
    pub offset: u64,
    /// The visitor's anonymous id.
    pub visitor: &'a str,
    /// The user id the frame carried, if any.
    pub user_id: Option<&'a str>,
    /// The event.
    pub event: &'a Event<'a>,
    /// The frame's context, as the page sent it.
    pub context: &'a Context<'a>,
    /// The producer (SDK instance) that sent the frame.
    pub producer_id: u64,
    /// The frame's sequence number for its producer.
    pub sequence: u64,
    /// The event's position in its frame, from 0.
    pub index: u32,
    /// When the relay appended the frame, ms since the epoch.
    pub received_at: u64,
    /// What the relay added to the frame's context.
    pub enrichment: Option<&'a Enrichment>,
    /// For a quarantined event: where the frame's other events went in the
    /// event stream (base offset, count).
    pub frame_events: Option<(u64, u32)>,
    /// How it breaks the tracking plan (empty when it does not).
    pub violations: &'a [Violation],
}

/// An event as read back from the log.
#[derive(Debug, Clone, PartialEq)]
pub struct EventRecord {
    /// The partition.
    pub partition: u32,
    /// Its offset in the event stream.
    pub offset: u64,
    /// The visitor's anonymous id.
    pub visitor: String,
    /// The user id the frame carried, if any.
    pub user_id: Option<String>,
    /// The event.
    pub event: Event<'static>,
    /// The frame it came in: its context and its place.
    pub source: EventSource,
    /// How it breaks the tracking plan: set on flagged and quarantined
    /// events, empty otherwise.
    pub violations: Vec<Violation>,
}

/// Where an event came from: its frame's context (shared by every event of
/// the frame) and the frame's identity, which with `index` names the event
/// wherever its records are merged.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct EventSource {
    /// The frame's context, as the page sent it (see
    /// [`crate::context::context_map`] for the view triggers and exports use).
    pub context: Arc<Context<'static>>,
    /// The producer (SDK instance) that sent the frame.
    pub producer_id: u64,
    /// The frame's sequence number for its producer.
    pub sequence: u64,
    /// The event's position in its frame, from 0.
    pub index: u32,
    /// When the relay appended the frame, ms since the epoch.
    pub received_at: u64,
    /// What the relay added to the frame's context (place, device, bot).
    pub enrichment: Option<Arc<Enrichment>>,
    /// For a quarantined event: where the frame's other events went in the
    /// event stream (base offset, count), so that a replay can be matched
    /// with them.
    pub frame_events: Option<(u64, u32)>,
}

impl EventRecord {
    /// This record as an [`EventView`].
    pub fn view(&self) -> EventView<'_> {
        EventView {
            partition: self.partition,
            offset: self.offset,
            visitor: &self.visitor,
            user_id: self.user_id.as_deref(),
            event: &self.event,
            context: &self.source.context,
            producer_id: self.source.producer_id,
            sequence: self.source.sequence,
            index: self.source.index,
            received_at: self.source.received_at,
            enrichment: self.source.enrichment.as_deref(),
            frame_events: self.source.frame_events,
            violations: &self.violations,
        }
    }
}

impl EventSource {
    /// The event's context under the trigger spec's paths: the frame's
    /// ([`crate::context::context_map`]) with the relay's enrichment.
    pub fn context_view(&self) -> crate::event::Map<'static> {
        let mut view = crate::context::context_map(&self.context);
        if let Some(e) = &self.enrichment {
            e.add_to(&mut view);
        }
        view
    }
}

/// A record of the firing stream as read back from the log: a firing
/// (delivered or held out) or a goal conversion.
#[derive(Debug, Clone, PartialEq)]
pub struct FiringRecord {
    /// The partition.
    pub partition: u32,
    /// Its offset in the firing stream.
    pub offset: u64,
    /// The firing or conversion.
    pub outcome: Outcome,
}

/// Records read, and where the stream stands.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadOutcome<T> {
    /// The records, in offset order, starting at the offset asked for.
    pub records: Vec<T>,
    /// The offset to read from next (one past the last record returned, or
    /// the offset asked for when none was).
    pub next_offset: u64,
    /// The stream's high watermark: the offset the next record will get.
    pub end: u64,
    /// The stream's earliest stored offset.
    pub earliest: u64,
}

/// What [`Partition::read_event_views`](super::Partition::read_event_views) read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ViewsRead {
    /// The views taken.
    pub taken: usize,
    /// The offset to read from next (one past the last view taken, or the
    /// offset asked for when none was).
    pub next_offset: u64,
    /// The stream's high watermark: the offset the next record will get.
    pub end: u64,
    /// The stream's earliest stored offset.
    pub earliest: u64,
}

/// One stream's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StreamStats {
    /// The earliest stored offset.
    pub earliest: u64,
    /// The next offset.
    pub end: u64,
    /// Stored bytes.
    pub bytes: u64,
    /// Stored batches.
    pub batches: u64,
}

/// A committed consumer position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerPosition {
    /// The stream.
    pub stream: Stream,
    /// The consumer's name.
    pub name: String,
    /// The offset it reads next.
    pub offset: u64,
}

/// A partition's figures, for `GET /v1/partitions`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PartitionStats {
    /// The partition.
    pub partition: u32,
    /// The event stream.
    pub events: StreamStats,
    /// The firing stream.
    pub firings: StreamStats,
    /// The quarantine stream.
    pub quarantine: StreamStats,
    /// Live idempotent producers.
    pub producers: u64,
    /// Committed consumer positions (the first [`MAX_STATS_CONSUMERS`]).
    pub consumers: Vec<ConsumerPosition>,
    /// True when a trigger file is active.
    pub triggers_active: bool,
    /// Why the stored trigger file could not be restored at open (the
    /// partition runs without triggers until a new file is set).
    pub triggers_error: Option<String>,
    /// True when a tracking plan is active.
    pub plan_active: bool,
    /// Why the stored plan could not be restored at open (the partition
    /// checks nothing until a new plan is set).
    pub plan_error: Option<String>,
}

/// How many consumer positions [`PartitionStats`] lists at most.
pub const MAX_STATS_CONSUMERS: usize = 100;
