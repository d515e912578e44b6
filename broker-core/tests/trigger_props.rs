//! Property: however a log is cut into batches, whatever restarts, wake-ups
//! and replacements of the file by itself happen in between, the firings are
//! the same.

use broker_core::trigger::{Engine, Firing, TriggerFile};
use broker_core::{Event, EventKind, MemoryStorage, Storage, Value, WriteBatch};
use proptest::prelude::*;
use std::borrow::Cow;

const FILE: &str = r#"{"version": 1, "triggers": [
  {"id": "when-a", "when": {"event": "a", "where": [{"prop": "p", "op": "gte", "value": 1}]}, "cooldown": "2m", "action": {"type": "t"}},
  {"id": "count-a", "when": {"event": "a"}, "count": {"at_least": 2, "within": "5m"},
   "unless": {"event": "c", "within": "2m"}, "action": {"type": "t"}},
  {"id": "seq-ab", "sequence": [{"event": "a"}, {"event": "b"}], "within": "4m", "cooldown": "3m", "action": {"type": "t"}},
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

fn sorted(mut f: Vec<Firing>) -> Vec<(u64, String, String, String)> {
    f.sort_by(|x, y| (x.time, &x.visitor, &x.firing_id).cmp(&(y.time, &y.visitor, &y.firing_id)));
    f.into_iter()
        .map(|f| (f.time, f.visitor, f.trigger_id, f.firing_id))
        .collect()
}

struct Run {
    file: TriggerFile,
    engine: Engine,
    store: MemoryStorage,
    out: Vec<Firing>,
}

impl Run {
    fn new() -> Run {
        let file = TriggerFile::parse(FILE).expect("valid");
        Run {
            engine: Engine::new(file.clone()),
            file,
            store: MemoryStorage::new(),
            out: Vec::new(),
        }
    }
    fn events(&mut self, visitor: &str, events: &[Event<'static>], base: u64) {
        let mut w = WriteBatch::new();
        self.out.extend(
            self.engine
                .on_events(&self.store, &mut w, visitor, events, base)
                .expect("eval"),
        );
        self.store.commit(w).expect("commit");
    }
    fn timeout(&mut self, now: u64) {
        let mut w = WriteBatch::new();
        self.out.extend(
            self.engine
                .on_timeout(&self.store, &mut w, now)
                .expect("timeout"),
        );
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
                run.engine = Engine::new(run.file.clone());
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
        prop_assert_eq!(sorted(run.out), sorted(base.out));
        // What is left (traits, lifetime counters) is the same too.
        let all = |s: &MemoryStorage| s.scan(&[], &[0xff], usize::MAX).expect("scan");
        prop_assert_eq!(all(&run.store), all(&base.store));
    }
}
