//! The one error type of [`Partition`](super::Partition), with its stable
//! codes and names. How a driver answers each (an HTTP status, a close
//! code) is the driver's business: the relay maps them in its own error
//! module.

use crate::frame::FrameError;
use crate::log::LogError;
use crate::storage::StorageError;

/// Why the partition refused or failed an operation.
///
/// Codes: a frame error keeps the frame codec's code (below 100, see
/// `frame/FORMAT.md`), a log error the log's (102 to 106, 108); the others
/// are 100 and up. Codes are never reused.
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
    /// The log refused the operation: a sequence gap or stale sequence, an
    /// offset out of range, a bad consumer name, a batch too large. The
    /// log's own code and name are this error's.
    #[error(transparent)]
    Log(LogError),
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
            PartitionError::Log(e) => e.code(),
            PartitionError::StoredTriggersInvalid { .. } => 107,
            PartitionError::Storage(_) => STORAGE_CODE,
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
            PartitionError::Log(e) => e.name(),
            PartitionError::StoredTriggersInvalid { .. } => "stored_triggers_invalid",
            PartitionError::Storage(_) => "storage",
            PartitionError::InvalidConfig { .. } => "invalid_config",
        }
    }

    /// True when sending the same frame again later may succeed (a gap that
    /// the missing frames will fill, or a storage failure).
    pub fn is_retriable(&self) -> bool {
        matches!(
            self,
            PartitionError::Log(LogError::SequenceGap { .. }) | PartitionError::Storage(_)
        )
    }
}

impl From<LogError> for PartitionError {
    /// A storage failure stays a storage failure, whichever layer met it.
    fn from(e: LogError) -> Self {
        match e {
            LogError::Storage(s) => PartitionError::Storage(s),
            other => PartitionError::Log(other),
        }
    }
}

/// The code of a storage failure, in the partition's and the log's errors.
pub(crate) const STORAGE_CODE: u16 = 108;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_errors_keep_their_code_and_name() {
        let gap = PartitionError::from(LogError::SequenceGap {
            producer: 1,
            expected: 2,
            got: 4,
        });
        assert_eq!((gap.name(), gap.code()), ("sequence_gap", 102));
        assert!(gap.is_retriable());
        let stale = PartitionError::from(LogError::StaleSequence {
            producer: 1,
            last: 9,
            got: 2,
        });
        assert_eq!((stale.name(), stale.code()), ("stale_sequence", 103));
        assert!(!stale.is_retriable());
        let range = PartitionError::from(LogError::OffsetOutOfRange {
            requested: 1,
            earliest: 5,
            end: 9,
        });
        assert_eq!((range.name(), range.code()), ("offset_out_of_range", 104));
        assert_eq!(
            range.to_string(),
            "offset 1 is out of range: the stream holds 5..9"
        );
        let io = PartitionError::from(LogError::Storage(StorageError::Io("disk".into())));
        assert_eq!(io, PartitionError::Storage(StorageError::Io("disk".into())));
        assert_eq!((io.name(), io.code()), ("storage", STORAGE_CODE));
        assert!(io.is_retriable());
        let ts = PartitionError::TimestampOutOfRange {
            index: 0,
            timestamp: 1,
            min: 2,
            max: 3,
        };
        assert_eq!((ts.name(), ts.code()), ("timestamp_out_of_range", 100));
    }
}
