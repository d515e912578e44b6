//! Replays the reference corpus through the engine with `examples/triggers.json`
//! and checks every firing against the independent reference implementation.

mod support {
    pub mod reference;
}

use broker_core::corpus::{self, CorpusEvent};
use broker_core::trigger::{Conversion, Engine, Firing, TriggerFile};
use broker_core::{MemoryStorage, Storage, WriteBatch};
use support::reference::{ref_events, reference_outcomes, RefConversion, RefFiring, RefOutcomes};

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
    engine_outcomes(triggers, events).firings
}

/// [`engine_firings`] with conversions and suppressions, in the
/// reference's shapes.
fn engine_outcomes(triggers: &str, events: &[CorpusEvent]) -> RefOutcomes {
    let file = TriggerFile::parse(triggers).expect("valid");
    let ids: Vec<String> = file.ids().map(str::to_owned).collect();
    let mut engine = Engine::new(file);
    let mut store = MemoryStorage::new();
    let mut all: Vec<Firing> = Vec::new();
    let mut conversions: Vec<Conversion> = Vec::new();
    let mut contexts = corpus::VisitContexts::new();
    for (offset, ce) in events.iter().enumerate() {
        let ctx = contexts.context(&ce.visitor, &ce.event);
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
                .on_events_in(&store, &mut w, &ce.visitor, batch, offset as u64, &ctx)
                .expect("eval"),
        );
        conversions.extend(engine.take_conversions());
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
            visitor: f.visitor.to_string(),
            trigger: f.trigger_id.to_string(),
            firing_id: f.firing_id,
            action_type: f.action_type.to_string(),
            payload: f.payload.to_string(),
            held_out: f.held_out,
        })
        .collect();
    out.sort();
    let mut conversions: Vec<RefConversion> = conversions
        .into_iter()
        .map(|c| RefConversion {
            time: c.time,
            visitor: c.visitor.to_string(),
            trigger: c.trigger_id.to_string(),
            firing_id: c.firing_id,
            held_out: c.held_out,
        })
        .collect();
    conversions.sort();
    let suppressed = ids
        .into_iter()
        .zip(engine.suppressions())
        .map(|(id, s)| {
            (
                id,
                [
                    s.audience,
                    s.cooldown,
                    s.max_per_user,
                    s.global_cap,
                    s.cancelled,
                ],
            )
        })
        .collect();
    RefOutcomes {
        firings: out,
        conversions,
        suppressed,
    }
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
    let outcomes = engine_outcomes(&triggers, &events);
    let reference = reference_outcomes(&triggers, &ref_events(&events));
    let (got, want) = (outcomes.firings, reference.firings);
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
    assert_eq!(outcomes.conversions, reference.conversions);
    assert_eq!(outcomes.suppressed, reference.suppressed);
    // Outcomes are exercised: held-out firings, conversions of both groups,
    // and the cap.
    let held = got.iter().filter(|f| f.held_out).count();
    let conv_held = reference.conversions.iter().filter(|c| c.held_out).count();
    let capped: u64 = reference.suppressed.values().map(|s| s[3]).sum();
    eprintln!(
        "held out {held}, conversions {} ({conv_held} held out), capped {capped}, suppressed {:?}",
        reference.conversions.len(),
        reference.suppressed
    );
    assert!(held > 0 && conv_held > 0 && reference.conversions.len() > conv_held);
    assert!(capped > 0, "the example's limits never bind on the corpus");
}

/// `triggers` with outcomes on: the file's `limits`, and for the trigger
/// at each index the holdout, goal event and goal window `each` gives.
fn with_outcomes(
    triggers: &str,
    limits: serde_json::Value,
    each: impl Fn(usize) -> (usize, &'static str, &'static str),
) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(triggers).expect("json");
    doc["limits"] = limits;
    let list = doc["triggers"].as_array_mut().expect("list");
    for (i, t) in list.iter_mut().enumerate() {
        let (holdout, goal, within) = each(i);
        t["holdout"] = serde_json::json!(holdout);
        t["goal"] = serde_json::json!({"event": goal, "within": within});
    }
    doc.to_string()
}

/// The reference and the engine agree on a file made to stress outcomes:
/// a tight cap, large holdouts and goals on every kind of trigger.
#[test]
fn outcomes_under_a_tight_cap_match_the_reference() {
    let events = load_corpus();
    let triggers = with_outcomes(
        &example_triggers(),
        serde_json::json!({"max_firings": 2, "within": "30m"}),
        |i| {
            let goal = if i % 2 == 0 { "Product Added" } else { "$page" };
            (i * 7 % 51, goal, "10m")
        },
    );
    let outcomes = engine_outcomes(&triggers, &events);
    let reference = reference_outcomes(&triggers, &ref_events(&events));
    assert_eq!(outcomes.firings, reference.firings);
    assert_eq!(outcomes.conversions, reference.conversions);
    assert_eq!(outcomes.suppressed, reference.suppressed);
    assert!(reference.suppressed.values().map(|s| s[3]).sum::<u64>() > 0);
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

/// `bench/triggers-50.json`, and the same with a goal and a holdout on each
/// trigger and a cap of 5 an hour.
fn bench_files() -> (String, String) {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../bench/triggers-50.json");
    let plain = std::fs::read_to_string(path).expect("bench/triggers-50.json");
    let outcomes = with_outcomes(
        &plain,
        serde_json::json!({"max_firings": 5, "within": "1h"}),
        |i| {
            let goal = ["Product Added", "Checkout Started", "$page"][i % 3];
            (i * 3 % 31, goal, "30m")
        },
    );
    (plain, outcomes)
}

/// The 50 triggers the benches run (`bench/triggers-50.json`: when, count,
/// sequence, unless, audience, cooldown and `max_per_user` in many
/// combinations), with and without outcomes, agree with the reference on
/// the corpus: the file whose speed the README reports is checked too.
#[test]
fn the_bench_file_matches_the_reference() {
    let events = load_corpus();
    let (plain, outcomes) = bench_files();
    for triggers in [plain, outcomes] {
        let outcomes = engine_outcomes(&triggers, &events);
        let reference = reference_outcomes(&triggers, &ref_events(&events));
        let counts = per_trigger(&reference.firings);
        // Not a comparison of two empty lists: 19 of the 50 fire on the
        // corpus without outcomes: when, count, sequence, unless, audience,
        // cooldown and max_per_user among them.
        assert!(counts.len() >= 15, "triggers that fire: {counts:?}");
        assert_eq!(outcomes.firings, reference.firings);
        assert_eq!(outcomes.conversions, reference.conversions);
        assert_eq!(outcomes.suppressed, reference.suppressed);
    }
}

#[path = "../benches/common/corpus_frames.rs"]
mod corpus_frames;

/// A partition appending the corpus as the SDK sends it (frames of 20
/// events of one visitor), with the 50 bench triggers and outcomes, keeps
/// trigger counters that add up to the reference's outcomes: per trigger,
/// firings delivered and held out, conversions of each, and suppressions by
/// reason. This is the path the relay's stats route reads: the engine's
/// record of each call, the counter journal, its running sum, its folds (an
/// append folds every 256 journal entries, the periodic work the rest).
#[test]
fn the_partition_s_counters_add_up_to_the_reference() {
    use broker_core::partition::{Partition, PartitionConfig};
    use std::collections::BTreeMap;

    let events = load_corpus();
    let (_, triggers) = bench_files();
    let reference = reference_outcomes(&triggers, &ref_events(&events));

    let (frames, _, newest) = corpus_frames::frames();
    let mut store = MemoryStorage::new();
    let mut p = Partition::open(&store, PartitionConfig::new(0, 0)).expect("open");
    let file = TriggerFile::parse(&triggers).expect("valid");
    p.set_triggers(&mut store, &triggers, file).expect("set");
    for f in &frames {
        p.append(&mut store, f, newest).expect("append");
    }
    // Every pending firing is due a day later; the counters' minutes are
    // all kept (31 days).
    p.handle_timeout(&mut store, newest + 24 * 3_600_000)
        .expect("timeout");

    // Per trigger and minute: fired, held out, conversions, held-out
    // conversions (the reference gives their times). Per trigger: the
    // suppressions by reason (it gives their totals).
    const MINUTE: u64 = 60_000;
    let mut want: BTreeMap<(String, u64), [u64; 4]> = BTreeMap::new();
    for f in &reference.firings {
        let at = (f.trigger.clone(), f.time / MINUTE * MINUTE);
        want.entry(at).or_default()[usize::from(f.held_out)] += 1;
    }
    for c in &reference.conversions {
        let at = (c.trigger.clone(), c.time / MINUTE * MINUTE);
        want.entry(at).or_default()[2 + usize::from(c.held_out)] += 1;
    }
    let mut want_suppressed = reference.suppressed.clone();
    want_suppressed.retain(|_, s| s.iter().any(|&n| n > 0));

    let read = p
        .trigger_stats(&store, 0, u64::MAX / 2, MINUTE, None, usize::MAX)
        .expect("read");
    assert!(!read.truncated);
    let mut got: BTreeMap<(String, u64), [u64; 4]> = BTreeMap::new();
    let mut got_suppressed: BTreeMap<String, [u64; 5]> = BTreeMap::new();
    for r in read.rows {
        let c = &r.counters;
        let s = &c.suppressed;
        let row = [c.fired, c.held_out, c.conversions, c.held_out_conversions];
        if row.iter().any(|&n| n > 0) {
            got.insert((r.trigger.clone(), r.start), row);
        }
        let reasons = [
            s.audience,
            s.cooldown,
            s.max_per_user,
            s.global_cap,
            s.cancelled,
        ];
        let g = got_suppressed.entry(r.trigger).or_default();
        for (a, b) in g.iter_mut().zip(reasons) {
            *a += b;
        }
    }
    got_suppressed.retain(|_, s| s.iter().any(|&n| n > 0));
    // Not empty maps: the corpus spans five minutes, in which 1,822
    // firings of most triggers are made, and most are suppressed somewhere.
    let firings: u64 = want.values().map(|w| w[0] + w[1]).sum();
    assert!(
        want.len() >= 60 && firings >= 1_000,
        "{} minutes with outcomes, {firings} firings",
        want.len()
    );
    assert!(want_suppressed.len() >= 20, "{want_suppressed:?}");
    assert_eq!(got, want);
    assert_eq!(got_suppressed, want_suppressed);
}
