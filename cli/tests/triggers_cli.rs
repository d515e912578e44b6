//! `eventstream triggers check` and `backtest`, through the built binary.

#[path = "../../broker-core/tests/support/reference.rs"]
mod reference;

mod support;

use broker_core::corpus;
use reference::{ref_events, reference_outcomes};
use serde_json::Value as Json;
use support::{run, run_ok, temp};

const EXAMPLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/triggers.json");

const SMALL: &str = r#"{"version": 1, "triggers": [
  {"id": "adds", "when": {"event": "Product Added"}, "count": {"at_least": 2, "within": "10m"}, "action": {"type": "banner", "payload": {"n": 2}}},
  {"id": "rescue", "when": {"event": "Product Added"}, "unless": {"event": "Checkout Started", "within": "1m"}, "action": {"type": "toast"}},
  {"id": "never", "when": {"event": "Nothing"}, "action": {"type": "x"}}
]}"#;

#[test]
fn check_a_valid_file_prints_a_summary() {
    assert_eq!(
        run_ok(&["triggers", "check", EXAMPLE]),
        format!("{EXAMPLE}: 9 triggers: 4 when, 3 count, 2 sequence; 3 with unless, 3 with audience, 1 disabled\n")
    );
}

#[test]
fn check_an_invalid_file_prints_every_mistake_with_its_path() {
    let bad = temp(
        "bad.json",
        r#"{"version": 1, "triggers": [
          {"id": "cart-rescue", "when": {"event": "Product Added", "where": [{"prop": "price", "op": "gte ", "value": 50}]},
           "cooldown": "1 day", "action": {"type": "banner"}},
          {"id": "cart-rescue", "sequence": [{"event": "a"}, {"event": "b"}], "within": "5m",
           "count": {"at_least": 2, "within": "1h"}, "action": {"type": "x", "paylod": {}}}
        ]}"#,
    );
    let (code, out, err) = run(&["triggers", "check", &bad], None);
    assert_eq!((code, out.as_str()), (1, ""));
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines,
        [
            r#"triggers[0].when.where[0].op: unknown operator "gte " (did you mean "gte"?) in trigger "cart-rescue""#,
            r#"triggers[0].cooldown: bad duration "1 day": expected a whole number and a unit s, m, h or d, like "90s", "10m", "24h", "7d" (did you mean "1d"?) in trigger "cart-rescue""#,
            r#"triggers[1].id: duplicate id "cart-rescue" (already used by triggers[0])"#,
            r#"triggers[1].count: "count" goes with "when", not with "sequence" (a sequence's window is its "within") in trigger "cart-rescue""#,
            r#"triggers[1].action.paylod: unknown key "paylod" (did you mean "payload"?) in trigger "cart-rescue""#,
        ]
    );
}

#[test]
fn check_usage_and_io_problems_exit_2() {
    for (args, starts) in [
        (
            &["triggers", "check", "/nonexistent/triggers.json"][..],
            "eventstream triggers check: cannot read /nonexistent/triggers.json: ",
        ),
        (
            &["triggers", "check"],
            "eventstream triggers check: expected exactly one FILE\n",
        ),
        (
            &["triggers", "check", "a", "--bogus"],
            "eventstream triggers check: unknown option --bogus\n",
        ),
    ] {
        let (code, _, err) = run(args, None);
        assert_eq!(code, 2, "{args:?}");
        assert!(err.starts_with(starts), "{args:?}: {err}");
    }
    let (code, _, _) = run(&["triggers", "frobnicate"], None);
    assert_eq!(code, 2);
}

#[test]
fn every_command_has_help_with_an_example() {
    for args in [
        &["triggers", "--help"][..],
        &["triggers", "check", "--help"],
        &["triggers", "backtest", "-h"],
    ] {
        let (code, out, _) = run(args, None);
        assert_eq!(code, 0, "{args:?}");
        assert!(out.contains("eventstream triggers"), "{args:?}");
    }
    for command in [
        &["triggers", "check"][..],
        &["triggers", "backtest"],
        &["triggers", "push"],
        &["triggers", "show"],
        &["tail"],
        &["frame"],
    ] {
        // Help wins wherever it stands, even after a mistake.
        for help in ["--help", "-h"] {
            let args = [command, &["--bogus", help]].concat();
            let (code, out, err) = run(&args, None);
            assert_eq!((code, err.as_str()), (0, ""), "{args:?}");
            assert!(out.contains("Example:"), "{args:?}: {out}");
        }
        // A mistake: its message, then the help, on stderr; exit 2.
        let args = [command, &["--bogus"]].concat();
        let (code, out, err) = run(&args, None);
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}");
        let want = format!(
            "eventstream {}: unknown option --bogus\n",
            command.join(" ")
        );
        assert!(err.starts_with(&want), "{args:?}: {err}");
        assert!(err.contains("Example:"), "{args:?}: {err}");
    }
}

#[test]
fn the_usage_lists_every_command_once_in_both_helps() {
    let (code, top, _) = run(&["--help"], None);
    assert_eq!(code, 0);
    let (code, triggers, _) = run(&["triggers", "--help"], None);
    assert_eq!(code, 0);
    let usage = |help: &str| -> Vec<String> {
        help.lines()
            .skip_while(|l| *l != "Usage:")
            .skip(1)
            .take_while(|l| !l.is_empty())
            .filter(|l| !l.starts_with("                 "))
            .map(str::to_owned)
            .collect()
    };
    let (top, triggers) = (usage(&top), usage(&triggers));
    assert!(triggers.len() >= 8, "{triggers:?}");
    for l in top.iter().chain(&triggers) {
        assert!(l.starts_with("  eventstream "), "{l:?}");
    }
    let top_triggers: Vec<_> = top
        .iter()
        .filter(|l| l.starts_with("  eventstream triggers "))
        .collect();
    assert_eq!(top_triggers, triggers.iter().collect::<Vec<_>>());
}

#[test]
fn an_unreadable_input_is_one_line_and_exit_2() {
    let missing = std::env::temp_dir().join("eventstream-cli-no-such-file.json");
    let missing = missing.to_string_lossy();
    for (command, args) in [
        ("triggers check", vec!["triggers", "check", &missing]),
        (
            "triggers backtest",
            vec!["triggers", "backtest", EXAMPLE, &missing],
        ),
        ("frame", vec!["frame", "decode", &missing]),
    ] {
        let (code, out, err) = run(&args, None);
        assert_eq!((code, out.as_str()), (2, ""), "{args:?}");
        assert!(
            err.starts_with(&format!("eventstream {command}: cannot read {missing}: ")),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "{err}");
    }
}

#[test]
fn backtest_of_the_example_over_the_corpus_matches_the_reference() {
    let corpus_path = corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"));
    let corpus_path = corpus_path.to_string_lossy();
    let (code, out, err) = run(&["triggers", "backtest", EXAMPLE, &corpus_path], None);
    assert_eq!(code, 0, "{err}");

    let text = std::fs::read_to_string(&*corpus_path).expect("corpus");
    let events = ref_events(&corpus::parse_corpus(&text).expect("parses"));
    let reference =
        reference_outcomes(&std::fs::read_to_string(EXAMPLE).expect("example"), &events);
    // Firings (held out ones marked) and conversions, merged by time with a
    // firing before a conversion at the same time (both lists are sorted
    // by time, then visitor, trigger and id).
    let mut want: Vec<(u64, u8, Json)> = reference
        .firings
        .into_iter()
        .map(|f| {
            let mut j = firing(
                &f.firing_id,
                &f.trigger,
                &f.visitor,
                f.time,
                &f.action_type,
                &f.payload,
            );
            if f.held_out {
                j["type"] = "held_out".into();
                j["held_out"] = true.into();
            }
            (f.time, 0, j)
        })
        .collect();
    want.extend(reference.conversions.into_iter().map(|c| {
        let j = serde_json::json!({"type": "conversion", "firing_id": c.firing_id,
            "trigger": c.trigger, "visitor": c.visitor, "time": c.time, "held_out": c.held_out});
        (c.time, 1, j)
    }));
    want.sort_by_key(|(t, kind, _)| (*t, *kind));
    let want: Vec<Json> = want.into_iter().map(|(_, _, j)| j).collect();
    let got = json_lines(&out);
    assert_eq!(got.len(), 591 + 65 + 237);
    assert_eq!(got, want);

    let table: Vec<&str> = err.lines().collect();
    assert_eq!(
        table[0],
        "trigger            firings  visitors  held out  converted  first                     last"
    );
    assert_eq!(
        table[1],
        "cart-rescue             52        52         7        0/0  2025-11-24T16:10:27.644Z  2025-11-24T16:13:13.548Z"
    );
    assert_eq!(
        table[5],
        "plus-upsell            171       171        39      93/25  2025-11-24T16:00:15.768Z  2025-11-24T16:03:21.805Z"
    );
    assert_eq!(
        table[9],
        "gift-finder              0         0         0        0/0  -                         -"
    );
    assert!(
        table[10].starts_with(
            "10728 events, 0 malformed lines skipped, 591 firings (65 held out, 237 conversions) in "
        ),
        "{}",
        table[10]
    );
}

/// A firing line as the relay sends firings to pages (key order is not part
/// of the format: lines are compared as JSON).
fn firing(id: &str, trigger: &str, visitor: &str, time: u64, action: &str, payload: &str) -> Json {
    let payload: Json = serde_json::from_str(payload).expect("payload JSON");
    serde_json::json!({"type": "firing", "firing_id": id, "trigger": trigger, "visitor": visitor,
        "time": time, "action": {"type": action, "payload": payload}})
}

fn json_lines(out: &str) -> Vec<Json> {
    out.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

fn export_line(offset: u64, visitor: &str, name: &str, time: u64) -> String {
    format!(
        r#"{{"partition":0,"offset":{offset},"visitor":"{visitor}","userId":null,"kind":"track","name":"{name}","time":{time},"properties":{{}}}}"#
    )
}

#[test]
fn backtest_reads_relay_exports_and_corpus_calls_from_stdin() {
    let t0 = 1_764_000_000_000u64;
    let input = [
        export_line(40, "v-1", "Product Added", t0),
        // A corpus call: offset = its ordinal (1), time = EPOCH + t.
        r#"{"session":3,"anonymousId":"v-2","t":500,"call":"track","event":"Product Added","properties":{}}"#.to_owned(),
        export_line(41, "v-1", "Product Added", t0 + 1_000),
        export_line(42, "v-2", "Checkout Started", t0 + 30_000),
    ]
    .join("\n");
    let small = temp("small.json", SMALL);
    let (code, out, err) = run(&["triggers", "backtest", &small, "-"], Some(&input));
    assert_eq!(code, 0, "{err}");
    let id = |t, v, o| broker_core::trigger::firing_id(t, v, o);
    let want = [
        firing(
            &id("adds", "v-1", 41),
            "adds",
            "v-1",
            t0 + 1_000,
            "banner",
            r#"{"n":2}"#,
        ),
        firing(
            &id("rescue", "v-1", 40),
            "rescue",
            "v-1",
            t0 + 60_000,
            "toast",
            "{}",
        ),
        firing(
            &id("rescue", "v-1", 41),
            "rescue",
            "v-1",
            t0 + 61_000,
            "toast",
            "{}",
        ),
    ];
    assert_eq!(json_lines(&out), want);
    let table: Vec<&str> = err.lines().collect();
    assert_eq!(
        table[..4],
        [
            "trigger  firings  visitors  first                     last",
            "adds           1         1  2025-11-24T16:00:01.000Z  2025-11-24T16:00:01.000Z",
            "rescue         2         1  2025-11-24T16:01:00.000Z  2025-11-24T16:01:01.000Z",
            "never          0         0  -                         -",
        ]
    );
    assert!(
        table[4].starts_with("4 events, 0 malformed lines skipped, 3 firings in "),
        "{}",
        table[4]
    );
}

#[test]
fn malformed_lines_are_reported_and_skipped_or_stop_with_strict() {
    let t0 = 1_764_000_000_000u64;
    let events = temp(
        "events.jsonl",
        &[
            export_line(0, "v", "Product Added", t0),
            "{not json".to_owned(),
            String::new(),
            r#"{"visitor":"v","kind":"teleport","time":1}"#.to_owned(),
            export_line(1, "v", "Product Added", t0 + 1),
        ]
        .join("\n"),
    );
    let small = temp("small2.json", SMALL);
    let (code, out, err) = run(
        &["triggers", "backtest", &small, &events, "--trigger", "adds"],
        None,
    );
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 1);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(
        lines[0],
        format!("{events}:2: not JSON: key must be a string at line 1 column 2")
    );
    assert_eq!(
        lines[1],
        format!(r#"{events}:4: not an event record: unknown event kind "teleport""#)
    );
    assert_eq!(
        lines[2],
        "trigger  firings  visitors  first                     last"
    );
    assert_eq!(lines.len(), 5, "only the adds row: {err}");
    assert!(
        lines[4].starts_with("2 events, 2 malformed lines skipped, 1 firings in "),
        "{}",
        lines[4]
    );

    let (code, out, err) = run(&["triggers", "backtest", &small, &events, "--strict"], None);
    assert_eq!((code, out.as_str()), (1, ""));
    assert_eq!(
        err,
        format!("{events}:2: not JSON: key must be a string at line 1 column 2\n")
    );
}

#[test]
fn summary_and_trigger_selection() {
    let t0 = 1_764_000_000_000u64;
    let input = [
        export_line(0, "v", "Product Added", t0),
        export_line(1, "v", "Product Added", t0 + 5),
    ]
    .join("\n");
    let small = temp("small3.json", SMALL);
    let (code, out, err) = run(
        &["triggers", "backtest", &small, "-", "--summary"],
        Some(&input),
    );
    assert_eq!((code, out.as_str()), (0, ""));
    assert_eq!(err.lines().count(), 5, "header, three rows, totals: {err}");

    let (code, out, err) = run(
        &[
            "triggers",
            "backtest",
            &small,
            "-",
            "--trigger",
            "rescue",
            "--trigger=never",
        ],
        Some(&input),
    );
    assert_eq!(code, 0);
    assert_eq!(out.lines().count(), 2, "two rescue firings, no adds: {out}");
    assert!(json_lines(&out).iter().all(|f| f["trigger"] == "rescue"));
    let rows: Vec<&str> = err
        .lines()
        .skip(1)
        .take(2)
        .map(|l| l.split_whitespace().next().unwrap_or(""))
        .collect();
    assert_eq!(rows, ["rescue", "never"]);

    let (code, _, err) = run(
        &["triggers", "backtest", &small, "-", "--trigger", "resc"],
        Some(&input),
    );
    assert_eq!(code, 2);
    assert!(err.starts_with(&format!(r#"eventstream triggers backtest: no trigger "resc" in {small} (it has: adds, rescue, never)"#)), "{err}");
}

#[test]
fn backtest_with_an_invalid_trigger_file_exits_1() {
    let bad = temp(
        "bad2.json",
        r#"{"version": 1, "triggers": [{"id": "x", "action": {"type": "t"}}]}"#,
    );
    let (code, out, err) = run(&["triggers", "backtest", &bad, "-"], Some(""));
    assert_eq!((code, out.as_str()), (1, ""));
    assert!(err.starts_with(r#"triggers[0]: needs "when" (one step) or "sequence" (two or more steps) in trigger "x""#), "{err}");
}
