//! The storage the core talks through: an ordered key-value store with atomic
//! multi-key commits.
//!
//! Everything that must survive a restart (log batches, producer state,
//! consumer positions, trigger state, pending firings) is written through this
//! trait, so the core itself holds nothing a restart would lose: after a
//! restart the driver builds the core again over the same storage.
//!
//! The relay implements it on a Durable Object's SQLite database (one table
//! `kv(key BLOB PRIMARY KEY, value BLOB)`; writes issued without an `await`
//! between them commit as one transaction). [`MemoryStorage`] is the in-memory
//! implementation for tests, benches and the CLI.
//!
//! Keys are byte strings ordered lexicographically; modules keep to their own
//! key prefixes (see [`keys`]) and encode numbers big-endian so that byte order
//! is numeric order.

use crate::trigger::hash::WordHasher;
use hashbrown::hash_table::{Entry, HashTable};
use std::cell::RefCell;
use std::hash::Hasher;

/// A failure of the underlying store. The core never half-applies a
/// [`WriteBatch`]: when `commit` fails, nothing of it took effect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The store could not read or write; the message is the driver's.
    #[error("storage failed: {0}")]
    Io(String),
    /// A stored value could not be decoded (corruption, or a newer format).
    #[error("stored value under key {key:?} is corrupt: {reason}")]
    Corrupt {
        /// The key, as printable text where possible.
        key: String,
        /// What was wrong with it.
        reason: String,
    },
}

/// One write of a [`WriteBatch`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WriteOp {
    /// Set `key` to `value`.
    Put(Vec<u8>, Vec<u8>),
    /// Remove `key` (no error if absent).
    Delete(Vec<u8>),
    /// Remove every key in `[start, end)`.
    DeleteRange(Vec<u8>, Vec<u8>),
}

/// Writes that take effect together or not at all.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteBatch {
    /// The writes, applied in order.
    pub ops: Vec<WriteOp>,
}

impl WriteBatch {
    /// An empty batch.
    pub fn new() -> Self {
        Self::default()
    }
    /// An empty batch with room for `n` writes.
    pub fn with_capacity(n: usize) -> Self {
        WriteBatch {
            ops: Vec::with_capacity(n),
        }
    }
    /// Adds a put.
    pub fn put(&mut self, key: impl Into<Vec<u8>>, value: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::Put(key.into(), value.into()));
    }
    /// Adds a delete.
    pub fn delete(&mut self, key: impl Into<Vec<u8>>) {
        self.ops.push(WriteOp::Delete(key.into()));
    }
    /// Adds a range delete of `[start, end)`.
    pub fn delete_range(&mut self, start: impl Into<Vec<u8>>, end: impl Into<Vec<u8>>) {
        self.ops
            .push(WriteOp::DeleteRange(start.into(), end.into()));
    }
    /// Appends another batch's writes after this one's.
    pub fn extend(&mut self, other: WriteBatch) {
        self.ops.extend(other.ops);
    }
    /// True when there is nothing to write.
    pub fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

/// Key-value pairs in key order, as [`Storage::scan`] returns them.
pub type Entries = Vec<(Vec<u8>, Vec<u8>)>;

/// An ordered key-value store with atomic batches.
pub trait Storage {
    /// The value under `key`.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError>;
    /// Up to `limit` entries with `start <= key < end`, in key order.
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StorageError>;
    /// The keys of [`Storage::scan`], without their values (the counter
    /// journal's fold reads which entries are there, not what they hold).
    /// The default scans and drops the values; a store that can read keys
    /// alone should.
    fn scan_keys(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        let entries = self.scan(start, end, limit)?;
        Ok(entries.into_iter().map(|(k, _)| k).collect())
    }
    /// Applies every write of `batch`, atomically.
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError>;
}

impl<S: Storage + ?Sized> Storage for &mut S {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).get(key)
    }
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StorageError> {
        (**self).scan(start, end, limit)
    }
    fn scan_keys(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        (**self).scan_keys(start, end, limit)
    }
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        (**self).commit(batch)
    }
}

/// An in-memory [`Storage`], for tests, benches and the CLI.
///
/// Values live in a hash table and the keys, in order, in an index beside it
/// (kept lazily: see `Index`): a partition's appends are mostly point reads and overwrites
/// (visitor state, counters, metadata), which cost a hash instead of a tree
/// descent comparing keys with long shared prefixes; only new keys, deletes
/// and scans touch the index. (Keys are held twice.)
///
/// Not `Sync`: a scan sorts the keys added since the last one, through
/// `&self`.
#[derive(Debug, Clone, Default)]
pub struct MemoryStorage {
    values: Values,
    index: RefCell<Index>,
}

/// The stored pairs, each with its key's hash: the table grows by moving
/// the hashes it holds, without reading a key (a rehash that hashed every
/// key again, each a pointer away, was 3% of an append's time with the 50
/// bench triggers).
type Values = HashTable<Slot>;

/// One stored pair and its key's [`hash_of`].
#[derive(Debug, Clone)]
struct Slot {
    hash: u64,
    key: Vec<u8>,
    value: Vec<u8>,
}

/// The hash of a key, held in its slot (in memory only: it is never
/// persisted, so it may change between builds).
#[inline]
fn hash_of(key: &[u8]) -> u64 {
    let mut h = WordHasher::default();
    h.write(key);
    h.finish()
}

/// Whether a slot holds `key`, whose hash is `hash` (the hashes compared
/// first, the bytes only when they are equal).
#[inline]
fn holds(hash: u64, key: &[u8]) -> impl Fn(&Slot) -> bool + '_ {
    move |s| s.hash == hash && s.key == key
}

/// The slot of `key` in `values`, if any.
#[inline]
fn find<'v>(values: &'v Values, key: &[u8]) -> Option<&'v Slot> {
    let hash = hash_of(key);
    values.find(hash, holds(hash, key))
}

/// Removes `key` from `values`; true when it was there.
#[inline]
fn remove(values: &mut Values, key: &[u8]) -> bool {
    let hash = hash_of(key);
    values
        .find_entry(hash, holds(hash, key))
        .map(|e| e.remove())
        .is_ok()
}

/// The keys of a [`MemoryStorage`] in order, kept lazily, apart by their
/// first byte.
///
/// An append with triggers adds four new keys or more (an event batch, a
/// firing batch, an undelivered entry, a journal entry; a new visitor's
/// and producer's state, wake-ups) and deletes a few; a tree insert or
/// remove for each, about 170 ns apiece at ten thousand keys, was 7% of
/// such an append.
/// So a new key is pushed, unsorted, to its first byte's `added`; a scan
/// (or `added` growing past an eighth of `sorted`, at least [`MERGE_AT`])
/// sorts it and merges it into `sorted` in one pass. A deleted key stays
/// in `sorted` until the deletes are as many as the live keys; scans skip
/// the keys that no longer hold a value.
///
/// Apart by first byte (the module's key prefix, see [`keys`]), a scan
/// sorts only the new keys of the prefixes it reads (the counter journal's
/// fold reads its own entries, not the batches and visitor states added
/// since the last fold), and most prefixes get their keys in ascending
/// order (batches, journal entries by their number), which a merge then
/// appends: sorting every new key together, in one index, was 3% of an
/// append with the 50 bench triggers.
#[derive(Debug, Clone, Default)]
struct Index {
    /// By first byte (the empty key with 0, before every other key of
    /// that byte); empty until the first key is added.
    buckets: Vec<Bucket>,
    /// Deletes since the last purge: at least the stale keys of the
    /// buckets' `sorted`.
    stale: usize,
}

/// The keys of one first byte.
#[derive(Debug, Clone, Default)]
struct Bucket {
    /// Ascending, each key once; may hold keys deleted since.
    sorted: Vec<Ordered>,
    /// Keys added since the last merge, in the order added (a key deleted
    /// and added again may be here twice, or here and in `sorted`).
    added: Vec<Ordered>,
}

/// The fewest new keys that make a bucket merge them without a scan.
#[cfg(not(test))]
const MERGE_AT: usize = 1024;
/// Small in tests, so that the property test crosses merges and purges.
#[cfg(test)]
const MERGE_AT: usize = 4;

/// The bucket of `key`.
#[inline]
fn bucket_of(key: &[u8]) -> usize {
    key.first().copied().unwrap_or(0) as usize
}

impl Index {
    /// Adds a key that holds no value yet.
    #[inline]
    fn add(&mut self, key: &[u8]) {
        if self.buckets.is_empty() {
            self.buckets.resize_with(256, Bucket::default);
        }
        let b = &mut self.buckets[bucket_of(key)];
        b.added.push(Ordered::new(key));
        if b.added.len() >= MERGE_AT.max(b.sorted.len() / 8) {
            b.merge();
        }
    }

    /// Counts a deleted key; drops the stale keys once they are as many as
    /// the live ones.
    fn deleted(&mut self, values: &Values) {
        self.stale += 1;
        if self.stale > values.len().max(MERGE_AT) {
            for b in &mut self.buckets {
                b.merge();
                b.sorted.retain(|o| {
                    let mut buf = [0; 16];
                    let key = o.key(&mut buf);
                    find(values, key).is_some()
                });
            }
            self.stale = 0;
        }
    }

    /// The buckets that can hold keys in `[start, end)` (`start < end`),
    /// each merged, with the positions of those keys in its `sorted`.
    fn range<'i>(
        &'i mut self,
        start: &[u8],
        end: &[u8],
    ) -> impl Iterator<Item = (&'i mut Bucket, std::ops::Range<usize>)> {
        let first = bucket_of(start);
        // Every key of bucket `b` is at least `[b]`: with `end` one byte
        // long, its own bucket holds none of the range (but bucket 0 holds
        // the empty key too).
        let last = match end {
            [b] if *b > 0 => *b as usize - 1,
            _ => bucket_of(end),
        };
        let buckets = match self.buckets.len() {
            256 if first <= last => &mut self.buckets[first..=last],
            _ => &mut [],
        };
        let (start, end) = (Ordered::new(start), Ordered::new(end));
        buckets.iter_mut().map(move |b| {
            b.merge();
            let lo = b.sorted.partition_point(|o| *o < start);
            let hi = b.sorted.partition_point(|o| *o < end);
            (b, lo..hi.max(lo))
        })
    }
}

impl Bucket {
    /// Moves `added` into `sorted`.
    fn merge(&mut self) {
        if self.added.is_empty() {
            return;
        }
        self.added.sort_unstable();
        self.added.dedup();
        match (self.sorted.last(), self.added.first()) {
            // All after the last: most new keys are the largest of their
            // prefix (batches, journal entries, by their number).
            (Some(last), Some(first)) if last < first => self.sorted.append(&mut self.added),
            (None, _) => std::mem::swap(&mut self.sorted, &mut self.added),
            _ => {
                let old = std::mem::take(&mut self.sorted);
                let mut merged = Vec::with_capacity(old.len() + self.added.len());
                let mut a = old.into_iter().peekable();
                let mut b = self.added.drain(..).peekable();
                loop {
                    let next = match (a.peek(), b.peek()) {
                        (Some(x), Some(y)) if y < x => b.next(),
                        (Some(x), Some(y)) if x == y => {
                            b.next();
                            a.next()
                        }
                        (Some(_), _) => a.next(),
                        (None, _) => b.next(),
                    };
                    match next {
                        Some(o) => merged.push(o),
                        None => break,
                    }
                }
                self.sorted = merged;
            }
        }
    }
}

/// A key in the index: its first sixteen bytes as a number (zero-padded,
/// big-endian), then the whole key when it is longer than sixteen bytes
/// (empty otherwise: the number and the length hold a short key, so that
/// the index copies no short key), then its length. Ordering by the three,
/// in that order, is the keys' own order:
/// - numbers that differ differ at the first differing byte of the keys,
///   or where the shorter one ends;
/// - with equal numbers, a key of sixteen bytes or fewer is a prefix of
///   any longer one (the longer has zeros where its number was padded):
///   an empty `long` sorts before a full one, and between two short keys
///   the shorter sorts first;
/// - two long keys with equal numbers compare as wholes.
///
/// A sort or a binary search then mostly compares numbers instead of
/// calling `memcmp`. Sixteen bytes, not eight: most keys are a prefix byte
/// and a big-endian number (log batches, journal entries, minutes,
/// deadlines), whose first eight bytes are the same for neighbours; they
/// are also short, and four of an append's new keys are such.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Ordered {
    head: u128,
    long: Vec<u8>,
    len: usize,
}

impl Ordered {
    fn new(key: &[u8]) -> Ordered {
        let mut head = [0u8; 16];
        let n = key.len().min(16);
        head[..n].copy_from_slice(&key[..n]);
        Ordered {
            head: u128::from_be_bytes(head),
            long: if key.len() > 16 {
                key.to_vec()
            } else {
                Vec::new()
            },
            len: key.len(),
        }
    }

    /// The key's bytes, a short key's written into `buf`.
    #[inline]
    fn key<'k>(&'k self, buf: &'k mut [u8; 16]) -> &'k [u8] {
        if self.len > 16 {
            return &self.long;
        }
        *buf = self.head.to_be_bytes();
        &buf[..self.len]
    }
}

impl MemoryStorage {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }
    /// How many keys are stored.
    pub fn len(&self) -> usize {
        self.values.len()
    }
    /// True when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }
    /// `f` of up to `limit` keys with `start <= key < end` and their values,
    /// in key order (the keys added since the last scan sorted first).
    fn range<T>(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
        f: impl Fn(&Vec<u8>, &Vec<u8>) -> T,
    ) -> Vec<T> {
        if start >= end {
            return Vec::new();
        }
        let mut index = self.index.borrow_mut();
        index
            .range(start, end)
            .flat_map(|(b, range)| b.sorted[range].iter())
            .filter_map(|o| {
                let mut buf = [0; 16];
                let key = o.key(&mut buf);
                let s = find(&self.values, key)?;
                Some(f(&s.key, &s.value))
            })
            .take(limit)
            .collect()
    }

    /// Total bytes of keys and values, for size figures.
    pub fn bytes(&self) -> usize {
        self.values
            .iter()
            .map(|s| s.key.len() + s.value.len())
            .sum()
    }
}

impl Storage for MemoryStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(find(&self.values, key).map(|s| s.value.clone()))
    }

    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StorageError> {
        Ok(self.range(start, end, limit, |k, v| (k.clone(), v.clone())))
    }

    fn scan_keys(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, StorageError> {
        Ok(self.range(start, end, limit, |k, _| k.clone()))
    }

    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        let index = self.index.get_mut();
        for op in batch.ops {
            match op {
                WriteOp::Put(key, value) => {
                    let hash = hash_of(&key);
                    match self.values.entry(hash, holds(hash, &key), |s| s.hash) {
                        Entry::Occupied(mut e) => e.get_mut().value = value,
                        Entry::Vacant(e) => {
                            index.add(&key);
                            e.insert(Slot { hash, key, value });
                        }
                    }
                }
                WriteOp::Delete(key) => {
                    if remove(&mut self.values, &key) {
                        index.deleted(&self.values);
                    }
                }
                WriteOp::DeleteRange(s, e) => {
                    if s < e {
                        for (b, range) in index.range(&s, &e) {
                            for o in b.sorted.drain(range) {
                                remove(&mut self.values, o.key(&mut [0; 16]));
                            }
                        }
                    }
                }
            }
        }
        Ok(())
    }
}

/// Key prefixes: each module owns one, so they never collide.
pub mod keys {
    /// Log batches of the event stream: `b` + base offset (u64 BE).
    pub const EVENT_BATCH: u8 = b'b';
    /// Log batches of the firing stream: `f` + base offset (u64 BE).
    pub const FIRING_BATCH: u8 = b'f';
    /// Log batches of the quarantine stream: `x` + base offset (u64 BE).
    pub const QUARANTINE_BATCH: u8 = b'x';
    /// Tracking-plan violation counters: `n` + event name + 0x00 +
    /// violation code (u16 BE) + path.
    pub const PLAN_COUNTERS: u8 = b'n';
    /// Log metadata (next offsets, earliest offsets, sizes): `m` + name.
    pub const LOG_META: u8 = b'm';
    /// Idempotent-producer state: `p` + producer id (u64 BE).
    pub const PRODUCER: u8 = b'p';
    /// Producer expiry index: `q` + last-seen ms (u64 BE) + producer id.
    pub const PRODUCER_EXPIRY: u8 = b'q';
    /// Committed consumer positions: `c` + stream byte + consumer name.
    pub const CONSUMER: u8 = b'c';
    /// Per-visitor trigger state: `v` + visitor id.
    pub const VISITOR: u8 = b'v';
    /// Trigger wake-up index: `w` + deadline ms (u64 BE) + visitor id.
    pub const WAKEUP: u8 = b'w';
    /// Trigger engine metadata (active trigger file, its hash): `t` + name.
    pub const TRIGGER_META: u8 = b't';
    /// Firings not yet acknowledged by a page of their visitor:
    /// `u` + visitor id + 0x00 + firing offset (u64 BE).
    pub const UNDELIVERED: u8 = b'u';
    /// Trigger counters per minute (`stats`): `s` + minute (u64 BE) +
    /// trigger id.
    pub const TRIGGER_STATS: u8 = b's';
    /// The counter journal (`stats::Journal`): `j` + sequence (u64 BE).
    pub const STATS_JOURNAL: u8 = b'j';

    /// `prefix` followed by `n` big-endian.
    pub fn with_u64(prefix: u8, n: u64) -> Vec<u8> {
        with_u64_then(prefix, n, &[])
    }

    /// `prefix`, `n` big-endian, then `tail`: allocated once at its size
    /// (these keys are built on every append).
    pub fn with_u64_then(prefix: u8, n: u64, tail: &[u8]) -> Vec<u8> {
        let mut k = Vec::with_capacity(9 + tail.len());
        k.push(prefix);
        k.extend_from_slice(&n.to_be_bytes());
        k.extend_from_slice(tail);
        k
    }

    /// `prefix` followed by the bytes of `s`.
    pub fn with_str(prefix: u8, s: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(1 + s.len());
        k.push(prefix);
        k.extend_from_slice(s.as_bytes());
        k
    }

    /// The smallest key greater than every key that starts with `prefix`
    /// (the end of a prefix scan).
    pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
        let mut end = prefix.to_vec();
        while let Some(last) = end.pop() {
            if last < 0xff {
                end.push(last + 1);
                return end;
            }
        }
        vec![0xff; prefix.len() + 1]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_storage_scans_in_key_order_within_bounds() {
        let mut s = MemoryStorage::new();
        let mut b = WriteBatch::new();
        for n in [5u64, 1, 3, 9] {
            b.put(keys::with_u64(keys::EVENT_BATCH, n), vec![n as u8]);
        }
        b.put(keys::with_u64(keys::FIRING_BATCH, 0), vec![0]);
        s.commit(b).unwrap();
        let got = s
            .scan(
                &keys::with_u64(keys::EVENT_BATCH, 2),
                &keys::prefix_end(&[keys::EVENT_BATCH]),
                10,
            )
            .unwrap();
        let vals: Vec<u8> = got.iter().map(|(_, v)| v[0]).collect();
        assert_eq!(vals, vec![3, 5, 9]);
    }

    #[test]
    fn delete_range_removes_only_the_range() {
        let mut s = MemoryStorage::new();
        let mut b = WriteBatch::new();
        for n in 0u64..10 {
            b.put(keys::with_u64(keys::EVENT_BATCH, n), vec![]);
        }
        s.commit(b).unwrap();
        let mut d = WriteBatch::new();
        d.delete_range(
            keys::with_u64(keys::EVENT_BATCH, 2),
            keys::with_u64(keys::EVENT_BATCH, 7),
        );
        s.commit(d).unwrap();
        assert_eq!(s.len(), 5);
    }

    /// Keys from few bytes, short and long: shared prefixes, zero bytes,
    /// keys shorter than sixteen bytes (the part compared as a number)
    /// that are prefixes of longer ones.
    fn key() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        proptest::collection::vec(proptest::sample::select(vec![0u8, 1, b'a', 0xff]), 0..20)
    }

    /// A key of twelve: puts, deletes and scans meet the same keys again
    /// (added, deleted and added again, stale in the index).
    fn few_keys() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        (0..12u8).prop_map(|k| vec![b'j' + k % 2, k / 4, k])
    }

    use proptest::strategy::Strategy;

    proptest::proptest! {
        /// Puts, deletes and range deletes, then scans (of entries and of
        /// keys alone), against a `BTreeMap`.
        #[test]
        fn memory_storage_is_an_ordered_map(
            ops in proptest::collection::vec((0..3u8, key(), key()), 0..60),
            scans in proptest::collection::vec((key(), key(), 0..8usize), 1..8),
        ) {
            check_against_a_btree_map(ops, scans)?;
        }

        /// The same with few keys, and scans between the writes: the
        /// index's merges, its stale keys and their purge.
        #[test]
        fn memory_storage_is_an_ordered_map_over_few_keys(
            ops in proptest::collection::vec((0..4u8, few_keys(), few_keys()), 0..200),
            scans in proptest::collection::vec((few_keys(), few_keys(), 0..12usize), 1..8),
        ) {
            check_against_a_btree_map(ops, scans)?;
        }
    }

    /// Applies `ops` (0 put, 1 delete, 2 range delete, 3 a scan of
    /// everything) to a store and to a `BTreeMap`, then compares `scans`.
    fn check_against_a_btree_map(
        ops: Vec<(u8, Vec<u8>, Vec<u8>)>,
        scans: Vec<(Vec<u8>, Vec<u8>, usize)>,
    ) -> Result<(), proptest::test_runner::TestCaseError> {
        use std::collections::BTreeMap;
        let mut s = MemoryStorage::new();
        let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
        for (i, (op, a, b)) in ops.into_iter().enumerate() {
            let mut w = WriteBatch::new();
            match op {
                0 => {
                    model.insert(a.clone(), vec![i as u8]);
                    w.put(a, vec![i as u8]);
                }
                1 => {
                    model.remove(&a);
                    w.delete(a);
                }
                2 => {
                    if a < b {
                        model.retain(|k, _| !(a <= *k && *k < b));
                    }
                    w.delete_range(a, b);
                }
                _ => {
                    let all: Vec<_> = model.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
                    proptest::prop_assert_eq!(s.scan(&[], &[0xff; 4], usize::MAX).unwrap(), all);
                }
            }
            s.commit(w).unwrap();
        }
        proptest::prop_assert_eq!(s.len(), model.len());
        for (start, end, limit) in scans {
            let want: Vec<(Vec<u8>, Vec<u8>)> = if start < end {
                model
                    .range(start.clone()..end.clone())
                    .take(limit)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            } else {
                Vec::new()
            };
            let keys: Vec<Vec<u8>> = want.iter().map(|(k, _)| k.clone()).collect();
            proptest::prop_assert_eq!(s.scan(&start, &end, limit).unwrap(), want);
            proptest::prop_assert_eq!(s.scan_keys(&start, &end, limit).unwrap(), keys);
        }
        Ok(())
    }

    #[test]
    fn prefix_end_carries_over_0xff() {
        assert_eq!(keys::prefix_end(&[b'a', 0xff]), vec![b'b']);
        assert_eq!(keys::prefix_end(b"v"), vec![b'w']);
    }
}
