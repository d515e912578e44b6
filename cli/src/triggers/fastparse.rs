//! The fast path for backtest input lines: one typed, borrowing parse straight
//! into an [`Event`], with no intermediate `serde_json::Value` tree (a
//! hand-written scan for the usual line, serde for the rest). It
//! accepts only what it can map exactly as `corpus::call_to_event` and
//! `export::event_record_from_json` do; anything else (including every
//! malformed line) returns `None` and goes the slow, canonical way, which also
//! words the error.

use broker_core::corpus::EPOCH_MS;
use broker_core::{Event, EventKind, Map, Value};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;
use std::borrow::Cow;

/// A field that may be absent, `null`, or a value.
#[derive(Default)]
enum Tri<T> {
    #[default]
    Absent,
    Null,
    Is(T),
}

fn tri<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Tri<T>, D::Error> {
    Ok(match Option::<T>::deserialize(d)? {
        None => Tri::Null,
        Some(v) => Tri::Is(v),
    })
}

/// The union of both line shapes' fields.
#[derive(Deserialize)]
struct Line<'a> {
    #[serde(default, borrow, rename = "anonymousId", deserialize_with = "tri")]
    anonymous_id: Tri<&'a str>,
    #[serde(default, borrow, deserialize_with = "tri")]
    call: Tri<&'a str>,
    #[serde(default, deserialize_with = "tri")]
    t: Tri<u64>,
    #[serde(default, borrow, deserialize_with = "tri")]
    event: Tri<&'a str>,
    #[serde(default, borrow, deserialize_with = "tri")]
    name: Tri<&'a str>,
    #[serde(default, borrow, rename = "userId")]
    user_id: Option<&'a str>,
    #[serde(default)]
    session: Option<u64>,
    #[serde(default, borrow)]
    properties: Option<Json<'a>>,
    #[serde(default, borrow)]
    traits: Option<Json<'a>>,
    #[serde(default, borrow, deserialize_with = "tri")]
    visitor: Tri<&'a str>,
    #[serde(default, borrow, deserialize_with = "tri")]
    kind: Tri<&'a str>,
    #[serde(default, deserialize_with = "tri")]
    time: Tri<u64>,
    #[serde(default, deserialize_with = "tri")]
    offset: Tri<u64>,
    #[serde(default, deserialize_with = "tri")]
    partition: Tri<u64>,
}

/// `(visitor, event, offset)` when the line maps exactly; `None` otherwise.
/// The visitor is borrowed from the line (a copy per event cost an
/// allocation the replay mostly drops at once).
pub fn parse(line: &str, ordinal: u64) -> Option<(&str, Event<'_>, u64)> {
    let l = scan::line(line).or_else(|| serde_json::from_str(line).ok())?;
    map_line(l, ordinal)
}

/// The event of a parsed line, as [`parse`] returns it.
fn map_line(l: Line<'_>, ordinal: u64) -> Option<(&str, Event<'_>, u64)> {
    let _ = (&l.user_id, l.session); // typed above so that a wrong type falls back
    if !matches!(l.call, Tri::Absent) && !matches!(l.anonymous_id, Tri::Absent) {
        let (Tri::Is(visitor), Tri::Is(call), Tri::Is(t)) = (l.anonymous_id, l.call, l.t) else {
            return None;
        };
        let (kind, name, properties) = match call {
            "page" => {
                let name = match l.name {
                    Tri::Is(n) => n,
                    _ => "",
                };
                (EventKind::Page, name, props(l.properties)?)
            }
            "track" => match l.event {
                Tri::Is(e) => (EventKind::Track, e, props(l.properties)?),
                _ => return None,
            },
            "identify" => {
                let uid = l.user_id.unwrap_or("");
                (EventKind::Identify, uid, props(l.traits)?)
            }
            "click" => (EventKind::Click, "", props(l.properties)?),
            "submit" => (EventKind::Submit, "", props(l.properties)?),
            _ => return None,
        };
        let event = Event {
            kind,
            name: Cow::Borrowed(name),
            timestamp: EPOCH_MS.checked_add(t)?,
            properties,
        };
        return Some((visitor, event, ordinal));
    }
    let (Tri::Is(visitor), Tri::Is(kind), Tri::Is(time)) = (l.visitor, l.kind, l.time) else {
        return None;
    };
    let kind = EventKind::ALL.into_iter().find(|k| k.as_str() == kind)?;
    let name = match l.name {
        Tri::Absent => "",
        Tri::Null => return None,
        Tri::Is(n) => n,
    };
    let offset = match l.offset {
        Tri::Absent => ordinal,
        Tri::Null => return None,
        Tri::Is(o) => o,
    };
    match l.partition {
        Tri::Absent => {}
        Tri::Is(p) if u32::try_from(p).is_ok() => {}
        _ => return None,
    }
    let properties = props(l.properties)?;
    Some((
        visitor,
        Event {
            kind,
            name: Cow::Borrowed(name),
            timestamp: time,
            properties,
        },
        offset,
    ))
}

/// Properties: absent or `null` is empty, an object is the map, anything
/// else is for the slow path to judge.
fn props(p: Option<Json<'_>>) -> Option<Map<'_>> {
    match p.map(|j| j.0) {
        None | Some(Value::Null) => Some(Vec::new()),
        Some(Value::Map(m)) => Some(m),
        Some(_) => None,
    }
}

/// A JSON value as an event [`Value`], strings borrowed where the input
/// allows. A repeated object key keeps its last value, as `serde_json` does.
struct Json<'a>(Value<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for Json<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(JsonVisitor(std::marker::PhantomData))
            .map(Json)
    }
}

struct JsonVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for JsonVisitor<'a> {
    type Value = Value<'a>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_unit<E>(self) -> Result<Value<'a>, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value<'a>, E> {
        Ok(Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value<'a>, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, i: i64) -> Result<Value<'a>, E> {
        Ok(Value::Int(i))
    }
    fn visit_u64<E>(self, u: u64) -> Result<Value<'a>, E> {
        Ok(i64::try_from(u).map_or(Value::Float(u as f64), Value::Int))
    }
    fn visit_f64<E>(self, f: f64) -> Result<Value<'a>, E> {
        Ok(Value::Float(f))
    }
    fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Value<'a>, E> {
        Ok(Value::Str(Cow::Borrowed(s)))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value<'a>, E> {
        Ok(Value::Str(Cow::Owned(s.to_owned())))
    }
    fn visit_string<E>(self, s: String) -> Result<Value<'a>, E> {
        Ok(Value::Str(Cow::Owned(s)))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value<'a>, A::Error> {
        let mut out = Vec::new();
        while let Some(Json(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::List(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value<'a>, A::Error> {
        let mut out: Map<'a> = Vec::new();
        while let Some(Json(key)) = map.next_key::<Json<'a>>()? {
            let Value::Str(k) = key else {
                return Err(serde::de::Error::custom("object keys are strings"));
            };
            let Json(v) = map.next_value::<Json<'a>>()?;
            match out.iter_mut().find(|(key, _)| *key == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        Ok(Value::Map(out))
    }
}

/// A hand-written scan of the usual line into [`Line`], about twice as fast
/// as serde's (which spent most of the backtest's time): objects, lists,
/// strings without escapes or control characters (borrowed), `true`,
/// `false`, `null` and numbers. Plain integers of up to 18 digits are read
/// here; any other number token goes through serde_json's own number parse,
/// so that it maps exactly as the serde path would. Anything else (an
/// escape, a repeated known field, a wrong type, nesting past
/// [`scan::MAX_DEPTH`], invalid JSON) returns `None` for the serde path to
/// judge, so that whatever this takes, serde would have taken the same way
/// (a test holds the two side by side).
mod scan {
    use super::{Json, Line, Tri};
    use broker_core::{Map, Value};
    use std::borrow::Cow;

    /// Deeper nesting is left to serde (whose own limit is 128).
    pub const MAX_DEPTH: usize = 64;

    /// `line` as a [`Line`], or `None` for the serde path.
    pub fn line(line: &str) -> Option<Line<'_>> {
        let mut c = Cur {
            s: line,
            b: line.as_bytes(),
            i: 0,
        };
        let mut l = Line {
            anonymous_id: Tri::Absent,
            call: Tri::Absent,
            t: Tri::Absent,
            event: Tri::Absent,
            name: Tri::Absent,
            user_id: None,
            session: None,
            properties: None,
            traits: None,
            visitor: Tri::Absent,
            kind: Tri::Absent,
            time: Tri::Absent,
            offset: Tri::Absent,
            partition: Tri::Absent,
        };
        // Known fields seen, by bit: serde refuses a repeated one.
        let mut seen = 0u16;
        c.eat(b'{')?;
        if c.peek()? == b'}' {
            c.i += 1;
        } else {
            loop {
                let key = c.str()?;
                c.eat(b':')?;
                // The field's bit, 16 for a field serde ignores (skipped, checked).
                let bit = match key {
                    "anonymousId" => {
                        l.anonymous_id = c.tri_str()?;
                        0
                    }
                    "call" => {
                        l.call = c.tri_str()?;
                        1
                    }
                    "t" => {
                        l.t = c.tri_u64()?;
                        2
                    }
                    "event" => {
                        l.event = c.tri_str()?;
                        3
                    }
                    "name" => {
                        l.name = c.tri_str()?;
                        4
                    }
                    "userId" => {
                        l.user_id = c.opt_str()?;
                        5
                    }
                    "session" => {
                        l.session = c.opt_u64()?;
                        6
                    }
                    "properties" => {
                        l.properties = c.opt_json()?;
                        7
                    }
                    "traits" => {
                        l.traits = c.opt_json()?;
                        8
                    }
                    "visitor" => {
                        l.visitor = c.tri_str()?;
                        9
                    }
                    "kind" => {
                        l.kind = c.tri_str()?;
                        10
                    }
                    "time" => {
                        l.time = c.tri_u64()?;
                        11
                    }
                    "offset" => {
                        l.offset = c.tri_u64()?;
                        12
                    }
                    "partition" => {
                        l.partition = c.tri_u64()?;
                        13
                    }
                    _ => {
                        c.value(1)?;
                        16
                    }
                };
                if bit < 16 {
                    if seen & 1 << bit != 0 {
                        return None;
                    }
                    seen |= 1 << bit;
                }
                match c.peek()? {
                    b',' => c.i += 1,
                    b'}' => {
                        c.i += 1;
                        break;
                    }
                    _ => return None,
                }
            }
        }
        c.ws();
        (c.i == c.b.len()).then_some(l)
    }

    /// A cursor over one line's bytes (`s` the same as text).
    struct Cur<'a> {
        s: &'a str,
        b: &'a [u8],
        i: usize,
    }

    impl<'a> Cur<'a> {
        /// Skips JSON whitespace.
        fn ws(&mut self) {
            while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.b.get(self.i) {
                self.i += 1;
            }
        }

        /// The next byte after whitespace, not consumed.
        fn peek(&mut self) -> Option<u8> {
            self.ws();
            self.b.get(self.i).copied()
        }

        fn eat(&mut self, byte: u8) -> Option<()> {
            (self.peek()? == byte).then(|| self.i += 1)
        }

        /// A string without escapes or control characters, borrowed.
        fn str(&mut self) -> Option<&'a str> {
            self.eat(b'"')?;
            let start = self.i;
            let n = special(&self.b[start..])?;
            if self.b[start + n] != b'"' {
                return None;
            }
            self.i = start + n + 1;
            // Both ends are at ASCII quotes: character boundaries.
            self.s.get(start..start + n)
        }

        /// `null`, when it comes next (consumed).
        fn null(&mut self) -> Option<bool> {
            if self.peek()? != b'n' {
                return Some(false);
            }
            self.literal("null").map(|()| true)
        }

        fn literal(&mut self, word: &str) -> Option<()> {
            let end = self.i + word.len();
            (self.b.get(self.i..end)? == word.as_bytes()).then(|| self.i = end)
        }

        /// The text of a number token (checked by whoever reads it).
        fn number(&mut self) -> Option<&'a str> {
            self.ws();
            let start = self.i;
            while let Some(b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E') = self.b.get(self.i) {
                self.i += 1;
            }
            (self.i > start).then(|| &self.s[start..self.i])
        }

        fn tri_str(&mut self) -> Option<Tri<&'a str>> {
            Some(match self.null()? {
                true => Tri::Null,
                false => Tri::Is(self.str()?),
            })
        }

        fn opt_str(&mut self) -> Option<Option<&'a str>> {
            Some(match self.null()? {
                true => None,
                false => Some(self.str()?),
            })
        }

        /// A u64 as serde reads one: digits only (a number token that goes
        /// on with a sign, fraction or exponent is not one), no leading zero.
        fn u64(&mut self) -> Option<u64> {
            self.ws();
            let start = self.i;
            let mut n = 0u64;
            while let Some(&d @ b'0'..=b'9') = self.b.get(self.i) {
                n = n.checked_mul(10)?.checked_add(u64::from(d - b'0'))?;
                self.i += 1;
            }
            let len = self.i - start;
            let more = matches!(self.b.get(self.i), Some(b'-' | b'+' | b'.' | b'e' | b'E'));
            let plain = len > 0 && !more && (len == 1 || self.b[start] != b'0');
            plain.then_some(n)
        }

        fn tri_u64(&mut self) -> Option<Tri<u64>> {
            Some(match self.null()? {
                true => Tri::Null,
                false => Tri::Is(self.u64()?),
            })
        }

        fn opt_u64(&mut self) -> Option<Option<u64>> {
            Some(match self.null()? {
                true => None,
                false => Some(self.u64()?),
            })
        }

        fn opt_json(&mut self) -> Option<Option<Json<'a>>> {
            Some(match self.null()? {
                true => None,
                false => Some(Json(self.value(1)?)),
            })
        }

        /// Any value, at nesting `depth`.
        fn value(&mut self, depth: usize) -> Option<Value<'a>> {
            if depth > MAX_DEPTH {
                return None;
            }
            Some(match self.peek()? {
                b'"' => Value::Str(Cow::Borrowed(self.str()?)),
                b'{' => Value::Map(self.object(depth)?),
                b'[' => {
                    self.i += 1;
                    let mut out = Vec::new();
                    if self.peek()? == b']' {
                        self.i += 1;
                    } else {
                        loop {
                            out.push(self.value(depth + 1)?);
                            match self.peek()? {
                                b',' => self.i += 1,
                                b']' => {
                                    self.i += 1;
                                    break;
                                }
                                _ => return None,
                            }
                        }
                    }
                    Value::List(out)
                }
                b't' => self.literal("true").map(|()| Value::Bool(true))?,
                b'f' => self.literal("false").map(|()| Value::Bool(false))?,
                b'n' => self.literal("null").map(|()| Value::Null)?,
                _ => number_value(self.number()?)?,
            })
        }

        /// An object's entries in input order, a repeated key keeping its
        /// first place and last value (as the serde visitor does).
        fn object(&mut self, depth: usize) -> Option<Map<'a>> {
            self.eat(b'{')?;
            if self.peek()? == b'}' {
                self.i += 1;
                return Some(Vec::new());
            }
            // Room for a usual event's properties: growing from 4 to 8
            // reallocated on most lines.
            let mut out: Map<'a> = Vec::with_capacity(8);
            loop {
                let k = self.str()?;
                self.eat(b':')?;
                let v = self.value(depth + 1)?;
                match out.iter_mut().find(|(key, _)| *key == k) {
                    Some(slot) => slot.1 = v,
                    None => out.push((Cow::Borrowed(k), v)),
                }
                match self.peek()? {
                    b',' => self.i += 1,
                    b'}' => {
                        self.i += 1;
                        return Some(out);
                    }
                    _ => return None,
                }
            }
        }
    }

    /// The position of the first `"`, `\\` or control character, eight bytes
    /// at a time (serde_json's own way: a byte-at-a-time search made this
    /// scan slower than serde).
    #[inline]
    fn special(b: &[u8]) -> Option<usize> {
        const ONES: u64 = u64::MAX / 255;
        let mut i = 0;
        while let Some(chunk) = b.get(i..i + 8) {
            let w = u64::from_le_bytes(chunk.try_into().ok()?);
            let ctrl = w.wrapping_sub(ONES * 0x20) & !w;
            let q = w ^ (ONES * u64::from(b'"'));
            let quote = q.wrapping_sub(ONES) & !q;
            let e = w ^ (ONES * u64::from(b'\\'));
            let escape = e.wrapping_sub(ONES) & !e;
            // Only bytes after a match can be flagged falsely (borrows run
            // upwards): the lowest flag is exact.
            let found = (ctrl | quote | escape) & (ONES << 7);
            if found != 0 {
                return Some(i + found.trailing_zeros() as usize / 8);
            }
            i += 8;
        }
        let at = b[i..]
            .iter()
            .position(|&c| c == b'"' || c == b'\\' || c < 0x20)?;
        Some(i + at)
    }

    /// A number token as the serde visitor maps it: plain integers of up to
    /// 18 digits (which fit in an i64) here, any other through serde_json's
    /// own number parse.
    fn number_value(tok: &str) -> Option<Value<'_>> {
        let b = tok.as_bytes();
        if b.len() <= 18 && b.iter().all(u8::is_ascii_digit) && (b.len() == 1 || b[0] != b'0') {
            // At most 18 digits: no overflow.
            let n = b.iter().fold(0i64, |n, d| n * 10 + i64::from(d - b'0'));
            return Some(Value::Int(n));
        }
        serde_json::from_str::<Json<'_>>(tok).ok().map(|j| j.0)
    }
}

#[cfg(test)]
mod tests {
    use super::super::backtest::slow_line;
    use super::*;
    use broker_core::partition::EventRecord;
    use broker_core::{corpus, export};

    /// The engine reads properties by key: their order, at every depth, is
    /// not part of the mapping (the slow path sorts JSON object keys, the
    /// fast one keeps the input's order).
    fn sorted(mut e: Event<'_>) -> Event<'_> {
        fn map(m: &mut Map<'_>) {
            m.sort_by(|a, b| a.0.cmp(&b.0));
            m.iter_mut().for_each(|(_, v)| value(v));
        }
        fn value(v: &mut Value<'_>) {
            match v {
                Value::Map(m) => map(m),
                Value::List(l) => l.iter_mut().for_each(value),
                _ => {}
            }
        }
        map(&mut e.properties);
        e
    }

    /// `line` through both paths. Whatever the fast path takes must map
    /// exactly as the slow path does; returns whether it took it.
    fn agree(line: &str, ordinal: u64) -> bool {
        let Some((v, e, o)) = parse(line, ordinal) else {
            return false;
        };
        let (sv, se, so) = slow_line(line, ordinal).unwrap_or_else(|why| {
            panic!("the fast path took a line the slow one rejects ({why}): {line}")
        });
        assert_eq!((v, sorted(e), o), (&*sv, sorted(se), so), "{line}");
        true
    }

    /// Every line of the reference corpus, as the SDK call it is and as the
    /// relay exports the same event (`tail`'s shape): the fast path takes
    /// each one whose top-level strings have no escape, and maps it exactly
    /// as the canonical mappings do.
    #[test]
    fn agrees_with_the_slow_path_over_the_whole_reference_corpus() {
        let path = corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("the reference corpus {}: {e}", path.display()));
        let (mut lines, mut fast) = (0, 0);
        for (i, line) in text.lines().enumerate() {
            let ordinal = i as u64;
            let (visitor, event, _) = slow_line(line, ordinal)
                .unwrap_or_else(|why| panic!("corpus line {}: {why}", i + 1));
            let user_id = (event.kind == EventKind::Identify).then(|| event.name.to_string());
            let record = export::event_record_to_json(&EventRecord {
                partition: 1,
                offset: 1_000_000 + ordinal,
                visitor,
                user_id,
                event,
                source: Default::default(),
                violations: Vec::new(),
            })
            .to_string();
            for l in [line, record.as_str()] {
                lines += 1;
                if agree(l, ordinal) {
                    fast += 1;
                } else {
                    // Only a string that needs unescaping cannot be borrowed.
                    assert!(l.contains('\\'), "the fast path declined {l}");
                }
            }
        }
        assert!(lines >= 2 * 10_000, "the whole corpus: {lines} lines");
        assert!(
            fast * 100 >= lines * 99,
            "the fast path took {fast} of {lines}"
        );
    }

    /// Edge cases the corpus does not have: what the fast path takes agrees,
    /// and it leaves the rest (some valid, some not) to the slow path.
    #[test]
    fn edge_cases_agree_or_defer() {
        let taken = [
            r#"{"session":0,"anonymousId":"a","t":11223,"call":"page","name":"Home","properties":{"path":"/","n":1,"f":1.5,"big":18446744073709551615,"l":[1,"x",null],"o":{"k":true}}}"#,
            r#"{"anonymousId":"a","t":1,"call":"page","name":null,"properties":null}"#,
            r#"{"anonymousId":"a","t":1,"call":"identify","userId":"u-1","traits":{"plan":"free","plan":"plus"}}"#,
            r#"{"anonymousId":"a","t":1,"call":"click"}"#,
            r#"{"anonymousId":"a","t":1,"call":"submit","properties":{}}"#,
            r#"{"partition":0,"offset":42,"visitor":"v","userId":null,"kind":"track","name":"X","time":5,"properties":{"a":1}}"#,
            r#"{"visitor":"v","kind":"page","time":5}"#,
            r#"{"visitor":"v","kind":"identify","name":"u","time":5,"properties":null,"userId":"u"}"#,
        ];
        let deferred = [
            // An escaped string cannot be borrowed.
            r#"{"anonymousId":"a","t":1,"call":"track","event":"Product \"Added\"","properties":{"price":50}}"#,
            r#"{"anonymousId":"a","t":1,"call":"track","properties":{}}"#,
            r#"{"anonymousId":"a","t":1,"call":"page","name":3,"properties":"x"}"#,
            r#"{"anonymousId":"a","t":1,"call":"alias"}"#,
            r#"{"visitor":"v","kind":"track","name":null,"time":5}"#,
            r#"{"visitor":"v","kind":"track","time":5,"offset":null}"#,
            r#"{"visitor":"v","kind":"teleport","time":5}"#,
            r#"{"visitor":"v","kind":"track","time":5,"partition":4294967296}"#,
            r#"{"visitor":"v","kind":"track","time":5,"properties":[1]}"#,
            r#"{"visitor":"v","kind":"track","time":5,"userId":7}"#,
            r#"{"visitor":"v","kind":"track","time":-5}"#,
            r#"[1,2]"#,
            r#"{not json"#,
        ];
        for line in taken {
            assert!(agree(line, 9), "the fast path takes {line}");
        }
        for line in deferred {
            assert!(parse(line, 9).is_none(), "the fast path defers {line}");
        }
        // The deferred escaped line is valid: the slow path maps it.
        assert!(slow_line(deferred[0], 9).is_ok());
    }

    /// Whatever the hand-written scan takes maps exactly as serde's parse
    /// of the same line does; what it declines, serde judges.
    #[test]
    fn the_scan_agrees_with_serde_or_declines() {
        let deep = format!(
            r#"{{"visitor":"v","kind":"track","time":5,"properties":{{"a":{}1{}}}}}"#,
            "[".repeat(70),
            "]".repeat(70)
        );
        let lines = [
            // Taken by both.
            r#" { "visitor" : "v" , "kind":"track","time":5,"name":"X","properties":{"a":1,"a":2,"b":[],"c":{},"d":[true,false,null]}} "#,
            r#"{"visitor":"v","kind":"track","time":5,"properties":{"n":-0,"m":-7,"f":1.5e3,"g":0.1,"big":123456789012345678901,"z":0}}"#,
            r#"{"visitor":"v","kind":"track","time":5,"context":{"utm":{"source":"x"}},"extra":[1,{"k":"v"}]}"#,
            r#"{"anonymousId":"a","t":0,"call":"track","event":"E","session":3,"userId":null,"traits":null}"#,
            r#"{"visitor":"v","kind":"track","time":18446744073709551615,"offset":0}"#,
            r#"{"anonymousId":"é","t":1,"call":"page","name":"Ünïcode ✓","properties":{"ключ":"значение"}}"#,
            // Declined by the scan (serde decides; for most it refuses too).
            &deep,
            r#"{"visitor":"v","visitor":"w","kind":"track","time":5}"#,
            r#"{"visitor":"v","kind":"track","time":5.0}"#,
            r#"{"visitor":"v","kind":"track","time":50e1}"#,
            r#"{"visitor":"v","kind":"track","time":-5}"#,
            r#"{"visitor":"v","kind":"track","time":18446744073709551616}"#,
            r#"{"visitor":"v","kind":"track","time":05}"#,
            r#"{"visitor":"v","kind":"track","time":5,"properties":{"a":01}}"#,
            r#"{"visitor":"v","kind":"track","time":5,"properties":{"a":1.}}"#,
            r#"{"visitor":"v","kind":"track","time":5,"properties":{"a":tru}}"#,
            r#"{"visitor":"v","kind":"track","time":5,"properties":{"a":"x\u0041"}}"#,
            r#"{"visitor":"v","kind":"track","time":5} x"#,
            r#"{"visitor":"v","kind":"track","time":5,}"#,
            "{\"visitor\":\"v\tw\",\"kind\":\"track\",\"time\":5}",
            r#"[ "v", null ]"#,
        ];
        let mut taken = 0;
        for line in &lines {
            let by_serde = serde_json::from_str::<Line<'_>>(line)
                .ok()
                .and_then(|l| map_line(l, 9));
            if let Some(l) = scan::line(line) {
                taken += 1;
                assert_eq!(map_line(l, 9), by_serde, "{line}");
            }
        }
        assert_eq!(taken, 6, "the scan takes the first six");
    }
}
