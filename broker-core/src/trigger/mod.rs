//! The trigger engine: marketers' JSON triggers (`docs/triggers.md`)
//! evaluated deterministically over a partition's events.
//!
//! [`TriggerFile::parse`] validates a file whole and reports every mistake
//! with its JSON path; [`Engine`] evaluates the triggers over one visitor's
//! events at a time, keeping all durable state in a [`Storage`](crate::storage::Storage) so that firings
//! survive a restart and a replay from offset 0 gives the same firings, with
//! the same ids.
//!
//! ```
//! use broker_core::trigger::{Engine, TriggerFile};
//! use broker_core::{Event, EventKind, MemoryStorage, Storage, WriteBatch};
//!
//! let file = TriggerFile::parse(r#"{"version": 1, "triggers": [{
//!     "id": "welcome", "when": {"event": "$page"},
//!     "max_per_user": 1, "action": {"type": "banner"}}]}"#).unwrap();
//! let mut engine = Engine::new(file);
//! let mut store = MemoryStorage::new();
//! let page = Event { kind: EventKind::Page, name: "Home".into(), timestamp: 1_000, properties: vec![] };
//! let mut writes = WriteBatch::new();
//! let firings = engine.on_events(&store, &mut writes, "v-1", &[page.clone(), page], 0)?;
//! store.commit(writes)?;
//! assert_eq!(firings.len(), 1); // max_per_user: 1
//! assert_eq!(&*firings[0].trigger_id, "welcome");
//! # Ok::<(), broker_core::StorageError>(())
//! ```
//!
//! # Semantics settled here
//! The spec's "Semantics, precisely" is implemented as written. Where it is
//! silent, this engine decides:
//! - A delayed (`unless`) firing whose deadline `d` lies before an event of the
//!   same visitor at `t > d` is fired before that event is evaluated, so the
//!   firings of a log do not depend on when [`Engine::on_timeout`] ran. An event
//!   at exactly `d` is evaluated first (it may still cancel).
//! - Windows are pruned against the newest time seen (an event's time, or the
//!   `now` of [`Engine::on_timeout`]): an event stamped earlier than that does
//!   not see entries already pruned.
//! - A digit segment of a path indexes a list; on an object it is a key.
//! - An identify trait set to `null` removes the trait.
//! - A trigger's state is keyed by a hash of its canonical JSON without
//!   `description` and `enabled`: editing anything else starts it afresh;
//!   editing those keeps it. A disabled trigger is evaluated like any other
//!   (counts used up, sequences advanced) and its firings are dropped, as the
//!   spec says `enabled` is checked at the moment of firing; so pausing and
//!   resuming a trigger keeps its cooldowns and `max_per_user` counts.

mod cond;
mod engine;
mod explain;
pub(crate) mod hash;
mod lint;
mod model;
mod state;
// The tracking plan's validator (`crate::plan`) words its near-misses alike.
pub(crate) mod suggest;
mod suppress;
mod validate;

pub use engine::Engine;
pub use explain::{explain, ExplainError};
pub use hash::{firing_id, holdout_bucket};
pub use lint::{lint, Catalog, CatalogEvent, Warning};
pub use model::{Summary, TriggerInfo, TriggerKind};
use std::sync::Arc;
pub use suggest::parse_duration;
pub(crate) use suppress::{Counted, Logged};
pub use suppress::{Reason, Suppressed, Suppressions};

/// The largest `action.payload`, in bytes of compact UTF-8 JSON.
pub const MAX_PAYLOAD_BYTES: usize = 4096;

/// The operators a condition's `op` takes, in the spec's order (the JSON
/// Schema's `operator` enum lists the same).
pub const OPERATORS: [&str; 12] = cond::Op::NAMES;

/// A validated trigger file.
#[derive(Debug, Clone)]
pub struct TriggerFile {
    source: String,
    triggers: Vec<model::Trigger>,
    limits: Option<model::Limits>,
}

/// Every mistake found in a trigger file; the file is rejected whole.
#[derive(Debug, Clone)]
pub struct ValidationErrors {
    /// Each mistake, in document order.
    pub errors: Vec<ValidationError>,
}

/// One mistake, `path: message` when displayed.
///
/// Convention: when the mistake lies inside a trigger whose `id` is a valid
/// id, the message ends with ` in trigger "<id>"` (and [`Self::trigger`]
/// holds the id), so that every line names both the path and the trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// What kind of mistake it is (a stable code for machines).
    pub kind: ValidationKind,
    /// Spec-style JSON path: `triggers[2].when.where[0].op`; `$` is the whole document.
    pub path: String,
    /// What is wrong, with a suggestion for near-misses.
    pub message: String,
    /// The id of the trigger the mistake is in, when it has a valid one.
    pub trigger: Option<String>,
}

/// The kinds of mistakes in a trigger file, each with a stable code (never
/// reused) that the relay returns beside the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ValidationKind {
    /// The document is not JSON at all.
    NotJson,
    /// A key the format does not have (with a suggestion for near-misses).
    UnknownKey,
    /// A required key is absent.
    MissingKey,
    /// A value of the wrong JSON type.
    WrongType,
    /// A string that must not be empty is.
    Empty,
    /// A number out of range (`version`, `at_least`, `max_per_user`).
    BadNumber,
    /// A duration that is not a whole number and a unit `s m h d`, or out of range.
    BadDuration,
    /// An `id` that is not `[a-z0-9-]{1,64}`.
    BadId,
    /// An `id` used by an earlier trigger.
    DuplicateId,
    /// Keys that exclude each other (`when` and `sequence`, `count` beside
    /// `sequence`, top-level `within` beside `when`).
    Conflict,
    /// Neither `when` nor `sequence`.
    NoRule,
    /// A `sequence` of fewer than two steps.
    TooFewSteps,
    /// A `$` event name that is not `$page`, `$click`, `$submit` or `$identify`.
    UnknownEvent,
    /// A property path with an empty segment.
    BadPath,
    /// An operator that does not exist.
    UnknownOperator,
    /// A condition value of a type its operator does not take (or `null`).
    BadValue,
    /// An `action.payload` over [`MAX_PAYLOAD_BYTES`].
    PayloadTooLarge,
    /// A `context` path the spec does not list.
    UnknownContextPath,
}

impl ValidationKind {
    /// The stable code.
    pub fn code(self) -> u16 {
        match self {
            ValidationKind::NotJson => 1,
            ValidationKind::UnknownKey => 2,
            ValidationKind::MissingKey => 3,
            ValidationKind::WrongType => 4,
            ValidationKind::Empty => 5,
            ValidationKind::BadNumber => 6,
            ValidationKind::BadDuration => 7,
            ValidationKind::BadId => 8,
            ValidationKind::DuplicateId => 9,
            ValidationKind::Conflict => 10,
            ValidationKind::NoRule => 11,
            ValidationKind::TooFewSteps => 12,
            ValidationKind::UnknownEvent => 13,
            ValidationKind::BadPath => 14,
            ValidationKind::UnknownOperator => 15,
            ValidationKind::BadValue => 16,
            ValidationKind::PayloadTooLarge => 17,
            ValidationKind::UnknownContextPath => 18,
        }
    }

    /// The stable snake_case name (`unknown_key`, `not_json`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ValidationKind::NotJson => "not_json",
            ValidationKind::UnknownKey => "unknown_key",
            ValidationKind::MissingKey => "missing_key",
            ValidationKind::WrongType => "wrong_type",
            ValidationKind::Empty => "empty",
            ValidationKind::BadNumber => "bad_number",
            ValidationKind::BadDuration => "bad_duration",
            ValidationKind::BadId => "bad_id",
            ValidationKind::DuplicateId => "duplicate_id",
            ValidationKind::Conflict => "conflict",
            ValidationKind::NoRule => "no_rule",
            ValidationKind::TooFewSteps => "too_few_steps",
            ValidationKind::UnknownEvent => "unknown_event",
            ValidationKind::BadPath => "bad_path",
            ValidationKind::UnknownOperator => "unknown_operator",
            ValidationKind::BadValue => "bad_value",
            ValidationKind::PayloadTooLarge => "payload_too_large",
            ValidationKind::UnknownContextPath => "unknown_context_path",
        }
    }
}

path_errors!(ValidationError, ValidationErrors);

impl TriggerFile {
    /// Parses and validates a trigger file.
    pub fn parse(json: &str) -> Result<TriggerFile, ValidationErrors> {
        let (triggers, limits) = validate::parse(json)?;
        Ok(TriggerFile {
            source: json.to_owned(),
            triggers,
            limits,
        })
    }

    /// The file's text, exactly as parsed.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// `limits` as `(max_firings, within ms)`, when the file has them.
    pub fn limits(&self) -> Option<(u32, u64)> {
        self.limits.map(|l| (l.max_firings, l.within))
    }

    /// How many triggers there are.
    pub fn len(&self) -> usize {
        self.triggers.len()
    }

    /// True when the file has no triggers.
    pub fn is_empty(&self) -> bool {
        self.triggers.is_empty()
    }

    /// The triggers, in file order.
    pub fn triggers(&self) -> impl ExactSizeIterator<Item = TriggerInfo<'_>> {
        self.triggers.iter().map(TriggerInfo::new)
    }

    /// The trigger ids, in file order, as the file shares them (with its
    /// firings and conversions).
    pub(crate) fn shared_ids(&self) -> impl ExactSizeIterator<Item = &Arc<str>> {
        self.triggers.iter().map(|t| &t.id)
    }

    /// The trigger ids, in file order.
    pub fn ids(&self) -> impl ExactSizeIterator<Item = &str> {
        self.triggers.iter().map(|t| &*t.id)
    }

    /// How many triggers of each kind the file holds.
    pub fn summary(&self) -> Summary {
        Summary::of(self.triggers())
    }

    /// A copy keeping only the triggers whose id `keep` accepts (for the CLI's
    /// `--trigger`).
    pub fn retain(&self, mut keep: impl FnMut(&str) -> bool) -> TriggerFile {
        TriggerFile {
            source: self.source.clone(),
            triggers: self
                .triggers
                .iter()
                .filter(|t| keep(&t.id))
                .cloned()
                .collect(),
            limits: self.limits,
        }
    }
}

/// One firing: what the relay pushes to the visitor's pages and appends to
/// the firing stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// Unique and deterministic (same log, same firings, same ids).
    pub firing_id: String,
    /// The trigger's `id` (shared with the running trigger file, as are
    /// the action's type and payload: a firing copies none of them).
    pub trigger_id: Arc<str>,
    /// The visitor's anonymous id (shared by the firings and conversions
    /// of one call).
    pub visitor: Arc<str>,
    /// When it fired, ms since the epoch (for `unless`: qualifying time + window).
    pub time: u64,
    /// `action.type`.
    pub action_type: Arc<str>,
    /// `action.payload`, compact JSON.
    pub payload: Arc<str>,
    /// True for a held-out firing (`holdout`): recorded in the firing
    /// stream, never delivered to a page.
    pub held_out: bool,
}

/// A goal conversion: the visitor did the `goal` event after the firing,
/// inside its window. Appended to the firing stream as a record of its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conversion {
    /// The id of the firing it converts.
    pub firing_id: String,
    /// The firing's trigger (shared with the running trigger file).
    pub trigger_id: Arc<str>,
    /// The visitor (shared like [`Firing::visitor`]).
    pub visitor: Arc<str>,
    /// The goal event's time, ms since the epoch.
    pub time: u64,
    /// Copied from the firing.
    pub held_out: bool,
}

/// A record of the firing stream: a firing (delivered or held out) or a
/// conversion.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// A firing; [`Firing::held_out`] says whether it was delivered.
    Fired(Firing),
    /// A goal conversion.
    Converted(Conversion),
}

impl Outcome {
    /// The firing, when it is one.
    pub fn firing(&self) -> Option<&Firing> {
        match self {
            Outcome::Fired(f) => Some(f),
            Outcome::Converted(_) => None,
        }
    }

    /// The record's kind as the exports name it: `firing`, `held_out` or
    /// `conversion`.
    pub fn kind(&self) -> &'static str {
        match self {
            Outcome::Fired(f) if f.held_out => "held_out",
            Outcome::Fired(_) => "firing",
            Outcome::Converted(_) => "conversion",
        }
    }

    /// The visitor.
    pub fn visitor(&self) -> &str {
        match self {
            Outcome::Fired(f) => &f.visitor,
            Outcome::Converted(c) => &c.visitor,
        }
    }

    /// The record's time (the firing's, or the goal event's).
    pub fn time(&self) -> u64 {
        match self {
            Outcome::Fired(f) => f.time,
            Outcome::Converted(c) => c.time,
        }
    }
}
