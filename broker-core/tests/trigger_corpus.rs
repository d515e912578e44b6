//! Replays the reference corpus through the engine with `examples/triggers.json`
//! and checks every firing against the independent reference implementation.

mod support {
    pub mod reference;
}

use broker_core::corpus::{self, CorpusEvent};
use broker_core::event::map_to_json;
use broker_core::trigger::{Engine, Firing, TriggerFile};
use broker_core::{MemoryStorage, Storage, WriteBatch};
use support::reference::{reference_firings, RefEvent, RefFiring};

fn load_corpus() -> Vec<CorpusEvent> {
    let path = corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    corpus::parse_corpus(&text).expect("corpus parses")
}

fn example_triggers() -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/triggers.json");
    std::fs::read_to_string(path).expect("examples/triggers.json")
}

/// Each event its own batch in input order, offsets = input order; wake-ups
/// before each event for everything due before its time, and at the end.
fn engine_firings(triggers: &str, events: &[CorpusEvent]) -> Vec<RefFiring> {
    let mut engine = Engine::new(TriggerFile::parse(triggers).expect("valid"));
    let mut store = MemoryStorage::new();
    let mut all: Vec<Firing> = Vec::new();
    for (offset, ce) in events.iter().enumerate() {
        let mut w = WriteBatch::new();
        all.extend(
            engine
                .on_timeout(&store, &mut w, ce.event.timestamp.saturating_sub(1))
                .expect("timeout"),
        );
        store.commit(w).expect("commit");
        let mut w = WriteBatch::new();
        let batch = std::slice::from_ref(&ce.event);
        all.extend(
            engine
                .on_events(&store, &mut w, &ce.visitor, batch, offset as u64)
                .expect("eval"),
        );
        store.commit(w).expect("commit");
    }
    let mut w = WriteBatch::new();
    all.extend(
        engine
            .on_timeout(&store, &mut w, u64::MAX)
            .expect("timeout"),
    );
    store.commit(w).expect("commit");
    assert_eq!(engine.poll_timeout(&store).expect("poll"), None);
    let mut out: Vec<RefFiring> = all
        .into_iter()
        .map(|f| RefFiring {
            time: f.time,
            visitor: f.visitor,
            trigger: f.trigger_id,
            firing_id: f.firing_id,
            action_type: f.action_type,
            payload: f.payload,
        })
        .collect();
    out.sort();
    out
}

fn ref_events(events: &[CorpusEvent]) -> Vec<RefEvent> {
    events
        .iter()
        .enumerate()
        .map(|(i, ce)| RefEvent {
            offset: i as u64,
            visitor: ce.visitor.clone(),
            name: ce.event.trigger_name().to_owned(),
            time: ce.event.timestamp,
            props: map_to_json(&ce.event.properties),
        })
        .collect()
}

fn per_trigger(firings: &[RefFiring]) -> std::collections::BTreeMap<&str, usize> {
    let mut m = std::collections::BTreeMap::new();
    for f in firings {
        *m.entry(f.trigger.as_str()).or_default() += 1;
    }
    m
}

#[test]
fn the_example_file_on_the_corpus_matches_the_reference() {
    let events = load_corpus();
    assert_eq!(events.len(), 10_728);
    let triggers = example_triggers();
    let got = engine_firings(&triggers, &events);
    let want = reference_firings(&triggers, &ref_events(&events));
    let counts = per_trigger(&want);
    eprintln!("firings per trigger: {counts:?}");
    // Every enabled trigger fires on the corpus, so each feature is exercised.
    for id in TriggerFile::parse(&triggers)
        .expect("valid")
        .triggers()
        .filter(|t| t.enabled())
        .map(|t| t.id())
    {
        assert!(
            counts.get(id).copied().unwrap_or(0) > 0,
            "{id} never fires on the corpus"
        );
    }
    assert_eq!(
        got.len(),
        want.len(),
        "engine {:?} vs reference {counts:?}",
        per_trigger(&got)
    );
    assert_eq!(got, want);
}

#[test]
fn merged_by_time_and_visit_by_visit_give_the_same_firings() {
    let events = load_corpus();
    let triggers = example_triggers();
    let mut merged = events.clone();
    merged.sort_by_key(|e| e.event.timestamp); // stable: each visitor keeps its order
    let strip = |v: Vec<RefFiring>| -> Vec<(u64, String, String)> {
        v.into_iter()
            .map(|f| (f.time, f.visitor, f.trigger))
            .collect()
    };
    assert_eq!(
        strip(engine_firings(&triggers, &events)),
        strip(engine_firings(&triggers, &merged))
    );
}
