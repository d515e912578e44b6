//! What the file validators (trigger files, plans) share as they walk a
//! JSON document: paths in the spec's style, type names in messages, and
//! objects whose unknown keys are each reported with a did-you-mean.

use crate::trigger::suggest::suggest;
use serde_json::{Map, Value as Json};

/// A validator that records every mistake with its JSON path.
pub(crate) trait JsonWalk {
    /// The validator's kinds of mistakes.
    type Kind: Copy;
    /// The kind of a key the format does not have.
    const UNKNOWN_KEY: Self::Kind;
    /// The kind of a value of the wrong JSON type.
    const WRONG_TYPE: Self::Kind;

    /// Records one mistake.
    fn push(&mut self, kind: Self::Kind, path: &str, message: String);

    /// Records a value of the wrong type: `expected {expected}, got a list`.
    fn wrong_type(&mut self, path: &str, expected: &str, got: &Json) {
        self.push(
            Self::WRONG_TYPE,
            path,
            format!("expected {expected}, got {}", type_name(got)),
        );
    }

    /// The object at `path`, after reporting each key not in `allowed`
    /// (`hints` map known slips to what was meant: `("operator", "op")`).
    fn object<'j>(
        &mut self,
        v: &'j Json,
        path: &str,
        allowed: &[&str],
        hints: &[(&str, &str)],
    ) -> Option<&'j Map<String, Json>> {
        let Some(o) = v.as_object() else {
            self.wrong_type(path, "an object", v);
            return None;
        };
        for k in o.keys() {
            if allowed.contains(&k.as_str()) {
                continue;
            }
            let hint = hints
                .iter()
                .find(|(from, to)| from == k && allowed.contains(to))
                .map(|(_, to)| *to)
                .or_else(|| suggest(k, allowed));
            let msg = match hint {
                Some(h) => format!("unknown key {k:?} (did you mean {h:?}?)"),
                None => format!(
                    "unknown key {k:?} (expected one of: {})",
                    allowed.join(", ")
                ),
            };
            self.push(Self::UNKNOWN_KEY, &join(path, k), msg);
        }
        Some(o)
    }
}

/// `parent.key`, or `parent["key"]` when the key is not a plain word
/// (event names have spaces: `events["Product Viewed"]`).
pub(crate) fn join(path: &str, key: &str) -> String {
    let plain = !key.is_empty()
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'-');
    match (path.is_empty() || path == "$", plain) {
        (true, true) => key.to_owned(),
        (true, false) => format!("[{}]", Json::from(key)),
        (false, true) => format!("{path}.{key}"),
        (false, false) => format!("{path}[{}]", Json::from(key)),
    }
}

/// `a string`, `a list`, ... for messages.
pub(crate) fn type_name(v: &Json) -> &'static str {
    match v {
        Json::Null => "null",
        Json::Bool(_) => "a boolean",
        Json::Number(_) => "a number",
        Json::String(_) => "a string",
        Json::Array(_) => "a list",
        Json::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_quote_keys_that_are_not_plain_words() {
        assert_eq!(join("$", "triggers"), "triggers");
        assert_eq!(join("triggers[0]", "when"), "triggers[0].when");
        assert_eq!(
            join("events", "Product Viewed"),
            r#"events["Product Viewed"]"#
        );
        assert_eq!(join("", "a b"), r#"["a b"]"#);
    }
}
