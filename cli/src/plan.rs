//! `eventstream plan check PLAN [EVENTS]`: the relay's tracking-plan
//! validator, and its checker over recorded events, run locally
//! ([`broker_core::plan`]), so a team can try a plan on last week's events
//! before it goes live. `push|show|versions|diff|revert` are the relay's
//! versions of the plan ([`crate::admin`]); `stats` its violation counters,
//! `replay` the quarantine's replay after a fix.

use crate::admin;
use crate::args::{self, Spec};
use crate::relay::open;
use broker_core::plan::{Action, Plan, ViolationKind};
use std::collections::BTreeMap;
use std::io::Write;

/// The usage lines of the `plan` commands, for this help and the top-level one.
macro_rules! usage {
    () => {
        "  eventstream plan check PLAN [EVENTS] [--summary] [--strict]
  eventstream plan push FILE --relay URL [--comment TEXT] [--token TOKEN]
  eventstream plan show|versions --relay URL [--token TOKEN]
  eventstream plan diff A B | revert N --relay URL [--token TOKEN]
  eventstream plan stats --relay URL [--json] [--token TOKEN]
  eventstream plan replay --relay URL [--token TOKEN]
"
    };
}
pub(crate) use usage;

const HELP: &str = concat!(
    "eventstream plan: check tracking plans (docs/plan.md)\n\nUsage:\n",
    usage!(),
    "\nRun `eventstream plan <command> --help` for details and an example.\n"
);

const CHECK_HELP: &str = "\
eventstream plan check PLAN [EVENTS] [--summary] [--strict]

Validates a tracking plan exactly as the relay does. A valid plan prints a one-line summary and
exits 0; an invalid one prints every mistake on stderr, one per line as `PATH: message`, and
exits 1.

With EVENTS, also checks recorded events against the plan, as the relay would at ingest: each
violation is printed as one JSON line on stdout, such as
  {\"line\":12,\"visitor\":\"v-1\",\"event\":\"Product Viewed\",\"time\":1764000017274,\"action\":\"quarantine\",\"kind\":\"wrong_type\",\"path\":\"properties.price\",\"message\":\"expected number, got string \\\"89.58\\\"\"}
then a table on stderr: per event name and violation (kind and path), how many events had it,
and a line of totals by action. EVENTS is a file of JSON lines, or - for stdin, read as
`triggers backtest` reads it: relay event exports or reference-corpus SDK calls.

Options:
  --summary   print only the table
  --strict    stop at the first malformed line (exit 1) instead of reporting and skipping it

Exit codes: 0 the plan is valid and every event passes (the relay would store it unmarked:
action allow, with or without violations to count); 1 an invalid plan, or some event would be
flagged or quarantined; 2 bad arguments or unreadable input.

Example:
  $ eventstream plan check examples/plan.json
  examples/plan.json: 10 events, 60 properties (41 required); unplanned: flag, violations: quarantine (1 event overrides)
  $ eventstream plan check examples/plan.json examples/corpus/clickstream.jsonl --summary
  $ eventstream tail --relay http://127.0.0.1:8787 --from earliest --until-end | \\
      eventstream plan check new-plan.json -
";

const SPEC: Spec = Spec {
    command: "plan check",
    help: CHECK_HELP,
    valued: &[],
    flags: &["--summary", "--strict"],
};

/// Runs `eventstream plan ARGS` (`ARGS[0]` is the subcommand); returns the exit code.
pub fn run(args: &[String]) -> u8 {
    match args.first().map(String::as_str) {
        Some("check") => check(&args[1..]),
        Some("push") => admin::push(&admin::PLAN, &args[1..]),
        Some("show") => admin::show(&admin::PLAN, &args[1..]),
        Some("versions") => admin::versions(&admin::PLAN, &args[1..]),
        Some("diff") => admin::diff(&admin::PLAN, &args[1..]),
        Some("revert") => admin::revert(&admin::PLAN, &args[1..]),
        Some("stats") => stats(&args[1..]),
        Some("replay") => replay(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            0
        }
        Some(other) => {
            eprintln!("eventstream plan: unknown command {other:?}\n\n{HELP}");
            crate::EXIT_USAGE
        }
        None => {
            eprint!("{HELP}");
            crate::EXIT_USAGE
        }
    }
}

fn check(argv: &[String]) -> u8 {
    let parsed = match args::parse(argv, &SPEC) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let (file, events) = match parsed.positional.as_slice() {
        [file] => (file, None),
        [file, events] => (file, Some(events)),
        _ => return SPEC.usage("expected PLAN, and optionally EVENTS"),
    };
    if file == "-" && events.is_some_and(|e| e == "-") {
        return SPEC.usage("PLAN and EVENTS cannot both be stdin");
    }
    let text = match args::read_text(file) {
        Ok(t) => t,
        Err(e) => return SPEC.fail(&e),
    };
    let plan = match Plan::parse(&text) {
        Ok(p) => p,
        Err(errors) => {
            for e in &errors.errors {
                eprintln!("{e}");
            }
            if events.is_some() {
                eprintln!("eventstream plan check: {file} is not a valid plan");
            }
            return 1;
        }
    };
    let Some(events) = events else {
        println!("{file}: {}", plan.summary());
        return 0;
    };
    let input = match args::read_text(events) {
        Ok(t) => t,
        Err(e) => return SPEC.fail(&e),
    };
    let started = std::time::Instant::now();
    let run = match check_events(
        &plan,
        &input,
        events,
        parsed.has("--strict"),
        !parsed.has("--summary"),
    ) {
        Ok(r) => r,
        Err(Stop::Malformed) => return 1,
        Err(Stop::Closed) => return 0, // stdout closed (`| head`): nothing more to say
    };
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    eprint!("{}", run.table());
    let plural = |n: u64, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    eprintln!(
        "{}: {} clean, {} allowed with violations, {} flagged, {} quarantined; {} skipped; {:.1} ms ({:.0} events/s)",
        plural(run.events, "event", "events"),
        run.clean,
        run.by_action[0],
        run.by_action[1],
        run.by_action[2],
        plural(run.skipped, "malformed line", "malformed lines"),
        elapsed * 1e3,
        run.events as f64 / elapsed
    );
    u8::from(run.by_action[1] + run.by_action[2] > 0)
}

/// One violation on stdout, fields in this order (a `json!` map would sort them).
#[derive(serde::Serialize)]
struct Line<'a> {
    line: usize,
    visitor: &'a str,
    event: &'a str,
    time: u64,
    action: &'static str,
    kind: &'static str,
    path: &'a str,
    message: &'a str,
}

enum Stop {
    /// A malformed line under `--strict` (already reported).
    Malformed,
    /// Stdout was closed.
    Closed,
}

/// What a check of recorded events found.
#[derive(Default)]
struct Run {
    events: u64,
    clean: u64,
    skipped: u64,
    /// Events with violations, by action (allow, flag, quarantine).
    by_action: [u64; 3],
    /// Events per (event name, kind, path).
    counts: BTreeMap<(String, ViolationKind, String), u64>,
}

fn check_events(
    plan: &Plan,
    input: &str,
    name: &str,
    strict: bool,
    print: bool,
) -> Result<Run, Stop> {
    let mut run = Run::default();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut ordinal = 0u64;
    for (i, line) in input.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let (visitor, event, _) = match crate::triggers::parse_line(line, ordinal) {
            Ok(parsed) => parsed,
            Err(why) => {
                eprintln!("{name}:{}: {why}", i + 1);
                if strict {
                    return Err(Stop::Malformed);
                }
                run.skipped += 1;
                continue;
            }
        };
        ordinal += 1;
        run.events += 1;
        let verdict = plan.check(&event);
        if verdict.is_clean() {
            run.clean += 1;
            continue;
        }
        let slot = Action::ALL
            .iter()
            .position(|a| *a == verdict.action)
            .unwrap_or(0);
        run.by_action[slot] += 1;
        let event_name = event.trigger_name();
        for v in &verdict.violations {
            *run.counts
                .entry((event_name.to_owned(), v.kind, v.path.clone()))
                .or_default() += 1;
            if print {
                let line = Line {
                    line: i + 1,
                    visitor: &visitor,
                    event: event_name,
                    time: event.timestamp,
                    action: verdict.action.as_str(),
                    kind: v.kind.name(),
                    path: &v.path,
                    message: &v.message,
                };
                if serde_json::to_writer(&mut out, &line).is_err() || out.write_all(b"\n").is_err()
                {
                    return Err(Stop::Closed);
                }
            }
        }
    }
    out.flush().map_err(|_| Stop::Closed)?;
    Ok(run)
}

impl Run {
    /// Per event name, violation kind and path: how many events had it.
    fn table(&self) -> String {
        if self.counts.is_empty() {
            return "no violations\n".to_owned();
        }
        let width = |f: &dyn Fn(&(String, ViolationKind, String)) -> usize, min: usize| {
            self.counts.keys().map(f).chain([min]).max().unwrap_or(min)
        };
        let we = width(&|k| k.0.chars().count(), 5);
        let wk = width(&|k| k.1.name().len(), 9);
        let wp = width(&|k| k.2.chars().count(), 4);
        let mut out = format!(
            "{:<we$}  {:<wk$}  {:<wp$}  {:>6}\n",
            "event", "violation", "path", "events"
        );
        for ((event, kind, path), n) in &self.counts {
            out.push_str(&format!(
                "{event:<we$}  {:<wk$}  {path:<wp$}  {n:>6}\n",
                kind.name()
            ));
        }
        out
    }
}

const STATS: Spec = Spec {
    command: "plan stats",
    help: "\
eventstream plan stats --relay URL [--json] [--token TOKEN]
    Prints the active tracking plan's violation counters, every partition's merged, most
    violations first: per event name, kind and path, how many were allowed, flagged and
    quarantined, and the last one's message; then how many events the quarantine holds.
    Counters start again when a plan version is activated. --json prints the relay's answer.
    The token (any role) comes from --token, EVENTSTREAM_ADMIN_TOKEN, EVENTSTREAM_EDITOR_TOKEN
    or EVENTSTREAM_VIEWER_TOKEN.
    Exit codes: 0 printed, 1 refused by the relay, 2 bad arguments or relay unreachable.
    Example: eventstream plan stats --relay http://127.0.0.1:8787
",
    valued: &["--relay", "--token"],
    flags: &["--json"],
};

const REPLAY: Spec = Spec {
    command: "plan replay",
    help: "\
eventstream plan replay --relay URL [--token TOKEN]
    Judges every quarantined event again with the active tracking plan (push the fixed plan
    first): what it lets through moves to the event stream (flagged events with their
    violations), with its frame's context and first time of receipt; what it still
    quarantines stays, with the violations found now. Triggers do not run on released events.
    The token (an editor's or the admin's) comes from --token, EVENTSTREAM_ADMIN_TOKEN or
    EVENTSTREAM_EDITOR_TOKEN.
    Exit codes: 0 replayed (everything, or as far as one request goes: run it again to go on),
    1 refused by the relay, 2 bad arguments or relay unreachable.
    Example: eventstream plan push fixed-plan.json --relay http://127.0.0.1:8787 && \\
             eventstream plan replay --relay http://127.0.0.1:8787
",
    valued: &["--relay", "--token"],
    flags: &[],
};

/// `eventstream plan stats ARGS`.
fn stats(argv: &[String]) -> u8 {
    let (opts, relay) = match open(argv, &STATS, admin::READ_TOKEN_ENVS) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if !opts.positional.is_empty() {
        return STATS.usage("unexpected arguments");
    }
    match relay.call("GET", "/v1/admin/plan/stats", None) {
        Ok(body) if opts.has("--json") => {
            println!("{body}");
            0
        }
        Ok(body) => {
            print!("{}", stats_table(&body));
            0
        }
        Err(e) => admin::relay_failure(&e),
    }
}

/// The merged counters as a table.
fn stats_table(body: &serde_json::Value) -> String {
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap_or(0);
    let mut out = String::new();
    let since = body["since"].as_u64().map_or_else(
        || "no plan is active".to_owned(),
        |t| format!("since {}", crate::triggers::iso8601(t)),
    );
    let totals = &body["totals"];
    out.push_str(&format!(
        "violations {since}: {} allowed, {} flagged, {} quarantined; the quarantine holds {}\n",
        n(totals, "allowed"),
        n(totals, "flagged"),
        n(totals, "quarantined"),
        events(n(&body["quarantine"], "events"))
    ));
    let counters = body["counters"].as_array().map_or(&[][..], Vec::as_slice);
    if counters.is_empty() {
        return out;
    }
    out.push_str("  allowed  flagged  quarantined  event / path (kind): last message\n");
    for c in counters {
        let place = match (c["event"].as_str(), c["path"].as_str()) {
            (Some(e), Some(p)) => format!("{e} / {p}"),
            _ => "(other events, past the counters kept)".to_owned(),
        };
        out.push_str(&format!(
            "  {:>7}  {:>7}  {:>11}  {place} ({}): {}\n",
            n(c, "allowed"),
            n(c, "flagged"),
            n(c, "quarantined"),
            c["kind"].as_str().unwrap_or(""),
            c["example"].as_str().unwrap_or("")
        ));
    }
    out
}

/// `1 event`, `2 events`.
fn events(n: u64) -> String {
    match n {
        1 => "1 event".to_owned(),
        n => format!("{n} events"),
    }
}

/// `eventstream plan replay ARGS`.
fn replay(argv: &[String]) -> u8 {
    let (opts, relay) = match open(argv, &REPLAY, admin::EDIT_TOKEN_ENVS) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if !opts.positional.is_empty() {
        return REPLAY.usage("unexpected arguments");
    }
    match relay.call("POST", "/v1/admin/quarantine/replay", None) {
        Ok(body) => {
            let n = |k: &str| body[k].as_u64().unwrap_or(0);
            println!(
                "released {} to the event stream; {} in quarantine",
                events(n("released")),
                match n("kept") {
                    1 => "1 event stays".to_owned(),
                    k => format!("{k} events stay"),
                }
            );
            if body["complete"] == false {
                println!(
                    "the replay stopped at its bound on some partitions: run it again to go on"
                );
            }
            0
        }
        Err(e) => admin::relay_failure(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_stats_table_says_where_and_why() {
        let body = json!({
            "since": 1_764_000_000_000u64,
            "totals": {"allowed": 0, "flagged": 2, "quarantined": 5},
            "quarantine": {"events": 5},
            "counters": [
                {"event": "Product Viewed", "path": "properties.price", "kind": "wrong_type",
                 "allowed": 0, "flagged": 0, "quarantined": 5,
                 "example": "expected number, got string \"89.58\""},
                {"event": null, "path": null, "kind": "unplanned_event",
                 "allowed": 0, "flagged": 2, "quarantined": 0, "example": "\"x\" is not in the plan"}
            ]
        });
        let table = stats_table(&body);
        assert!(table.starts_with("violations since 2025-11-24T16:00:00.000Z: 0 allowed, 2 flagged, 5 quarantined; the quarantine holds 5 events\n"), "{table}");
        assert!(table.contains("        0        0            5  Product Viewed / properties.price (wrong_type): expected number, got string \"89.58\"\n"), "{table}");
        assert!(table.contains("(other events, past the counters kept) (unplanned_event)"));
    }
}
