//! The one error type of [`Partition`](super::Partition), with the codes,
//! names and HTTP statuses the relay answers with.

use crate::frame::FrameError;
use crate::log::LogError;
use crate::storage::StorageError;

/// Why the partition refused or failed an operation.
///
/// Codes: a frame error keeps the frame codec's code (below 100, see
/// `frame/FORMAT.md`); the others are 100 and up. Codes are never reused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum PartitionError {
    /// The frame is malformed or over a limit.
    #[error("bad frame: {0}")]
    Frame(#[from] FrameError),
    /// An event is stamped too far in the past or the future.
    #[error("event {index} is stamped {timestamp}, outside {min}..={max}")]
    TimestampOutOfRange {
        /// The event's index in the frame.
        index: usize,
        /// Its timestamp, ms since the epoch.
        timestamp: u64,
        /// The earliest timestamp accepted now.
        min: u64,
        /// The latest timestamp accepted now.
        max: u64,
    },
    /// The frame's visitor belongs to another partition (a routing bug).
    #[error("visitor belongs to partition {expected}, not {partition}")]
    WrongPartition {
        /// The partition the visitor's id hashes to.
        expected: u32,
        /// This partition.
        partition: u32,
    },
    /// The producer skipped sequences: retry later, after the missing ones.
    #[error("producer {producer} sent sequence {got}, expected {expected}")]
    SequenceGap {
        /// The producer id.
        producer: u64,
        /// The sequence expected next.
        expected: u64,
        /// The sequence received.
        got: u64,
    },
    /// Older than the batches remembered: it was stored before; drop it.
    #[error("producer {producer} sent stale sequence {got}, last stored is {last}")]
    StaleSequence {
        /// The producer id.
        producer: u64,
        /// The last sequence stored.
        last: u64,
        /// The sequence received.
        got: u64,
    },
    /// A read or consumer commit outside the stream's stored range.
    #[error("offset {requested} is out of range: the stream holds {earliest}..{end}")]
    OffsetOutOfRange {
        /// The offset asked for.
        requested: u64,
        /// The earliest offset still stored.
        earliest: u64,
        /// The next offset to be written.
        end: u64,
    },
    /// A consumer name is empty or too long.
    #[error("consumer name must be 1 to {max} bytes, got {len}")]
    InvalidConsumerName {
        /// Its length in bytes.
        len: usize,
        /// The longest allowed.
        max: usize,
    },
    /// More records in one batch than a batch header counts.
    #[error("a batch of {count} records is too large")]
    BatchTooLarge {
        /// The number of records.
        count: usize,
    },
    /// The stored trigger file no longer parses (a newer or corrupt file).
    /// [`Partition::open`](super::Partition::open) reports it in the stats
    /// rather than failing.
    #[error("the stored trigger file is invalid: {message}")]
    StoredTriggersInvalid {
        /// The validation errors, `path: message`, joined by `; `.
        message: String,
    },
    /// The store failed or holds something undecodable.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The configuration contradicts itself (see
    /// [`PartitionConfig::validate`](super::PartitionConfig::validate)).
    #[error("invalid partition configuration: {reason}")]
    InvalidConfig {
        /// What is wrong.
        reason: String,
    },
}

impl PartitionError {
    /// A stable number for this error; never reused.
    pub fn code(&self) -> u16 {
        match self {
            PartitionError::Frame(e) => e.code(),
            PartitionError::TimestampOutOfRange { .. } => 100,
            PartitionError::WrongPartition { .. } => 101,
            PartitionError::SequenceGap { .. } => 102,
            PartitionError::StaleSequence { .. } => 103,
            PartitionError::OffsetOutOfRange { .. } => 104,
            PartitionError::InvalidConsumerName { .. } => 105,
            PartitionError::BatchTooLarge { .. } => 106,
            PartitionError::StoredTriggersInvalid { .. } => 107,
            PartitionError::Storage(_) => 108,
            PartitionError::InvalidConfig { .. } => 109,
        }
    }

    /// The stable snake_case name, the `code` field of the relay's JSON
    /// errors (a frame error's own name: `checksum`, `truncated`, ...).
    pub fn name(&self) -> &'static str {
        match self {
            PartitionError::Frame(e) => e.name(),
            PartitionError::TimestampOutOfRange { .. } => "timestamp_out_of_range",
            PartitionError::WrongPartition { .. } => "wrong_partition",
            PartitionError::SequenceGap { .. } => "sequence_gap",
            PartitionError::StaleSequence { .. } => "stale_sequence",
            PartitionError::OffsetOutOfRange { .. } => "offset_out_of_range",
            PartitionError::InvalidConsumerName { .. } => "invalid_consumer_name",
            PartitionError::BatchTooLarge { .. } => "batch_too_large",
            PartitionError::StoredTriggersInvalid { .. } => "stored_triggers_invalid",
            PartitionError::Storage(_) => "storage",
            PartitionError::InvalidConfig { .. } => "invalid_config",
        }
    }

    /// The HTTP status the relay answers with: 413 for a frame over a size
    /// limit, 400 for another bad frame or bad input, 409 for sequence
    /// errors, 416 for offsets out of range, 421 for a misrouted frame,
    /// 500 for storage failures.
    pub fn http_status(&self) -> u16 {
        match self {
            PartitionError::Frame(e) => match e.name() {
                "frame_too_large" | "too_many_events" | "inflated_too_large" => 413,
                _ => 400,
            },
            PartitionError::TimestampOutOfRange { .. } => 400,
            PartitionError::WrongPartition { .. } => 421,
            PartitionError::SequenceGap { .. } | PartitionError::StaleSequence { .. } => 409,
            PartitionError::OffsetOutOfRange { .. } => 416,
            PartitionError::InvalidConsumerName { .. } => 400,
            PartitionError::BatchTooLarge { .. } => 413,
            PartitionError::StoredTriggersInvalid { .. }
            | PartitionError::Storage(_)
            | PartitionError::InvalidConfig { .. } => 500,
        }
    }

    /// True when sending the same frame again later may succeed (a gap that
    /// the missing frames will fill, or a storage failure).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            PartitionError::SequenceGap { .. } | PartitionError::Storage(_)
        )
    }
}

impl From<LogError> for PartitionError {
    fn from(e: LogError) -> Self {
        match e {
            LogError::OffsetOutOfRange {
                requested,
                earliest,
                end,
            } => PartitionError::OffsetOutOfRange {
                requested,
                earliest,
                end,
            },
            LogError::SequenceGap {
                producer,
                expected,
                got,
            } => PartitionError::SequenceGap {
                producer,
                expected,
                got,
            },
            LogError::StaleSequence {
                producer,
                last,
                got,
            } => PartitionError::StaleSequence {
                producer,
                last,
                got,
            },
            LogError::InvalidConsumerName { len, max } => {
                PartitionError::InvalidConsumerName { len, max }
            }
            LogError::BatchTooLarge { count } => PartitionError::BatchTooLarge { count },
            LogError::Storage(s) => PartitionError::Storage(s),
            // LogError is non_exhaustive only towards other crates; a new
            // variant must be mapped here, which the compiler enforces.
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_names_are_the_relays_contract() {
        let gap = PartitionError::SequenceGap {
            producer: 1,
            expected: 2,
            got: 4,
        };
        assert_eq!(
            (gap.http_status(), gap.name(), gap.code()),
            (409, "sequence_gap", 102)
        );
        assert!(gap.is_retriable());
        let stale = PartitionError::StaleSequence {
            producer: 1,
            last: 9,
            got: 2,
        };
        assert_eq!((stale.http_status(), stale.name()), (409, "stale_sequence"));
        assert!(!stale.is_retriable());
        let range = PartitionError::from(LogError::OffsetOutOfRange {
            requested: 1,
            earliest: 5,
            end: 9,
        });
        assert_eq!(
            range,
            PartitionError::OffsetOutOfRange {
                requested: 1,
                earliest: 5,
                end: 9
            }
        );
        assert_eq!(range.http_status(), 416);
        let ts = PartitionError::TimestampOutOfRange {
            index: 0,
            timestamp: 1,
            min: 2,
            max: 3,
        };
        assert_eq!(
            (ts.http_status(), ts.name()),
            (400, "timestamp_out_of_range")
        );
        let io = PartitionError::Storage(StorageError::Io("disk".into()));
        assert_eq!(io.http_status(), 500);
    }
}
