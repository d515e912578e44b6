//! The published JSON Schema of plan files (`schema/plan.schema.json`) stays
//! in step with the validator: the same keys at every level, the same types
//! and actions; the repository's plans validate against it, and broken
//! copies are refused by both.
//!
//! The schema is evaluated by a small evaluator of the keywords it uses
//! (below), so the test needs no JSON Schema crate; a keyword it does not
//! know fails the test rather than passing silently.

mod support {
    pub mod schema;
}

use broker_core::plan::Plan;
use serde_json::{json, Value};
use support::schema::keys;

fn schema() -> Value {
    support::schema::load("plan.schema.json")
}

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Where `doc` breaks `schema`: the JSON pointers of the failures.
fn validate(root: &Value, schema: &Value, doc: &Value, at: &str, out: &mut Vec<String>) {
    let Some(s) = schema.as_object() else {
        assert!(schema.as_bool().is_some(), "schema at {at}: {schema}");
        if schema == &Value::Bool(false) {
            out.push(format!("{at}: false schema"));
        }
        return;
    };
    for (k, v) in s {
        match k.as_str() {
            "$schema" | "$id" | "title" | "description" | "default" | "examples" | "$defs" => {}
            "then" | "else" => {} // with "if"
            "$ref" => {
                let name = v
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .expect("local refs only");
                let target = &root["$defs"][name];
                assert!(!target.is_null(), "dangling $ref {name}");
                let mut inner = Vec::new();
                validate(root, target, doc, at, &mut inner);
                out.extend(inner);
            }
            "type" => {
                let ok = match v.as_str().expect("one type") {
                    "object" => doc.is_object(),
                    "array" => doc.is_array(),
                    "string" => doc.is_string(),
                    "number" => doc.is_number(),
                    "integer" => doc.as_f64().is_some_and(|f| f.fract() == 0.0),
                    "boolean" => doc.is_boolean(),
                    other => panic!("type {other}"),
                };
                if !ok {
                    push(out, at, format!("not {v}"));
                }
            }
            "const" if doc != v => push(out, at, format!("not {v}")),
            "enum" if !v.as_array().expect("enum").contains(doc) => {
                push(out, at, format!("not in {v}"))
            }
            "const" | "enum" => {}
            "required" => {
                for r in v.as_array().expect("list") {
                    let key = r.as_str().expect("key");
                    if doc.is_object() && doc.get(key).is_none() {
                        push(out, at, format!("{key} missing"));
                    }
                }
            }
            "properties" | "additionalProperties" | "propertyNames" => {
                let Some(o) = doc.as_object() else { continue };
                for (key, val) in o {
                    let p = format!("{at}/{key}");
                    match k.as_str() {
                        "properties" => {
                            if let Some(sub) = v.get(key) {
                                validate(root, sub, val, &p, out);
                            }
                        }
                        "additionalProperties" => {
                            let named = s.get("properties").is_some_and(|ps| ps.get(key).is_some());
                            if !named {
                                validate(root, v, val, &p, out);
                            }
                        }
                        _ => validate(root, v, &json!(key), &format!("{p} (name)"), out),
                    }
                }
            }
            "items" => {
                for (i, x) in doc.as_array().into_iter().flatten().enumerate() {
                    validate(root, v, x, &format!("{at}/{i}"), out);
                }
            }
            "minItems" => {
                if doc
                    .as_array()
                    .is_some_and(|a| (a.len() as u64) < v.as_u64().expect("n"))
                {
                    push(out, at, "too few items".into());
                }
            }
            "uniqueItems" => {
                if let Some(a) = doc.as_array() {
                    if (1..a.len()).any(|i| a[..i].contains(&a[i])) {
                        push(out, at, "items repeat".into());
                    }
                }
            }
            "minLength" | "maxLength" => {
                if let Some(st) = doc.as_str() {
                    let n = st.chars().count() as u64;
                    let bound = v.as_u64().expect("n");
                    if (k == "minLength" && n < bound) || (k == "maxLength" && n > bound) {
                        push(out, at, format!("{k} {bound}"));
                    }
                }
            }
            "pattern" => {
                if let Some(st) = doc.as_str() {
                    let re = regex_lite::Regex::new(v.as_str().expect("pattern")).expect("regex");
                    if !re.is_match(st) {
                        push(out, at, format!("does not match {v}"));
                    }
                }
            }
            "minimum" | "maximum" => {
                if let Some(x) = doc.as_f64() {
                    let b = v.as_f64().expect("bound");
                    if (k == "minimum" && x < b) || (k == "maximum" && x > b) {
                        push(out, at, format!("{k} {b}"));
                    }
                }
            }
            "allOf" => {
                for sub in v.as_array().expect("list") {
                    validate(root, sub, doc, at, out);
                }
            }
            "if" => {
                let mut cond = Vec::new();
                validate(root, v, doc, at, &mut cond);
                let branch = if cond.is_empty() { "then" } else { "else" };
                if let Some(b) = s.get(branch) {
                    validate(root, b, doc, at, out);
                }
            }
            other => panic!("the test's evaluator does not know {other:?} (at {at})"),
        }
    }
}

fn push(out: &mut Vec<String>, at: &str, why: String) {
    out.push(format!("{at}: {why}"));
}

fn schema_errors(doc: &Value) -> Vec<String> {
    let s = schema();
    let mut out = Vec::new();
    validate(&s, &s, doc, "", &mut out);
    out
}

#[test]
fn keys_types_and_actions_match_the_validator() {
    let s = schema();
    let defs = &s["$defs"];
    assert_eq!(
        keys(&s),
        [
            "description",
            "events",
            "on_unplanned",
            "on_violation",
            "version"
        ]
    );
    assert_eq!(
        keys(&defs["event"]),
        [
            "additional_properties",
            "description",
            "on_violation",
            "properties"
        ]
    );
    let prop = [
        "additional_properties",
        "description",
        "enum",
        "items",
        "max_length",
        "maximum",
        "minimum",
        "pattern",
        "properties",
        "required",
        "type",
    ];
    assert_eq!(keys(&defs["property"]), prop);
    let items: Vec<&str> = prop.into_iter().filter(|k| *k != "required").collect();
    assert_eq!(keys(&defs["items"]), items);
    let types = defs["property"]["properties"]["type"]["enum"].clone();
    assert_eq!(
        types,
        json!(["string", "number", "integer", "boolean", "object", "array"])
    );
    assert_eq!(
        s["properties"]["on_violation"]["enum"],
        json!(["allow", "flag", "quarantine"])
    );
    // Per type, every key the schema allows the validator accepts, and
    // every other key both refuse.
    let all_keys = keys(&defs["property"]);
    for rule in defs["property"]["allOf"].as_array().expect("allOf") {
        let ty = rule["if"]["properties"]["type"]["const"]
            .as_str()
            .expect("type");
        let allowed = rule["then"]["propertyNames"]["enum"]
            .as_array()
            .expect("keys");
        for key in &all_keys {
            let value = match key.as_str() {
                "type" => continue,
                "required" => json!(true),
                "description" | "pattern" => json!("a"),
                "enum" => match ty {
                    "string" => json!(["a"]),
                    "boolean" => json!([true]),
                    _ => json!([1]),
                },
                "minimum" | "maximum" | "max_length" => json!(1),
                "properties" => json!({}),
                "additional_properties" => json!(false),
                "items" => json!({"type": "string"}),
                other => panic!("{other}"),
            };
            let doc = json!({"version": 1, "events": {"E": {"properties": {"p": {"type": ty, key.as_str(): value}}}}});
            let by_schema = schema_errors(&doc).is_empty();
            let by_validator = Plan::parse(&doc.to_string());
            if allowed.contains(&json!(key)) {
                assert!(by_schema, "{doc}: {:?}", schema_errors(&doc));
                if let Err(e) = by_validator {
                    panic!("{ty} {key}: {e}");
                }
            } else {
                assert!(!by_schema, "the schema takes {key} on {ty}");
                assert!(by_validator.is_err(), "the validator takes {key} on {ty}");
            }
        }
    }
}

#[test]
fn the_repository_plans_validate() {
    for path in ["examples/plan.json", "bench/plan-corpus.json"] {
        let text = read(path);
        let doc: Value = serde_json::from_str(&text).expect("JSON");
        assert_eq!(schema_errors(&doc), Vec::<String>::new(), "{path}");
        Plan::parse(&text).unwrap_or_else(|e| panic!("{path}:\n{e}"));
    }
}

#[test]
fn broken_copies_are_refused_by_both() {
    let good: Value = serde_json::from_str(&read("examples/plan.json")).expect("JSON");
    let viewed = "/events/Product Viewed/properties/price";
    let breaks: [(&str, Value); 10] = [
        ("/version", json!(2)),
        ("/on_violation", json!("drop")),
        ("/events/$pageview", json!({})),
        (&format!("{viewed}/type"), json!("float")),
        (&format!("{viewed}/maxLength"), json!(3)),
        (&format!("{viewed}/pattern"), json!("^[0-9]+$")),
        (&format!("{viewed}/required"), json!("yes")),
        ("/events/$identify/properties/plan/enum", json!([])),
        ("/events/$identify/properties/plan/enum", json!(["free", 1])),
        (
            "/events/Product Viewed/properties/campaign.name",
            json!({"type": "string"}),
        ),
    ];
    for (pointer, value) in breaks {
        let mut doc = good.clone();
        let (parent, key) = pointer.rsplit_once('/').expect("pointer");
        doc.pointer_mut(parent)
            .and_then(Value::as_object_mut)
            .unwrap_or_else(|| panic!("{parent}"))
            .insert(key.to_owned(), value.clone());
        assert!(
            !schema_errors(&doc).is_empty(),
            "the schema accepts {pointer} = {value}"
        );
        assert!(
            Plan::parse(&doc.to_string()).is_err(),
            "the validator accepts {pointer} = {value}"
        );
    }
}
