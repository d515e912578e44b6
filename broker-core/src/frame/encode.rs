//! The encoder: [`FrameBuilder`] and [`encode`].
//!
//! Kept free of `format!`, `std::fmt` and serde: the browser SDK links it
//! into a wasm module whose size is a product figure.

use super::crc::crc32_small;
use super::slices;
use super::wire::*;
use super::{Context, Frame, FrameError, Limits, Unencodable, FORMAT_VERSION};
use crate::event::{Event, Map, Value};
use alloc::borrow::{Cow, ToOwned};
use alloc::vec;
use alloc::vec::Vec;

/// Bytes of the fixed header: version, flags, producer id.
pub(crate) const FIXED_HEADER: usize = 10;
/// Bytes of the trailing CRC-32.
pub(crate) const CRC_LEN: usize = 4;
/// Most bytes a varint of a u64 takes.
const MAX_VARINT: usize = 10;

/// Builds a frame one event at a time, the way the SDK batches.
///
/// Strings are interned as they arrive and each event is encoded at
/// [`push`](FrameBuilder::push), so [`finish`](FrameBuilder::finish) only
/// concatenates. A push that fails leaves the builder exactly as it was.
#[derive(Debug, Clone)]
pub struct FrameBuilder {
    limits: Limits,
    strings: Interner,
    context: Vec<u8>,
    events: Vec<u8>,
    count: usize,
    base_time: u64,
    prev_time: u64,
}

impl FrameBuilder {
    /// A builder for frames with this context, under [`Limits::DEFAULT`].
    ///
    /// A context the limits could not carry is trimmed to fit rather than
    /// refused (see [`with_limits`](FrameBuilder::with_limits)).
    pub fn new(context: &Context<'_>) -> FrameBuilder {
        FrameBuilder::with_limits(context, &Limits::DEFAULT)
    }

    /// A builder for frames with this context, under `limits`.
    ///
    /// The context comes from the page, not from the SDK's caller, so it is
    /// made to fit instead of refused: strings over `max_string_bytes` are
    /// cut at a character boundary, campaign entries past `max_properties`
    /// and repeated keys are dropped, NaN/infinite floats and too-deep
    /// lists/maps become null. [`try_with_limits`](FrameBuilder::try_with_limits)
    /// refuses instead.
    pub fn with_limits(context: &Context<'_>, limits: &Limits) -> FrameBuilder {
        match FrameBuilder::try_with_limits(context, limits) {
            Ok(b) => b,
            Err(_) => {
                let fitted = fit_context(context, limits);
                match FrameBuilder::try_with_limits(&fitted, limits) {
                    Ok(b) => b,
                    // Unreachable by construction of `fit_context`; an empty
                    // context keeps the SDK sending rather than failing.
                    Err(_) => FrameBuilder::with_empty_context(limits),
                }
            }
        }
    }

    /// Like [`with_limits`](FrameBuilder::with_limits), but a context that
    /// breaks the limits is an error ([`FrameError::Unencodable`]).
    pub fn try_with_limits(
        context: &Context<'_>,
        limits: &Limits,
    ) -> Result<FrameBuilder, FrameError> {
        let mut b = FrameBuilder::empty(limits);
        let c = context;
        let mut out = Vec::new();
        let s = &mut b.strings;
        put_str(&mut out, s, &c.anonymous_id, limits)?;
        match &c.user_id {
            None => out.push(0),
            Some(u) => {
                out.push(1);
                put_str(&mut out, s, u, limits)?;
            }
        }
        put_varint(&mut out, c.session_id);
        put_str(&mut out, s, &c.origin, limits)?;
        put_str(&mut out, s, &c.referrer, limits)?;
        put_str(&mut out, s, &c.locale, limits)?;
        put_varint(&mut out, u64::from(c.screen_width));
        put_varint(&mut out, u64::from(c.screen_height));
        put_str(&mut out, s, &c.timezone, limits)?;
        put_str(&mut out, s, &c.library, limits)?;
        put_map(&mut out, s, &c.campaign, limits, 1)?;
        b.context = out;
        Ok(b)
    }

    /// A builder whose context is all empty strings and zeros, which no
    /// limit can refuse.
    fn with_empty_context(limits: &Limits) -> FrameBuilder {
        let mut b = FrameBuilder::empty(limits);
        b.strings.intern("");
        // anonymous_id, user_id None, session_id, origin, referrer, locale,
        // width, height, timezone, library, campaign count: all zero.
        b.context = vec![0; 11];
        b
    }

    fn empty(limits: &Limits) -> FrameBuilder {
        FrameBuilder {
            limits: limits.clone(),
            strings: Interner::default(),
            context: Vec::new(),
            events: Vec::new(),
            count: 0,
            base_time: 0,
            prev_time: 0,
        }
    }

    /// Appends one event.
    ///
    /// Errors leave the builder unchanged: [`FrameError::Full`] when the
    /// frame would pass `max_frame_bytes` or `max_events` (finish this frame
    /// and push the event into a new one); [`FrameError::FrameTooLarge`] /
    /// [`FrameError::TooManyEvents`] when even an empty frame cannot take
    /// it; [`FrameError::Unencodable`] when no frame can carry it (NaN,
    /// repeated key, limits on strings, entries or depth).
    pub fn push(&mut self, event: &Event<'_>) -> Result<(), FrameError> {
        if self.count >= self.limits.max_events {
            return Err(if self.count == 0 {
                FrameError::TooManyEvents {
                    count: 1,
                    max: self.limits.max_events,
                }
            } else {
                self.full(self.encoded_len())
            });
        }
        let strings_mark = self.strings.len();
        let bytes_mark = self.events.len();
        let result = self.put_event(event);
        let base_time = if self.count == 0 {
            event.timestamp
        } else {
            self.base_time
        };
        let len = self.len_without_finish_fields(self.count + 1, base_time) + 2 * MAX_VARINT;
        let error = match result {
            Err(e) => Some(e),
            Ok(()) if len > self.limits.max_frame_bytes => Some(if self.count == 0 {
                FrameError::FrameTooLarge {
                    len,
                    max: self.limits.max_frame_bytes,
                }
            } else {
                self.full(len)
            }),
            Ok(()) => None,
        };
        if let Some(e) = error {
            self.strings.truncate(strings_mark);
            self.events.truncate(bytes_mark);
            return Err(e);
        }
        if self.count == 0 {
            self.base_time = event.timestamp;
        }
        self.prev_time = event.timestamp;
        self.count += 1;
        Ok(())
    }

    fn full(&self, len: usize) -> FrameError {
        FrameError::Full {
            events: self.count,
            len,
            max: self.limits.max_frame_bytes,
        }
    }

    fn put_event(&mut self, e: &Event<'_>) -> Result<(), FrameError> {
        let out = &mut self.events;
        out.push(e.kind.code());
        let prev = if self.count == 0 {
            e.timestamp
        } else {
            self.prev_time
        };
        put_varint(out, zigzag(e.timestamp.wrapping_sub(prev) as i64));
        put_str(out, &mut self.strings, &e.name, &self.limits)?;
        put_map(out, &mut self.strings, &e.properties, &self.limits, 1)
    }

    /// Events pushed so far.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when no event has been pushed.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The size [`finish`](FrameBuilder::finish) would produce now
    /// (uncompressed), counting the `sequence` and `sent_at` varints, which
    /// depend on `finish`'s arguments, at their 10-byte maximum: `finish`
    /// returns at most this many bytes and at least this minus 18 (less
    /// still when `finish` sends strings as slices of others). This is the
    /// figure the builder keeps within `max_frame_bytes`.
    /// [`encoded_len_with`](FrameBuilder::encoded_len_with) is exact.
    pub fn encoded_len(&self) -> usize {
        self.len_without_finish_fields(self.count, self.base_time) + 2 * MAX_VARINT
    }

    /// The exact size `finish(_, sequence, sent_at)` would produce now.
    ///
    /// Costs about as much as `finish` (it plans the string table's
    /// slices); [`encoded_len`](FrameBuilder::encoded_len) is the cheap
    /// bound to check after each push.
    pub fn encoded_len_with(&self, sequence: u64, sent_at: u64) -> usize {
        let strings = self.strings.all();
        let plan = slices::plan(&strings);
        let unsliced = varint_len(strings.len() as u64) + self.strings.table_bytes + 1;
        self.len_without_finish_fields(self.count, self.base_time) - unsliced
            + slices::table_len(&strings, &plan)
            + varint_len(sequence)
            + varint_len(zigzag(sent_at.wrapping_sub(self.base_time) as i64))
    }

    /// The frame size without the `sequence` and `sent_at` varints, for
    /// the bytes now in the builder counted as `count` events, with every
    /// string sent raw (slices, planned at `finish`, only make it smaller).
    fn len_without_finish_fields(&self, count: usize, base_time: u64) -> usize {
        FIXED_HEADER
            + varint_len(base_time)
            + varint_len(self.strings.len() as u64)
            + self.strings.table_bytes
            + 1 // slice count: 0 here
            + self.context.len()
            + varint_len(count as u64)
            + self.events.len()
            + CRC_LEN
    }

    /// Seals the frame: header, string table, context, events, CRC-32.
    /// By reference: the builder can take more events and be finished
    /// again (the SDK reopens its last frame that way).
    pub fn finish(&self, producer_id: u64, sequence: u64, sent_at: u64) -> Vec<u8> {
        // The bound, not `encoded_len_with`: that would plan the slices a
        // second time for a few bytes of capacity.
        let mut out = Vec::with_capacity(self.encoded_len());
        out.push(FORMAT_VERSION);
        out.push(0);
        out.extend_from_slice(&producer_id.to_le_bytes());
        put_varint(&mut out, sequence);
        put_varint(&mut out, self.base_time);
        put_varint(
            &mut out,
            zigzag(sent_at.wrapping_sub(self.base_time) as i64),
        );
        let strings = self.strings.all();
        let plan = slices::plan(&strings);
        put_varint(&mut out, (strings.len() - plan.len()) as u64);
        let mut next = plan.iter().peekable();
        for (i, s) in strings.iter().enumerate() {
            if next.peek().is_some_and(|p| p.position as usize == i) {
                next.next();
                continue;
            }
            put_varint(&mut out, s.len() as u64);
            out.extend_from_slice(s);
        }
        put_varint(&mut out, plan.len() as u64);
        for p in &plan {
            for v in [p.position, p.of, p.start, p.len] {
                put_varint(&mut out, u64::from(v));
            }
        }
        out.extend_from_slice(&self.context);
        put_varint(&mut out, self.count as u64);
        out.extend_from_slice(&self.events);
        let crc = crc32_small(&out);
        out.extend_from_slice(&crc.to_le_bytes());
        out
    }
}

/// Encodes a whole frame under [`Limits::DEFAULT`] (so that any decoder
/// with default limits accepts it). Errors: those of
/// [`FrameBuilder::try_with_limits`] and [`FrameBuilder::push`]; a frame
/// over the limits gives `Full`.
pub fn encode(frame: &Frame<'_>) -> Result<Vec<u8>, FrameError> {
    let mut b = FrameBuilder::try_with_limits(&frame.context, &Limits::DEFAULT)?;
    for e in &frame.events {
        b.push(e)?;
    }
    Ok(b.finish(frame.producer_id, frame.sequence, frame.sent_at))
}

fn put_str(
    out: &mut Vec<u8>,
    strings: &mut Interner,
    s: &str,
    limits: &Limits,
) -> Result<u32, FrameError> {
    if s.len() > limits.max_string_bytes {
        return Err(Unencodable::StringTooLong.into());
    }
    let i = strings.intern(s);
    put_varint(out, u64::from(i));
    Ok(i)
}

fn put_map(
    out: &mut Vec<u8>,
    strings: &mut Interner,
    m: &Map<'_>,
    limits: &Limits,
    depth: usize,
) -> Result<(), FrameError> {
    if m.len() > limits.max_properties {
        return Err(Unencodable::TooManyEntries.into());
    }
    put_varint(out, m.len() as u64);
    for (i, (k, v)) in m.iter().enumerate() {
        if m.iter().take(i).any(|(earlier, _)| earlier == k) {
            return Err(Unencodable::DuplicateKey.into());
        }
        put_str(out, strings, k, limits)?;
        put_value(out, strings, v, limits, depth)?;
    }
    Ok(())
}

/// `depth` is the nesting level a list or map at this position would have
/// (1 for a property's value).
fn put_value(
    out: &mut Vec<u8>,
    strings: &mut Interner,
    v: &Value<'_>,
    limits: &Limits,
    depth: usize,
) -> Result<(), FrameError> {
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(false) => out.push(TAG_FALSE),
        Value::Bool(true) => out.push(TAG_TRUE),
        Value::Int(i) if (0..i64::from(SMALL_INTS)).contains(i) => {
            out.push(TAG_SMALL_INT + *i as u8)
        }
        Value::Int(i) => {
            out.push(TAG_INT);
            put_varint(out, zigzag(*i));
        }
        Value::Float(f) if !f.is_finite() => return Err(Unencodable::NonFiniteFloat.into()),
        Value::Float(f) => match as_decimal(*f) {
            Some((scale, m)) => {
                out.push(TAG_DECIMAL + scale);
                put_varint(out, zigzag(m));
            }
            None => {
                out.push(TAG_FLOAT);
                out.extend_from_slice(&f.to_le_bytes());
            }
        },
        Value::Str(s) => {
            if s.len() > limits.max_string_bytes {
                return Err(Unencodable::StringTooLong.into());
            }
            let r = strings.intern(s);
            match r.checked_sub(STATIC_COUNT) {
                Some(i) if i < u32::from(SMALL_STRS) => out.push(TAG_SMALL_STR + i as u8),
                _ => {
                    out.push(TAG_STR);
                    put_varint(out, u64::from(r));
                }
            }
        }
        Value::List(items) => {
            if depth > limits.max_depth {
                return Err(Unencodable::TooDeep.into());
            }
            if items.len() > limits.max_properties {
                return Err(Unencodable::TooManyEntries.into());
            }
            out.push(TAG_LIST);
            put_varint(out, items.len() as u64);
            for item in items {
                put_value(out, strings, item, limits, depth + 1)?;
            }
        }
        Value::Map(m) => {
            if depth > limits.max_depth {
                return Err(Unencodable::TooDeep.into());
            }
            out.push(TAG_MAP);
            put_map(out, strings, m, limits, depth + 1)?;
        }
    }
    Ok(())
}

/// The context made to fit `limits` (see [`FrameBuilder::with_limits`]).
fn fit_context(c: &Context<'_>, limits: &Limits) -> Context<'static> {
    let s = |x: &str| Cow::Owned(cut(x, limits.max_string_bytes).to_owned());
    Context {
        anonymous_id: s(&c.anonymous_id),
        user_id: c.user_id.as_deref().map(s),
        session_id: c.session_id,
        origin: s(&c.origin),
        referrer: s(&c.referrer),
        locale: s(&c.locale),
        screen_width: c.screen_width,
        screen_height: c.screen_height,
        timezone: s(&c.timezone),
        library: s(&c.library),
        campaign: fit_map(&c.campaign, limits, 1),
    }
}

fn fit_map(m: &Map<'_>, limits: &Limits, depth: usize) -> Map<'static> {
    let mut out: Map<'static> = Vec::new();
    for (k, v) in m {
        if out.len() >= limits.max_properties {
            break;
        }
        let k = cut(k, limits.max_string_bytes);
        if out.iter().any(|(earlier, _)| earlier == k) {
            continue;
        }
        out.push((Cow::Owned(k.to_owned()), fit_value(v, limits, depth)));
    }
    out
}

fn fit_value(v: &Value<'_>, limits: &Limits, depth: usize) -> Value<'static> {
    match v {
        Value::Float(f) if !f.is_finite() => Value::Null,
        Value::Str(s) => Value::Str(Cow::Owned(cut(s, limits.max_string_bytes).to_owned())),
        Value::List(_) | Value::Map(_) if depth > limits.max_depth => Value::Null,
        Value::List(items) => Value::List(
            items
                .iter()
                .take(limits.max_properties)
                .map(|x| fit_value(x, limits, depth + 1))
                .collect(),
        ),
        Value::Map(m) => Value::Map(fit_map(m, limits, depth + 1)),
        // Not `clone().into_owned()`: the scalars need neither, and those
        // two cost the SDK's wasm about 2 KB.
        Value::Null => Value::Null,
        Value::Bool(b) => Value::Bool(*b),
        Value::Int(i) => Value::Int(*i),
        Value::Float(f) => Value::Float(*f),
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or("")
}

/// The frame's string table under construction: each distinct string once,
/// in order of first use, with an open-addressing hash index (FNV-1a; a
/// std `HashMap` would pull SipHash and more into the SDK's wasm).
#[derive(Debug, Clone, Default)]
struct Interner {
    /// The strings' bytes, back to back.
    buf: Vec<u8>,
    /// End offset in `buf` of each string.
    ends: Vec<u32>,
    /// Hash slots holding `index + 1`; 0 is empty. Length: a power of two.
    slots: Vec<u32>,
    /// Bytes the table takes on the wire (length prefixes and bytes).
    table_bytes: usize,
}

impl Interner {
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Every frame string, in index order.
    fn all(&self) -> Vec<&[u8]> {
        (0..self.ends.len()).map(|i| self.get(i)).collect()
    }

    /// String `i` (`i < len()`; empty otherwise). `get` rather than
    /// indexing here and below: a panic site links core's messages and
    /// locations into the SDK's wasm.
    fn get(&self, i: usize) -> &[u8] {
        let end = |i: usize| self.ends.get(i).map_or(0, |&e| e as usize);
        let start = if i == 0 { 0 } else { end(i - 1) };
        self.buf.get(start..end(i)).unwrap_or_default()
    }

    fn hash(s: &[u8]) -> u32 {
        let mut h: u32 = 0x811c_9dc5;
        for &b in s {
            h = (h ^ u32::from(b)).wrapping_mul(0x0100_0193);
        }
        h
    }

    /// The reference for `s`: a static string's, or its frame string's
    /// (`STATIC_COUNT + index`), added to the table if new.
    fn intern(&mut self, s: &str) -> u32 {
        let bytes = s.as_bytes();
        if let Some(r) = static_ref(bytes) {
            return r;
        }
        if self.slots.len() < 2 * (self.ends.len() + 1) {
            self.rehash((self.slots.len() * 2).max(64));
        }
        let mask = self.slots.len() - 1;
        let mut at = Interner::hash(bytes) as usize & mask;
        loop {
            match self.slots.get(at).copied().unwrap_or(0) {
                0 => break,
                i if self.get(i as usize - 1) == bytes => return STATIC_COUNT + i - 1,
                _ => at = (at + 1) & mask,
            }
        }
        self.buf.extend_from_slice(bytes);
        self.ends.push(self.buf.len() as u32);
        self.table_bytes += varint_len(bytes.len() as u64) + bytes.len();
        let index = self.ends.len() as u32;
        if let Some(slot) = self.slots.get_mut(at) {
            *slot = index;
        }
        STATIC_COUNT + index - 1
    }

    fn rehash(&mut self, capacity: usize) {
        self.slots.clear();
        self.slots.resize(capacity, 0);
        let mask = capacity - 1;
        for i in 0..self.ends.len() {
            let mut at = Interner::hash(self.get(i)) as usize & mask;
            while self.slots.get(at).is_some_and(|&s| s != 0) {
                at = (at + 1) & mask;
            }
            if let Some(slot) = self.slots.get_mut(at) {
                *slot = i as u32 + 1;
            }
        }
    }

    /// Forgets every string from index `len` on (a failed push's).
    fn truncate(&mut self, len: usize) {
        if len >= self.ends.len() {
            return;
        }
        for i in len..self.ends.len() {
            let n = self.get(i).len();
            self.table_bytes -= varint_len(n as u64) + n;
        }
        let end = if len == 0 {
            0
        } else {
            self.ends.get(len - 1).map_or(0, |&e| e as usize)
        };
        self.ends.truncate(len);
        self.buf.truncate(end);
        let capacity = self.slots.len();
        self.rehash(capacity);
    }
}
