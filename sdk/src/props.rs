//! Properties cross from JS as one `JSON.stringify` string and are parsed
//! here into [`Value`]s.
//!
//! Why JSON and not a walk over the JS object with js-sys: `JSON.stringify`
//! is native, already applies the semantics developers expect (`toJSON`,
//! dates as ISO strings, `undefined` and functions dropped, cycles refused)
//! and the object crosses the boundary in one call instead of several per
//! key. The parser is small on purpose: no serde, no `std::fmt`, and float
//! parsing only on the rare inputs the exact decimal fast path cannot take.

use alloc::borrow::{Cow, ToOwned};
use alloc::string::String;
use alloc::vec::Vec;
use broker_core::event::{Map, Value};

/// Deepest nesting of lists and maps accepted: the property map itself is
/// level 0, and containers may nest `max_depth` levels below it, the frame
/// decoder's limit (`{"a":[1]}` nests 1), so what parses here also encodes.
pub const MAX_DEPTH: usize = broker_core::frame::Limits::DEFAULT.max_depth + 1;

/// Why a properties string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PropsError {
    /// The text is not JSON (only reachable when called with hand-made text).
    #[error("invalid JSON at byte {offset}")]
    Syntax {
        /// Where parsing stopped.
        offset: usize,
    },
    /// The top level is not an object.
    #[error("properties must be an object")]
    NotAnObject,
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
            PropsError::NotAnObject => 2,
            PropsError::TooDeep { .. } => 3,
        }
    }
}

/// Parses a JSON object into a property map. The empty string is the empty map
/// (JS passes it for `undefined` props, saving a stringify).
pub fn parse_props(text: &str) -> Result<Map<'static>, PropsError> {
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let mut p = Parser {
        text,
        b: text.as_bytes(),
        i: 0,
    };
    p.ws();
    if p.peek() != Some(b'{') {
        return Err(PropsError::NotAnObject);
    }
    let v = p.value(0)?;
    p.ws();
    if p.i != p.b.len() {
        return Err(p.err());
    }
    match v {
        Value::Map(m) => Ok(m),
        _ => Err(PropsError::NotAnObject),
    }
}

struct Parser<'a> {
    text: &'a str,
    b: &'a [u8],
    i: usize,
}

impl<'a> Parser<'a> {
    fn err(&self) -> PropsError {
        PropsError::Syntax { offset: self.i }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.i += 1;
        }
    }

    fn eat(&mut self, c: u8) -> Result<(), PropsError> {
        self.ws();
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.err())
        }
    }

    /// The input from the cursor on (`get`, not indexing: a panic site
    /// would link core's formatting, about 1 KB of the module).
    fn rest(&self) -> &[u8] {
        self.b.get(self.i..).unwrap_or_default()
    }

    fn lit(&mut self, word: &[u8], v: Value<'static>) -> Result<Value<'static>, PropsError> {
        if self.rest().starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.err())
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value<'static>, PropsError> {
        self.ws();
        match self.peek() {
            Some(b'{') => {
                if depth >= MAX_DEPTH {
                    return Err(PropsError::TooDeep { max: MAX_DEPTH });
                }
                self.i += 1;
                let mut m: Map<'static> = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                    return Ok(Value::Map(m));
                }
                loop {
                    self.eat(b'"')?;
                    let k = self.string()?;
                    self.eat(b':')?;
                    let v = self.value(depth + 1)?;
                    m.push((Cow::Owned(k), v));
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b'}') => {
                            self.i += 1;
                            return Ok(Value::Map(m));
                        }
                        _ => return Err(self.err()),
                    }
                }
            }
            Some(b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(PropsError::TooDeep { max: MAX_DEPTH });
                }
                self.i += 1;
                let mut l = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                    return Ok(Value::List(l));
                }
                loop {
                    l.push(self.value(depth + 1)?);
                    self.ws();
                    match self.peek() {
                        Some(b',') => self.i += 1,
                        Some(b']') => {
                            self.i += 1;
                            return Ok(Value::List(l));
                        }
                        _ => return Err(self.err()),
                    }
                }
            }
            Some(b'"') => {
                self.i += 1;
                Ok(Value::Str(Cow::Owned(self.string()?)))
            }
            Some(b't') => self.lit(b"true", Value::Bool(true)),
            Some(b'f') => self.lit(b"false", Value::Bool(false)),
            Some(b'n') => self.lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            _ => Err(self.err()),
        }
    }

    /// The rest of a string whose opening quote was consumed.
    fn string(&mut self) -> Result<String, PropsError> {
        let start = self.i;
        // Fast path: no escapes, copy the slice as is.
        while let Some(c) = self.peek() {
            match c {
                b'"' => {
                    let s = self.slice(start, self.i)?;
                    self.i += 1;
                    return Ok(s.to_owned());
                }
                b'\\' => break,
                _ => self.i += 1,
            }
        }
        let mut out = String::from(self.slice(start, self.i)?);
        loop {
            let run = self.i;
            while let Some(c) = self.peek() {
                if c == b'"' || c == b'\\' {
                    break;
                }
                self.i += 1;
            }
            out.push_str(self.slice(run, self.i)?);
            match self.peek() {
                Some(b'"') => {
                    self.i += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.i += 1;
                    let e = self.peek().ok_or_else(|| self.err())?;
                    self.i += 1;
                    let c = match e {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        b'u' => self.unicode()?,
                        _ => return Err(self.err()),
                    };
                    out.push(c);
                }
                _ => return Err(self.err()),
            }
        }
    }

    fn slice(&self, a: usize, b: usize) -> Result<&'a str, PropsError> {
        // The bounds sit on ASCII bytes of a &str, so this cannot fail; it
        // is checked anyway (a char boundary check, not a UTF-8 validation,
        // which would link `from_utf8`).
        let text: &'a str = self.text;
        text.get(a..b).ok_or(PropsError::Syntax { offset: a })
    }

    fn hex4(&mut self) -> Result<u32, PropsError> {
        let mut v = 0u32;
        for _ in 0..4 {
            let d = match self.peek() {
                Some(c @ b'0'..=b'9') => c - b'0',
                Some(c @ b'a'..=b'f') => c - b'a' + 10,
                Some(c @ b'A'..=b'F') => c - b'A' + 10,
                _ => return Err(self.err()),
            };
            v = v * 16 + u32::from(d);
            self.i += 1;
        }
        Ok(v)
    }

    /// `\uXXXX`, joining surrogate pairs; a lone surrogate (JS strings may
    /// hold one) becomes U+FFFD rather than an error.
    fn unicode(&mut self) -> Result<char, PropsError> {
        let hi = self.hex4()?;
        if (0xD800..0xDC00).contains(&hi) && self.rest().starts_with(b"\\u") {
            let save = self.i;
            self.i += 2;
            let lo = self.hex4()?;
            if (0xDC00..0xE000).contains(&lo) {
                let c = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
                return Ok(char::from_u32(c).unwrap_or('\u{FFFD}'));
            }
            self.i = save;
        }
        Ok(char::from_u32(hi).unwrap_or('\u{FFFD}'))
    }

    fn number(&mut self) -> Result<Value<'static>, PropsError> {
        let start = self.i;
        let neg = self.peek() == Some(b'-');
        if neg {
            self.i += 1;
        }
        let mut mant: u64 = 0;
        let mut digits = 0usize;
        let mut frac = 0usize;
        let mut exact = true;
        let mut seen_dot = false;
        while let Some(c) = self.peek() {
            match c {
                b'0'..=b'9' => {
                    digits += 1;
                    if seen_dot {
                        frac += 1;
                    }
                    match mant
                        .checked_mul(10)
                        .and_then(|m| m.checked_add(u64::from(c - b'0')))
                    {
                        Some(m) => mant = m,
                        None => exact = false,
                    }
                }
                b'.' if !seen_dot => seen_dot = true,
                b'e' | b'E' | b'+' | b'-' => exact = false,
                _ => break,
            }
            self.i += 1;
        }
        if digits == 0 {
            return Err(PropsError::Syntax { offset: start });
        }
        if exact && !seen_dot && mant <= i64::MAX as u64 {
            let v = mant as i64;
            return Ok(Value::Int(if neg { -v } else { v }));
        }
        // m / 10^k is correctly rounded when both are exact doubles, which
        // gives the same double as a full decimal parse for prices and the
        // like, without linking the float parser.
        const POW10: [f64; 16] = [
            1.0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
        ];
        if exact && mant < (1u64 << 53) && frac < POW10.len() {
            let f = mant as f64 / POW10[frac];
            return Ok(float_value(if neg { -f } else { f }));
        }
        let text = self.slice(start, self.i)?;
        let f = parse_float(text);
        if f.is_finite() {
            Ok(float_value(f))
        } else {
            Err(PropsError::Syntax { offset: start })
        }
    }
}

// The rare number the fast path cannot take (17 digits, exponents) is parsed
// by the browser: Rust's float parser is ~16 KB of code and tables in wasm.
// The npm build imports `parseFloat` through its own glue (npm/src/wasm.js);
// the tests in Chromium (std) through wasm-bindgen's.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
fn parse_float(text: &str) -> f64 {
    crate::abi::parse_float(text)
}

#[cfg(all(target_arch = "wasm32", feature = "std"))]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_name = parseFloat)]
    fn parse_float(text: &str) -> f64;
}

#[cfg(not(target_arch = "wasm32"))]
fn parse_float(text: &str) -> f64 {
    text.parse().unwrap_or(f64::NAN)
}

/// A float that is a whole number in i64 range is an integer on the wire
/// (JS has only one number type, so `1.0` and `1` are the same value).
fn float_value(f: f64) -> Value<'static> {
    // `f as i64` truncates, so the round trip checks `fract() == 0`, which
    // core (no_std) lacks.
    if f.abs() < 9.2e18 && (f as i64) as f64 == f && !(f == 0.0 && f.is_sign_negative()) {
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

    #[test]
    fn parses_the_json_data_model() {
        let m = parse_props(
            r#"{"a":1,"b":-2.5,"c":"x\"y\u00e9\ud83d\ude00","d":[true,false,null],"e":{"f":89.58},"g":1e3,"h":-0}"#,
        )
        .unwrap();
        assert_eq!(
            m,
            vec![
                (Cow::Borrowed("a"), Value::Int(1)),
                (Cow::Borrowed("b"), Value::Float(-2.5)),
                (Cow::Borrowed("c"), s("x\"y\u{e9}\u{1F600}")),
                (
                    Cow::Borrowed("d"),
                    Value::List(vec![Value::Bool(true), Value::Bool(false), Value::Null])
                ),
                (
                    Cow::Borrowed("e"),
                    Value::Map(vec![(Cow::Borrowed("f"), Value::Float(89.58))])
                ),
                (Cow::Borrowed("g"), Value::Int(1000)),
                (Cow::Borrowed("h"), Value::Int(0)),
            ]
        );
    }

    #[test]
    fn decimal_fast_path_matches_the_float_parser() {
        for t in [
            "0.1",
            "89.58",
            "1234.5678",
            "0.000001",
            "19.99",
            "3.14159265358979",
        ] {
            let m = parse_props(&["{\"p\":", t, "}"].concat()).unwrap();
            assert_eq!(m[0].1, Value::Float(t.parse::<f64>().unwrap()), "{t}");
        }
    }

    #[test]
    fn empty_text_is_the_empty_map() {
        assert_eq!(parse_props("").unwrap(), vec![]);
        assert_eq!(parse_props("{}").unwrap(), vec![]);
    }

    #[test]
    fn refuses_non_objects_and_garbage() {
        assert_eq!(parse_props("[1]"), Err(PropsError::NotAnObject));
        assert_eq!(
            parse_props("{\"a\":}"),
            Err(PropsError::Syntax { offset: 5 })
        );
        assert_eq!(
            parse_props("{\"a\":1} x"),
            Err(PropsError::Syntax { offset: 8 })
        );
        assert_eq!(
            parse_props("{\"a\":\"\\q\"}"),
            Err(PropsError::Syntax { offset: 8 })
        );
        assert_eq!(
            parse_props("{\"a\":\"unterminated"),
            Err(PropsError::Syntax { offset: 18 })
        );
        let nest = |n: usize| ["{\"a\":".repeat(n), "1".into(), "}".repeat(n)].concat();
        // The property map and 8 maps inside it: the decoder's limit, accepted.
        assert!(parse_props(&nest(9)).is_ok());
        assert_eq!(
            parse_props(&nest(10)),
            Err(PropsError::TooDeep { max: MAX_DEPTH })
        );
        let deep = nest(20);
        assert_eq!(
            parse_props(&deep),
            Err(PropsError::TooDeep { max: MAX_DEPTH })
        );
    }

    #[test]
    fn lone_surrogate_becomes_replacement_char() {
        let m = parse_props(r#"{"a":"\ud800x"}"#).unwrap();
        assert_eq!(m[0].1, s("\u{FFFD}x"));
    }
}
