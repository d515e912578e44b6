//! The object's struct, apart because the `#[durable_object]` macro
//! generates undocumented glue around it.
#![allow(missing_docs)]

use broker_core::partition::Partition as Core;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use worker::{durable_object, Env, State};

/// The Durable Object class `Partition` (binding `PARTITION`).
#[durable_object]
pub struct Partition {
    pub(super) state: State,
    pub(super) env: Env,
    /// The opened core; `None` until first use.
    pub(super) core: RefCell<Option<Core>>,
    /// This object's partition number, once known.
    pub(super) number: Cell<Option<u32>>,
    /// The alarm time last read or set, so that most appends skip the
    /// storage round trip.
    pub(super) alarm_at: Cell<Option<u64>>,
    /// True while the alarm handler runs: the runtime may still report the
    /// alarm being run, so the next one is set without comparing.
    pub(super) in_alarm: Cell<bool>,
    /// True once this instance made sure the tables exist.
    pub(super) schema_ready: Cell<bool>,
    /// When the core's `poll_timeout` last ran (ms), to coalesce polls.
    pub(super) last_poll: Cell<u64>,
    /// The callers (roles) whose backtest is running here: one at a time each.
    pub(super) backtests: RefCell<HashSet<String>>,
    /// The last catalog built: (the event stream's end then, when, its JSON).
    pub(super) catalog: RefCell<Option<(u64, u64, String)>>,
}
