//! `eventstream triggers check FILE`.

use crate::args::{self, Spec};
use broker_core::trigger::TriggerFile;

const HELP: &str = "\
eventstream triggers check FILE

Validates a trigger file exactly as the relay does. A valid file prints a one-line summary
and exits 0; an invalid one prints every mistake on stderr, one per line as `PATH: message`,
and exits 1. An unreadable file or bad arguments exit 2.

Example:
  $ eventstream triggers check examples/triggers.json
  examples/triggers.json: 9 triggers: 4 when, 3 count, 2 sequence; 3 with unless, 3 with audience, 1 disabled
";

const SPEC: Spec = Spec {
    command: "triggers check",
    help: HELP,
    valued: &[],
    flags: &[],
};

/// Runs `triggers check ARGS`.
pub fn run(argv: &[String]) -> u8 {
    let (_, file, text) = match args::parse_with_file(argv, &SPEC) {
        Ok(parsed) => parsed,
        Err(code) => return code,
    };
    match TriggerFile::parse(&text) {
        Ok(f) => {
            println!("{file}: {}", f.summary());
            0
        }
        Err(errors) => {
            for e in &errors.errors {
                eprintln!("{e}");
            }
            1
        }
    }
}
