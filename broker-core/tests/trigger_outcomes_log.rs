//! Outcomes through a partition: held-out firings and conversions are
//! appended to the firing stream as records of their own kind, never
//! pushed to a page nor kept as undelivered, counted per minute in the same
//! commit, and the state behind them survives a restart.

use broker_core::frame::{Context, FrameBuilder};
use broker_core::partition::{Partition, PartitionConfig};
use broker_core::stats::HOUR_MS;
use broker_core::trigger::{holdout_bucket, Outcome, TriggerFile};
use broker_core::{Event, EventKind, MemoryStorage};
use std::borrow::Cow;

const T0: u64 = 1_764_000_000_000;
const FILE: &str = r#"{"version": 1, "triggers": [{"id": "h", "when": {"event": "a"}, "holdout": 50,
  "goal": {"event": "b", "within": "1h"}, "action": {"type": "banner"}}]}"#;

fn frame(visitor: &str, producer: u64, seq: u64, name: &str, t: u64) -> Vec<u8> {
    let ctx = Context {
        anonymous_id: Cow::Owned(visitor.to_owned()),
        ..Context::default()
    };
    let mut b = FrameBuilder::new(&ctx);
    b.push(&Event {
        kind: EventKind::Track,
        name: Cow::Owned(name.to_owned()),
        timestamp: t,
        properties: vec![],
    })
    .expect("fits");
    b.finish(producer, seq, t)
}

fn open(store: &MemoryStorage) -> Partition {
    Partition::open(store, PartitionConfig::new(0, 0)).expect("open")
}

#[test]
fn held_out_firings_and_conversions_are_logged_counted_and_never_delivered() {
    let held = (0..)
        .map(|i| format!("v-{i}"))
        .find(|v| holdout_bucket("h", v) < 50)
        .expect("a held-out visitor");
    let treated = (0..)
        .map(|i| format!("v-{i}"))
        .find(|v| holdout_bucket("h", v) >= 50)
        .expect("a treated visitor");
    let mut store = MemoryStorage::new();
    let mut p = open(&store);
    p.set_triggers(&mut store, FILE, TriggerFile::parse(FILE).expect("valid"))
        .expect("set");
    for (n, v) in [&held, &treated].into_iter().enumerate() {
        let out = p
            .append(&mut store, &frame(v, n as u64 + 1, 0, "a", T0), T0)
            .expect("append");
        assert_eq!(out.firings.len(), usize::from(v == &treated), "{v}");
    }
    // A restart between the firing and its goal: the open firings are stored.
    let mut p = open(&store);
    for (n, v) in [&held, &treated].into_iter().enumerate() {
        let out = p
            .append(&mut store, &frame(v, n as u64 + 1, 1, "b", T0 + 5), T0 + 5)
            .expect("append");
        assert!(out.firings.is_empty(), "conversions are not pushed");
    }
    let read = p.read_firings(&store, 0, 100, usize::MAX).expect("read");
    let kinds: Vec<(&str, &str)> = read
        .records
        .iter()
        .map(|r| (r.outcome.kind(), r.outcome.visitor()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("held_out", held.as_str()),
            ("firing", treated.as_str()),
            ("conversion", held.as_str()),
            ("conversion", treated.as_str()),
        ]
    );
    let Outcome::Converted(c) = &read.records[2].outcome else {
        panic!("a conversion")
    };
    assert!(c.held_out && c.time == T0 + 5);
    assert_eq!(
        Some(&c.firing_id),
        read.records[0].outcome.firing().map(|f| &f.firing_id)
    );
    // Only the delivered firing waits for a page.
    assert!(p
        .undelivered_firings(&store, &held)
        .expect("read")
        .is_empty());
    assert_eq!(
        p.undelivered_firings(&store, &treated).expect("read").len(),
        1
    );
    // Counted in the append's commit.
    let stats = p
        .trigger_stats(&store, T0 - HOUR_MS, T0 + HOUR_MS, HOUR_MS, None, 100)
        .expect("stats");
    let c = &stats.rows[0].counters;
    assert_eq!(
        (
            c.fired,
            c.held_out,
            c.conversions,
            c.held_out_conversions,
            c.visitors.count()
        ),
        (1, 1, 1, 1, 1)
    );
}

#[test]
fn explain_replays_the_newest_events_of_the_visitor_and_says_when_older_were_left_out() {
    let mut store = MemoryStorage::new();
    let mut p = open(&store);
    p.set_triggers(&mut store, FILE, TriggerFile::parse(FILE).expect("valid"))
        .expect("set");
    for (i, name) in ["a", "b", "a"].into_iter().enumerate() {
        let t = T0 + i as u64;
        p.append(&mut store, &frame("v", 1, i as u64, name, t), t)
            .expect("append");
    }
    let all = p
        .explain(&store, "h", "v", T0 + 10, 100)
        .expect("store")
        .expect("explained");
    assert_eq!(
        (
            all["truncated"].as_bool(),
            all["events"].as_array().map(Vec::len)
        ),
        (Some(false), Some(3))
    );
    let newest = p
        .explain(&store, "h", "v", T0 + 10, 1)
        .expect("store")
        .expect("explained");
    assert_eq!(newest["truncated"], true);
    assert_eq!(newest["events"][0]["offset"], 2);
    assert!(matches!(
        p.explain(&store, "nope", "v", T0, 10).expect("store"),
        Err(broker_core::trigger::ExplainError::UnknownTrigger { .. })
    ));
}
