//! An engine over an in-memory store, committing after every call: the
//! harness of the trigger tables (`trigger_semantics`, `trigger_outcomes`),
//! which add their own views of what it keeps.

#![allow(dead_code)]

use broker_core::trigger::{Conversion, Engine, Firing, TriggerFile};
use broker_core::{Event, MemoryStorage, Storage, WriteBatch};

pub(crate) struct Harness {
    pub(crate) engine: Engine,
    pub(crate) store: MemoryStorage,
    /// The log offset of the next event sent.
    pub(crate) offset: u64,
    /// Every firing so far, in order.
    pub(crate) firings: Vec<Firing>,
    /// Every conversion so far, in order.
    pub(crate) conversions: Vec<Conversion>,
}

impl Harness {
    pub(crate) fn over(file: TriggerFile) -> Harness {
        Harness {
            engine: Engine::new(file),
            store: MemoryStorage::new(),
            offset: 0,
            firings: Vec::new(),
            conversions: Vec::new(),
        }
    }

    /// `events` of `visitor` as one batch at the next offsets, committed;
    /// returns its firings.
    pub(crate) fn send(&mut self, visitor: &str, events: &[Event<'static>]) -> Vec<Firing> {
        let mut w = WriteBatch::new();
        let f = self
            .engine
            .on_events(&self.store, &mut w, visitor, events, self.offset)
            .expect("eval");
        self.offset += events.len() as u64;
        self.store.commit(w).expect("commit");
        self.conversions.extend(self.engine.take_conversions());
        self.firings.extend(f.iter().cloned());
        f
    }

    /// Each of `events` as a batch of its own; every firing, in order.
    pub(crate) fn each(&mut self, visitor: &str, events: &[Event<'static>]) -> Vec<Firing> {
        events
            .iter()
            .flat_map(|e| self.send(visitor, std::slice::from_ref(e)))
            .collect()
    }

    /// The delayed firings due at `now`, committed.
    pub(crate) fn wake(&mut self, now: u64) -> Vec<Firing> {
        let mut w = WriteBatch::new();
        let f = self
            .engine
            .on_timeout(&self.store, &mut w, now)
            .expect("timeout");
        self.store.commit(w).expect("commit");
        self.firings.extend(f.iter().cloned());
        f
    }

    /// The engine restarted over the same store (its state is all stored).
    pub(crate) fn restart(&mut self) {
        self.engine = Engine::new(self.engine.file().clone());
    }
}
