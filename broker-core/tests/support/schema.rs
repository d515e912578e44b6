//! The published JSON Schemas (`broker-core/schema/`), for the tests that
//! keep them in step with their validators.

#![allow(dead_code)]

use serde_json::Value;

/// `schema/<name>`, parsed.
pub fn load(name: &str) -> Value {
    let path = format!("{}/schema/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).expect("the schema is JSON")
}

/// The keys an object schema lists under `properties`, sorted.
pub fn keys(v: &Value) -> Vec<String> {
    let mut k: Vec<String> = v["properties"]
        .as_object()
        .expect("properties")
        .keys()
        .cloned()
        .collect();
    k.sort();
    k
}
