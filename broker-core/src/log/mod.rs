//! The partitioned, append-only log: offsets, idempotent producers,
//! retention, reads and consumer positions, all through [`Storage`](crate::storage::Storage).
//!
//! A topic has a fixed number of partitions, chosen at deploy time (the
//! relay's `PARTITIONS` setting). A record's key (the visitor's anonymous id)
//! picks its partition with [`partition_for`], Kafka's default partitioner
//! (murmur2), so one visitor's events always land in one partition, in order.
//!
//! Each partition holds three streams ([`Stream`]): `events` (one batch per
//! accepted frame), `firings` (one batch per append or alarm that fired
//! triggers) and `quarantine` (the events a tracking plan keeps out of
//! `events`: one batch per frame that had any). Each has its own dense offsets, one per record, as in Kafka:
//! a batch of `n` records starting at base offset `b` owns `b..b+n`, and the
//! next batch starts at `b+n`. Offsets are never reused, even after retention
//! deleted every batch, because the next offset lives in the stream's
//! metadata, which is never deleted.
//!
//! # Key layout
//!
//! All numbers are big-endian so that byte order is numeric order.
//!
//! | key | value |
//! |---|---|
//! | `b` + base offset (u64) | event batch: [`BatchHeader`] (21 bytes) + the plain frame bytes |
//! | `f` + base offset (u64) | firing batch: [`BatchHeader`] + [`firing::encode_firings`] |
//! | `x` + base offset (u64) | quarantine batch: [`BatchHeader`] + the frame, with which of its events the batch holds and why |
//! | `m` + `events` / `firings` / `quarantine` | [`LogMeta`] of the stream (57 bytes) |
//! | `m` + `producers` | number of live producers (u64) |
//! | `m` + `archive-events` / `archive-firings` | the archive position (u64): where its next segment starts |
//! | `p` + producer id (u64) | [`ProducerState`]: last seen, last 5 batches' (sequence, base, count) |
//! | `q` + indexed time (u64) + producer id (u64) | empty: the producer expiry index |
//! | `c` + stream byte (`e`/`f`/`x`) + consumer name | committed offset (u64) |
//! | `u` + visitor + `0x00` + firing offset (u64) | a firing not yet acknowledged by the visitor's page |
//!
//! Everything durable is in storage: a restarted driver opens the same
//! storage and carries on where the last successful commit left it.

mod archived;
mod batch;
mod consumer;
pub mod firing;
mod hash;
mod producer;
mod stream;

pub use archived::{archive_position, set_archive_position};
pub use batch::{BatchHeader, BATCH_HEADER_LEN};
pub use consumer::{commit_consumer, consumer_position, MAX_CONSUMER_NAME_BYTES};
pub use hash::{murmur2, partition_for};
pub use producer::{
    check_sequence, expire_producers, next_producer_expiry, producer_count, ExpiryStep,
    ProducerState, RecentBatch, SequenceCheck, EXPIRY_GRANULARITY_MS, RECENT_BATCHES,
};
pub use stream::{
    Log, LogMeta, LogRead, RetentionPolicy, RetentionStep, StoredBatch, RETENTION_ROUNDING_MS,
};

use crate::storage::StorageError;

/// Which of a partition's three streams.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// The events, one batch per accepted frame.
    Events,
    /// The trigger firings.
    Firings,
    /// The events the tracking plan kept out of `events`, with why.
    Quarantine,
}

impl Stream {
    /// Every stream.
    pub const ALL: [Stream; 3] = [Stream::Events, Stream::Firings, Stream::Quarantine];

    /// The byte that names the stream in consumer keys (`e`, `f` or `x`).
    pub fn byte(self) -> u8 {
        match self {
            Stream::Events => b'e',
            Stream::Firings => b'f',
            Stream::Quarantine => b'x',
        }
    }

    /// `events`, `firings` or `quarantine`, as in URLs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Events => "events",
            Stream::Firings => "firings",
            Stream::Quarantine => "quarantine",
        }
    }

    /// The stream named `events`, `firings` or `quarantine`.
    pub fn parse(s: &str) -> Option<Stream> {
        Stream::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// The stream of a consumer key's byte.
    pub fn from_byte(b: u8) -> Option<Stream> {
        Stream::ALL.into_iter().find(|x| x.byte() == b)
    }

    /// The log that holds this stream.
    pub fn log(self) -> Log {
        match self {
            Stream::Events => Log::events(),
            Stream::Firings => Log::firings(),
            Stream::Quarantine => Log::quarantine(),
        }
    }
}

/// What the log refuses to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogError {
    /// A read or commit asked for an offset outside `earliest..=end`: below
    /// it, retention deleted the records; above it, they do not exist yet.
    #[error("offset {requested} is out of range: the stream holds {earliest}..{end}")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: u64,
        /// The earliest offset still stored.
        earliest: u64,
        /// The next offset to be written (the high watermark).
        end: u64,
    },
    /// The producer skipped sequences; retriable once the missing ones land.
    #[error("producer {producer} sent sequence {got}, expected {expected}")]
    SequenceGap {
        /// The producer id.
        producer: u64,
        /// The sequence the log expects next.
        expected: u64,
        /// The sequence received.
        got: u64,
    },
    /// The sequence is older than the batches remembered for the producer:
    /// it was stored before, and its offsets are no longer known.
    #[error("producer {producer} sent stale sequence {got}, last stored is {last}")]
    StaleSequence {
        /// The producer id.
        producer: u64,
        /// The last sequence stored.
        last: u64,
        /// The sequence received.
        got: u64,
    },
    /// A consumer name is empty or longer than [`MAX_CONSUMER_NAME_BYTES`].
    #[error("consumer name must be 1 to {max} bytes, got {len}")]
    InvalidConsumerName {
        /// The name's length in bytes.
        len: usize,
        /// The longest name allowed.
        max: usize,
    },
    /// A batch would hold more records than a batch header can count.
    #[error("a batch of {count} records is too large")]
    BatchTooLarge {
        /// The number of records offered.
        count: usize,
    },
    /// The store failed, or holds a value this code cannot decode.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

impl LogError {
    /// A stable number for this error, never reused for another meaning:
    /// the code the relay answers with (one code space with
    /// [`PartitionError`](crate::partition::PartitionError), which carries
    /// a log error as it is).
    pub fn code(&self) -> u16 {
        match self {
            LogError::SequenceGap { .. } => 102,
            LogError::StaleSequence { .. } => 103,
            LogError::OffsetOutOfRange { .. } => 104,
            LogError::InvalidConsumerName { .. } => 105,
            LogError::BatchTooLarge { .. } => 106,
            LogError::Storage(_) => crate::partition::STORAGE_CODE,
        }
    }

    /// A stable snake_case name, as in the relay's JSON errors.
    pub fn name(&self) -> &'static str {
        match self {
            LogError::OffsetOutOfRange { .. } => "offset_out_of_range",
            LogError::SequenceGap { .. } => "sequence_gap",
            LogError::StaleSequence { .. } => "stale_sequence",
            LogError::InvalidConsumerName { .. } => "invalid_consumer_name",
            LogError::BatchTooLarge { .. } => "batch_too_large",
            LogError::Storage(_) => "storage",
        }
    }
}

/// Decodes a big-endian u64 at `at`, or says which key is corrupt.
pub(crate) fn be_u64(bytes: &[u8], at: usize, key: &[u8]) -> Result<u64, StorageError> {
    bytes
        .get(at..at + 8)
        .and_then(|s| <[u8; 8]>::try_from(s).ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| corrupt(key, "value too short"))
}

/// A [`StorageError::Corrupt`] for `key`.
pub(crate) fn corrupt(key: &[u8], reason: &str) -> StorageError {
    StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_owned(),
    }
}
