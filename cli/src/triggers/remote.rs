//! `eventstream triggers backtest FILE --relay URL`: the relay's server-side
//! backtest (`POST /v1/admin/backtest`), every partition replaying its own
//! retained events with FILE from fresh state, beside the active file; the
//! same figures as the console.

use crate::admin::{relay_failure, report_rejection, READ_TOKEN_ENVS};
use crate::args::{self, Spec};
use crate::relay::{Relay, RelayError};
use broker_core::trigger::TriggerFile;
use serde_json::{json, Value as Json};
use std::io::{BufRead, IsTerminal, Write};

const SPEC: Spec = Spec {
    command: "triggers backtest",
    help: super::backtest::HELP,
    valued: &["--relay", "--token", "--since", "--max-events"],
    flags: &["--json"],
};

/// The suppression reasons in the spec's order; any other the relay reports
/// (a newer one) is shown after them.
const REASONS: [&str; 5] = [
    "audience",
    "cooldown",
    "max_per_user",
    "global_cap",
    "cancelled",
];

/// Runs `triggers backtest FILE --relay URL ...`.
pub fn run(argv: &[String]) -> u8 {
    // With --relay, FILE only: the events are the relay's.
    let (parsed, file, text) = match args::parse_with_file(argv, &SPEC) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let since = parsed.get("--since").unwrap_or("24h");
    let max_events = match parsed.get("--max-events").map(str::parse::<u64>) {
        None => None,
        Some(Ok(n)) if n > 0 => Some(n),
        Some(_) => return SPEC.usage("--max-events must be a whole number above 0"),
    };
    let relay = match Relay::new(
        parsed.get("--relay"),
        parsed.get("--token"),
        READ_TOKEN_ENVS,
    ) {
        Ok(r) => r,
        Err(e) => return SPEC.usage(&e),
    };
    if let Err(errors) = TriggerFile::parse(&text) {
        for e in &errors.errors {
            eprintln!("{e}");
        }
        eprintln!("eventstream triggers backtest: {file} is not a valid trigger file");
        return 1;
    }
    let mut body = json!({ "file": text, "since": since });
    if let Some(n) = max_events {
        body["max_events_per_partition"] = n.into();
    }
    let result = match fetch(&relay, &body.to_string()) {
        Ok(r) => r,
        Err(e @ RelayError::Status { .. }) => return report_rejection(&file, &e),
        Err(e) => return relay_failure(&e),
    };
    let out = if parsed.has("--json") {
        format!("{result}\n")
    } else {
        table(&result)
    };
    if std::io::stdout().write_all(out.as_bytes()).is_err() {
        return 0; // stdout closed: nothing more to say
    }
    for p in result["partitions"].as_array().into_iter().flatten() {
        if p["complete"] == false {
            let why = match p["stopped"].as_str() {
                Some("events") => "stopped at the bound of events per partition".to_owned(),
                Some("time") => "stopped at the time bound".to_owned(),
                _ => format!("failed: {}", p["error"].as_str().unwrap_or("no answer")),
            };
            eprintln!(
                "partition {}: {why} after {} events; its figures are partial",
                p["partition"], p["events"]
            );
        }
    }
    0
}

/// Posts the backtest and reads its NDJSON answer to the result line,
/// showing progress on a terminal.
fn fetch(relay: &Relay, body: &str) -> Result<Json, RelayError> {
    let stream = relay.stream("POST", "/v1/admin/backtest", Some(body))?;
    let tty = std::io::stderr().is_terminal();
    let (mut partitions, mut done, mut events) = (0u64, 0u64, 0u64);
    for line in stream.lines() {
        let line = line.map_err(|e| RelayError::Connect(e.to_string()))?;
        if line.trim().is_empty() {
            continue;
        }
        let v: Json =
            serde_json::from_str(&line).map_err(|_| RelayError::Protocol(line.clone()))?;
        match v["type"].as_str() {
            Some("started") => partitions = v["partitions"].as_u64().unwrap_or(0),
            Some("progress") => {
                if v["done"] == true {
                    done += 1;
                    events += v["events"].as_u64().unwrap_or(0);
                }
                if tty {
                    eprint!("\r{done} of {partitions} partitions, {events} events\x1b[K");
                }
            }
            Some("result") => {
                if tty {
                    eprint!("\r\x1b[K");
                }
                return Ok(v);
            }
            Some("error") => {
                let why = RelayError::in_stream(&v);
                return Err(RelayError::Protocol(format!("the backtest failed: {why}")));
            }
            _ => {}
        }
    }
    Err(RelayError::Protocol(
        "the answer ended before the backtest's result".into(),
    ))
}

/// The result as a table: per trigger, the candidate file's figures and,
/// below them, the active file's over the same events; with outcomes, held
/// out firings and conversions (delivered/held out) too.
fn table(result: &Json) -> String {
    let since = match result["since"].as_u64() {
        Some(0) | None => "the whole retention".to_owned(),
        Some(t) => super::iso8601(t),
    };
    let partitions = result["partitions"].as_array().map_or(0, Vec::len);
    let mut out = format!(
        "{} events from {} visitors on {partitions} partitions, since {since}{}\n",
        result["events"],
        result["visitors"],
        if result["stopped_early"] == true {
            " (stopped early: partial)"
        } else {
            ""
        }
    );
    let triggers: &[Json] = result["triggers"].as_array().map_or(&[], Vec::as_slice);
    // Reasons: the spec's, where reported, then any newer one.
    let mut reasons: Vec<String> = Vec::new();
    for t in triggers {
        for side in ["candidate", "active"] {
            for k in t[side]["suppressed"]
                .as_object()
                .into_iter()
                .flat_map(|o| o.keys())
            {
                if !reasons.contains(k) {
                    reasons.push(k.clone());
                }
            }
        }
    }
    // Held-out firings and conversions, when the file has outcomes.
    let outcome = |t: &Json, k: &str| {
        ["candidate", "active"]
            .iter()
            .any(|s| t[*s][k].as_u64() > Some(0))
    };
    let outcomes = triggers.iter().any(|t| {
        outcome(t, "held_out") || outcome(t, "conversions") || outcome(t, "held_out_conversions")
    });
    let rank = |r: &String| REASONS.iter().position(|k| k == r).unwrap_or(REASONS.len());
    reasons.sort_by(|a, b| (rank(a), a).cmp(&(rank(b), b)));
    let width = triggers
        .iter()
        .filter_map(|t| t["id"].as_str())
        .map(str::len)
        .chain([7])
        .max()
        .unwrap_or(7);
    let mut header = vec![
        format!("{:<width$}", "trigger"),
        "file     ".to_owned(),
        format!("{:>7}", "firings"),
        format!("{:>8}", "visitors"),
        format!("{:>7}", "share"),
        format!("{:>6}", "median"),
        format!("{:>4}", "p90"),
        format!("{:>4}", "max"),
    ];
    if outcomes {
        header.extend(["held out".to_owned(), format!("{:>9}", "converted")]);
    }
    header.extend(reasons.iter().cloned());
    out.push_str(header.join("  ").trim_end());
    out.push('\n');
    for t in triggers {
        let id = t["id"].as_str().unwrap_or("");
        for (side, label) in [("candidate", id), ("active", "")] {
            let f = &t[side];
            let mut row = vec![format!("{label:<width$}"), format!("{side:<9}")];
            if f.is_null() {
                row.push("(no trigger of this id)".to_owned());
            } else {
                // (`Json`'s Display ignores widths: numbers as numbers.)
                let n = |v: &Json| v.as_u64().unwrap_or(0);
                let pv = &f["per_visitor"];
                let share = f["share"].as_f64().unwrap_or(0.0) * 100.0;
                row.extend([
                    format!("{:>7}", n(&f["firings"])),
                    format!("{:>8}", n(&f["visitors"])),
                    format!("{:>6.2}%", share),
                    format!("{:>6}", n(&pv["median"])),
                    format!("{:>4}", n(&pv["p90"])),
                    format!("{:>4}", n(&pv["max"])),
                ]);
                if outcomes {
                    let conv =
                        format!("{}/{}", n(&f["conversions"]), n(&f["held_out_conversions"]));
                    row.extend([format!("{:>8}", n(&f["held_out"])), format!("{conv:>9}")]);
                }
                for r in &reasons {
                    let n = f["suppressed"][r].as_u64().unwrap_or(0);
                    row.push(format!("{n:>w$}", w = r.len()));
                }
            }
            out.push_str(row.join("  ").trim_end());
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_shows_candidate_and_active_side_by_side() {
        let figures = |firings: u64, visitors: u64, share: f64, max: u64, cooldown: u64| {
            json!({"firings": firings, "visitors": visitors, "share": share,
                   "per_visitor": {"median": max.min(1), "p90": max.min(1), "max": max},
                   "suppressed": {"cancelled": 5, "cooldown": cooldown, "audience": 0, "max_per_user": 0}})
        };
        let result = json!({
            "type": "result", "events": 10728, "visitors": 400, "since": 1_764_000_000_000u64,
            "partitions": [{"partition": 0, "complete": true}, {"partition": 1, "complete": true}],
            "triggers": [
                {"id": "cart-rescue", "candidate": figures(12, 11, 0.0275, 2, 3),
                 "active": figures(10, 10, 0.025, 1, 0), "sample": []},
                {"id": "new", "candidate": figures(0, 0, 0.0, 0, 0), "active": null, "sample": []}
            ],
            "stopped_early": false
        });
        assert_eq!(
            table(&result),
            "\
10728 events from 400 visitors on 2 partitions, since 2025-11-24T16:00:00.000Z
trigger      file       firings  visitors    share  median   p90   max  audience  cooldown  max_per_user  cancelled
cart-rescue  candidate       12        11    2.75%       1     1     2         0         3             0          5
             active          10        10    2.50%       1     1     1         0         0             0          5
new          candidate        0         0    0.00%       0     0     0         0         0             0          5
             active     (no trigger of this id)
"
        );
    }
}
