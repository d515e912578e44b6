//! The trigger console's validator: broker-core's own trigger validation and
//! lint, compiled to wasm for the page (`console/build.sh`), so the console
//! marks exactly the mistakes the relay would refuse, as the marketer types,
//! without a second copy of the rules in JavaScript.
//!
//! Two exports, results handed to JavaScript as JSON text:
//! - `validate(text)` -> `{ok, errors: [{path, message, kind, code, trigger}], summary?}`
//! - `lint(text, catalogJson)` -> `[{path, message, trigger}]` (empty for an
//!   invalid file: its errors come first).

use broker_core::trigger::{lint as lint_file, Catalog, Summary, TriggerFile, Warning};
use serde::Serialize;
use wasm_bindgen::prelude::*;

/// The outcome of validating a file.
#[derive(Debug, Serialize)]
pub struct Report {
    /// True when the file has no errors.
    pub ok: bool,
    /// Every mistake, in document order.
    pub errors: Vec<Mistake>,
    /// How many triggers of each kind, for a valid file.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary: Option<SummaryOut>,
}

/// One validation error as the page receives it.
#[derive(Debug, Serialize)]
pub struct Mistake {
    /// Spec-style JSON path (`triggers[2].when.where[0].op`, `$` for the document).
    pub path: String,
    /// The engine's message.
    pub message: String,
    /// The kind in snake case (`unknown_key`, `not_json`, ...).
    pub kind: String,
    /// The kind's stable numeric code.
    pub code: u16,
    /// The id of the trigger it is in, when that id is valid.
    pub trigger: Option<String>,
}

/// [`Summary`] plus its one-line text.
#[derive(Debug, Serialize)]
pub struct SummaryOut {
    pub total: usize,
    pub disabled: usize,
    pub when: usize,
    pub count: usize,
    pub sequence: usize,
    pub unless: usize,
    pub audience: usize,
    /// `5 triggers: 2 when, 1 count, ...`.
    pub text: String,
}

impl From<Summary> for SummaryOut {
    fn from(s: Summary) -> Self {
        SummaryOut {
            total: s.total,
            disabled: s.disabled,
            when: s.when,
            count: s.count,
            sequence: s.sequence,
            unless: s.unless,
            audience: s.audience,
            text: s.to_string(),
        }
    }
}

/// Validates `text` as a trigger file.
pub fn check(text: &str) -> Report {
    match TriggerFile::parse(text) {
        Ok(file) => Report {
            ok: true,
            errors: Vec::new(),
            summary: Some(file.summary().into()),
        },
        Err(e) => Report {
            ok: false,
            errors: e
                .errors
                .into_iter()
                .map(|e| Mistake {
                    kind: snake_case(&format!("{:?}", e.kind)),
                    code: e.kind.code(),
                    path: e.path,
                    message: e.message,
                    trigger: e.trigger,
                })
                .collect(),
            summary: None,
        },
    }
}

/// The warnings for `text` against the catalog JSON of
/// `GET /v1/admin/catalog`; none for an invalid file.
pub fn warnings(text: &str, catalog_json: &str) -> Result<Vec<Warning>, String> {
    let catalog: Catalog = if catalog_json.trim().is_empty() {
        Catalog::default()
    } else {
        serde_json::from_str(catalog_json).map_err(|e| format!("the catalog is not valid: {e}"))?
    };
    Ok(match TriggerFile::parse(text) {
        Ok(file) => lint_file(&file, &catalog),
        Err(_) => Vec::new(),
    })
}

/// `UnknownKey` -> `unknown_key`.
fn snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for (i, c) in s.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `validate(text)` for the page, as JSON text (`JSON.parse` in
/// `src/validator.js`): handing JSON text over costs the page's wasm less
/// than serde-wasm-bindgen's object building, which pulled in code of its
/// own beside serde_json's serializer that the crate has anyway.
#[wasm_bindgen]
pub fn validate(text: &str) -> String {
    to_json(&check(text))
}

/// `lint(text, catalogJson)` for the page, as JSON text; throws when the
/// catalog is not valid JSON of the catalog's shape.
#[wasm_bindgen]
pub fn lint(text: &str, catalog_json: &str) -> Result<String, JsError> {
    Ok(to_json(
        &warnings(text, catalog_json).map_err(|e| JsError::new(&e))?,
    ))
}

/// Serializing these plain structs of strings and numbers cannot fail.
fn to_json<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_path_kind_and_trigger() {
        let r = check(
            r#"{"version": 1, "triggers": [{"id": "a", "whn": {"event": "X"}, "action": {"type": "x"}}]}"#,
        );
        assert!(!r.ok && r.summary.is_none());
        let e = &r.errors[0];
        assert_eq!(e.path, "triggers[0].whn");
        assert_eq!(e.kind, "unknown_key");
        assert_eq!(e.code, 2);
        assert_eq!(e.trigger.as_deref(), Some("a"));
        assert!(
            e.message.contains(r#"did you mean "when"?"#),
            "{}",
            e.message
        );
    }

    #[test]
    fn not_json_and_valid() {
        let r = check("{\"version\": 1,");
        assert_eq!(
            (r.errors[0].kind.as_str(), r.errors[0].path.as_str()),
            ("not_json", "$")
        );
        let r = check(
            r#"{"version": 1, "triggers": [{"id": "a", "when": {"event": "X"}, "action": {"type": "x"}}]}"#,
        );
        assert!(r.ok && r.errors.is_empty());
        assert_eq!(r.summary.unwrap().total, 1);
    }

    #[test]
    fn warnings_need_a_valid_file_and_catalog() {
        let file = r#"{"version": 1, "triggers": [{"id": "a", "when": {"event": "Prodcut Added"}, "action": {"type": "x"}}]}"#;
        let cat = r#"{"events": [{"name": "Product Added", "count": 1, "properties": []}], "context": [], "scanned": 1, "complete": true}"#;
        let w = warnings(file, cat).unwrap();
        assert_eq!(w[0].path, "triggers[0].when.event");
        assert!(warnings("{", cat).unwrap().is_empty());
        assert!(warnings(file, "").unwrap().is_empty());
        assert!(warnings(file, "[1]")
            .unwrap_err()
            .starts_with("the catalog is not valid"));
    }
}
