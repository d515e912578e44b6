//! Per-visitor state, one storage entry per visitor: a version byte, then
//! postcard. Kept small: only what a future event or deadline can still use.
//!
//! The codec is written by hand rather than derived: every batch of a
//! visitor that some trigger cares about reads and writes its state, and the
//! derived postcard code spent more on growing vectors and allocating fresh
//! ones than the engine spent evaluating. The bytes are exactly postcard's
//! for these structs (a test holds the two side by side), so states stored
//! before keep decoding and no new format byte was needed.

use crate::storage::StorageError;

/// The first byte of every stored visitor state; a new layout takes a new one.
const STATE_FORMAT: u8 = 1;

/// Everything the engine remembers about one visitor.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct VisitorState {
    /// Traits from identify calls: name and compact JSON value, latest wins.
    pub traits: Vec<(String, String)>,
    /// State of the triggers that have any, by [`TriggerState::key`].
    pub triggers: Vec<TriggerState>,
    /// The wake-up key this visitor has in the index, if any (kept here so
    /// the key can be deleted exactly even after the trigger file changed).
    pub wake: Option<u64>,
    /// Outcomes (an extension written after `wake`, only when not empty, so
    /// that states without outcomes keep their exact earlier bytes): the
    /// times of this visitor's recent firings, for the file's `limits`.
    #[cfg_attr(test, serde(skip))]
    pub recent: Vec<u64>,
    /// Outcomes: firings of triggers with a `goal` that may still convert.
    #[cfg_attr(test, serde(skip))]
    pub open: Vec<OpenFiring>,
}

/// A firing waiting for its goal.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct OpenFiring {
    /// The trigger's state key (a changed or removed trigger's firings are
    /// dropped with its state).
    pub key: u64,
    /// Log offset of the qualifying event (the firing id derives from it).
    pub offset: u64,
    /// The firing's time.
    pub time: u64,
    /// Whether it was held out.
    pub held_out: bool,
}

/// The tag of the outcomes extension after `wake`.
const EXT_OUTCOMES: u8 = 1;

/// One trigger's state for one visitor.
#[derive(Debug, Clone, Default, PartialEq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct TriggerState {
    /// The trigger definition's hash: state of a changed definition is dropped.
    pub key: u64,
    /// `count`: times of matching events not yet used up.
    pub marks: Vec<u64>,
    /// `sequence`: for step `k` (all but the last), the latest start time of
    /// a chain that has reached step `k`.
    pub progress: Vec<Option<u64>>,
    /// `unless`: firings waiting for their deadline.
    pub pending: Vec<Pending>,
    /// Last firing time, kept while a cooldown can still block.
    pub last_fired: Option<u64>,
    /// Firings so far, kept when `max_per_user` is set.
    pub fired: u32,
}

/// A delayed firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(test, derive(serde::Serialize, serde::Deserialize))]
pub(crate) struct Pending {
    /// When it fires: qualifying time + the `unless` window.
    pub deadline: u64,
    /// Log offset of the qualifying event (the firing id derives from it).
    pub offset: u64,
    /// Whether the audience's `context` conditions held on the qualifying
    /// event (they read its context, not the one at the due time).
    /// Stored as the top bit of the offset (set: they did not hold), so
    /// states written before context conditions read as "held". (The
    /// test-only postcard mirror of the layout has no field for it.)
    #[cfg_attr(test, serde(skip, default = "held"))]
    pub audience_ok: bool,
}

#[cfg(test)]
fn held() -> bool {
    true
}

/// The offset bit that marks a pending firing whose audience context failed
/// (offsets stay far below 2^63).
const AUDIENCE_FAILED: u64 = 1 << 63;

impl TriggerState {
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
            && self.progress.iter().all(Option::is_none)
            && self.pending.is_empty()
            && self.last_fired.is_none()
            && self.fired == 0
    }

    /// Empties the state, keeping its vectors' capacity for reuse.
    pub fn clear(&mut self) {
        self.key = 0;
        self.marks.clear();
        self.progress.clear();
        self.pending.clear();
        self.last_fired = None;
        self.fired = 0;
    }
}

impl VisitorState {
    pub fn is_empty(&self) -> bool {
        self.traits.is_empty()
            && self.wake.is_none()
            && self.recent.is_empty()
            && self.open.is_empty()
            && self.triggers.iter().all(TriggerState::is_empty)
    }

    #[cfg(test)]
    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<VisitorState, StorageError> {
        let mut s = VisitorState::default();
        s.decode_into(key, bytes, &mut Vec::new())?;
        Ok(s)
    }

    /// Decodes `bytes` into `self`, which must be empty; trigger states come
    /// from `spare` (cleared ones) while it has any, so that their vectors'
    /// capacity is reused. Accepts what postcard accepts (trailing bytes
    /// included); `key` names the entry in errors.
    pub fn decode_into(
        &mut self,
        key: &[u8],
        bytes: &[u8],
        spare: &mut Vec<TriggerState>,
    ) -> Result<(), StorageError> {
        let corrupt = |reason: String| StorageError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        };
        match bytes.split_first() {
            Some((&STATE_FORMAT, rest)) => {
                let mut r = Reader { bytes: rest };
                self.read(&mut r, spare)
                    .ok_or_else(|| corrupt(format!("visitor state: {}", r.error())))
            }
            Some((v, _)) => Err(corrupt(format!("unknown visitor state format {v}"))),
            None => Err(corrupt("empty visitor state".into())),
        }
    }

    fn read(&mut self, r: &mut Reader<'_>, spare: &mut Vec<TriggerState>) -> Option<()> {
        for _ in 0..r.len()? {
            let name = r.string()?;
            let value = r.string()?;
            self.traits.push((name, value));
        }
        for _ in 0..r.len()? {
            let mut t = spare.pop().unwrap_or_default();
            t.key = r.u64()?;
            r.u64s(&mut t.marks)?;
            for _ in 0..r.len()? {
                t.progress.push(r.option()?);
            }
            for _ in 0..r.len()? {
                let deadline = r.u64()?;
                let stored = r.u64()?;
                t.pending.push(Pending {
                    deadline,
                    offset: stored & !AUDIENCE_FAILED,
                    audience_ok: stored & AUDIENCE_FAILED == 0,
                });
            }
            t.last_fired = r.option()?;
            t.fired = u32::try_from(r.u64()?).ok()?;
            self.triggers.push(t);
        }
        self.wake = r.option()?;
        // States written before outcomes end here.
        if r.bytes.is_empty() {
            return Some(());
        }
        if r.byte()? != EXT_OUTCOMES {
            return None;
        }
        r.u64s(&mut self.recent)?;
        for _ in 0..r.len()? {
            let key = r.u64()?;
            let offset = r.u64()?;
            let time = r.u64()?;
            let held_out = match r.byte()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            self.open.push(OpenFiring {
                key,
                offset,
                time,
                held_out,
            });
        }
        Some(())
    }

    /// The stored form, into `out[..n]`; returns `n`. Trigger states for
    /// which [`TriggerState::is_empty`] holds are left out. `out` is only
    /// ever lengthened (zeroed once, not on every call; what lies past `n`
    /// is left over).
    pub fn encode_into(&self, out: &mut Vec<u8>) -> usize {
        // Written into a buffer sized for the longest varints, then cut to
        // length: no capacity check per byte.
        const N: usize = 10;
        let traits: usize = self
            .traits
            .iter()
            .map(|(k, v)| 2 * N + k.len() + v.len())
            .sum();
        let kept = self.triggers.iter().filter(|t| !t.is_empty());
        let mut count = 0;
        let mut bound = 1
            + 3 * (N + 1)
            + traits
            + 1
            + 2 * N
            + N * self.recent.len()
            + (3 * N + 1) * self.open.len();
        for t in kept.clone() {
            count += 1;
            bound += 7 * (N + 1)
                + N * t.marks.len()
                + (N + 1) * t.progress.len()
                + 2 * N * t.pending.len();
        }
        if out.len() < bound {
            out.resize(bound, 0);
        }
        let mut w = Writer { buf: out, at: 0 };
        w.byte(STATE_FORMAT);
        w.u64(self.traits.len() as u64);
        for (name, value) in &self.traits {
            w.str(name);
            w.str(value);
        }
        w.u64(count);
        for t in kept {
            w.u64(t.key);
            w.u64s(&t.marks);
            w.u64(t.progress.len() as u64);
            for &p in &t.progress {
                w.option(p);
            }
            w.u64(t.pending.len() as u64);
            for p in &t.pending {
                w.u64(p.deadline);
                w.u64(if p.audience_ok {
                    p.offset
                } else {
                    p.offset | AUDIENCE_FAILED
                });
            }
            w.option(t.last_fired);
            w.u64(u64::from(t.fired));
        }
        w.option(self.wake);
        if !self.recent.is_empty() || !self.open.is_empty() {
            w.byte(EXT_OUTCOMES);
            w.u64s(&self.recent);
            w.u64(self.open.len() as u64);
            for o in &self.open {
                w.u64(o.key);
                w.u64(o.offset);
                w.u64(o.time);
                w.byte(u8::from(o.held_out));
            }
        }
        w.at
    }

    #[cfg(test)]
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let n = self.encode_into(&mut out);
        out.truncate(n);
        out
    }
}

/// Writes postcard's primitives into a buffer known to be large enough
/// (an index past it would panic, never write out of bounds). Its methods
/// are inlined: a save writes some twenty trigger states with the bench
/// triggers, and the calls were 0.8% of an append.
struct Writer<'b> {
    buf: &'b mut [u8],
    at: usize,
}

impl Writer<'_> {
    #[inline]
    fn byte(&mut self, b: u8) {
        self.buf[self.at] = b;
        self.at += 1;
    }

    /// LEB128, as postcard writes every integer here. The buffer always has
    /// room for the longest varint (ten bytes) here, so one bounds check
    /// covers it, not one per byte (timestamps take six).
    #[inline]
    fn u64(&mut self, mut n: u64) {
        let out: &mut [u8; 10] = (&mut self.buf[self.at..self.at + 10])
            .try_into()
            .expect("ten bytes");
        for (i, b) in out.iter_mut().enumerate().take(9) {
            if n < 0x80 {
                *b = n as u8;
                self.at += i + 1;
                return;
            }
            *b = n as u8 | 0x80;
            n >>= 7;
        }
        out[9] = n as u8;
        self.at += 10;
    }

    /// A `Vec<u64>`: its length, then each.
    #[inline(always)]
    fn u64s(&mut self, values: &[u64]) {
        self.u64(values.len() as u64);
        for &n in values {
            self.u64(n);
        }
    }

    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.buf[self.at..self.at + s.len()].copy_from_slice(s.as_bytes());
        self.at += s.len();
    }

    #[inline(always)]
    fn option(&mut self, v: Option<u64>) {
        match v {
            None => self.byte(0),
            Some(n) => {
                self.byte(1);
                self.u64(n);
            }
        }
    }
}

/// Reads postcard's primitives; `None` on the first malformed one.
struct Reader<'b> {
    bytes: &'b [u8],
}

impl Reader<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&b, rest) = self.bytes.split_first()?;
        self.bytes = rest;
        Some(b)
    }

    /// A varint of at most ten bytes whose value fits in a u64.
    #[inline]
    fn u64(&mut self) -> Option<u64> {
        let mut n = 0u64;
        for (i, &b) in self.bytes.iter().enumerate().take(10) {
            if i == 9 && b > 1 {
                break;
            }
            n |= u64::from(b & 0x7f) << (7 * i);
            if b < 0x80 {
                self.bytes = &self.bytes[i + 1..];
                return Some(n);
            }
        }
        // Consumed as far as a byte-at-a-time reader gets, so that
        // `error` words it the same.
        self.bytes = &self.bytes[self.bytes.len().min(10)..];
        None
    }

    /// A sequence length. No sequence here has elements of less than a
    /// byte, so a length over the bytes left is corrupt: refusing it keeps
    /// a bad length from reserving or looping for nothing.
    fn len(&mut self) -> Option<usize> {
        let n = usize::try_from(self.u64()?).ok()?;
        (n <= self.bytes.len()).then_some(n)
    }

    /// A `Vec<u64>`, appended to `out`.
    fn u64s(&mut self, out: &mut Vec<u64>) -> Option<()> {
        for _ in 0..self.len()? {
            out.push(self.u64()?);
        }
        Some(())
    }

    fn string(&mut self) -> Option<String> {
        let n = self.len()?;
        let (s, rest) = self.bytes.split_at(n);
        self.bytes = rest;
        Some(std::str::from_utf8(s).ok()?.to_owned())
    }

    fn option(&mut self) -> Option<Option<u64>> {
        match self.byte()? {
            0 => Some(None),
            1 => Some(Some(self.u64()?)),
            _ => None,
        }
    }

    fn error(&self) -> &'static str {
        if self.bytes.is_empty() {
            "unexpected end of input"
        } else {
            "malformed value"
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> VisitorState {
        VisitorState {
            traits: vec![("plan".into(), "\"free\"".into())],
            triggers: vec![TriggerState {
                key: 7,
                marks: vec![1_764_000_000_000],
                progress: vec![None, Some(5)],
                pending: vec![Pending {
                    deadline: 9,
                    offset: 3,
                    audience_ok: true,
                }],
                last_fired: Some(4),
                fired: 2,
            }],
            wake: Some(9),
            ..VisitorState::default()
        }
    }

    /// Outcomes are an extension after `wake`: a state with them decodes
    /// whole, and its bytes start with the state's bytes without them (which
    /// an earlier version reads, ignoring the rest as postcard does).
    #[test]
    fn outcomes_extend_the_earlier_bytes() {
        let mut s = sample();
        s.recent = vec![1, 1_764_000_000_000];
        s.open = vec![OpenFiring {
            key: u64::MAX,
            offset: 3,
            time: 1_764_000_000_000,
            held_out: true,
        }];
        let bytes = s.encode();
        assert_eq!(VisitorState::decode(b"v", &bytes), Ok(s));
        let before = sample().encode();
        assert!(bytes.starts_with(&before) && bytes.len() > before.len());
        let old: VisitorState = postcard::from_bytes(&bytes[1..]).expect("old reader");
        assert_eq!(old, sample());
        let mut bad = bytes.clone();
        bad[before.len()] = 2;
        assert!(VisitorState::decode(b"v", &bad).is_err());
        for n in before.len() + 1..bytes.len() {
            assert!(VisitorState::decode(b"v", &bytes[..n]).is_err(), "{n}");
        }
    }

    /// The writer's varint is postcard's, at every length: each power of
    /// two, its neighbours, and random values.
    #[test]
    fn varints_are_postcard_s() {
        let check = |n: u64| {
            let mut buf = [0u8; 12];
            let mut w = Writer {
                buf: &mut buf,
                at: 0,
            };
            w.u64(n);
            let at = w.at;
            assert_eq!(
                &buf[..at],
                &postcard::to_allocvec(&n).expect("encodes")[..],
                "{n}"
            );
        };
        for k in 0..64 {
            let p = 1u64 << k;
            [p - 1, p, p + 1, p | p >> 1].into_iter().for_each(check);
        }
        check(u64::MAX);
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..10_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            check(x >> (x % 64));
        }
    }

    #[test]
    fn round_trips_and_rejects_unknown_formats() {
        let s = sample();
        let bytes = s.encode();
        assert_eq!(VisitorState::decode(b"vx", &bytes), Ok(s));
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(matches!(
            VisitorState::decode(b"vx", &bad),
            Err(StorageError::Corrupt { .. })
        ));
        assert!(VisitorState::decode(b"vx", &bytes[..bytes.len() - 1]).is_err());
    }

    /// States written by the derived postcard codec (before the hand-written
    /// one) decode, and the hand-written one writes the same bytes.
    #[test]
    fn a_failed_audience_context_travels_in_the_offset_s_top_bit() {
        let mut s = sample();
        s.triggers[0].pending[0].audience_ok = false;
        let mut buf = Vec::new();
        let n = s.encode_into(&mut buf);
        let mut back = VisitorState::default();
        back.decode_into(b"k", &buf[..n], &mut Vec::new()).unwrap();
        assert_eq!(back.triggers[0].pending[0], s.triggers[0].pending[0]);
        assert_eq!(back.triggers[0].pending[0].offset, 3);
    }

    #[test]
    fn bytes_are_postcard() {
        let mut states = vec![VisitorState::default(), sample()];
        let mut big = sample();
        big.traits.push(("name".into(), "\"Zoë\"".into()));
        big.wake = Some(u64::MAX);
        big.triggers.push(TriggerState {
            key: u64::MAX,
            marks: (0..200).map(|i| i * 1_000_003).collect(),
            progress: vec![Some(u64::MAX), None, Some(127), Some(128)],
            pending: vec![Pending {
                deadline: 1 << 63,
                offset: 16_383,
                audience_ok: true,
            }],
            last_fired: None,
            fired: u32::MAX,
        });
        big.triggers.push(TriggerState {
            key: 3,
            fired: 1,
            ..TriggerState::default()
        });
        states.push(big);
        for s in states {
            let postcard = postcard::to_extend(&s, vec![STATE_FORMAT]).expect("serialises");
            assert_eq!(s.encode(), postcard);
            assert_eq!(VisitorState::decode(b"v", &postcard), Ok(s));
        }
    }

    #[test]
    fn empty_trigger_states_are_left_out() {
        let mut s = sample();
        s.triggers.insert(0, TriggerState::default());
        s.triggers.push(TriggerState {
            key: 5,
            progress: vec![None, None],
            ..TriggerState::default()
        });
        assert_eq!(s.encode(), sample().encode());
    }

    #[test]
    fn malformed_states_are_corrupt_not_panics() {
        let good = sample().encode();
        let cases: &[&[u8]] = &[
            &[STATE_FORMAT, 0xff],
            // A trait count far beyond the bytes.
            &[STATE_FORMAT, 0xff, 0xff, 0xff, 0xff, 0x0f],
            // An option tag of 2.
            &[STATE_FORMAT, 0, 0, 2],
            // Invalid UTF-8 in a trait name.
            &[STATE_FORMAT, 1, 1, 0xff, 0],
            // An eleven-byte varint.
            &[
                STATE_FORMAT,
                0,
                1,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0xff,
                0,
            ],
            // `fired` over u32.
            &[
                STATE_FORMAT,
                0,
                1,
                7,
                0,
                0,
                0,
                0,
                0x80,
                0x80,
                0x80,
                0x80,
                0x10,
                0,
            ],
        ];
        for bytes in cases {
            assert!(
                matches!(
                    VisitorState::decode(b"v", bytes),
                    Err(StorageError::Corrupt { .. })
                ),
                "{bytes:?}"
            );
            assert!(postcard::from_bytes::<VisitorState>(&bytes[1..]).is_err());
        }
        for n in 0..good.len() {
            assert!(VisitorState::decode(b"v", &good[..n]).is_err());
        }
    }
}
