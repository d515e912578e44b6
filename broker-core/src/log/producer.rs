//! Idempotent producers: each producer's last few batches, so that a batch
//! sent again is acknowledged with its first offsets instead of being stored
//! twice, and an expiry index so that idle producers do not pile up.
//!
//! Rules (Kafka's, with one deliberate difference):
//! - a producer's batches carry sequences 0, 1, 2, ... and are sent one at a
//!   time; the next accepted sequence is `last + 1`;
//! - a sequence among the last [`RECENT_BATCHES`] stored is a duplicate:
//!   acknowledged with the offsets it got, not stored again;
//! - an older sequence is [`LogError::StaleSequence`] (it was stored, its
//!   offsets are forgotten), a larger one is [`LogError::SequenceGap`];
//! - unlike Kafka, a producer seen for the first time is accepted at any
//!   sequence: frames queued offline by a page may arrive after their
//!   producer expired. That cannot store a batch twice, because producers
//!   expire only after `producer_ttl_ms` (24 h 10 min by default), and any
//!   frame whose events are older than 24 h is rejected before it gets here.
//!
//! Liveness (the partition driver applies these): a known producer's next
//! frame that is refused for its timestamps still takes its sequence (with
//! no events), since the SDK drops it and goes on with the next; an empty
//! frame from an unknown producer takes nothing, since it carries no
//! timestamp that would refuse a late copy of an old one, which would set
//! the producer's sequence back. Any other refusal (a malformed frame) takes
//! nothing: the sender must send that sequence again, fixed, or its next
//! frames meet a gap until the producer expires.

use super::{be_u64, corrupt, LogError};
use crate::storage::{keys, Storage, StorageError, WriteBatch};

/// How many of a producer's latest batches are remembered (Kafka keeps 5).
pub const RECENT_BATCHES: usize = 5;

/// The expiry index is moved at most this often per producer, so that a busy
/// producer does not rewrite its index entry on every append. An entry may
/// thus be up to this much older than the producer's last activity; the
/// expiry step re-checks the producer state before deleting.
pub const EXPIRY_GRANULARITY_MS: u64 = 60_000;

const STATE_VERSION: u8 = 1;

/// One remembered batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecentBatch {
    /// The producer's sequence number of the batch.
    pub sequence: u64,
    /// The offset its first record got.
    pub base_offset: u64,
    /// Its record count.
    pub count: u32,
}

/// What the log remembers about a producer, under `p` + producer id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerState {
    /// The producer id.
    pub producer_id: u64,
    /// The `now` of its last accepted batch.
    pub last_seen: u64,
    /// The time in its expiry index key (`q` + time + id).
    pub indexed_at: u64,
    /// Its latest batches, oldest first, at most [`RECENT_BATCHES`].
    pub recent: Vec<RecentBatch>,
}

/// The verdict on a batch's sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SequenceCheck {
    /// A new batch: store it.
    Accept,
    /// Stored before: acknowledge it again with these offsets.
    Duplicate {
        /// The base offset it got the first time.
        base_offset: u64,
        /// Its record count.
        count: u32,
    },
}

fn state_key(producer_id: u64) -> Vec<u8> {
    keys::with_u64(keys::PRODUCER, producer_id)
}

fn expiry_key(at: u64, producer_id: u64) -> Vec<u8> {
    keys::with_u64_then(keys::PRODUCER_EXPIRY, at, &producer_id.to_be_bytes())
}

fn count_key() -> Vec<u8> {
    keys::with_str(keys::LOG_META, "producers")
}

/// The number of live (unexpired) producers.
pub fn producer_count<S: Storage>(store: &S) -> Result<u64, LogError> {
    let key = count_key();
    match store.get(&key)? {
        Some(v) => Ok(be_u64(&v, 0, &key)?),
        None => Ok(0),
    }
}

impl ProducerState {
    /// The stored state of `producer_id`, if it is known.
    pub fn load<S: Storage>(
        store: &S,
        producer_id: u64,
    ) -> Result<Option<ProducerState>, LogError> {
        let key = state_key(producer_id);
        match store.get(&key)? {
            Some(v) => Ok(Some(Self::decode(producer_id, &v, &key)?)),
            None => Ok(None),
        }
    }

    fn encode(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(18 + self.recent.len() * 20);
        v.push(STATE_VERSION);
        v.extend_from_slice(&self.last_seen.to_be_bytes());
        v.extend_from_slice(&self.indexed_at.to_be_bytes());
        v.push(self.recent.len() as u8);
        for r in &self.recent {
            v.extend_from_slice(&r.sequence.to_be_bytes());
            v.extend_from_slice(&r.base_offset.to_be_bytes());
            v.extend_from_slice(&r.count.to_be_bytes());
        }
        v
    }

    fn decode(producer_id: u64, v: &[u8], key: &[u8]) -> Result<ProducerState, StorageError> {
        if v.len() < 18 || v[0] != STATE_VERSION {
            return Err(corrupt(key, "producer state of unknown format"));
        }
        let n = v[17] as usize;
        if n > RECENT_BATCHES || v.len() != 18 + n * 20 {
            return Err(corrupt(key, "producer state has a bad batch list"));
        }
        // Room for the batch that `record` adds.
        let mut recent = Vec::with_capacity(RECENT_BATCHES);
        for i in 0..n {
            let at = 18 + i * 20;
            let mut c = [0u8; 4];
            c.copy_from_slice(&v[at + 16..at + 20]);
            recent.push(RecentBatch {
                sequence: be_u64(v, at, key)?,
                base_offset: be_u64(v, at + 8, key)?,
                count: u32::from_be_bytes(c),
            });
        }
        Ok(ProducerState {
            producer_id,
            last_seen: be_u64(v, 1, key)?,
            indexed_at: be_u64(v, 9, key)?,
            recent,
        })
    }

    /// The last stored sequence.
    pub fn last_sequence(&self) -> Option<u64> {
        self.recent.last().map(|r| r.sequence)
    }

    /// Records an accepted batch and puts the new state (and, when due, the
    /// moved expiry index entry and the producer count) into `writes`.
    /// `state` is `None` for a producer seen for the first time.
    pub fn record<S: Storage>(
        store: &S,
        state: Option<ProducerState>,
        writes: &mut WriteBatch,
        producer_id: u64,
        batch: RecentBatch,
        now: u64,
    ) -> Result<(), LogError> {
        let mut st = match state {
            Some(st) => st,
            None => {
                writes.put(
                    count_key(),
                    (producer_count(store)? + 1).to_be_bytes().to_vec(),
                );
                writes.put(expiry_key(now, producer_id), Vec::new());
                ProducerState {
                    producer_id,
                    last_seen: now,
                    indexed_at: now,
                    recent: Vec::with_capacity(1),
                }
            }
        };
        st.last_seen = st.last_seen.max(now);
        if st.last_seen >= st.indexed_at.saturating_add(EXPIRY_GRANULARITY_MS) {
            writes.delete(expiry_key(st.indexed_at, producer_id));
            writes.put(expiry_key(st.last_seen, producer_id), Vec::new());
            st.indexed_at = st.last_seen;
        }
        if st.recent.len() == RECENT_BATCHES {
            st.recent.remove(0);
        }
        st.recent.push(batch);
        writes.put(state_key(producer_id), st.encode());
        Ok(())
    }
}

/// Judges `sequence` from `producer_id` against its state.
pub fn check_sequence(
    state: Option<&ProducerState>,
    producer_id: u64,
    sequence: u64,
) -> Result<SequenceCheck, LogError> {
    let Some(st) = state else {
        return Ok(SequenceCheck::Accept);
    };
    let Some(last) = st.last_sequence() else {
        return Ok(SequenceCheck::Accept);
    };
    if last.checked_add(1) == Some(sequence) {
        return Ok(SequenceCheck::Accept);
    }
    if let Some(r) = st.recent.iter().find(|r| r.sequence == sequence) {
        return Ok(SequenceCheck::Duplicate {
            base_offset: r.base_offset,
            count: r.count,
        });
    }
    if sequence < last {
        Err(LogError::StaleSequence {
            producer: producer_id,
            last,
            got: sequence,
        })
    } else {
        Err(LogError::SequenceGap {
            producer: producer_id,
            expected: last.saturating_add(1),
            got: sequence,
        })
    }
}

/// What one bounded producer-expiry step did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ExpiryStep {
    /// Producers removed.
    pub expired: u64,
    /// True when the step stopped at its bound with more index entries due.
    pub more: bool,
    /// When the next index entry falls due, if any is left (read when the
    /// step did not stop at its bound).
    pub next_due: Option<u64>,
}

/// Removes producers idle for `ttl_ms` or more, looking at most at
/// `max_producers` index entries, putting the writes into `writes`.
pub fn expire_producers<S: Storage>(
    store: &S,
    writes: &mut WriteBatch,
    now: u64,
    ttl_ms: u64,
    max_producers: usize,
) -> Result<ExpiryStep, LogError> {
    let mut step = ExpiryStep::default();
    let start = [keys::PRODUCER_EXPIRY];
    let end = keys::prefix_end(&start);
    let entries = store.scan(&start, &end, max_producers.saturating_add(1))?;
    let mut removed = 0u64;
    for (i, (k, _)) in entries.iter().enumerate() {
        let at = be_u64(k, 1, k)?;
        if at.saturating_add(ttl_ms) > now {
            step.next_due = Some(at.saturating_add(ttl_ms));
            break;
        }
        if i == max_producers {
            step.more = true;
            break;
        }
        let id = be_u64(k, 9, k)?;
        writes.delete(k.clone());
        match ProducerState::load(store, id)? {
            Some(st) if st.last_seen.saturating_add(ttl_ms) > now => {
                // Active since it was indexed: index it where it really is.
                let mut st = st;
                st.indexed_at = st.last_seen;
                writes.put(expiry_key(st.last_seen, id), Vec::new());
                writes.put(state_key(id), st.encode());
            }
            Some(_) => {
                writes.delete(state_key(id));
                removed += 1;
            }
            None => {}
        }
    }
    if removed > 0 {
        let left = producer_count(store)?.saturating_sub(removed);
        writes.put(count_key(), left.to_be_bytes().to_vec());
    }
    step.expired = removed;
    Ok(step)
}

/// When the first producer expiry index entry falls due, if any, rounded
/// up to a multiple of [`EXPIRY_GRANULARITY_MS`] so that one alarm expires
/// a minute of producers rather than one alarm per producer.
pub fn next_producer_expiry<S: Storage>(store: &S, ttl_ms: u64) -> Result<Option<u64>, LogError> {
    let start = [keys::PRODUCER_EXPIRY];
    let first = store.scan(&start, &keys::prefix_end(&start), 1)?;
    match first.first() {
        Some((k, _)) => {
            let due = be_u64(k, 1, k)?.saturating_add(ttl_ms);
            Ok(Some(
                due.div_ceil(EXPIRY_GRANULARITY_MS)
                    .saturating_mul(EXPIRY_GRANULARITY_MS),
            ))
        }
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryStorage;

    fn accept(s: &mut MemoryStorage, id: u64, seq: u64, base: u64, now: u64) {
        let st = ProducerState::load(s, id).unwrap();
        assert_eq!(
            check_sequence(st.as_ref(), id, seq),
            Ok(SequenceCheck::Accept)
        );
        let mut w = WriteBatch::new();
        let b = RecentBatch {
            sequence: seq,
            base_offset: base,
            count: 2,
        };
        ProducerState::record(s, st, &mut w, id, b, now).unwrap();
        s.commit(w).unwrap();
    }

    #[test]
    fn duplicates_within_the_window_are_recognised_and_older_ones_are_stale() {
        let mut s = MemoryStorage::new();
        for seq in 0..7 {
            accept(&mut s, 9, seq, seq * 2, 100);
        }
        let st = ProducerState::load(&s, 9).unwrap().unwrap();
        assert_eq!(st.recent.len(), RECENT_BATCHES);
        assert_eq!(
            check_sequence(Some(&st), 9, 4),
            Ok(SequenceCheck::Duplicate {
                base_offset: 8,
                count: 2
            })
        );
        assert_eq!(
            check_sequence(Some(&st), 9, 1),
            Err(LogError::StaleSequence {
                producer: 9,
                last: 6,
                got: 1
            })
        );
        assert_eq!(
            check_sequence(Some(&st), 9, 9),
            Err(LogError::SequenceGap {
                producer: 9,
                expected: 7,
                got: 9
            })
        );
        assert_eq!(check_sequence(Some(&st), 9, 7), Ok(SequenceCheck::Accept));
    }

    #[test]
    fn a_first_seen_producer_is_accepted_at_any_sequence() {
        let mut s = MemoryStorage::new();
        accept(&mut s, 1, 41, 0, 5);
        assert_eq!(producer_count(&s).unwrap(), 1);
        let st = ProducerState::load(&s, 1).unwrap().unwrap();
        assert_eq!(st.last_sequence(), Some(41));
    }

    #[test]
    fn idle_producers_expire_and_active_ones_are_reindexed() {
        let mut s = MemoryStorage::new();
        let ttl = 1_000_000;
        accept(&mut s, 1, 0, 0, 0);
        accept(&mut s, 2, 0, 2, 0);
        // Producer 2 stays active, but less than the granularity: same index.
        accept(&mut s, 2, 1, 4, EXPIRY_GRANULARITY_MS - 1);
        // Due at 1,000,000 ms, rounded up to the minute.
        assert_eq!(next_producer_expiry(&s, ttl).unwrap(), Some(1_020_000));
        let mut w = WriteBatch::new();
        let step = expire_producers(&s, &mut w, ttl, ttl, 10).unwrap();
        s.commit(w).unwrap();
        assert_eq!(step.expired, 1);
        assert!(ProducerState::load(&s, 1).unwrap().is_none());
        let p2 = ProducerState::load(&s, 2).unwrap().unwrap();
        assert_eq!(p2.indexed_at, EXPIRY_GRANULARITY_MS - 1);
        assert_eq!(producer_count(&s).unwrap(), 1);
        assert_eq!(
            next_producer_expiry(&s, ttl).unwrap(),
            Some(1_080_000),
            "re-indexed at 59,999 ms: due at 1,059,999, rounded up"
        );
    }

    #[test]
    fn expiry_work_is_bounded() {
        let mut s = MemoryStorage::new();
        for id in 0..5 {
            accept(&mut s, id, 0, id, 0);
        }
        let mut w = WriteBatch::new();
        let step = expire_producers(&s, &mut w, 10, 10, 3).unwrap();
        s.commit(w).unwrap();
        assert_eq!((step.expired, step.more), (3, true));
        assert_eq!(producer_count(&s).unwrap(), 2);
    }
}
