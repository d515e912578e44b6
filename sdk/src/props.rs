//! Properties (and the frame context) cross from JS as [`Props`]: the
//! object walked once by `npm/src/props.js` into a small tagged binary form,
//! read here into [`Value`]s.
//!
//! Why not `JSON.stringify` text any more: a JSON parser (escapes,
//! surrogate pairs, decimal numbers, the browser's `parseFloat` for the rare
//! rest) was about 4.8 KB of this module, 2.2 KB of it gzipped, a tenth of
//! the package; the walker that replaces it is about 0.4 KB of gzipped JS
//! and the reader below a few hundred bytes. The JS keeps `JSON.stringify`'s
//! data model: `toJSON` (dates become ISO strings), `undefined`, functions
//! and symbols dropped from objects and `null` in lists, non-finite numbers
//! `null`; strings arrive as UTF-8 from `TextEncoder`, which turns a lone
//! surrogate into U+FFFD as the JSON path did. Numbers arrive as the
//! double itself, so the values (and the frames' bytes) are the same as the
//! JSON path gave.
//!
//! The layout (little-endian; `n` and lengths are u32):
//!
//! ```text
//! props  = n (key value){n}            the top-level object; empty = {}
//! key    = len utf8{len}
//! value  = NULL | FALSE | TRUE | NUMBER f64 | STRING len utf8{len}
//!        | LIST n value{n} | MAP n (key value){n}
//! ```

use alloc::borrow::Cow;
use alloc::vec::Vec;
use broker_core::event::{Map, Value};

/// Deepest nesting of lists and maps accepted: the property map itself is
/// level 0, and containers may nest `max_depth` levels below it, the frame
/// decoder's limit (`{"a":[1]}` nests 1), so what reads here also encodes.
pub const MAX_DEPTH: usize = broker_core::frame::Limits::DEFAULT.max_depth + 1;

/// Value tag: `null`.
pub const TAG_NULL: u8 = 0;
/// Value tag: `false`.
pub const TAG_FALSE: u8 = 1;
/// Value tag: `true`.
pub const TAG_TRUE: u8 = 2;
/// Value tag: a number, the 8 bytes of an f64.
pub const TAG_NUMBER: u8 = 3;
/// Value tag: a string, its length and UTF-8 bytes.
pub const TAG_STRING: u8 = 4;
/// Value tag: a list, its length and values.
pub const TAG_LIST: u8 = 5;
/// Value tag: an object, its length and key-value pairs.
pub const TAG_MAP: u8 = 6;

/// Why properties were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PropsError {
    /// The bytes are not in the layout above (only reachable with bytes
    /// not made by `npm/src/props.js` or [`Props::encode`]).
    #[error("malformed properties at byte {offset}")]
    Syntax {
        /// Where reading stopped.
        offset: usize,
    },
    // Code 2 was `NotAnObject` (a JSON text that was not an object): the
    // layout has no other top level. Never reused.
    /// Lists and maps nest deeper than [`MAX_DEPTH`].
    #[error("nesting deeper than {max}")]
    TooDeep {
        /// The limit.
        max: usize,
    },
}

impl PropsError {
    /// Stable numeric code (never reused).
    pub fn code(&self) -> u32 {
        match self {
            PropsError::Syntax { .. } => 1,
            PropsError::TooDeep { .. } => 3,
        }
    }
}

/// Properties in the layout above, whose strings are UTF-8.
#[derive(Debug, Clone, Copy)]
pub struct Props<'a>(&'a [u8]);

impl<'a> Props<'a> {
    /// No properties (the empty object).
    pub const EMPTY: Props<'static> = Props(&[]);

    /// Properties as `npm/src/props.js` wrote them.
    ///
    /// # Safety
    ///
    /// Every string in `bytes` must be UTF-8, as `TextEncoder` writes them.
    /// Not checked: `from_utf8` is 700 bytes of the module, and the JS glue
    /// is the only caller (as with the event name, see `abi`). The layout
    /// itself is checked: malformed bytes give [`PropsError::Syntax`].
    pub unsafe fn from_bytes_unchecked(bytes: &'a [u8]) -> Props<'a> {
        Props(bytes)
    }

    /// Reads them into a property map, whose strings borrow the bytes.
    pub fn read(self) -> Result<Map<'a>, PropsError> {
        let mut r = Reader {
            b: self.0,
            i: 0,
            too_deep: false,
        };
        if r.b.is_empty() {
            return Ok(Vec::new());
        }
        match r.map(0) {
            Some(m) if r.i == r.b.len() => Ok(m),
            _ if r.too_deep => Err(PropsError::TooDeep { max: MAX_DEPTH }),
            _ => Err(PropsError::Syntax { offset: r.i }),
        }
    }
}

impl Props<'static> {
    /// `m` in the layout above, as `npm/src/props.js` would write the
    /// object (for Rust callers and tests; the module never links it).
    pub fn encode(m: &Map<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        put_map(&mut out, m);
        out
    }
}

fn put_len(out: &mut Vec<u8>, n: usize) {
    out.extend_from_slice(&(n as u32).to_le_bytes());
}

fn put_map(out: &mut Vec<u8>, m: &Map<'_>) {
    put_len(out, m.len());
    for (k, v) in m {
        put_len(out, k.len());
        out.extend_from_slice(k.as_bytes());
        put_value(out, v);
    }
}

fn put_value(out: &mut Vec<u8>, v: &Value<'_>) {
    match v {
        Value::Null => out.push(TAG_NULL),
        Value::Bool(b) => out.push(if *b { TAG_TRUE } else { TAG_FALSE }),
        Value::Int(i) => {
            out.push(TAG_NUMBER);
            out.extend_from_slice(&(*i as f64).to_le_bytes());
        }
        Value::Float(f) => {
            out.push(TAG_NUMBER);
            out.extend_from_slice(&f.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(TAG_STRING);
            put_len(out, s.len());
            out.extend_from_slice(s.as_bytes());
        }
        Value::List(l) => {
            out.push(TAG_LIST);
            put_len(out, l.len());
            for x in l {
                put_value(out, x);
            }
        }
        Value::Map(m) => {
            out.push(TAG_MAP);
            put_map(out, m);
        }
    }
}

/// Reads the layout; `None` on malformed bytes (where `i` stopped) or,
/// with `too_deep` set, on nesting past [`MAX_DEPTH`]. Options rather than
/// `Result`s keep the module smaller; `Props::read` makes the error.
struct Reader<'a> {
    b: &'a [u8],
    i: usize,
    too_deep: bool,
}

impl<'a> Reader<'a> {
    /// The next `n` bytes (`get`, not indexing: a panic site would link
    /// core's formatting data).
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.i.checked_add(n)?;
        let s = self.b.get(self.i..end)?;
        self.i = end;
        Some(s)
    }

    /// The next `N` bytes as an array.
    fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        let a = *self.b.get(self.i..)?.first_chunk::<N>()?;
        self.i += N;
        Some(a)
    }

    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.array()?))
    }

    fn string(&mut self) -> Option<Cow<'a, str>> {
        let n = self.u32()?;
        let s = self.take(n as usize)?;
        // Safety: `Props::from_bytes_unchecked`'s contract.
        Some(Cow::Borrowed(unsafe { core::str::from_utf8_unchecked(s) }))
    }

    /// Entries of a map whose own values are at nesting `depth + 1`. Vecs
    /// grow as entries are read, never by the count the bytes claim.
    fn map(&mut self, depth: usize) -> Option<Map<'a>> {
        let mut m = Vec::new();
        for _ in 0..self.u32()? {
            m.push((self.string()?, self.value(depth + 1)?));
        }
        Some(m)
    }

    fn value(&mut self, depth: usize) -> Option<Value<'a>> {
        let [tag] = self.array()?;
        Some(match tag {
            TAG_NULL => Value::Null,
            TAG_FALSE | TAG_TRUE => Value::Bool(tag == TAG_TRUE),
            TAG_NUMBER => number(f64::from_le_bytes(self.array()?)),
            TAG_STRING => Value::Str(self.string()?),
            TAG_LIST | TAG_MAP if depth >= MAX_DEPTH => {
                self.too_deep = true;
                return None;
            }
            TAG_LIST => {
                let mut l = Vec::new();
                for _ in 0..self.u32()? {
                    l.push(self.value(depth + 1)?);
                }
                Value::List(l)
            }
            TAG_MAP => Value::Map(self.map(depth)?),
            _ => {
                self.i -= 1;
                return None;
            }
        })
    }
}

/// A number as `JSON.stringify` text and its parse gave it: a whole number
/// in i64 range is an integer on the wire (JS has one number type, so `1.0`
/// and `1` are the same value; `-0` prints as `0`), NaN and infinities are
/// `null`.
fn number(f: f64) -> Value<'static> {
    // 2^63: `f as i64` saturates, so the range is checked first, and the
    // round trip stands in for `fract() == 0`, which core (no_std) lacks.
    const I64_END: f64 = 9_223_372_036_854_775_808.0;
    if !f.is_finite() {
        Value::Null
    } else if (-I64_END..I64_END).contains(&f) && (f as i64) as f64 == f {
        Value::Int(f as i64)
    } else {
        Value::Float(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Value<'static> {
        Value::Str(Cow::Owned(x.to_owned()))
    }

    fn read(b: &[u8]) -> Result<Map<'_>, PropsError> {
        // Safety: the tests' strings are UTF-8.
        unsafe { Props::from_bytes_unchecked(b) }.read()
    }

    #[test]
    fn round_trips_the_json_data_model() {
        let m: Map<'static> = vec![
            (Cow::Borrowed("a"), Value::Int(1)),
            (Cow::Borrowed("b"), Value::Float(-2.5)),
            (Cow::Borrowed("c"), s("x\"y\u{e9}\u{1F600}")),
            (
                Cow::Borrowed("d"),
                Value::List(vec![Value::Bool(true), Value::Bool(false), Value::Null]),
            ),
            (
                Cow::Borrowed("e"),
                Value::Map(vec![(Cow::Borrowed("f"), Value::Float(89.58))]),
            ),
            (Cow::Borrowed("g"), Value::Int(-(1 << 60))),
        ];
        assert_eq!(read(&Props::encode(&m)).unwrap(), m);
    }

    #[test]
    fn numbers_become_what_json_text_gave() {
        let one = |f: f64| {
            let mut b = vec![1, 0, 0, 0, 1, 0, 0, 0, b'n', TAG_NUMBER];
            b.extend_from_slice(&f.to_le_bytes());
            read(&b).unwrap().remove(0).1.into_owned()
        };
        assert_eq!(one(1000.0), Value::Int(1000));
        assert_eq!(one(-0.0), Value::Int(0));
        assert_eq!(one(89.58), Value::Float(89.58));
        assert_eq!(one(9.21e18), Value::Int(9_210_000_000_000_000_000));
        assert_eq!(one(9.3e18), Value::Float(9.3e18));
        assert_eq!(one(-9_223_372_036_854_775_808.0), Value::Int(i64::MIN));
        assert_eq!(one(f64::NAN), Value::Null);
        assert_eq!(one(f64::INFINITY), Value::Null);
    }

    #[test]
    fn empty_bytes_are_the_empty_map() {
        assert_eq!(Props::EMPTY.read().unwrap(), vec![]);
        assert_eq!(read(&[0, 0, 0, 0]).unwrap(), vec![]);
    }

    #[test]
    fn refuses_malformed_bytes_without_panicking() {
        let good = Props::encode(&vec![(Cow::Borrowed("k"), s("v"))]);
        for cut in 1..good.len() {
            assert!(
                matches!(read(&good[..cut]), Err(PropsError::Syntax { .. })),
                "{cut}"
            );
        }
        let mut extra = good.clone();
        extra.push(0);
        assert_eq!(read(&extra), Err(PropsError::Syntax { offset: good.len() }));
        // An unknown tag, and a count far beyond the bytes present.
        assert_eq!(
            read(&[1, 0, 0, 0, 1, 0, 0, 0, b'k', 9]),
            Err(PropsError::Syntax { offset: 9 })
        );
        assert!(read(&[255, 255, 255, 255]).is_err());
        assert!(read(&[1, 0, 0, 0, 0, 0, 0, 0, TAG_LIST, 255, 255, 255, 255]).is_err());
    }

    #[test]
    fn refuses_nesting_deeper_than_the_decoder_takes() {
        let nest = |n: usize| {
            let mut v = Value::Int(1);
            for _ in 1..n {
                v = Value::Map(vec![(Cow::Borrowed("a"), v)]);
            }
            Props::encode(&vec![(Cow::Borrowed("a"), v)])
        };
        // The property map and 8 maps inside it: the decoder's limit, accepted.
        assert!(read(&nest(9)).is_ok());
        assert_eq!(read(&nest(10)), Err(PropsError::TooDeep { max: MAX_DEPTH }));
        assert_eq!(read(&nest(20)), Err(PropsError::TooDeep { max: MAX_DEPTH }));
    }
}
