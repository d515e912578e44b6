//! The strict, bounded decoder: [`decode`], [`peek`] and the envelope
//! checks shared with [`inflate`](super::inflate).
//!
//! Never trusts a prefix: every count and length is checked against the
//! bytes left before anything is allocated, and strings are borrowed from
//! the input (one UTF-8 check per distinct string, in the string table).

use super::crc::crc32;
use super::encode::{CRC_LEN, FIXED_HEADER};
use super::wire::*;
use super::{flags, Context, Frame, FrameError, Header, Limits, FORMAT_VERSION};
use crate::event::{Event, EventKind, Map, Value};
use alloc::borrow::Cow;
use alloc::string::ToString;
use alloc::vec::Vec;

/// Smallest possible frame: fixed header, a one-byte sequence, the CRC.
pub(crate) const MIN_FRAME: usize = FIXED_HEADER + 1 + CRC_LEN;

/// Deepest nesting the decoder recurses into, whatever `max_depth` says,
/// so that a hostile frame cannot exhaust the stack.
const DEPTH_CEILING: usize = 64;

/// Maps with more entries than this are checked for repeated keys by
/// sorting instead of pairwise.
const PAIRWISE_KEYS: usize = 16;

/// Reads the header without checking the CRC: version, flags, producer id,
/// sequence. Cheap, for routing and deduplication before a full decode.
pub fn peek(bytes: &[u8]) -> Result<Header, FrameError> {
    let (header, _) = parse_header(bytes)?;
    Ok(header)
}

/// The header and the offset where the payload starts; no CRC check.
pub(crate) fn parse_header(bytes: &[u8]) -> Result<(Header, usize), FrameError> {
    if let Some(&version) = bytes.first() {
        if version != FORMAT_VERSION {
            return Err(FrameError::UnknownVersion { version });
        }
    }
    let truncated = FrameError::Truncated {
        offset: 0,
        need: MIN_FRAME,
        have: bytes.len(),
    };
    if bytes.len() < MIN_FRAME {
        return Err(truncated);
    }
    // Checked access, not indexing: the SDK links this (sealing and
    // rehoming frames), and each index is a panic site in its wasm.
    let id = bytes
        .get(2..FIXED_HEADER)
        .and_then(|b| <[u8; 8]>::try_from(b).ok());
    let (Some(&flags), Some(id)) = (bytes.get(1), id) else {
        return Err(truncated);
    };
    if flags & !flags::DEFLATE != 0 {
        return Err(FrameError::UnknownFlags { flags });
    }
    let mut r = Reader {
        buf: bytes,
        pos: FIXED_HEADER,
        end: bytes.len().saturating_sub(CRC_LEN),
    };
    let sequence = r.varint()?;
    let header = Header {
        version: FORMAT_VERSION,
        flags,
        producer_id: u64::from_le_bytes(id),
        sequence,
    };
    Ok((header, r.pos))
}

/// Header checks, then the CRC over everything before the last four bytes.
pub(crate) fn check_envelope(bytes: &[u8]) -> Result<(Header, usize), FrameError> {
    let (header, payload_start) = parse_header(bytes)?;
    let body = bytes.len() - CRC_LEN;
    let mut crc = [0u8; 4];
    crc.copy_from_slice(&bytes[body..]);
    let expected = u32::from_le_bytes(crc);
    let actual = crc32(&bytes[..body]);
    if expected != actual {
        return Err(FrameError::Checksum { expected, actual });
    }
    Ok((header, payload_start))
}

/// Decodes a plain frame, borrowing its strings from `bytes`.
///
/// Checks, in order: size (at most the larger of `max_frame_bytes` and
/// `max_inflated_bytes`, since an inflated frame may be as large as the
/// latter), version, length, flags, CRC, then the payload strictly. A frame
/// with the [`DEFLATE`](flags::DEFLATE) flag gives
/// [`FrameError::Compressed`]: call [`inflate`](super::inflate) first.
pub fn decode<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Frame<'a>, FrameError> {
    decode_reusing(bytes, limits, &mut Reuse::default())
}

/// Allocations that [`decode_reusing`] takes from one frame to the next:
/// the events' vector, their property maps' vectors (one per event, which
/// a decode allocated and a drop freed), and the string table's. Empty,
/// with no lifetime: [`Reuse::recycle`] takes a frame apart into them.
#[derive(Debug, Default)]
pub(crate) struct Reuse {
    events: Vec<Event<'static>>,
    pub(super) maps: Vec<Map<'static>>,
    strings: Vec<&'static str>,
}

#[cfg(feature = "std")]
/// The most entries a property map kept for reuse has room for: larger
/// ones are freed, so that a few large maps do not pin their memory. (At
/// most one map per event of the largest frame is kept.)
const REUSED_MAP_ENTRIES: usize = 32;

#[cfg(feature = "std")]
impl Reuse {
    /// Takes `frame` apart, keeping its vectors (emptied) for the next
    /// decode.
    pub(crate) fn recycle(&mut self, frame: Frame<'_>) {
        let mut events = frame.events;
        let keep = events.capacity();
        for e in events.drain(..) {
            let p = e.properties;
            if p.capacity() > 0 && p.capacity() <= REUSED_MAP_ENTRIES && self.maps.len() < keep {
                self.maps.push(emptied(p));
            }
        }
        self.events = emptied(events);
    }
}

/// `v` emptied, as a vector of `U`, a type of the same size and alignment
/// (here: the same type with another lifetime), keeping its allocation:
/// std collects a `vec::IntoIter` through `filter_map` in place.
fn emptied<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

/// [`decode`], taking its vectors from `reuse` (which a caller fills with
/// [`Reuse::recycle`] once done with the frame).
pub(crate) fn decode_reusing<'a>(
    bytes: &'a [u8],
    limits: &Limits,
    reuse: &mut Reuse,
) -> Result<Frame<'a>, FrameError> {
    let max = limits.max_frame_bytes.max(limits.max_inflated_bytes);
    if bytes.len() > max {
        return Err(FrameError::FrameTooLarge {
            len: bytes.len(),
            max,
        });
    }
    let (header, payload_start) = check_envelope(bytes)?;
    if header.flags & flags::DEFLATE != 0 {
        return Err(FrameError::Compressed);
    }
    let mut d = Decoder {
        r: Reader {
            buf: bytes,
            pos: payload_start,
            end: bytes.len() - CRC_LEN,
        },
        limits,
        max_depth: limits.max_depth.min(DEPTH_CEILING),
        strings: core::mem::take(&mut reuse.strings),
        maps: &mut reuse.maps,
    };
    let base_time = d.r.varint()?;
    let sent_at = base_time.wrapping_add(unzigzag(d.r.varint()?) as u64);
    d.string_table()?;
    let context = d.context()?;
    let events = d.events(base_time, core::mem::take(&mut reuse.events))?;
    reuse.strings = emptied(d.strings);
    if d.r.pos != d.r.end {
        return Err(FrameError::TrailingBytes {
            offset: d.r.pos,
            extra: d.r.end - d.r.pos,
        });
    }
    Ok(Frame {
        producer_id: header.producer_id,
        sequence: header.sequence,
        sent_at,
        context,
        events,
    })
}

/// A cursor over `buf[..end]` (the CRC is never read as payload).
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    end: usize,
}

impl<'a> Reader<'a> {
    #[inline]
    fn left(&self) -> usize {
        self.end - self.pos
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, FrameError> {
        // `get`, not indexing: no panic site (the SDK's wasm links this).
        match self.buf.get(self.pos) {
            Some(&b) if self.pos < self.end => {
                self.pos += 1;
                Ok(b)
            }
            _ => Err(FrameError::Truncated {
                offset: self.pos,
                need: 1,
                have: 0,
            }),
        }
    }

    #[inline]
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], FrameError> {
        let s = match n <= self.left() {
            true => self.buf.get(self.pos..self.pos + n),
            false => None,
        };
        match s {
            Some(s) => {
                self.pos += n;
                Ok(s)
            }
            None => Err(FrameError::Truncated {
                offset: self.pos,
                need: n,
                have: self.left(),
            }),
        }
    }

    /// A canonical LEB128 u64: at most 10 bytes, no bits past 64, no
    /// trailing zero byte (so each number has exactly one encoding).
    #[inline]
    fn varint(&mut self) -> Result<u64, FrameError> {
        let start = self.pos;
        let first = self.byte()?;
        if first < 0x80 {
            return Ok(u64::from(first));
        }
        let mut v = u64::from(first & 0x7f);
        let mut shift = 7;
        loop {
            let b = match self.byte() {
                Ok(b) => b,
                Err(_) => {
                    let have = self.pos - start;
                    return Err(FrameError::Truncated {
                        offset: start,
                        need: have + 1,
                        have,
                    });
                }
            };
            if shift == 63 && b > 1 {
                return Err(FrameError::BadVarint { offset: start });
            }
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                if b == 0 {
                    return Err(FrameError::BadVarint { offset: start });
                }
                return Ok(v);
            }
            shift += 7;
        }
    }

    /// A varint that must fit in `max`.
    #[inline]
    fn varint_max(&mut self, max: u64) -> Result<u64, FrameError> {
        let start = self.pos;
        let v = self.varint()?;
        if v > max {
            return Err(FrameError::BadVarint { offset: start });
        }
        Ok(v)
    }

    /// A count of items that take at least one byte each.
    #[inline]
    fn count(&mut self) -> Result<(usize, usize), FrameError> {
        let offset = self.pos;
        let n = self.varint()?;
        if n > self.left() as u64 {
            return Err(FrameError::LengthPastEnd {
                offset,
                len: n,
                have: self.left(),
            });
        }
        Ok((n as usize, offset))
    }
}

struct Decoder<'a, 'l> {
    r: Reader<'a>,
    limits: &'l Limits,
    max_depth: usize,
    strings: Vec<&'a str>,
    /// Emptied vectors for the events' property maps.
    maps: &'l mut Vec<Map<'static>>,
}

impl<'a> Decoder<'a, '_> {
    /// The raw strings, then the slices. The strings sit one after the
    /// other, each after its length: the whole run is checked as UTF-8 at
    /// once (words at a time over ASCII, where a check per string cost
    /// about 150 instructions for the corpus's dozen bytes), and each string
    /// is cut from it at character boundaries, so each is UTF-8 too. A run
    /// that is not UTF-8 as a whole (a string that is not, or a length of
    /// 128 or more, whose varint is not) is checked string by string, which
    /// names the first bad one as before.
    fn string_table(&mut self) -> Result<(), FrameError> {
        let (n, _) = self.r.count()?;
        self.strings.reserve_exact(n);
        let start = self.r.pos;
        let max = self.limits.max_string_bytes;
        for _ in 0..n {
            let entry = self.r.pos;
            let len = self.count_at_most(max, |offset, len| FrameError::StringTooLong {
                offset,
                len,
                max,
            });
            if let Err(e) = len.and_then(|len| self.r.bytes(len)) {
                // A bad string before this one is the error, as when each
                // was checked on reading.
                self.strings_one_by_one(start, entry)?;
                return Err(e);
            }
        }
        let end = self.r.pos;
        if !self.strings_from_run(start, end) {
            self.strings.clear();
            self.strings_one_by_one(start, end)?;
        }
        let (slices, _) = self.r.count()?;
        if slices > 0 {
            self.slices(slices)?;
        }
        Ok(())
    }

    /// The strings of `buf[start..end]`, read once already, cut from the
    /// run checked as UTF-8 as a whole; false when the run is not UTF-8 or a
    /// string does not end at a character boundary (it is not UTF-8 alone).
    fn strings_from_run(&mut self, start: usize, end: usize) -> bool {
        let Some(Ok(run)) = self.r.buf.get(start..end).map(core::str::from_utf8) else {
            return false;
        };
        self.r.pos = start;
        while self.r.pos < end {
            let Ok(len) = self.r.varint() else {
                return false;
            };
            let from = self.r.pos - start;
            let Some(s) = run.get(from..from.saturating_add(len as usize)) else {
                return false;
            };
            self.strings.push(s);
            self.r.pos += s.len();
        }
        true
    }

    /// The raw strings of `buf[start..end]` (whose lengths were read once
    /// already), each checked as UTF-8 on its own.
    fn strings_one_by_one(&mut self, start: usize, end: usize) -> Result<(), FrameError> {
        self.r.pos = start;
        while self.r.pos < end {
            let len = self.r.varint()? as usize;
            let at = self.r.pos;
            let bytes = self.r.bytes(len)?;
            let s = core::str::from_utf8(bytes).map_err(|_| FrameError::BadUtf8 { offset: at })?;
            self.strings.push(s);
        }
        Ok(())
    }

    /// Reads `n` slices and merges them with the raw strings into the
    /// table, in position order.
    fn slices(&mut self, n: usize) -> Result<(), FrameError> {
        let total = (self.strings.len() + n) as u64;
        // (position, of, start, len, offset)
        let mut list: Vec<(u64, u64, u64, u64, usize)> = Vec::with_capacity(n);
        for _ in 0..n {
            let offset = self.r.pos;
            let position = self.r.varint_max(u64::from(u32::MAX))?;
            let of = self.r.varint_max(u64::from(u32::MAX))?;
            let start = self.r.varint_max(u64::from(u32::MAX))?;
            let len = self.r.varint_max(u64::from(u32::MAX))?;
            let increasing = list.last().is_none_or(|p| p.0 < position);
            if !increasing || position >= total {
                return Err(FrameError::BadSlice { offset });
            }
            list.push((position, of, start, len, offset));
        }
        let mut raw = core::mem::take(&mut self.strings).into_iter();
        let mut table: Vec<&'a str> = Vec::with_capacity(total as usize);
        let mut next = list.iter().peekable();
        for i in 0..total {
            if next.peek().is_some_and(|p| p.0 == i) {
                next.next();
                table.push("");
            } else {
                // Positions are increasing and below `total`, so exactly
                // the raw strings fill the rest.
                table.push(raw.next().unwrap_or(""));
            }
        }
        for &(position, of, start, len, offset) in &list {
            let source_is_raw = of < total && list.binary_search_by_key(&of, |p| p.0).is_err();
            let s = source_is_raw
                .then(|| table[of as usize])
                .and_then(|src| src.get(start as usize..(start + len) as usize));
            match s {
                Some(s) => table[position as usize] = s,
                None => return Err(FrameError::BadSlice { offset }),
            }
        }
        self.strings = table;
        Ok(())
    }

    /// The string a reference names: static below `STATIC_COUNT`, else
    /// the frame's.
    #[inline]
    fn string_at(&self, r: u64, offset: usize) -> Result<&'a str, FrameError> {
        let found = match r.checked_sub(u64::from(STATIC_COUNT)) {
            None => STATIC_STRINGS.get(r as usize).copied(),
            Some(i) => self.strings.get(i as usize).copied(),
        };
        found.ok_or(FrameError::BadStringIndex {
            offset,
            index: r.min(u64::from(u32::MAX)) as u32,
            count: STATIC_COUNT as usize + self.strings.len(),
        })
    }

    #[inline]
    fn string(&mut self) -> Result<&'a str, FrameError> {
        let offset = self.r.pos;
        let i = self.r.varint_max(u64::from(u32::MAX))?;
        self.string_at(i, offset)
    }

    fn context(&mut self) -> Result<Context<'a>, FrameError> {
        let anonymous_id = Cow::Borrowed(self.string()?);
        let offset = self.r.pos;
        let user_id = match self.r.byte()? {
            0 => None,
            1 => Some(Cow::Borrowed(self.string()?)),
            tag => return Err(FrameError::UnknownValueTag { offset, tag }),
        };
        Ok(Context {
            anonymous_id,
            user_id,
            session_id: self.r.varint()?,
            origin: Cow::Borrowed(self.string()?),
            referrer: Cow::Borrowed(self.string()?),
            locale: Cow::Borrowed(self.string()?),
            screen_width: self.r.varint_max(u64::from(u16::MAX))? as u16,
            screen_height: self.r.varint_max(u64::from(u16::MAX))? as u16,
            timezone: Cow::Borrowed(self.string()?),
            library: Cow::Borrowed(self.string()?),
            campaign: self.map(1)?,
        })
    }

    /// The events, into `events` (empty).
    fn events(
        &mut self,
        base_time: u64,
        mut events: Vec<Event<'a>>,
    ) -> Result<Vec<Event<'a>>, FrameError> {
        let max = self.limits.max_events;
        let n = self.count_at_most(max, |_, count| FrameError::TooManyEvents { count, max })?;
        // An event takes at least 4 bytes: kind, time, name, property count.
        events.reserve(n.min(self.r.left() / 4 + 1));
        let mut time = base_time;
        for _ in 0..n {
            let offset = self.r.pos;
            let code = self.r.byte()?;
            let kind =
                EventKind::from_code(code).ok_or(FrameError::UnknownEventKind { offset, code })?;
            time = time.wrapping_add(unzigzag(self.r.varint()?) as u64);
            let name = Cow::Borrowed(self.string()?);
            let reused = self.maps.pop().unwrap_or_default();
            let properties = self.map_into(1, reused)?;
            events.push(Event {
                kind,
                name,
                timestamp: time,
                properties,
            });
        }
        Ok(events)
    }

    /// A count or length prefix of at most `max`; a larger one is the error
    /// `over(offset, n)`. (The count is also bounded by the bytes left.)
    #[inline]
    fn count_at_most(
        &mut self,
        max: usize,
        over: impl FnOnce(usize, u64) -> FrameError,
    ) -> Result<usize, FrameError> {
        let (n, offset) = self.r.count()?;
        if n > max {
            return Err(over(offset, n as u64));
        }
        Ok(n)
    }

    /// The entry count of a map or a list, within `max_properties` (which
    /// bounds both).
    #[inline]
    fn property_count(&mut self) -> Result<usize, FrameError> {
        let max = self.limits.max_properties;
        self.count_at_most(max, |offset, count| FrameError::TooManyProperties {
            offset,
            count,
            max,
        })
    }

    /// A map whose values' lists and maps have nesting level `depth`.
    fn map(&mut self, depth: usize) -> Result<Map<'a>, FrameError> {
        self.map_into(depth, Vec::new())
    }

    /// [`Decoder::map`], into `m` (empty).
    fn map_into(&mut self, depth: usize, mut m: Map<'a>) -> Result<Map<'a>, FrameError> {
        let n = self.property_count()?;
        // An entry takes at least 2 bytes: key, tag.
        m.reserve(n.min(self.r.left() / 2 + 1));
        let mut key_offsets = Vec::new();
        for _ in 0..n {
            let key_offset = self.r.pos;
            let key = self.string()?;
            if n <= PAIRWISE_KEYS {
                if m.iter().any(|(k, _)| k == key) {
                    return Err(FrameError::DuplicateKey {
                        offset: key_offset,
                        key: key.into(),
                    });
                }
            } else {
                key_offsets.push(key_offset);
            }
            let v = self.value(depth)?;
            m.push((Cow::Borrowed(key), v));
        }
        if n > PAIRWISE_KEYS {
            check_unique_keys(&m, &key_offsets)?;
        }
        Ok(m)
    }

    /// One value. Always inlined into the property loop (four values per
    /// event on the corpus; the call was 1.4% of an append with triggers):
    /// lists and maps, which recurse, are read by [`Decoder::nested`].
    #[inline(always)]
    fn value(&mut self, depth: usize) -> Result<Value<'a>, FrameError> {
        let offset = self.r.pos;
        let tag = self.r.byte()?;
        Ok(match tag {
            TAG_NULL => Value::Null,
            TAG_FALSE => Value::Bool(false),
            TAG_TRUE => Value::Bool(true),
            TAG_INT => Value::Int(unzigzag(self.r.varint()?)),
            TAG_FLOAT => {
                let mut b = [0u8; 8];
                b.copy_from_slice(self.r.bytes(8)?);
                let f = f64::from_le_bytes(b);
                if !f.is_finite() {
                    return Err(FrameError::NonFiniteFloat { offset });
                }
                Value::Float(f)
            }
            TAG_STR => Value::Str(Cow::Borrowed(self.string()?)),
            TAG_LIST | TAG_MAP => self.nested(tag, depth, offset)?,
            t if (TAG_DECIMAL..TAG_DECIMAL + DECIMAL_SCALES).contains(&t) => {
                let m = unzigzag(self.r.varint()?);
                Value::Float(m as f64 / POW10[usize::from(t - TAG_DECIMAL)])
            }
            t if (TAG_SMALL_INT..TAG_SMALL_INT + SMALL_INTS).contains(&t) => {
                Value::Int(i64::from(t - TAG_SMALL_INT))
            }
            t if (TAG_SMALL_STR..TAG_SMALL_STR + SMALL_STRS).contains(&t) => {
                Value::Str(Cow::Borrowed(self.string_at(
                    u64::from(STATIC_COUNT) + u64::from(t - TAG_SMALL_STR),
                    offset,
                )?))
            }
            tag => return Err(FrameError::UnknownValueTag { offset, tag }),
        })
    }

    /// A list or a map (`tag`) whose tag was at `offset`, one level below
    /// `depth`.
    #[inline(never)]
    fn nested(&mut self, tag: u8, depth: usize, offset: usize) -> Result<Value<'a>, FrameError> {
        if depth > self.max_depth {
            return Err(FrameError::TooDeep {
                offset,
                max: self.max_depth,
            });
        }
        if tag == TAG_MAP {
            return Ok(Value::Map(self.map(depth + 1)?));
        }
        let n = self.property_count()?;
        let mut items = Vec::with_capacity(n);
        for _ in 0..n {
            items.push(self.value(depth + 1)?);
        }
        Ok(Value::List(items))
    }
}

/// Repeated keys in a large map, found by sorting; reports the repeat that
/// comes later in the frame.
fn check_unique_keys(m: &Map<'_>, offsets: &[usize]) -> Result<(), FrameError> {
    let mut order: Vec<usize> = (0..m.len()).collect();
    order.sort_unstable_by(|&a, &b| m[a].0.cmp(&m[b].0).then(a.cmp(&b)));
    for w in order.windows(2) {
        if m[w[0]].0 == m[w[1]].0 {
            let later = w[1];
            return Err(FrameError::DuplicateKey {
                offset: offsets.get(later).copied().unwrap_or(0),
                key: m[later].0.to_string(),
            });
        }
    }
    Ok(())
}
