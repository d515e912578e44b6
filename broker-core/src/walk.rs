//! What the file validators (trigger files, plans) share as they walk a
//! JSON document: the parse that turns bad JSON into a mistake, paths in the
//! spec's style, type names in messages, numbers and `version` checked alike,
//! and objects whose unknown keys are each reported with a did-you-mean.

use crate::trigger::suggest::suggest;
use serde_json::{Map, Value as Json};

/// The kinds of mistake that [`JsonWalk`]'s shared checks report. Both
/// validators' kind enums name these variants alike (their stable codes
/// differ), so one macro implements it for each.
pub(crate) trait WalkKind: Copy {
    /// The document is not JSON.
    const NOT_JSON: Self;
    /// A key the format does not have.
    const UNKNOWN_KEY: Self;
    /// A required key is absent.
    const MISSING_KEY: Self;
    /// A value of the wrong JSON type.
    const WRONG_TYPE: Self;
    /// A number out of range, or not a number where one is due.
    const BAD_NUMBER: Self;
}

macro_rules! walk_kinds {
    ($($kind:ty),+) => {$(
        impl WalkKind for $kind {
            const NOT_JSON: Self = Self::NotJson;
            const UNKNOWN_KEY: Self = Self::UnknownKey;
            const MISSING_KEY: Self = Self::MissingKey;
            const WRONG_TYPE: Self = Self::WrongType;
            const BAD_NUMBER: Self = Self::BadNumber;
        }
    )+};
}

walk_kinds!(crate::plan::PlanErrorKind, crate::trigger::ValidationKind);

/// A validator that records every mistake with its JSON path.
pub(crate) trait JsonWalk {
    /// The validator's kinds of mistakes.
    type Kind: WalkKind;

    /// Records one mistake.
    fn push(&mut self, kind: Self::Kind, path: &str, message: String);

    /// How many mistakes have been recorded.
    fn mistakes(&self) -> usize;

    /// Records one mistake, from a `&str` or a `String`.
    fn err(&mut self, kind: Self::Kind, path: &str, message: impl Into<String>) {
        self.push(kind, path, message.into());
    }

    /// Records a value of the wrong type: `expected {expected}, got a list`.
    fn wrong_type(&mut self, path: &str, expected: &str, got: &Json) {
        self.err(
            Self::Kind::WRONG_TYPE,
            path,
            format!("expected {expected}, got {}", type_name(got)),
        );
    }

    /// `o[key]` when it is a boolean; `None` when it is absent or, with a
    /// mistake recorded, of another type.
    fn boolean(&mut self, o: &Map<String, Json>, path: &str, key: &str) -> Option<bool> {
        match o.get(key)? {
            Json::Bool(b) => Some(*b),
            other => {
                self.wrong_type(&join(path, key), "true or false", other);
                None
            }
        }
    }

    /// Records a number that is not the one due: `expected {expected}, got
    /// 0` (or `got a string` when it is not a number at all).
    fn bad_number(&mut self, path: &str, expected: &str, got: &Json) {
        let got = match got {
            Json::Number(n) => format!("{n}"),
            other => type_name(other).to_owned(),
        };
        self.err(
            Self::Kind::BAD_NUMBER,
            path,
            format!("expected {expected}, got {got}"),
        );
    }

    /// A whole number from 1 to `u32::MAX`.
    fn positive_int(&mut self, v: &Json, path: &str) -> Option<u32> {
        match v.as_u64().and_then(|n| u32::try_from(n).ok()) {
            Some(n) if n >= 1 => Some(n),
            _ => {
                self.bad_number(path, "a whole number of at least 1", v);
                None
            }
        }
    }

    /// The top-level `version`, which both formats require to be 1.
    fn version(&mut self, o: &Map<String, Json>) {
        match o.get("version") {
            None => self.err(
                Self::Kind::MISSING_KEY,
                "version",
                "required key is missing",
            ),
            Some(v) if v.as_u64() == Some(1) => {}
            Some(v) => self.bad_number("version", "the number 1", v),
        }
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
            self.push(Self::Kind::UNKNOWN_KEY, &join(path, k), msg);
        }
        Some(o)
    }
}

/// Parses `text` as JSON and walks it with `file`: the walk's result when
/// no mistake was recorded, else the walker with every mistake (bad JSON is
/// one, at `$`).
pub(crate) fn parse_document<W: JsonWalk, T>(
    text: &str,
    mut walker: W,
    file: impl FnOnce(&mut W, &Json) -> Option<T>,
) -> Result<T, W> {
    let doc: Json = match serde_json::from_str(text) {
        Ok(d) => d,
        Err(e) => {
            walker.err(W::Kind::NOT_JSON, "$", format!("not valid JSON: {e}"));
            return Err(walker);
        }
    };
    match file(&mut walker, &doc) {
        Some(parsed) if walker.mistakes() == 0 => Ok(parsed),
        _ => Err(walker),
    }
}

/// The message for an event name that starts with `$` but is none of the
/// `reserved` names, which are the only `$` names there are; `None` for any
/// other name.
pub(crate) fn unknown_reserved(name: &str, reserved: &[&str]) -> Option<String> {
    if !name.starts_with('$') || reserved.contains(&name) {
        return None;
    }
    let near =
        suggest(name, reserved).or_else(|| reserved.iter().copied().find(|r| name.starts_with(r)));
    Some(match near {
        Some(h) => format!("unknown event {name:?} (did you mean {h:?}?)"),
        None => format!(
            "unknown event {name:?}: names starting with $ are {}",
            reserved.join(", ")
        ),
    })
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
