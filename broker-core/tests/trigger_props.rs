//! Property: however a log is cut into batches, whatever restarts, wake-ups
//! and replacements of the file by itself happen in between, the outcomes
//! are the same: firings (delivered and held out), conversions and
//! suppressions by reason and time, under a cap that binds often.

use broker_core::trigger::{Conversion, Engine, Firing, Suppressed, TriggerFile};
use broker_core::{Event, EventKind, MemoryStorage, Storage, Value, WriteBatch};
use proptest::prelude::*;
use std::borrow::Cow;

const FILE: &str = r#"{"version": 1, "limits": {"max_firings": 3, "within": "3m"}, "triggers": [
  {"id": "when-a", "when": {"event": "a", "where": [{"prop": "p", "op": "gte", "value": 1}]}, "cooldown": "2m",
   "goal": {"event": "b", "within": "2m"}, "action": {"type": "t"}},
  {"id": "count-a", "when": {"event": "a"}, "count": {"at_least": 2, "within": "5m"},
   "unless": {"event": "c", "within": "2m"}, "goal": {"event": "b", "where": [{"prop": "p", "op": "eq", "value": 2}], "within": "5m"},
   "holdout": 30, "action": {"type": "t"}},
  {"id": "seq-ab", "sequence": [{"event": "a"}, {"event": "b"}], "within": "4m", "cooldown": "3m", "holdout": 50,
   "goal": {"event": "c", "within": "5m"}, "action": {"type": "t"}},
  {"id": "aud-b", "when": {"event": "b"}, "audience": [{"trait": "p", "op": "eq", "value": 1}], "max_per_user": 2, "action": {"type": "t"}},
  {"id": "seq-aac", "sequence": [{"event": "a"}, {"event": "a"}, {"event": "c"}], "within": "10m",
   "unless": {"event": "b", "within": "1m"}, "action": {"type": "t"}}
]}"#;

const NAMES: [&str; 4] = ["a", "b", "c", "$identify"];
const VISITORS: [&str; 3] = ["v-0", "v-1", "v-2"];

/// `(visitor, event)` in log order; each visitor's time never goes back.
fn log(spec: &[(usize, usize, u64, i64)]) -> Vec<(usize, Event<'static>)> {
    let mut clock = [1_764_000_000_000u64; 3];
    spec.iter()
        .map(|&(v, n, delta_s, p)| {
            clock[v] += delta_s * 1_000;
            let kind = if NAMES[n] == "$identify" {
                EventKind::Identify
            } else {
                EventKind::Track
            };
            let event = Event {
                kind,
                name: Cow::Borrowed(NAMES[n]),
                timestamp: clock[v],
                properties: vec![(Cow::Borrowed("p"), Value::Int(p))],
            };
            (v, event)
        })
        .collect()
}

fn sorted(mut f: Vec<Firing>) -> Vec<(u64, String, String, String, bool)> {
    f.sort_by(|x, y| (x.time, &x.visitor, &x.firing_id).cmp(&(y.time, &y.visitor, &y.firing_id)));
    f.into_iter()
        .map(|f| {
            (
                f.time,
                f.visitor.to_string(),
                f.trigger_id.to_string(),
                f.firing_id,
                f.held_out,
            )
        })
        .collect()
}

fn sorted_conversions(c: &[Conversion]) -> Vec<(u64, String, String, bool)> {
    let mut out: Vec<_> = c
        .iter()
        .map(|c| {
            (
                c.time,
                c.firing_id.clone(),
                c.trigger_id.to_string(),
                c.held_out,
            )
        })
        .collect();
    out.sort();
    out
}

fn sorted_suppressed(s: &[Suppressed]) -> Vec<(u64, String, String)> {
    let mut out: Vec<_> = s
        .iter()
        .map(|s| (s.time, s.trigger_id.clone(), s.reason.name().to_owned()))
        .collect();
    out.sort();
    out
}

struct Run {
    file: TriggerFile,
    engine: Engine,
    store: MemoryStorage,
    out: Vec<Firing>,
    conversions: Vec<Conversion>,
    suppressed: Vec<Suppressed>,
}

impl Run {
    fn new() -> Run {
        Run::of(FILE)
    }
    fn of(text: &str) -> Run {
        let file = TriggerFile::parse(text).expect("valid");
        let mut engine = Engine::new(file.clone());
        engine.record_suppressions();
        Run {
            engine,
            file,
            store: MemoryStorage::new(),
            out: Vec::new(),
            conversions: Vec::new(),
            suppressed: Vec::new(),
        }
    }
    fn collect(&mut self) {
        self.conversions.extend(self.engine.take_conversions());
        self.suppressed.extend(self.engine.take_suppressed());
    }
    fn restart(&mut self) {
        self.collect();
        self.engine = Engine::new(self.file.clone());
        self.engine.record_suppressions();
    }
    fn events(&mut self, visitor: &str, events: &[Event<'static>], base: u64) {
        let mut w = WriteBatch::new();
        self.out.extend(
            self.engine
                .on_events(&self.store, &mut w, visitor, events, base)
                .expect("eval"),
        );
        self.collect();
        self.store.commit(w).expect("commit");
    }
    fn timeout(&mut self, now: u64) {
        let mut w = WriteBatch::new();
        self.out.extend(
            self.engine
                .on_timeout(&self.store, &mut w, now)
                .expect("timeout"),
        );
        self.collect();
        self.store.commit(w).expect("commit");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn batching_restarts_and_wakeups_do_not_change_firings(
        spec in prop::collection::vec((0usize..3, 0usize..4, 0u64..150, 0i64..3), 1..80),
        cuts in prop::collection::vec(any::<bool>(), 80),
        restarts in prop::collection::vec(any::<bool>(), 80),
        wakeups in prop::collection::vec(any::<bool>(), 80),
        replaces in prop::collection::vec(any::<bool>(), 80),
    ) {
        let log = log(&spec);

        let mut base = Run::new();
        for (i, (v, e)) in log.iter().enumerate() {
            base.events(VISITORS[*v], std::slice::from_ref(e), i as u64);
        }
        base.timeout(u64::MAX);

        let mut run = Run::new();
        let mut i = 0;
        while i < log.len() {
            // A batch: a run of one visitor's consecutive events, cut where `cuts` says.
            let v = log[i].0;
            let mut j = i + 1;
            while j < log.len() && log[j].0 == v && !cuts[j] {
                j += 1;
            }
            let batch: Vec<Event<'static>> = log[i..j].iter().map(|(_, e)| e.clone()).collect();
            run.events(VISITORS[v], &batch, i as u64);
            if restarts[i] {
                run.restart();
            }
            if replaces[i] {
                // Replacing the file by itself keeps every trigger's state.
                let mut w = WriteBatch::new();
                run.engine.replace(run.file.clone(), &run.store, &mut w).expect("replace");
                run.store.commit(w).expect("commit");
            }
            if wakeups[i] {
                // Safe "now": before the next event of every visitor still to come.
                let now = log[j..].iter().map(|(_, e)| e.timestamp).min().unwrap_or(u64::MAX).saturating_sub(1);
                let latest_sent = log[..j].iter().map(|(_, e)| e.timestamp).max().unwrap_or(0);
                run.timeout(now.min(latest_sent));
            }
            i = j;
        }
        run.timeout(u64::MAX);
        prop_assert_eq!(sorted_conversions(&run.conversions), sorted_conversions(&base.conversions));
        prop_assert_eq!(sorted_suppressed(&run.suppressed), sorted_suppressed(&base.suppressed));
        prop_assert_eq!(sorted(run.out), sorted(base.out));
        // What is left (traits, lifetime counters) is the same too.
        let all = |s: &MemoryStorage| s.scan(&[], &[0xff], usize::MAX).expect("scan");
        prop_assert_eq!(all(&run.store), all(&base.store));
    }
}

/// [`FILE`] without its triggers' goals.
fn without_goals() -> String {
    let mut doc: serde_json::Value = serde_json::from_str(FILE).expect("JSON");
    for t in doc["triggers"].as_array_mut().expect("triggers") {
        t.as_object_mut().expect("a trigger").remove("goal");
    }
    doc.to_string()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A goal only adds conversions: the firings (delivered and held out)
    /// and suppressions are the ones the same triggers make without goals,
    /// also when a visitor's times go back within a batch (the engine keeps
    /// a goal apart from its trigger's rule).
    #[test]
    fn goals_do_not_change_firings(
        spec in prop::collection::vec((0usize..3, 0usize..4, 0u64..150, 0i64..3), 1..80),
        back in prop::collection::vec(0u64..400, 80),
    ) {
        // Some events stamped earlier than the one before them.
        let mut log = log(&spec);
        for (i, (_, e)) in log.iter_mut().enumerate() {
            if back[i] < 100 {
                e.timestamp -= back[i] * 1_000;
            }
        }
        let mut runs = [Run::new(), Run::of(&without_goals())];
        for run in &mut runs {
            let mut i = 0;
            while i < log.len() {
                // A batch: a run of one visitor's consecutive events.
                let v = log[i].0;
                let j = i + log[i..].iter().take_while(|(w, _)| *w == v).count();
                let batch: Vec<Event<'static>> = log[i..j].iter().map(|(_, e)| e.clone()).collect();
                run.events(VISITORS[v], &batch, i as u64);
                i = j;
            }
            run.timeout(u64::MAX);
        }
        let [with, without] = runs;
        prop_assert!(without.conversions.is_empty());
        prop_assert_eq!(sorted_suppressed(&with.suppressed), sorted_suppressed(&without.suppressed));
        prop_assert_eq!(sorted(with.out), sorted(without.out));
    }
}

/// The property's file exercises outcomes: over a fixed busy log, every kind
/// of record and the cap occur (so the property above is not vacuous).
#[test]
fn the_file_exercises_every_outcome() {
    let spec: Vec<(usize, usize, u64, i64)> = (0..600u64)
        .map(|i| {
            (
                (i % 3) as usize,
                (i * 7 % 4) as usize,
                i * 13 % 40,
                (i % 3) as i64,
            )
        })
        .collect();
    let mut run = Run::new();
    for (i, (v, e)) in log(&spec).iter().enumerate() {
        run.events(VISITORS[*v], std::slice::from_ref(e), i as u64);
    }
    run.timeout(u64::MAX);
    let reasons: std::collections::BTreeSet<&str> =
        run.suppressed.iter().map(|s| s.reason.name()).collect();
    assert!(run.out.iter().any(|f| f.held_out) && run.out.iter().any(|f| !f.held_out));
    assert!(
        run.conversions.iter().any(|c| c.held_out) && run.conversions.iter().any(|c| !c.held_out)
    );
    assert!(
        reasons.contains("global_cap") && reasons.contains("cooldown"),
        "{reasons:?}"
    );
}
