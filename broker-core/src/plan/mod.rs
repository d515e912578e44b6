//! The tracking plan (`docs/plan.md`): which events a site sends, with which
//! properties of which types, and what the relay does with an event that the
//! plan does not name or that breaks it.
//!
//! [`Plan::parse`] validates a plan file whole, like a trigger file: every
//! mistake with its JSON path and, for near-misses, a suggestion.
//! [`Plan::check`] judges one event: an [`Action`] and the [`Violation`]s
//! behind it. On the happy path (a planned event that breaks nothing) it
//! allocates nothing (once each `pattern` has matched once: its regex keeps
//! a cache per thread), so the relay can run it on every event of every frame.
//!
//! ```
//! use broker_core::plan::{Action, Plan};
//! use broker_core::{Event, EventKind, Value};
//!
//! let plan = Plan::parse(r#"{"version": 1, "on_violation": "quarantine", "events": {
//!     "Product Viewed": {"properties": {"price": {"type": "number", "required": true}}}}}"#)
//!     .unwrap();
//! let event = Event {
//!     kind: EventKind::Track,
//!     name: "Product Viewed".into(),
//!     timestamp: 0,
//!     properties: vec![("price".into(), Value::Str("89.58".into()))],
//! };
//! let verdict = plan.check(&event);
//! assert_eq!(verdict.action, Action::Quarantine);
//! assert_eq!(
//!     verdict.violations[0].to_string(),
//!     r#"properties.price: expected number, got string "89.58""#
//! );
//! ```

mod check;
mod index;
mod parse;
mod pattern;
#[cfg(test)]
mod tests;

use crate::event::Event;

/// How deep `properties` and `items` may nest below an event's properties.
pub const MAX_DEPTH: usize = 8;

/// The longest `pattern`, in bytes.
pub const MAX_PATTERN_BYTES: usize = 512;

/// A validated tracking plan.
#[derive(Debug, Clone)]
pub struct Plan {
    source: String,
    on_unplanned: Action,
    on_violation: Action,
    /// Sorted by name.
    events: Vec<parse::EventSpec>,
    /// Finds an event's name among `events`.
    index: index::Index,
}

/// What the relay does with an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Stored as usual; violations are counted, the event is not marked.
    Allow,
    /// Stored as usual and marked with its violations.
    Flag,
    /// Kept in the `quarantine` stream with its violations, never in the
    /// event stream, so triggers do not see it; never dropped.
    Quarantine,
}

impl Action {
    /// Every action, in the order of severity.
    pub const ALL: [Action; 3] = [Action::Allow, Action::Flag, Action::Quarantine];

    /// The name plan files use: `allow`, `flag` or `quarantine`.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Flag => "flag",
            Action::Quarantine => "quarantine",
        }
    }

    /// The action a plan file names.
    pub fn from_name(s: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.as_str() == s)
    }
}

/// The judgement on one event.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    /// What to do with it: [`Action::Allow`] when nothing is wrong.
    pub action: Action,
    /// What is wrong, in the order found (empty when nothing is). With
    /// [`Action::Allow`] these may still be present: the plan says to
    /// count them but not to mark the event.
    pub violations: Vec<Violation>,
}

impl Verdict {
    /// True when the event breaks nothing and the plan names it.
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}

/// One way an event breaks the plan: `path: message` when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// A stable kind, for counters per event name and kind.
    pub kind: ViolationKind,
    /// Where: `event` for the name itself, else `properties.<path>` with
    /// the trigger language's dotted paths (`properties.products.0.price`).
    pub path: String,
    /// What is wrong: `expected number, got string "89.58"`.
    pub message: String,
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

impl Violation {
    /// `{"kind":"wrong_type","code":2,"path":"properties.price","message":".."}`:
    /// the shape the relay stores beside a flagged or quarantined event.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "kind": self.kind.name(),
            "code": self.kind.code(),
            "path": self.path,
            "message": self.message,
        })
    }
}

/// The kinds of violations, each with a stable code and name (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum ViolationKind {
    /// The plan does not name the event.
    UnplannedEvent,
    /// A value of another type than the plan's (null is never a type: it is missing).
    WrongType,
    /// A required property is absent or `null`.
    MissingRequired,
    /// A property the plan does not name, where `additional_properties` is false.
    UnplannedProperty,
    /// A value that is not one of `enum`.
    NotInEnum,
    /// A string that `pattern` does not match.
    PatternMismatch,
    /// A number below `minimum`.
    BelowMinimum,
    /// A number above `maximum`.
    AboveMaximum,
    /// A string or list longer than `max_length`.
    TooLong,
}

impl ViolationKind {
    /// Every kind, in code order.
    pub const ALL: [ViolationKind; 9] = [
        ViolationKind::UnplannedEvent,
        ViolationKind::WrongType,
        ViolationKind::MissingRequired,
        ViolationKind::UnplannedProperty,
        ViolationKind::NotInEnum,
        ViolationKind::PatternMismatch,
        ViolationKind::BelowMinimum,
        ViolationKind::AboveMaximum,
        ViolationKind::TooLong,
    ];

    /// The stable code.
    pub fn code(self) -> u16 {
        match self {
            ViolationKind::UnplannedEvent => 1,
            ViolationKind::WrongType => 2,
            ViolationKind::MissingRequired => 3,
            ViolationKind::UnplannedProperty => 4,
            ViolationKind::NotInEnum => 5,
            ViolationKind::PatternMismatch => 6,
            ViolationKind::BelowMinimum => 7,
            ViolationKind::AboveMaximum => 8,
            ViolationKind::TooLong => 9,
        }
    }

    /// The kind with this stable code.
    pub fn from_code(code: u16) -> Option<ViolationKind> {
        ViolationKind::ALL.into_iter().find(|k| k.code() == code)
    }

    /// The kind with this stable name.
    pub fn from_name(name: &str) -> Option<ViolationKind> {
        ViolationKind::ALL.into_iter().find(|k| k.name() == name)
    }

    /// The stable snake_case name (`wrong_type`, `missing_required`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ViolationKind::UnplannedEvent => "unplanned_event",
            ViolationKind::WrongType => "wrong_type",
            ViolationKind::MissingRequired => "missing_required",
            ViolationKind::UnplannedProperty => "unplanned_property",
            ViolationKind::NotInEnum => "not_in_enum",
            ViolationKind::PatternMismatch => "pattern_mismatch",
            ViolationKind::BelowMinimum => "below_minimum",
            ViolationKind::AboveMaximum => "above_maximum",
            ViolationKind::TooLong => "too_long",
        }
    }
}

/// Every mistake found in a plan file; the file is refused whole.
#[derive(Debug, Clone)]
pub struct PlanErrors {
    /// Each mistake, in document order.
    pub errors: Vec<PlanError>,
}

/// One mistake in a plan file, `path: message` when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError {
    /// What kind of mistake it is (a stable code for machines).
    pub kind: PlanErrorKind,
    /// JSON path in the trigger files' style:
    /// `events["Product Viewed"].properties.price.type`; `$` is the whole document.
    pub path: String,
    /// What is wrong, with a suggestion for near-misses.
    pub message: String,
}

/// The kinds of mistakes in a plan file, each with a stable code (never reused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum PlanErrorKind {
    /// The document is not JSON at all.
    NotJson,
    /// A key the format does not have (with a suggestion for near-misses).
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong JSON type.
    WrongType,
    /// `version` is not 1, or `max_length` is not a whole number of at least 1.
    BadNumber,
    /// An action that is not `allow`, `flag` or `quarantine`.
    UnknownAction,
    /// A property type that is not one of the six.
    UnknownType,
    /// A `$` event name that is not `$page`, `$click`, `$submit` or `$identify`.
    UnknownEvent,
    /// An empty event or property name, or one with a `.`.
    BadName,
    /// A constraint the property's type does not take (`pattern` on a number).
    NotForType,
    /// An `enum` that is empty, repeats a value, or holds a value of another type.
    BadEnum,
    /// A `pattern` that does not compile, or is too long.
    BadPattern,
    /// `minimum` above `maximum`.
    Conflict,
    /// `properties` or `items` nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl PlanErrorKind {
    /// The stable code.
    pub fn code(self) -> u16 {
        match self {
            PlanErrorKind::NotJson => 1,
            PlanErrorKind::UnknownKey => 2,
            PlanErrorKind::MissingKey => 3,
            PlanErrorKind::WrongType => 4,
            PlanErrorKind::BadNumber => 5,
            PlanErrorKind::UnknownAction => 6,
            PlanErrorKind::UnknownType => 7,
            PlanErrorKind::UnknownEvent => 8,
            PlanErrorKind::BadName => 9,
            PlanErrorKind::NotForType => 10,
            PlanErrorKind::BadEnum => 11,
            PlanErrorKind::BadPattern => 12,
            PlanErrorKind::Conflict => 13,
            PlanErrorKind::TooDeep => 14,
        }
    }

    /// The stable snake_case name.
    pub fn name(self) -> &'static str {
        match self {
            PlanErrorKind::NotJson => "not_json",
            PlanErrorKind::UnknownKey => "unknown_key",
            PlanErrorKind::MissingKey => "missing_key",
            PlanErrorKind::WrongType => "wrong_type",
            PlanErrorKind::BadNumber => "bad_number",
            PlanErrorKind::UnknownAction => "unknown_action",
            PlanErrorKind::UnknownType => "unknown_type",
            PlanErrorKind::UnknownEvent => "unknown_event",
            PlanErrorKind::BadName => "bad_name",
            PlanErrorKind::NotForType => "not_for_type",
            PlanErrorKind::BadEnum => "bad_enum",
            PlanErrorKind::BadPattern => "bad_pattern",
            PlanErrorKind::Conflict => "conflict",
            PlanErrorKind::TooDeep => "too_deep",
        }
    }
}

path_errors!(PlanError, PlanErrors);

impl Plan {
    /// Parses and validates a plan file.
    pub fn parse(text: &str) -> Result<Plan, PlanErrors> {
        let (on_unplanned, on_violation, mut events) = parse::parse(text)?;
        events.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Plan {
            index: index::Index::new(events.iter().map(|e| e.name.as_str())),
            source: text.to_owned(),
            on_unplanned,
            on_violation,
            events,
        })
    }

    /// Judges one event. Allocates only when there is a violation.
    pub fn check(&self, event: &Event<'_>) -> Verdict {
        check::check(self, event)
    }

    /// The file's text, exactly as parsed.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// What happens to an event the plan does not name (`on_unplanned`).
    pub fn on_unplanned(&self) -> Action {
        self.on_unplanned
    }

    /// The default for an event that breaks the plan (`on_violation`).
    pub fn on_violation(&self) -> Action {
        self.on_violation
    }

    /// The planned event names, sorted.
    pub fn event_names(&self) -> impl ExactSizeIterator<Item = &str> {
        self.events.iter().map(|e| e.name.as_str())
    }

    /// A one-line summary: `10 events, 51 properties (31 required);
    /// unplanned: flag, violations: quarantine (1 event overrides)`.
    pub fn summary(&self) -> String {
        let (mut props, mut required) = (0, 0);
        for e in &self.events {
            e.object.count(&mut props, &mut required);
        }
        let overrides = self
            .events
            .iter()
            .filter(|e| e.on_violation.is_some())
            .count();
        let plural =
            |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
        let mut out = format!(
            "{}, {} ({required} required); unplanned: {}, violations: {}",
            plural(self.events.len(), "event", "events"),
            plural(props, "property", "properties"),
            self.on_unplanned.as_str(),
            self.on_violation.as_str()
        );
        if overrides > 0 {
            out.push_str(&format!(
                " ({} {})",
                plural(overrides, "event", "events"),
                if overrides == 1 {
                    "overrides"
                } else {
                    "override"
                }
            ));
        }
        out
    }
}
