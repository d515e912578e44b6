//! The header stored in front of every batch's payload.

use super::corrupt;
use crate::storage::StorageError;

/// Bytes of an encoded [`BatchHeader`].
pub const BATCH_HEADER_LEN: usize = 21;

/// The header's format version; a reader refuses any other.
const HEADER_VERSION: u8 = 1;

/// What the log knows about a batch without decoding its payload.
///
/// Layout: `version u8 | count u32 | append_time u64 | max_timestamp u64`,
/// big-endian, then the payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    /// Records in the batch; they own offsets `base..base + count`.
    pub count: u32,
    /// When the log appended it (the driver's `now`), ms since the epoch.
    /// Retention by age looks at this.
    pub append_time: u64,
    /// The newest record timestamp in the batch (0 if the records have none).
    pub max_timestamp: u64,
}

impl BatchHeader {
    /// The stored value: this header followed by `payload`.
    pub fn encode_with(&self, payload: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(BATCH_HEADER_LEN + payload.len());
        v.extend_from_slice(&self.encode());
        v.extend_from_slice(payload);
        v
    }

    /// The header's bytes.
    pub(crate) fn encode(&self) -> [u8; BATCH_HEADER_LEN] {
        let mut h = [0u8; BATCH_HEADER_LEN];
        h[0] = HEADER_VERSION;
        h[1..5].copy_from_slice(&self.count.to_be_bytes());
        h[5..13].copy_from_slice(&self.append_time.to_be_bytes());
        h[13..].copy_from_slice(&self.max_timestamp.to_be_bytes());
        h
    }

    /// Splits a stored value into its header and payload.
    pub fn decode<'v>(
        value: &'v [u8],
        key: &[u8],
    ) -> Result<(BatchHeader, &'v [u8]), StorageError> {
        if value.len() < BATCH_HEADER_LEN {
            return Err(corrupt(key, "batch shorter than its header"));
        }
        if value[0] != HEADER_VERSION {
            return Err(corrupt(key, "unknown batch header version"));
        }
        let mut count = [0u8; 4];
        count.copy_from_slice(&value[1..5]);
        let mut t = [0u8; 8];
        t.copy_from_slice(&value[5..13]);
        let mut m = [0u8; 8];
        m.copy_from_slice(&value[13..21]);
        Ok((
            BatchHeader {
                count: u32::from_be_bytes(count),
                append_time: u64::from_be_bytes(t),
                max_timestamp: u64::from_be_bytes(m),
            },
            &value[BATCH_HEADER_LEN..],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_round_trips_and_has_the_documented_layout() {
        let h = BatchHeader {
            count: 20,
            append_time: 1_764_000_000_000,
            max_timestamp: 7,
        };
        let v = h.encode_with(b"xyz");
        assert_eq!(v.len(), BATCH_HEADER_LEN + 3);
        assert_eq!(&v[..5], &[1, 0, 0, 0, 20]);
        let (back, payload) = BatchHeader::decode(&v, b"b").unwrap();
        assert_eq!(back, h);
        assert_eq!(payload, b"xyz");
    }

    #[test]
    fn short_or_unknown_headers_are_corrupt_not_panics() {
        assert!(matches!(
            BatchHeader::decode(&[1, 0, 0], b"b"),
            Err(StorageError::Corrupt { .. })
        ));
        let mut v = BatchHeader {
            count: 1,
            append_time: 0,
            max_timestamp: 0,
        }
        .encode_with(&[]);
        v[0] = 9;
        assert!(matches!(
            BatchHeader::decode(&v, b"b"),
            Err(StorageError::Corrupt { .. })
        ));
    }
}
