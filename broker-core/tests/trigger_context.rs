//! `context` conditions (the spec's "Context" section): the validator's
//! paths and messages, the engine reading an event's context (the frame's
//! and the relay's enrichment), the audience at a delayed firing reading the
//! qualifying event's context, and bots kept out unless a trigger opts in.

use broker_core::context::{Device, Enrichment};
use broker_core::frame::{self, Context, Frame};
use broker_core::partition::{Partition, PartitionConfig};
use broker_core::trigger::{Engine, TriggerFile, ValidationKind};
use broker_core::{Event, EventKind, Map, MemoryStorage, Storage, Value, WriteBatch};
use std::borrow::Cow;

const T0: u64 = 1_764_000_000_000;

/// An event without properties.
fn event(kind: EventKind, name: &str, t: u64) -> Event<'static> {
    Event {
        kind,
        name: name.to_owned().into(),
        timestamp: t,
        properties: vec![],
    }
}

fn page(t: u64) -> Event<'static> {
    event(EventKind::Page, "Home", t)
}

fn track(name: &str, t: u64) -> Event<'static> {
    event(EventKind::Track, name, t)
}

fn campaign(name: &str) -> Map<'static> {
    vec![(
        Cow::Borrowed("campaign"),
        Value::Map(vec![(
            Cow::Borrowed("name"),
            Value::Str(name.to_owned().into()),
        )]),
    )]
}

/// Runs `events` (each with its context) through a fresh engine, then lets
/// time run on; the ids of the triggers that fired, in order.
fn fired(file: &str, events: &[(Event<'static>, Map<'static>)]) -> Vec<String> {
    let mut engine = Engine::new(TriggerFile::parse(file).expect("valid"));
    let mut store = MemoryStorage::new();
    let mut out = Vec::new();
    for (i, (e, ctx)) in events.iter().enumerate() {
        let mut w = WriteBatch::new();
        let f = engine
            .on_events_in(&store, &mut w, "v", std::slice::from_ref(e), i as u64, ctx)
            .unwrap();
        out.extend(f.into_iter().map(|f| f.trigger_id.to_string()));
        store.commit(w).unwrap();
    }
    let mut w = WriteBatch::new();
    out.extend(
        engine
            .on_timeout(&store, &mut w, u64::MAX)
            .unwrap()
            .into_iter()
            .map(|f| f.trigger_id.to_string()),
    );
    out
}

#[test]
fn context_paths_are_checked_with_did_you_mean() {
    let bad = r#"{"version": 1, "triggers": [{"id": "c", "when": {"event": "$page",
        "where": [{"context": "campaign.nmae", "op": "eq", "value": "x"}]}, "action": {"type": "b"}},
        {"id": "d", "when": {"event": "$page", "where": [{"context": "geo.country", "prop": "x", "op": "eq", "value": "x"}]},
         "include_bots": "yes", "action": {"type": "b"}}]}"#;
    let errors = TriggerFile::parse(bad).unwrap_err().errors;
    let got: Vec<(&str, ValidationKind)> =
        errors.iter().map(|e| (e.path.as_str(), e.kind)).collect();
    assert_eq!(
        got,
        [
            (
                "triggers[0].when.where[0].context",
                ValidationKind::UnknownContextPath
            ),
            ("triggers[1].when.where[0]", ValidationKind::Conflict),
            ("triggers[1].include_bots", ValidationKind::WrongType),
        ]
    );
    assert!(
        errors[0]
            .message
            .contains(r#"did you mean "campaign.name"?"#),
        "{}",
        errors[0].message
    );
    assert_eq!(errors[0].kind.name(), "unknown_context_path");
    // In an audience too, and every listed path is taken.
    for path in broker_core::context::CONTEXT_PATHS {
        let ok = format!(
            r#"{{"version": 1, "triggers": [{{"id": "c", "when": {{"event": "$page"}},
              "audience": [{{"context": "{path}", "op": "exists", "value": true}}], "action": {{"type": "b"}}}}]}}"#
        );
        TriggerFile::parse(&ok).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}

#[test]
fn a_context_condition_reads_the_event_s_context() {
    let file = r#"{"version": 1, "triggers": [{"id": "welcome", "when": {"event": "$page",
        "where": [{"context": "campaign.name", "op": "in", "value": ["winter-sale"]}]},
        "action": {"type": "banner"}}]}"#;
    assert_eq!(
        fired(
            file,
            &[
                (page(T0), campaign("summer")),
                (page(T0 + 1), campaign("winter-sale"))
            ]
        ),
        ["welcome"]
    );
    // No context: a missing value, so `in` is false.
    assert!(fired(file, &[(page(T0), Vec::new())]).is_empty());
}

#[test]
fn a_delayed_firing_s_audience_reads_the_qualifying_event_s_context() {
    let file = r#"{"version": 1, "triggers": [{"id": "later", "when": {"event": "A"},
        "unless": {"event": "B", "within": "10m"},
        "audience": [{"context": "campaign.name", "op": "eq", "value": "winter-sale"}],
        "action": {"type": "banner"}}]}"#;
    // Qualified under the campaign: fires, even though a later event has none.
    assert_eq!(
        fired(
            file,
            &[
                (track("A", T0), campaign("winter-sale")),
                (track("C", T0 + 1), Vec::new())
            ]
        ),
        ["later"]
    );
    // Qualified without it: suppressed (audience), whatever comes after.
    assert!(fired(
        file,
        &[
            (track("A", T0), Vec::new()),
            (track("C", T0 + 1), campaign("winter-sale"))
        ]
    )
    .is_empty());
}

/// A frame of `visitor`'s `events` that landed from the winter sale.
fn frame(producer: u64, visitor: &str, events: Vec<Event<'static>>) -> Vec<u8> {
    frame::encode(&Frame {
        producer_id: producer,
        sequence: 0,
        sent_at: T0,
        context: Context {
            anonymous_id: visitor.to_owned().into(),
            campaign: vec![(
                Cow::Borrowed("utm_campaign"),
                Value::Str("winter-sale".into()),
            )],
            ..Context::default()
        },
        events,
    })
    .unwrap()
}

/// The triggers that fired for one appended frame, in order.
fn appended(
    p: &mut Partition,
    store: &mut MemoryStorage,
    bytes: &[u8],
    e: &Enrichment,
) -> Vec<String> {
    let ack = p.append_enriched(store, bytes, T0, Some(e)).unwrap();
    ack.firings
        .into_iter()
        .map(|(_, f)| f.trigger_id.to_string())
        .collect()
}

#[test]
fn the_partition_gives_triggers_the_frame_s_context_and_keeps_bots_out() {
    let file = r#"{"version": 1, "triggers": [
        {"id": "welcome", "when": {"event": "$page",
         "where": [{"context": "campaign.name", "op": "eq", "value": "winter-sale"}]}, "action": {"type": "b"}},
        {"id": "bots-too", "include_bots": true, "when": {"event": "$page"}, "action": {"type": "b"}},
        {"id": "desktop", "when": {"event": "$page", "where": [{"context": "device.type", "op": "eq", "value": "desktop"}]},
         "action": {"type": "b"}}]}"#;
    let mut store = MemoryStorage::new();
    let mut p = Partition::open(&store, PartitionConfig::new(0, 1)).unwrap();
    p.set_triggers(&mut store, file, TriggerFile::parse(file).unwrap())
        .unwrap();
    let desktop = Enrichment {
        device: Device {
            kind: Some("desktop".into()),
            ..Device::default()
        },
        bot: Some(false),
        ..Enrichment::default()
    };
    let first = appended(
        &mut p,
        &mut store,
        &frame(1, "v-1", vec![page(T0)]),
        &desktop,
    );
    assert_eq!(first, ["welcome", "bots-too", "desktop"]);
    // A bot's page view, from the same campaign: only the trigger that opted
    // in sees it.
    let bot = Enrichment {
        bot: Some(true),
        ..Enrichment::default()
    };
    let second = appended(&mut p, &mut store, &frame(2, "v-2", vec![page(T0)]), &bot);
    assert_eq!(second, ["bots-too"]);
    assert!(!store.is_empty());
}
