//! `eventstream plan check`, through the built binary.

mod support;

use serde_json::Value as Json;
use support::{run, run_ok, temp};

const PLAN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/plan.json");

fn corpus_path() -> String {
    broker_core::corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"))
        .to_string_lossy()
        .into_owned()
}

#[test]
fn check_a_valid_plan_prints_a_summary() {
    assert_eq!(
        run_ok(&["plan", "check", PLAN]),
        format!("{PLAN}: 10 events, 60 properties (41 required); unplanned: flag, violations: quarantine (1 event overrides)\n")
    );
}

#[test]
fn check_an_invalid_plan_prints_every_mistake_with_its_path() {
    let bad = temp(
        "bad.json",
        r#"{"version": 1, "on_violation": "drop", "events": {
          "Product Viewed": {"properties": {"price": {"type": "float", "required": true},
                                            "sku": {"type": "string", "maxLength": 20}}},
          "$pageview": {}
        }}"#,
    );
    let (code, out, err) = run(&["plan", "check", &bad], None);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err.lines().collect::<Vec<_>>(),
        [
            r#"on_violation: unknown action "drop" (did you mean "quarantine"?)"#,
            r#"events.$pageview: unknown event "$pageview" (did you mean "$page"?)"#,
            r#"events["Product Viewed"].properties.price.type: unknown type "float" (did you mean "number"?)"#,
            r#"events["Product Viewed"].properties.sku.maxLength: unknown key "maxLength" (did you mean "max_length"?)"#,
        ]
    );
    // With EVENTS, the plan is refused before any event is read.
    let (code, out, err) = run(&["plan", "check", &bad, "-"], Some("not read\n"));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.ends_with("is not a valid plan\n"), "{err}");
}

#[test]
fn the_reference_corpus_passes_the_example_plan() {
    let (code, out, err) = run(&["plan", "check", PLAN, &corpus_path()], None);
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.starts_with("no violations\n"), "{err}");
    assert!(
        err.contains("10728 events: 10728 clean, 0 allowed with violations, 0 flagged, 0 quarantined; 0 malformed lines skipped"),
        "{err}"
    );
}

/// What the shop would send with a bug: a price as a string, a renamed
/// event, a page view without its path, and a relay export of a
/// clean event (both input shapes are read).
const BROKEN: &str = r#"{"anonymousId":"v-1","t":1,"call":"track","event":"Product Viewed","properties":{"product_id":"p-0191","sku":"SKU-SUN-00191","name":"Urban Sunglasses 191","category":"sunglasses","price":"89.58","currency":"EUR"}}
{"anonymousId":"v-1","t":2,"call":"track","event":"Product viewed","properties":{}}

{"anonymousId":"v-2","t":3,"call":"page","properties":{"url":"https://shop.example/","title":"Shop"}}
{"partition":1,"offset":7,"visitor":"v-3","kind":"track","name":"Products Searched","time":1764000000004,"properties":{"query":"red shoes"}}
"#;

#[test]
fn broken_events_are_reported_one_json_line_per_violation() {
    let events = temp("broken.jsonl", BROKEN);
    let (code, out, err) = run(&["plan", "check", PLAN, &events], None);
    assert_eq!(code, 1, "{err}");
    let lines: Vec<Json> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 3, "{out}");
    assert_eq!(
        lines[0],
        serde_json::json!({"line": 1, "visitor": "v-1", "event": "Product Viewed", "time": 1_764_000_000_001u64,
            "action": "quarantine", "kind": "wrong_type", "path": "properties.price",
            "message": "expected number, got string \"89.58\""})
    );
    // The fields come in the documented order.
    assert!(out.starts_with(r#"{"line":1,"visitor":"v-1","event":"Product Viewed","time":"#));
    assert_eq!(lines[1]["kind"], "unplanned_event");
    assert_eq!(lines[1]["action"], "flag");
    assert_eq!(
        lines[1]["message"],
        r#""Product viewed" is not in the plan (did you mean "Product Viewed"?)"#
    );
    assert_eq!(lines[2]["line"], 4, "blank lines count as lines");
    assert_eq!(
        (&lines[2]["event"], &lines[2]["path"], &lines[2]["action"]),
        (
            &Json::from("$page"),
            &Json::from("properties.path"),
            &Json::from("flag")
        )
    );
    let table: Vec<&str> = err.lines().collect();
    assert_eq!(
        table[..4],
        [
            "event           violation         path              events",
            "$page           missing_required  properties.path        1",
            "Product Viewed  wrong_type        properties.price       1",
            "Product viewed  unplanned_event   event                  1",
        ]
    );
    assert!(
        table[4].starts_with("4 events: 1 clean, 0 allowed with violations, 2 flagged, 1 quarantined; 0 malformed lines skipped"),
        "{err}"
    );

    // --summary: the table only.
    let (code, out, err) = run(&["plan", "check", PLAN, &events, "--summary"], None);
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.contains("Product Viewed  wrong_type"), "{err}");
}

#[test]
fn violations_that_the_plan_allows_do_not_fail_the_check() {
    let plan = temp(
        "allow.json",
        r#"{"version": 1, "on_unplanned": "allow", "events": {"Products Searched": {"properties": {"query": {"type": "string"}}}}}"#,
    );
    let input = "{\"anonymousId\":\"v\",\"t\":1,\"call\":\"track\",\"event\":\"Other\"}\n\
                 {\"anonymousId\":\"v\",\"t\":2,\"call\":\"track\",\"event\":\"Products Searched\",\"properties\":{\"query\":\"hat\"}}\n";
    let (code, out, err) = run(&["plan", "check", &plan, "-"], Some(input));
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.lines().count(), 1, "still reported: {out}");
    assert!(
        out.contains(r#""action":"allow","kind":"unplanned_event""#),
        "{out}"
    );
    assert!(
        err.contains("2 events: 1 clean, 1 allowed with violations, 0 flagged, 0 quarantined"),
        "{err}"
    );
}

#[test]
fn malformed_lines_are_skipped_or_stop_with_strict() {
    let input = "{\"anonymousId\":\"v\",\"t\":1,\"call\":\"track\",\"event\":\"Products Searched\",\"properties\":{\"query\":\"hat\"}}\nnot json\n{\"kind\":\"track\"}\n";
    let (code, out, err) = run(&["plan", "check", PLAN, "-"], Some(input));
    assert_eq!((code, out.as_str()), (0, ""), "{err}");
    assert!(err.contains("-:2: not JSON"), "{err}");
    assert!(err.contains("-:3: not an event record"), "{err}");
    assert!(
        err.contains("1 event: 1 clean, 0 allowed with violations, 0 flagged, 0 quarantined; 2 malformed lines skipped"),
        "{err}"
    );
    let (code, _, err) = run(&["plan", "check", PLAN, "-", "--strict"], Some(input));
    assert_eq!(code, 1);
    assert!(err.starts_with("-:2: not JSON"), "{err}");
    assert!(!err.contains("-:3:"), "stops at the first: {err}");
}

#[test]
fn usage_mistakes_exit_2() {
    for args in [
        &["plan"][..],
        &["plan", "check"],
        &["plan", "check", "a", "b", "c"],
        &["plan", "check", "-", "-"],
        &["plan", "check", PLAN, "--nope"],
        &["plan", "lint", PLAN],
        &["plan", "check", "/nonexistent/plan.json"],
    ] {
        let (code, out, err) = run(args, Some(""));
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}");
        assert!(!err.is_empty(), "{args:?}");
    }
    let (code, out, _) = run(&["plan", "check", "--help"], None);
    assert_eq!(code, 0);
    assert!(out.starts_with("eventstream plan check PLAN [EVENTS]"));
    let (code, out, _) = run(&["--help"], None);
    assert_eq!(code, 0);
    assert!(out.contains("eventstream plan check PLAN [EVENTS]"));
}
