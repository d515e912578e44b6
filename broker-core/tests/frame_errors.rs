//! One test per `FrameError` variant: hand-made bytes that must fail with
//! exactly that variant, fields and code.

mod support {
    pub mod frame;
}

use broker_core::event::{Event, EventKind, Value};
use broker_core::frame::{
    self, compress, decode, encode, inflate, seal_compressed, Context, Frame, FrameError, Limits,
};
use std::borrow::Cow;
use support::frame::{check, crc32};

/// Header (version 1, flags, producer id 7, sequence 0), then `payload`,
/// then a correct CRC. The payload starts at byte 11.
fn raw(flags: u8, payload: &[u8]) -> Vec<u8> {
    let mut b = vec![1, flags, 7, 0, 0, 0, 0, 0, 0, 0, 0];
    b.extend_from_slice(payload);
    let crc = crc32(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    b
}

fn frame(payload: &[u8]) -> Vec<u8> {
    raw(0, payload)
}

/// base_time 0, sent_at 0, string table ["" + extra], no slices, then a
/// context of string 0, zeros and an empty campaign: 16 bytes + the extra
/// strings.
fn prefix(extra: &[&str]) -> Vec<u8> {
    let mut p = vec![0, 0, 1 + extra.len() as u8, 0];
    for s in extra {
        p.push(s.len() as u8);
        p.extend_from_slice(s.as_bytes());
    }
    p.push(0); // no slices
    p.extend_from_slice(&[0; 11]);
    p
}

/// The first frame string's reference (static strings come first).
const FIRST: u8 = 62;
/// References of "k" and "j" in [`one_event`].
const K: u8 = FIRST + 1;
const J: u8 = FIRST + 2;

/// A payload with one track event named "" whose property map is `map`
/// (count and entries); the frame's strings are "", "k", "j".
fn one_event(map: &[u8]) -> Vec<u8> {
    let mut p = prefix(&["k", "j"]);
    p.extend_from_slice(&[1, 0, 0, 0]); // 1 event: kind track, dt 0, name ""
    p.extend_from_slice(map);
    p
}

const L: Limits = Limits::DEFAULT;

#[test]
fn minimal_hand_made_frame_decodes() {
    // No frame strings: "" is static reference 0.
    let mut p = vec![0, 0, 0, 0];
    p.extend_from_slice(&[0; 11]);
    p.push(0); // no events
    let bytes = frame(&p);
    let f = decode(&bytes, &L).unwrap();
    assert_eq!(f.producer_id, 7);
    assert_eq!(f.context, Context::default());
    assert!(f.events.is_empty());
    assert_eq!(
        frame(&p),
        encode(&Frame {
            producer_id: 7,
            sequence: 0,
            sent_at: 0,
            context: Context::default(),
            events: vec![]
        })
        .unwrap()
    );
}

#[test]
fn truncated() {
    check(
        decode(&[1, 0, 0], &L),
        FrameError::Truncated {
            offset: 0,
            need: 15,
            have: 3,
        },
        1,
        "truncated",
    );
    // base_time's varint says "more" and the payload ends.
    check(
        decode(&frame(&[0x80]), &L),
        FrameError::Truncated {
            offset: 11,
            need: 2,
            have: 1,
        },
        1,
        "truncated",
    );
    // A float cut short: tag 4 then 3 of its 8 bytes.
    check(
        decode(&frame(&one_event(&[1, K, 4, 1, 2, 3])), &L),
        FrameError::Truncated {
            offset: 38,
            need: 8,
            have: 3,
        },
        1,
        "truncated",
    );
}

#[test]
fn trailing_bytes() {
    let mut p = prefix(&[]);
    p.extend_from_slice(&[0, 9, 9]);
    check(
        decode(&frame(&p), &L),
        FrameError::TrailingBytes {
            offset: 28,
            extra: 2,
        },
        2,
        "trailing_bytes",
    );
}

#[test]
fn unknown_version() {
    let mut f = frame(&prefix(&[]));
    f[0] = 2;
    check(
        decode(&f, &L),
        FrameError::UnknownVersion { version: 2 },
        3,
        "unknown_version",
    );
    check(
        frame::peek(&[0]),
        FrameError::UnknownVersion { version: 0 },
        3,
        "unknown_version",
    );
}

#[test]
fn unknown_flags() {
    let mut p = prefix(&[]);
    p.push(0);
    check(
        decode(&raw(0x82, &p), &L),
        FrameError::UnknownFlags { flags: 0x82 },
        4,
        "unknown_flags",
    );
}

#[test]
fn bad_varint() {
    // Over-long zero.
    check(
        decode(&frame(&[0x80, 0x00]), &L),
        FrameError::BadVarint { offset: 11 },
        5,
        "bad_varint",
    );
    // Eleven bytes: past 64 bits.
    let mut p = vec![0xff; 9];
    p.push(0x02);
    check(
        decode(&frame(&p), &L),
        FrameError::BadVarint { offset: 11 },
        5,
        "bad_varint",
    );
    // screen_width 65,536 does not fit a u16.
    let mut p = vec![0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x80, 0x80, 0x04];
    p.extend_from_slice(&[0; 5]);
    check(
        decode(&frame(&p), &L),
        FrameError::BadVarint { offset: 22 },
        5,
        "bad_varint",
    );
}

#[test]
fn length_past_end() {
    // A string count of 10^9 with 3 bytes left: fails before allocating.
    let mut p = vec![0, 0];
    p.extend_from_slice(&[0x80, 0x94, 0xeb, 0xdc, 0x03]); // 1_000_000_000
    p.extend_from_slice(&[1, 2, 3]);
    check(
        decode(&frame(&p), &L),
        FrameError::LengthPastEnd {
            offset: 13,
            len: 1_000_000_000,
            have: 3,
        },
        6,
        "length_past_end",
    );
    // A string of 5 bytes with 2 left.
    check(
        decode(&frame(&[0, 0, 1, 5, b'a', b'b']), &L),
        FrameError::LengthPastEnd {
            offset: 14,
            len: 5,
            have: 2,
        },
        6,
        "length_past_end",
    );
}

#[test]
fn too_deep() {
    // Nine lists in a row, each holding the next: depth 9 > 8.
    let mut map = vec![1, K];
    map.extend_from_slice(&[6, 1].repeat(9));
    map.push(0);
    let limits = Limits::DEFAULT;
    check(
        decode(&frame(&one_event(&map)), &limits),
        FrameError::TooDeep { offset: 53, max: 8 },
        7,
        "too_deep",
    );
    // Eight is fine.
    let mut map = vec![1, K];
    map.extend_from_slice(&[6, 1].repeat(8));
    map.push(0);
    assert!(decode(&frame(&one_event(&map)), &limits).is_ok());
}

#[test]
fn too_many_events() {
    let mut p = prefix(&[]);
    p.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 0, 0]);
    let limits = Limits {
        max_events: 1,
        ..Limits::DEFAULT
    };
    check(
        decode(&frame(&p), &limits),
        FrameError::TooManyEvents { count: 2, max: 1 },
        8,
        "too_many_events",
    );
}

#[test]
fn too_many_properties() {
    let limits = Limits {
        max_properties: 1,
        ..Limits::DEFAULT
    };
    check(
        decode(&frame(&one_event(&[2, K, 0, J, 0])), &limits),
        FrameError::TooManyProperties {
            offset: 35,
            count: 2,
            max: 1,
        },
        9,
        "too_many_properties",
    );
}

#[test]
fn string_too_long() {
    let limits = Limits {
        max_string_bytes: 3,
        ..Limits::DEFAULT
    };
    check(
        decode(&frame(&[0, 0, 1, 4, b'a', b'b', b'c', b'd']), &limits),
        FrameError::StringTooLong {
            offset: 14,
            len: 4,
            max: 3,
        },
        10,
        "string_too_long",
    );
}

#[test]
fn frame_too_large() {
    let mut p = prefix(&[]);
    p.push(0);
    let f = frame(&p);
    let limits = Limits {
        max_frame_bytes: 20,
        max_inflated_bytes: 10,
        ..Limits::DEFAULT
    };
    check(
        decode(&f, &limits),
        FrameError::FrameTooLarge { len: 32, max: 20 },
        11,
        "frame_too_large",
    );
    check(
        inflate(&f, &limits),
        FrameError::FrameTooLarge { len: 32, max: 20 },
        11,
        "frame_too_large",
    );
}

fn big_frame() -> Vec<u8> {
    let e = Event {
        kind: EventKind::Track,
        name: "x".into(),
        timestamp: 1,
        properties: vec![(Cow::Borrowed("zeros"), Value::Str("0".repeat(8_000).into()))],
    };
    encode(&Frame {
        producer_id: 1,
        sequence: 0,
        sent_at: 1,
        context: Context::default(),
        events: vec![e],
    })
    .unwrap()
}

#[test]
fn inflated_too_large() {
    let packed = compress(&big_frame()).unwrap();
    assert!(
        packed.len() < 100,
        "8,000 zeros deflate to a few dozen bytes"
    );
    let limits = Limits {
        max_inflated_bytes: 4_096,
        ..Limits::DEFAULT
    };
    check(
        inflate(&packed, &limits),
        FrameError::InflatedTooLarge { max: 4_096 },
        12,
        "inflated_too_large",
    );
    assert!(inflate(&packed, &Limits::DEFAULT).is_ok());
}

#[test]
fn checksum() {
    let mut p = prefix(&[]);
    p.push(0);
    let mut f = frame(&p);
    let good = crc32(&f[..f.len() - 4]);
    f[12] ^= 0x40; // sent_at 0 -> 64
    let actual = crc32(&f[..f.len() - 4]);
    check(
        decode(&f, &L),
        FrameError::Checksum {
            expected: good,
            actual,
        },
        13,
        "checksum",
    );
    check(
        inflate(&f, &L),
        FrameError::Checksum {
            expected: good,
            actual,
        },
        13,
        "checksum",
    );
}

#[test]
fn bad_utf8() {
    check(
        decode(&frame(&[0, 0, 1, 2, 0xc3, 0x28]), &L),
        FrameError::BadUtf8 { offset: 15 },
        14,
        "bad_utf8",
    );
}

#[test]
fn bad_utf8_comes_before_a_later_truncated_string() {
    // "ab", then 0xc3 0x28 (payload offset 7), then 9 bytes of which 2 are there.
    check(
        decode(
            &frame(&[0, 0, 3, 2, b'a', b'b', 2, 0xc3, 0x28, 9, b'x', b'y']),
            &L,
        ),
        FrameError::BadUtf8 { offset: 18 },
        14,
        "bad_utf8",
    );
}

#[test]
fn a_string_that_is_utf8_only_with_the_next_length_is_refused() {
    // The string 0xc3 (payload offset 4), then a string of 128 bytes, whose
    // length varint is 0x80 0x01: the run reads 0xc3 0x80 as "À", valid as
    // a whole, but the first string alone cuts that character.
    let mut p = vec![0, 0, 2, 1, 0xc3, 0x80, 0x01];
    p.extend_from_slice(&[b'a'; 128]);
    p.push(0); // no slices
    p.extend_from_slice(&[0; 11]);
    p.push(0); // no events
    check(
        decode(&frame(&p), &L),
        FrameError::BadUtf8 { offset: 15 },
        14,
        "bad_utf8",
    );
}

#[test]
fn strings_of_every_width_and_length_decode() {
    // Multi-byte characters (the run is checked at once) and a string of
    // 300 bytes (its length varint is not ASCII: checked one by one).
    let long = "ü".repeat(150);
    for (name, prop) in [("café", "日本"), ("café", long.as_str()), ("a", "b")] {
        let f = Frame {
            producer_id: 7,
            sequence: 0,
            sent_at: 0,
            context: Context {
                anonymous_id: Cow::Borrowed("visitor-ñ"),
                ..Context::default()
            },
            events: vec![Event {
                kind: EventKind::Track,
                name: Cow::Borrowed(name),
                timestamp: 5,
                properties: vec![(Cow::Borrowed("k"), Value::Str(Cow::Borrowed(prop)))],
            }],
        };
        let bytes = encode(&f).unwrap();
        assert_eq!(decode(&bytes, &L).unwrap(), f, "{name} {prop}");
    }
}

#[test]
fn bad_string_index() {
    // The context's anonymous_id refers to frame string 1 of a 1-string table.
    let mut p = prefix(&[]);
    p[5] = 63;
    check(
        decode(&frame(&p), &L),
        FrameError::BadStringIndex {
            offset: 16,
            index: 63,
            count: 63,
        },
        15,
        "bad_string_index",
    );
    // A small-string tag past the table.
    check(
        decode(&frame(&one_event(&[1, 1, 48 + 3])), &L),
        FrameError::BadStringIndex {
            offset: 37,
            index: 65,
            count: 65,
        },
        15,
        "bad_string_index",
    );
}

#[test]
fn unknown_event_kind() {
    let mut p = prefix(&[]);
    p.extend_from_slice(&[1, 5, 0, 0, 0]);
    check(
        decode(&frame(&p), &L),
        FrameError::UnknownEventKind {
            offset: 28,
            code: 5,
        },
        16,
        "unknown_event_kind",
    );
}

#[test]
fn unknown_value_tag() {
    check(
        decode(&frame(&one_event(&[1, K, 200])), &L),
        FrameError::UnknownValueTag {
            offset: 37,
            tag: 200,
        },
        17,
        "unknown_value_tag",
    );
    // The context's user_id option tag must be 0 or 1.
    let mut p = prefix(&[]);
    p[6] = 2;
    check(
        decode(&frame(&p), &L),
        FrameError::UnknownValueTag { offset: 17, tag: 2 },
        17,
        "unknown_value_tag",
    );
}

#[test]
fn duplicate_key() {
    // Same index twice.
    check(
        decode(&frame(&one_event(&[2, K, 0, K, 0])), &L),
        FrameError::DuplicateKey {
            offset: 38,
            key: "k".into(),
        },
        18,
        "duplicate_key",
    );
    // Two table entries with the same text are the same key.
    let mut p = prefix(&["k", "k"]);
    p.extend_from_slice(&[1, 0, 0, 0, 2, K, 0, J, 0]);
    check(
        decode(&frame(&p), &L),
        FrameError::DuplicateKey {
            offset: 38,
            key: "k".into(),
        },
        18,
        "duplicate_key",
    );
}

#[test]
fn duplicate_key_in_a_large_map() {
    // 20 entries (sorted check, not pairwise): keys 0..19 of a table of
    // "", "s1".."s19", then key 5 again in place of the last.
    let names: Vec<String> = (1..20).map(|i| format!("s{i}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut p = prefix(&refs);
    p.extend_from_slice(&[1, 0, 0, 0, 20]);
    let mut dup_offset = 0;
    for i in 0..20u8 {
        if i == 19 {
            dup_offset = 11 + p.len();
        }
        p.extend_from_slice(&[FIRST + if i == 19 { 5 } else { i }, 0]);
    }
    check(
        decode(&frame(&p), &L),
        FrameError::DuplicateKey {
            offset: dup_offset,
            key: "s5".into(),
        },
        18,
        "duplicate_key",
    );
}

#[test]
fn non_finite_float() {
    let mut map = vec![1, K, 4];
    map.extend_from_slice(&f64::NAN.to_le_bytes());
    check(
        decode(&frame(&one_event(&map)), &L),
        FrameError::NonFiniteFloat { offset: 37 },
        19,
        "non_finite_float",
    );
    let mut map = vec![1, K, 4];
    map.extend_from_slice(&f64::NEG_INFINITY.to_le_bytes());
    check(
        decode(&frame(&one_event(&map)), &L),
        FrameError::NonFiniteFloat { offset: 37 },
        19,
        "non_finite_float",
    );
}

#[test]
fn compressed() {
    let packed = compress(&big_frame()).unwrap();
    check(
        decode(&packed, &L),
        FrameError::Compressed,
        20,
        "compressed",
    );
    check(compress(&packed), FrameError::Compressed, 20, "compressed");
    check(
        seal_compressed(&packed, &[3, 0]),
        FrameError::Compressed,
        20,
        "compressed",
    );
}

#[test]
fn deflate() {
    let plain = big_frame();
    let garbage = seal_compressed(&plain, &[0xff, 0xff, 0xff]).unwrap();
    check(
        inflate(&garbage, &L),
        FrameError::Deflate {
            reason: "the deflate stream is invalid",
        },
        21,
        "deflate",
    );
    let deflated = miniz_oxide::deflate::compress_to_vec(frame::payload(&plain), 6);
    let cut = seal_compressed(&plain, &deflated[..deflated.len() / 2]).unwrap();
    check(
        inflate(&cut, &L),
        FrameError::Deflate {
            reason: "the deflate stream is truncated",
        },
        21,
        "deflate",
    );
    let mut extra = deflated.clone();
    extra.push(0);
    let extra = seal_compressed(&plain, &extra).unwrap();
    check(
        inflate(&extra, &L),
        FrameError::Deflate {
            reason: "bytes after the end of the deflate stream",
        },
        21,
        "deflate",
    );
    let good = seal_compressed(&plain, &deflated).unwrap();
    assert_eq!(&*inflate(&good, &L).unwrap(), &plain[..]);
}

#[test]
fn codes_and_names_are_unique() {
    let all = [
        FrameError::Truncated {
            offset: 0,
            need: 0,
            have: 0,
        },
        FrameError::TrailingBytes {
            offset: 0,
            extra: 0,
        },
        FrameError::UnknownVersion { version: 0 },
        FrameError::UnknownFlags { flags: 0 },
        FrameError::BadVarint { offset: 0 },
        FrameError::LengthPastEnd {
            offset: 0,
            len: 0,
            have: 0,
        },
        FrameError::TooDeep { offset: 0, max: 0 },
        FrameError::TooManyEvents { count: 0, max: 0 },
        FrameError::TooManyProperties {
            offset: 0,
            count: 0,
            max: 0,
        },
        FrameError::StringTooLong {
            offset: 0,
            len: 0,
            max: 0,
        },
        FrameError::FrameTooLarge { len: 0, max: 0 },
        FrameError::InflatedTooLarge { max: 0 },
        FrameError::Checksum {
            expected: 0,
            actual: 0,
        },
        FrameError::BadUtf8 { offset: 0 },
        FrameError::BadStringIndex {
            offset: 0,
            index: 0,
            count: 0,
        },
        FrameError::UnknownEventKind { offset: 0, code: 0 },
        FrameError::UnknownValueTag { offset: 0, tag: 0 },
        FrameError::DuplicateKey {
            offset: 0,
            key: String::new(),
        },
        FrameError::NonFiniteFloat { offset: 0 },
        FrameError::Compressed,
        FrameError::Deflate { reason: "" },
        FrameError::Full {
            events: 0,
            len: 0,
            max: 0,
        },
        FrameError::Unencodable {
            reason: frame::Unencodable::DuplicateKey,
        },
        FrameError::BadSlice { offset: 0 },
        FrameError::BundleTooLarge { len: 0, max: 0 },
        FrameError::BundleFrames { count: 0, max: 0 },
    ];
    let codes: Vec<u16> = all.iter().map(FrameError::code).collect();
    assert_eq!(codes, (1..=26).collect::<Vec<u16>>());
    let mut names: Vec<&str> = all.iter().map(FrameError::name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), all.len());
    let format = include_str!("../src/frame/FORMAT.md");
    for e in &all {
        let row = format!("| {} | `{}` |", e.code(), e.name());
        assert!(format.contains(&row), "FORMAT.md lacks the row {row}");
    }
}

/// A payload whose table is `raw` plus `slices` (position, of, start, len),
/// whose anonymous_id is frame string 0, with no events.
fn sliced(raw: &[&str], slices: &[[u8; 4]]) -> Vec<u8> {
    let mut p = vec![0, 0, raw.len() as u8];
    for s in raw {
        p.push(s.len() as u8);
        p.extend_from_slice(s.as_bytes());
    }
    p.push(slices.len() as u8);
    for s in slices {
        p.extend_from_slice(s);
    }
    p.push(FIRST); // anonymous_id
    p.extend_from_slice(&[0; 10]);
    p.push(0); // no events
    frame(&p)
}

#[test]
fn slices_decode_borrowed() {
    let bytes = sliced(&["abcdef"], &[[0, 1, 1, 3]]);
    let f = decode(&bytes, &L).unwrap();
    assert_eq!(f.context.anonymous_id, "bcd");
    assert!(matches!(f.context.anonymous_id, Cow::Borrowed(_)));
}

#[test]
fn bad_slice() {
    // Base time, sent_at, raw count, then 1 + 6 bytes of "abcdef", slice count.
    let at = 11 + 3 + 1 + 6 + 1;
    type Case<'a> = (&'a [&'a str], &'a [[u8; 4]], usize);
    let cases: [Case; 6] = [
        // The source is a slice itself.
        (&["abcdef"], &[[0, 0, 0, 1]], at),
        // Bytes past the source's end.
        (&["abcdef"], &[[0, 1, 4, 3]], at),
        // Position past the table (1 raw + 1 slice).
        (&["abcdef"], &[[2, 0, 0, 1]], at),
        // Positions not increasing.
        (&["abcdef", "x"], &[[1, 0, 0, 1], [1, 0, 0, 1]], at + 2 + 4),
        // Source index past the table.
        (&["abcdef"], &[[0, 9, 0, 1]], at),
        // Splits a character: "é" is two bytes.
        (&["éé"], &[[0, 1, 1, 2]], 11 + 3 + 1 + 4 + 1),
    ];
    for (raw, slices, offset) in cases {
        check(
            decode(&sliced(raw, slices), &L),
            FrameError::BadSlice { offset },
            24,
            "bad_slice",
        );
    }
}
