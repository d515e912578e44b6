//! `eventstream triggers ...`. STUB: replaced by the trigger engine work.

/// Runs `eventstream triggers ARGS`; returns the exit code.
pub fn run(_args: &[String]) -> u8 {
    eprintln!("eventstream triggers: not built yet");
    crate::EXIT_USAGE
}
