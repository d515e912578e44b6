//! One stream of batches under a key prefix: append, read, retention.

use super::batch::{BatchHeader, BATCH_HEADER_LEN};
use super::{be_u64, corrupt, LogError};
use crate::storage::{keys, Storage, StorageError, WriteBatch};

/// Age-retention deadlines are rounded up to a multiple of this (a minute).
pub const RETENTION_ROUNDING_MS: u64 = 60_000;

/// The format version of [`LogMeta`] values.
const META_VERSION: u8 = 1;
const META_LEN: usize = 1 + 7 * 8;

/// A stream's bookkeeping, stored under `m` + the stream's name and
/// rewritten by every append and retention step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LogMeta {
    /// The offset the next record gets (the high watermark, `end`).
    pub next_offset: u64,
    /// The first offset still stored; equals `next_offset` when empty.
    pub earliest_offset: u64,
    /// Bytes of the stored batch values (headers included).
    pub bytes: u64,
    /// Number of stored batches.
    pub batches: u64,
    /// The most records any batch of this stream ever held: a batch that
    /// contains offset `o` starts at or after `o - max_batch_count + 1`.
    pub max_batch_count: u64,
    /// The `now` of the last append.
    pub last_append_time: u64,
    /// The append time of the earliest stored batch (meaningless when the
    /// stream is empty): when retention by age next has work, known without
    /// reading the batch.
    pub earliest_append_time: u64,
}

impl LogMeta {
    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(META_LEN);
        v.push(META_VERSION);
        for n in [
            self.next_offset,
            self.earliest_offset,
            self.bytes,
            self.batches,
            self.max_batch_count,
            self.last_append_time,
            self.earliest_append_time,
        ] {
            v.extend_from_slice(&n.to_be_bytes());
        }
        v
    }

    fn decode(v: &[u8], key: &[u8]) -> Result<LogMeta, StorageError> {
        if v.len() != META_LEN || v[0] != META_VERSION {
            return Err(corrupt(key, "log metadata of unknown format"));
        }
        let n = |i: usize| be_u64(v, 1 + 8 * i, key);
        Ok(LogMeta {
            next_offset: n(0)?,
            earliest_offset: n(1)?,
            bytes: n(2)?,
            batches: n(3)?,
            max_batch_count: n(4)?,
            last_append_time: n(5)?,
            earliest_append_time: n(6)?,
        })
    }
}

/// A batch as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBatch {
    /// The offset of its first record.
    pub base_offset: u64,
    /// Its header.
    pub header: BatchHeader,
    /// The stored value (header + payload); see [`StoredBatch::payload`].
    pub value: Vec<u8>,
}

impl StoredBatch {
    /// The payload (what was appended), without the header.
    pub fn payload(&self) -> &[u8] {
        self.value.get(BATCH_HEADER_LEN..).unwrap_or(&[])
    }

    /// One past the offset of its last record.
    pub fn end_offset(&self) -> u64 {
        self.base_offset + u64::from(self.header.count)
    }
}

/// Batches read from a stream, and where the stream stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRead {
    /// Batches in offset order. The first may start before the offset asked
    /// for (it contains it); the caller skips the records before it.
    pub batches: Vec<StoredBatch>,
    /// The stream's first stored offset.
    pub earliest: u64,
    /// The stream's next offset (high watermark).
    pub end: u64,
}

/// How long and how much a stream keeps. `None` keeps forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RetentionPolicy {
    /// Batches appended more than this many ms before `now` are deleted.
    pub max_age_ms: Option<u64>,
    /// The oldest batches are deleted while the stream holds more bytes.
    pub max_bytes: Option<u64>,
    /// Batches holding this offset or later are kept whatever their age or
    /// the stream's size: the archive has not written them yet.
    pub keep_from: Option<u64>,
}

/// What one bounded retention step did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RetentionStep {
    /// The batches deleted, oldest first (the caller may clean up after them).
    pub deleted: Vec<StoredBatch>,
    /// True when the step stopped at its bound with more left to delete.
    pub more: bool,
}

/// A stream of batches under one key prefix, with its metadata key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Log {
    prefix: u8,
    name: &'static str,
}

impl Log {
    /// The event stream (`b` batches, `m` + `events`).
    pub const fn events() -> Log {
        Log {
            prefix: keys::EVENT_BATCH,
            name: "events",
        }
    }

    /// The firing stream (`f` batches, `m` + `firings`).
    pub const fn firings() -> Log {
        Log {
            prefix: keys::FIRING_BATCH,
            name: "firings",
        }
    }

    /// The quarantine stream (`x` batches, `m` + `quarantine`).
    pub const fn quarantine() -> Log {
        Log {
            prefix: keys::QUARANTINE_BATCH,
            name: "quarantine",
        }
    }

    /// The key of the batch starting at `base_offset`.
    pub fn batch_key(&self, base_offset: u64) -> Vec<u8> {
        keys::with_u64(self.prefix, base_offset)
    }

    fn meta_key(&self) -> Vec<u8> {
        keys::with_str(keys::LOG_META, self.name)
    }

    /// The stream's metadata (all zero for a stream never written).
    pub fn meta<S: Storage>(&self, store: &S) -> Result<LogMeta, LogError> {
        let key = self.meta_key();
        match store.get(&key)? {
            Some(v) => Ok(LogMeta::decode(&v, &key)?),
            None => Ok(LogMeta::default()),
        }
    }

    /// Puts a batch of `count` records into `writes` and advances `meta`
    /// (also put into `writes`). Returns the batch's base offset. Nothing is
    /// stored until the caller commits `writes`; if that fails, the caller
    /// must drop `meta` and read it again.
    pub fn append(
        &self,
        meta: &mut LogMeta,
        writes: &mut WriteBatch,
        count: usize,
        now: u64,
        max_timestamp: u64,
        payload: &[u8],
    ) -> Result<u64, LogError> {
        let mut value = Vec::with_capacity(BATCH_HEADER_LEN + payload.len());
        value.resize(BATCH_HEADER_LEN, 0);
        value.extend_from_slice(payload);
        self.append_value(meta, writes, count, now, max_timestamp, value)
    }

    /// [`Log::append`] of a stored value built by the caller: room for the
    /// header ([`BATCH_HEADER_LEN`] bytes, overwritten here), then the
    /// payload. Saves a copy of a payload that the caller writes anyway.
    pub(crate) fn append_value(
        &self,
        meta: &mut LogMeta,
        writes: &mut WriteBatch,
        count: usize,
        now: u64,
        max_timestamp: u64,
        mut value: Vec<u8>,
    ) -> Result<u64, LogError> {
        let count32 = u32::try_from(count).map_err(|_| LogError::BatchTooLarge { count })?;
        let base = meta.next_offset;
        let header = BatchHeader {
            count: count32,
            append_time: now,
            max_timestamp,
        };
        value[..BATCH_HEADER_LEN].copy_from_slice(&header.encode());
        if meta.batches == 0 {
            meta.earliest_append_time = now;
        }
        meta.bytes += value.len() as u64;
        meta.batches += 1;
        meta.next_offset = base + count as u64;
        meta.max_batch_count = meta.max_batch_count.max(count as u64);
        meta.last_append_time = meta.last_append_time.max(now);
        writes.put(self.batch_key(base), value);
        writes.put(self.meta_key(), meta.encode());
        Ok(base)
    }

    /// Reads batches from offset `from` on: enough to hold `max_records`
    /// records from `from`, stopping earlier once the batches read hold
    /// `max_bytes` (at least one batch is returned if any exists, so a
    /// reader always makes progress). `from == end` returns no batches
    /// (the caller waits for more); `from` outside `earliest..=end` is
    /// [`LogError::OffsetOutOfRange`], never a silent skip.
    pub fn read<S: Storage>(
        &self,
        store: &S,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<LogRead, LogError> {
        let meta = self.meta(store)?;
        let mut out = LogRead {
            batches: Vec::new(),
            earliest: meta.earliest_offset,
            end: meta.next_offset,
        };
        if from < meta.earliest_offset || from > meta.next_offset {
            return Err(LogError::OffsetOutOfRange {
                requested: from,
                earliest: meta.earliest_offset,
                end: meta.next_offset,
            });
        }
        if from == meta.next_offset || max_records == 0 {
            return Ok(out);
        }
        let first = self.batch_containing(store, &meta, from)?;
        let end_key = keys::prefix_end(&[self.prefix]);
        let mut records = (first.end_offset() - from) as usize;
        let mut bytes = first.value.len();
        let mut next = first.end_offset();
        out.batches.push(first);
        // Read in chunks sized from the stream's average batch, so that a
        // small read does not fetch hundreds of batches it will not use.
        let avg = (meta.next_offset - meta.earliest_offset)
            .checked_div(meta.batches)
            .unwrap_or(1)
            .max(1) as usize;
        while records < max_records && bytes < max_bytes && next < meta.next_offset {
            let want = ((max_records - records) / avg + 1).min(256);
            let chunk = store.scan(&self.batch_key(next), &end_key, want)?;
            if chunk.is_empty() {
                break;
            }
            for (k, v) in chunk {
                let base = be_u64(&k, 1, &k)?;
                let (header, _) = BatchHeader::decode(&v, &k)?;
                if base != next {
                    return Err(corrupt(&k, "batches are not contiguous").into());
                }
                if bytes + v.len() > max_bytes {
                    return Ok(out);
                }
                records += header.count as usize;
                bytes += v.len();
                next = base + u64::from(header.count);
                out.batches.push(StoredBatch {
                    base_offset: base,
                    header,
                    value: v,
                });
                if records >= max_records {
                    break;
                }
            }
        }
        Ok(out)
    }

    /// The batch holding offset `at` (which is in `earliest..end`).
    fn batch_containing<S: Storage>(
        &self,
        store: &S,
        meta: &LogMeta,
        at: u64,
    ) -> Result<StoredBatch, LogError> {
        // The usual case: a consumer resumes at a batch boundary.
        let key = self.batch_key(at);
        if let Some(value) = store.get(&key)? {
            let (header, _) = BatchHeader::decode(&value, &key)?;
            return Ok(StoredBatch {
                base_offset: at,
                header,
                value,
            });
        }
        // Otherwise the batch starts at most `max_batch_count - 1` before
        // `at`; the last batch before `at` is the one. Look back in growing
        // windows, so that a few large batches in the stream's past do not
        // make every lookup read hundreds of small ones.
        let farthest = at
            .saturating_sub(meta.max_batch_count.saturating_sub(1))
            .max(meta.earliest_offset);
        let mut window = 32u64;
        loop {
            let lowest = at.saturating_sub(window - 1).max(farthest);
            let found = store.scan(&self.batch_key(lowest), &self.batch_key(at + 1), usize::MAX)?;
            if let Some((k, value)) = found.into_iter().next_back() {
                let base = be_u64(&k, 1, &k)?;
                let (header, _) = BatchHeader::decode(&value, &k)?;
                if base + u64::from(header.count) > at {
                    return Ok(StoredBatch {
                        base_offset: base,
                        header,
                        value,
                    });
                }
                break;
            }
            if lowest == farthest {
                break;
            }
            window = window.saturating_mul(8);
        }
        Err(corrupt(&key, "no stored batch contains this offset").into())
    }

    /// Deletes expired batches, oldest first, at most `max_batches` of them,
    /// putting the deletes and the new metadata into `writes`.
    pub fn enforce_retention<S: Storage>(
        &self,
        store: &S,
        meta: &mut LogMeta,
        writes: &mut WriteBatch,
        policy: RetentionPolicy,
        now: u64,
        max_batches: usize,
    ) -> Result<RetentionStep, LogError> {
        let mut step = RetentionStep::default();
        if meta.batches == 0 || (policy.max_age_ms.is_none() && policy.max_bytes.is_none()) {
            return Ok(step);
        }
        // The metadata says whether anything is due; without this check
        // every alarm (most are trigger wake-ups) would read up to
        // `max_batches` batches only to delete none.
        let due_by_size = policy.max_bytes.is_some_and(|max| meta.bytes > max);
        let due_by_age = policy
            .max_age_ms
            .is_some_and(|age| meta.earliest_append_time.saturating_add(age) <= now);
        if !(due_by_size || due_by_age) {
            return Ok(step);
        }
        let end_key = keys::prefix_end(&[self.prefix]);
        // Small chunks first, growing: an alarm usually has a few batches
        // to delete, and each one scanned is a whole frame read.
        let mut chunk = 8usize;
        while step.deleted.len() < max_batches {
            let want = chunk.min(max_batches - step.deleted.len());
            let candidates = store.scan(&self.batch_key(meta.earliest_offset), &end_key, want)?;
            let got = candidates.len();
            for (k, value) in candidates {
                let base = be_u64(&k, 1, &k)?;
                let (header, _) = BatchHeader::decode(&value, &k)?;
                let too_old = policy
                    .max_age_ms
                    .is_some_and(|age| header.append_time.saturating_add(age) <= now);
                let too_big = policy.max_bytes.is_some_and(|max| meta.bytes > max);
                let unarchived = policy
                    .keep_from
                    .is_some_and(|k| base + u64::from(header.count) > k);
                if unarchived || !(too_old || too_big) {
                    meta.earliest_append_time = header.append_time;
                    return self.finish_retention(meta, writes, step, false);
                }
                meta.bytes = meta.bytes.saturating_sub(value.len() as u64);
                meta.batches = meta.batches.saturating_sub(1);
                meta.earliest_offset = base + u64::from(header.count);
                step.deleted.push(StoredBatch {
                    base_offset: base,
                    header,
                    value,
                });
            }
            if got < want {
                break;
            }
            chunk = chunk.saturating_mul(4);
        }
        let more = step.deleted.len() == max_batches && meta.batches > 0;
        if more {
            // Stopped at the bound: the new earliest batch was not scanned.
            let key = self.batch_key(meta.earliest_offset);
            let value = store
                .get(&key)?
                .ok_or_else(|| corrupt(&key, "the earliest batch is missing"))?;
            meta.earliest_append_time = BatchHeader::decode(&value, &key)?.0.append_time;
        }
        self.finish_retention(meta, writes, step, more)
    }

    fn finish_retention(
        &self,
        meta: &mut LogMeta,
        writes: &mut WriteBatch,
        mut step: RetentionStep,
        more: bool,
    ) -> Result<RetentionStep, LogError> {
        step.more = more;
        if let (Some(first), Some(last)) = (step.deleted.first(), step.deleted.last()) {
            writes.delete_range(
                self.batch_key(first.base_offset),
                self.batch_key(last.base_offset + 1),
            );
            if meta.batches == 0 {
                // Empty: the next batch will be the earliest.
                meta.earliest_offset = meta.next_offset;
            }
            writes.put(self.meta_key(), meta.encode());
        }
        Ok(step)
    }

    /// When retention next has work: now if the stream is over its size,
    /// else when its oldest batch ages out, rounded up to the next whole
    /// minute so that one alarm deletes a minute of batches rather than
    /// one alarm per batch; `None` if never. One read (the metadata): the
    /// driver may call it after every append.
    pub fn retention_deadline<S: Storage>(
        &self,
        store: &S,
        policy: RetentionPolicy,
        now: u64,
    ) -> Result<Option<u64>, LogError> {
        let meta = self.meta(store)?;
        if meta.batches == 0 {
            return Ok(None);
        }
        if let Some(keep_from) = policy.keep_from {
            // Nothing is deletable before the archive moves on (and its
            // move re-arms the alarm): no deadline, rather than a past one
            // that would wake the driver for nothing.
            let key = self.batch_key(meta.earliest_offset);
            let earliest_end = match store.get(&key)? {
                Some(v) => meta.earliest_offset + u64::from(BatchHeader::decode(&v, &key)?.0.count),
                None => return Err(corrupt(&key, "the earliest batch is missing").into()),
            };
            if earliest_end > keep_from {
                return Ok(None);
            }
        }
        if policy.max_bytes.is_some_and(|max| meta.bytes > max) {
            return Ok(Some(now));
        }
        Ok(policy.max_age_ms.map(|age| {
            let due = meta.earliest_append_time.saturating_add(age);
            due.div_ceil(RETENTION_ROUNDING_MS)
                .saturating_mul(RETENTION_ROUNDING_MS)
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn append(s: &mut MemoryStorage, log: Log, count: usize, now: u64) -> u64 {
        let mut meta = log.meta(s).unwrap();
        let mut w = WriteBatch::new();
        let payload = vec![count as u8; count * 10];
        let base = log
            .append(&mut meta, &mut w, count, now, now, &payload)
            .unwrap();
        s.commit(w).unwrap();
        base
    }

    #[test]
    fn offsets_are_dense_per_record_and_streams_are_independent() {
        let mut s = MemoryStorage::new();
        assert_eq!(append(&mut s, Log::events(), 20, 1), 0);
        assert_eq!(append(&mut s, Log::events(), 3, 2), 20);
        assert_eq!(append(&mut s, Log::firings(), 2, 2), 0);
        assert_eq!(append(&mut s, Log::events(), 1, 3), 23);
        let m = Log::events().meta(&s).unwrap();
        assert_eq!(
            (
                m.next_offset,
                m.earliest_offset,
                m.batches,
                m.max_batch_count
            ),
            (24, 0, 3, 20)
        );
        assert_eq!(m.bytes, (3 * BATCH_HEADER_LEN + 240) as u64);
    }

    #[test]
    fn reads_start_inside_a_batch_and_respect_bounds() {
        let mut s = MemoryStorage::new();
        for _ in 0..5 {
            append(&mut s, Log::events(), 4, 1);
        }
        let r = Log::events().read(&s, 6, 5, usize::MAX).unwrap();
        let bases: Vec<u64> = r.batches.iter().map(|b| b.base_offset).collect();
        assert_eq!(
            bases,
            vec![4, 8],
            "offset 6 is in the batch at 4; 5 records need 2 batches"
        );
        assert_eq!((r.earliest, r.end), (0, 20));
        let r = Log::events().read(&s, 0, 100, 1).unwrap();
        assert_eq!(r.batches.len(), 1, "max_bytes still returns one batch");
        let r = Log::events().read(&s, 20, 100, usize::MAX).unwrap();
        assert!(r.batches.is_empty(), "reading at the end is a live tail");
        assert_eq!(
            Log::events().read(&s, 21, 1, 1),
            Err(LogError::OffsetOutOfRange {
                requested: 21,
                earliest: 0,
                end: 20
            })
        );
    }

    #[test]
    fn reads_inside_a_large_batch_far_behind_small_ones_find_it() {
        let mut s = MemoryStorage::new();
        let log = Log::events();
        append(&mut s, log, 200, 1); // 0..200
        for _ in 0..100 {
            append(&mut s, log, 1, 2); // 200..300
        }
        append(&mut s, log, 7, 3); // 300..307
        for (at, base) in [(150, 0), (199, 0), (250, 250), (303, 300), (0, 0)] {
            let r = log.read(&s, at, 1, usize::MAX).unwrap();
            assert_eq!(r.batches[0].base_offset, base, "reading at {at}");
        }
    }

    #[test]
    fn retention_deletes_oldest_first_and_never_reuses_offsets() {
        let mut s = MemoryStorage::new();
        let log = Log::events();
        for t in 0..6 {
            append(&mut s, log, 2, t * 1000);
        }
        let policy = RetentionPolicy {
            max_age_ms: Some(3000),
            max_bytes: None,
            keep_from: None,
        };
        let mut meta = log.meta(&s).unwrap();
        let mut w = WriteBatch::new();
        let step = log
            .enforce_retention(&s, &mut meta, &mut w, policy, 4500, 2)
            .unwrap();
        assert_eq!(step.deleted.len(), 2);
        assert!(step.more);
        s.commit(w).unwrap();
        let mut meta = log.meta(&s).unwrap();
        let mut w = WriteBatch::new();
        let step = log
            .enforce_retention(&s, &mut meta, &mut w, policy, 4500, 2)
            .unwrap();
        assert_eq!(
            step.deleted.len(),
            0,
            "the batch at t=2000 is only 2500 ms old"
        );
        assert!(!step.more);
        assert!(w.is_empty());
        assert_eq!(log.meta(&s).unwrap().earliest_offset, 4);
        assert_eq!(
            log.read(&s, 3, 1, 1),
            Err(LogError::OffsetOutOfRange {
                requested: 3,
                earliest: 4,
                end: 12
            })
        );
        assert_eq!(
            log.retention_deadline(&s, policy, 4500).unwrap(),
            Some(RETENTION_ROUNDING_MS),
            "the batch at 2000 is due at 5000, rounded up to the minute"
        );
        assert_eq!(log.meta(&s).unwrap().earliest_append_time, 2000);

        let mut meta = log.meta(&s).unwrap();
        let mut w = WriteBatch::new();
        log.enforce_retention(&s, &mut meta, &mut w, policy, 1_000_000, 100)
            .unwrap();
        s.commit(w).unwrap();
        let meta = log.meta(&s).unwrap();
        assert_eq!(
            (
                meta.earliest_offset,
                meta.next_offset,
                meta.batches,
                meta.bytes
            ),
            (12, 12, 0, 0)
        );
        assert_eq!(
            append(&mut s, log, 1, 2_000_000),
            12,
            "offsets continue after deletion"
        );
    }

    #[test]
    fn retention_reads_in_growing_chunks_and_stops_at_the_first_young_batch() {
        let mut s = MemoryStorage::new();
        let log = Log::events();
        for t in 0..100 {
            append(&mut s, log, 1, t);
        }
        let policy = RetentionPolicy {
            max_age_ms: Some(1000),
            max_bytes: None,
            keep_from: None,
        };
        let mut meta = log.meta(&s).unwrap();
        let mut w = WriteBatch::new();
        // Batches appended at 0..=29 are due at 1029.
        let step = log
            .enforce_retention(&s, &mut meta, &mut w, policy, 1029, 256)
            .unwrap();
        assert_eq!((step.deleted.len(), step.more), (30, false));
        assert_eq!((meta.earliest_offset, meta.earliest_append_time), (30, 30));
        s.commit(w).unwrap();
        assert_eq!(log.meta(&s).unwrap(), meta);
        assert_eq!(
            log.retention_deadline(&s, policy, 1029).unwrap(),
            Some(60_000)
        );
    }

    #[test]
    fn retention_by_size_keeps_the_newest_under_the_limit() {
        let mut s = MemoryStorage::new();
        let log = Log::events();
        for _ in 0..4 {
            append(&mut s, log, 1, 0); // 21 + 10 bytes each
        }
        let policy = RetentionPolicy {
            max_age_ms: None,
            max_bytes: Some(70),
            keep_from: None,
        };
        assert_eq!(log.retention_deadline(&s, policy, 9).unwrap(), Some(9));
        let mut meta = log.meta(&s).unwrap();
        let mut w = WriteBatch::new();
        let step = log
            .enforce_retention(&s, &mut meta, &mut w, policy, 9, 100)
            .unwrap();
        s.commit(w).unwrap();
        assert_eq!(step.deleted.len(), 2);
        assert_eq!(log.meta(&s).unwrap().bytes, 62);
        assert_eq!(log.retention_deadline(&s, policy, 9).unwrap(), None);
    }
}
