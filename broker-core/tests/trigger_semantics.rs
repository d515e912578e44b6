//! Table tests per feature of the trigger language, edges included.

mod support {
    pub mod engine;
}

use broker_core::storage::keys;
use broker_core::trigger::{firing_id, Engine, Firing, TriggerFile};
use broker_core::{Event, EventKind, Storage, Value, WriteBatch};
use std::borrow::Cow;
use support::engine::Harness as Sim;

const MIN: u64 = 60_000;
const PINNED_ID: &str = "e49e8e1434a0daea";
const T0: u64 = 1_764_000_000_000;

impl Sim {
    fn new(triggers: &str) -> Sim {
        let json = format!(r#"{{"version": 1, "triggers": [{triggers}]}}"#);
        Sim::over(TriggerFile::parse(&json).unwrap_or_else(|e| panic!("{e}")))
    }

    /// Sends events one batch each; returns `(trigger, time)` of every firing.
    fn run(&mut self, visitor: &str, events: &[Event<'static>]) -> Vec<(String, u64)> {
        fired_at(self.each(visitor, events))
    }

    fn timeout(&mut self, now: u64) -> Vec<(String, u64)> {
        fired_at(self.wake(now))
    }
}

/// `(trigger, time)` of each firing.
fn fired_at(firings: Vec<Firing>) -> Vec<(String, u64)> {
    firings
        .into_iter()
        .map(|f| (f.trigger_id.to_string(), f.time))
        .collect()
}

fn ev(name: &str, at: u64, props: serde_json::Value) -> Event<'static> {
    let properties = match Value::from(&props) {
        Value::Map(m) => m,
        _ => Vec::new(),
    };
    let kind = match name {
        "$page" => EventKind::Page,
        "$identify" => EventKind::Identify,
        "$click" => EventKind::Click,
        "$submit" => EventKind::Submit,
        _ => EventKind::Track,
    };
    Event {
        kind,
        name: Cow::Owned(name.to_owned()),
        timestamp: at,
        properties,
    }
}

fn e(name: &str, at: u64) -> Event<'static> {
    ev(name, at, serde_json::json!({}))
}

fn fired(id: &str, times: &[u64]) -> Vec<(String, u64)> {
    times.iter().map(|t| (id.to_owned(), *t)).collect()
}

#[test]
fn when_fires_on_every_matching_event_and_type_mismatch_is_false() {
    let mut s = Sim::new(
        r#"{"id":"big","when":{"event":"Product Added","where":[{"prop":"price","op":"gte","value":50}]},"action":{"type":"t"}}"#,
    );
    let got = s.run(
        "v",
        &[
            ev("Product Added", T0, serde_json::json!({"price": 50})),
            ev("Product Added", T0 + 1, serde_json::json!({"price": "80"})),
            ev("Product Added", T0 + 2, serde_json::json!({"price": 49.99})),
            ev("Product Added", T0 + 3, serde_json::json!({})),
            ev("Product Viewed", T0 + 4, serde_json::json!({"price": 90})),
            ev("Product Added", T0 + 5, serde_json::json!({"price": 50.5})),
        ],
    );
    assert_eq!(got, fired("big", &[T0, T0 + 5]));
}

#[test]
fn count_window_includes_both_ends_and_uses_events_up() {
    let t = r#"{"id":"c","when":{"event":"a"},"count":{"at_least":2,"within":"30m"},"action":{"type":"t"}}"#;
    // Exactly 30 minutes apart still counts.
    assert_eq!(
        Sim::new(t).run("v", &[e("a", T0), e("a", T0 + 30 * MIN)]),
        fired("c", &[T0 + 30 * MIN])
    );
    // One millisecond more does not.
    assert_eq!(
        Sim::new(t).run("v", &[e("a", T0), e("a", T0 + 30 * MIN + 1)]),
        fired("c", &[])
    );
    // Equal timestamps count; the events that qualified are used up.
    assert_eq!(
        Sim::new(t).run(
            "v",
            &[
                e("a", T0),
                e("a", T0),
                e("a", T0 + 1),
                e("a", T0 + 2),
                e("b", T0 + 3),
                e("a", T0 + 4)
            ]
        ),
        fired("c", &[T0, T0 + 2])
    );
    // Sliding: the oldest falls out, the newer pair qualifies.
    assert_eq!(
        Sim::new(t).run(
            "v",
            &[e("a", T0), e("a", T0 + 31 * MIN), e("a", T0 + 40 * MIN)]
        ),
        fired("c", &[T0 + 40 * MIN])
    );
}

#[test]
fn sequence_in_order_within_the_window_from_the_first_step() {
    let t = r#"{"id":"s","sequence":[{"event":"a"},{"event":"b"}],"within":"5m","action":{"type":"t"}}"#;
    let cases: Vec<(Vec<Event<'static>>, Vec<u64>)> = vec![
        (
            vec![e("a", T0), e("x", T0 + 1), e("b", T0 + 5 * MIN)],
            vec![T0 + 5 * MIN],
        ),
        (vec![e("a", T0), e("b", T0 + 5 * MIN + 1)], vec![]),
        (vec![e("b", T0), e("a", T0 + 1)], vec![]),
        // Any earlier first step may start the chain: the later one is in time.
        (
            vec![e("a", T0), e("a", T0 + 4 * MIN), e("b", T0 + 8 * MIN)],
            vec![T0 + 8 * MIN],
        ),
        // Equal timestamps: log order decides.
        (vec![e("a", T0), e("b", T0)], vec![T0]),
        // Used up: the second b has no first step before it any more.
        (
            vec![e("a", T0), e("b", T0 + 1), e("b", T0 + 2)],
            vec![T0 + 1],
        ),
    ];
    for (events, want) in cases {
        assert_eq!(
            Sim::new(t).run("v", &events),
            fired("s", &want),
            "{events:?}"
        );
    }
}

#[test]
fn sequence_of_repeated_steps_needs_distinct_events() {
    let t = r#"{"id":"s","sequence":[{"event":"a"},{"event":"a"},{"event":"b"}],"within":"1h","action":{"type":"t"}}"#;
    assert_eq!(
        Sim::new(t).run("v", &[e("a", T0), e("b", T0 + 1)]),
        fired("s", &[])
    );
    assert_eq!(
        Sim::new(t).run("v", &[e("a", T0), e("a", T0 + 1), e("b", T0 + 2)]),
        fired("s", &[T0 + 2])
    );
    let pairs = r#"{"id":"p","sequence":[{"event":"a"},{"event":"a"}],"within":"1h","action":{"type":"t"}}"#;
    let four: Vec<_> = (0..4).map(|i| e("a", T0 + i)).collect();
    assert_eq!(
        Sim::new(pairs).run("v", &four),
        fired("p", &[T0 + 1, T0 + 3])
    );
}

const RESCUE: &str = r#"{"id":"r","when":{"event":"add"},"unless":{"event":"checkout","within":"10m"},"action":{"type":"t"}}"#;

#[test]
fn unless_fires_on_time_without_further_events() {
    let mut s = Sim::new(RESCUE);
    assert_eq!(s.run("v", &[e("add", T0)]), fired("r", &[]));
    assert_eq!(
        s.engine.poll_timeout(&s.store).expect("poll"),
        Some(T0 + 10 * MIN)
    );
    assert_eq!(s.timeout(T0 + 10 * MIN - 1), fired("r", &[]));
    assert_eq!(s.timeout(T0 + 10 * MIN), fired("r", &[T0 + 10 * MIN]));
    assert_eq!(s.timeout(T0 + 20 * MIN), fired("r", &[]));
    assert_eq!(s.engine.poll_timeout(&s.store).expect("poll"), None);
    assert!(s.store.is_empty(), "nothing left to remember");
}

#[test]
fn unless_cancellation_edges() {
    let deadline = T0 + 10 * MIN;
    // One millisecond before the deadline cancels.
    let mut s = Sim::new(RESCUE);
    s.run("v", &[e("add", T0), e("checkout", deadline - 1)]);
    assert_eq!(s.timeout(deadline + MIN), fired("r", &[]));
    // At the deadline still cancels ("no later than").
    let mut s = Sim::new(RESCUE);
    s.run("v", &[e("add", T0), e("checkout", deadline)]);
    assert_eq!(s.timeout(deadline + MIN), fired("r", &[]));
    // At the qualifying time does not (it must come after).
    let mut s = Sim::new(RESCUE);
    s.run("v", &[e("add", T0), e("checkout", T0)]);
    assert_eq!(s.timeout(deadline), fired("r", &[deadline]));
    // After the deadline is too late; the firing comes out with the event, at the deadline's time.
    let mut s = Sim::new(RESCUE);
    assert_eq!(
        s.run("v", &[e("add", T0), e("checkout", deadline + 1)]),
        fired("r", &[deadline])
    );
    assert_eq!(s.timeout(deadline + MIN), fired("r", &[]));
}

#[test]
fn audience_uses_traits_known_at_the_moment_of_firing() {
    let t = r#"{"id":"a","when":{"event":"add"},"unless":{"event":"checkout","within":"10m"},
        "audience":[{"trait":"plan","op":"ne","value":"plus"}],"action":{"type":"t"}}"#;
    let ident = |plan: &str, at| {
        ev(
            "$identify",
            at,
            serde_json::json!({"plan": plan, "country": "DE"}),
        )
    };
    // No plan at all: `ne` holds.
    let mut s = Sim::new(t);
    s.run("v", &[e("add", T0)]);
    assert_eq!(s.timeout(T0 + 10 * MIN), fired("a", &[T0 + 10 * MIN]));
    // Upgraded to plus before the deadline: dropped.
    let mut s = Sim::new(t);
    s.run(
        "v",
        &[ident("free", T0), e("add", T0 + 1), ident("plus", T0 + 2)],
    );
    assert_eq!(s.timeout(T0 + 11 * MIN), fired("a", &[]));
    // Latest value wins, key by key.
    let mut s = Sim::new(t);
    s.run(
        "v",
        &[ident("plus", T0), ident("free", T0 + 1), e("add", T0 + 2)],
    );
    assert_eq!(s.timeout(T0 + 11 * MIN), fired("a", &[T0 + 10 * MIN + 2]));
}

#[test]
fn cooldown_blocks_until_exactly_its_end_and_blocked_firings_do_not_restart_it() {
    let t = r#"{"id":"c","when":{"event":"a"},"cooldown":"10m","action":{"type":"t"}}"#;
    assert_eq!(
        Sim::new(t).run(
            "v",
            &[
                e("a", T0),
                e("a", T0 + 5 * MIN),
                e("a", T0 + 10 * MIN - 1),
                e("a", T0 + 10 * MIN)
            ]
        ),
        fired("c", &[T0, T0 + 10 * MIN])
    );
}

#[test]
fn max_per_user_counts_only_real_firings() {
    let t = r#"{"id":"m","when":{"event":"a"},"max_per_user":2,
        "audience":[{"trait":"newsletter","op":"eq","value":true}],"action":{"type":"t"}}"#;
    let sub = |on: bool, at| ev("$identify", at, serde_json::json!({"newsletter": on}));
    assert_eq!(
        Sim::new(t).run(
            "v",
            &[
                e("a", T0),
                sub(true, T0 + 1),
                e("a", T0 + 2),
                e("a", T0 + 3),
                e("a", T0 + 4)
            ]
        ),
        fired("m", &[T0 + 2, T0 + 3])
    );
}

#[test]
fn disabled_triggers_do_not_fire_and_pausing_keeps_their_state() {
    let on = r#"{"id":"d","description":"first","when":{"event":"a"},"count":{"at_least":2,"within":"1h"},"max_per_user":1,"action":{"type":"t"}}"#;
    let off = r#"{"id":"d","enabled":false,"when":{"event":"a"},"count":{"at_least":2,"within":"1h"},"max_per_user":1,"action":{"type":"t"}}"#;
    let reworded = on.replace("first", "second");
    let mut s = Sim::new(on);
    let swap = |s: &mut Sim, t: &str| {
        let file =
            TriggerFile::parse(&format!(r#"{{"version":1,"triggers":[{t}]}}"#)).expect("valid");
        let mut w = WriteBatch::new();
        s.engine.replace(file, &s.store, &mut w).expect("replace");
        s.store.commit(w).expect("commit");
    };
    assert_eq!(
        s.run("v", &[e("a", T0), e("a", T0 + 1)]),
        fired("d", &[T0 + 1])
    );
    swap(&mut s, off);
    // Paused: the count still runs (and uses events up), nothing fires.
    assert_eq!(
        s.run("w", &[e("a", T0 + 2), e("a", T0 + 3), e("a", T0 + 4)]),
        fired("d", &[])
    );
    swap(&mut s, &reworded);
    // Resumed with a new description: v's max_per_user still holds, and w's
    // pending third event counts towards the next qualification.
    assert_eq!(
        s.run("v", &[e("a", T0 + 5), e("a", T0 + 6)]),
        fired("d", &[])
    );
    assert_eq!(s.run("w", &[e("a", T0 + 7)]), fired("d", &[T0 + 7]));
}

#[test]
fn firings_carry_a_deterministic_id_and_the_action() {
    let mut s = Sim::new(
        r#"{"id":"w","when":{"event":"$page"},"action":{"type":"banner","payload":{"text":"hi"}}}"#,
    );
    let f = s.send("v-1", &[e("$click", T0), e("$page", T0 + 7)]);
    assert_eq!(
        f,
        vec![Firing {
            firing_id: firing_id("w", "v-1", 1),
            trigger_id: "w".into(),
            visitor: "v-1".into(),
            time: T0 + 7,
            action_type: "banner".into(),
            payload: r#"{"text":"hi"}"#.into(),
            held_out: false,
        }]
    );
    assert_eq!(f[0].firing_id.len(), 16);
    // Stored and compared across restarts and versions: never changes.
    assert_eq!(firing_id("w", "v-1", 1), PINNED_ID);
    assert_ne!(firing_id("w", "v-1", 1), firing_id("w", "v-1", 2));
    assert_ne!(firing_id("w", "v-1", 1), firing_id("w", "v-2", 1));
    assert_eq!(
        broker_core::export::firing_to_json(&f[0]),
        serde_json::json!({"firing_id": f[0].firing_id, "trigger": "w", "visitor": "v-1", "time": T0 + 7,
            "action": {"type": "banner", "payload": {"text": "hi"}}})
    );
}

#[test]
fn events_no_trigger_cares_about_cost_no_storage() {
    let mut s = Sim::new(RESCUE);
    let mut w = WriteBatch::new();
    let f = s
        .engine
        .on_events(
            &s.store,
            &mut w,
            "v",
            &[e("$page", T0), e("$click", T0 + 1)],
            0,
        )
        .expect("eval");
    assert!(f.is_empty() && w.is_empty());
}

#[test]
fn idle_visitors_cost_nothing_once_every_window_has_passed() {
    let mut s = Sim::new(
        r#"{"id":"c","when":{"event":"a"},"count":{"at_least":3,"within":"30m"},"action":{"type":"t"}}"#,
    );
    s.run("v", &[e("a", T0), e("a", T0 + MIN)]);
    assert_eq!(s.store.len(), 2, "the state and its expiry wake-up");
    // Expired at T0 + 31m + 1; forgotten at the next multiple of 5 minutes.
    let gc = (T0 + 31 * MIN + 1).div_ceil(5 * MIN) * 5 * MIN;
    assert_eq!(s.engine.poll_timeout(&s.store).expect("poll"), Some(gc));
    s.timeout(gc - 1);
    assert_eq!(s.store.len(), 2);
    s.timeout(gc);
    assert!(s.store.is_empty());
}

#[test]
fn state_survives_a_restart() {
    let t = r#"{"id":"c","when":{"event":"a"},"count":{"at_least":2,"within":"1h"},"unless":{"event":"b","within":"1m"},"action":{"type":"t"}}"#;
    let mut s = Sim::new(t);
    s.run("v", &[e("a", T0)]);
    let file = s.engine.file().clone();
    s.engine = Engine::new(file); // a restart: nothing but the store survives
    s.run("v", &[e("a", T0 + 1)]);
    s.engine = Engine::new(s.engine.file().clone());
    assert_eq!(s.timeout(T0 + 2 * MIN), fired("c", &[T0 + 1 + MIN]));
}

#[test]
fn replacing_the_file_keeps_unchanged_triggers_and_drops_the_rest() {
    let keep = r#"{"id":"keep","when":{"event":"a"},"count":{"at_least":2,"within":"1h"},"action":{"type":"t"}}"#;
    let gone = r#"{"id":"gone","when":{"event":"a"},"unless":{"event":"b","within":"10m"},"action":{"type":"t"}}"#;
    let edit = r#"{"id":"edit","when":{"event":"a"},"count":{"at_least":2,"within":"1h"},"action":{"type":"t"}}"#;
    let edited = r#"{"id":"edit","when":{"event":"a"},"count":{"at_least":2,"within":"2h"},"action":{"type":"t"}}"#;
    let mut s = Sim::new(&format!("{keep},{gone},{edit}"));
    s.run("v", &[e("a", T0)]);
    let next = TriggerFile::parse(&format!(r#"{{"version":1,"triggers":[{keep},{edited}]}}"#))
        .expect("valid");
    let mut w = WriteBatch::new();
    s.engine.replace(next, &s.store, &mut w).expect("replace");
    s.store.commit(w).expect("commit");
    // gone's pending firing and its wake-up are dropped with it.
    let wakeups = s
        .store
        .scan(&[keys::WAKEUP], &keys::prefix_end(&[keys::WAKEUP]), 10)
        .expect("scan");
    assert_eq!(wakeups.len(), 1, "only the count window's expiry remains");
    assert_eq!(s.run("v", &[e("a", T0 + 1)]), fired("keep", &[T0 + 1]));
    assert_eq!(s.timeout(T0 + 20 * MIN), fired("gone", &[]));
}

#[test]
fn a_state_whose_commit_was_lost_is_read_back_from_the_store() {
    // The engine keeps the last visitor's state decoded; the store decides.
    // (`max_per_user` keeps a state after a firing: the firings counted.)
    let t = r#"{"id":"c","when":{"event":"a"},"count":{"at_least":2,"within":"1h"},"max_per_user":10,"action":{"type":"t"}}"#;
    let mut s = Sim::new(t);
    assert_eq!(s.run("v", &[e("a", T0)]), fired("c", &[]));
    // The second event qualifies and uses the marks up, but the call's
    // writes are never committed (its commit failed): one mark is stored.
    let mut lost = WriteBatch::new();
    let f = s
        .engine
        .on_events(&s.store, &mut lost, "v", &[e("a", T0 + 1)], s.offset)
        .expect("eval");
    assert_eq!(fired_at(f), fired("c", &[T0 + 1]));
    drop(lost);
    // So the same event, sent again, qualifies again.
    assert_eq!(s.run("v", &[e("a", T0 + 1)]), fired("c", &[T0 + 1]));
    // Another visitor in between, then `v` again: its stored marks were
    // used up by the firing above.
    assert_eq!(s.run("w", &[e("a", T0 + 2)]), fired("c", &[]));
    assert_eq!(s.run("v", &[e("a", T0 + 3)]), fired("c", &[]));
    assert_eq!(s.run("v", &[e("a", T0 + 4)]), fired("c", &[T0 + 4]));
}
