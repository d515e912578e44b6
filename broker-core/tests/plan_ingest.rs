//! The tracking plan at ingest (issue 16): every event of a frame judged in
//! the append's commit, flagged events marked in the event stream,
//! quarantined ones in the quarantine stream with their frame's place,
//! never both and never neither; triggers blind to the quarantine; the
//! violation counters; a replay of the quarantine after the plan is fixed.

use broker_core::frame::{self, Context, Frame};
use broker_core::log::Stream;
use broker_core::partition::{EventRecord, Partition, PartitionConfig, MAX_PLAN_COUNTERS};
use broker_core::plan::{Plan, ViolationKind};
use broker_core::trigger::TriggerFile;
use broker_core::{Event, EventKind, MemoryStorage, Value};
use std::collections::BTreeSet;

const T0: u64 = 1_764_000_000_000;

fn plan(on_violation: &str, price_type: &str) -> (String, Plan) {
    let json = format!(
        r#"{{"version": 1, "on_unplanned": "flag", "on_violation": "{on_violation}",
            "events": {{
              "$page": {{"properties": {{"path": {{"type": "string", "required": true}}}}}},
              "Product Viewed": {{"properties": {{
                  "price": {{"type": "{price_type}", "required": true}},
                  "sku": {{"type": "string"}}}}}}}}}}"#
    );
    let parsed = Plan::parse(&json).expect("a valid plan");
    (json, parsed)
}

fn viewed(price: Value<'static>, t: u64) -> Event<'static> {
    Event {
        kind: EventKind::Track,
        name: "Product Viewed".into(),
        timestamp: t,
        properties: vec![("price".into(), price)],
    }
}

fn page(path: &str, t: u64) -> Event<'static> {
    Event {
        kind: EventKind::Page,
        name: "Product".into(),
        timestamp: t,
        properties: vec![("path".into(), Value::Str(path.to_owned().into()))],
    }
}

fn frame(producer: u64, sequence: u64, visitor: &str, events: Vec<Event<'static>>) -> Vec<u8> {
    frame::encode(&Frame {
        producer_id: producer,
        sequence,
        sent_at: T0,
        context: Context {
            anonymous_id: visitor.to_owned().into(),
            ..Context::default()
        },
        events,
    })
    .expect("encodes")
}

/// A frame of a page view, a good product view and a broken one (the
/// price as a string, as a template bug would send it).
fn mixed(producer: u64, sequence: u64) -> Vec<u8> {
    frame(
        producer,
        sequence,
        "v-1",
        vec![
            page("/product/p-1", T0),
            viewed(Value::Str("89.58".into()), T0 + 1),
            viewed(Value::Float(89.58), T0 + 2),
        ],
    )
}

fn open(store: &MemoryStorage) -> Partition {
    Partition::open(store, PartitionConfig::new(0, 1)).expect("opens")
}

fn events(p: &Partition, s: &MemoryStorage) -> Vec<EventRecord> {
    p.read_events(s, 0, 1_000, usize::MAX).unwrap().records
}

fn quarantine(p: &Partition, s: &MemoryStorage) -> Vec<EventRecord> {
    let earliest = Stream::Quarantine.log().meta(s).unwrap().earliest_offset;
    p.read_quarantine(s, earliest, 1_000, usize::MAX)
        .unwrap()
        .records
}

/// Each stored event's identity: (producer, sequence, index in the frame).
fn identities(records: &[EventRecord]) -> Vec<(u64, u64, u32)> {
    records
        .iter()
        .map(|r| (r.source.producer_id, r.source.sequence, r.source.index))
        .collect()
}

#[test]
fn quarantine_keeps_a_broken_event_out_of_the_event_stream_with_its_reason_and_place() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let (json, parsed) = plan("quarantine", "number");
    p.set_plan(&mut s, &json, parsed, T0).unwrap();
    let ack = p.append(&mut s, &mixed(7, 0), T0).unwrap();
    assert_eq!((ack.base_offset, ack.count), (0, 2));
    assert_eq!(
        (ack.plan.flagged, ack.plan.quarantined, ack.plan.violations),
        (0, 1, 1)
    );

    let stored = events(&p, &s);
    assert_eq!(identities(&stored), vec![(7, 0, 0), (7, 0, 2)]);
    assert_eq!(
        stored.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![0, 1]
    );
    assert!(stored.iter().all(|r| r.violations.is_empty()));

    let q = quarantine(&p, &s);
    assert_eq!(identities(&q), vec![(7, 0, 1)]);
    assert_eq!(q[0].offset, 0);
    assert_eq!(q[0].event.properties[0].1, Value::Str("89.58".into()));
    assert_eq!(
        q[0].violations[0].to_string(),
        r#"properties.price: expected number, got string "89.58""#
    );
    assert_eq!(q[0].source.frame_events, Some((0, 2)));
    assert_eq!(q[0].source.received_at, T0);
    let stats = p.stats(&s).unwrap();
    assert_eq!((stats.events.end, stats.quarantine.end), (2, 1));
    assert!(stats.plan_active);

    // Sent again (the ack was lost): a duplicate, nothing stored twice.
    let again = p.append(&mut s, &mixed(7, 0), T0 + 5).unwrap();
    assert!(again.duplicate);
    assert_eq!((again.base_offset, again.count), (0, 2));
    assert_eq!((events(&p, &s).len(), quarantine(&p, &s).len()), (2, 1));
}

#[test]
fn flag_stores_the_event_marked_and_allow_only_counts() {
    for (mode, marked) in [("flag", true), ("allow", false)] {
        let mut s = MemoryStorage::new();
        let mut p = open(&s);
        let (json, parsed) = plan(mode, "number");
        p.set_plan(&mut s, &json, parsed, T0).unwrap();
        let ack = p.append(&mut s, &mixed(7, 0), T0).unwrap();
        assert_eq!(ack.count, 3, "{mode}");
        assert_eq!(ack.plan.flagged, u32::from(marked), "{mode}");
        assert_eq!(
            (ack.plan.quarantined, ack.plan.violations),
            (0, 1),
            "{mode}"
        );
        let stored = events(&p, &s);
        assert_eq!(identities(&stored), vec![(7, 0, 0), (7, 0, 1), (7, 0, 2)]);
        let marks: Vec<usize> = stored.iter().map(|r| r.violations.len()).collect();
        assert_eq!(marks, vec![0, usize::from(marked), 0], "{mode}");
        assert!(quarantine(&p, &s).is_empty());
        let counters = p.plan_counters(&s).unwrap();
        assert_eq!(counters.since, Some(T0));
        let c = &counters.counters[0];
        assert_eq!(
            (c.event.as_deref(), c.kind, c.path.as_deref()),
            (
                Some("Product Viewed"),
                ViolationKind::WrongType,
                Some("properties.price")
            )
        );
        assert_eq!(
            (c.allowed, c.flagged, c.quarantined),
            (u64::from(!marked), u64::from(marked), 0)
        );
        assert_eq!(c.example, r#"expected number, got string "89.58""#);
    }
}

#[test]
fn triggers_never_see_quarantined_events() {
    let triggers = r#"{"version": 1, "triggers": [{
        "id": "viewer", "when": {"event": "Product Viewed"},
        "action": {"type": "banner", "payload": {}}}]}"#;
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    p.set_triggers(&mut s, triggers, TriggerFile::parse(triggers).unwrap())
        .unwrap();
    let (json, parsed) = plan("quarantine", "number");
    p.set_plan(&mut s, &json, parsed, T0).unwrap();
    // Only the broken view: quarantined, no firing.
    let broken = frame(1, 0, "v-2", vec![viewed(Value::Str("x".into()), T0)]);
    let ack = p.append(&mut s, &broken, T0).unwrap();
    assert_eq!((ack.count, ack.plan.quarantined), (0, 1));
    assert!(ack.firings.is_empty());
    // The good one fires, at its own offset in the event stream.
    let good = frame(1, 1, "v-2", vec![viewed(Value::Int(5), T0 + 1)]);
    let ack = p.append(&mut s, &good, T0 + 1).unwrap();
    assert_eq!((ack.base_offset, ack.count), (0, 1));
    assert_eq!(ack.firings.len(), 1);
}

#[test]
fn a_frame_wholly_quarantined_still_takes_its_sequence() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let (json, parsed) = plan("quarantine", "number");
    p.set_plan(&mut s, &json, parsed, T0).unwrap();
    let broken = frame(9, 4, "v-3", vec![viewed(Value::Bool(true), T0)]);
    let ack = p.append(&mut s, &broken, T0).unwrap();
    assert_eq!(
        (ack.count, ack.duplicate, ack.plan.quarantined),
        (0, false, 1)
    );
    // The retry is a duplicate, not a second quarantined copy ...
    assert!(p.append(&mut s, &broken, T0).unwrap().duplicate);
    assert_eq!(quarantine(&p, &s).len(), 1);
    // ... and the producer's next frame follows on.
    let next = frame(9, 5, "v-3", vec![page("/", T0 + 1)]);
    assert_eq!(p.append(&mut s, &next, T0 + 1).unwrap().count, 1);
}

#[test]
fn every_event_of_every_frame_is_in_exactly_one_stream() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let (json, parsed) = plan("quarantine", "number");
    p.set_plan(&mut s, &json, parsed, T0).unwrap();
    let mut sent = BTreeSet::new();
    // Frames of 1 to 7 events, each event good or broken by a fixed
    // pattern, some sent twice.
    for seq in 0..60u64 {
        let n = 1 + (seq * 5 % 7) as usize;
        let evs: Vec<Event<'static>> = (0..n)
            .map(|i| match (seq as usize + i * 3) % 4 {
                0 => viewed(Value::Str("1".into()), T0 + i as u64),
                1 => page("/p", T0 + i as u64),
                2 => viewed(Value::Int(3), T0 + i as u64),
                _ => page("no-slash-is-fine", T0 + i as u64),
            })
            .collect();
        for i in 0..n {
            sent.insert((3u64, seq, i as u32));
        }
        let bytes = frame(3, seq, "v-4", evs);
        p.append(&mut s, &bytes, T0).unwrap();
        if seq % 9 == 0 {
            assert!(p.append(&mut s, &bytes, T0).unwrap().duplicate);
        }
    }
    let (e, q) = (identities(&events(&p, &s)), identities(&quarantine(&p, &s)));
    let in_events: BTreeSet<_> = e.iter().copied().collect();
    let in_quarantine: BTreeSet<_> = q.iter().copied().collect();
    assert_eq!(in_events.len(), e.len(), "no event twice in events");
    assert_eq!(in_quarantine.len(), q.len(), "no event twice in quarantine");
    assert!(in_events.is_disjoint(&in_quarantine));
    assert!(!in_quarantine.is_empty() && !in_events.is_empty());
    let all: BTreeSet<_> = in_events.union(&in_quarantine).copied().collect();
    assert_eq!(all, sent);
}

#[test]
fn a_replay_after_the_plan_is_fixed_releases_the_quarantine_in_bounded_steps() {
    let mut s = MemoryStorage::new();
    let mut config = PartitionConfig::new(0, 1);
    config.max_timeout_work = 4; // batches per replay step
    let mut p = Partition::open(&s, config.clone()).unwrap();
    let (json, parsed) = plan("quarantine", "number");
    p.set_plan(&mut s, &json, parsed, T0).unwrap();
    for seq in 0..10 {
        p.append(&mut s, &mixed(5, seq), T0 + seq).unwrap();
    }
    // One event no fix lets through: a price missing altogether.
    let missing = Event {
        properties: vec![],
        ..viewed(Value::Null, T0)
    };
    p.append(&mut s, &frame(5, 10, "v-1", vec![missing]), T0 + 10)
        .unwrap();
    assert_eq!((events(&p, &s).len(), quarantine(&p, &s).len()), (20, 11));

    // The site sends prices as strings on purpose: the plan says so now.
    let (json, fixed) = plan("quarantine", "string");
    p.set_plan(&mut s, &json, fixed, T0 + 100).unwrap();
    // The good ones now break the new plan, but they are not judged again:
    // only the quarantine is replayed.
    let mut step = p.replay_quarantine(&mut s, None, T0 + 200).unwrap();
    let (mut released, mut kept, mut steps) = (step.released, step.kept, 1);
    assert_eq!(step.until, 11);
    while step.more {
        step = p
            .replay_quarantine(&mut s, Some(step.until), T0 + 200)
            .unwrap();
        released += step.released;
        kept += step.kept;
        steps += 1;
    }
    assert_eq!((released, kept), (10, 1));
    assert!(steps >= 3, "bounded: {steps} steps of 4 batches");
    let e = events(&p, &s);
    assert_eq!(e.len(), 30);
    let back: Vec<_> = e[20..].iter().collect();
    assert!(back
        .iter()
        .all(|r| r.source.index == 1 && r.violations.is_empty()));
    // Their first receipt is kept, not the replay's.
    assert_eq!(back[3].source.received_at, T0 + 3);
    let q = quarantine(&p, &s);
    assert_eq!(identities(&q), vec![(5, 10, 0)]);
    assert_eq!(q[0].violations[0].kind, ViolationKind::MissingRequired);
    assert_eq!(q[0].source.frame_events, Some((20, 0)));
    // The plan survives a restart.
    let reopened = Partition::open(&s, config).unwrap();
    assert_eq!(
        reopened.plan_file(&s).unwrap().as_deref(),
        Some(json.as_str())
    );
    assert!(reopened.stats(&s).unwrap().plan_active);
}

#[test]
fn counters_start_again_with_a_new_plan_and_stay_bounded() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let (json, parsed) = plan("flag", "number");
    p.set_plan(&mut s, &json, parsed.clone(), T0).unwrap();
    // More unplanned names than counters are kept.
    let total = MAX_PLAN_COUNTERS as usize + 50;
    for chunk in 0..total.div_ceil(500) {
        let evs: Vec<Event<'static>> = (chunk * 500..((chunk + 1) * 500).min(total))
            .map(|i| Event {
                kind: EventKind::Track,
                name: format!("Unplanned {i}").into(),
                timestamp: T0,
                properties: vec![],
            })
            .collect();
        p.append(&mut s, &frame(8, chunk as u64, "v-5", evs), T0)
            .unwrap();
    }
    let counters = p.plan_counters(&s).unwrap().counters;
    assert_eq!(counters.len(), MAX_PLAN_COUNTERS as usize + 1);
    let overflow: Vec<_> = counters.iter().filter(|c| c.event.is_none()).collect();
    assert_eq!(overflow.len(), 1);
    assert_eq!(
        (overflow[0].kind, overflow[0].flagged),
        (ViolationKind::UnplannedEvent, 50)
    );
    assert_eq!(
        counters.iter().map(|c| c.total()).sum::<u64>(),
        total as u64
    );
    p.set_plan(&mut s, &json, parsed, T0 + 1).unwrap();
    let fresh = p.plan_counters(&s).unwrap();
    assert_eq!((fresh.since, fresh.counters.len()), (Some(T0 + 1), 0));
}

#[test]
fn event_views_read_what_the_records_hold_with_holes_marks_and_enrichment() {
    use broker_core::context::{Enrichment, Geo};
    use broker_core::frame::Context as FrameContext;
    use broker_core::partition::EventView;
    use broker_core::plan::Violation;
    // What a view and a record must agree on, owned.
    type Row = (
        u64,
        String,
        Option<String>,
        Event<'static>,
        FrameContext<'static>,
        u64,
        u64,
        u32,
        u64,
        Option<Enrichment>,
        Vec<Violation>,
    );
    let row = |v: &EventView<'_>| -> Row {
        (
            v.offset,
            v.visitor.to_owned(),
            v.user_id.map(str::to_owned),
            v.event.clone().into_owned(),
            v.context.clone().into_owned(),
            v.producer_id,
            v.sequence,
            v.index,
            v.received_at,
            v.enrichment.cloned(),
            v.violations.to_vec(),
        )
    };
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    // Quarantined events leave holes in their frames' batches, flagged
    // ones carry their violations, and some frames their enrichment.
    let (json, parsed) = plan("quarantine", "number");
    p.set_plan(&mut s, &json, parsed, T0).unwrap();
    let berlin = Enrichment {
        geo: Geo {
            country: Some("DE".into()),
            ..Geo::default()
        },
        ..Enrichment::default()
    };
    for seq in 0..3 {
        p.append_enriched(
            &mut s,
            &mixed(7, seq),
            T0 + seq,
            (seq == 1).then_some(&berlin),
        )
        .unwrap();
    }
    let (json, parsed) = plan("flag", "number");
    p.set_plan(&mut s, &json, parsed, T0 + 10).unwrap();
    for seq in 3..5 {
        p.append_enriched(
            &mut s,
            &mixed(7, seq),
            T0 + seq,
            (seq == 4).then_some(&berlin),
        )
        .unwrap();
    }
    let end = p.stats(&s).unwrap().events.end;
    assert_eq!(end, 3 * 2 + 2 * 3);
    for from in 0..=end {
        for max in [1, 2, 4, 100] {
            let records = p.read_events(&s, from, max, usize::MAX).unwrap();
            let mut rows = Vec::new();
            let read = p
                .read_event_views(&s, from, max, usize::MAX, |v| {
                    rows.push(row(v));
                    true
                })
                .unwrap();
            let expected: Vec<Row> = records.records.iter().map(|r| row(&r.view())).collect();
            assert_eq!(rows, expected, "from {from}, max {max}");
            assert_eq!(
                (read.taken, read.next_offset, read.end, read.earliest),
                (
                    records.records.len(),
                    records.next_offset,
                    records.end,
                    records.earliest
                )
            );
        }
    }
    assert!(p
        .read_events(&s, 0, 100, usize::MAX)
        .unwrap()
        .records
        .iter()
        .any(|r| !r.violations.is_empty() && r.source.enrichment.is_some()));
    // A view not taken stops the read there.
    let mut seen = 0;
    let read = p
        .read_event_views(&s, 1, 100, usize::MAX, |_| {
            seen += 1;
            seen < 4
        })
        .unwrap();
    assert_eq!((seen, read.taken, read.next_offset), (4, 3, 4));
}
