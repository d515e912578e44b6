//! The trigger files the benches run, shared by `triggers.rs` and `log.rs`
//! (each includes this file through `#[path]`).

use serde_json::{json, Value};

/// `examples/triggers.json`, as the demo shop runs it.
pub fn example_file() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/triggers.json"
    ))
    .expect("examples/triggers.json")
}

/// 50 triggers of every kind (when, count, sequence, unless, audience,
/// cooldown): the example's, varied, plus some on the captured kinds, so that
/// most events concern some trigger.
pub fn fifty_triggers() -> String {
    let example: Value = serde_json::from_str(&example_file()).expect("JSON");
    let mut templates: Vec<Value> = example["triggers"].as_array().expect("list").clone();
    templates.retain(|t| t.get("enabled") != Some(&Value::Bool(false)));
    templates.extend([
        json!({"id": "sale-click", "when": {"event": "$click", "where": [{"prop": "text", "op": "contains", "value": "Sale"}]},
               "action": {"type": "toast"}}),
        json!({"id": "product-pages", "when": {"event": "$page", "where": [{"prop": "path", "op": "starts_with", "value": "/product/"}]},
               "count": {"at_least": 4, "within": "5m"}, "cooldown": "30m", "action": {"type": "toast"}}),
        json!({"id": "page-click-view", "sequence": [{"event": "$page"}, {"event": "$click", "where": [{"prop": "href", "op": "exists", "value": true}]},
               {"event": "Product Viewed", "where": [{"prop": "price", "op": "lt", "value": 100}]}],
               "within": "2m", "cooldown": "10m", "action": {"type": "banner"}}),
        json!({"id": "search-submit", "when": {"event": "$submit", "where": [{"prop": "form_id", "op": "eq", "value": "search"}]},
               "unless": {"event": "Products Searched", "within": "30s"}, "action": {"type": "toast"}}),
    ]);
    let mut out = Vec::new();
    for k in 0..50 {
        let mut t = templates[k % templates.len()].clone();
        let id = format!("{}-{k}", t["id"].as_str().expect("id"));
        t["id"] = Value::String(id);
        // Vary the numbers so that the copies are distinct triggers.
        if let Some(c) = t.get_mut("count") {
            c["at_least"] = json!(2 + k % 3);
        }
        if let Some(w) = t
            .get_mut("when")
            .and_then(|w| w.get_mut("where"))
            .and_then(|w| w.get_mut(0))
        {
            if w["value"].is_number() {
                w["value"] =
                    json!(w["value"].as_f64().unwrap_or(0.0) + (k / templates.len()) as f64 * 10.0);
            }
        }
        out.push(t);
    }
    json!({"version": 1, "triggers": out}).to_string()
}
