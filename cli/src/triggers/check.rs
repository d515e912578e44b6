//! `eventstream triggers check FILE`.

use super::args::Args;
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

/// Runs `triggers check ARGS`.
pub fn run(args: &[String]) -> u8 {
    if args.iter().any(|a| a == "-h" || a == "--help") {
        print!("{HELP}");
        return 0;
    }
    let parsed = match Args::parse(args, &[], &[]) {
        Ok(a) => a,
        Err(e) => return super::usage("check", &e, HELP),
    };
    let [file] = parsed.positional.as_slice() else {
        return super::usage("check", "expected exactly one FILE", HELP);
    };
    let text = match super::read_input(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("eventstream triggers check: cannot read {file}: {e}");
            return crate::EXIT_USAGE;
        }
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
