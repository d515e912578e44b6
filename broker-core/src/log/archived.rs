//! How far the archive has written each stream: the offset its next segment
//! starts at, stored under `m` + `archive-events` / `archive-firings` and
//! moved only after the segment's object is written. With an archive
//! configured, retention deletes only batches wholly below it.

use super::{be_u64, Stream};
use crate::storage::{keys, Storage, StorageError, WriteBatch};

fn key(stream: Stream) -> Vec<u8> {
    keys::with_str(keys::LOG_META, &format!("archive-{}", stream.as_str()))
}

/// The archive position of `stream`, if the archive ever wrote it.
pub fn archive_position<S: Storage>(
    store: &S,
    stream: Stream,
) -> Result<Option<u64>, StorageError> {
    let key = key(stream);
    store.get(&key)?.map(|v| be_u64(&v, 0, &key)).transpose()
}

/// Puts the archive position of `stream` into `writes`.
pub fn set_archive_position(writes: &mut WriteBatch, stream: Stream, offset: u64) {
    writes.put(key(stream), offset.to_be_bytes().to_vec());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::{Log, RetentionPolicy};
    use crate::storage::MemoryStorage;

    #[test]
    fn retention_keeps_what_the_archive_has_not_written() {
        let mut s = MemoryStorage::new();
        let log = Log::events();
        for t in 0..4u64 {
            let mut meta = log.meta(&s).unwrap();
            let mut w = WriteBatch::new();
            log.append(&mut meta, &mut w, 10, t, t, &[0; 10]).unwrap();
            s.commit(w).unwrap();
        }
        assert_eq!(archive_position(&s, Stream::Events).unwrap(), None);
        // Everything is over age and size; the archive wrote 0..15: the
        // batch 10..20 holds unwritten records and stops the deletion.
        let mut w = WriteBatch::new();
        set_archive_position(&mut w, Stream::Events, 15);
        s.commit(w).unwrap();
        assert_eq!(archive_position(&s, Stream::Events).unwrap(), Some(15));
        assert_eq!(archive_position(&s, Stream::Firings).unwrap(), None);
        let policy = RetentionPolicy {
            max_age_ms: Some(1),
            max_bytes: Some(1),
            keep_from: Some(15),
        };
        assert_eq!(
            log.retention_deadline(&s, policy, 1_000).unwrap(),
            Some(1_000)
        );
        let mut meta = log.meta(&s).unwrap();
        let mut w = WriteBatch::new();
        let step = log
            .enforce_retention(&s, &mut meta, &mut w, policy, 1_000, 100)
            .unwrap();
        s.commit(w).unwrap();
        assert_eq!((step.deleted.len(), step.more), (1, false));
        assert_eq!(log.meta(&s).unwrap().earliest_offset, 10);
        assert_eq!(
            log.retention_deadline(&s, policy, 1_000).unwrap(),
            None,
            "no deadline while the archive holds the earliest batch"
        );
        let all = RetentionPolicy {
            keep_from: Some(40),
            ..policy
        };
        let mut meta = log.meta(&s).unwrap();
        let mut w = WriteBatch::new();
        let step = log
            .enforce_retention(&s, &mut meta, &mut w, all, 1_000, 100)
            .unwrap();
        assert_eq!(step.deleted.len(), 3);
    }
}
