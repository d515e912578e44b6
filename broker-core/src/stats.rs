//! Trigger counters: per trigger and per minute, what each partition's
//! engine did (fired, held out, suppressed by reason, conversions of each
//! group, distinct visitors reached), written in the same commit as the
//! append that caused them, and merged over time ranges for the relay's
//! stats route.
//!
//! Storage: `s` + minute (u64 BE, ms / 60,000) + trigger id, one entry per
//! trigger and minute with any activity, a format byte then varints and a
//! visitor set ([`Visitors`]). Minutes are the events' own times (a
//! suppression's time is its firing's, a conversion's its goal event's).
//! Entries older than [`RETENTION_MS`] are deleted by
//! [`expire`] (the partition's periodic work). Bound: at most one entry per
//! trigger and minute, of at most [`MAX_ENTRY_BYTES`] bytes, for 31 days:
//! 44,640 minutes x triggers x 349 bytes per partition at worst (an entry
//! only exists for a minute in which the trigger did something). An
//! append writes what it adds as one [`Journal`] entry (`j` + sequence),
//! folded into the minute entries [`JOURNAL_FOLD_AT`] entries at a time and
//! by the periodic work; reads add the entries not folded yet.
//!
//! Distinct visitors: exact while small (up to [`EXACT_VISITORS`] 64-bit
//! visitor hashes per entry), then a HyperLogLog of [`HLL_REGISTERS`]
//! one-byte registers (standard error 1.04 / sqrt(256) = 6.5%). Both merge
//! across minutes (set union, register max), so an hour's or a range's
//! distinct count is of the union, not a sum. Across partitions the counts
//! add up exactly: a visitor lives in one partition.

use crate::frame::wire::{put_varint, take_varint as varint};
use crate::storage::{keys, Storage, StorageError, WriteBatch};
use crate::trigger::hash::hash64 as visitor_hash;
use crate::trigger::hash::WordHasher;
use crate::trigger::{Counted, Logged, Outcome, Reason, Suppressed, Suppressions, TriggerFile};
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasherDefault;
use std::sync::Arc;

/// One minute, in ms.
pub const MINUTE_MS: u64 = 60_000;
/// One hour, in ms.
pub const HOUR_MS: u64 = 3_600_000;
/// How long minute entries are kept: 31 days, so that 30 full days are
/// always there.
pub const RETENTION_MS: u64 = 31 * 24 * HOUR_MS;
/// Distinct visitors are counted exactly up to this many per entry.
pub const EXACT_VISITORS: usize = 32;
/// Registers of the HyperLogLog past [`EXACT_VISITORS`] (precision 8).
pub const HLL_REGISTERS: usize = 256;
/// The largest stored entry: a format byte, nine counters (varints of at
/// most 10 bytes) and a tagged visitor set (the sketch: 1 + 256 bytes; the
/// exact set is at most 1 + 1 + 32 x 8).
pub const MAX_ENTRY_BYTES: usize = 1 + 9 * 10 + 1 + 1 + EXACT_VISITORS * 8;

/// The format byte of a stored entry.
const FORMAT: u8 = 1;

/// Distinct visitors: their hashes while few, then a HyperLogLog.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visitors {
    /// Sorted, distinct 64-bit visitor hashes.
    Exact(Vec<u64>),
    /// HyperLogLog registers.
    Sketch(Box<[u8; HLL_REGISTERS]>),
}

impl Default for Visitors {
    fn default() -> Self {
        Visitors::Exact(Vec::new())
    }
}

impl Visitors {
    /// Adds a visitor by its hash.
    pub fn insert(&mut self, h: u64) {
        match self {
            Visitors::Exact(v) => {
                if let Err(at) = v.binary_search(&h) {
                    v.insert(at, h);
                }
                if v.len() > EXACT_VISITORS {
                    *self = Visitors::Sketch(sketch_of(v));
                }
            }
            Visitors::Sketch(r) => add_to_sketch(r, h),
        }
    }

    /// The union with `other`.
    pub fn merge(&mut self, other: &Visitors) {
        match other {
            Visitors::Exact(v) => v.iter().for_each(|&h| self.insert(h)),
            Visitors::Sketch(o) => {
                let mut r = match self {
                    Visitors::Exact(v) => sketch_of(v),
                    Visitors::Sketch(r) => std::mem::replace(r, Box::new([0; HLL_REGISTERS])),
                };
                for (a, b) in r.iter_mut().zip(o.iter()) {
                    *a = (*a).max(*b);
                }
                *self = Visitors::Sketch(r);
            }
        }
    }

    /// How many distinct visitors: exact, or the HyperLogLog estimate (with
    /// linear counting while registers are empty).
    pub fn count(&self) -> u64 {
        match self {
            Visitors::Exact(v) => v.len() as u64,
            Visitors::Sketch(r) => {
                let m = HLL_REGISTERS as f64;
                let zeros = r.iter().filter(|&&x| x == 0).count();
                let sum: f64 = r.iter().map(|&x| (-(f64::from(x))).exp2()).sum();
                let e = 0.7213 / (1.0 + 1.079 / m) * m * m / sum;
                let e = if e <= 2.5 * m && zeros > 0 {
                    m * (m / zeros as f64).ln()
                } else {
                    e
                };
                e.round() as u64
            }
        }
    }
}

fn sketch_of(hashes: &[u64]) -> Box<[u8; HLL_REGISTERS]> {
    let mut r = Box::new([0; HLL_REGISTERS]);
    hashes.iter().for_each(|&h| add_to_sketch(&mut r, h));
    r
}

fn add_to_sketch(r: &mut [u8; HLL_REGISTERS], h: u64) {
    // Top 8 bits choose the register; the rank is the position of the
    // first 1 bit in the other 56 (57 when they are all zero).
    let at = (h >> 56) as usize;
    let rank = ((h << 8) | (1 << 7)).leading_zeros() as u8 + 1;
    r[at] = r[at].max(rank);
}

/// What one trigger did in one bucket (a minute, an hour, a range).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Firings delivered.
    pub fired: u64,
    /// Held-out firings.
    pub held_out: u64,
    /// Qualifications that did not fire, by reason.
    pub suppressed: Suppressions,
    /// Conversions of delivered firings.
    pub conversions: u64,
    /// Conversions of held-out firings.
    pub held_out_conversions: u64,
    /// Distinct visitors a firing was delivered to.
    pub visitors: Visitors,
}

impl Counters {
    /// Adds `other` (the visitors as a union).
    pub fn merge(&mut self, other: &Counters) {
        self.fired += other.fired;
        self.held_out += other.held_out;
        self.suppressed.add(&other.suppressed);
        self.conversions += other.conversions;
        self.held_out_conversions += other.held_out_conversions;
        self.visitors.merge(&other.visitors);
    }

    /// The stored form.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.encode_into(&mut out);
        out
    }

    /// Appends the stored form to `out`.
    fn encode_into(&self, out: &mut Vec<u8>) {
        let visitors = match &self.visitors {
            Visitors::Exact(v) => 1 + 10 + 8 * v.len(),
            Visitors::Sketch(_) => 1 + HLL_REGISTERS,
        };
        // Sized once: growing from a guess cost a reallocation per entry.
        out.reserve(1 + 9 * 10 + visitors);
        match &self.visitors {
            Visitors::Exact(v) => encode_exact(out, self.numbers(), v),
            Visitors::Sketch(r) => {
                encode_numbers(out, self.numbers());
                out.push(1);
                out.extend_from_slice(&r[..]);
            }
        }
    }

    /// Adds the stored counters `bytes` (as [`Counters::merge`] would add
    /// their decoding, without making one); `key` names them in errors.
    fn add_stored(&mut self, bytes: &[u8], key: &[u8]) -> Result<(), StorageError> {
        let (n, set) = parse(bytes, key)?;
        self.add_numbers(n);
        match set {
            StoredSet::Exact(r) => hashes(r).for_each(|h| self.visitors.insert(h)),
            StoredSet::Sketch(r) => {
                let mut regs = Box::new([0; HLL_REGISTERS]);
                regs.copy_from_slice(r);
                self.visitors.merge(&Visitors::Sketch(regs));
            }
        }
        Ok(())
    }

    /// Adds the nine counters `n`, in their stored order.
    fn add_numbers(&mut self, n: [u64; 9]) {
        let s = &mut self.suppressed;
        for (x, d) in [
            &mut self.fired,
            &mut self.held_out,
            &mut s.audience,
            &mut s.cooldown,
            &mut s.max_per_user,
            &mut s.global_cap,
            &mut s.cancelled,
            &mut self.conversions,
            &mut self.held_out_conversions,
        ]
        .into_iter()
        .zip(n)
        {
            *x += d;
        }
    }

    /// The counters of a stored entry; `key` names it in errors.
    pub fn decode(bytes: &[u8], key: &[u8]) -> Result<Counters, StorageError> {
        let (n, set) = parse(bytes, key)?;
        let visitors = match set {
            StoredSet::Exact(r) => Visitors::Exact(hashes(r).collect()),
            StoredSet::Sketch(r) => {
                let mut regs = Box::new([0; HLL_REGISTERS]);
                regs.copy_from_slice(r);
                Visitors::Sketch(regs)
            }
        };
        Ok(Counters {
            fired: n[0],
            held_out: n[1],
            suppressed: Suppressions {
                audience: n[2],
                cooldown: n[3],
                max_per_user: n[4],
                global_cap: n[5],
                cancelled: n[6],
            },
            conversions: n[7],
            held_out_conversions: n[8],
            visitors,
        })
    }
}

/// The stored form's format byte and nine counters.
fn encode_numbers(out: &mut Vec<u8>, numbers: [u64; 9]) {
    out.push(FORMAT);
    for n in numbers {
        put_varint(out, n);
    }
}

/// The stored form of `numbers` with the exact visitor set `hashes`
/// (sorted, distinct, at most [`EXACT_VISITORS`]).
fn encode_exact(out: &mut Vec<u8>, numbers: [u64; 9], hashes: &[u64]) {
    encode_numbers(out, numbers);
    out.push(0);
    put_varint(out, hashes.len() as u64);
    hashes
        .iter()
        .for_each(|h| out.extend_from_slice(&h.to_le_bytes()));
}

impl Counters {
    /// The nine counters in their stored order.
    fn numbers(&self) -> [u64; 9] {
        let s = &self.suppressed;
        [
            self.fired,
            self.held_out,
            s.audience,
            s.cooldown,
            s.max_per_user,
            s.global_cap,
            s.cancelled,
            self.conversions,
            self.held_out_conversions,
        ]
    }

    /// The stored form of `stored` (an entry's bytes) merged with `self`,
    /// without decoding the entry into a [`Counters`]: the same bytes as
    /// decode, [`Counters::merge`] and [`Counters::encode`] give, with one
    /// allocation instead of four or more (every append with firings
    /// updates a dozen entries). `key` names the entry in errors.
    fn merged_into(&self, stored: &[u8], key: &[u8]) -> Result<Vec<u8>, StorageError> {
        let (mut n, set) = parse(stored, key)?;
        let new = match &self.visitors {
            Visitors::Exact(v) if is_strictly_sorted(v.iter().copied()) => v,
            // A delta of more than `EXACT_VISITORS` (never one visitor's
            // call), or a hand-made unsorted one: the general way.
            _ => {
                let mut c = Counters::decode(stored, key)?;
                c.merge(self);
                return Ok(c.encode());
            }
        };
        for (x, d) in n.iter_mut().zip(self.numbers()) {
            *x += d;
        }
        let mut out = Vec::with_capacity(1 + 9 * 10 + 1 + 10 + 8 * EXACT_VISITORS);
        out.push(FORMAT);
        for x in n {
            put_varint(&mut out, x);
        }
        match set {
            StoredSet::Exact(r) if is_strictly_sorted(hashes(r)) => {
                let union = union_len(hashes(r), new.iter().copied());
                if union <= EXACT_VISITORS {
                    out.push(0);
                    put_varint(&mut out, union as u64);
                    merge_sorted(hashes(r), new.iter().copied(), |h| {
                        out.extend_from_slice(&h.to_le_bytes())
                    });
                } else {
                    let mut regs = [0; HLL_REGISTERS];
                    hashes(r)
                        .chain(new.iter().copied())
                        .for_each(|h| add_to_sketch(&mut regs, h));
                    out.push(1);
                    out.extend_from_slice(&regs);
                }
            }
            StoredSet::Exact(_) => {
                // Stored out of order (never written so): the general way,
                // which inserts into it as it is.
                let mut c = Counters::decode(stored, key)?;
                c.merge(self);
                return Ok(c.encode());
            }
            StoredSet::Sketch(r) => {
                let mut regs = [0; HLL_REGISTERS];
                regs.copy_from_slice(r);
                new.iter().for_each(|&h| add_to_sketch(&mut regs, h));
                out.push(1);
                out.extend_from_slice(&regs);
            }
        }
        Ok(out)
    }
}

/// The visitor set of a stored entry, still as bytes.
enum StoredSet<'b> {
    /// `8 x len` bytes of little-endian hashes.
    Exact(&'b [u8]),
    /// The registers.
    Sketch(&'b [u8]),
}

/// The counters and visitor set of a stored entry; `key` names it in errors.
fn parse<'b>(bytes: &'b [u8], key: &[u8]) -> Result<([u64; 9], StoredSet<'b>), StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: format!("trigger counters: {reason}"),
    };
    let mut r = bytes;
    match r.split_first() {
        Some((&FORMAT, rest)) => r = rest,
        Some((v, _)) => return Err(corrupt(&format!("unknown format {v}"))),
        None => return Err(corrupt("empty")),
    }
    let mut n = [0u64; 9];
    for x in &mut n {
        *x = varint(&mut r).ok_or_else(|| corrupt("truncated counter"))?;
    }
    let set = match r.split_first() {
        Some((0, rest)) => {
            r = rest;
            let len = varint(&mut r).ok_or_else(|| corrupt("truncated visitor count"))?;
            if len as usize > EXACT_VISITORS || r.len() != len as usize * 8 {
                return Err(corrupt("bad visitor set"));
            }
            StoredSet::Exact(r)
        }
        Some((1, rest)) if rest.len() == HLL_REGISTERS => StoredSet::Sketch(rest),
        _ => return Err(corrupt("bad visitor set")),
    };
    Ok((n, set))
}

/// The hashes of a stored exact set.
fn hashes(bytes: &[u8]) -> impl Iterator<Item = u64> + Clone + '_ {
    bytes
        .chunks_exact(8)
        .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
}

fn is_strictly_sorted(mut it: impl Iterator<Item = u64>) -> bool {
    let Some(mut last) = it.next() else {
        return true;
    };
    it.all(|h| {
        let ok = last < h;
        last = h;
        ok
    })
}

/// How many distinct values two strictly sorted sequences hold together.
fn union_len(a: impl Iterator<Item = u64>, b: impl Iterator<Item = u64>) -> usize {
    let mut n = 0;
    merge_sorted(a, b, |_| n += 1);
    n
}

/// Calls `f` with each distinct value of two strictly sorted sequences, in
/// order.
fn merge_sorted(
    a: impl Iterator<Item = u64>,
    b: impl Iterator<Item = u64>,
    mut f: impl FnMut(u64),
) {
    let (mut a, mut b) = (a.peekable(), b.peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(&x), Some(&y)) if x < y => a.next(),
            (Some(&x), Some(&y)) if y < x => b.next(),
            (Some(_), Some(_)) => {
                b.next();
                a.next()
            }
            (Some(_), None) => a.next(),
            (None, _) => b.next(),
        };
        match next {
            Some(h) => f(h),
            None => return,
        }
    }
}

fn key(minute: u64, trigger: &[u8]) -> Vec<u8> {
    keys::with_u64_then(keys::TRIGGER_STATS, minute, trigger)
}

/// Adds what one engine call did (its firing-stream records and the
/// suppressions it recorded) to the counters, into `writes`: one read and
/// one put per trigger and minute touched.
pub fn stage<S: Storage>(
    store: &S,
    writes: &mut WriteBatch,
    outcomes: &[Outcome],
    suppressed: &[Suppressed],
) -> Result<(), StorageError> {
    let each = suppressed
        .iter()
        .map(|s| (s.trigger_id.as_str(), s.time, s.reason, 1));
    stage_counted(store, writes, outcomes, each)
}

/// [`stage`] with the suppressions as `(trigger id, time, reason, how
/// many)`, as the engine records them.
pub(crate) fn stage_counted<'a, S: Storage>(
    store: &S,
    writes: &mut WriteBatch,
    outcomes: &'a [Outcome],
    suppressed: impl Iterator<Item = (&'a str, u64, Reason, u64)>,
) -> Result<(), StorageError> {
    for ((minute, trigger), d) in delta(outcomes, suppressed) {
        apply(store, writes, minute, trigger.as_bytes(), &d)?;
    }
    Ok(())
}

/// What `outcomes` and `suppressed` add, per minute and trigger, in the
/// order first touched.
fn delta<'a>(
    outcomes: &'a [Outcome],
    suppressed: impl Iterator<Item = (&'a str, u64, Reason, u64)>,
) -> Vec<((u64, &'a str), Counters)> {
    let mut suppressed = suppressed.peekable();
    if outcomes.is_empty() && suppressed.peek().is_none() {
        return Vec::new();
    }
    // Sized for a frame's usual dozen pairs: growing it by doubling cost
    // more than the pairs' own work.
    let mut delta: Vec<((u64, &str), Counters)> = Vec::with_capacity(16);
    for o in outcomes {
        match o {
            Outcome::Fired(f) => {
                let c = entry(&mut delta, (f.time / MINUTE_MS, &f.trigger_id));
                if f.held_out {
                    c.held_out += 1;
                } else {
                    c.fired += 1;
                    c.visitors.insert(visitor_hash(f.visitor.as_bytes()));
                }
            }
            Outcome::Converted(v) => {
                let c = entry(&mut delta, (v.time / MINUTE_MS, &v.trigger_id));
                if v.held_out {
                    c.held_out_conversions += 1;
                } else {
                    c.conversions += 1;
                }
            }
        }
    }
    for (trigger, time, reason, n) in suppressed {
        entry(&mut delta, (time / MINUTE_MS, trigger))
            .suppressed
            .add_reason(reason, n);
    }
    delta
}

/// Where each kind of outcome counts among the nine stored counters.
const FIRED: usize = 0;
const HELD_OUT: usize = 1;
const CONVERSIONS: usize = 7;
const HELD_OUT_CONVERSIONS: usize = 8;

/// The stored counter of a suppression `reason`.
fn reason_index(reason: Reason) -> usize {
    match reason {
        Reason::Audience => 2,
        Reason::Cooldown => 3,
        Reason::MaxPerUser => 4,
        Reason::GlobalCap => 5,
        Reason::Cancelled => 6,
    }
}

/// The stored counter of a recorded `what`, and the visitor it reached
/// (the hash of a delivered firing's visitor).
fn counter_of(what: Counted) -> (usize, Option<u64>) {
    match what {
        Counted::Suppressed(r) => (reason_index(r), None),
        Counted::Fired(visitor) => (FIRED, Some(visitor)),
        Counted::HeldOut => (HELD_OUT, None),
        Counted::Converted => (CONVERSIONS, None),
        Counted::HeldOutConverted => (HELD_OUT_CONVERSIONS, None),
    }
}

/// The trigger ids the journal's pairs name by index: each id once, the
/// ones of the bound trigger file found by their place in the file.
///
/// Indexes stay valid while the running sum holds pairs: ids are only
/// added, and the table starts again from the bound file when the sum is
/// empty ([`Journal::bind`]).
#[derive(Debug, Clone, Default)]
struct Ids {
    ids: Vec<Arc<str>>,
    at: HashMap<Arc<str>, u32, BuildHasherDefault<WordHasher>>,
    /// The bound file's triggers, in file order: their index in `ids`.
    of_file: Vec<u32>,
}

impl Ids {
    /// The index of `id`, added when new.
    fn index(&mut self, id: &str) -> u32 {
        match self.at.get(id) {
            Some(&i) => i,
            None => self.add(Arc::from(id)),
        }
    }

    /// [`Ids::index`] for an id the caller shares.
    fn index_shared(&mut self, id: &Arc<str>) -> u32 {
        match self.at.get(&**id) {
            Some(&i) => i,
            None => self.add(id.clone()),
        }
    }

    fn add(&mut self, id: Arc<str>) -> u32 {
        let i = self.ids.len() as u32;
        self.ids.push(id.clone());
        self.at.insert(id, i);
        i
    }

    fn id(&self, i: u32) -> &str {
        &self.ids[i as usize]
    }
}

/// One pair of a [`Delta`]: what a call adds to one trigger in one minute.
#[derive(Debug, Clone, Copy)]
struct Pair {
    minute: u64,
    /// The trigger's index in the journal's [`Ids`].
    trigger: u32,
    /// The nine counters, in their stored order.
    numbers: [u64; 9],
}

/// What one call adds, per minute and trigger, as the journal takes it:
/// the same sums as [`delta`] gives, by trigger index, without a
/// [`Counters`] (and its visitor vector) per pair. An append touches a dozen
/// pairs, most of them with one outcome each. Kept by the journal between
/// calls, emptied, so that a call allocates nothing.
#[derive(Debug, Clone, Default)]
struct Delta {
    /// In the order first touched.
    pairs: Vec<Pair>,
    /// `(pair, visitor hash)` of each delivered firing; sorted and without
    /// repeats once the pairs are complete ([`Delta::finish`]).
    visitors: Vec<(u32, u64)>,
    /// By trigger index: 1 + the trigger's latest pair, 0 for none (a
    /// pair is found without a search: a call's events are seconds apart,
    /// so most of its triggers have one minute).
    latest: Vec<u32>,
}

impl Delta {
    /// Empties it for the next call.
    fn clear(&mut self) {
        for p in &self.pairs {
            self.latest[p.trigger as usize] = 0;
        }
        self.pairs.clear();
        self.visitors.clear();
    }

    /// Adds `n` to counter `counter` of `trigger` in `minute`, and the
    /// visitor reached, if any.
    #[inline]
    fn add(&mut self, trigger: u32, minute: u64, (counter, reached): (usize, Option<u64>), n: u64) {
        let i = self.pair(minute, trigger);
        self.pairs[i].numbers[counter] += n;
        if let Some(h) = reached {
            self.visitors.push((i as u32, h));
        }
    }

    /// The index of the pair of `minute` and `trigger`, made when new.
    #[inline]
    fn pair(&mut self, minute: u64, trigger: u32) -> usize {
        let t = trigger as usize;
        if t >= self.latest.len() {
            self.latest.resize(t + 1, 0);
        }
        let latest = self.latest[t] as usize;
        if latest != 0 && self.pairs[latest - 1].minute == minute {
            return latest - 1;
        }
        // The trigger in another minute too (a call across a minute's end).
        let found = match latest {
            0 => None,
            _ => self
                .pairs
                .iter()
                .rposition(|p| p.trigger == trigger && p.minute == minute),
        };
        let i = found.unwrap_or_else(|| {
            self.pairs.push(Pair {
                minute,
                trigger,
                numbers: [0; 9],
            });
            self.pairs.len() - 1
        });
        self.latest[t] = i as u32 + 1;
        i
    }

    /// Sorts the visitors by pair, without repeats.
    fn finish(&mut self) {
        self.visitors.sort_unstable();
        self.visitors.dedup();
    }

    /// Calls `f` with each pair and its visitor hashes (sorted, distinct),
    /// in pair order; `hashes` is scratch space (kept by the caller, so
    /// that a call allocates nothing).
    fn for_each_pair(&self, hashes: &mut Vec<u64>, mut f: impl FnMut(&Pair, &[u64])) {
        let mut rest = &self.visitors[..];
        for (i, pair) in self.pairs.iter().enumerate() {
            hashes.clear();
            while let Some((&(p, h), tail)) = rest.split_first() {
                if p as usize != i {
                    break;
                }
                hashes.push(h);
                rest = tail;
            }
            f(pair, hashes);
        }
    }
}

/// The stored form of one pair of a [`Delta`]: `numbers` and its visitors
/// (sorted, distinct), as [`Counters::encode_into`] writes them.
fn encode_pair(out: &mut Vec<u8>, numbers: [u64; 9], hashes: &[u64]) {
    if hashes.len() <= EXACT_VISITORS {
        encode_exact(out, numbers, hashes);
    } else {
        // Past the exact set (a timeout's firings for many visitors).
        let mut c = Counters::default();
        c.add_numbers(numbers);
        hashes.iter().for_each(|&h| c.visitors.insert(h));
        c.encode_into(out);
    }
}

/// Adds `d` to the stored entry of `minute` and `trigger`: one read and
/// one put.
fn apply<S: Storage>(
    store: &S,
    writes: &mut WriteBatch,
    minute: u64,
    trigger: &[u8],
    d: &Counters,
) -> Result<(), StorageError> {
    let k = key(minute, trigger);
    let value = match store.get(&k)? {
        Some(v) => d.merged_into(&v, &k)?,
        None => d.encode(),
    };
    writes.put(k, value);
    Ok(())
}

/// The counter journal: what each append adds to the counters, written as
/// one entry (`keys::STATS_JOURNAL` + sequence, u64 BE) instead of a read
/// and a put per trigger and minute touched, and folded into the minute
/// entries [`JOURNAL_FOLD_AT`] entries at a time (and by the partition's
/// periodic work). [`read`] adds the entries not folded yet, so that a read
/// sees every commit.
///
/// An append with 50 triggers touched about 13 pairs: 13 reads, 13 parses
/// and merges, 13 rows written; now one row, and the fold merges each pair
/// once for up to [`JOURNAL_FOLD_AT`] appends. (On Durable Objects, rows
/// written is also what storage bills.)
///
/// In memory, triggers are named by index (see `Ids`): the engine records
/// what it counts by its trigger's place in the file, which the journal
/// maps to its own index (the partition binds it to each new file), so
/// that staging an append and summing it hash no id.
///
/// Entry: a format byte, a varint count of pairs, then each pair's minute
/// (varint), trigger id (varint length, UTF-8) and counters (varint length,
/// then [`Counters::encode`]'s bytes).
#[derive(Debug, Clone, Default)]
pub struct Journal {
    /// The sequence of the next entry.
    next: u64,
    /// Entries written and not folded (an upper bound: a commit that failed
    /// counts too, and only makes the next fold come sooner).
    entries: u64,
    /// What the entries staged since the last fold add, kept so that a
    /// fold does not parse them again. Only trusted when the stored
    /// entries are exactly the ones it covers: a commit that failed, a
    /// fold not committed, entries from before [`Journal::load`] make the
    /// fold read the entries instead.
    sum: Sum,
    /// The trigger ids the sum's and the delta's pairs name by index.
    ids: Ids,
    /// Scratch for staging: the call's pairs, a pair's visitor hashes
    /// (kept to allocate nothing per append).
    delta: Delta,
    hashes: Vec<u64>,
}

/// The sum of the journal entries of sequences `from..to`, per minute and
/// trigger index.
#[derive(Debug, Clone, Default)]
struct Sum {
    from: u64,
    to: u64,
    /// Ascending by minute.
    minutes: Vec<MinuteSum>,
}

/// The sum's counters of one minute.
#[derive(Debug, Clone, Default)]
struct MinuteSum {
    minute: u64,
    /// By trigger index: 1 + the trigger's place in `counters`, 0 for none.
    slot: Vec<u32>,
    /// `(trigger index, counters)`, in the order first summed.
    counters: Vec<(u32, Counters)>,
}

impl MinuteSum {
    /// The counters of `trigger`, made when new.
    #[inline]
    fn get(&mut self, trigger: u32) -> &mut Counters {
        let t = trigger as usize;
        if t >= self.slot.len() {
            self.slot.resize(t + 1, 0);
        }
        if self.slot[t] == 0 {
            self.counters.push((trigger, Counters::default()));
            self.slot[t] = self.counters.len() as u32;
        }
        &mut self.counters[self.slot[t] as usize - 1].1
    }
}

impl Sum {
    /// Empty, to cover the entries from sequence `next` on.
    fn restart(&mut self, next: u64) {
        self.from = next;
        self.to = next;
        self.minutes.clear();
    }

    /// Adds entry `sequence`'s pairs; a sequence that does not follow on
    /// starts the sum again from it.
    fn add(&mut self, sequence: u64, delta: &Delta, hashes: &mut Vec<u64>) {
        if sequence != self.to {
            self.restart(sequence);
        }
        self.to = sequence + 1;
        delta.for_each_pair(hashes, |p, hashes| {
            let c = self.minute(p.minute).get(p.trigger);
            c.add_numbers(p.numbers);
            hashes.iter().for_each(|&h| c.visitors.insert(h));
        });
    }

    /// The sum of `minute`, made when new. The newest minute is looked at
    /// first: appends come mostly in time order.
    #[inline]
    fn minute(&mut self, minute: u64) -> &mut MinuteSum {
        let at = match self.minutes.last() {
            Some(m) if m.minute == minute => self.minutes.len() - 1,
            _ => match self.minutes.binary_search_by_key(&minute, |m| m.minute) {
                Ok(i) => i,
                Err(i) => {
                    let m = MinuteSum {
                        minute,
                        ..MinuteSum::default()
                    };
                    self.minutes.insert(i, m);
                    i
                }
            },
        };
        &mut self.minutes[at]
    }

    /// True when nothing is summed.
    fn is_empty(&self) -> bool {
        self.from == self.to
    }

    /// True when `stored` (the journal's sequences, ascending) are exactly
    /// the ones summed.
    fn covers(&self, stored: &[u64]) -> bool {
        match (stored.first(), stored.last()) {
            (Some(&first), Some(&last)) => {
                first == self.from
                    && last + 1 == self.to
                    && stored.len() as u64 == self.to - self.from
            }
            _ => false,
        }
    }
}

/// Entries of the journal that make an append fold it first.
///
/// The longer the journal, the more of its pairs (a trigger and a minute)
/// repeat and are merged once: with the 50 bench triggers on the reference
/// corpus, folding every 256 entries instead of 64 cost 2.7% fewer
/// instructions per event (the last fold of the run counted), and fewer
/// storage rows read and written per append. The price: the journal holds
/// up to this many rows (about 0.5 KB each with 50 triggers), a read of the
/// counters parses them, and the append that folds merges each of their
/// distinct pairs (a read and a write each: about 130 on the corpus).
pub const JOURNAL_FOLD_AT: u64 = 256;

fn journal_key(sequence: u64) -> Vec<u8> {
    keys::with_u64(keys::STATS_JOURNAL, sequence)
}

/// The sequences of the journal's entries, as stored, ascending.
fn journal_sequences<S: Storage>(store: &S) -> Result<Vec<u64>, StorageError> {
    let start = [keys::STATS_JOURNAL];
    let keys = store.scan_keys(&start, &keys::prefix_end(&start), usize::MAX)?;
    Ok(keys
        .iter()
        .filter_map(|k| k.get(1..9)?.try_into().ok().map(u64::from_be_bytes))
        .collect())
}

/// The journal's entries, as stored: `(sequence, value)`.
fn journal_entries<S: Storage>(store: &S) -> Result<Vec<(u64, Vec<u8>)>, StorageError> {
    let start = [keys::STATS_JOURNAL];
    let entries = store.scan(&start, &keys::prefix_end(&start), usize::MAX)?;
    Ok(entries
        .into_iter()
        .filter_map(|(k, v)| {
            let seq = k.get(1..9)?.try_into().ok().map(u64::from_be_bytes)?;
            Some((seq, v))
        })
        .collect())
}

/// Calls `f` with each pair of a journal entry: `(minute, trigger id,
/// stored counters)`, borrowed from `value`; `key` names the entry in
/// errors.
fn journal_pairs<'v>(
    value: &'v [u8],
    key: &[u8],
    mut f: impl FnMut(u64, &'v str, &'v [u8]) -> Result<(), StorageError>,
) -> Result<(), StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: format!("counter journal: {reason}"),
    };
    let mut r = match value.split_first() {
        Some((&FORMAT, rest)) => rest,
        Some((v, _)) => return Err(corrupt(&format!("unknown format {v}"))),
        None => return Err(corrupt("empty")),
    };
    let n = varint(&mut r).ok_or_else(|| corrupt("truncated count"))?;
    for _ in 0..n {
        let minute = varint(&mut r).ok_or_else(|| corrupt("truncated minute"))?;
        let mut take = |what: &str| {
            let len = varint(&mut r)
                .and_then(|l| usize::try_from(l).ok())
                .filter(|&l| l <= r.len())
                .ok_or_else(|| corrupt(&format!("truncated {what}")))?;
            let (head, rest) = r.split_at(len);
            r = rest;
            Ok::<_, StorageError>(head)
        };
        let id = std::str::from_utf8(take("trigger id")?)
            .map_err(|_| corrupt("trigger id not UTF-8"))?;
        f(minute, id, take("counters")?)?;
    }
    Ok(())
}

impl Journal {
    /// The journal as stored: the next sequence and how many entries wait.
    pub fn load<S: Storage>(store: &S) -> Result<Journal, StorageError> {
        let entries = journal_entries(store)?;
        let next = entries.last().map_or(0, |(seq, _)| seq + 1);
        let mut sum = Sum::default();
        sum.restart(next);
        Ok(Journal {
            next,
            entries: entries.len() as u64,
            sum,
            ..Journal::default()
        })
    }

    /// Makes `file` the one whose trigger indexes [`Journal::stage_logged`]
    /// is given (the partition's engine's, each time it changes).
    pub(crate) fn bind(&mut self, file: &TriggerFile) {
        if self.sum.is_empty() {
            // No pair names an index: the table starts again, so that it
            // holds the ids of one file, not of every file since the load.
            self.ids = Ids::default();
        }
        self.ids.of_file = file
            .shared_ids()
            .map(|id| self.ids.index_shared(id))
            .collect();
    }

    /// [`stage`] through the journal: one entry for what `outcomes` and
    /// `suppressed` add (none when they add nothing), after folding the
    /// journal when it holds [`JOURNAL_FOLD_AT`] entries. `now` is the
    /// fold's clock (see [`Journal::fold`]). (The partition stages what its
    /// engine recorded, [`Journal::stage_logged`]; the tests check both
    /// against [`stage`].)
    #[cfg(test)]
    pub(crate) fn stage_counted<'a, S: Storage>(
        &mut self,
        store: &S,
        writes: &mut WriteBatch,
        outcomes: &'a [Outcome],
        suppressed: impl Iterator<Item = (&'a str, u64, Reason, u64)>,
        now: u64,
    ) -> Result<(), StorageError> {
        self.delta.clear();
        // An append's firings are all its visitor's, sharing one copy of
        // its id: hashed once.
        let mut last: Option<(&str, u64)> = None;
        for o in outcomes {
            let (trigger, time, counted) = match o {
                Outcome::Fired(f) if f.held_out => (&f.trigger_id, f.time, Counted::HeldOut),
                Outcome::Fired(f) => {
                    let h = match last {
                        Some((v, h)) if std::ptr::eq(v, &*f.visitor) => h,
                        _ => {
                            let h = visitor_hash(f.visitor.as_bytes());
                            last = Some((&f.visitor, h));
                            h
                        }
                    };
                    (&f.trigger_id, f.time, Counted::Fired(h))
                }
                Outcome::Converted(v) if v.held_out => {
                    (&v.trigger_id, v.time, Counted::HeldOutConverted)
                }
                Outcome::Converted(v) => (&v.trigger_id, v.time, Counted::Converted),
            };
            let t = self.ids.index_shared(trigger);
            self.delta.add(t, time / MINUTE_MS, counter_of(counted), 1);
        }
        for (id, time, reason, n) in suppressed {
            let t = self.ids.index(id);
            let counted = counter_of(Counted::Suppressed(reason));
            self.delta.add(t, time / MINUTE_MS, counted, n);
        }
        self.stage_delta(store, writes, now)
    }

    /// [`Journal::stage_counted`] for what an engine running the bound
    /// file recorded (see [`Journal::bind`]): `logged` by trigger index
    /// in that file, `carried` the suppressions of a file it replaced.
    pub(crate) fn stage_logged<S: Storage>(
        &mut self,
        store: &S,
        writes: &mut WriteBatch,
        (logged, carried): (&[Logged], &[Suppressed]),
        now: u64,
    ) -> Result<(), StorageError> {
        self.delta.clear();
        for s in carried {
            let t = self.ids.index(&s.trigger_id);
            let counted = counter_of(Counted::Suppressed(s.reason));
            self.delta.add(t, s.time / MINUTE_MS, counted, 1);
        }
        for l in logged {
            let t = self.ids.of_file[l.trigger as usize];
            self.delta
                .add(t, l.time / MINUTE_MS, counter_of(l.what), l.n);
        }
        self.stage_delta(store, writes, now)
    }

    /// Writes the staged delta as the next entry, after folding the
    /// journal when it holds [`JOURNAL_FOLD_AT`] entries; nothing when the
    /// delta is empty.
    fn stage_delta<S: Storage>(
        &mut self,
        store: &S,
        writes: &mut WriteBatch,
        now: u64,
    ) -> Result<(), StorageError> {
        if self.delta.pairs.is_empty() {
            return Ok(());
        }
        self.delta.finish();
        if self.entries >= JOURNAL_FOLD_AT {
            self.fold(store, writes, now)?;
        }
        let ids = &self.ids;
        let mut value = Vec::with_capacity(16 + self.delta.pairs.len() * 48);
        value.push(FORMAT);
        put_varint(&mut value, self.delta.pairs.len() as u64);
        self.delta.for_each_pair(&mut self.hashes, |p, hashes| {
            let id = ids.id(p.trigger);
            put_varint(&mut value, p.minute);
            put_varint(&mut value, id.len() as u64);
            value.extend_from_slice(id.as_bytes());
            // The counters' length is one byte but for large visitor sets:
            // the counters go straight after a place for it.
            let at = value.len();
            value.push(0);
            encode_pair(&mut value, p.numbers, hashes);
            let len = value.len() - at - 1;
            match u8::try_from(len) {
                Ok(b) if b < 0x80 => value[at] = b,
                _ => {
                    let mut prefix = Vec::with_capacity(10);
                    put_varint(&mut prefix, len as u64);
                    value.splice(at..at + 1, prefix);
                }
            }
        });
        writes.put(journal_key(self.next), value);
        self.sum.add(self.next, &self.delta, &mut self.hashes);
        self.next += 1;
        self.entries += 1;
        Ok(())
    }

    /// Folds the committed journal into the minute entries: each trigger
    /// and minute merged once (one read, one put), then the folded entries
    /// deleted, into `writes`. Minutes that [`expire`] would delete at
    /// `now` are dropped rather than written back.
    pub fn fold<S: Storage>(
        &mut self,
        store: &S,
        writes: &mut WriteBatch,
        now: u64,
    ) -> Result<(), StorageError> {
        if self.entries == 0 {
            // Nothing written since the load or the last fold.
            return Ok(());
        }
        // Which entries are there, then (unless the sum covers exactly
        // those) what they hold.
        let stored = journal_sequences(store)?;
        let Some(&last) = stored.last() else {
            self.entries = 0;
            return Ok(());
        };
        let oldest_kept = now.saturating_sub(RETENTION_MS) / MINUTE_MS;
        if self.sum.covers(&stored) {
            for m in self.sum.minutes.iter().filter(|m| m.minute >= oldest_kept) {
                for (t, d) in &m.counters {
                    apply(store, writes, m.minute, self.ids.id(*t).as_bytes(), d)?;
                }
            }
        } else {
            let entries = journal_entries(store)?;
            let mut merged: BTreeMap<(u64, &str), Counters> = BTreeMap::new();
            for (seq, value) in &entries {
                let key = journal_key(*seq);
                journal_pairs(value, &key, |minute, id, stored| {
                    if minute < oldest_kept {
                        return Ok(());
                    }
                    merged
                        .entry((minute, id))
                        .or_default()
                        .add_stored(stored, &key)
                })?;
            }
            for ((minute, id), d) in &merged {
                apply(store, writes, *minute, id.as_bytes(), d)?;
            }
        }
        // Whether this fold is committed or not, the sum covers what is
        // staged from here on (a fold not committed leaves entries that it
        // does not cover, and the next fold reads them).
        self.sum.restart(self.next);
        // Entries staged in `writes` and not committed yet (after `last`)
        // stay.
        writes.delete_range(journal_key(0), journal_key(last + 1));
        self.entries = self.entries.saturating_sub(stored.len() as u64);
        Ok(())
    }
}

/// The counters of `at` in `delta`, made when new. A linear search, from
/// the most recent: a call touches a dozen pairs or so, and an id borrowed
/// from the trigger file (suppressions) is the same pointer, found without
/// comparing bytes (a firing's own copy of its id is compared by value).
fn entry<'d, 's>(
    delta: &'d mut Vec<((u64, &'s str), Counters)>,
    at: (u64, &'s str),
) -> &'d mut Counters {
    let found = delta
        .iter()
        .rposition(|((m, t), _)| *m == at.0 && (std::ptr::eq(*t, at.1) || *t == at.1));
    let i = match found {
        Some(i) => i,
        None => {
            delta.push((at, Counters::default()));
            delta.len() - 1
        }
    };
    &mut delta[i].1
}

/// Deletes the entries of minutes that ended more than [`RETENTION_MS`]
/// before `now` (one range delete, only when there is one to delete).
pub fn expire<S: Storage>(
    store: &S,
    writes: &mut WriteBatch,
    now: u64,
) -> Result<(), StorageError> {
    let start = vec![keys::TRIGGER_STATS];
    let end = keys::with_u64(
        keys::TRIGGER_STATS,
        now.saturating_sub(RETENTION_MS) / MINUTE_MS,
    );
    if !store.scan(&start, &end, 1)?.is_empty() {
        writes.delete_range(start, end);
    }
    Ok(())
}

/// One row of a stats read: a trigger's counters over one bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// The bucket's start, ms since the epoch (a multiple of its size).
    pub start: u64,
    /// The trigger's id.
    pub trigger: String,
    /// What it did.
    pub counters: Counters,
}

/// Rows of a read, and whether it stopped at its bound.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Read {
    /// By bucket start, then trigger id.
    pub rows: Vec<Row>,
    /// True when `max_entries` stopped the scan before `to`.
    pub truncated: bool,
}

/// The counters of minutes in `[from, to)` (ms), merged into buckets of
/// `bucket` ms (a multiple of a minute), for one trigger or all, reading at
/// most `max_entries` stored minute entries (and the [`Journal`]'s, at most
/// [`JOURNAL_FOLD_AT`] or so).
pub fn read<S: Storage>(
    store: &S,
    from: u64,
    to: u64,
    bucket: u64,
    trigger: Option<&str>,
    max_entries: usize,
) -> Result<Read, StorageError> {
    let bucket = bucket.max(MINUTE_MS);
    let start = keys::with_u64(keys::TRIGGER_STATS, from.div_ceil(MINUTE_MS));
    let end = keys::with_u64(keys::TRIGGER_STATS, to.div_ceil(MINUTE_MS));
    let mut merged: BTreeMap<(u64, String), Counters> = BTreeMap::new();
    let entries = store.scan(&start, &end, max_entries.saturating_add(1))?;
    let truncated = entries.len() > max_entries;
    for (k, v) in entries.into_iter().take(max_entries) {
        let Some(minute) = k
            .get(1..9)
            .and_then(|b| <[u8; 8]>::try_from(b).ok())
            .map(u64::from_be_bytes)
        else {
            continue;
        };
        let id = String::from_utf8_lossy(&k[9..]);
        if trigger.is_some_and(|t| t != id) {
            continue;
        }
        let c = Counters::decode(&v, &k)?;
        let at = minute * MINUTE_MS / bucket * bucket;
        merged.entry((at, id.into_owned())).or_default().merge(&c);
    }
    // What the journal holds and the entries do not yet.
    let minutes = from.div_ceil(MINUTE_MS)..to.div_ceil(MINUTE_MS);
    for (seq, value) in journal_entries(store)? {
        let key = journal_key(seq);
        journal_pairs(&value, &key, |minute, id, stored| {
            if !minutes.contains(&minute) || trigger.is_some_and(|t| t != id) {
                return Ok(());
            }
            let at = minute * MINUTE_MS / bucket * bucket;
            merged
                .entry((at, id.to_owned()))
                .or_default()
                .add_stored(stored, &key)
        })?;
    }
    Ok(Read {
        rows: merged
            .into_iter()
            .map(|((start, trigger), counters)| Row {
                start,
                trigger,
                counters,
            })
            .collect(),
        truncated,
    })
}

/// Rows as JSON: `{"start", "trigger", "fired", "held_out", "suppressed":
/// {reason: n}, "conversions", "held_out_conversions", "visitors"}`.
pub fn row_to_json(r: &Row) -> serde_json::Value {
    let c = &r.counters;
    let mut suppressed = serde_json::Map::new();
    for reason in Reason::ALL {
        let n = match reason {
            Reason::Audience => c.suppressed.audience,
            Reason::Cooldown => c.suppressed.cooldown,
            Reason::MaxPerUser => c.suppressed.max_per_user,
            Reason::GlobalCap => c.suppressed.global_cap,
            _ => c.suppressed.cancelled,
        };
        suppressed.insert(reason.name().into(), n.into());
    }
    serde_json::json!({
        "start": r.start,
        "trigger": r.trigger,
        "fired": c.fired,
        "held_out": c.held_out,
        "suppressed": suppressed,
        "conversions": c.conversions,
        "held_out_conversions": c.held_out_conversions,
        "visitors": c.visitors.count(),
    })
}

/// Sums rows of [`row_to_json`]'s shape from several partitions (disjoint
/// visitors, so distinct visitors add up), by bucket start then trigger.
pub fn merge_json_rows<'a>(
    parts: impl IntoIterator<Item = &'a serde_json::Value>,
) -> Vec<serde_json::Value> {
    let mut out: BTreeMap<(u64, String), serde_json::Value> = BTreeMap::new();
    for row in parts {
        let k = (
            row["start"].as_u64().unwrap_or(0),
            row["trigger"].as_str().unwrap_or("").to_owned(),
        );
        match out.get_mut(&k) {
            None => {
                out.insert(k, row.clone());
            }
            Some(acc) => add_json(acc, row),
        }
    }
    out.into_values().collect()
}

/// Adds every number of `row` into `acc`, recursively (not `start`).
fn add_json(acc: &mut serde_json::Value, row: &serde_json::Value) {
    let (Some(a), Some(r)) = (acc.as_object_mut(), row.as_object()) else {
        return;
    };
    for (k, v) in r {
        if k == "start" {
            continue;
        }
        match (a.get_mut(k), v) {
            (Some(x), serde_json::Value::Number(n)) => {
                *x = (x.as_u64().unwrap_or(0) + n.as_u64().unwrap_or(0)).into();
            }
            (Some(x @ serde_json::Value::Object(_)), o @ serde_json::Value::Object(_)) => {
                add_json(x, o)
            }
            (None, v) => {
                a.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
