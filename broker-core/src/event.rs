//! Domain types for events: what the SDK captures, the frame carries, the log
//! stores and the trigger engine evaluates.
//!
//! Strings are `Cow<'a, str>` so that a decoded frame borrows from the bytes
//! it came from (no copy on the relay's hot path), while code that builds
//! events itself (the SDK, tests, the CLI) uses owned `Value<'static>`.

use alloc::borrow::Cow;
use alloc::vec::Vec;

/// An ordered map of property names to values, as the page sent it.
///
/// Kept as a vector: property maps are small (a handful of keys), order is
/// preserved end to end, and a linear scan beats hashing at that size.
/// Decoders reject duplicate keys, so a key appears at most once.
pub type Map<'a> = Vec<(Cow<'a, str>, Value<'a>)>;

/// A property value: the JSON data model, with integers kept apart from floats.
#[derive(Debug, Clone, PartialEq)]
pub enum Value<'a> {
    /// JSON `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A whole number that fits in an `i64`.
    Int(i64),
    /// Any other number. Never NaN or infinite (JSON cannot carry them).
    Float(f64),
    /// A UTF-8 string.
    Str(Cow<'a, str>),
    /// An ordered list.
    List(Vec<Value<'a>>),
    /// An object.
    Map(Map<'a>),
}

impl Value<'_> {
    /// Copies every borrowed string so the value outlives its source bytes.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Null => Value::Null,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Float(f) => Value::Float(f),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::List(l) => Value::List(l.into_iter().map(Value::into_owned).collect()),
            Value::Map(m) => Value::Map(map_into_owned(m)),
        }
    }

    /// The value as a number, if it is one (integers and floats compare as numbers).
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    /// Looks up a key in a map value.
    pub fn get(&self, key: &str) -> Option<&Value<'_>> {
        match self {
            Value::Map(m) => map_get(m, key),
            _ => None,
        }
    }
}

/// Copies every borrowed string of a map.
pub fn map_into_owned(m: Map<'_>) -> Map<'static> {
    m.into_iter()
        .map(|(k, v)| (Cow::Owned(k.into_owned()), v.into_owned()))
        .collect()
}

/// Looks up a key in a property map.
pub fn map_get<'m, 'a>(m: &'m Map<'a>, key: &str) -> Option<&'m Value<'a>> {
    m.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

#[cfg(feature = "std")]
impl From<&serde_json::Value> for Value<'static> {
    fn from(v: &serde_json::Value) -> Self {
        match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Int(i),
                None => Value::Float(n.as_f64().unwrap_or(0.0)),
            },
            serde_json::Value::String(s) => Value::Str(Cow::Owned(s.clone())),
            serde_json::Value::Array(a) => Value::List(a.iter().map(Value::from).collect()),
            serde_json::Value::Object(o) => Value::Map(
                o.iter()
                    .map(|(k, v)| (Cow::Owned(k.clone()), Value::from(v)))
                    .collect(),
            ),
        }
    }
}

#[cfg(feature = "std")]
impl From<&Value<'_>> for serde_json::Value {
    fn from(v: &Value<'_>) -> Self {
        match v {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Int(i) => serde_json::Value::from(*i),
            Value::Float(f) => serde_json::Number::from_f64(*f)
                .map(serde_json::Value::Number)
                .unwrap_or(serde_json::Value::Null),
            Value::Str(s) => serde_json::Value::String(s.to_string()),
            Value::List(l) => serde_json::Value::Array(l.iter().map(Into::into).collect()),
            Value::Map(m) => serde_json::Value::Object(map_to_json(m)),
        }
    }
}

#[cfg(feature = "std")]
/// A property map as a JSON object.
pub fn map_to_json(m: &Map<'_>) -> serde_json::Map<String, serde_json::Value> {
    m.iter().map(|(k, v)| (k.to_string(), v.into())).collect()
}

/// What kind of interaction an event records.
///
/// The numeric codes are the wire codes and never change meaning; new kinds
/// take new codes (the frame version says which kinds a decoder must know).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[repr(u8)]
pub enum EventKind {
    /// `track(name, props)`: a custom event named by the page's code.
    Track = 0,
    /// A page view (`page()`, or captured on load and SPA navigation).
    Page = 1,
    /// `identify(userId, traits)`: properties are the traits.
    Identify = 2,
    /// A captured click on a link, button or `[data-track]` element.
    Click = 3,
    /// A captured form submit.
    Submit = 4,
}

impl EventKind {
    /// Every kind this version knows, in code order.
    pub const ALL: [EventKind; 5] = [
        EventKind::Track,
        EventKind::Page,
        EventKind::Identify,
        EventKind::Click,
        EventKind::Submit,
    ];

    /// The wire code.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The kind for a wire code, if this version knows it.
    pub fn from_code(code: u8) -> Option<EventKind> {
        EventKind::ALL.get(code as usize).copied()
    }

    /// The name triggers use for automatically captured kinds (`$page` ...);
    /// `None` for `Track`, whose events are named by their own name.
    pub fn reserved_name(self) -> Option<&'static str> {
        match self {
            EventKind::Track => None,
            EventKind::Page => Some("$page"),
            EventKind::Identify => Some("$identify"),
            EventKind::Click => Some("$click"),
            EventKind::Submit => Some("$submit"),
        }
    }

    /// The lower-case name used in JSON exports (`track`, `page`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Track => "track",
            EventKind::Page => "page",
            EventKind::Identify => "identify",
            EventKind::Click => "click",
            EventKind::Submit => "submit",
        }
    }
}

/// One captured event.
#[derive(Debug, Clone, PartialEq)]
pub struct Event<'a> {
    /// What kind of interaction this is.
    pub kind: EventKind,
    /// `Track`: the event name. `Page`: the page name (may be empty).
    /// `Identify`: the user id. `Click`, `Submit`: empty.
    pub name: Cow<'a, str>,
    /// Milliseconds since the Unix epoch, as the SDK stamped it.
    pub timestamp: u64,
    /// The event's properties; for `Identify`, the traits.
    pub properties: Map<'a>,
}

impl Event<'_> {
    /// The name triggers match on: the track name, or `$page`, `$click`, ...
    pub fn trigger_name(&self) -> &str {
        match self.kind.reserved_name() {
            Some(n) => n,
            None => &self.name,
        }
    }

    /// Copies every borrowed string.
    pub fn into_owned(self) -> Event<'static> {
        Event {
            kind: self.kind,
            name: Cow::Owned(self.name.into_owned()),
            timestamp: self.timestamp,
            properties: map_into_owned(self.properties),
        }
    }
}
