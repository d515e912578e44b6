//! `eventstream triggers push` and `triggers show`: the relay's trigger
//! administration API, with the admin token.

use crate::args::{self, Spec};
use crate::relay::{Relay, RelayError};
use broker_core::trigger::TriggerFile;

const TOKEN_ENV: &str = "EVENTSTREAM_ADMIN_TOKEN";

const PUSH_HELP: &str = "\
eventstream triggers push FILE --relay URL [--token TOKEN]
    Validates FILE locally, then uploads it to the relay, which validates it again and activates
    it on every partition. Errors are printed one per line as `PATH: message`; nothing changes
    on the relay unless the whole file is valid. The admin token comes from --token or
    EVENTSTREAM_ADMIN_TOKEN.
    Exit codes: 0 activated, 1 rejected (by this tool or the relay), 2 bad arguments,
    unreadable file, or relay unreachable.
    Example: EVENTSTREAM_ADMIN_TOKEN=... eventstream triggers push examples/triggers.json \\
             --relay http://127.0.0.1:8787
";

const SHOW_HELP: &str = "\
eventstream triggers show --relay URL [--token TOKEN]
    Prints the trigger file active on the relay (JSON). The admin token comes from --token or
    EVENTSTREAM_ADMIN_TOKEN.
    Example: eventstream triggers show --relay http://127.0.0.1:8787 > active.json
";

const PUSH: Spec = Spec {
    command: "triggers push",
    help: PUSH_HELP,
    valued: &["--relay", "--token"],
    flags: &[],
};

const SHOW: Spec = Spec {
    command: "triggers show",
    help: SHOW_HELP,
    valued: &["--relay", "--token"],
    flags: &[],
};

/// `eventstream triggers push ARGS`.
pub fn push(argv: &[String]) -> u8 {
    let opts = match args::parse(argv, &PUSH) {
        Ok(o) => o,
        Err(code) => return code,
    };
    let [file] = opts.positional.as_slice() else {
        return PUSH.usage("expected exactly one FILE");
    };
    let relay = match Relay::new(opts.get("--relay"), opts.get("--token"), TOKEN_ENV) {
        Ok(r) => r,
        Err(e) => return PUSH.usage(&e),
    };
    let text = match args::read_text(file) {
        Ok(t) => t,
        Err(e) => return PUSH.fail(&e),
    };
    if let Err(errors) = TriggerFile::parse(&text) {
        for e in &errors.errors {
            eprintln!("{}: {}", e.path, e.message);
        }
        eprintln!(
            "{file}: rejected locally, {} error(s); nothing was sent",
            errors.errors.len()
        );
        return 1;
    }
    match relay.call("PUT", "/v1/admin/triggers", Some(&text)) {
        Ok(body) => {
            let triggers = body["triggers"]
                .as_u64()
                .map(|n| format!("{n} triggers "))
                .unwrap_or_default();
            let partitions = body["partitions"]
                .as_u64()
                .map(|n| format!(" on {n} partitions"))
                .unwrap_or_default();
            println!("activated {triggers}from {file}{partitions}");
            0
        }
        Err(RelayError::Status { body, status, .. }) if body["errors"].is_array() => {
            for e in body["errors"].as_array().into_iter().flatten() {
                eprintln!(
                    "{}: {}",
                    e["path"].as_str().unwrap_or(""),
                    e["message"].as_str().unwrap_or("")
                );
            }
            eprintln!(
                "{file}: rejected by the relay ({status}); the active triggers are unchanged"
            );
            1
        }
        Err(e @ RelayError::Status { .. }) => {
            eprintln!("eventstream: {e}");
            1
        }
        Err(e) => {
            eprintln!("eventstream: {e}");
            crate::EXIT_USAGE
        }
    }
}

/// `eventstream triggers show ARGS`.
pub fn show(argv: &[String]) -> u8 {
    let opts = match args::parse(argv, &SHOW) {
        Ok(o) => o,
        Err(code) => return code,
    };
    if !opts.positional.is_empty() {
        return SHOW.usage("unexpected arguments");
    }
    let relay = match Relay::new(opts.get("--relay"), opts.get("--token"), TOKEN_ENV) {
        Ok(r) => r,
        Err(e) => return SHOW.usage(&e),
    };
    match relay.call("GET", "/v1/admin/triggers", None) {
        Ok(body) => {
            // The relay answers the file itself; pretty-print it for humans and diffs.
            println!(
                "{}",
                serde_json::to_string_pretty(&body).unwrap_or_default()
            );
            0
        }
        Err(e @ RelayError::Status { .. }) => {
            eprintln!("eventstream: {e}");
            1
        }
        Err(e) => {
            eprintln!("eventstream: {e}");
            crate::EXIT_USAGE
        }
    }
}
