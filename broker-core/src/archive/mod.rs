//! The archive: a partition's log as Parquet files under keys made of
//! offsets, the pure half (no I/O, no clock) shared by the relay, which
//! writes them to R2 from its alarm, and the CLI's `export`, which writes the
//! same files to a folder.
//!
//! * [`Segment`]: which records one file holds. A segment starts at the
//!   archive position and takes records in offset order while they were
//!   received in the same interval (default one hour, aligned to the epoch,
//!   so to the hour in UTC) and stay under [`MAX_SEGMENT_ROWS`] and
//!   [`MAX_SEGMENT_BYTES`]. It is *closed* (ready to write) when the next
//!   record belongs elsewhere, a bound is reached, or the clock passed the
//!   interval's end. The rule looks only at the records, so the relay and
//!   the export cut the same segments.
//! * [`object_key`] gives
//!   `events/v1/dt=2026-12-06/hour=14/part=003/<first>-<last>.parquet`,
//!   offsets zero-padded to 20 digits: a retry writes the same key, and a
//!   create-only put makes the write exactly once.
//! * [`Table`]: the columns ([`EVENT_COLUMNS`], [`FIRING_COLUMNS`]), filled
//!   record by record, and [`Table::to_parquet`] (Snappy, one row group,
//!   the `parquet` crate's low-level writer).
//!
//! Columns change additively only; [`SCHEMA_VERSION`] is in every file's
//! key-value metadata (`eventstream.schema_version`).

mod table;

pub use table::{ArchiveError, ColumnType, Table, EVENT_COLUMNS, FIRING_COLUMNS};

use crate::log::Stream;

/// The schema version written into every file (`eventstream.schema_version`):
/// 2 added the relay's enrichment (`geo_*`, `device_*`, `bot`) and the
/// plan's `violations` after version 1's columns.
pub const SCHEMA_VERSION: u32 = 2;

/// The version of the keys' layout (`events/v1/...`): columns change
/// additively under one layout, so a reader's glob keeps working.
pub const KEY_VERSION: u32 = 1;

/// Default segment interval: one hour of receive time.
pub const DEFAULT_INTERVAL_MS: u64 = 3_600_000;

/// Most records in one segment. Also the backlog at which the relay
/// writes at once rather than at the interval's end, so that its
/// unarchived records stay below about this many plus one segment.
pub const MAX_SEGMENT_ROWS: usize = 50_000;

/// Bytes a string value costs in a [`Table`] beyond its text (where it
/// ends), counted in a row's bytes.
pub const STRING_OVERHEAD: usize = 8;

/// Most row bytes in one segment: the table's own memory (string bytes
/// plus [`STRING_OVERHEAD`] each, 8 per number, see [`Table::push_event`]).
/// With the writer's buffers and the encoded file the object holds about
/// one and a half times this while writing: far below its 128 MB.
pub const MAX_SEGMENT_BYTES: usize = 32 << 20;

/// How records are cut into segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPolicy {
    /// Length of a segment's receive-time interval, ms (intervals are
    /// aligned to multiples of it since the epoch).
    pub interval_ms: u64,
    /// Most records per segment.
    pub max_rows: usize,
    /// Most row bytes per segment.
    pub max_bytes: usize,
}

impl Default for SegmentPolicy {
    fn default() -> Self {
        SegmentPolicy {
            interval_ms: DEFAULT_INTERVAL_MS,
            max_rows: MAX_SEGMENT_ROWS,
            max_bytes: MAX_SEGMENT_BYTES,
        }
    }
}

impl SegmentPolicy {
    /// The policy with a given interval; it must be at least 1 ms.
    pub fn with_interval(interval_ms: u64) -> Result<SegmentPolicy, String> {
        if interval_ms == 0 {
            return Err("the archive interval must be at least 1 ms".into());
        }
        Ok(SegmentPolicy {
            interval_ms,
            ..SegmentPolicy::default()
        })
    }
}

/// One segment being gathered: its first offset, its interval, and how
/// much it holds. Feed it records in offset order with [`Segment::offer`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    policy: SegmentPolicy,
    /// The offset of its first record.
    pub first_offset: u64,
    /// Start of its receive-time interval (set by the first record).
    interval_start: Option<u64>,
    rows: usize,
    bytes: usize,
    closed: bool,
}

impl Segment {
    /// An empty segment starting at `first_offset` (the archive position).
    pub fn new(policy: SegmentPolicy, first_offset: u64) -> Segment {
        Segment {
            policy,
            first_offset,
            interval_start: None,
            rows: 0,
            bytes: 0,
            closed: false,
        }
    }

    /// Whether the next record, received at `received_at` and of `bytes`
    /// row bytes, belongs to this segment. `false` closes the segment.
    ///
    /// A record received before the interval's start (a clock that stepped
    /// back) stays in the segment: segments follow offsets, never time.
    pub fn offer(&mut self, received_at: u64, bytes: usize) -> bool {
        if self.closed {
            return false;
        }
        let start = *self
            .interval_start
            .get_or_insert(received_at - received_at % self.policy.interval_ms);
        let fits = self.rows == 0
            || (self.rows < self.policy.max_rows
                && self.bytes.saturating_add(bytes) <= self.policy.max_bytes);
        if !fits || received_at >= start.saturating_add(self.policy.interval_ms) {
            self.closed = true;
            return false;
        }
        self.rows += 1;
        self.bytes += bytes;
        if self.rows >= self.policy.max_rows || self.bytes >= self.policy.max_bytes {
            self.closed = true;
        }
        true
    }

    /// Records taken so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// One past the last offset taken.
    pub fn end_offset(&self) -> u64 {
        self.first_offset + self.rows as u64
    }

    /// Whether it may be written: a record refused it, a bound filled it,
    /// or `now` is past its interval (no record received from now on can
    /// belong to it). An empty segment is never ready.
    pub fn is_closed(&self, now: u64) -> bool {
        self.rows > 0 && (self.closed || self.interval_end().is_some_and(|end| now >= end))
    }

    /// Start of its interval, once it has a record.
    pub fn interval_start(&self) -> Option<u64> {
        self.interval_start
    }

    /// End of its interval (exclusive), once it has a record: when it closes
    /// by time.
    pub fn interval_end(&self) -> Option<u64> {
        self.interval_start
            .map(|s| s.saturating_add(self.policy.interval_ms))
    }

    /// Its object key, once it has a record.
    pub fn key(&self, stream: Stream, partition: u32) -> Option<String> {
        let start = self.interval_start?;
        (self.rows > 0).then(|| {
            object_key(
                stream,
                partition,
                start,
                self.first_offset,
                self.end_offset() - 1,
            )
        })
    }
}

/// The object key of a segment of `stream` on `partition` whose interval
/// starts at `interval_start` (ms since the epoch, UTC) and which holds
/// offsets `first..=last`:
/// `events/v1/dt=YYYY-MM-DD/hour=HH/part=PPP/FFFFFFFFFFFFFFFFFFFF-LLLLLLLLLLLLLLLLLLLL.parquet`.
pub fn object_key(
    stream: Stream,
    partition: u32,
    interval_start: u64,
    first: u64,
    last: u64,
) -> String {
    let (y, m, d, h) = crate::time::date_hour(interval_start);
    format!(
        "{}/v{KEY_VERSION}/dt={y:04}-{m:02}-{d:02}/hour={h:02}/part={partition:03}/{first:020}-{last:020}.parquet",
        stream.as_str()
    )
}

#[cfg(test)]
mod tests;
