//! The published JSON Schema stays in step with the validator: the same keys
//! at every level and the same operators.

mod support {
    pub mod schema;
}

use broker_core::trigger::{TriggerFile, OPERATORS};
use serde_json::Value;
use support::schema::keys;

/// The strings of a JSON list (an enum's values).
fn strings(list: &Value) -> Vec<&str> {
    list.as_array()
        .expect("a list")
        .iter()
        .filter_map(Value::as_str)
        .collect()
}

fn schema() -> Value {
    support::schema::load("triggers.schema.json")
}

#[test]
fn keys_and_operators_match_the_validator() {
    let s = schema();
    let defs = &s["$defs"];
    assert_eq!(keys(&s), ["limits", "triggers", "version"]);
    assert_eq!(keys(&s["properties"]["limits"]), ["max_firings", "within"]);
    assert_eq!(
        keys(&defs["trigger"]),
        [
            "action",
            "audience",
            "cooldown",
            "count",
            "description",
            "enabled",
            "goal",
            "holdout",
            "id",
            "include_bots",
            "max_per_user",
            "sequence",
            "unless",
            "when",
            "within"
        ]
    );
    assert_eq!(keys(&defs["step"]), ["event", "where"]);
    assert_eq!(keys(&defs["condition"]), ["context", "op", "prop", "value"]);
    assert_eq!(
        keys(&defs["traitCondition"]),
        ["context", "op", "trait", "value"]
    );
    assert_eq!(
        strings(&defs["contextPath"]["enum"]),
        broker_core::context::CONTEXT_PATHS
    );
    assert_eq!(
        keys(&defs["trigger"]["properties"]["unless"]),
        ["event", "where", "within"]
    );
    assert_eq!(
        keys(&defs["trigger"]["properties"]["goal"]),
        ["event", "where", "within"]
    );
    assert_eq!(
        keys(&defs["trigger"]["properties"]["count"]),
        ["at_least", "within"]
    );
    assert_eq!(
        keys(&defs["trigger"]["properties"]["action"]),
        ["payload", "type"]
    );
    let ops = strings(&defs["operator"]["enum"]);
    assert_eq!(ops, OPERATORS);
    // Every operator the schema lists, the validator accepts (with a value of the type it takes).
    for op in ops {
        let value = match op {
            "in" | "not_in" => "[1]",
            "exists" => "true",
            "contains" | "starts_with" | "ends_with" => "\"a\"",
            _ => "1",
        };
        let json = format!(
            r#"{{"version":1,"triggers":[{{"id":"a","when":{{"event":"x","where":[{{"prop":"p","op":"{op}","value":{value}}}]}},"action":{{"type":"t"}}}}]}}"#
        );
        if let Err(e) = TriggerFile::parse(&json) {
            panic!("{op}: {e:?}");
        }
    }
}
