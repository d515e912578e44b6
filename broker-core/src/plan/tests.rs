//! Every error path of the validator and every kind of violation.

use super::*;
use crate::event::{EventKind, Map, Value};
use std::borrow::Cow;

/// The errors of a plan as `path: message` lines, with their kinds.
fn errors(text: &str) -> Vec<(PlanErrorKind, String)> {
    match Plan::parse(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e.errors.iter().map(|e| (e.kind, e.to_string())).collect(),
    }
}

/// The one error of a plan whose `events` is `{"E": <event>}`.
fn event_error(event: &str) -> (PlanErrorKind, String) {
    let e = errors(&format!(r#"{{"version":1,"events":{{"E":{event}}}}}"#));
    assert_eq!(e.len(), 1, "{e:?}");
    e.into_iter().next().unwrap()
}

/// The one error of a plan whose event `E` has property `p` = `spec`.
fn prop_error(spec: &str) -> (PlanErrorKind, String) {
    event_error(&format!(r#"{{"properties":{{"p":{spec}}}}}"#))
}

#[test]
fn file_level_errors() {
    use PlanErrorKind as K;
    assert_eq!(errors("{")[0].0, K::NotJson);
    assert!(errors("{")[0].1.starts_with("$: not valid JSON"));
    assert_eq!(
        errors("[]"),
        [(K::WrongType, "$: expected an object, got a list".into())]
    );
    assert_eq!(
        errors("{}"),
        [
            (K::MissingKey, "version: required key is missing".into()),
            (K::MissingKey, "events: required key is missing".into()),
        ]
    );
    assert_eq!(
        errors(r#"{"version":2,"event":{}}"#),
        [
            (
                K::UnknownKey,
                r#"event: unknown key "event" (did you mean "events"?)"#.into()
            ),
            (K::BadNumber, "version: expected the number 1, got 2".into()),
            (K::MissingKey, "events: required key is missing".into()),
        ]
    );
    assert_eq!(
        errors(r#"{"version":1,"events":[]}"#),
        [(
            K::WrongType,
            "events: expected an object of event names, got a list".into()
        )]
    );
    assert_eq!(
        errors(r#"{"version":1,"description":3,"events":{}}"#),
        [(
            K::WrongType,
            "description: expected a string, got a number".into()
        )]
    );
    assert_eq!(
        errors(r#"{"version":1,"on_violation":"reject","on_unplanned":"alow","events":{}}"#),
        [
            (
                K::UnknownAction,
                r#"on_unplanned: unknown action "alow" (did you mean "allow"?)"#.into()
            ),
            (
                K::UnknownAction,
                r#"on_violation: unknown action "reject" (did you mean "quarantine"?)"#.into()
            ),
        ]
    );
    assert_eq!(
        errors(r#"{"version":1,"on_violation":"shrug","events":{}}"#)[0].1,
        r#"on_violation: unknown action "shrug" (expected allow, flag or quarantine)"#
    );
    assert_eq!(
        errors(r#"{"version":1,"on_violation":true,"events":{}}"#)[0].1,
        r#"on_violation: expected "allow", "flag" or "quarantine", got a boolean"#
    );
}

#[test]
fn event_level_errors() {
    use PlanErrorKind as K;
    assert_eq!(
        // serde_json keeps an object's keys sorted: errors come in that order.
        errors(r#"{"version":1,"events":{"$pag":{},"$foo":{},"":{}}}"#),
        [
            (K::BadName, r#"events[""]: an event name must not be empty"#.into()),
            (
                K::UnknownEvent,
                r#"events.$foo: unknown event "$foo": names starting with $ are $page, $identify, $click, $submit"#.into()
            ),
            (
                K::UnknownEvent,
                r#"events.$pag: unknown event "$pag" (did you mean "$page"?)"#.into()
            ),
        ]
    );
    assert_eq!(
        event_error("3"),
        (
            K::WrongType,
            "events.E: expected an object, got a number".into()
        )
    );
    assert_eq!(
        event_error(r#"{"propertis":{}}"#),
        (
            K::UnknownKey,
            r#"events.E.propertis: unknown key "propertis" (did you mean "properties"?)"#.into()
        )
    );
    assert_eq!(
        event_error(r#"{"additionalProperties":false}"#).1,
        r#"events.E.additionalProperties: unknown key "additionalProperties" (did you mean "additional_properties"?)"#
    );
    assert_eq!(
        event_error(r#"{"on_violation":"flagged"}"#).1,
        r#"events.E.on_violation: unknown action "flagged" (did you mean "flag"?)"#
    );
    assert_eq!(
        event_error(r#"{"additional_properties":"no"}"#).1,
        "events.E.additional_properties: expected true or false, got a string"
    );
    assert_eq!(
        event_error(r#"{"properties":[]}"#).1,
        "events.E.properties: expected an object of property names, got a list"
    );
    // Paths quote names that are not plain words.
    let e = errors(r#"{"version":1,"events":{"Product Viewed":{"x":1}}}"#);
    assert_eq!(
        e[0].1,
        r#"events["Product Viewed"].x: unknown key "x" (expected one of: description, on_violation, properties, additional_properties)"#
    );
}

#[test]
fn property_level_errors() {
    use PlanErrorKind as K;
    assert_eq!(
        prop_error("{}"),
        (
            K::MissingKey,
            "events.E.properties.p.type: required key is missing (one of: string, number, integer, boolean, object, array)".into()
        )
    );
    assert_eq!(
        prop_error(r#"{"type":"float"}"#),
        (
            K::UnknownType,
            r#"events.E.properties.p.type: unknown type "float" (did you mean "number"?)"#.into()
        )
    );
    assert_eq!(
        prop_error(r#"{"type":["string","null"]}"#),
        (
            K::WrongType,
            "events.E.properties.p.type: expected one of string, number, integer, boolean, object, array as a string, got a list (one type per property; a null value counts as missing)".into()
        )
    );
    assert_eq!(
        prop_error(r#"{"type":"number","pattern":"^a"}"#),
        (
            K::NotForType,
            r#"events.E.properties.p.pattern: "pattern" applies to string properties, not to number"#.into()
        )
    );
    for (spec, key) in [
        (r#"{"type":"string","minimum":1}"#, "minimum"),
        (r#"{"type":"boolean","max_length":1}"#, "max_length"),
        (r#"{"type":"array","enum":[1]}"#, "enum"),
        (r#"{"type":"string","items":{"type":"string"}}"#, "items"),
        (r#"{"type":"array","properties":{}}"#, "properties"),
        (
            r#"{"type":"number","additional_properties":true}"#,
            "additional_properties",
        ),
    ] {
        let (kind, msg) = prop_error(spec);
        assert_eq!(kind, K::NotForType, "{spec}");
        assert!(
            msg.starts_with(&format!("events.E.properties.p.{key}: ")),
            "{msg}"
        );
    }
    let bad_name = event_error(r#"{"properties":{"campaign.name":{"type":"string"}}}"#);
    assert_eq!(
        bad_name,
        (
            K::BadName,
            r#"events.E.properties["campaign.name"]: "campaign.name": a property name cannot contain "." (describe "name" in the "properties" of an object property "campaign")"#.into()
        )
    );
    assert_eq!(
        event_error(r#"{"properties":{"":{"type":"string"}}}"#).0,
        K::BadName
    );
}

#[test]
fn constraint_errors() {
    use PlanErrorKind as K;
    assert_eq!(
        prop_error(r#"{"type":"string","enum":[]}"#),
        (
            K::BadEnum,
            "events.E.properties.p.enum: an empty enum allows no value".into()
        )
    );
    assert_eq!(
        errors(
            r#"{"version":1,"events":{"E":{"properties":{"p":{"type":"string","enum":["a",1,"a"]}}}}}"#
        ),
        [
            (
                K::BadEnum,
                "events.E.properties.p.enum[1]: 1 is not a string value".into()
            ),
            (
                K::BadEnum,
                r#"events.E.properties.p.enum[2]: "a" is listed twice"#.into()
            ),
        ]
    );
    assert_eq!(
        prop_error(r#"{"type":"string","pattern":"^(a"}"#).0,
        K::BadPattern
    );
    assert!(prop_error(r#"{"type":"string","pattern":"^(a"}"#)
        .1
        .starts_with(r#"events.E.properties.p.pattern: pattern "^(a" does not compile: "#));
    let long = format!(r#"{{"type":"string","pattern":"{}"}}"#, "a".repeat(513));
    assert_eq!(
        prop_error(&long).1,
        "events.E.properties.p.pattern: pattern is 513 bytes; the limit is 512"
    );
    // A pattern that compiles to more than the size limit.
    assert_eq!(
        prop_error(r#"{"type":"string","pattern":"(\\w{50}){50}"}"#).0,
        K::BadPattern
    );
    assert_eq!(
        prop_error(r#"{"type":"integer","minimum":10,"maximum":1}"#),
        (
            K::Conflict,
            r#"events.E.properties.p: "minimum" 10 is above "maximum" 1: no value can pass"#.into()
        )
    );
    for bad in ["0", "-1", "1.5", "\"3\""] {
        let (kind, msg) = prop_error(&format!(r#"{{"type":"string","max_length":{bad}}}"#));
        assert_eq!(kind, K::BadNumber);
        assert!(
            msg.contains("expected a whole number of at least 1"),
            "{msg}"
        );
    }
}

/// The message of each property error, by input (the tests above assert
/// kinds and messages together).
#[test]
fn property_error_messages() {
    for (spec, message) in [
        (
            r#"{"type":"Strin"}"#,
            r#"events.E.properties.p.type: unknown type "Strin" (did you mean "string"?)"#,
        ),
        (
            r#"{"type":"date"}"#,
            r#"events.E.properties.p.type: unknown type "date" (expected one of: string, number, integer, boolean, object, array)"#,
        ),
        (
            r#"{"type":"string","required":"yes"}"#,
            "events.E.properties.p.required: expected true or false, got a string",
        ),
        (
            r#"{"type":"string","maxLength":3}"#,
            r#"events.E.properties.p.maxLength: unknown key "maxLength" (did you mean "max_length"?)"#,
        ),
        (
            r#"{"type":"string","description":[]}"#,
            "events.E.properties.p.description: expected a string, got a list",
        ),
        (
            r#"{"type":"string","enum":"red"}"#,
            "events.E.properties.p.enum: expected a list of values, got a string",
        ),
        (
            r#"{"type":"integer","enum":[1,1.5]}"#,
            "events.E.properties.p.enum[1]: 1.5 is not a integer value",
        ),
        (
            r#"{"type":"number","enum":[1,1.0]}"#,
            "events.E.properties.p.enum[1]: 1.0 is listed twice",
        ),
        (
            r#"{"type":"string","pattern":1}"#,
            "events.E.properties.p.pattern: expected a regular expression as a string, got a number",
        ),
        (
            r#"{"type":"number","minimum":"1"}"#,
            "events.E.properties.p.minimum: expected a number, got a string",
        ),
        (
            r#"{"type":"number","maximum":null}"#,
            "events.E.properties.p.maximum: expected a number, got null",
        ),
    ] {
        assert_eq!(prop_error(spec).1, message, "{spec}");
    }
}

#[test]
fn nested_errors_and_depth() {
    use PlanErrorKind as K;
    assert_eq!(
        prop_error(
            r#"{"type":"array","items":{"type":"object","properties":{"price":{"type":"nmber"}}}}"#
        )
        .1,
        r#"events.E.properties.p.items.properties.price.type: unknown type "nmber" (did you mean "number"?)"#
    );
    assert_eq!(
        prop_error(r#"{"type":"array","items":{"type":"string","required":true}}"#),
        (
            K::UnknownKey,
            r#"events.E.properties.p.items.required: unknown key "required" (expected one of: type, description, enum, pattern, minimum, maximum, max_length, properties, additional_properties, items)"#.into()
        )
    );
    // Eight levels pass, nine do not.
    let nest = |levels: usize| {
        let mut spec = r#"{"type":"string"}"#.to_owned();
        for _ in 1..levels {
            spec = format!(r#"{{"type":"array","items":{spec}}}"#);
        }
        format!(r#"{{"version":1,"events":{{"E":{{"properties":{{"p":{spec}}}}}}}}}"#)
    };
    assert!(Plan::parse(&nest(MAX_DEPTH)).is_ok());
    let e = errors(&nest(MAX_DEPTH + 1));
    assert_eq!(e.len(), 1);
    assert_eq!(e[0].0, K::TooDeep);
    assert!(e[0]
        .1
        .ends_with("nested deeper than 8 levels of properties and items"));
}

#[test]
fn every_error_is_reported_and_codes_are_stable() {
    let e = errors(
        r#"{"version":1,"on_violation":"x","events":{
            "A":{"properties":{"a":{"type":"strng"},"b":{"type":"number","pattern":"x"}}},
            "B":{"properties":{"c":{}}}}}"#,
    );
    assert_eq!(e.len(), 4, "{e:?}");
    let kinds = [
        PlanErrorKind::NotJson,
        PlanErrorKind::UnknownKey,
        PlanErrorKind::MissingKey,
        PlanErrorKind::WrongType,
        PlanErrorKind::BadNumber,
        PlanErrorKind::UnknownAction,
        PlanErrorKind::UnknownType,
        PlanErrorKind::UnknownEvent,
        PlanErrorKind::BadName,
        PlanErrorKind::NotForType,
        PlanErrorKind::BadEnum,
        PlanErrorKind::BadPattern,
        PlanErrorKind::Conflict,
        PlanErrorKind::TooDeep,
    ];
    for (i, k) in kinds.iter().enumerate() {
        assert_eq!(usize::from(k.code()), i + 1, "{}", k.name());
    }
    for (i, k) in ViolationKind::ALL.iter().enumerate() {
        assert_eq!(usize::from(k.code()), i + 1, "{}", k.name());
    }
}

const SHOP: &str = r#"{
  "version": 1,
  "on_unplanned": "allow",
  "on_violation": "flag",
  "events": {
    "Product Viewed": {
      "on_violation": "quarantine",
      "properties": {
        "product_id": {"type": "string", "required": true, "pattern": "^p-[0-9]{4}$"},
        "price": {"type": "number", "required": true, "minimum": 0, "maximum": 10000},
        "currency": {"type": "string", "enum": ["EUR", "USD"]},
        "name": {"type": "string", "max_length": 8},
        "quantity": {"type": "integer", "minimum": 1, "enum": [1, 2, 3]},
        "gift": {"type": "boolean", "enum": [false]},
        "campaign": {"type": "object", "additional_properties": false, "properties": {
          "name": {"type": "string", "required": true}, "source": {"type": "string"}}},
        "products": {"type": "array", "max_length": 2, "items": {"type": "object", "properties": {
          "price": {"type": "number", "required": true}}}},
        "tags": {"type": "array"},
        "meta": {"type": "object"}
      }
    },
    "$identify": {"additional_properties": false, "properties": {"plan": {"type": "string"}}}
  }
}"#;

fn plan() -> Plan {
    Plan::parse(SHOP).expect("valid")
}

fn event(name: &str, props: Value<'static>) -> Event<'static> {
    let Value::Map(properties) = props else {
        panic!("props must be a map")
    };
    let (kind, name) = match name {
        "$identify" => (EventKind::Identify, "u-1"),
        n => (EventKind::Track, n),
    };
    Event {
        kind,
        name: Cow::Owned(name.to_owned()),
        timestamp: 0,
        properties,
    }
}

fn props(json: &str) -> Value<'static> {
    Value::from(&serde_json::from_str::<serde_json::Value>(json).unwrap())
}

/// The violations of a `Product Viewed` with these properties.
fn viewed(json: &str) -> Vec<String> {
    let v = plan().check(&event("Product Viewed", props(json)));
    v.violations.iter().map(ToString::to_string).collect()
}

#[test]
fn a_clean_event_is_allowed_without_violations() {
    let p = plan();
    let e = event(
        "Product Viewed",
        props(
            r#"{"product_id":"p-0191","price":89.58,"currency":"EUR","name":"Hat","quantity":2,
            "gift":false,"campaign":{"name":"w","source":"n"},"products":[{"price":1},{"price":2.5}],
            "tags":[1,"a"],"meta":{"any":[1]},"extra":"fine","note":null}"#,
        ),
    );
    let v = p.check(&e);
    assert_eq!(v.action, Action::Allow);
    assert!(v.is_clean());
    assert_eq!(v.violations.capacity(), 0, "nothing allocated");
    // An integer type takes a float without a fraction; null is missing.
    assert!(viewed(r#"{"product_id":"p-0001","price":1,"quantity":3.0,"name":null}"#).is_empty());
}

#[test]
fn every_violation_kind() {
    // Violations come in the event's property order (sorted here, as
    // serde_json keeps keys), the missing required ones last.
    assert_eq!(
        viewed(r#"{"product_id":"p-0191","price":"89.58"}"#),
        [r#"properties.price: expected number, got string "89.58""#]
    );
    assert_eq!(
        viewed(r#"{"price":1,"product_id":null}"#),
        ["properties.product_id: required property is null (null counts as missing)"]
    );
    assert_eq!(
        viewed(r#"{}"#),
        [
            "properties.price: required property is missing",
            "properties.product_id: required property is missing"
        ]
    );
    assert_eq!(
        viewed(r#"{"product_id":"P-191","price":-1,"currency":"GBP","name":"Urban Sunglasses"}"#),
        [
            r#"properties.currency: "GBP" is not one of "EUR", "USD""#,
            "properties.name: string of 16 characters is longer than max_length 8",
            "properties.price: -1 is below the minimum 0",
            r#"properties.product_id: "P-191" does not match pattern "^p-[0-9]{4}$""#,
        ]
    );
    assert_eq!(
        viewed(r#"{"product_id":"p-0001","price":10000.5,"quantity":5,"gift":true}"#),
        [
            "properties.gift: true is not one of false",
            "properties.price: 10000.5 is above the maximum 10000",
            "properties.quantity: 5 is not one of 1, 2, 3",
        ]
    );
    assert_eq!(
        viewed(
            r#"{"product_id":"p-0001","price":1,"quantity":1.5,"gift":"no","tags":{},"meta":[]}"#
        ),
        [
            r#"properties.gift: expected boolean, got string "no""#,
            "properties.meta: expected object, got array of 0 items",
            "properties.quantity: expected integer, got number 1.5",
            "properties.tags: expected array, got object of 0 keys",
        ]
    );
    assert_eq!(
        viewed(r#"{"product_id":"p-0001","price":1,"quantity":0}"#),
        [
            "properties.quantity: 0 is not one of 1, 2, 3",
            "properties.quantity: 0 is below the minimum 1"
        ]
    );
    // Nested: object members and list items, by the trigger language's paths.
    assert_eq!(
        viewed(
            r#"{"product_id":"p-0001","price":1,"campaign":{"source":"n","nme":"x"},
            "products":[{"price":1},{"price":"2"},{}]}"#
        ),
        [
            r#"properties.campaign.nme: property "nme" is not in the plan (did you mean "name"?)"#,
            "properties.campaign.name: required property is missing",
            "properties.products: array of 3 items is longer than max_length 2",
            r#"properties.products.1.price: expected number, got string "2""#,
            "properties.products.2.price: required property is missing",
        ]
    );
}

#[test]
fn actions_follow_the_event_then_the_file() {
    let p = plan();
    // The event's own on_violation wins.
    let bad = p.check(&event("Product Viewed", props(r#"{"price":1}"#)));
    assert_eq!(bad.action, Action::Quarantine);
    assert_eq!(bad.violations[0].kind, ViolationKind::MissingRequired);
    // Else the file's.
    let id = p.check(&event(
        "$identify",
        props(r#"{"plan":"free","colour":"red"}"#),
    ));
    assert_eq!(id.action, Action::Flag);
    assert_eq!(
        id.violations[0].to_string(),
        r#"properties.colour: property "colour" is not in the plan"#
    );
    assert_eq!(id.violations[0].kind, ViolationKind::UnplannedProperty);
    // An unplanned event takes on_unplanned, with a suggestion for near-misses.
    let u = p.check(&event("product viewed", props("{}")));
    assert_eq!(u.action, Action::Allow);
    assert_eq!(
        u.violations[0].to_string(),
        r#"event: "product viewed" is not in the plan (did you mean "Product Viewed"?)"#
    );
    assert_eq!(u.violations[0].kind, ViolationKind::UnplannedEvent);
    let click = Event {
        kind: EventKind::Click,
        name: Cow::Borrowed(""),
        timestamp: 0,
        properties: Map::new(),
    };
    assert_eq!(
        p.check(&click).violations[0].message,
        r#""$click" is not in the plan"#
    );
    // Defaults: flag and flag.
    let d = Plan::parse(r#"{"version":1,"events":{}}"#).unwrap();
    assert_eq!(
        (d.on_unplanned(), d.on_violation()),
        (Action::Flag, Action::Flag)
    );
    assert_eq!(d.check(&click).action, Action::Flag);
}

#[test]
fn long_values_are_cut_in_messages() {
    let long = "x".repeat(100);
    let v = viewed(&format!(r#"{{"product_id":"{long}","price":1}}"#));
    assert_eq!(
        v[0],
        format!(
            r#"properties.product_id: "{}"... does not match pattern "^p-[0-9]{{4}}$""#,
            "x".repeat(40)
        )
    );
    let json = plan()
        .check(&event("Product Viewed", props(r#"{"price":"1"}"#)))
        .violations[0]
        .to_json();
    assert_eq!(json["kind"], "wrong_type");
    assert_eq!(json["code"], 2);
    assert_eq!(json["path"], "properties.price");
}

#[test]
fn summary_counts_nested_properties() {
    assert_eq!(
        plan().summary(),
        "2 events, 14 properties (4 required); unplanned: allow, violations: flag (1 event overrides)"
    );
    assert_eq!(
        plan().event_names().collect::<Vec<_>>(),
        ["$identify", "Product Viewed"]
    );
    assert_eq!(plan().source(), SHOP);
}
