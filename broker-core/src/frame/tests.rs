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

/// Frames of `sizes[i]` events, event `j` with `j % 5` properties (a nested
/// map and a list among them), as the encoder writes them.
fn frames_of(sizes: &[usize]) -> Vec<Vec<u8>> {
    sizes
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut b = FrameBuilder::new(&ctx());
            for j in 0..n {
                let mut props: Map<'static> = Vec::new();
                for k in 0..j % 5 {
                    let v = match k {
                        0 => Value::Int(j as i64),
                        1 => Value::Str(format!("item-{i}-{j}").into()),
                        2 => Value::Map(vec![("inner".into(), Value::Float(0.5))]),
                        3 => Value::List(vec![Value::Bool(true), Value::Null]),
                        _ => Value::Str("x".into()),
                    };
                    props.push((format!("k{k}").into(), v));
                }
                b.push(&ev(
                    EventKind::Track,
                    "Product Viewed",
                    1_000 + j as u64,
                    props,
                ))
                .expect("fits");
            }
            b.finish(7, i as u64, 2_000)
        })
        .collect()
}

#[test]
fn decoding_with_reused_vectors_gives_the_same_frames() {
    // Larger frames, then smaller, then larger again: maps reused from a
    // frame with more properties per event, and from fewer.
    let frames = frames_of(&[20, 3, 0, 1, 20, 12, 40, 2]);
    let mut reuse = Reuse::default();
    for bytes in &frames {
        let fresh = decode(bytes, &Limits::DEFAULT).expect("decodes");
        let reused = decode_reusing(bytes, &Limits::DEFAULT, &mut reuse).expect("decodes");
        assert_eq!(reused, fresh);
        reuse.recycle(reused);
    }
    // A frame that fails to decode leaves the next one unharmed.
    let mut bad = frames[0].clone();
    bad.truncate(bad.len() - 9);
    assert!(decode_reusing(&bad, &Limits::DEFAULT, &mut reuse).is_err());
    let again = decode_reusing(&frames[5], &Limits::DEFAULT, &mut reuse).expect("decodes");
    assert_eq!(
        again,
        decode(&frames[5], &Limits::DEFAULT).expect("decodes")
    );
}

#[test]
fn recycling_keeps_the_vectors_allocations() {
    let frames = frames_of(&[20]);
    let mut reuse = Reuse::default();
    let f = decode_reusing(&frames[0], &Limits::DEFAULT, &mut reuse).expect("decodes");
    let events = f.events.as_ptr() as usize;
    reuse.recycle(f);
    // A map for each event that had properties (16 of the 20).
    assert_eq!(reuse.maps.len(), 16);
    // The events' vector comes back with its allocation; the maps are
    // handed out again (to the first 16 events, whatever their size).
    let f = decode_reusing(&frames[0], &Limits::DEFAULT, &mut reuse).expect("decodes");
    assert_eq!(f.events.as_ptr() as usize, events);
    assert!(reuse.maps.is_empty());
    reuse.recycle(f);
    assert_eq!(reuse.maps.len(), 20);
}
