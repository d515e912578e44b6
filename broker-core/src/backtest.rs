//! What a trigger file would have done over recorded events: the engine
//! replayed in memory from fresh state, wake-ups included, and the figures
//! a marketer reads before pushing it.
//!
//! [`Replay`] drives one [`Engine`] over events in log order (the CLI over a
//! file, the relay's partition over its retained log); [`Report`] counts
//! what it did per trigger, and reports of disjoint visitors (partitions)
//! [`merge`](Report::merge) exactly: the per-visitor figures are kept as a
//! histogram, so medians and percentiles of the merged report are exact.
//!
//! ```
//! use broker_core::backtest::{Replay, Report};
//! use broker_core::trigger::TriggerFile;
//! use broker_core::{Event, EventKind};
//!
//! let file = TriggerFile::parse(r#"{"version": 1, "triggers": [{"id": "hi",
//!     "when": {"event": "$page"}, "cooldown": "1h", "action": {"type": "banner"}}]}"#)?;
//! let page = |t| Event { kind: EventKind::Page, name: "Home".into(), timestamp: t, properties: vec![] };
//! let mut replay = Replay::new(file.clone());
//! replay.events("v-1", &[page(1_000), page(2_000)], 0)?; // the second is in the cooldown
//! replay.events("v-2", &[page(1_500)], 2)?;
//! let run = replay.finish(u64::MAX)?;
//! let report = Report::of(&file, &run, 10);
//! let hi = &report.triggers[0];
//! assert_eq!((hi.firings, hi.visitors, hi.suppressed.cooldown), (2, 2, 1));
//! assert_eq!(report.figures(&report.triggers[0]).per_visitor.median, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use crate::trigger::{Conversion, Engine, Firing, Suppressions, TriggerFile};
use crate::{Event, Map, MemoryStorage, Storage, StorageError, WriteBatch};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The engine over recorded events, in memory. See the module docs.
#[derive(Debug)]
pub struct Replay {
    engine: Engine,
    store: MemoryStorage,
    firings: Vec<Firing>,
    conversions: Vec<Conversion>,
    events: u64,
    visitors: HashSet<String>,
}

/// What a [`Replay`] did.
#[derive(Debug, Clone)]
pub struct Run {
    /// Every firing, delivered or held out, in the order the engine made them.
    pub firings: Vec<Firing>,
    /// Every goal conversion, in the order the engine found them.
    pub conversions: Vec<Conversion>,
    /// Suppressed firings per trigger, in file order.
    pub suppressed: Vec<Suppressions>,
    /// Events evaluated.
    pub events: u64,
    /// Distinct visitors among them.
    pub visitors: u64,
}

impl Replay {
    /// A replay of `file` from fresh state.
    pub fn new(file: TriggerFile) -> Replay {
        Replay {
            engine: Engine::new(file),
            store: MemoryStorage::new(),
            firings: Vec::new(),
            conversions: Vec::new(),
            events: 0,
            visitors: HashSet::new(),
        }
    }

    /// Evaluates one visitor's consecutive events, the first at log offset
    /// `base` (firing ids derive from offsets, so they match the relay's).
    /// Consecutive events of one visitor may come in one call: the engine
    /// fires what falls due between them exactly as separate calls would.
    /// A visitor's delayed firings fire at its next event after their due
    /// time, or at [`Replay::finish`]; each carries its due time either way.
    pub fn events(
        &mut self,
        visitor: &str,
        events: &[Event<'_>],
        base: u64,
    ) -> Result<(), StorageError> {
        self.events_in(visitor, events, base, &Vec::new())
    }

    /// [`Replay::events`] for events that share the context `ctx` (their
    /// frame's, under the spec's context paths), which `context` conditions
    /// read.
    pub fn events_in(
        &mut self,
        visitor: &str,
        events: &[Event<'_>],
        base: u64,
        ctx: &Map<'_>,
    ) -> Result<(), StorageError> {
        if events.is_empty() {
            return Ok(());
        }
        self.events += events.len() as u64;
        if !self.visitors.contains(visitor) {
            self.visitors.insert(visitor.to_owned());
        }
        // A visitor's delayed firings due before this event fire first,
        // inside the engine. Nothing fires by another visitor's clock: the
        // log interleaves visitors out of time order, and a firing must not
        // depend on that (only on its own visitor's events), so the result
        // is the same for any partitioning and any order between visitors.
        let mut w = WriteBatch::new();
        let fired = self
            .engine
            .on_events_in(&self.store, &mut w, visitor, events, base, ctx)?;
        self.firings.extend(fired);
        self.conversions.extend(self.engine.take_conversions());
        self.store.commit(w)
    }

    /// Lets time run on to `until` (every delayed firing due by then fires;
    /// `u64::MAX`: all of them) and ends the replay.
    pub fn finish(mut self, until: u64) -> Result<Run, StorageError> {
        let mut w = WriteBatch::new();
        let fired = self.engine.on_timeout(&self.store, &mut w, until)?;
        self.firings.extend(fired);
        self.conversions.extend(self.engine.take_conversions());
        self.store.commit(w)?;
        Ok(Run {
            suppressed: self.engine.suppressions().to_vec(),
            firings: self.firings,
            conversions: self.conversions,
            events: self.events,
            visitors: self.visitors.len() as u64,
        })
    }
}

/// Per trigger, what a replay did; reports of disjoint visitors merge.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// Events evaluated.
    pub events: u64,
    /// Distinct visitors among them.
    pub visitors: u64,
    /// One entry per trigger of the file, in file order.
    pub triggers: Vec<TriggerReport>,
}

/// One trigger's part of a [`Report`].
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TriggerReport {
    /// The trigger's id.
    pub id: String,
    /// Firings delivered (held-out ones are counted in `held_out`).
    pub firings: u64,
    /// Distinct visitors it delivered firings to.
    pub visitors: u64,
    /// Held-out firings (`holdout`): recorded, not delivered.
    #[serde(default)]
    pub held_out: u64,
    /// Goal conversions of delivered firings.
    #[serde(default)]
    pub conversions: u64,
    /// Goal conversions of held-out firings.
    #[serde(default)]
    pub held_out_conversions: u64,
    /// Delivered firings per visitor reached, as `[firings, visitors]` pairs in
    /// ascending order of firings (a histogram, so that merging is exact).
    pub per_visitor: Vec<(u64, u64)>,
    /// Why it qualified but did not fire.
    pub suppressed: Suppressions,
    /// The earliest firings (by time, then visitor), at most the sample size.
    pub sample: Vec<serde_json::Value>,
}

/// Figures derived from a [`TriggerReport`] and its [`Report`].
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Figures {
    /// Share of the report's visitors the trigger fired for (0 to 1).
    pub share: f64,
    /// Firings per visitor reached.
    pub per_visitor: PerVisitor,
}

/// Firings per visitor reached: median, 90th percentile (nearest rank) and
/// maximum; all 0 when nobody was reached.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct PerVisitor {
    /// Median (the lower middle for an even count).
    pub median: u64,
    /// 90th percentile.
    pub p90: u64,
    /// Maximum.
    pub max: u64,
}

impl Report {
    /// The report of `run`, a replay of `file`, keeping `sample` firings per
    /// trigger.
    pub fn of(file: &TriggerFile, run: &Run, sample: usize) -> Report {
        // Per trigger: firings, firings per visitor, the firings themselves.
        type Tally<'a> = (u64, HashMap<&'a str, u64>, Vec<&'a Firing>);
        let mut per: HashMap<&str, Tally<'_>> = HashMap::new();
        // Per trigger: held-out firings, conversions, held-out conversions.
        let mut outcomes: HashMap<&str, (u64, u64, u64)> = HashMap::new();
        for c in &run.conversions {
            let e = outcomes.entry(&*c.trigger_id).or_default();
            if c.held_out {
                e.2 += 1;
            } else {
                e.1 += 1;
            }
        }
        for f in &run.firings {
            if f.held_out {
                outcomes.entry(&*f.trigger_id).or_default().0 += 1;
                continue;
            }
            let e = per.entry(&*f.trigger_id).or_default();
            e.0 += 1;
            *e.1.entry(&*f.visitor).or_default() += 1;
            e.2.push(f);
        }
        let triggers = file
            .ids()
            .enumerate()
            .map(|(i, id)| {
                let mut t = TriggerReport {
                    id: id.to_owned(),
                    suppressed: run.suppressed.get(i).copied().unwrap_or_default(),
                    ..TriggerReport::default()
                };
                if let Some(&(held_out, conversions, held_conversions)) = outcomes.get(id) {
                    t.held_out = held_out;
                    t.conversions = conversions;
                    t.held_out_conversions = held_conversions;
                }
                if let Some((firings, visitors, list)) = per.get_mut(id) {
                    t.firings = *firings;
                    t.visitors = visitors.len() as u64;
                    let mut hist: BTreeMap<u64, u64> = BTreeMap::new();
                    for n in visitors.values() {
                        *hist.entry(*n).or_default() += 1;
                    }
                    t.per_visitor = hist.into_iter().collect();
                    list.sort_by(|a, b| (a.time, &a.visitor).cmp(&(b.time, &b.visitor)));
                    t.sample = list
                        .iter()
                        .take(sample)
                        .map(|f| crate::export::firing_to_json(f))
                        .collect();
                }
                t
            })
            .collect();
        Report {
            events: run.events,
            visitors: run.visitors,
            triggers,
        }
    }

    /// Adds `other`, a report of the same file over other visitors (another
    /// partition), keeping `sample` firings per trigger.
    pub fn merge(&mut self, other: &Report, sample: usize) {
        self.events += other.events;
        self.visitors += other.visitors;
        for o in &other.triggers {
            let Some(t) = self.triggers.iter_mut().find(|t| t.id == o.id) else {
                self.triggers.push(o.clone());
                continue;
            };
            t.firings += o.firings;
            t.visitors += o.visitors;
            t.held_out += o.held_out;
            t.conversions += o.conversions;
            t.held_out_conversions += o.held_out_conversions;
            let mut hist: BTreeMap<u64, u64> = t.per_visitor.iter().copied().collect();
            for (n, v) in &o.per_visitor {
                *hist.entry(*n).or_default() += v;
            }
            t.per_visitor = hist.into_iter().collect();
            t.suppressed.add(&o.suppressed);
            t.sample.extend(o.sample.iter().cloned());
            let key = |v: &serde_json::Value| {
                (
                    v["time"].as_u64().unwrap_or(0),
                    v["visitor"].as_str().unwrap_or("").to_owned(),
                )
            };
            t.sample.sort_by_key(key);
            t.sample.truncate(sample);
        }
    }

    /// The derived figures of `t`, one of this report's triggers.
    pub fn figures(&self, t: &TriggerReport) -> Figures {
        let share = if self.visitors == 0 {
            0.0
        } else {
            t.visitors as f64 / self.visitors as f64
        };
        Figures {
            share,
            per_visitor: PerVisitor::of(&t.per_visitor),
        }
    }
}

impl PerVisitor {
    /// From a histogram of `[firings, visitors]` pairs in ascending order.
    pub fn of(hist: &[(u64, u64)]) -> PerVisitor {
        let total: u64 = hist.iter().map(|(_, v)| v).sum();
        if total == 0 {
            return PerVisitor::default();
        }
        // Nearest rank: the smallest value with at least `rank` visitors at
        // or below it.
        let at = |rank: u64| {
            let mut seen = 0;
            for (n, v) in hist {
                seen += v;
                if seen >= rank {
                    return *n;
                }
            }
            hist.last().map_or(0, |(n, _)| *n)
        };
        PerVisitor {
            median: at(total.div_ceil(2)),
            p90: at((total * 9).div_ceil(10)),
            max: hist.last().map_or(0, |(n, _)| *n),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EventKind;

    fn file(json: &str) -> TriggerFile {
        TriggerFile::parse(json).unwrap()
    }

    /// One trigger, "d": on A, fires 10 minutes later unless B came first.
    const A_UNLESS_B_IN_10M: &str = r#"{"version": 1, "triggers": [{"id": "d",
        "when": {"event": "A"}, "unless": {"event": "B", "within": "10m"},
        "action": {"type": "x"}}]}"#;

    fn track(name: &str, t: u64) -> Event<'static> {
        Event {
            kind: EventKind::Track,
            name: name.to_owned().into(),
            timestamp: t,
            properties: vec![],
        }
    }

    #[test]
    fn percentiles_are_nearest_rank_over_the_histogram() {
        assert_eq!(PerVisitor::of(&[]), PerVisitor::default());
        let p = PerVisitor::of(&[(1, 5), (2, 4), (9, 1)]);
        assert_eq!((p.median, p.p90, p.max), (1, 2, 9));
        let p = PerVisitor::of(&[(3, 1)]);
        assert_eq!((p.median, p.p90, p.max), (3, 3, 3));
        // 10 visitors: rank 5 is the median, rank 9 the p90.
        let p = PerVisitor::of(&[(1, 4), (2, 1), (3, 4), (4, 1)]);
        assert_eq!((p.median, p.p90, p.max), (2, 3, 4));
    }

    #[test]
    fn merging_partition_reports_equals_one_report_over_all_visitors() {
        let f = file(
            r#"{"version": 1, "triggers": [
              {"id": "a", "when": {"event": "A"}, "action": {"type": "x"}},
              {"id": "later", "when": {"event": "A"}, "unless": {"event": "B", "within": "10m"},
               "action": {"type": "y"}}]}"#,
        );
        let visitors: Vec<(String, Vec<Event<'static>>)> = (0..20u64)
            .map(|v| {
                let events = (0..v % 4 + 1)
                    .map(|i| track(if i == 2 { "B" } else { "A" }, 1_000 + v * 10 + i * 60_000))
                    .collect();
                (format!("v-{v}"), events)
            })
            .collect();
        let run_of = |which: &mut dyn Iterator<Item = &(String, Vec<Event<'static>>)>| {
            let mut r = Replay::new(f.clone());
            let mut offset = 0;
            for (v, events) in which {
                r.events(v, events, offset).unwrap();
                offset += events.len() as u64;
            }
            r.finish(u64::MAX).unwrap()
        };
        let all = Report::of(&f, &run_of(&mut visitors.iter()), 5);
        let mut merged = Report::of(&f, &run_of(&mut visitors.iter().step_by(2)), 5);
        let odd = Report::of(&f, &run_of(&mut visitors.iter().skip(1).step_by(2)), 5);
        merged.merge(&odd, 5);
        assert_eq!(merged.events, all.events);
        assert_eq!(merged.visitors, 20);
        for (m, a) in merged.triggers.iter().zip(&all.triggers) {
            assert_eq!(
                (m.firings, m.visitors, &m.per_visitor, m.suppressed),
                (a.firings, a.visitors, &a.per_visitor, a.suppressed),
                "{}",
                a.id
            );
            assert_eq!(m.sample.len(), a.sample.len());
        }
        // 50 events, of which 10 are B (every visitor with three or more).
        assert_eq!((all.events, all.triggers[0].firings), (50, 40));
        // Each B cancels the two A's `later` firings pending before it.
        assert_eq!(all.triggers[1].suppressed.cancelled, 20);
        assert_eq!(all.triggers[1].firings, 40 - 20);
    }

    #[test]
    fn a_blocked_firing_counts_its_first_reason_in_the_spec_order() {
        let f = file(
            r#"{"version": 1, "triggers": [
              {"id": "aud", "when": {"event": "A"}, "cooldown": "1h", "max_per_user": 1,
               "audience": [{"trait": "plan", "op": "eq", "value": "pro"}], "action": {"type": "x"}},
              {"id": "off", "enabled": false, "when": {"event": "A"}, "action": {"type": "x"}}]}"#,
        );
        let identify = |plan: &str, t| Event {
            kind: EventKind::Identify,
            name: "".into(),
            timestamp: t,
            properties: vec![("plan".into(), crate::Value::Str(plan.to_owned().into()))],
        };
        let mut r = Replay::new(f.clone());
        let events = [
            track("A", 1),         // audience (no plan yet)
            identify("pro", 2),    //
            track("A", 3),         // fires
            track("A", 4),         // cooldown (also max_per_user: cooldown comes first)
            identify("free", 5),   //
            track("A", 4_000_000), // audience again (before max_per_user)
            identify("pro", 4_000_001),
            track("A", 4_000_002), // max_per_user
        ];
        r.events("v", &events, 0).unwrap();
        let run = r.finish(u64::MAX).unwrap();
        let report = Report::of(&f, &run, 3);
        let aud = &report.triggers[0];
        assert_eq!(aud.firings, 1);
        assert_eq!(
            aud.suppressed,
            Suppressions {
                audience: 2,
                cooldown: 1,
                max_per_user: 1,
                global_cap: 0,
                cancelled: 0
            }
        );
        // A disabled trigger never fires and counts nothing.
        assert_eq!(
            (
                report.triggers[1].firings,
                report.triggers[1].suppressed.total()
            ),
            (0, 0)
        );
    }

    #[test]
    fn a_visitor_s_firings_do_not_depend_on_other_visitors_in_between() {
        // X qualifies at 0 and cancels at 5m; in the log, Y's event at 20m
        // comes between them (visitors interleave out of time order).
        let f = file(A_UNLESS_B_IN_10M);
        let mut r = Replay::new(f.clone());
        r.events("x", &[track("A", 0)], 0).unwrap();
        r.events("y", &[track("A", 1_200_000)], 1).unwrap();
        r.events("x", &[track("B", 300_000)], 2).unwrap();
        let run = r.finish(u64::MAX).unwrap();
        let fired: Vec<_> = run.firings.iter().map(|f| &*f.visitor).collect();
        assert_eq!(fired, ["y"]);
        assert_eq!(run.suppressed[0].cancelled, 1);
    }

    #[test]
    fn pending_delayed_firings_fire_when_time_runs_on() {
        let f = file(A_UNLESS_B_IN_10M);
        let mut r = Replay::new(f.clone());
        r.events("v", &[track("A", 1_000)], 0).unwrap();
        let early = {
            let mut r2 = Replay::new(f.clone());
            r2.events("v", &[track("A", 1_000)], 0).unwrap();
            r2.finish(1_000 + 599_999).unwrap()
        };
        assert!(early.firings.is_empty(), "not due yet");
        let run = r.finish(u64::MAX).unwrap();
        assert_eq!(run.firings.len(), 1);
        assert_eq!(run.firings[0].time, 601_000);
    }
}
