//! Property tests: arbitrary frames round-trip (plain and deflated), the
//! builder agrees with `encode`, and no input makes the decoder panic.

mod support {
    pub mod frame;
}

use broker_core::event::{Event, EventKind, Map, Value};
use broker_core::frame::{
    self, compress, decode, encode, inflate, Context, Frame, FrameBuilder, Limits,
};
use proptest::prelude::*;
use std::borrow::Cow;
use support::frame::crc32;

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        // Shared strings, so that the table's deduplication is exercised.
        prop::sample::select(vec![
            "",
            "path",
            "/",
            "price",
            "EUR",
            "Product Viewed",
            "é",
            "k",
            "/product/p-0191",
            "https://shop.example/product/p-0191",
            "p-0191",
        ])
        .prop_map(String::from),
        ".{0,12}",
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        (any::<i32>(), 0u32..9).prop_map(|(m, s)| f64::from(m) / 10f64.powi(s as i32)),
        prop::sample::select(vec![
            0.0,
            -0.0,
            1e-310,
            f64::MAX,
            f64::MIN,
            9_007_199_254_740_993.0,
            0.1 + 0.2
        ]),
    ]
}

fn unique(entries: Vec<(String, Value<'static>)>) -> Map<'static> {
    let mut m: Map<'static> = Vec::new();
    for (k, v) in entries {
        if !m.iter().any(|(e, _)| *e == k) {
            m.push((Cow::Owned(k), v));
        }
    }
    m
}

fn value() -> impl Strategy<Value = Value<'static>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-3i64..40).prop_map(Value::Int),
        float().prop_map(Value::Float),
        text().prop_map(|s| Value::Str(Cow::Owned(s))),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::List),
            prop::collection::vec((text(), inner), 0..5).prop_map(|e| Value::Map(unique(e))),
        ]
    })
}

fn map() -> impl Strategy<Value = Map<'static>> {
    prop::collection::vec((text(), value()), 0..7).prop_map(unique)
}

fn event() -> impl Strategy<Value = Event<'static>> {
    (
        0u8..5,
        text(),
        any::<u64>(),
        1_764_000_000_000u64..1_764_100_000_000,
        any::<bool>(),
        map(),
    )
        .prop_map(|(k, name, wild, near, use_wild, properties)| Event {
            kind: EventKind::from_code(k).unwrap_or(EventKind::Track),
            name: Cow::Owned(name),
            timestamp: if use_wild { wild } else { near },
            properties,
        })
}

fn context() -> impl Strategy<Value = Context<'static>> {
    (
        (
            text(),
            prop::option::of(text()),
            any::<u64>(),
            text(),
            text(),
            text(),
        ),
        (any::<u16>(), any::<u16>(), text(), text(), map()),
    )
        .prop_map(
            |((a, u, sid, o, r, l), (w, h, tz, lib, campaign))| Context {
                anonymous_id: a.into(),
                user_id: u.map(Cow::Owned),
                session_id: sid,
                origin: o.into(),
                referrer: r.into(),
                locale: l.into(),
                screen_width: w,
                screen_height: h,
                timezone: tz.into(),
                library: lib.into(),
                campaign,
            },
        )
}

fn frame_strategy() -> impl Strategy<Value = Frame<'static>> {
    (
        any::<u64>(),
        any::<u64>(),
        any::<u64>(),
        context(),
        prop::collection::vec(event(), 0..25),
    )
        .prop_map(|(producer_id, sequence, sent_at, context, events)| Frame {
            producer_id,
            sequence,
            sent_at,
            context,
            events,
        })
}

/// Every float's bits, depth first: `==` on f64 says 0.0 == -0.0.
fn float_bits(v: &Value<'_>, out: &mut Vec<u64>) {
    match v {
        Value::Float(f) => out.push(f.to_bits()),
        Value::List(l) => l.iter().for_each(|x| float_bits(x, out)),
        Value::Map(m) => m.iter().for_each(|(_, x)| float_bits(x, out)),
        _ => {}
    }
}

fn frame_float_bits(f: &Frame<'_>) -> Vec<u64> {
    let mut out = Vec::new();
    let maps = std::iter::once(&f.context.campaign).chain(f.events.iter().map(|e| &e.properties));
    for m in maps {
        m.iter().for_each(|(_, v)| float_bits(v, &mut out));
    }
    out
}

fn assert_borrowed(f: &Frame<'_>) {
    assert!(matches!(f.context.anonymous_id, Cow::Borrowed(_)));
    for e in &f.events {
        assert!(matches!(e.name, Cow::Borrowed(_)));
        assert!(e
            .properties
            .iter()
            .all(|(k, _)| matches!(k, Cow::Borrowed(_))));
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_decode_is_identity(f in frame_strategy()) {
        let bytes = encode(&f).unwrap();
        let back = decode(&bytes, &Limits::DEFAULT).unwrap();
        prop_assert_eq!(&back, &f);
        prop_assert_eq!(frame_float_bits(&back), frame_float_bits(&f));
        assert_borrowed(&back);
        // Canonical: re-encoding what was decoded gives the same bytes.
        prop_assert_eq!(encode(&back).unwrap(), bytes.clone());
        let header = frame::peek(&bytes).unwrap();
        prop_assert_eq!((header.producer_id, header.sequence, header.flags), (f.producer_id, f.sequence, 0));
    }

    #[test]
    fn compress_then_inflate_is_identity(f in frame_strategy()) {
        let bytes = encode(&f).unwrap();
        let packed = compress(&bytes).unwrap();
        prop_assert_eq!(frame::peek(&packed).unwrap().flags, frame::flags::DEFLATE);
        let plain = inflate(&packed, &Limits::DEFAULT).unwrap();
        prop_assert_eq!(&*plain, &bytes[..]);
        prop_assert_eq!(decode(&plain, &Limits::DEFAULT).unwrap(), f);
        // The SDK's path: deflate the payload elsewhere, then seal.
        let deflated = miniz_oxide::deflate::compress_to_vec(frame::payload(&bytes), 1);
        let sealed = frame::seal_compressed(&bytes, &deflated).unwrap();
        prop_assert_eq!(&*inflate(&sealed, &Limits::DEFAULT).unwrap(), &bytes[..]);
    }

    #[test]
    fn builder_matches_encode_and_predicts_its_size(f in frame_strategy()) {
        let mut b = FrameBuilder::new(&f.context);
        for e in &f.events {
            b.push(e).unwrap();
        }
        prop_assert_eq!(b.len(), f.events.len());
        prop_assert_eq!(b.is_empty(), f.events.is_empty());
        let upper = b.encoded_len();
        let exact = b.encoded_len_with(f.sequence, f.sent_at);
        let bytes = b.finish(f.producer_id, f.sequence, f.sent_at);
        prop_assert_eq!(bytes.len(), exact);
        // Slices only shrink the frame below the bound.
        prop_assert!(upper >= exact);
        prop_assert_eq!(bytes, encode(&f).unwrap());
    }

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = decode(&bytes, &Limits::DEFAULT);
        let _ = inflate(&bytes, &Limits::DEFAULT);
        let _ = frame::peek(&bytes);
        let _ = frame::payload(&bytes);
        let _ = compress(&bytes);
        let _ = frame::seal_compressed(&bytes, &bytes);
    }

    /// Mutations of valid frames with the CRC fixed up, so that they reach
    /// the payload parser instead of stopping at the checksum.
    #[test]
    fn mutated_frames_never_panic(
        f in frame_strategy(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..6),
        deflate in any::<bool>(),
    ) {
        let plain = encode(&f).unwrap();
        let mut bytes = if deflate { compress(&plain).unwrap() } else { plain };
        for (at, byte, op) in edits {
            let body = bytes.len() - 4;
            let i = at.index(body);
            match op {
                0 => bytes[i] = byte,
                1 => { bytes.insert(i, byte); }
                _ => { bytes.remove(i.max(2)); }
            }
        }
        let body = bytes.len() - 4;
        let crc = crc32(&bytes[..body]);
        bytes[body..].copy_from_slice(&crc.to_le_bytes());
        let small = Limits { max_inflated_bytes: 2_000, max_depth: 2, max_properties: 3, ..Limits::DEFAULT };
        for limits in [Limits::DEFAULT, small] {
            if let Ok(plain) = inflate(&bytes, &limits) {
                if let Ok(back) = decode(&plain, &limits) {
                    // Whatever decodes re-encodes and decodes the same.
                    if let Ok(again) = encode(&back) {
                        prop_assert_eq!(decode(&again, &Limits::DEFAULT).unwrap(), back);
                    }
                }
            }
        }
    }
}

#[test]
fn a_failed_push_then_a_new_frame_loses_nothing() {
    // The SDK's loop: push until Full, finish, start a new frame with the event.
    let limits = Limits {
        max_frame_bytes: 300,
        ..Limits::DEFAULT
    };
    let ctx = Context {
        anonymous_id: "a".into(),
        ..Context::default()
    };
    let events: Vec<Event<'static>> = (0..50u64)
        .map(|i| Event {
            kind: EventKind::Track,
            name: format!("e{}", i % 7).into(),
            timestamp: 1_764_000_000_000 + i * 250,
            properties: vec![
                ("i".into(), Value::Int(i as i64)),
                ("s".into(), Value::Str(format!("s{i}").into())),
            ],
        })
        .collect();
    let mut frames = Vec::new();
    let mut b = FrameBuilder::with_limits(&ctx, &limits);
    for e in &events {
        if let Err(err) = b.push(e) {
            assert_eq!(err.code(), 22, "{err}");
            let full = std::mem::replace(&mut b, FrameBuilder::with_limits(&ctx, &limits));
            frames.push(full.finish(9, frames.len() as u64, e.timestamp));
            b.push(e).unwrap();
        }
    }
    frames.push(b.finish(9, frames.len() as u64, 0));
    assert!(frames.len() > 3);
    let mut back = Vec::new();
    for (seq, bytes) in frames.iter().enumerate() {
        assert!(bytes.len() <= 300);
        let f = decode(bytes, &limits).unwrap();
        assert_eq!(f.sequence, seq as u64);
        back.extend(f.events.into_iter().map(Event::into_owned));
    }
    assert_eq!(back, events);
}

#[test]
fn oversized_context_is_fitted_by_new_and_refused_by_try() {
    let long = "é".repeat(5_000); // 10,000 bytes
    let ctx = Context {
        anonymous_id: long.clone().into(),
        campaign: vec![
            ("utm_source".into(), Value::Float(f64::INFINITY)),
            ("utm_source".into(), Value::Null),
            (
                "deep".into(),
                (0..10).fold(Value::Null, |v, _| Value::List(vec![v])),
            ),
        ],
        ..Context::default()
    };
    assert_eq!(
        FrameBuilder::try_with_limits(&ctx, &Limits::DEFAULT)
            .map(|_| ())
            .map_err(|e| e.code()),
        Err(23)
    );
    let b = FrameBuilder::new(&ctx);
    let bytes = b.finish(1, 2, 3);
    let f = decode(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(f.context.anonymous_id.len(), 8_192);
    assert_eq!(f.context.anonymous_id, "é".repeat(4_096));
    let deep_kept = (0..8).fold(Value::Null, |v, _| Value::List(vec![v]));
    assert_eq!(
        f.context.campaign,
        vec![
            ("utm_source".into(), Value::Null),
            ("deep".into(), deep_kept)
        ]
    );
}
