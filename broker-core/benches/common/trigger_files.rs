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

/// [`fifty_triggers`] with outcomes on: every trigger gets a goal (a
/// common event, so that many firings stay open and many convert) and a
/// holdout of 10%, and the file a cap of 20 firings an hour (which rarely
/// binds on the corpus): the cost of outcomes against the same file without.
#[allow(dead_code)] // `triggers.rs` includes this file and does not use it
pub fn fifty_triggers_with_outcomes() -> String {
    let mut doc: serde_json::Value =
        serde_json::from_str(&fifty_triggers()).expect("bench/triggers-50.json is JSON");
    doc["limits"] = serde_json::json!({"max_firings": 20, "within": "1h"});
    let goals = [
        "Product Added",
        "Checkout Started",
        "Order Completed",
        "Product Viewed",
    ];
    for (i, t) in doc["triggers"]
        .as_array_mut()
        .expect("a list of triggers")
        .iter_mut()
        .enumerate()
    {
        t["goal"] = serde_json::json!({"event": goals[i % goals.len()], "within": "30m"});
        t["holdout"] = serde_json::json!(10);
    }
    doc.to_string()
}
