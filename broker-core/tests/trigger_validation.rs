//! Validation: the exact path and message for each kind of mistake.

use broker_core::trigger::{Summary, TriggerFile, ValidationError, ValidationKind};

fn errors(json: &str) -> Vec<String> {
    match TriggerFile::parse(json) {
        Ok(_) => panic!("expected the file to be rejected"),
        Err(e) => e.errors.iter().map(ToString::to_string).collect(),
    }
}

/// One trigger `t` (a JSON object body without braces) in an otherwise valid file.
fn one(body: &str) -> Vec<String> {
    errors(&format!(r#"{{"version": 1, "triggers": [{{{body}}}]}}"#))
}

const SPEC_EXAMPLE: &str = r#"{
  "version": 1,
  "triggers": [
    {
      "id": "cart-rescue",
      "description": "Free shipping when a visitor adds twice but does not start checkout",
      "when": { "event": "Product Added", "where": [{ "prop": "price", "op": "gte", "value": 50 }] },
      "count": { "at_least": 2, "within": "30m" },
      "unless": { "event": "Checkout Started", "within": "10m" },
      "audience": [{ "trait": "plan", "op": "ne", "value": "plus" }],
      "cooldown": "24h",
      "max_per_user": 3,
      "action": { "type": "banner", "payload": { "text": "Free shipping today", "code": "SHIP50" } }
    },
    {
      "id": "shoe-searcher",
      "sequence": [
        { "event": "Products Searched", "where": [{ "prop": "query", "op": "contains", "value": "shoe" }] },
        { "event": "Product Viewed", "where": [{ "prop": "category", "op": "eq", "value": "shoes" }] }
      ],
      "within": "5m",
      "action": { "type": "recommendation", "payload": { "list": "shoes-bestsellers" } }
    }
  ]
}"#;

#[test]
fn the_spec_example_is_valid() {
    let f = TriggerFile::parse(SPEC_EXAMPLE).expect("valid");
    assert_eq!(
        f.ids().collect::<Vec<_>>(),
        ["cart-rescue", "shoe-searcher"]
    );
    assert_eq!(
        f.summary(),
        Summary {
            total: 2,
            disabled: 0,
            when: 0,
            count: 1,
            sequence: 1,
            unless: 1,
            audience: 1
        }
    );
    assert_eq!(
        f.summary().to_string(),
        "2 triggers: 0 when, 1 count, 1 sequence; 1 with unless, 1 with audience, 0 disabled"
    );
    let first = f.triggers().next().expect("one");
    assert_eq!(
        first.payload(),
        r#"{"code":"SHIP50","text":"Free shipping today"}"#
    );
    assert_eq!(f.source(), SPEC_EXAMPLE);
}

#[test]
fn the_spec_message_for_a_near_miss_operator() {
    let json = SPEC_EXAMPLE.replace(r#""op": "gte""#, r#""op": "gte ""#);
    let err = TriggerFile::parse(&json).expect_err("invalid");
    assert_eq!(
        err.errors,
        vec![ValidationError {
            kind: ValidationKind::UnknownOperator,
            path: "triggers[0].when.where[0].op".into(),
            message: r#"unknown operator "gte " (did you mean "gte"?) in trigger "cart-rescue""#
                .into(),
            trigger: Some("cart-rescue".into()),
        }]
    );
}

#[test]
fn every_mistake_of_a_file_is_reported_in_order() {
    let big = "x".repeat(5000);
    let json = format!(
        r#"{{
  "version": 1,
  "trigers": [],
  "triggers": [
    {{
      "id": "cart-rescue",
      "when": {{ "event": "Product Added", "where": [{{ "prop": "price", "op": "gte ", "value": 50 }}] }},
      "count": {{ "at_least": 0, "within": "30 min" }},
      "unless": {{ "event": "Checkout Started", "within": "10" }},
      "audience": [{{ "prop": "plan", "op": "ne", "value": "plus" }}],
      "cooldwn": "24h",
      "max_per_user": "3",
      "action": {{ "type": "banner" }}
    }},
    {{
      "id": "cart-rescue",
      "sequence": [
        {{ "event": "$pageview", "where": [{{ "prop": "query", "op": "contains", "value": null }}] }},
        {{ "event": "Product Viewed", "where": [{{ "prop": "price", "op": "in", "value": 3 }}] }}
      ],
      "count": {{ "at_least": 2, "within": "1h" }},
      "action": {{ "type": "x", "payload": {{ "t": "{big}" }} }}
    }},
    {{ "id": "Shoe Searcher", "when": {{"event": "a"}}, "sequence": [], "action": {{}} }},
    {{ "id": "x", "enabled": "yes", "within": "5m", "when": {{"event": "a", "where": [{{"prop": "a..b", "op": "exists", "value": 1}}]}}, "action": {{"type": ""}} }}
  ]
}}"#
    );
    let want = [
        r#"trigers: unknown key "trigers" (did you mean "triggers"?)"#,
        r#"triggers[0].cooldwn: unknown key "cooldwn" (did you mean "cooldown"?) in trigger "cart-rescue""#,
        r#"triggers[0].when.where[0].op: unknown operator "gte " (did you mean "gte"?) in trigger "cart-rescue""#,
        r#"triggers[0].count.at_least: expected a whole number of at least 1, got 0 in trigger "cart-rescue""#,
        r#"triggers[0].count.within: bad duration "30 min": expected a whole number and a unit s, m, h or d, like "90s", "10m", "24h", "7d" (did you mean "30m"?) in trigger "cart-rescue""#,
        r#"triggers[0].unless.within: bad duration "10": a unit is missing (s, m, h or d, like "10m") in trigger "cart-rescue""#,
        r#"triggers[0].audience[0].prop: unknown key "prop" (did you mean "trait"?) in trigger "cart-rescue""#,
        r#"triggers[0].audience[0].trait: required key is missing in trigger "cart-rescue""#,
        r#"triggers[0].max_per_user: expected a whole number of at least 1, got a string in trigger "cart-rescue""#,
        r#"triggers[1].id: duplicate id "cart-rescue" (already used by triggers[0])"#,
        r#"triggers[1].count: "count" goes with "when", not with "sequence" (a sequence's window is its "within") in trigger "cart-rescue""#,
        r#"triggers[1].sequence[0].event: unknown event "$pageview" (did you mean "$page"?) in trigger "cart-rescue""#,
        r#"triggers[1].sequence[0].where[0].value: null matches nothing (a null property is missing): use "exists" in trigger "cart-rescue""#,
        r#"triggers[1].sequence[1].where[0].value: "in" takes a list, got a number in trigger "cart-rescue""#,
        r#"triggers[1].within: required key is missing (a sequence needs a window) in trigger "cart-rescue""#,
        r#"triggers[1].action.payload: payload is 5008 bytes as compact JSON; the limit is 4096 in trigger "cart-rescue""#,
        r#"triggers[2].id: invalid id "Shoe Searcher": use 1 to 64 of a-z, 0-9 and - (did you mean "shoe-searcher"?)"#,
        r#"triggers[2]: has both "when" and "sequence"; give exactly one"#,
        r#"triggers[2].action.type: required key is missing"#,
        r#"triggers[3].enabled: expected true or false, got a string in trigger "x""#,
        r#"triggers[3].within: "within" goes with "sequence"; with "when", put the window in "count" in trigger "x""#,
        r#"triggers[3].when.where[0].prop: "a..b" has an empty segment in trigger "x""#,
        r#"triggers[3].when.where[0].value: "exists" takes true or false, got a number in trigger "x""#,
        r#"triggers[3].action.type: must not be empty in trigger "x""#,
    ];
    assert_eq!(errors(&json), want);
    let codes: Vec<u16> = TriggerFile::parse(&json)
        .expect_err("invalid")
        .errors
        .iter()
        .map(|e| e.kind.code())
        .collect();
    assert_eq!(
        codes,
        [2, 2, 15, 6, 7, 7, 2, 3, 6, 9, 10, 13, 16, 16, 3, 17, 8, 10, 3, 4, 10, 14, 16, 5]
    );
}

#[test]
fn structured_fields_carry_the_trigger_id() {
    let err = TriggerFile::parse(
        r#"{"version":1,"triggers":[{"id":"a","when":{"event":"x"},"cooldown":"5 hours","action":{"type":"t"}}]}"#,
    )
    .expect_err("invalid");
    assert_eq!(err.errors.len(), 1);
    assert_eq!(err.errors[0].path, "triggers[0].cooldown");
    assert_eq!(err.errors[0].trigger.as_deref(), Some("a"));
    assert_eq!(err.errors[0].kind, ValidationKind::BadDuration);
    assert_eq!(err.errors[0].kind.code(), 7);
    assert_eq!(
        err.to_string(),
        r#"triggers[0].cooldown: bad duration "5 hours": expected a whole number and a unit s, m, h or d, like "90s", "10m", "24h", "7d" (did you mean "5h"?) in trigger "a""#
    );
}

#[test]
fn document_level_mistakes() {
    assert_eq!(
        errors("{\"version\": 1, \"triggers\": [}"),
        ["$: not valid JSON: expected value at line 1 column 29"]
    );
    assert_eq!(errors("[]"), ["$: expected an object, got a list"]);
    assert_eq!(
        errors(r#"{"version": 2, "triggers": {}}"#),
        [
            "version: expected the number 1, got 2",
            "triggers: expected a list, got an object"
        ]
    );
    assert_eq!(
        errors("{}"),
        [
            "version: required key is missing",
            "triggers: required key is missing"
        ]
    );
    assert!(TriggerFile::parse(r#"{"version": 1, "triggers": []}"#)
        .expect("valid")
        .is_empty());
}

#[test]
fn durations_near_misses() {
    let dur = |d: &str| {
        one(&format!(
            r#""id":"a","when":{{"event":"x"}},"cooldown":"{d}","action":{{"type":"t"}}"#
        ))
    };
    let generic =
        r#"expected a whole number and a unit s, m, h or d, like "90s", "10m", "24h", "7d""#;
    assert_eq!(
        dur("1.5h"),
        [format!(
            r#"triggers[0].cooldown: bad duration "1.5h": {generic} (did you mean "90m"?) in trigger "a""#
        )]
    );
    assert_eq!(
        dur("2 Days"),
        [format!(
            r#"triggers[0].cooldown: bad duration "2 Days": {generic} (did you mean "2d"?) in trigger "a""#
        )]
    );
    assert_eq!(
        dur("soon"),
        [format!(
            r#"triggers[0].cooldown: bad duration "soon": {generic} in trigger "a""#
        )]
    );
    assert_eq!(
        dur("500ms"),
        [format!(
            r#"triggers[0].cooldown: bad duration "500ms": {generic} in trigger "a""#
        )]
    );
    assert_eq!(
        dur("0s"),
        [r#"triggers[0].cooldown: bad duration "0s": must be more than zero in trigger "a""#]
    );
    assert_eq!(
        dur("366d"),
        [r#"triggers[0].cooldown: bad duration "366d": at most 365d in trigger "a""#]
    );
    assert_eq!(
        one(r#""id":"a","when":{"event":"x"},"cooldown":600,"action":{"type":"t"}"#),
        [r#"triggers[0].cooldown: expected a duration such as "10m", got a number in trigger "a""#]
    );
}

#[test]
fn operators_and_value_types() {
    let cond = |c: &str| {
        one(&format!(
            r#""id":"a","when":{{"event":"x","where":[{c}]}},"action":{{"type":"t"}}"#
        ))
    };
    assert_eq!(
        cond(r#"{"prop":"p","op":">=","value":1}"#),
        [
            r#"triggers[0].when.where[0].op: unknown operator ">=" (did you mean "gte"?) in trigger "a""#
        ]
    );
    assert_eq!(
        cond(r#"{"prop":"p","op":"startsWith","value":"a"}"#),
        [
            r#"triggers[0].when.where[0].op: unknown operator "startsWith" (did you mean "starts_with"?) in trigger "a""#
        ]
    );
    assert_eq!(
        cond(r#"{"prop":"p","op":"between","value":1}"#),
        [
            r#"triggers[0].when.where[0].op: unknown operator "between" (expected one of: eq, ne, gt, gte, lt, lte, in, not_in, contains, starts_with, ends_with, exists) in trigger "a""#
        ]
    );
    assert_eq!(
        cond(r#"{"prop":"p","op":"gt","value":true}"#),
        [
            r#"triggers[0].when.where[0].value: "gt" compares numbers or strings, got a boolean in trigger "a""#
        ]
    );
    assert_eq!(
        cond(r#"{"prop":"p","op":"ends_with","value":1}"#),
        [
            r#"triggers[0].when.where[0].value: "ends_with" takes a string, got a number in trigger "a""#
        ]
    );
    assert_eq!(
        cond(r#"{"trait":"p","op":"eq","value":1}"#),
        [
            r#"triggers[0].when.where[0].trait: unknown key "trait" (did you mean "prop"?) in trigger "a""#,
            r#"triggers[0].when.where[0].prop: required key is missing in trigger "a""#,
        ]
    );
    assert_eq!(
        cond(r#"{"prop":"p","op":"eq"}"#),
        [r#"triggers[0].when.where[0].value: required key is missing in trigger "a""#]
    );
    assert_eq!(
        cond(r#""p""#),
        [r#"triggers[0].when.where[0]: expected an object, got a string in trigger "a""#]
    );
}

#[test]
fn trigger_shape_mistakes() {
    assert_eq!(
        one(r#""id":"a","action":{"type":"t"}"#),
        [
            r#"triggers[0]: needs "when" (one step) or "sequence" (two or more steps) in trigger "a""#
        ]
    );
    assert_eq!(
        one(r#""id":"a","sequence":[{"event":"x"}],"within":"1m","action":{"type":"t"}"#),
        [
            r#"triggers[0].sequence: a sequence needs at least 2 steps, got 1 (use "when" for a single step) in trigger "a""#
        ]
    );
    assert_eq!(
        one(r#""when":{"event":"x"},"action":{"type":"t"}"#),
        [r#"triggers[0].id: required key is missing"#]
    );
    assert_eq!(
        one(r#""id":"a","event":"x","action":{"type":"t","paylod":{}}"#),
        [
            r#"triggers[0].event: unknown key "event" (did you mean "when"?) in trigger "a""#,
            r#"triggers[0]: needs "when" (one step) or "sequence" (two or more steps) in trigger "a""#,
            r#"triggers[0].action.paylod: unknown key "paylod" (did you mean "payload"?) in trigger "a""#,
        ]
    );
    assert_eq!(
        one(
            r#""id":"a","when":{"event":""},"unless":{"event":"y"},"max_per_user":1.5,"action":{"type":"t"}"#
        ),
        [
            r#"triggers[0].when.event: must not be empty in trigger "a""#,
            r#"triggers[0].unless.within: required key is missing in trigger "a""#,
            r#"triggers[0].max_per_user: expected a whole number of at least 1, got 1.5 in trigger "a""#,
        ]
    );
    let long = "a".repeat(65);
    assert_eq!(
        one(&format!(
            r#""id":"{long}","when":{{"event":"x"}},"action":{{"type":"t"}}"#
        )),
        [format!(
            r#"triggers[0].id: invalid id "{long}": use 1 to 64 of a-z, 0-9 and -"#
        )]
    );
}

#[test]
fn a_payload_of_exactly_the_limit_is_accepted() {
    // {"t":"..."} is 8 bytes around the string.
    let ok = "x".repeat(4096 - 8);
    let json = format!(
        r#"{{"version":1,"triggers":[{{"id":"a","when":{{"event":"x"}},"action":{{"type":"t","payload":{{"t":"{ok}"}}}}}}]}}"#
    );
    assert!(TriggerFile::parse(&json).is_ok());
    let over = json.replace(&ok, &format!("{ok}x"));
    assert_eq!(
        errors(&over),
        [
            r#"triggers[0].action.payload: payload is 4097 bytes as compact JSON; the limit is 4096 in trigger "a""#
        ]
    );
}
