//! The trigger files the benches run, shared by `triggers.rs` and `log.rs`
//! (each includes this file through `#[path]`).

/// `examples/triggers.json`, as the demo shop runs it.
pub fn example_file() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/triggers.json"
    ))
    .expect("examples/triggers.json")
}

/// `bench/triggers-50.json`: 50 triggers of every kind (when, count,
/// sequence, unless, audience, cooldown), the example's varied plus some on
/// the captured kinds, so that most events concern some trigger. The relay's
/// backtest bench (`bench/backtest.mjs`) runs the same file.
pub fn fifty_triggers() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../bench/triggers-50.json"
    ))
    .expect("bench/triggers-50.json")
}
