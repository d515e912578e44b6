use super::*;
use crate::event::{EventKind, Value};
use std::borrow::Cow;

const T0: u64 = 1_764_000_000_000;

fn added(t: u64, price: i64) -> Event<'static> {
    Event {
        kind: EventKind::Track,
        name: Cow::Borrowed("Product Added"),
        timestamp: t,
        properties: vec![(Cow::Borrowed("price"), Value::Int(price))],
    }
}

fn file(enabled: bool) -> TriggerFile {
    TriggerFile::parse(&format!(
        r#"{{"version": 1, "triggers": [
        {{"id": "other", "when": {{"event": "$page"}}, "action": {{"type": "t"}}}},
        {{"id": "rescue", "enabled": {enabled},
          "when": {{"event": "Product Added", "where": [{{"prop": "price", "op": "gte", "value": 50}}]}},
          "count": {{"at_least": 2, "within": "30m"}}, "cooldown": "1h",
          "goal": {{"event": "Order Completed", "within": "1h"}},
          "action": {{"type": "banner"}}}}]}}"#
    ))
    .expect("valid")
}

#[test]
fn each_event_says_what_held_how_far_the_count_got_and_what_happened() {
    let page = Event {
        kind: EventKind::Page,
        name: Cow::Borrowed("Home"),
        timestamp: T0,
        properties: vec![],
    };
    let order = Event {
        kind: EventKind::Track,
        name: Cow::Borrowed("Order Completed"),
        timestamp: T0 + 9,
        properties: vec![],
    };
    let events = [
        (10, page),
        (11, added(T0 + 1, 20)),
        (12, added(T0 + 2, 60)),
        (13, added(T0 + 3, 70)),
        (14, added(T0 + 4, 80)),
        (15, added(T0 + 5, 90)),
        (16, order),
    ]
    .map(|(o, e)| (o, e, Vec::new()));
    let x = explain(&file(true), "rescue", "v-1", &events, T0 + 10).expect("explain");
    let ev = x["events"].as_array().expect("events");
    assert_eq!(x["other_events"], 1, "the page view is not this trigger's");
    let outcomes: Vec<&str> = ev.iter().map(|e| e["outcome"].as_str().unwrap()).collect();
    assert_eq!(
        outcomes,
        [
            "conditions not met",
            "no qualification",
            "fired",
            "no qualification",
            "suppressed",
            "converted"
        ]
    );
    // The condition that failed, with the value the event had.
    let first = &ev[0]["steps"][0]["conditions"][0];
    assert_eq!(
        (first["held"].as_bool(), first["actual"].as_i64()),
        (Some(false), Some(20))
    );
    assert_eq!(
        ev[1]["progress"]["count"],
        json!({"matches": 1, "at_least": 2})
    );
    assert_eq!(
        ev[2]["results"][0]["firing_id"],
        crate::trigger::firing_id("rescue", "v-1", 13)
    );
    assert_eq!(ev[4]["results"][0]["reason"], "cooldown");
    assert_eq!(ev[4]["progress"]["cooldown_until"], T0 + 3 + 3_600_000);
    assert_eq!(ev[5]["steps"][0]["step"], "goal");
    assert_eq!(
        x["verdict"],
        "fired 1 time(s) (1 delivered, 0 held out); suppressed: cooldown 1"
    );
}

#[test]
fn a_disabled_an_unknown_and_a_never_qualified_trigger_say_so() {
    let events = [(0, added(T0, 60), Vec::new())];
    let off = explain(&file(false), "rescue", "v", &events, T0).expect("explain");
    assert_eq!(off["verdict"], "the trigger is disabled: it never fires");
    let once = explain(&file(true), "rescue", "v", &events, T0).expect("explain");
    assert_eq!(
        once["verdict"],
        "never qualified: see each event's steps and progress"
    );
    let none = explain(&file(true), "rescue", "v", &[], T0).expect("explain");
    assert_eq!(
        none["verdict"],
        "no event of this visitor is named by any step of the trigger"
    );
    assert_eq!(
        explain(&file(true), "rescu", "v", &events, T0),
        Err(ExplainError::UnknownTrigger { id: "rescu".into() })
    );
}

#[test]
fn context_conditions_are_traced_on_the_events_context() {
    let file = TriggerFile::parse(
        r#"{"version": 1, "triggers": [{"id": "winter", "when": {"event": "Product Added",
        "where": [{"context": "campaign.name", "op": "eq", "value": "winter"}]}, "action": {"type": "t"}}]}"#,
    )
    .expect("valid");
    let campaign = |name: &'static str| {
        vec![(
            Cow::Borrowed("campaign"),
            Value::Map(vec![(
                Cow::Borrowed("name"),
                Value::Str(Cow::Borrowed(name)),
            )]),
        )]
    };
    let events = [
        (0, added(T0, 1), campaign("summer")),
        (1, added(T0 + 1, 1), campaign("winter")),
    ];
    let x = explain(&file, "winter", "v", &events, T0 + 2).expect("explain");
    let ev = x["events"].as_array().expect("events");
    assert_eq!(ev[0]["outcome"], "conditions not met");
    let c = &ev[0]["steps"][0]["conditions"][0];
    assert_eq!(
        (c["context"].as_str(), c["actual"].as_str()),
        (Some("campaign.name"), Some("summer"))
    );
    assert_eq!(ev[1]["outcome"], "fired");
}
