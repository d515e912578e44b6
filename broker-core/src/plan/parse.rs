//! Parsing and validation of a plan file, walking `serde_json::Value` by hand
//! as the trigger validator does, so that every mistake gets its JSON path
//! and near-misses a suggestion (with the trigger validator's own
//! [`suggest`]). Every mistake is collected; one is enough to refuse the file.

use super::index::Index;
use super::pattern::Pattern;
use super::{Action, PlanError, PlanErrorKind as Kind, PlanErrors, MAX_DEPTH, MAX_PATTERN_BYTES};
use crate::event::EventKind;
use crate::trigger::suggest::suggest;
use crate::walk::{join, parse_document, type_name, unknown_reserved, JsonWalk};
use serde_json::{Map, Value as Json};

const TOP_KEYS: &[&str] = &[
    "version",
    "description",
    "on_unplanned",
    "on_violation",
    "events",
];
const EVENT_KEYS: &[&str] = &[
    "description",
    "on_violation",
    "properties",
    "additional_properties",
];
/// A property's keys. A list's `items` take all but the last: an item has
/// no name, so it cannot be `required`.
const PROP_KEYS: &[&str] = &[
    "type",
    "description",
    "enum",
    "pattern",
    "minimum",
    "maximum",
    "max_length",
    "properties",
    "additional_properties",
    "items",
    "required",
];
const ITEM_KEYS: &[&str] = PROP_KEYS.split_last().unwrap().1;
/// Words people write for the keys, from JSON Schema and other plan formats.
const KEY_HINTS: &[(&str, &str)] = &[
    ("maxLength", "max_length"),
    ("additionalProperties", "additional_properties"),
    ("enums", "enum"),
    ("values", "enum"),
    ("regex", "pattern"),
    ("min", "minimum"),
    ("max", "maximum"),
    ("props", "properties"),
    ("item", "items"),
    ("optional", "required"),
];
const TYPE_NAMES: &[&str] = &["string", "number", "integer", "boolean", "object", "array"];
const ACTION_NAMES: &[&str] = &["allow", "flag", "quarantine"];

/// The type a property's value must have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Type {
    String,
    Number,
    Integer,
    Boolean,
    Object,
    Array,
}

impl Type {
    fn from_name(s: &str) -> Option<Type> {
        Some(match s {
            "string" => Type::String,
            "number" => Type::Number,
            "integer" => Type::Integer,
            "boolean" => Type::Boolean,
            "object" => Type::Object,
            "array" => Type::Array,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Type::String => "string",
            Type::Number => "number",
            Type::Integer => "integer",
            Type::Boolean => "boolean",
            Type::Object => "object",
            Type::Array => "array",
        }
    }

    /// Whether constraint `key` means something for this type.
    fn takes(self, key: &str) -> bool {
        match key {
            "enum" => matches!(
                self,
                Type::String | Type::Number | Type::Integer | Type::Boolean
            ),
            "pattern" => self == Type::String,
            "minimum" | "maximum" => matches!(self, Type::Number | Type::Integer),
            "max_length" => matches!(self, Type::String | Type::Array),
            "properties" | "additional_properties" => self == Type::Object,
            "items" => self == Type::Array,
            _ => true,
        }
    }

    /// The types that take `key`, for the message when this one does not.
    fn takers(key: &str) -> &'static str {
        match key {
            "enum" => "string, number, integer and boolean properties",
            "pattern" => "string properties",
            "minimum" | "maximum" => "number and integer properties",
            "max_length" => "string and array properties",
            "properties" | "additional_properties" => "object properties",
            _ => "array properties",
        }
    }
}

/// One planned event.
#[derive(Debug, Clone)]
pub(super) struct EventSpec {
    pub(super) name: String,
    pub(super) on_violation: Option<Action>,
    pub(super) object: ObjectSpec,
}

/// The planned keys of an object: an event's properties or a nested object.
#[derive(Debug, Clone)]
pub(super) struct ObjectSpec {
    /// Sorted by name.
    pub(super) props: Vec<PropSpec>,
    /// Finds a key among `props`.
    pub(super) index: Index,
    /// How many of `props` are required.
    pub(super) required: usize,
    /// False: a key `props` does not name is a violation.
    pub(super) additional: bool,
}

impl ObjectSpec {
    fn any() -> ObjectSpec {
        ObjectSpec {
            props: Vec::new(),
            index: Index::default(),
            required: 0,
            additional: true,
        }
    }

    /// Adds this object's properties, nested ones included, to the counts.
    pub(super) fn count(&self, props: &mut usize, required: &mut usize) {
        for p in &self.props {
            *props += 1;
            *required += usize::from(p.required);
            p.spec.count(props, required);
        }
    }
}

/// One planned property.
#[derive(Debug, Clone)]
pub(super) struct PropSpec {
    pub(super) name: String,
    pub(super) required: bool,
    pub(super) spec: ValueSpec,
}

/// What a value must be: its type and the constraints that apply to it.
#[derive(Debug, Clone)]
pub(super) struct ValueSpec {
    pub(super) ty: Type,
    pub(super) allowed: Option<Enum>,
    pub(super) pattern: Option<Pattern>,
    pub(super) minimum: Option<f64>,
    pub(super) maximum: Option<f64>,
    pub(super) max_length: Option<u32>,
    /// `Type::Object` only (any object when the plan gives no `properties`).
    pub(super) object: Option<ObjectSpec>,
    /// `Type::Array` only, when the plan gives `items`.
    pub(super) items: Option<Box<ValueSpec>>,
}

impl ValueSpec {
    fn count(&self, props: &mut usize, required: &mut usize) {
        if let Some(o) = &self.object {
            o.count(props, required);
        }
        if let Some(i) = &self.items {
            i.count(props, required);
        }
    }
}

/// An `enum`, typed by the property's type.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Enum {
    Str(Vec<String>),
    Num(Vec<f64>),
    Bool(Vec<bool>),
}

type Parsed = (Action, Action, Vec<EventSpec>);

/// Parses and validates a whole file.
pub(super) fn parse(text: &str) -> Result<Parsed, PlanErrors> {
    parse_document(text, Validator::default(), Validator::file)
        .map_err(|v| PlanErrors { errors: v.errors })
}

#[derive(Default)]
struct Validator {
    errors: Vec<PlanError>,
}

impl JsonWalk for Validator {
    type Kind = Kind;

    fn push(&mut self, kind: Kind, path: &str, message: String) {
        self.errors.push(PlanError {
            kind,
            path: path.to_owned(),
            message,
        });
    }

    fn mistakes(&self) -> usize {
        self.errors.len()
    }
}

impl Validator {
    fn description(&mut self, o: &Map<String, Json>, path: &str) {
        if let Some(d) = o.get("description") {
            if !d.is_string() {
                self.wrong_type(&join(path, "description"), "a string", d);
            }
        }
    }

    fn action(&mut self, o: &Map<String, Json>, path: &str, key: &str) -> Option<Action> {
        let v = o.get(key)?;
        let p = join(path, key);
        let Some(s) = v.as_str() else {
            self.wrong_type(&p, "\"allow\", \"flag\" or \"quarantine\"", v);
            return None;
        };
        let found = Action::from_name(s);
        if found.is_none() {
            let hint = match s.trim().to_ascii_lowercase().as_str() {
                "accept" | "pass" | "ignore" | "none" | "off" => Some("allow"),
                "warn" | "mark" | "tag" | "flagged" => Some("flag"),
                "reject" | "drop" | "block" | "quarantined" => Some("quarantine"),
                _ => suggest(s, ACTION_NAMES),
            };
            let msg = match hint {
                Some(h) => format!("unknown action {s:?} (did you mean {h:?}?)"),
                None => format!("unknown action {s:?} (expected allow, flag or quarantine)"),
            };
            self.err(Kind::UnknownAction, &p, msg);
        }
        found
    }

    fn file(&mut self, doc: &Json) -> Option<Parsed> {
        let o = self.object(doc, "$", TOP_KEYS, &[("event", "events")])?;
        self.version(o);
        self.description(o, "");
        let on_unplanned = self.action(o, "", "on_unplanned");
        let on_violation = self.action(o, "", "on_violation");
        let Some(events) = o.get("events") else {
            self.err(Kind::MissingKey, "events", "required key is missing");
            return None;
        };
        let Some(events) = events.as_object() else {
            self.wrong_type("events", "an object of event names", events);
            return None;
        };
        let mut out = Vec::with_capacity(events.len());
        for (name, spec) in events {
            let path = join("events", name);
            let named = self.event_name(name, &path);
            if let (Some(object), true) = (self.event(spec, &path), named) {
                out.push(EventSpec {
                    name: name.clone(),
                    on_violation: object.1,
                    object: object.0,
                });
            }
        }
        Some((
            on_unplanned.unwrap_or(Action::Flag),
            on_violation.unwrap_or(Action::Flag),
            out,
        ))
    }

    /// A track name, or one of the captured kinds' `$` names.
    fn event_name(&mut self, name: &str, path: &str) -> bool {
        let reserved: Vec<&str> = EventKind::ALL
            .iter()
            .filter_map(|k| k.reserved_name())
            .collect();
        if name.is_empty() {
            self.err(Kind::BadName, path, "an event name must not be empty");
            return false;
        }
        if let Some(msg) = unknown_reserved(name, &reserved) {
            self.err(Kind::UnknownEvent, path, msg);
            return false;
        }
        true
    }

    fn event(&mut self, v: &Json, path: &str) -> Option<(ObjectSpec, Option<Action>)> {
        let o = self.object(v, path, EVENT_KEYS, KEY_HINTS)?;
        self.description(o, path);
        let on_violation = self.action(o, path, "on_violation");
        let object = self.object_spec(o, path, 1);
        if o.contains_key("on_violation") && on_violation.is_none() {
            return None;
        }
        Some((object?, on_violation))
    }

    /// `properties` and `additional_properties` of an event or an object property.
    fn object_spec(
        &mut self,
        o: &Map<String, Json>,
        path: &str,
        depth: usize,
    ) -> Option<ObjectSpec> {
        let additional = self.boolean(o, path, "additional_properties");
        if o.contains_key("additional_properties") && additional.is_none() {
            return None;
        }
        let Some(props) = o.get("properties") else {
            return Some(ObjectSpec {
                additional: additional.unwrap_or(true),
                ..ObjectSpec::any()
            });
        };
        let pp = join(path, "properties");
        let Some(props) = props.as_object() else {
            self.wrong_type(&pp, "an object of property names", props);
            return None;
        };
        let mut out = Vec::with_capacity(props.len());
        let mut ok = true;
        for (name, spec) in props {
            let p = join(&pp, name);
            let named = self.prop_name(name, &p);
            let required = spec
                .as_object()
                .map_or(Some(false), |s| self.required(s, &p));
            match (self.value_spec(spec, &p, PROP_KEYS, depth), required) {
                (Some(spec), Some(required)) if named => out.push(PropSpec {
                    name: name.clone(),
                    required,
                    spec,
                }),
                _ => ok = false,
            }
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        ok.then(|| ObjectSpec {
            required: out.iter().filter(|p| p.required).count(),
            index: Index::new(out.iter().map(|p| p.name.as_str())),
            props: out,
            additional: additional.unwrap_or(true),
        })
    }

    fn required(&mut self, o: &Map<String, Json>, path: &str) -> Option<bool> {
        match o.get("required") {
            None => Some(false),
            Some(_) => self.boolean(o, path, "required"),
        }
    }

    fn prop_name(&mut self, name: &str, path: &str) -> bool {
        if name.is_empty() {
            self.err(Kind::BadName, path, "a property name must not be empty");
            return false;
        }
        if name.contains('.') {
            let (head, rest) = name.split_once('.').unwrap_or((name, ""));
            self.err(
                Kind::BadName,
                path,
                format!(
                    "{name:?}: a property name cannot contain \".\" (describe {rest:?} in the \"properties\" of an object property {head:?})"
                ),
            );
            return false;
        }
        true
    }

    /// A property (`keys` = [`PROP_KEYS`]) or a list's `items` ([`ITEM_KEYS`]).
    fn value_spec(
        &mut self,
        v: &Json,
        path: &str,
        keys: &[&str],
        depth: usize,
    ) -> Option<ValueSpec> {
        if depth > MAX_DEPTH {
            self.err(
                Kind::TooDeep,
                path,
                format!("nested deeper than {MAX_DEPTH} levels of properties and items"),
            );
            return None;
        }
        let o = self.object(v, path, keys, KEY_HINTS)?;
        let before = self.errors.len();
        self.description(o, path);
        let ty = match o.get("type") {
            None => {
                self.err(
                    Kind::MissingKey,
                    &join(path, "type"),
                    format!(
                        "required key is missing (one of: {})",
                        TYPE_NAMES.join(", ")
                    ),
                );
                None
            }
            Some(t) => self.ty(t, &join(path, "type")),
        };
        if let Some(ty) = ty {
            for k in o.keys() {
                if keys.contains(&k.as_str()) && !ty.takes(k) {
                    self.err(
                        Kind::NotForType,
                        &join(path, k),
                        format!("{k:?} applies to {}, not to {}", Type::takers(k), ty.name()),
                    );
                }
            }
        }
        // A constraint the type does not take is reported once, above, and
        // not examined further; without a known type none is examined.
        let get = |k: &str| o.get(k).filter(|_| ty.is_some_and(|t| t.takes(k)));
        let allowed =
            get("enum").and_then(|e| ty.and_then(|t| self.enumeration(e, &join(path, "enum"), t)));
        let pattern = get("pattern").and_then(|p| self.pattern(p, &join(path, "pattern")));
        let minimum = get("minimum").and_then(|m| self.number(m, &join(path, "minimum")));
        let maximum = get("maximum").and_then(|m| self.number(m, &join(path, "maximum")));
        if let (Some(lo), Some(hi)) = (minimum, maximum) {
            if lo > hi {
                self.err(
                    Kind::Conflict,
                    path,
                    format!("\"minimum\" {lo} is above \"maximum\" {hi}: no value can pass"),
                );
            }
        }
        let max_length =
            get("max_length").and_then(|m| self.positive_int(m, &join(path, "max_length")));
        let object = (ty == Some(Type::Object))
            .then(|| self.object_spec(o, path, depth + 1))
            .flatten();
        let items = match o.get("items") {
            Some(i) if ty == Some(Type::Array) => self
                .value_spec(i, &join(path, "items"), ITEM_KEYS, depth + 1)
                .map(Box::new),
            _ => None,
        };
        if self.errors.len() > before {
            return None;
        }
        Some(ValueSpec {
            ty: ty?,
            allowed,
            pattern,
            minimum,
            maximum,
            max_length,
            object,
            items,
        })
    }

    fn ty(&mut self, v: &Json, path: &str) -> Option<Type> {
        let Some(s) = v.as_str() else {
            let extra = if v.is_array() {
                " (one type per property; a null value counts as missing)"
            } else {
                ""
            };
            self.err(
                Kind::WrongType,
                path,
                format!(
                    "expected one of {} as a string, got {}{extra}",
                    TYPE_NAMES.join(", "),
                    type_name(v)
                ),
            );
            return None;
        };
        let found = Type::from_name(s);
        if found.is_none() {
            let hint = match s.trim().to_ascii_lowercase().as_str() {
                "str" | "text" => Some("string"),
                "float" | "double" | "decimal" | "numeric" => Some("number"),
                "int" | "long" | "whole" => Some("integer"),
                "bool" => Some("boolean"),
                "list" => Some("array"),
                "map" | "dict" | "struct" => Some("object"),
                _ => suggest(s, TYPE_NAMES),
            };
            let msg = match hint {
                Some(h) => format!("unknown type {s:?} (did you mean {h:?}?)"),
                None => format!(
                    "unknown type {s:?} (expected one of: {})",
                    TYPE_NAMES.join(", ")
                ),
            };
            self.err(Kind::UnknownType, path, msg);
        }
        found
    }

    fn enumeration(&mut self, v: &Json, path: &str, ty: Type) -> Option<Enum> {
        let Some(list) = v.as_array() else {
            self.wrong_type(path, "a list of values", v);
            return None;
        };
        if list.is_empty() {
            self.err(Kind::BadEnum, path, "an empty enum allows no value");
            return None;
        }
        let before = self.errors.len();
        for (i, x) in list.iter().enumerate() {
            let fits = match ty {
                Type::String => x.is_string(),
                Type::Number => x.is_number(),
                Type::Integer => x.as_f64().is_some_and(|f| f.fract() == 0.0),
                _ => x.is_boolean(),
            };
            let p = format!("{path}[{i}]");
            if !fits {
                self.err(
                    Kind::BadEnum,
                    &p,
                    format!("{} is not a {} value", preview_json(x), ty.name()),
                );
            } else if list[..i].iter().any(|y| same_json(x, y)) {
                self.err(
                    Kind::BadEnum,
                    &p,
                    format!("{} is listed twice", preview_json(x)),
                );
            }
        }
        if self.errors.len() > before {
            return None;
        }
        Some(match ty {
            Type::String => Enum::Str(
                list.iter()
                    .filter_map(|x| x.as_str().map(str::to_owned))
                    .collect(),
            ),
            Type::Number | Type::Integer => {
                Enum::Num(list.iter().filter_map(Json::as_f64).collect())
            }
            _ => Enum::Bool(list.iter().filter_map(Json::as_bool).collect()),
        })
    }

    fn pattern(&mut self, v: &Json, path: &str) -> Option<Pattern> {
        let Some(s) = v.as_str() else {
            self.wrong_type(path, "a regular expression as a string", v);
            return None;
        };
        if s.len() > MAX_PATTERN_BYTES {
            self.err(
                Kind::BadPattern,
                path,
                format!(
                    "pattern is {} bytes; the limit is {MAX_PATTERN_BYTES}",
                    s.len()
                ),
            );
            return None;
        }
        // Bounded in size and nesting, so that a hostile pattern cannot take
        // the relay's memory or stack; regex-lite matches in time linear in
        // the input.
        match Pattern::new(s) {
            Ok(r) => Some(r),
            Err(e) => {
                let why = e.to_string();
                let why = why.lines().last().unwrap_or("").trim();
                self.err(
                    Kind::BadPattern,
                    path,
                    format!("pattern {s:?} does not compile: {why}"),
                );
                None
            }
        }
    }

    fn number(&mut self, v: &Json, path: &str) -> Option<f64> {
        let n = v.as_f64();
        if n.is_none() {
            self.wrong_type(path, "a number", v);
        }
        n
    }
}

/// Equal as enum values: numbers by value (`1` and `1.0` are one value).
fn same_json(a: &Json, b: &Json) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}

fn preview_json(v: &Json) -> String {
    let s = v.to_string();
    if s.chars().count() > 40 {
        format!("{}...", s.chars().take(40).collect::<String>())
    } else {
        s
    }
}
