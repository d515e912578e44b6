//! `eventstream triggers|plan push|show|versions|diff|revert`: the relay's
//! administration API for its two versioned documents, the trigger file and
//! the tracking plan (`/v1/admin/triggers/...`, `/v1/admin/plan/...`), what
//! the console does, from a terminal.
//!
//! Every push is a version the relay keeps (number, time, author, comment);
//! a revert is a new version with an old one's content. Pushing and
//! reverting need an editor's token (the admin token is one); reading needs
//! any token, a viewer's too.

use crate::args::{self, Spec};
use crate::relay::{open, Relay, RelayError};
use broker_core::plan::Plan;
use broker_core::trigger::TriggerFile;
use serde_json::{json, Value as Json};

/// Where push and revert look for a token without --token, in order.
pub const EDIT_TOKEN_ENVS: &[&str] = &["EVENTSTREAM_ADMIN_TOKEN", "EVENTSTREAM_EDITOR_TOKEN"];
/// Where the reading commands look for a token without --token, in order.
pub const READ_TOKEN_ENVS: &[&str] = &[
    "EVENTSTREAM_ADMIN_TOKEN",
    "EVENTSTREAM_EDITOR_TOKEN",
    "EVENTSTREAM_VIEWER_TOKEN",
];

const PUSH_HELP: &str = "\
eventstream triggers push FILE --relay URL [--comment TEXT] [--token TOKEN]
    Validates FILE locally, then uploads it to the relay, which validates it again, keeps it as
    a new version (with the comment, if given) and activates it on every partition. Errors are
    printed one per line as `PATH: message`; nothing changes on the relay unless the whole file
    is valid. If a partition fails to activate the version, it is named and the exit code is 1:
    push again (or revert) to retry. The token (an editor's or the admin's) comes from --token,
    EVENTSTREAM_ADMIN_TOKEN or EVENTSTREAM_EDITOR_TOKEN.
    Exit codes: 0 activated everywhere, 1 rejected (by this tool or the relay) or not activated
    everywhere, 2 bad arguments, unreadable file, or relay unreachable.
    Example: EVENTSTREAM_ADMIN_TOKEN=... eventstream triggers push examples/triggers.json \\
             --relay http://127.0.0.1:8787 --comment \"cart rescue after 10 minutes\"
";

const SHOW_HELP: &str = "\
eventstream triggers show --relay URL [--token TOKEN]
    Prints the trigger file active on the relay (JSON). The token (any role) comes from --token,
    EVENTSTREAM_ADMIN_TOKEN, EVENTSTREAM_EDITOR_TOKEN or EVENTSTREAM_VIEWER_TOKEN.
    Exit codes: 0 printed, 1 refused by the relay, 2 bad arguments or relay unreachable.
    Example: eventstream triggers show --relay http://127.0.0.1:8787 > active.json
";

const VERSIONS_HELP: &str = "\
eventstream triggers versions --relay URL [--json] [--token TOKEN]
    Lists the versions the relay keeps, newest first: number, time, author, on how many
    partitions it runs, comment. `*` marks the active version (the last pushed or reverted);
    partitions that have not activated it yet are named below the list. --json prints the
    relay's answer instead. The token (any role) as for `show`.
    Exit codes: 0 listed, 1 refused by the relay, 2 bad arguments or relay unreachable.
    Example: eventstream triggers versions --relay http://127.0.0.1:8787
";

const DIFF_HELP: &str = "\
eventstream triggers diff A B --relay URL [--token TOKEN]
    Prints the unified diff (3 lines of context) from version A to version B. The token (any
    role) as for `show`.
    Exit codes: 0 printed, 1 refused by the relay (no such version), 2 bad arguments or relay
    unreachable.
    Example: eventstream triggers diff 3 4 --relay http://127.0.0.1:8787
";

const REVERT_HELP: &str = "\
eventstream triggers revert N --relay URL [--comment TEXT] [--token TOKEN]
    Makes version N's content active again, as a new version (comment: yours, or \"revert to
    version N\"). Activation is reported as for `push`. The token as for `push`.
    Exit codes: 0 activated everywhere, 1 refused or not activated everywhere, 2 bad arguments
    or relay unreachable.
    Example: eventstream triggers revert 3 --relay http://127.0.0.1:8787 --comment \"too noisy\"
";

const PLAN_PUSH_HELP: &str = "\
eventstream plan push FILE --relay URL [--comment TEXT] [--token TOKEN]
    Validates the tracking plan FILE locally, then uploads it to the relay, which validates it
    again, keeps it as a new version and activates it on every partition: from then on every
    event is judged by it at ingest, and its violation counters start again. Errors, exit codes
    and the token as for `eventstream triggers push`.
    Example: EVENTSTREAM_ADMIN_TOKEN=... eventstream plan push examples/plan.json \\
             --relay http://127.0.0.1:8787 --comment \"price is a number\"
";

const PLAN_SHOW_HELP: &str = "\
eventstream plan show --relay URL [--token TOKEN]
    Prints the tracking plan active on the relay (JSON). Token and exit codes as for
    `eventstream triggers show`.
    Example: eventstream plan show --relay http://127.0.0.1:8787 > active-plan.json
";

const PLAN_VERSIONS_HELP: &str = "\
eventstream plan versions --relay URL [--json] [--token TOKEN]
    Lists the tracking plan's versions, newest first, as `eventstream triggers versions` lists
    the trigger file's (the two are numbered on their own).
    Example: eventstream plan versions --relay http://127.0.0.1:8787
";

const PLAN_DIFF_HELP: &str = "\
eventstream plan diff A B --relay URL [--token TOKEN]
    Prints the unified diff from tracking plan version A to version B.
    Example: eventstream plan diff 1 2 --relay http://127.0.0.1:8787
";

const PLAN_REVERT_HELP: &str = "\
eventstream plan revert N --relay URL [--comment TEXT] [--token TOKEN]
    Makes tracking plan version N's content active again, as a new version.
    Example: eventstream plan revert 1 --relay http://127.0.0.1:8787
";

/// One of the relay's versioned documents, and its commands.
pub struct Doc {
    /// The route segment: `triggers` or `plan`.
    route: &'static str,
    /// `triggers` or `tracking plan`, in messages.
    noun: &'static str,
    /// `a trigger file` or `a tracking plan`.
    article: &'static str,
    push: Spec,
    show: Spec,
    versions: Spec,
    diff: Spec,
    revert: Spec,
    /// Validates a file locally: what it holds (`12 triggers`), or every
    /// mistake as `PATH: message`.
    check: fn(&str) -> Result<String, Vec<String>>,
}

/// A document's mistakes as `PATH: message` lines.
fn at_paths<'a>(errors: impl Iterator<Item = (&'a String, &'a String)>) -> Vec<String> {
    errors
        .map(|(path, message)| format!("{path}: {message}"))
        .collect()
}

const fn spec(command: &'static str, help: &'static str, valued: &'static [&'static str]) -> Spec {
    Spec {
        command,
        help,
        valued,
        flags: &[],
    }
}

const READ: &[&str] = &["--relay", "--token"];
const EDIT: &[&str] = &["--relay", "--token", "--comment"];

/// The trigger file: `eventstream triggers ...`.
pub const TRIGGERS: Doc = Doc {
    route: "triggers",
    noun: "triggers",
    article: "a trigger file",
    push: spec("triggers push", PUSH_HELP, EDIT),
    show: spec("triggers show", SHOW_HELP, READ),
    versions: Spec {
        flags: &["--json"],
        ..spec("triggers versions", VERSIONS_HELP, READ)
    },
    diff: spec("triggers diff", DIFF_HELP, READ),
    revert: spec("triggers revert", REVERT_HELP, EDIT),
    check: |text| match TriggerFile::parse(text) {
        Ok(f) => Ok(format!("{} triggers", f.ids().count())),
        Err(e) => Err(at_paths(e.errors.iter().map(|e| (&e.path, &e.message)))),
    },
};

/// The tracking plan: `eventstream plan ...`.
pub const PLAN: Doc = Doc {
    route: "plan",
    noun: "tracking plan",
    article: "a tracking plan",
    push: spec("plan push", PLAN_PUSH_HELP, EDIT),
    show: spec("plan show", PLAN_SHOW_HELP, READ),
    versions: Spec {
        flags: &["--json"],
        ..spec("plan versions", PLAN_VERSIONS_HELP, READ)
    },
    diff: spec("plan diff", PLAN_DIFF_HELP, READ),
    revert: spec("plan revert", PLAN_REVERT_HELP, EDIT),
    check: |text| match Plan::parse(text) {
        Ok(p) => Ok(format!("the tracking plan ({})", p.summary())),
        Err(e) => Err(at_paths(e.errors.iter().map(|e| (&e.path, &e.message)))),
    },
};

/// A failure to talk to the relay: 1 when it answered (it refused), 2 when
/// it could not be reached or answered nonsense.
pub fn relay_failure(e: &RelayError) -> u8 {
    eprintln!("eventstream: {e}");
    match e {
        RelayError::Status { .. } => 1,
        _ => crate::EXIT_USAGE,
    }
}

/// A refusal of `file`: the relay's path-precise errors when it gives them.
pub fn report_rejection(file: &str, e: &RelayError) -> u8 {
    rejected(file, "triggers", e)
}

fn rejected(file: &str, noun: &str, e: &RelayError) -> u8 {
    match e {
        RelayError::Status { body, status, .. } if body["errors"].is_array() => {
            for e in body["errors"].as_array().into_iter().flatten() {
                eprintln!(
                    "{}: {}",
                    e["path"].as_str().unwrap_or(""),
                    e["message"].as_str().unwrap_or("")
                );
            }
            eprintln!("{file}: rejected by the relay ({status}); the active {noun} are unchanged");
            1
        }
        e => relay_failure(e),
    }
}

/// `eventstream triggers|plan push ARGS`.
pub fn push(doc: &Doc, argv: &[String]) -> u8 {
    let (opts, file, text) = match args::parse_with_file(argv, &doc.push) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    let relay = match Relay::new(opts.get("--relay"), opts.get("--token"), EDIT_TOKEN_ENVS) {
        Ok(r) => r,
        Err(e) => return doc.push.usage(&e),
    };
    let holds = match (doc.check)(&text) {
        Ok(holds) => holds,
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            eprintln!(
                "{file}: rejected locally, {} error(s); nothing was sent",
                errors.len()
            );
            return 1;
        }
    };
    // Without a comment, the route every relay version has.
    let route = format!("/v1/admin/{}", doc.route);
    let answer = match opts.get("--comment") {
        None => relay.call("PUT", &route, Some(&text)),
        Some(c) => {
            let body = json!({ "file": text, "comment": c });
            relay.call(
                "POST",
                &format!("{route}/versions"),
                Some(&body.to_string()),
            )
        }
    };
    let what = format!("{holds} from {file}");
    activation(answer, &what, |e| rejected(&file, doc.noun, e))
}

/// Reports a push's or revert's activation: `what` names what was pushed.
fn activation(
    answer: Result<Json, RelayError>,
    what: &str,
    refused: impl Fn(&RelayError) -> u8,
) -> u8 {
    let body = match answer {
        Ok(body) => body,
        // Stored but not active everywhere: the body says where.
        Err(RelayError::Status { body, .. }) if body["code"] == "activation_incomplete" => body,
        Err(e) => return refused(&e),
    };
    let version = body["version"]
        .as_u64()
        .map(|v| format!("version {v}: "))
        .unwrap_or_default();
    let Some(partitions) = body["partitions"].as_array() else {
        // A relay from before versions: `partitions` is a count.
        let on = body["partitions"]
            .as_u64()
            .map(|n| format!(" on {n} partitions"))
            .unwrap_or_default();
        println!("activated {what}{on}");
        return 0;
    };
    let ok = partitions.iter().filter(|p| p["ok"] == true).count();
    if ok == partitions.len() {
        println!(
            "activated {version}{what} on {ok} of {} partitions",
            partitions.len()
        );
        return 0;
    }
    eprintln!(
        "eventstream: {version}{what} stored, but active on only {ok} of {} partitions:",
        partitions.len()
    );
    for p in partitions.iter().filter(|p| p["ok"] != true) {
        eprintln!(
            "  partition {}: {}",
            p["partition"],
            p["error"].as_str().unwrap_or("not activated")
        );
    }
    eprintln!("push again, or revert, to retry");
    1
}

/// `eventstream triggers|plan show ARGS`.
pub fn show(doc: &Doc, argv: &[String]) -> u8 {
    let (opts, relay) = match open(argv, &doc.show, READ_TOKEN_ENVS) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if !opts.positional.is_empty() {
        return doc.show.usage("unexpected arguments");
    }
    match relay.call("GET", &format!("/v1/admin/{}", doc.route), None) {
        Ok(body) => {
            // The relay answers the file itself; pretty-print it for humans and diffs.
            println!(
                "{}",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
            0
        }
        Err(e) => relay_failure(&e),
    }
}

/// `eventstream triggers|plan versions ARGS`.
pub fn versions(doc: &Doc, argv: &[String]) -> u8 {
    let (opts, relay) = match open(argv, &doc.versions, READ_TOKEN_ENVS) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if !opts.positional.is_empty() {
        return doc.versions.usage("unexpected arguments");
    }
    match relay.call("GET", &format!("/v1/admin/{}/versions", doc.route), None) {
        Ok(body) if opts.has("--json") => {
            println!("{body}");
            0
        }
        Ok(body) => {
            print!("{}", versions_table(&body, doc.article));
            0
        }
        Err(e) => relay_failure(&e),
    }
}

/// The versions list as a table, and where the active one is pending.
fn versions_table(body: &Json, noun: &str) -> String {
    let list: &[Json] = body["versions"].as_array().map_or(&[], Vec::as_slice);
    if list.is_empty() {
        return format!("no versions yet: push {noun}\n");
    }
    let total = body["running"].as_array().map(Vec::len);
    let author_width = list
        .iter()
        .filter_map(|v| v["author"].as_str())
        .map(|a| a.chars().count())
        .chain([6])
        .max()
        .unwrap_or(6);
    let mut out = format!(
        "  version  time                      {:<author_width$}  partitions  comment\n",
        "author"
    );
    let mut pending = Vec::new();
    for v in list {
        let n = v["version"].as_u64().unwrap_or(0);
        let active = body["active"].as_u64() == Some(n);
        let on = v["partitions"]["active_on"].as_array().map_or(0, Vec::len);
        let partitions = match total {
            Some(t) => format!("{on} of {t}"),
            None => on.to_string(),
        };
        out.push_str(
            format!(
                "{} {:<7}  {:<24}  {:<author_width$}  {:<10}  {}",
                if active { '*' } else { ' ' },
                n,
                v["time"]
                    .as_u64()
                    .map_or_else(|| "-".into(), crate::triggers::iso8601),
                v["author"].as_str().unwrap_or("-"),
                partitions,
                v["comment"].as_str().unwrap_or("")
            )
            .trim_end(),
        );
        out.push('\n');
        let waiting: Vec<String> = v["partitions"]["pending"]
            .as_array()
            .into_iter()
            .flatten()
            .map(Json::to_string)
            .collect();
        if !waiting.is_empty() {
            pending.push(format!(
                "version {n} is not active yet on partitions {}: push again or revert to retry\n",
                waiting.join(", ")
            ));
        }
    }
    out.extend(pending);
    out
}

/// `eventstream triggers|plan diff ARGS`.
pub fn diff(doc: &Doc, argv: &[String]) -> u8 {
    let (opts, relay) = match open(argv, &doc.diff, READ_TOKEN_ENVS) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let [a, b] = opts.positional.as_slice() else {
        return doc.diff.usage("expected two version numbers, A and B");
    };
    let (Some(a), Some(b)) = (version_number(a), version_number(b)) else {
        return doc.diff.usage("versions are whole numbers from 1");
    };
    let route = format!("/v1/admin/{}/diff?from={a}&to={b}", doc.route);
    match relay.call("GET", &route, None) {
        Ok(body) => {
            let diff = body["diff"].as_str().unwrap_or("");
            if diff.is_empty() {
                eprintln!("versions {a} and {b} have the same content");
            }
            print!("{diff}");
            0
        }
        Err(e) => relay_failure(&e),
    }
}

/// `eventstream triggers|plan revert ARGS`.
pub fn revert(doc: &Doc, argv: &[String]) -> u8 {
    let (opts, relay) = match open(argv, &doc.revert, EDIT_TOKEN_ENVS) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let [n] = opts.positional.as_slice() else {
        return doc.revert.usage("expected exactly one version number N");
    };
    let Some(n) = version_number(n) else {
        return doc.revert.usage("versions are whole numbers from 1");
    };
    let body = json!({ "comment": opts.get("--comment") });
    let answer = relay.call(
        "POST",
        &format!("/v1/admin/{}/versions/{n}/revert", doc.route),
        Some(&body.to_string()),
    );
    activation(
        answer,
        &format!("the content of version {n}"),
        relay_failure,
    )
}

fn version_number(s: &str) -> Option<u64> {
    s.parse().ok().filter(|n| *n > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_table_marks_the_active_one_and_pending_partitions() {
        let body = json!({
            "active": 3,
            "running": [{"partition": 0, "version": 3}, {"partition": 1, "version": 2}],
            "versions": [
                {"version": 3, "time": 1_764_000_060_000u64, "author": "alice", "role": "editor",
                 "comment": "revert to version 1", "partitions": {"active_on": [0], "pending": [1]}},
                {"version": 2, "time": 1_764_000_000_000u64, "author": "admin", "role": "admin",
                 "comment": null, "partitions": {"active_on": [1], "pending": []}}
            ]
        });
        assert_eq!(
            versions_table(&body, "a trigger file"),
            "  version  time                      author  partitions  comment
* 3        2025-11-24T16:01:00.000Z  alice   1 of 2      revert to version 1
  2        2025-11-24T16:00:00.000Z  admin   1 of 2
version 3 is not active yet on partitions 1: push again or revert to retry
"
        );
        assert_eq!(
            versions_table(&json!({"versions": []}), "a trigger file"),
            "no versions yet: push a trigger file\n"
        );
    }

    #[test]
    fn version_numbers_start_at_one() {
        assert_eq!(version_number("3"), Some(3));
        assert_eq!(version_number("0"), None);
        assert_eq!(version_number("-1"), None);
        assert_eq!(version_number("x"), None);
    }
}
