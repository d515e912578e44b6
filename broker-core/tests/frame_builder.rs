//! The builder's refusals: `Full` (finish and start a new frame), the
//! limits an empty frame cannot meet, and events no frame can carry. A
//! failed push leaves the builder unchanged.

mod support {
    pub mod frame;
}

use broker_core::event::{Event, EventKind, Value};
use broker_core::frame::{decode, Context, FrameBuilder, FrameError, Limits, Unencodable};
use support::frame::check;

const L: Limits = Limits::DEFAULT;

fn small_event(i: u64) -> Event<'static> {
    Event {
        kind: EventKind::Click,
        name: "".into(),
        timestamp: 1_764_000_000_000 + i,
        properties: vec![],
    }
}

#[test]
fn full() {
    let limits = Limits {
        max_frame_bytes: 60,
        ..Limits::DEFAULT
    };
    let mut b = FrameBuilder::with_limits(&Context::default(), &limits);
    let mut pushed = 0;
    let err = loop {
        match b.push(&small_event(pushed)) {
            Ok(()) => pushed += 1,
            Err(e) => break e,
        }
    };
    let len = b.encoded_len();
    assert_eq!(b.len(), pushed as usize);
    assert_eq!(
        err,
        FrameError::Full {
            events: pushed as usize,
            len: len + 4,
            max: 60
        }
    );
    assert_eq!((err.code(), err.name()), (22, "full"));
    assert!(len <= 60);
    // sent_at - base_time = 2^62: zigzag 2^63, a 10-byte varint.
    let bytes = b.finish(u64::MAX, u64::MAX, 1_764_000_000_000 + (1 << 62));
    assert_eq!(
        bytes.len(),
        len,
        "with 10-byte sequence and sent_at, encoded_len is exact"
    );
    assert_eq!(decode(&bytes, &L).unwrap().events.len(), pushed as usize);

    let limits = Limits {
        max_events: 2,
        ..Limits::DEFAULT
    };
    let mut b = FrameBuilder::with_limits(&Context::default(), &limits);
    b.push(&small_event(0)).unwrap();
    b.push(&small_event(1)).unwrap();
    assert_eq!(b.push(&small_event(2)).map_err(|e| e.code()), Err(22));

    // An event no frame of this size can hold.
    let limits = Limits {
        max_frame_bytes: 30,
        ..Limits::DEFAULT
    };
    let mut b = FrameBuilder::with_limits(&Context::default(), &limits);
    check(
        b.push(&small_event(0)),
        FrameError::FrameTooLarge { len: 58, max: 30 },
        11,
        "frame_too_large",
    );
}

#[test]
fn unencodable() {
    let mut b = FrameBuilder::new(&Context::default());
    b.push(&small_event(0)).unwrap();
    let before = b.clone().finish(1, 1, 1);
    let bad = |props| Event {
        properties: props,
        ..small_event(1)
    };
    let cases: Vec<(Event<'static>, Unencodable, &str)> = vec![
        (
            bad(vec![("f".into(), Value::Float(f64::NAN))]),
            Unencodable::NonFiniteFloat,
            "float is NaN or infinite",
        ),
        (
            bad(vec![("f".into(), Value::Null), ("f".into(), Value::Null)]),
            Unencodable::DuplicateKey,
            "a map has a repeated key",
        ),
        (
            bad(vec![("s".into(), Value::Str("x".repeat(8_193).into()))]),
            Unencodable::StringTooLong,
            "a string is longer than max_string_bytes",
        ),
        (
            bad(vec![("l".into(), Value::List(vec![Value::Null; 257]))]),
            Unencodable::TooManyEntries,
            "a map or list has more than max_properties entries",
        ),
        (
            bad(vec![(
                "d".into(),
                (0..9).fold(Value::Null, |v, _| Value::List(vec![v])),
            )]),
            Unencodable::TooDeep,
            "lists and maps nest deeper than max_depth",
        ),
    ];
    for (event, reason, text) in cases {
        assert_eq!(reason.as_str(), text);
        assert_eq!(
            FrameError::Unencodable { reason }.to_string(),
            format!("cannot encode: {text}")
        );
        check(
            b.push(&event),
            FrameError::Unencodable { reason },
            23,
            "unencodable",
        );
        assert_eq!(b.len(), 1);
        assert_eq!(
            b.clone().finish(1, 1, 1),
            before,
            "a failed push leaves the builder unchanged"
        );
    }
    // Depth 8 is within the limit.
    b.push(&bad(vec![(
        "d".into(),
        (0..8).fold(Value::Null, |v, _| Value::List(vec![v])),
    )]))
    .unwrap();
}
