//! Golden frames: hand-picked frames whose bytes are committed under
//! `tests/golden/*.hex`. Each must decode to the frame below and re-encode
//! byte for byte, so the format cannot drift unnoticed. After a deliberate
//! format change (a new version!), regenerate with
//! `UPDATE_GOLDEN=1 cargo test -p broker-core --test frame_golden` and
//! review the diff.
//!
//! Also replays the fuzz inputs through the fuzz target's own check
//! (`broker_core::frame::fuzz::check`): `tests/golden/corpus/` (the golden
//! frames as binary, which `fuzz/seed.sh` seeds the fuzzer with, and inputs
//! picked from fuzz runs: the smallest of each refusal, `err-<code>-<name>`)
//! and `tests/golden/crashes/` (inputs that found a bug, kept fixed).

use broker_core::corpus;
use broker_core::event::{Event, EventKind, Map, Value};
use broker_core::frame::{self, decode, encode, fuzz, inflate, Context, Frame, Limits};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden")
}

fn s(x: &'static str) -> Cow<'static, str> {
    Cow::Borrowed(x)
}

fn shop_context() -> Context<'static> {
    Context {
        anonymous_id: s("73cb6eb1-a44e-4454-af9f-1a3bbbfebbdb"),
        user_id: Some(s("u-00007")),
        session_id: 7,
        origin: s("https://shop.example"),
        referrer: s("https://news.ycombinator.com/"),
        locale: s("en-US"),
        screen_width: 1440,
        screen_height: 900,
        timezone: s("Europe/Berlin"),
        library: s("eventstream-js/0.1.0"),
        campaign: vec![
            (s("utm_source"), Value::Str(s("hn"))),
            (s("utm_medium"), Value::Str(s("social"))),
        ],
    }
}

fn empty() -> Frame<'static> {
    Frame {
        producer_id: 1,
        sequence: 0,
        sent_at: 1_764_000_000_000,
        context: Context::default(),
        events: vec![],
    }
}

/// A string property, the common case in the frames below.
fn text(key: &'static str, value: &'static str) -> (Cow<'static, str>, Value<'static>) {
    (s(key), Value::Str(s(value)))
}

fn kinds() -> Frame<'static> {
    let t = 1_764_000_011_223;
    let ev = |kind, name, dt: u64, properties: Map<'static>| Event {
        kind,
        name: s(name),
        timestamp: t + dt,
        properties,
    };
    Frame {
        producer_id: 0x0123_4567_89ab_cdef,
        sequence: 3,
        sent_at: t + 13_000,
        context: shop_context(),
        events: vec![
            ev(
                EventKind::Page,
                "Home",
                0,
                vec![text("path", "/"), text("title", "Example Shop")],
            ),
            ev(
                EventKind::Click,
                "",
                93,
                vec![
                    text("selector", "a.product-card"),
                    text("href", "/product/p-0191"),
                ],
            ),
            ev(
                EventKind::Track,
                "Product Viewed",
                6_051,
                vec![
                    text("product_id", "p-0191"),
                    (s("price"), Value::Float(89.58)),
                    text("currency", "EUR"),
                ],
            ),
            ev(
                EventKind::Submit,
                "",
                12_597,
                vec![text("form_id", "search"), (s("fields"), Value::Int(1))],
            ),
            ev(
                EventKind::Identify,
                "u-00007",
                12_600,
                vec![text("plan", "free"), (s("newsletter"), Value::Bool(false))],
            ),
        ],
    }
}

fn values() -> Frame<'static> {
    let mut props: Map<'static> = vec![
        (s("null"), Value::Null),
        (s("false"), Value::Bool(false)),
        (s("true"), Value::Bool(true)),
        (s("small_int"), Value::Int(7)),
        (s("int"), Value::Int(1_000_000)),
        (s("negative"), Value::Int(-42)),
        (s("max"), Value::Int(i64::MAX)),
        (s("decimal"), Value::Float(-12.5)),
        (s("whole_float"), Value::Float(100.0)),
        (s("float"), Value::Float(std::f64::consts::E)),
        (s("neg_zero"), Value::Float(-0.0)),
        (s("string"), Value::Str(s("héllo ✓"))),
        (s("empty_list"), Value::List(vec![])),
        (
            s("list"),
            Value::List(vec![Value::Int(1), Value::Str(s("two")), Value::Null]),
        ),
        (
            s("map"),
            Value::Map(vec![(
                s("nested"),
                Value::Map(vec![(s("deep"), Value::List(vec![Value::Bool(true)]))]),
            )]),
        ),
    ];
    // Push string indices past the 80 that fit in the tag byte.
    let many: Vec<String> = (0..90).map(|i| format!("key{i:02}")).collect();
    for k in many {
        props.push((
            Cow::Owned(k.clone()),
            Value::Str(Cow::Owned(k.to_uppercase())),
        ));
    }
    Frame {
        producer_id: u64::MAX,
        sequence: u64::MAX,
        sent_at: 0,
        context: Context {
            anonymous_id: s("v"),
            ..Context::default()
        },
        events: vec![Event {
            kind: EventKind::Track,
            name: s("All Values"),
            timestamp: 1_764_000_000_000,
            properties: props,
        }],
    }
}

fn corpus_first_20() -> Frame<'static> {
    let path = corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let calls = corpus::parse_corpus(&text).expect("the reference corpus parses");
    let first: Vec<_> = calls
        .iter()
        .take_while(|c| c.session == calls[0].session)
        .take(20)
        .collect();
    Frame {
        producer_id: 0x9e37_79b9_7f4a_7c15,
        sequence: 0,
        sent_at: first.last().map_or(0, |c| c.event.timestamp + 50),
        // The shop's browser, before the visitor logged in or came from a
        // campaign.
        context: Context {
            anonymous_id: Cow::Owned(first[0].visitor.clone()),
            user_id: None,
            session_id: 0,
            campaign: Map::new(),
            ..shop_context()
        },
        events: first.iter().map(|c| c.event.clone()).collect(),
    }
}

fn to_hex(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, chunk) in bytes.chunks(32).enumerate() {
        if i > 0 {
            out.push('\n');
        }
        for b in chunk {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out.push('\n');
    out
}

fn from_hex(text: &str) -> Vec<u8> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).expect("ascii"), 16).expect("hex digit"))
        .collect()
}

/// Compares `bytes` with the committed file (or writes it when updating).
fn golden(name: &str, bytes: &[u8]) -> Vec<u8> {
    let path = dir().join(format!("{name}.hex"));
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(dir().join("corpus")).expect("create tests/golden/corpus");
        std::fs::write(&path, to_hex(bytes)).expect("write golden file");
        // The fuzzer's seed: the same bytes, as binary.
        std::fs::write(dir().join(format!("corpus/golden-{name}")), bytes)
            .expect("write fuzz seed");
    }
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    from_hex(&text)
}

fn check(name: &str, f: Frame<'static>) {
    let ours = encode(&f).expect("golden frames fit the default limits");
    let committed = golden(name, &ours);
    let decoded = decode(&committed, &Limits::DEFAULT).expect("golden frame decodes");
    assert_eq!(decoded, f, "{name}: decoded frame differs");
    assert_eq!(
        to_hex(&ours),
        to_hex(&committed),
        "{name}: encoder output drifted from the committed bytes"
    );
}

/// Each golden frame by its file name: the empty frame, one event of each
/// kind, every value type, and the start of a corpus session.
#[test]
fn golden_frames_decode_and_reencode_byte_for_byte() {
    let frames = [
        ("empty", empty as fn() -> Frame<'static>),
        ("kinds", kinds),
        ("values", values),
        ("corpus20", corpus_first_20),
    ];
    for (name, frame) in frames {
        check(name, frame());
    }
}

/// Frames an earlier encoder (before 2026-12-06) made, with slices in
/// tables larger than the encoder plans today: decoders must go on reading
/// them (pages cached with an older SDK), to the same frames.
#[test]
fn frames_with_slices_in_large_tables_still_decode() {
    for (name, frame) in [
        ("values.sliced", values as fn() -> Frame<'static>),
        ("corpus20.sliced", corpus_first_20),
    ] {
        let path = dir().join(format!("{name}.hex"));
        let text =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let bytes = from_hex(&text);
        let decoded = decode(&bytes, &Limits::DEFAULT).expect("an earlier encoder's frame decodes");
        assert_eq!(decoded, frame(), "{name}: decoded frame differs");
        assert_ne!(
            bytes,
            encode(&frame()).expect("encodes"),
            "{name}: no slices in it?"
        );
    }
}

#[test]
fn deflated_frame_inflates_to_its_plain_golden() {
    // Deflate output may differ across deflate implementations, so only the
    // inflating side is pinned.
    let plain = encode(&kinds()).unwrap();
    let packed = golden("kinds.deflate", &frame::compress(&plain).unwrap());
    assert_eq!(frame::peek(&packed).unwrap().flags, frame::flags::DEFLATE);
    assert_eq!(&*inflate(&packed, &Limits::DEFAULT).unwrap(), &plain[..]);
}

#[test]
fn golden_bytes_spot_checks() {
    // A few bytes read by hand against FORMAT.md, so the goldens are not
    // only self-consistent.
    let b = from_hex(&std::fs::read_to_string(dir().join("empty.hex")).unwrap());
    assert_eq!(&b[..2], &[1, 0], "version 1, no flags");
    assert_eq!(
        &b[2..10],
        &1u64.to_le_bytes(),
        "producer id, fixed 8 bytes LE"
    );
    assert_eq!(b[10], 0, "sequence 0");
    assert_eq!(b[11], 0, "base_time 0: no events");
    let v = from_hex(&std::fs::read_to_string(dir().join("values.hex")).unwrap());
    assert_eq!(&v[2..10], &[0xff; 8]);
    assert_eq!(
        &v[10..20],
        &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01],
        "u64::MAX varint"
    );
}

#[test]
fn rehome_changes_the_producer_and_the_crc_only() {
    // Pins `frame::rehome` to the encoder: a golden frame moved to another
    // producer is byte for byte the frame encoded with that producer.
    let committed = from_hex(&std::fs::read_to_string(dir().join("kinds.hex")).unwrap());
    let moved = frame::rehome(&committed, 0x5EED_0000_0000_0002).unwrap();
    let mut f = kinds();
    f.producer_id = 0x5EED_0000_0000_0002;
    assert_eq!(to_hex(&moved), to_hex(&encode(&f).unwrap()));
    let packed = from_hex(&std::fs::read_to_string(dir().join("kinds.deflate.hex")).unwrap());
    let moved = frame::rehome(&packed, 0x5EED_0000_0000_0002).unwrap();
    assert_eq!(
        &*inflate(&moved, &Limits::DEFAULT).unwrap(),
        &encode(&f).unwrap()[..]
    );
}

/// The files of `tests/golden/<folder>/` (a README aside), sorted; a
/// missing folder fails the test instead of replaying nothing.
fn inputs(folder: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let path = dir().join(folder);
    let entries = std::fs::read_dir(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut out: Vec<(PathBuf, Vec<u8>)> = entries
        .map(|e| e.expect("read a directory entry").path())
        .filter(|p| p.extension().is_none_or(|x| x != "md"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

#[test]
fn fuzz_corpus_replays_under_the_fuzz_targets_check() {
    let corpus = inputs("corpus");
    // Every golden frame is a seed, and decodes (so the check reaches its
    // re-encode and rehome assertions, not only the rejections).
    let mut goldens = 0;
    for entry in std::fs::read_dir(dir()).unwrap() {
        let path = entry.unwrap().path();
        let Some(name) = path
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .strip_suffix(".hex")
        else {
            continue;
        };
        let bytes = from_hex(&std::fs::read_to_string(&path).unwrap());
        let seed = corpus
            .iter()
            .find(|(p, _)| p.ends_with(format!("golden-{name}")));
        assert_eq!(
            seed.map(|(_, b)| b),
            Some(&bytes),
            "tests/golden/corpus/golden-{name} is {name}.hex as binary (UPDATE_GOLDEN=1 rewrites both)"
        );
        assert!(fuzz::check(&bytes), "{name}: a golden frame decodes");
        goldens += 1;
    }
    assert_eq!(goldens, 7, "the golden frames");
    let mut errors = 0;
    for (path, bytes) in &corpus {
        // A panic names the input through the message below.
        eprintln!("replaying {}", path.display());
        fuzz::check(bytes);
        // `err-<code>-<name>`: the smallest input of a fuzz run that the
        // decoder refuses with that code (default limits), kept so that
        // each refusal stays reachable and stays the same refusal.
        let name = path.file_name().unwrap().to_str().unwrap();
        if let Some(code) = name.strip_prefix("err-").and_then(|r| r.get(..2)) {
            let code: u16 = code.parse().expect("err-<two-digit code>-<name>");
            let got = inflate(bytes, &Limits::DEFAULT)
                .and_then(|plain| decode(&plain, &Limits::DEFAULT).map(drop));
            assert_eq!(got.map_err(|e| e.code()), Err(code), "{name}");
            errors += 1;
        }
    }
    assert!(errors >= 16, "the refusals found by fuzzing: {errors}");
}

#[test]
fn crash_inputs_stay_fixed() {
    // The folder exists (its README says what belongs there) even while no
    // crash has been found; each input in it must now pass the check.
    assert!(dir().join("crashes/README.md").is_file());
    for (path, bytes) in inputs("crashes") {
        eprintln!("replaying {}", path.display());
        fuzz::check(&bytes);
    }
}
