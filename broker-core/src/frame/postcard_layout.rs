//! Proof that the payload is postcard: the `Wire*` structs below mirror
//! `FORMAT.md` field for field, a plain reference mapping builds them from
//! a domain frame, and `postcard::to_allocvec` of the result must equal the
//! hand-written encoder's bytes.

use super::wire::{
    as_decimal, SMALL_INTS, SMALL_STRS, STATIC_STRINGS, TAG_DECIMAL, TAG_SMALL_INT, TAG_SMALL_STR,
};
use super::*;
use crate::event::{EventKind, Value};
use serde::ser::{Serialize, Serializer};

#[derive(serde::Serialize)]
struct WireFrame<'a> {
    version: u8,
    flags: u8,
    producer_id: [u8; 8],
    sequence: u64,
    payload: WirePayload<'a>,
    crc: [u8; 4],
}

#[derive(serde::Serialize)]
struct WirePayload<'a> {
    base_time: u64,
    sent_at: i64,
    strings: Vec<&'a str>,
    slices: Vec<WireSlice>,
    context: WireContext,
    events: Vec<WireEvent>,
}

#[derive(serde::Serialize, Debug, PartialEq)]
struct WireSlice {
    position: u32,
    of: u32,
    start: u32,
    len: u32,
}

#[derive(serde::Serialize)]
struct WireContext {
    anonymous_id: u32,
    user_id: Option<u32>,
    session_id: u64,
    origin: u32,
    referrer: u32,
    locale: u32,
    screen_width: u16,
    screen_height: u16,
    timezone: u32,
    library: u32,
    campaign: Vec<(u32, WireValue)>,
}

#[derive(serde::Serialize)]
struct WireEvent {
    kind: u8,
    time: i64,
    name: u32,
    properties: Vec<(u32, WireValue)>,
}

/// A value; its postcard discriminant is the tag of `FORMAT.md`.
enum WireValue {
    Null,
    False,
    True,
    Int(i64),
    Float(f64),
    Str(u32),
    List(Vec<WireValue>),
    Map(Vec<(u32, WireValue)>),
    Decimal { scale: u8, mantissa: i64 },
    SmallInt(u8),
    SmallStr(u8),
}

impl Serialize for WireValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        const N: &str = "WireValue";
        match self {
            WireValue::Null => s.serialize_unit_variant(N, 0, "Null"),
            WireValue::False => s.serialize_unit_variant(N, 1, "False"),
            WireValue::True => s.serialize_unit_variant(N, 2, "True"),
            WireValue::Int(i) => s.serialize_newtype_variant(N, 3, "Int", i),
            WireValue::Float(f) => s.serialize_newtype_variant(N, 4, "Float", f),
            WireValue::Str(i) => s.serialize_newtype_variant(N, 5, "Str", i),
            WireValue::List(l) => s.serialize_newtype_variant(N, 6, "List", l),
            WireValue::Map(m) => s.serialize_newtype_variant(N, 7, "Map", m),
            WireValue::Decimal { scale, mantissa } => {
                s.serialize_newtype_variant(N, u32::from(TAG_DECIMAL + scale), "Decimal", mantissa)
            }
            WireValue::SmallInt(n) => {
                s.serialize_unit_variant(N, u32::from(TAG_SMALL_INT + n), "SmallInt")
            }
            WireValue::SmallStr(i) => {
                s.serialize_unit_variant(N, u32::from(TAG_SMALL_STR + i), "SmallStr")
            }
        }
    }
}

/// The spec's mapping, written plainly (linear search, no shared code with
/// the encoder beyond the decimal test).
#[derive(Default)]
struct Reference<'a> {
    strings: Vec<&'a str>,
}

impl<'a> Reference<'a> {
    fn s(&mut self, x: &'a str) -> u32 {
        if let Some(i) = STATIC_STRINGS.iter().position(|y| *y == x) {
            return i as u32;
        }
        let n = STATIC_STRINGS.len() as u32;
        match self.strings.iter().position(|y| *y == x) {
            Some(i) => n + i as u32,
            None => {
                self.strings.push(x);
                n + self.strings.len() as u32 - 1
            }
        }
    }

    fn map(&mut self, m: &'a Map<'a>) -> Vec<(u32, WireValue)> {
        m.iter().map(|(k, v)| (self.s(k), self.value(v))).collect()
    }

    fn value(&mut self, v: &'a Value<'a>) -> WireValue {
        match v {
            Value::Null => WireValue::Null,
            Value::Bool(false) => WireValue::False,
            Value::Bool(true) => WireValue::True,
            Value::Int(i) if (0..i64::from(SMALL_INTS)).contains(i) => {
                WireValue::SmallInt(*i as u8)
            }
            Value::Int(i) => WireValue::Int(*i),
            Value::Float(f) => match as_decimal(*f) {
                Some((scale, mantissa)) => WireValue::Decimal { scale, mantissa },
                None => WireValue::Float(*f),
            },
            Value::Str(x) => match self.s(x).checked_sub(STATIC_STRINGS.len() as u32) {
                Some(i) if i < u32::from(SMALL_STRS) => WireValue::SmallStr(i as u8),
                _ => WireValue::Str(self.s(x)),
            },
            Value::List(l) => WireValue::List(l.iter().map(|x| self.value(x)).collect()),
            Value::Map(m) => WireValue::Map(self.map(m)),
        }
    }
}

fn postcard_frame(f: &Frame<'_>) -> Vec<u8> {
    let mut r = Reference::default();
    let c = &f.context;
    let context = WireContext {
        anonymous_id: r.s(&c.anonymous_id),
        user_id: c.user_id.as_deref().map(|u| r.s(u)),
        session_id: c.session_id,
        origin: r.s(&c.origin),
        referrer: r.s(&c.referrer),
        locale: r.s(&c.locale),
        screen_width: c.screen_width,
        screen_height: c.screen_height,
        timezone: r.s(&c.timezone),
        library: r.s(&c.library),
        campaign: r.map(&c.campaign),
    };
    let base_time = f.events.first().map_or(0, |e| e.timestamp);
    let mut prev = base_time;
    let events = f
        .events
        .iter()
        .map(|e| {
            let time = e.timestamp.wrapping_sub(prev) as i64;
            prev = e.timestamp;
            WireEvent {
                kind: e.kind.code(),
                time,
                name: r.s(&e.name),
                properties: r.map(&e.properties),
            }
        })
        .collect();
    let (raw, slices) = split_slices(&r.strings);
    let wire = WireFrame {
        version: FORMAT_VERSION,
        flags: 0,
        producer_id: f.producer_id.to_le_bytes(),
        sequence: f.sequence,
        payload: WirePayload {
            base_time,
            sent_at: f.sent_at.wrapping_sub(base_time) as i64,
            strings: raw,
            slices,
            context,
            events,
        },
        crc: [0; 4],
    };
    let mut bytes = postcard::to_allocvec(&wire).expect("postcard serializes the wire structs");
    let body = bytes.len() - 4;
    let crc = super::crc::crc32(&bytes[..body]);
    bytes[body..].copy_from_slice(&crc.to_le_bytes());
    bytes
}

/// The slicing rule of FORMAT.md, written plainly: only in a table of at
/// most 512 bytes of strings, a string of 4+ bytes inside longer ones
/// becomes a slice of the longest (the first among equals), at the first
/// occurrence, if 4 varints are shorter than its raw form.
fn split_slices<'a>(table: &[&'a str]) -> (Vec<&'a str>, Vec<WireSlice>) {
    let vlen = |v: usize| (1..).find(|n| v < 1 << (7 * n)).unwrap_or(10);
    let mut slices = Vec::new();
    if table.iter().map(|s| s.len()).sum::<usize>() <= 512 {
        for (k, s) in table.iter().enumerate() {
            let longest = (0..table.len())
                .filter(|&j| table[j].len() > s.len() && table[j].contains(s))
                .max_by_key(|&j| (table[j].len(), std::cmp::Reverse(j)));
            match longest {
                Some(j) if s.len() >= 4 => {
                    let at = table[j].find(s).expect("contains it");
                    if vlen(k) + vlen(j) + vlen(at) + vlen(s.len()) < vlen(s.len()) + s.len() {
                        slices.push(WireSlice {
                            position: k as u32,
                            of: j as u32,
                            start: at as u32,
                            len: s.len() as u32,
                        });
                    }
                }
                _ => {}
            }
        }
    }
    let raw = (0..table.len())
        .filter(|i| !slices.iter().any(|s| s.position as usize == *i))
        .map(|i| table[i])
        .collect();
    (raw, slices)
}

fn sample_frames() -> Vec<Frame<'static>> {
    let mut props: Map<'static> = vec![
        ("price".into(), Value::Float(89.58)),
        ("sub".into(), Value::Str("/product/p-0191".into())),
        (
            "url".into(),
            Value::Str("https://shop.example/product/p-0191".into()),
        ),
        (
            "title".into(),
            Value::Str("Urban Sunglasses 191 | Example Shop".into()),
        ),
        ("product".into(), Value::Str("Urban Sunglasses 191".into())),
        ("pi".into(), Value::Float(std::f64::consts::PI)),
        ("neg_zero".into(), Value::Float(-0.0)),
        ("whole".into(), Value::Float(3.0)),
        ("small".into(), Value::Int(31)),
        ("not_small".into(), Value::Int(32)),
        ("negative".into(), Value::Int(-1)),
        ("min".into(), Value::Int(i64::MIN)),
        ("null".into(), Value::Null),
        ("yes".into(), Value::Bool(true)),
        ("no".into(), Value::Bool(false)),
        (
            "list".into(),
            Value::List(vec![
                Value::Int(1),
                Value::Str("x".into()),
                Value::List(vec![]),
            ]),
        ),
        (
            "map".into(),
            Value::Map(vec![("k".into(), Value::Map(vec![]))]),
        ),
    ];
    // Enough distinct strings that later indices leave the small-string tags.
    for i in 0..100 {
        props.push((format!("k{i}").into(), Value::Str(format!("v{i}").into())));
    }
    let context = Context {
        anonymous_id: "a-1".into(),
        user_id: Some("u-1".into()),
        session_id: 1 << 40,
        origin: "https://shop.example".into(),
        referrer: "".into(),
        locale: "en-US".into(),
        screen_width: 65_535,
        screen_height: 900,
        timezone: "Europe/Berlin".into(),
        library: "eventstream-js/0.1.0".into(),
        campaign: vec![("utm_source".into(), Value::Str("news".into()))],
    };
    let events = EventKind::ALL
        .iter()
        .enumerate()
        .map(|(i, &kind)| Event {
            kind,
            name: if i == 0 {
                "Product Viewed".into()
            } else {
                "".into()
            },
            // Out of order on purpose: deltas may be negative.
            timestamp: 1_764_000_000_000 + [500, 0, 90_000, 1, 1][i],
            properties: if i == 0 {
                props.clone()
            } else {
                vec![("n".into(), Value::Int(i as i64))]
            },
        })
        .collect();
    // A page view alone: a table small enough for slices.
    let page = Event {
        kind: EventKind::Page,
        name: "Product".into(),
        timestamp: 1_764_000_000_000,
        properties: props[1..5].to_vec(),
    };
    vec![
        Frame {
            producer_id: u64::MAX,
            sequence: 0,
            sent_at: 0,
            context: Context::default(),
            events: vec![],
        },
        Frame {
            producer_id: 42,
            sequence: 1 << 20,
            sent_at: 1_764_000_100_000,
            context: context.clone(),
            events,
        },
        Frame {
            producer_id: 43,
            sequence: 0,
            sent_at: 1_764_000_100_000,
            context,
            events: vec![page],
        },
    ]
}

#[test]
fn encoder_bytes_are_postcard_of_the_wire_structs() {
    for f in sample_frames() {
        let ours = encode(&f).expect("sample frames fit the default limits");
        assert_eq!(ours, postcard_frame(&f));
        assert_eq!(decode(&ours, &Limits::DEFAULT).expect("decodes"), f);
    }
}

#[test]
fn sample_frames_exercise_slices_in_small_tables_only() {
    // The URL carries the path; the title carries the product name.
    let path = b"/product/p-0191";
    let count = |f: &Frame<'_>| {
        let bytes = encode(f).expect("fits");
        bytes.windows(path.len()).filter(|w| w == path).count()
    };
    let frames = sample_frames();
    assert_eq!(
        count(&frames[2]),
        1,
        "the path is sent once, inside the URL"
    );
    assert_eq!(count(&frames[1]), 2, "a large table has no slices");
}
