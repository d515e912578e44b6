//! Helpers shared by the log property tests and the simulation: a seeded
//! RNG, a storage that injects faults, and frames whose events say who sent
//! them (producer, sequence, index) so that a checker can identify every
//! record it reads back.

#![allow(dead_code)]

use broker_core::event::{Event, EventKind, Value};
use broker_core::frame::{self, Context, Frame};
use broker_core::storage::{Entries, MemoryStorage, Storage, StorageError, WriteBatch};
use std::borrow::Cow;

/// SplitMix64: tiny, seeded, the same sequence on every platform.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x5eed_5eed_5eed_5eed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    /// True with probability `p_per_mille / 1000`.
    pub fn chance(&mut self, p_per_mille: u64) -> bool {
        self.below(1000) < p_per_mille
    }
}

/// What a [`FaultyStorage`] does to the next commit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Commit normally.
    None,
    /// Fail part-way: nothing is applied (the store is atomic) and an error
    /// is returned.
    FailBefore,
    /// The write lands but its reply is lost: applied, error returned.
    FailAfter,
}

/// A [`MemoryStorage`] that injects commit faults drawn from its own RNG.
#[derive(Debug, Clone)]
pub struct FaultyStorage {
    pub inner: MemoryStorage,
    rng: Rng,
    /// Per mille of commits that fail with nothing applied.
    pub fail_before: u64,
    /// Per mille of commits that apply but report failure.
    pub fail_after: u64,
    pub commits: u64,
    pub injected: u64,
}

impl FaultyStorage {
    pub fn new(seed: u64, fail_before: u64, fail_after: u64) -> FaultyStorage {
        FaultyStorage {
            inner: MemoryStorage::new(),
            rng: Rng::new(seed),
            fail_before,
            fail_after,
            commits: 0,
            injected: 0,
        }
    }
    fn draw(&mut self) -> Fault {
        let r = self.rng.below(1000);
        if r < self.fail_before {
            Fault::FailBefore
        } else if r < self.fail_before + self.fail_after {
            Fault::FailAfter
        } else {
            Fault::None
        }
    }
}

impl Storage for FaultyStorage {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key)
    }
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StorageError> {
        self.inner.scan(start, end, limit)
    }
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        self.commits += 1;
        match self.draw() {
            Fault::None => self.inner.commit(batch),
            Fault::FailBefore => {
                self.injected += 1;
                Err(StorageError::Io("injected: failed before applying".into()))
            }
            Fault::FailAfter => {
                self.injected += 1;
                self.inner.commit(batch)?;
                Err(StorageError::Io(
                    "injected: reply lost after applying".into(),
                ))
            }
        }
    }
}

/// Who an event is: producer, sequence, index in its frame.
pub type Tag = (u64, u64, u64);

/// An event carrying its [`Tag`] in its properties.
pub fn tagged_event(tag: Tag, at: u64) -> Event<'static> {
    Event {
        kind: EventKind::Track,
        name: Cow::Borrowed("Sim Event"),
        timestamp: at,
        properties: vec![
            (Cow::Borrowed("p"), Value::Int(tag.0 as i64)),
            (Cow::Borrowed("s"), Value::Int(tag.1 as i64)),
            (Cow::Borrowed("i"), Value::Int(tag.2 as i64)),
        ],
    }
}

/// The tag of an event made by [`tagged_event`].
pub fn tag_of(e: &Event<'_>) -> Option<Tag> {
    let int = |k: &str| match e.properties.iter().find(|(n, _)| n == k) {
        // Tags are u64 stored bit for bit in an i64 (producer ids are random).
        Some((_, Value::Int(i))) => Some(*i as u64),
        _ => None,
    };
    Some((int("p")?, int("s")?, int("i")?))
}

/// A frame of `count` tagged events from `producer` at `sequence`, for
/// `visitor`, stamped at `at`.
pub fn tagged_frame(visitor: &str, producer: u64, sequence: u64, count: u64, at: u64) -> Vec<u8> {
    let events = (0..count)
        .map(|i| tagged_event((producer, sequence, i), at))
        .collect();
    let frame = Frame {
        producer_id: producer,
        sequence,
        sent_at: at,
        context: Context {
            anonymous_id: Cow::Owned(visitor.to_owned()),
            ..Context::default()
        },
        events,
    };
    match frame::encode(&frame) {
        Ok(bytes) => bytes,
        Err(e) => panic!("cannot encode a test frame: {e}"),
    }
}
