//! `eventstream`: check and backtest trigger files, push them to a relay,
//! tail the stream, and inspect frames. Built on `broker-core`, so it
//! evaluates with the very engine the relay runs.

mod admin;
mod args;
mod export;
mod frame_cmd;
mod plan;
mod relay;
mod tail;
mod triggers;

use std::process::ExitCode;

/// mimalloc rather than the system's: a backtest parses on one thread and
/// runs the engine on another, and glibc's malloc paid for that in page
/// faults and cross-thread frees (see cli/Cargo.toml for the figures).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = concat!(
    "eventstream: the Eventstream command line\n\nUsage:\n",
    triggers::usage!(),
    plan::usage!(),
    "  eventstream tail --relay URL [--stream events|firings] [--partition N|all]
                   [--from OFFSET|earliest|latest|committed] [--consumer NAME] [--until-end]
  eventstream export --relay URL --stream events --from OFFSET|earliest [--to OFFSET] --out DIR
                     [--format parquet|ndjson]
  eventstream frame decode [FILE|-] [--hex]
  eventstream frame encode [FILE|-] [--hex]

Run `eventstream <command> --help` for details and examples.
",
);

/// Exit code for a usage or I/O problem (bad arguments, unreadable file).
pub const EXIT_USAGE: u8 = 2;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        Some("triggers") => match args.get(1).map(String::as_str) {
            Some("push") => admin::push(&admin::TRIGGERS, &args[2..]),
            Some("show") => admin::show(&admin::TRIGGERS, &args[2..]),
            Some("versions") => admin::versions(&admin::TRIGGERS, &args[2..]),
            Some("diff") => admin::diff(&admin::TRIGGERS, &args[2..]),
            Some("revert") => admin::revert(&admin::TRIGGERS, &args[2..]),
            _ => triggers::run(&args[1..]),
        },
        Some("tail") => tail::run(&args[1..]),
        Some("plan") => plan::run(&args[1..]),
        Some("export") => export::run(&args[1..]),
        Some("frame") => frame_cmd::run(&args[1..]),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            0
        }
        Some("-V" | "--version") => {
            println!("eventstream {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some(other) => {
            eprintln!("eventstream: unknown command {other:?}\n\n{USAGE}");
            EXIT_USAGE
        }
        None => {
            eprint!("{USAGE}");
            EXIT_USAGE
        }
    };
    ExitCode::from(code)
}
