//! Outcomes (the spec's "Outcomes: goals, holdouts and the cap"): a table
//! per edge, each against the engine over an in-memory store.

mod support {
    pub mod engine;
}

use broker_core::trigger::{firing_id, holdout_bucket, Firing, Suppressions, TriggerFile};
use broker_core::{Event, EventKind, Storage, WriteBatch};
use std::borrow::Cow;
use support::engine::Harness as Sim;

const MIN: u64 = 60_000;
const HOUR: u64 = 60 * MIN;
const T0: u64 = 1_764_000_000_000;

fn file(limits: &str, triggers: &str) -> TriggerFile {
    let json = format!(r#"{{"version": 1, {limits} "triggers": [{triggers}]}}"#);
    TriggerFile::parse(&json).unwrap_or_else(|e| panic!("{e}"))
}

/// `(trigger, time, held_out)` of each firing.
fn outcomes(firings: Vec<Firing>) -> Vec<(String, u64, bool)> {
    firings
        .into_iter()
        .map(|f| (f.trigger_id.to_string(), f.time, f.held_out))
        .collect()
}

impl Sim {
    fn new(limits: &str, triggers: &str) -> Sim {
        Sim::over(file(limits, triggers))
    }

    /// One event per call; returns `(trigger, time, held_out)` of each firing.
    fn run(&mut self, visitor: &str, events: &[Event<'static>]) -> Vec<(String, u64, bool)> {
        outcomes(self.each(visitor, events))
    }

    fn timeout(&mut self, now: u64) -> Vec<(String, u64, bool)> {
        outcomes(self.wake(now))
    }

    /// `(firing_id, time, held_out)` of each conversion so far.
    fn converted(&self) -> Vec<(String, u64, bool)> {
        self.conversions
            .iter()
            .map(|c| (c.firing_id.clone(), c.time, c.held_out))
            .collect()
    }

    fn suppressed(&self, i: usize) -> Suppressions {
        self.engine.suppressions()[i]
    }
}

fn e(name: &str, at: u64) -> Event<'static> {
    Event {
        kind: if name == "$page" {
            EventKind::Page
        } else {
            EventKind::Track
        },
        name: Cow::Owned(name.to_owned()),
        timestamp: at,
        properties: Vec::new(),
    }
}

fn f(id: &str, t: u64) -> (String, u64, bool) {
    (id.to_owned(), t, false)
}

/// A visitor id whose holdout bucket for `trigger` is below (`inside`) or
/// at least `pct`.
fn visitor(trigger: &str, pct: u8, inside: bool) -> String {
    (0..)
        .map(|i| format!("v-{i}"))
        .find(|v| (holdout_bucket(trigger, v) < pct) == inside)
        .expect("some visitor")
}

const GOAL: &str =
    r#"{"id":"g","when":{"event":"a"},"goal":{"event":"buy","within":"1h"},"action":{"type":"t"}}"#;

#[test]
fn a_goal_at_exactly_the_windows_end_converts_and_one_ms_later_does_not() {
    for (at, converts) in [(T0 + HOUR, true), (T0 + HOUR + 1, false), (T0 + 1, true)] {
        let mut s = Sim::new("", GOAL);
        assert_eq!(s.run("v", &[e("a", T0), e("buy", at)]), [f("g", T0)]);
        let want: Vec<_> = if converts {
            vec![(firing_id("g", "v", 0), at, false)]
        } else {
            vec![]
        };
        assert_eq!(s.converted(), want, "goal at T0 + {}", at - T0);
    }
}

#[test]
fn a_goal_before_or_at_the_firing_does_not_convert_it_and_each_firing_converts_once() {
    let mut s = Sim::new("", GOAL);
    // Before the firing, and stamped exactly the firing's time: neither converts.
    s.run("v", &[e("buy", T0 - 1), e("a", T0), e("buy", T0)]);
    assert!(s.converted().is_empty());
    // The first later goal event converts it; the next one finds nothing open.
    s.run("v", &[e("buy", T0 + 5), e("buy", T0 + 6)]);
    assert_eq!(s.converted(), [(firing_id("g", "v", 1), T0 + 5, false)]);
}

#[test]
fn one_goal_event_converts_every_open_firing_it_matches_of_any_trigger() {
    let other = r#"{"id":"h","when":{"event":"b"},"goal":{"event":"buy","within":"10m"},"action":{"type":"t"}}"#;
    let mut s = Sim::new("", &format!("{GOAL},{other}"));
    s.run(
        "v",
        &[e("a", T0), e("a", T0 + 1), e("b", T0 + 2), e("buy", T0 + 3)],
    );
    let mut got = s.converted();
    got.sort();
    let mut want = vec![
        (firing_id("g", "v", 0), T0 + 3, false),
        (firing_id("g", "v", 1), T0 + 3, false),
        (firing_id("h", "v", 2), T0 + 3, false),
    ];
    want.sort();
    assert_eq!(got, want);
}

#[test]
fn a_delayed_firing_converts_after_its_due_time_only() {
    let t = r#"{"id":"d","when":{"event":"a"},"unless":{"event":"x","within":"10m"},"goal":{"event":"buy","within":"1h"},"action":{"type":"t"}}"#;
    let mut s = Sim::new("", t);
    // A goal event at the due time itself is evaluated before the firing.
    s.run(
        "v",
        &[
            e("a", T0),
            e("buy", T0 + 10 * MIN),
            e("buy", T0 + 10 * MIN + 1),
        ],
    );
    assert_eq!(
        s.firings.iter().map(|f| f.time).collect::<Vec<_>>(),
        [T0 + 10 * MIN]
    );
    assert_eq!(
        s.converted(),
        [(firing_id("d", "v", 0), T0 + 10 * MIN + 1, false)]
    );
}

#[test]
fn a_held_out_visitor_gets_a_held_out_firing_that_starts_the_cooldown_and_converts() {
    let t = r#"{"id":"ho","when":{"event":"a"},"cooldown":"1h","max_per_user":2,"holdout":50,
        "goal":{"event":"buy","within":"1h"},"action":{"type":"t"}}"#;
    let held = visitor("ho", 50, true);
    let treated = visitor("ho", 50, false);
    for (v, is_held) in [(&held, true), (&treated, false)] {
        let mut s = Sim::new("", t);
        let got = s.run(
            v,
            &[
                e("a", T0),
                e("a", T0 + 1),        // in the cooldown
                e("buy", T0 + 2),      // converts the first
                e("a", T0 + HOUR),     // the cooldown is over
                e("a", T0 + 2 * HOUR), // max_per_user reached
            ],
        );
        assert_eq!(
            got,
            [
                ("ho".to_owned(), T0, is_held),
                ("ho".to_owned(), T0 + HOUR, is_held)
            ]
        );
        assert_eq!(s.converted(), [(firing_id("ho", v, 0), T0 + 2, is_held)]);
        let sup = s.suppressed(0);
        assert_eq!((sup.cooldown, sup.max_per_user), (1, 1), "{v}");
    }
    // `holdout` 0 (the default) holds nobody out.
    let mut s = Sim::new("", GOAL);
    assert_eq!(s.run(&held, &[e("a", T0)]), [f("g", T0)]);
}

#[test]
fn the_cap_counts_firings_of_every_trigger_in_file_order_on_one_event() {
    let t = |id: &str| format!(r#"{{"id":"{id}","when":{{"event":"a"}},"action":{{"type":"t"}}}}"#);
    let triggers = [t("one"), t("two"), t("three")].join(",");
    let limits = r#""limits": {"max_firings": 2, "within": "1h"},"#;
    let mut s = Sim::new(limits, &triggers);
    assert_eq!(s.run("v", &[e("a", T0)]), [f("one", T0), f("two", T0)]);
    // Still two firings in [t - 1h, t]: all three are capped.
    assert!(s.run("v", &[e("a", T0 + HOUR)]).is_empty());
    assert_eq!(
        [
            s.suppressed(0).global_cap,
            s.suppressed(1).global_cap,
            s.suppressed(2).global_cap
        ],
        [1, 1, 2]
    );
    // The window holds both ends: one ms later, the firings at T0 are out.
    assert_eq!(
        s.run("v", &[e("a", T0 + HOUR + 1)]),
        [f("one", T0 + HOUR + 1), f("two", T0 + HOUR + 1)]
    );
    // Another visitor has its own cap.
    assert_eq!(s.run("w", &[e("a", T0)]), [f("one", T0), f("two", T0)]);
}

#[test]
fn suppression_reasons_come_in_the_specs_order_and_block_nothing_else() {
    // Cooldown before the cap: a firing blocked by its cooldown is counted
    // as cooldown, and takes no place under the cap.
    let cool = r#"{"id":"c","when":{"event":"a"},"cooldown":"1h","action":{"type":"t"}}"#;
    let other = r#"{"id":"o","when":{"event":"a"},"action":{"type":"t"}}"#;
    let limits = r#""limits": {"max_firings": 2, "within": "1h"},"#;
    let mut s = Sim::new(limits, &format!("{cool},{other}"));
    assert_eq!(s.run("v", &[e("a", T0)]), [f("c", T0), f("o", T0)]);
    assert!(s.run("v", &[e("a", T0 + 1)]).is_empty());
    assert_eq!(
        (s.suppressed(0).cooldown, s.suppressed(0).global_cap),
        (1, 0)
    );
    assert_eq!(s.suppressed(1).global_cap, 1);
}

#[test]
fn held_out_and_delayed_firings_count_towards_the_cap_in_the_specs_order() {
    // The delayed firing due at T0 + 10m is made before the event at
    // T0 + 20m, so it takes the only place.
    let delayed = r#"{"id":"d","when":{"event":"a"},"unless":{"event":"x","within":"10m"},"action":{"type":"t"}}"#;
    let now = r#"{"id":"n","when":{"event":"b"},"holdout":50,"action":{"type":"t"}}"#;
    let limits = r#""limits": {"max_firings": 1, "within": "1h"},"#;
    let mut s = Sim::new(limits, &format!("{delayed},{now}"));
    assert_eq!(
        s.run("v", &[e("a", T0), e("b", T0 + 20 * MIN)]),
        [f("d", T0 + 10 * MIN)]
    );
    assert_eq!(s.suppressed(1).global_cap, 1);
    // A held-out firing takes a place too.
    let held = visitor("n", 50, true);
    let mut s = Sim::new(limits, &format!("{now},{delayed}"));
    assert_eq!(
        s.run(&held, &[e("b", T0), e("a", T0 + 1)]),
        [("n".to_owned(), T0, true)]
    );
    assert!(s.timeout(T0 + HOUR).is_empty());
    assert_eq!(s.suppressed(1).global_cap, 1);
}

#[test]
fn a_disabled_trigger_fires_nothing_counts_nothing_and_takes_no_place_under_the_cap() {
    let off =
        r#"{"id":"off","enabled":false,"when":{"event":"a"},"holdout":50,"action":{"type":"t"}}"#;
    let on = r#"{"id":"on","when":{"event":"a"},"action":{"type":"t"}}"#;
    let limits = r#""limits": {"max_firings": 1, "within": "1h"},"#;
    let mut s = Sim::new(limits, &format!("{off},{on}"));
    assert_eq!(s.run("v", &[e("a", T0)]), [f("on", T0)]);
    assert_eq!(s.suppressed(0), Suppressions::default());
}

#[test]
fn a_replaced_file_keeps_unchanged_triggers_outcome_state_and_drops_changed_ones() {
    let changed = |w: &str| {
        format!(
            r#"{{"id":"c","when":{{"event":"b"}},"goal":{{"event":"buy","within":"{w}"}},"action":{{"type":"t"}}}}"#
        )
    };
    let limits = r#""limits": {"max_firings": 3, "within": "1h"},"#;
    let mut s = Sim::new(limits, &format!("{GOAL},{}", changed("1h")));
    s.run("v", &[e("a", T0), e("b", T0 + 1)]);
    let mut w = WriteBatch::new();
    s.engine
        .replace(
            file(limits, &format!("{GOAL},{}", changed("2h"))),
            &s.store,
            &mut w,
        )
        .expect("replace");
    s.store.commit(w).expect("commit");
    s.restart();
    // `g` is unchanged: its open firing converts; `c` changed: its firing's
    // goal state is gone. The cap still counts both firings made before.
    s.run("v", &[e("buy", T0 + 2)]);
    assert_eq!(s.converted(), [(firing_id("g", "v", 0), T0 + 2, false)]);
    assert_eq!(
        s.run("v", &[e("a", T0 + 3), e("a", T0 + 4)]),
        [f("g", T0 + 3)]
    );
    assert_eq!(s.suppressed(0).global_cap, 1);
}

#[test]
fn outcome_state_survives_a_restart() {
    let t = r#"{"id":"g","when":{"event":"a"},"holdout":50,"goal":{"event":"buy","within":"1h"},"action":{"type":"t"}}"#;
    let held = visitor("g", 50, true);
    let mut s = Sim::new(r#""limits": {"max_firings": 1, "within": "1h"},"#, t);
    s.run(&held, &[e("a", T0)]);
    s.restart();
    assert!(s.run(&held, &[e("a", T0 + 1)]).is_empty());
    s.run(&held, &[e("buy", T0 + 2)]);
    assert_eq!(s.converted(), [(firing_id("g", &held, 0), T0 + 2, true)]);
    // Open firings and cap times are forgotten once their windows passed.
    assert!(s.timeout(T0 + 3 * HOUR).is_empty());
    assert_eq!(s.store.len(), 0, "no state left");
}

/// Every mistake in the outcome keys, with its path, the trigger and a
/// suggestion where one is near.
#[test]
fn outcome_keys_are_validated_like_every_other_key() {
    let json = r#"{
  "version": 1,
  "limit": {},
  "limits": { "max_firings": 0, "within": "1 h", "max_firing": 1 },
  "triggers": [
    { "id": "a", "when": { "event": "x" }, "holdout": 51, "action": { "type": "t" },
      "goal": { "event": "$pageview", "where": [{ "prop": "total", "op": "gt ", "value": 0 }] } },
    { "id": "b", "when": { "event": "x" }, "holdout": 12.5, "goals": {}, "action": { "type": "t" } },
    { "id": "c", "when": { "event": "x" }, "holdout": "10", "goal": { "event": "y", "within": "1h", "withn": 1 }, "action": { "type": "t" } }
  ]
}"#;
    let errors: Vec<String> = match TriggerFile::parse(json) {
        Ok(_) => panic!("expected the file to be rejected"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    };
    let want = [
        r#"limit: unknown key "limit" (did you mean "limits"?)"#,
        r#"limits.max_firing: unknown key "max_firing" (did you mean "max_firings"?)"#,
        r#"limits.max_firings: expected a whole number of at least 1, got 0"#,
        r#"limits.within: bad duration "1 h": expected a whole number and a unit s, m, h or d, like "90s", "10m", "24h", "7d" (did you mean "1h"?)"#,
        r#"triggers[0].goal.event: unknown event "$pageview" (did you mean "$page"?) in trigger "a""#,
        r#"triggers[0].goal.where[0].op: unknown operator "gt " (did you mean "gt"?) in trigger "a""#,
        r#"triggers[0].goal.within: required key is missing in trigger "a""#,
        r#"triggers[0].holdout: expected a whole percentage from 0 to 50, got 51 in trigger "a""#,
        r#"triggers[1].goals: unknown key "goals" (did you mean "goal"?) in trigger "b""#,
        r#"triggers[1].holdout: expected a whole percentage from 0 to 50, got 12.5 in trigger "b""#,
        r#"triggers[2].goal.withn: unknown key "withn" (did you mean "within"?) in trigger "c""#,
        r#"triggers[2].holdout: expected a whole percentage from 0 to 50, got a string in trigger "c""#,
    ];
    assert_eq!(errors, want);
}

#[test]
fn a_file_without_outcome_keys_means_what_it_meant() {
    let plain = file(
        "",
        GOAL.replace(r#""goal":{"event":"buy","within":"1h"},"#, "")
            .as_str(),
    );
    assert_eq!(plain.limits(), None);
    let info = plain.triggers().next().expect("one");
    assert_eq!((info.goal_within(), info.holdout()), (None, 0));
    let with = file(r#""limits": {"max_firings": 3, "within": "1h"},"#, GOAL);
    assert_eq!(with.limits(), Some((3, HOUR)));
    assert_eq!(
        with.triggers().next().expect("one").goal_within(),
        Some(HOUR)
    );
}
