//! `eventstream triggers check` and `triggers backtest`: the relay's own
//! validation and engine, run locally, and the backtest run by the relay
//! (`remote`). (`push`, `show`, `versions`, `diff`, `revert` live in `admin`.)

mod backtest;
mod check;
mod fastparse;
mod remote;

pub use backtest::iso8601;
// `plan check` reads the same input lines as the backtest.
pub(crate) use backtest::parse_line;

/// The usage lines of the `triggers` commands, for this help and the
/// top-level one (a macro, so that both are one literal at compile time).
macro_rules! usage {
    () => {
        "  eventstream triggers check FILE
  eventstream triggers backtest FILE EVENTS [--summary] [--trigger ID]... [--strict]
  eventstream triggers backtest FILE --relay URL [--since 24h|7d|all] [--json]
  eventstream triggers push FILE --relay URL [--comment TEXT] [--token TOKEN]
  eventstream triggers show --relay URL [--token TOKEN]
  eventstream triggers versions --relay URL [--json]
  eventstream triggers diff A B --relay URL
  eventstream triggers revert N --relay URL [--comment TEXT]
"
    };
}
pub(crate) use usage;

const HELP: &str = concat!(
    "eventstream triggers: check, backtest and deploy trigger files\n\nUsage:\n",
    usage!(),
    "\nRun `eventstream triggers <command> --help` for details and an example.\n"
);

/// Runs `eventstream triggers ARGS` (`ARGS[0]` is the subcommand); returns the exit code.
pub fn run(args: &[String]) -> u8 {
    match args.first().map(String::as_str) {
        Some("check") => check::run(&args[1..]),
        Some("backtest") => backtest::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{HELP}");
            0
        }
        Some(other) => {
            eprintln!("eventstream triggers: unknown command {other:?}\n\n{HELP}");
            crate::EXIT_USAGE
        }
        None => {
            eprint!("{HELP}");
            crate::EXIT_USAGE
        }
    }
}
