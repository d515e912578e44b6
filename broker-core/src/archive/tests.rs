use super::*;
use crate::event::{Event, EventKind, Value};
use crate::frame::Context;
use crate::partition::{EventRecord, EventSource};
use parquet::file::reader::{FileReader, SerializedFileReader};
use parquet::record::Field;
use std::borrow::Cow;
use std::sync::Arc;

const DEC_6_14H: u64 = 1_796_565_600_000; // 2026-12-06T14:00:00Z

fn record(offset: u64, received_at: u64) -> EventRecord {
    let context = Context {
        anonymous_id: "v-1".into(),
        session_id: 3,
        origin: "https://shop.example".into(),
        referrer: "https://news.example/".into(),
        locale: "de-DE".into(),
        screen_width: 1440,
        screen_height: 900,
        timezone: "Europe/Berlin".into(),
        library: "eventstream-js/0.1.0".into(),
        campaign: vec![(Cow::from("utm_campaign"), Value::Str("winter-sale".into()))],
        ..Context::default()
    };
    EventRecord {
        partition: 3,
        offset,
        visitor: "v-1".into(),
        user_id: (offset % 2 == 1).then(|| "u-7".to_string()),
        event: Event {
            kind: EventKind::Page,
            name: "Product".into(),
            timestamp: received_at - 40,
            properties: vec![
                (Cow::from("path"), Value::Str("/product/p-1".into())),
                (Cow::from("price"), Value::Float(89.58)),
            ],
        },
        source: EventSource {
            context: Arc::new(context),
            producer_id: u64::MAX - 1,
            sequence: 4,
            index: offset as u32,
            received_at,
            enrichment: None,
            frame_events: None,
        },
        violations: Vec::new(),
    }
}

/// A row as (column, value) pairs.
type Row = Vec<(String, Field)>;
/// The footer's key-value metadata.
type KeyValues = Vec<(String, Option<String>)>;

fn read_rows(bytes: Vec<u8>) -> (Vec<Row>, KeyValues) {
    let reader = SerializedFileReader::new(bytes::Bytes::from(bytes)).unwrap();
    let kv = reader
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .cloned()
        .unwrap_or_default()
        .into_iter()
        .map(|k| (k.key, k.value))
        .collect();
    let rows = reader
        .get_row_iter(None)
        .unwrap()
        .map(|r| {
            r.unwrap()
                .get_column_iter()
                .map(|(n, f)| (n.clone(), f.clone()))
                .collect()
        })
        .collect();
    (rows, kv)
}

fn field<'r>(row: &'r [(String, Field)], name: &str) -> &'r Field {
    &row.iter().find(|(n, _)| n == name).unwrap().1
}

#[test]
fn keys_derive_from_offsets_hour_and_partition_only() {
    assert_eq!(
        object_key(Stream::Events, 3, DEC_6_14H, 41_000, 41_999),
        "events/v1/dt=2026-12-06/hour=14/part=003/00000000000000041000-00000000000000041999.parquet"
    );
    assert_eq!(
        object_key(Stream::Firings, 1023, 0, 0, u64::MAX),
        "firings/v1/dt=1970-01-01/hour=00/part=1023/00000000000000000000-18446744073709551615.parquet"
    );
    // Leap day and year end.
    let feb29 = 1_709_164_800_000 + 23 * 3_600_000; // 2024-02-29T23:00Z
    assert!(object_key(Stream::Events, 0, feb29, 5, 5).contains("dt=2024-02-29/hour=23/"));
    let mut s = Segment::new(SegmentPolicy::default(), 41_000);
    for i in 0..1000 {
        assert!(s.offer(DEC_6_14H + 59 * 60_000 + i, 10));
    }
    assert_eq!(
        s.key(Stream::Events, 3).unwrap(),
        object_key(Stream::Events, 3, DEC_6_14H, 41_000, 41_999),
        "any receive time within the hour gives the same key"
    );
}

#[test]
fn a_segment_closes_at_the_interval_end_at_a_bound_or_by_the_clock() {
    let policy = SegmentPolicy::default();
    let mut s = Segment::new(policy, 10);
    assert!(!s.is_closed(u64::MAX), "an empty segment is never ready");
    assert_eq!(s.key(Stream::Events, 0), None);
    assert!(s.offer(DEC_6_14H + 5, 100));
    assert!(!s.is_closed(DEC_6_14H + 3_599_999));
    assert!(s.is_closed(DEC_6_14H + 3_600_000), "the hour is over");
    // A clock that stepped back keeps the record in the segment.
    assert!(s.offer(DEC_6_14H - 1_000, 100));
    assert!(
        !s.offer(DEC_6_14H + 3_600_000, 100),
        "the next hour's record"
    );
    assert!(s.is_closed(0));
    assert!(!s.offer(DEC_6_14H, 1), "closed stays closed");
    assert_eq!((s.first_offset, s.rows(), s.end_offset()), (10, 2, 12));

    let small = SegmentPolicy {
        max_rows: 3,
        max_bytes: 250,
        ..policy
    };
    let mut rows = Segment::new(small, 0);
    assert!(rows.offer(DEC_6_14H, 1) && rows.offer(DEC_6_14H, 1) && rows.offer(DEC_6_14H, 1));
    assert!(rows.is_closed(DEC_6_14H), "full by rows");
    assert!(!rows.offer(DEC_6_14H, 1));
    let mut bytes = Segment::new(small, 0);
    assert!(bytes.offer(DEC_6_14H, 200));
    assert!(!bytes.offer(DEC_6_14H, 51), "over the byte bound");
    assert_eq!(bytes.rows(), 1);
    let mut huge = Segment::new(small, 0);
    assert!(huge.offer(DEC_6_14H, 10_000), "one record always fits");
    assert!(huge.is_closed(DEC_6_14H));

    let short = SegmentPolicy::with_interval(1000).unwrap();
    let mut s = Segment::new(short, 0);
    assert!(s.offer(DEC_6_14H + 999, 1));
    assert!(!s.offer(DEC_6_14H + 1000, 1));
    assert!(SegmentPolicy::with_interval(0).is_err());
}

#[test]
fn events_round_trip_through_the_parquet_reader() {
    let mut t = Table::events();
    let mut records: Vec<_> = (0..3).map(|i| record(100 + i, DEC_6_14H + i)).collect();
    // The second row was enriched by the relay and flagged by the plan.
    records[1].source.enrichment = Some(Arc::new(crate::context::tests::sample_enrichment()));
    records[1].violations = vec![crate::plan::Violation {
        kind: crate::plan::ViolationKind::WrongType,
        path: "properties.price".into(),
        message: "expected integer, got number 89.58".into(),
    }];
    for r in &records {
        assert!(t.push_event(&r.view()) > 0);
    }
    assert_eq!(t.rows(), 3);
    let bytes = t.to_parquet(&[("first_offset", "100".into())]).unwrap();
    assert_eq!(&bytes[..4], b"PAR1");
    assert_eq!(
        bytes,
        t.to_parquet(&[("first_offset", "100".into())]).unwrap(),
        "deterministic"
    );
    let (rows, kv) = read_rows(bytes);
    assert!(kv.contains(&("eventstream.schema_version".into(), Some("2".into()))));
    assert!(kv.contains(&("eventstream.first_offset".into(), Some("100".into()))));
    assert_eq!(rows.len(), 3);
    let names: Vec<_> = rows[0].iter().map(|(n, _)| n.as_str()).collect();
    let specs: Vec<_> = EVENT_COLUMNS.iter().map(|c| c.name).collect();
    assert_eq!(names, specs);
    let r = &rows[1];
    assert_eq!(field(r, "partition"), &Field::Int(3));
    assert_eq!(field(r, "offset"), &Field::Long(101));
    assert_eq!(
        field(r, "received_at"),
        &Field::TimestampMillis(DEC_6_14H as i64 + 1)
    );
    assert_eq!(
        field(r, "event_time"),
        &Field::TimestampMillis(DEC_6_14H as i64 - 39)
    );
    assert_eq!(field(r, "kind"), &Field::Str("page".into()));
    assert_eq!(field(r, "event_name"), &Field::Str("Product".into()));
    assert_eq!(field(r, "user_id"), &Field::Str("u-7".into()));
    assert_eq!(field(&rows[0], "user_id"), &Field::Null);
    assert_eq!(field(r, "session_id"), &Field::Long(3));
    assert_eq!(field(r, "page_path"), &Field::Str("/product/p-1".into()));
    assert_eq!(field(r, "page_url"), &Field::Null);
    assert_eq!(
        field(r, "page_referrer"),
        &Field::Str("https://news.example/".into())
    );
    assert_eq!(field(r, "campaign_name"), &Field::Str("winter-sale".into()));
    assert_eq!(field(r, "campaign_source"), &Field::Null);
    assert_eq!(field(r, "screen_width"), &Field::Int(1440));
    assert_eq!(field(r, "timezone"), &Field::Str("Europe/Berlin".into()));
    assert_eq!(
        field(r, "properties"),
        &Field::Str(r#"{"path":"/product/p-1","price":89.58}"#.into())
    );
    assert_eq!(field(r, "producer_id"), &Field::ULong(u64::MAX - 1));
    assert_eq!(field(r, "sequence"), &Field::ULong(4));
    assert_eq!(field(r, "event_index"), &Field::Int(101));
    assert_eq!(field(r, "geo_country"), &Field::Str("DE".into()));
    assert_eq!(field(r, "geo_city"), &Field::Null);
    assert_eq!(field(r, "geo_asn"), &Field::Long(3320));
    assert_eq!(field(r, "device_type"), &Field::Str("mobile".into()));
    assert_eq!(field(r, "device_os"), &Field::Str("Android".into()));
    assert_eq!(field(r, "bot"), &Field::Bool(false));
    assert_eq!(
        field(r, "violations"),
        &Field::Str(r#"[{"code":2,"kind":"wrong_type","message":"expected integer, got number 89.58","path":"properties.price"}]"#.into())
    );
    for name in ["geo_country", "geo_asn", "device_type", "bot", "violations"] {
        assert_eq!(
            field(&rows[0], name),
            &Field::Null,
            "{name} of a plain record"
        );
    }
}

#[test]
fn empty_and_one_row_tables_encode() {
    let (rows, kv) = read_rows(Table::events().to_parquet(&[]).unwrap());
    assert!(rows.is_empty());
    assert_eq!(kv.len(), 1);
    let (rows, _) = read_rows(Table::firings().to_parquet(&[]).unwrap());
    assert!(rows.is_empty());

    let mut t = Table::events();
    t.push_event(&record(7, DEC_6_14H).view());
    let (rows, _) = read_rows(t.to_parquet(&[]).unwrap());
    assert_eq!(rows.len(), 1);
    assert_eq!(field(&rows[0], "offset"), &Field::Long(7));
}

#[test]
fn a_refused_row_is_popped_whole() {
    let mut t = Table::events();
    let a = record(1, DEC_6_14H);
    t.push_event(&a.view());
    let mut b = record(2, DEC_6_14H);
    b.user_id = None;
    t.push_event(&b.view());
    t.pop_row();
    let mut once = Table::events();
    once.push_event(&a.view());
    assert_eq!(t.to_parquet(&[]).unwrap(), once.to_parquet(&[]).unwrap());
}

#[test]
fn firings_keep_the_whole_record_and_its_known_fields() {
    let mut t = Table::firings();
    let rec = serde_json::json!({"partition": 0, "offset": 3, "firing_id": "9f0c", "trigger": "cart-rescue",
        "visitor": "a-1", "time": 1_764_000_611_223u64, "action": {"type": "banner", "payload": {"text": "hi"}}});
    t.push_firing(0, 3, DEC_6_14H, &rec);
    t.push_firing(0, 4, DEC_6_14H, &serde_json::json!({"kind": "conversion"}));
    let (rows, _) = read_rows(t.to_parquet(&[]).unwrap());
    assert_eq!(
        field(&rows[0], "trigger"),
        &Field::Str("cart-rescue".into())
    );
    assert_eq!(field(&rows[0], "action_type"), &Field::Str("banner".into()));
    assert_eq!(
        field(&rows[0], "time"),
        &Field::TimestampMillis(1_764_000_611_223)
    );
    let back: serde_json::Value = match field(&rows[0], "record") {
        Field::Str(s) => serde_json::from_str(s).unwrap(),
        other => panic!("{other:?}"),
    };
    assert_eq!(back, rec);
    assert_eq!(field(&rows[1], "firing_id"), &Field::Null);
    assert_eq!(field(&rows[1], "offset"), &Field::Long(4));
}

#[test]
fn properties_are_written_as_serde_json_writes_them() {
    use crate::event::map_to_json;
    let nested = Value::Map(vec![
        (
            Cow::from("z"),
            Value::List(vec![
                Value::Int(-3),
                Value::Float(0.1),
                Value::Float(3.0),
                Value::Null,
            ]),
        ),
        (Cow::from("a\"b\n"), Value::Str("é \u{1} \\".into())),
        (Cow::from("B"), Value::Bool(true)),
    ]);
    let cases = vec![
        vec![],
        vec![
            (Cow::from("price"), Value::Float(89.58)),
            (Cow::from("big"), Value::Float(1e300)),
            (Cow::from("tiny"), Value::Float(-5e-324)),
            (Cow::from("n"), Value::Int(i64::MIN)),
            (Cow::from("nested"), nested),
            (Cow::from("émoji 😀"), Value::Str("ok".into())),
            (Cow::from("Alpha"), Value::Int(1)),
            (Cow::from("as is"), Value::Str("a/b \u{7f} <tag> ü".into())),
        ],
        // Over the 32 entries ordered on the stack, in reverse order.
        (0..40)
            .rev()
            .map(|i| (Cow::from(format!("k{i:02}")), Value::Int(i)))
            .collect(),
    ];
    for props in cases {
        let mut r = record(0, DEC_6_14H);
        r.event.properties = props.clone();
        let mut t = Table::events();
        t.push_event(&r.view());
        let (rows, _) = read_rows(t.to_parquet(&[]).unwrap());
        let expected = serde_json::Value::Object(map_to_json(&props)).to_string();
        assert_eq!(field(&rows[0], "properties"), &Field::Str(expected));
    }
}

#[test]
fn a_record_read_back_from_an_export_writes_the_relay_s_bytes() {
    // The relay's record carries the campaign as the SDK sent it; the
    // export reads records back from their JSON, where it has the spec's
    // names. Both must give the same file.
    let relay = record(5, DEC_6_14H);
    let json = crate::export::event_record_to_json(&relay);
    let exported = crate::export::event_record_from_json(&json).unwrap();
    assert_ne!(
        exported.source.context.campaign,
        relay.source.context.campaign
    );
    let file = |r: &EventRecord| {
        let mut t = Table::events();
        t.push_event(&r.view());
        t.to_parquet(&[]).unwrap()
    };
    assert_eq!(file(&exported), file(&relay));
}
