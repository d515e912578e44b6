//! Committed consumer positions: a named consumer stores the offset it will
//! read next, and resumes from it after a reconnect or restart.

use super::{be_u64, LogError, Stream};
use crate::storage::{keys, Storage, WriteBatch};

/// The longest consumer name accepted, in bytes.
pub const MAX_CONSUMER_NAME_BYTES: usize = 200;

fn consumer_key(stream: Stream, name: &str) -> Result<Vec<u8>, LogError> {
    if name.is_empty() || name.len() > MAX_CONSUMER_NAME_BYTES {
        return Err(LogError::InvalidConsumerName {
            len: name.len(),
            max: MAX_CONSUMER_NAME_BYTES,
        });
    }
    let mut k = Vec::with_capacity(2 + name.len());
    k.push(keys::CONSUMER);
    k.push(stream.byte());
    k.extend_from_slice(name.as_bytes());
    Ok(k)
}

/// Puts `name`'s position on `stream` into `writes`. The caller checks the
/// offset against the stream's range.
pub fn commit_consumer(
    writes: &mut WriteBatch,
    stream: Stream,
    name: &str,
    offset: u64,
) -> Result<(), LogError> {
    writes.put(consumer_key(stream, name)?, offset.to_be_bytes().to_vec());
    Ok(())
}

/// `name`'s committed position on `stream`, if it ever committed one.
pub fn consumer_position<S: Storage>(
    store: &S,
    stream: Stream,
    name: &str,
) -> Result<Option<u64>, LogError> {
    let key = consumer_key(stream, name)?;
    match store.get(&key)? {
        Some(v) => Ok(Some(be_u64(&v, 0, &key)?)),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    #[test]
    fn positions_are_per_stream_and_name() {
        let mut s = MemoryStorage::new();
        let mut w = WriteBatch::new();
        commit_consumer(&mut w, Stream::Events, "warehouse", 42).unwrap();
        commit_consumer(&mut w, Stream::Firings, "warehouse", 7).unwrap();
        s.commit(w).unwrap();
        assert_eq!(
            consumer_position(&s, Stream::Events, "warehouse").unwrap(),
            Some(42)
        );
        assert_eq!(
            consumer_position(&s, Stream::Firings, "warehouse").unwrap(),
            Some(7)
        );
        assert_eq!(
            consumer_position(&s, Stream::Events, "other").unwrap(),
            None
        );
    }

    #[test]
    fn bad_names_are_refused() {
        let mut w = WriteBatch::new();
        assert_eq!(
            commit_consumer(&mut w, Stream::Events, "", 1),
            Err(LogError::InvalidConsumerName {
                len: 0,
                max: MAX_CONSUMER_NAME_BYTES
            })
        );
        let long = "x".repeat(MAX_CONSUMER_NAME_BYTES + 1);
        assert!(commit_consumer(&mut w, Stream::Events, &long, 1).is_err());
        assert!(w.is_empty());
    }
}
