//! Unit tests of the codec; proptests, golden frames and error cases live
//! in `broker-core/tests/frame_*.rs`.

use super::*;
use crate::event::{EventKind, Value};

fn ctx() -> Context<'static> {
    Context {
        anonymous_id: "73cb6eb1-a44e-4454-af9f-1a3bbbfebbdb".into(),
        user_id: None,
        session_id: 3,
        origin: "https://shop.example".into(),
        referrer: "".into(),
        locale: "en-US".into(),
        screen_width: 1440,
        screen_height: 900,
        timezone: "Europe/Berlin".into(),
        library: "eventstream-js/0.1.0".into(),
        campaign: vec![("utm_source".into(), Value::Str("hn".into()))],
    }
}

fn ev(kind: EventKind, name: &'static str, t: u64, props: Map<'static>) -> Event<'static> {
    Event {
        kind,
        name: name.into(),
        timestamp: t,
        properties: props,
    }
}

#[test]
fn round_trips_a_small_frame() {
    let f = Frame {
        producer_id: 0xdead_beef_cafe_f00d,
        sequence: 300,
        sent_at: 1_764_000_020_000,
        context: ctx(),
        events: vec![
            ev(
                EventKind::Page,
                "Home",
                1_764_000_011_223,
                vec![("path".into(), Value::Str("/".into()))],
            ),
            ev(
                EventKind::Track,
                "Product Viewed",
                1_764_000_017_274,
                vec![
                    ("price".into(), Value::Float(89.58)),
                    ("qty".into(), Value::Int(2)),
                    ("big".into(), Value::Int(-70_000)),
                    ("neg0".into(), Value::Float(-0.0)),
                    ("pi".into(), Value::Float(std::f64::consts::PI)),
                    (
                        "tags".into(),
                        Value::List(vec![Value::Null, Value::Bool(true), Value::Str("/".into())]),
                    ),
                    (
                        "nested".into(),
                        Value::Map(vec![("a".into(), Value::Bool(false))]),
                    ),
                ],
            ),
            ev(EventKind::Click, "", 1_764_000_017_000, vec![]),
        ],
    };
    let bytes = encode(&f).unwrap();
    let back = decode(&bytes, &Limits::DEFAULT).unwrap();
    assert_eq!(back, f);
    let Value::Float(z) = back.events[1].properties[3].1 else {
        panic!("not a float")
    };
    assert_eq!(z.to_bits(), (-0.0f64).to_bits());
    assert_eq!(
        peek(&bytes).unwrap(),
        Header {
            version: 1,
            flags: 0,
            producer_id: 0xdead_beef_cafe_f00d,
            sequence: 300
        }
    );
    let packed = compress(&bytes).unwrap();
    assert_eq!(peek(&packed).unwrap().flags, flags::DEFLATE);
    assert_eq!(
        decode(&packed, &Limits::DEFAULT),
        Err(FrameError::Compressed)
    );
    let plain = inflate(&packed, &Limits::DEFAULT).unwrap();
    assert_eq!(&*plain, &bytes[..]);
}

#[test]
fn encoded_len_bounds_finish_and_encoded_len_with_is_exact() {
    let mut b = FrameBuilder::new(&ctx());
    for i in 0..30u64 {
        let before = b.encoded_len();
        b.push(&ev(
            EventKind::Track,
            "Added",
            1_764_000_000_000 + i * 1000,
            vec![("i".into(), Value::Int(i as i64))],
        ))
        .unwrap();
        assert!(b.encoded_len() > before);
    }
    let exact = b.encoded_len_with(5, 1_764_000_040_000);
    let upper = b.encoded_len();
    let bytes = b.finish(1, 5, 1_764_000_040_000);
    assert_eq!(bytes.len(), exact);
    // sequence 5 takes 1 byte, the sent_at delta 80_000 (zigzag) 3: 20 - 4.
    assert_eq!(upper - exact, 16);
}

#[test]
fn format_md_lists_the_static_strings_in_order() {
    let doc = include_str!("FORMAT.md");
    for (i, s) in wire::STATIC_STRINGS.iter().enumerate() {
        let shown = if s.is_empty() { "\"\"" } else { s };
        let cell = format!("{i:2} {shown}");
        let found = doc.lines().any(|l| {
            l.match_indices(&cell)
                .any(|(at, _)| matches!(l.as_bytes().get(at + cell.len()), None | Some(b' ')))
        });
        assert!(found, "FORMAT.md lacks static string {i} {s:?}");
    }
}
