//! JSON export round trips for arbitrary events and firings: what the relay
//! writes, the CLI reads back unchanged.

use broker_core::event::{Event, EventKind, Value};
use broker_core::export::{
    event_record_from_json, event_record_to_json, firing_record_from_json, firing_record_to_json,
};
use broker_core::frame::Context;
use broker_core::partition::{EventRecord, EventSource, FiringRecord};
use broker_core::trigger::{Conversion, Firing, Outcome};
use proptest::prelude::*;
use std::borrow::Cow;
use std::sync::Arc;

fn value() -> impl Strategy<Value = Value<'static>> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        // Not integral (JSON cannot tell 2.0 from 2 once parsed), with a
        // few decimals like real prices and measures: serde_json without its
        // `float_roundtrip` feature may parse a 17-digit float one ULP off.
        (-1_000_000_000_000i64..1_000_000_000_000)
            .prop_filter("not integral", |n| n % 1000 != 0)
            .prop_map(|n| Value::Float(n as f64 / 1000.0)),
        "[a-zA-Z0-9 éü€-]{0,12}".prop_map(|s| Value::Str(Cow::Owned(s))),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::List),
            proptest::collection::btree_map("[a-z_]{1,6}", inner, 0..4).prop_map(|m| {
                Value::Map(m.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect())
            }),
        ]
    })
}

fn record() -> impl Strategy<Value = EventRecord> {
    (
        any::<u32>(),
        0..(1u64 << 53),
        "[a-f0-9-]{1,36}",
        proptest::option::of("[a-z0-9-]{1,10}"),
        0..5u8,
        "[A-Za-z ]{0,20}",
        0..(1u64 << 53),
        // Sorted, unique keys: serde_json's map orders them.
        proptest::collection::btree_map("[a-z_]{1,8}", value(), 0..6),
        source(),
    )
        .prop_map(
            |(partition, offset, visitor, user_id, kind, name, time, props, source)| {
                let kind = EventKind::from_code(kind).unwrap_or(EventKind::Track);
                EventRecord {
                    partition,
                    offset,
                    event: Event {
                        kind,
                        name: Cow::Owned(name),
                        timestamp: time,
                        properties: props.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect(),
                    },
                    source: EventSource {
                        context: Arc::new(Context {
                            anonymous_id: visitor.clone().into(),
                            user_id: user_id.clone().map(Into::into),
                            ..(*source.context).clone()
                        }),
                        ..source
                    },
                    visitor,
                    user_id,
                    violations: Vec::new(),
                }
            },
        )
}

/// A frame's context and place, in what the export keeps: campaign keys in
/// the spec's names, non-empty strings.
fn source() -> impl Strategy<Value = EventSource> {
    (
        (
            0..(1u64 << 53),
            "(https://[a-z]{1,8}\\.example)?",
            "[a-z/:.]{0,12}",
            0..2000u16,
            0..2000u16,
        ),
        proptest::collection::btree_map(
            proptest::sample::select(vec!["name", "source", "medium", "term", "content", "gclid"]),
            "[a-z0-9-]{1,10}",
            0..4,
        ),
        (any::<u64>(), 0..(1u64 << 53), 0..1000u32, 0..(1u64 << 53)),
    )
        .prop_map(
            |(
                (session_id, origin, referrer, w, h),
                campaign,
                (producer_id, sequence, index, received_at),
            )| {
                let (w, h) = if w == 0 || h == 0 { (0, 0) } else { (w, h) };
                EventSource {
                    context: Arc::new(Context {
                        session_id,
                        origin: origin.into(),
                        referrer: referrer.into(),
                        screen_width: w,
                        screen_height: h,
                        campaign: campaign
                            .into_iter()
                            .map(|(k, v)| (Cow::Borrowed(k), Value::Str(Cow::Owned(v))))
                            .collect(),
                        ..Context::default()
                    }),
                    producer_id,
                    sequence,
                    index,
                    received_at,
                    enrichment: None,
                    frame_events: None,
                }
            },
        )
}

proptest! {
    #[test]
    fn event_records_round_trip_through_json_text(r in record()) {
        let text = event_record_to_json(&r).to_string();
        let back = event_record_from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        prop_assert_eq!(back, r);
    }

    #[test]
    fn firing_records_round_trip_through_json_text(
        partition in any::<u32>(),
        offset in 0..(1u64 << 53),
        id in "[0-9a-f]{16}",
        trigger in "[a-z0-9-]{1,64}",
        visitor in "[a-f0-9-]{1,36}",
        time in 0..(1u64 << 53),
        action in "[a-z]{1,10}",
        payload in proptest::collection::btree_map("[a-z]{1,5}", "[a-z ]{0,8}", 0..4),
        kind in 0..3u8,
    ) {
        let payload = serde_json::to_string(&payload).unwrap();
        let held_out = kind == 1;
        let outcome = if kind == 2 {
            Outcome::Converted(Conversion { firing_id: id, trigger_id: trigger.into(), visitor: visitor.into(), time, held_out: offset % 2 == 0 })
        } else {
            Outcome::Fired(Firing { firing_id: id, trigger_id: trigger.into(), visitor: visitor.into(), time, action_type: action.into(), payload: payload.into(), held_out })
        };
        let r = FiringRecord { partition, offset, outcome };
        let text = firing_record_to_json(&r).to_string();
        let back = firing_record_from_json(&serde_json::from_str(&text).unwrap()).unwrap();
        prop_assert_eq!(back, r);
    }
}
