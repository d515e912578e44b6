//! The trigger engine: marketers' JSON triggers (`shared/spec/triggers.md`)
//! evaluated deterministically over a partition's events.
//!
//! STUB: owned by the trigger engine work; the signatures below are the
//! contract the partition driver and the CLI build against.

use crate::event::Event;
use crate::storage::{Storage, StorageError, WriteBatch};

/// A validated trigger file.
#[derive(Debug, Clone)]
pub struct TriggerFile {}

/// Every mistake found in a trigger file; the file is rejected whole.
#[derive(Debug, Clone)]
pub struct ValidationErrors {
    /// Each mistake, in document order.
    pub errors: Vec<ValidationError>,
}

/// One mistake, `path: message` when displayed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    /// Spec-style JSON path: `triggers[2].when.where[0].op`.
    pub path: String,
    /// What is wrong, with a suggestion for near-misses.
    pub message: String,
}

impl TriggerFile {
    /// Parses and validates a trigger file.
    pub fn parse(_json: &str) -> Result<TriggerFile, ValidationErrors> {
        todo!()
    }
}

/// One firing: what the relay pushes to the visitor's pages and appends to
/// the firing stream.
#[derive(Debug, Clone, PartialEq)]
pub struct Firing {
    /// Unique and deterministic (same log, same firings, same ids).
    pub firing_id: String,
    /// The trigger's `id`.
    pub trigger_id: String,
    /// The visitor's anonymous id.
    pub visitor: String,
    /// When it fired, ms since the epoch (for `unless`: qualifying time + window).
    pub time: u64,
    /// `action.type`.
    pub action_type: String,
    /// `action.payload`, compact JSON.
    pub payload: String,
}

/// The engine for one partition. All durable state lives in storage.
#[derive(Debug)]
pub struct Engine {}

impl Engine {
    /// An engine running `file`.
    pub fn new(_file: TriggerFile) -> Engine {
        todo!()
    }

    /// Evaluates a batch of one visitor's events, in order; event `i` sits at
    /// log offset `base_offset + i`. Reads state from `store`, puts the new
    /// state into `writes` (the caller commits it with the log append).
    pub fn on_events<S: Storage>(
        &mut self,
        _store: &S,
        _writes: &mut WriteBatch,
        _visitor: &str,
        _events: &[Event<'_>],
        _base_offset: u64,
    ) -> Result<Vec<Firing>, StorageError> {
        todo!()
    }

    /// Fires every delayed firing due at or before `now`.
    pub fn on_timeout<S: Storage>(
        &mut self,
        _store: &S,
        _writes: &mut WriteBatch,
        _now: u64,
    ) -> Result<Vec<Firing>, StorageError> {
        todo!()
    }

    /// The earliest time `on_timeout` has work to do.
    pub fn poll_timeout<S: Storage>(&self, _store: &S) -> Result<Option<u64>, StorageError> {
        todo!()
    }
}
