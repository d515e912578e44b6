//! Evaluation: one visitor's batch at a time, state through [`Storage`].
//!
//! Storage layout (prefixes from [`keys`]):
//! - `v` + visitor: the visitor's state, a format byte then postcard
//!   ([`VisitorState`]): traits, and per trigger (keyed by the hash of its
//!   canonical JSON) the unused `count` timestamps, the `sequence` progress,
//!   pending `unless` firings, the last firing time while a cooldown runs and
//!   the firing count when `max_per_user` is set; for outcomes, the times
//!   of the visitor's recent firings (`limits`) and its firings still open
//!   to a goal. Absent when empty.
//! - `w` + deadline (u64 BE) + visitor, empty value: at most one per visitor,
//!   at its earliest pending deadline, or (with nothing pending) when its
//!   state expires, rounded up to [`GC_GRANULARITY_MS`], so that idle
//!   visitors are forgotten. [`Engine::poll_timeout`] reads the first one.
//!
//! A batch that no trigger cares about (no event named by any step or
//! `unless`, no identify call) reads and writes nothing.

use super::cond::Memo;
use super::hash::{firing_id_after, firing_ids_after, hash64, holdout_bucket_after, WordHasher};
use super::model::{Limits, Rule, Step, Trigger};
use super::state::{OpenFiring, Pending, TriggerState, VisitorState};
use super::suppress::{Blocked, Counted, Logged, Reason, Suppressed, Suppressions, Tally};
use super::{Conversion, Firing, TriggerFile};
use crate::event::{Event, EventKind, Map, Value};
use crate::storage::{keys, Storage, StorageError, WriteBatch};
use std::borrow::Cow;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
use std::sync::Arc;

/// The engine for one partition. All durable state lives in storage.
///
/// Between two calls the caller must commit the [`WriteBatch`] the first one
/// filled: every call reads the state it changes from the store.
#[derive(Debug)]
pub struct Engine {
    file: TriggerFile,
    /// For each event name, the triggers that name it in a step of their
    /// rule or their `unless` (in file order).
    hooks: Vec<Vec<Hook>>,
    /// For each event name (the same places as `hooks`), the triggers whose
    /// goal names it: the goals an event of that name may meet (see
    /// [`convert_open`]).
    goals: Vec<Goals>,
    /// Event names to their list in `hooks`.
    by_name: HashMap<Box<str>, u32, BuildHasherDefault<WordHasher>>,
    /// The list of each reserved name (`$page`, ...) by [`EventKind`] code,
    /// `NONE` for none: most events are captured ones, found without
    /// hashing their name.
    by_kind: [u32; EventKind::ALL.len()],
    /// Triggers by state key, sorted by key (binary search: the keys are
    /// few, and already hashes).
    by_key: Vec<(u64, u32)>,
    /// Scratch for one call: trigger index -> position of its state in the
    /// loaded visitor state (`NONE` when it has none). Kept to avoid an
    /// allocation per call; all `NONE` between calls.
    pos: Vec<u32>,
    bufs: Buffers,
    memo: Memo,
    /// Qualifications that did not fire, per trigger in file order, since
    /// the engine was made (and each one, when recorded).
    suppressed: Tally,
    /// Conversions found since the last [`Engine::take_conversions`].
    conversions: Vec<Conversion>,
    /// Scratch for one call's firings until they are named (see [`Who`]).
    unnamed: Vec<(u64, u64)>,
    /// Scratch for one event's goal conversions (see [`convert_open`]).
    converted: Vec<(u32, OpenFiring)>,
}

/// The triggers whose goal names one event name.
#[derive(Debug, Default)]
struct Goals {
    /// `(trigger key, trigger index)`, sorted by key, then index.
    by_key: Vec<(u64, u32)>,
    /// Bit `key % 64` set for each of their keys: most of a visitor's open
    /// firings wait for another event, and a bit tells them apart before a
    /// search.
    keys: u64,
}

/// The visitor state buffers of the last call, emptied, for the next one:
/// most calls load a state, and reusing the vectors saves an allocation and
/// a free for each of them.
///
/// The last visitor's state stays decoded in them (`kept`): a visitor's
/// frames usually come one after the other, and the next call finds its
/// state without decoding it, once the stored bytes prove to be the ones
/// the last call saved (a commit that failed, or any other writer, makes
/// them differ, and the state is decoded as usual).
#[derive(Debug, Default)]
struct Buffers {
    scratch: Loaded,
    /// Emptied trigger states, their vectors' capacity kept for reuse.
    spare: Vec<TriggerState>,
    /// The visitor whose state `scratch` holds as it was saved (its
    /// encoding is `scratch.encoded[..len]`), when it does.
    kept: Option<usize>,
    kept_visitor: String,
}

const NONE: u32 = u32::MAX;

/// Expired state is forgotten at the next multiple of this after it expires.
const GC_GRANULARITY_MS: u64 = 5 * 60_000;

/// Which parts of one trigger an event name is named in, so that evaluation
/// never compares names again.
#[derive(Debug, Clone, Copy)]
struct Hook {
    trigger: u32,
    /// Bit `k`: step `k` of the rule, or the `unless` step after them,
    /// names the event (steps from 64 on compare names). The goal's step
    /// is not hooked: see [`Goals`].
    steps: u64,
}

impl Hook {
    #[inline]
    fn names(&self, k: usize, step: &Step, e: &Event<'_>) -> bool {
        if k < 64 {
            self.steps >> k & 1 == 1
        } else {
            step.event == e.trigger_name()
        }
    }
}

/// A visitor's state while a call works on it.
#[derive(Debug, Default)]
struct Loaded {
    key: Vec<u8>,
    raw: Option<Vec<u8>>,
    /// `state.triggers[j]` belongs to trigger `of[j]` of the file.
    state: VisitorState,
    of: Vec<u32>,
    /// `state.traits` parsed, once an audience needed them (`None` again
    /// when an identify call changes them).
    traits_map: Option<Map<'static>>,
    /// The state's encoding, when saved.
    encoded: Vec<u8>,
    /// The length of `encoded` when [`Engine::save`] put it (or found it
    /// unchanged); `None` when it deleted the state, or before it ran.
    saved: Option<usize>,
}

/// Trigger `ti`'s state in `Loaded { of, state.triggers }`, created empty
/// when it has none yet; `pos` maps trigger indexes to positions. (A function
/// of the fields, not a method, so the traits stay borrowable beside it.)
#[inline]
fn slot<'s>(
    pos: &mut [u32],
    spare: &mut Vec<TriggerState>,
    of: &mut Vec<u32>,
    states: &'s mut Vec<TriggerState>,
    ti: usize,
) -> &'s mut TriggerState {
    let mut j = pos[ti] as usize;
    if pos[ti] == NONE {
        j = of.len();
        pos[ti] = j as u32;
        of.push(ti as u32);
        states.push(spare.pop().unwrap_or_default());
    }
    &mut states[j]
}

impl Engine {
    /// An engine running `file`.
    pub fn new(mut file: TriggerFile) -> Engine {
        let memo = Memo::number(file.triggers.iter_mut().flat_map(Trigger::steps_mut));
        let mut by_name: HashMap<Box<str>, u32, BuildHasherDefault<WordHasher>> =
            HashMap::default();
        let mut hooks: Vec<Vec<Hook>> = Vec::new();
        let mut goals: Vec<Goals> = Vec::new();
        let mut by_key = Vec::with_capacity(file.triggers.len());
        // Disabled triggers are evaluated too: `enabled` is checked at the
        // moment of firing, like audience and cooldown.
        for (i, t) in file.triggers.iter().enumerate() {
            let i = i as u32;
            by_key.push((t.key, i));
            let goal = t.goal.as_ref().map(|_| t.goal_step());
            for (k, step) in t.steps().enumerate() {
                let at = *by_name
                    .entry(step.event.as_str().into())
                    .or_insert_with(|| {
                        hooks.push(Vec::new());
                        goals.push(Goals::default());
                        hooks.len() as u32 - 1
                    });
                if goal == Some(k) {
                    // Goals are met apart from the hooks' work.
                    let g = &mut goals[at as usize];
                    g.by_key.push((t.key, i));
                    g.keys |= 1 << (t.key % 64);
                    continue;
                }
                let list = &mut hooks[at as usize];
                if list.last().map(|h| h.trigger) != Some(i) {
                    list.push(Hook {
                        trigger: i,
                        steps: 0,
                    });
                }
                if let Some(h) = list.last_mut().filter(|_| k < 64) {
                    h.steps |= 1 << k;
                }
            }
        }
        for g in &mut goals {
            g.by_key.sort_unstable();
        }
        // Equal keys (a file repeating a trigger) resolve to the last one.
        by_key.reverse();
        by_key.sort_by_key(|&(k, _)| k);
        by_key.dedup_by_key(|&mut (k, _)| k);
        // A track event named like a reserved one (`$page`) still finds
        // its hooks by name.
        let by_kind = EventKind::ALL.map(|k| match k.reserved_name() {
            Some(n) => by_name.get(n).copied().unwrap_or(NONE),
            None => NONE,
        });
        Engine {
            pos: vec![NONE; file.triggers.len()],
            suppressed: Tally {
                per: vec![Suppressions::default(); file.triggers.len()],
                log: None,
                carried: Vec::new(),
            },
            conversions: Vec::new(),
            unnamed: Vec::new(),
            converted: Vec::new(),
            file,
            hooks,
            goals,
            by_name,
            by_kind,
            by_key,
            bufs: Buffers::default(),
            memo,
        }
    }

    /// The running trigger file.
    pub fn file(&self) -> &TriggerFile {
        &self.file
    }

    /// Qualifications that did not fire, per trigger in file order, counted
    /// since this engine was made (a backtest's figures; the live relay's
    /// counters are per time bucket, kept by its driver).
    pub fn suppressions(&self) -> &[Suppressions] {
        &self.suppressed.per
    }

    /// Records each suppression from now on, for [`Engine::take_suppressed`]
    /// (the partition keeps counters per minute from them, and from the
    /// firings and conversions recorded with them).
    pub fn record_suppressions(&mut self) {
        self.suppressed.log.get_or_insert_with(Vec::new);
    }

    /// The suppressions recorded since the last take (none unless
    /// [`Engine::record_suppressions`] was called).
    pub fn take_suppressed(&mut self) -> Vec<Suppressed> {
        self.suppressed.take(&self.file)
    }

    /// What was recorded since the last take or clear: the suppressions,
    /// firings and conversions by trigger index, in the order they
    /// happened; and the suppressions recorded under a file since replaced,
    /// by id. Then [`Engine::clear_suppressed`].
    pub(crate) fn recorded(&self) -> (&[Logged], &[Suppressed]) {
        let log = self.suppressed.log.as_deref().unwrap_or_default();
        (log, &self.suppressed.carried)
    }

    /// Forgets what was recorded (read through [`Engine::recorded`]).
    pub(crate) fn clear_suppressed(&mut self) {
        self.suppressed.clear();
    }

    /// The goal conversions found by the calls since the last take, in the
    /// order found. The caller appends them to the firing stream after the
    /// call's firings, in the same commit as the call's state.
    pub fn take_conversions(&mut self) -> Vec<Conversion> {
        std::mem::take(&mut self.conversions)
    }

    /// Runs `file` from now on: triggers whose definition did not change keep
    /// their state; the state of removed or changed ones is dropped from every
    /// visitor (with their pending firings and wake-ups).
    pub fn replace<S: Storage>(
        &mut self,
        file: TriggerFile,
        store: &S,
        writes: &mut WriteBatch,
    ) -> Result<(), StorageError> {
        // Recorded suppressions not yet taken keep their ids: their
        // indexes are the old file's.
        let recording = self.suppressed.log.is_some();
        let carried = self.take_suppressed();
        *self = Engine::new(file);
        if recording {
            self.record_suppressions();
        }
        self.suppressed.carried = carried;
        let end = keys::prefix_end(&[keys::VISITOR]);
        let mut start = vec![keys::VISITOR];
        loop {
            let chunk = store.scan(&start, &end, 512)?;
            let Some((last, _)) = chunk.last() else { break };
            start = last.clone();
            start.push(0);
            for (key, raw) in chunk {
                let visitor = String::from_utf8_lossy(&key[1..]).into_owned();
                let mut l = self.bufs.take_empty();
                l.key = key;
                l.raw = Some(raw);
                self.bufs.decode(&self.by_key, &mut l)?;
                // Time 0 prunes nothing: only the definitions changed, not the clock.
                self.save(writes, &visitor, &mut l, 0);
                self.bufs.recycle(l, &visitor);
            }
        }
        Ok(())
    }

    /// Evaluates a batch of one visitor's events, in order; event `i` sits at
    /// log offset `base_offset + i`. Reads state from `store`, puts the new
    /// state into `writes` (the caller commits it with the log append).
    /// The events have no context: see [`Engine::on_events_in`].
    pub fn on_events<S: Storage>(
        &mut self,
        store: &S,
        writes: &mut WriteBatch,
        visitor: &str,
        events: &[Event<'_>],
        base_offset: u64,
    ) -> Result<Vec<Firing>, StorageError> {
        self.on_events_in(store, writes, visitor, events, base_offset, &Vec::new())
    }

    /// [`Engine::on_events`] for events that share the context `ctx` (their
    /// frame's, under the spec's context paths: see
    /// [`crate::context::context_map`]), which `context` conditions read.
    /// With `bot: true` in it, only triggers with `include_bots` see the
    /// events.
    pub fn on_events_in<S: Storage>(
        &mut self,
        store: &S,
        writes: &mut WriteBatch,
        visitor: &str,
        events: &[Event<'_>],
        base_offset: u64,
        ctx: &Map<'_>,
    ) -> Result<Vec<Firing>, StorageError> {
        // Most calls fire (seven frames in ten with the bench triggers, six
        // firings each): room for eight saves the reallocation from four.
        let mut out = Vec::with_capacity(8);
        self.on_events_into(store, writes, visitor, (events, base_offset), ctx, &mut out)?;
        Ok(out)
    }

    /// [`Engine::on_events_in`], pushing the firings to `out` (the
    /// partition keeps that vector from one append to the next).
    pub(crate) fn on_events_into<S: Storage>(
        &mut self,
        store: &S,
        writes: &mut WriteBatch,
        visitor: &str,
        (events, base_offset): (&[Event<'_>], u64),
        ctx: &Map<'_>,
        out: &mut Vec<Firing>,
    ) -> Result<(), StorageError> {
        let bot = ctx
            .iter()
            .any(|(k, v)| k == "bot" && matches!(v, Value::Bool(true)));
        // The state is read at the first event some trigger cares about; a
        // batch of events no trigger names (and no identify call) reads and
        // writes nothing. Delayed firings due before the skipped events fire
        // at the next relevant event, or from `on_timeout`, at the same time.
        let mut loaded: Option<Loaded> = None;
        let mut who = Who::new(visitor, &mut self.unnamed);
        let named = out.len();
        let mut next_due = u64::MAX;
        let mut newest = 0;
        for (i, e) in events.iter().enumerate() {
            let t = e.timestamp;
            newest = newest.max(t);
            let list = match e.kind {
                EventKind::Track => self.by_name.get(&*e.name).copied(),
                kind => Some(self.by_kind[kind.code() as usize]),
            };
            let hooks = list.and_then(|at| self.hooks.get(at as usize));
            if hooks.is_none() && e.kind != EventKind::Identify {
                continue;
            }
            let l = match &mut loaded {
                Some(l) => l,
                None => {
                    let l = loaded.insert(self.bufs.load(&self.by_key, store, visitor)?);
                    for (j, &ti) in l.of.iter().enumerate() {
                        self.pos[ti as usize] = j as u32;
                    }
                    next_due = min_deadline(&l.state.triggers);
                    l
                }
            };
            if next_due < t {
                fire_due(
                    &self.file,
                    &mut self.suppressed,
                    l,
                    &mut who,
                    |d| d < t,
                    out,
                );
                next_due = min_deadline(&l.state.triggers);
            }
            if e.kind == EventKind::Identify {
                merge_traits(&mut l.state.traits, &e.properties);
                l.traits_map = None;
            }
            let Some(hooks) = hooks else { continue };
            self.memo.next_event();
            let offset = base_offset.saturating_add(i as u64);
            if !l.state.open.is_empty() {
                let goals = list.and_then(|at| self.goals.get(at as usize));
                if let Some(goals) = goals.filter(|g| g.keys != 0) {
                    convert_open(
                        &self.file,
                        goals,
                        (e, ctx, t, bot),
                        &mut self.memo,
                        &mut l.state.open,
                        &mut who,
                        (
                            &mut self.converted,
                            &mut self.conversions,
                            &mut self.suppressed,
                        ),
                    );
                }
            }
            for hook in hooks {
                let ti = hook.trigger as usize;
                let tr = &self.file.triggers[ti];
                if bot && !tr.include_bots {
                    continue;
                }
                if self.pos[ti] == NONE && !starts(tr, hook, e, ctx, &mut self.memo) {
                    // No state yet and nothing to start one: the event
                    // changes nothing (there is nothing to cancel or
                    // advance), so no empty state is made for it.
                    continue;
                }
                let slot = slot(
                    &mut self.pos,
                    &mut self.bufs.spare,
                    &mut l.of,
                    &mut l.state.triggers,
                    ti,
                );
                let pending = slot.pending.len();
                let qualified = advance(tr, hook, slot, e, ctx, &mut self.memo, t);
                // `advance` only removes pending firings: cancellations.
                let cancelled = pending - slot.pending.len();
                if cancelled > 0 && tr.enabled {
                    let n = cancelled as u64;
                    self.suppressed.count(ti, Reason::Cancelled, t, n);
                }
                if !qualified {
                    continue;
                }
                // The audience's context conditions read the qualifying
                // event's context, also for a firing that comes later.
                let audience_ok = tr.audience_context.iter().all(|c| c.holds_on(ctx));
                match &tr.unless {
                    Some(u) => {
                        let deadline = t.saturating_add(u.within);
                        slot.pending.push(Pending {
                            deadline,
                            offset,
                            audience_ok,
                        });
                        next_due = next_due.min(deadline);
                    }
                    None => {
                        let v = Visit {
                            traits: &l.state.traits,
                            parsed: &mut l.traits_map,
                            recent: &mut l.state.recent,
                            open: &mut l.state.open,
                            limits: self.file.limits,
                        };
                        match fire(tr, slot, v, &mut who, (t, offset), audience_ok) {
                            Ok(f) => {
                                self.suppressed.fired(ti, &f, &mut who);
                                out.push(f);
                            }
                            Err(why) => self.suppressed.blocked(ti, why, t),
                        }
                    }
                }
            }
        }
        who.name_firings(&mut out[named..]);
        let Some(mut l) = loaded else {
            return Ok(());
        };
        for &ti in &l.of {
            self.pos[ti as usize] = NONE;
        }
        self.save(writes, visitor, &mut l, newest);
        self.bufs.recycle(l, visitor);
        Ok(())
    }

    /// Fires every delayed firing due at or before `now`, and forgets state
    /// that has expired by `now`.
    pub fn on_timeout<S: Storage>(
        &mut self,
        store: &S,
        writes: &mut WriteBatch,
        now: u64,
    ) -> Result<Vec<Firing>, StorageError> {
        let start = [keys::WAKEUP];
        let end = match now.checked_add(1) {
            Some(n) => keys::with_u64(keys::WAKEUP, n),
            None => keys::prefix_end(&start),
        };
        let mut out = Vec::new();
        for (wkey, _) in store.scan(&start, &end, usize::MAX)? {
            let parsed = wkey
                .get(1..9)
                .and_then(|d| <[u8; 8]>::try_from(d).ok())
                .map(u64::from_be_bytes)
                .zip(std::str::from_utf8(&wkey[9.min(wkey.len())..]).ok());
            let Some((deadline, visitor)) = parsed else {
                writes.delete(wkey);
                continue;
            };
            let mut l = self.bufs.load(&self.by_key, store, visitor)?;
            if l.state.wake != Some(deadline) {
                // A wake-up the state does not know: left over, drop it.
                self.bufs.recycle(l, visitor);
                writes.delete(wkey);
                continue;
            }
            let named = out.len();
            let mut who = Who::new(visitor, &mut self.unnamed);
            fire_due(
                &self.file,
                &mut self.suppressed,
                &mut l,
                &mut who,
                |d| d <= now,
                &mut out,
            );
            who.name_firings(&mut out[named..]);
            self.save(writes, visitor, &mut l, now);
            self.bufs.recycle(l, visitor);
        }
        Ok(out)
    }

    /// The earliest time `on_timeout` has work to do.
    pub fn poll_timeout<S: Storage>(&self, store: &S) -> Result<Option<u64>, StorageError> {
        let first = store.scan(&[keys::WAKEUP], &keys::prefix_end(&[keys::WAKEUP]), 1)?;
        Ok(first.first().and_then(|(k, _)| {
            k.get(1..9)
                .and_then(|d| <[u8; 8]>::try_from(d).ok())
                .map(u64::from_be_bytes)
        }))
    }

    /// Prunes what `now` has made useless, then writes the state and its
    /// wake-up (or deletes them when nothing is left).
    fn save(&self, writes: &mut WriteBatch, visitor: &str, l: &mut Loaded, now: u64) {
        l.saved = None;
        let mut pending_min: Option<u64> = None;
        let mut expiry: Option<u64> = None;
        let mut later = |at: u64| expiry = Some(expiry.map_or(at, |e: u64| e.max(at)));
        for (&ti, s) in l.of.iter().zip(l.state.triggers.iter_mut()) {
            let tr = &self.file.triggers[ti as usize];
            match &tr.rule {
                Rule::When { count: Some(c), .. } => {
                    s.marks.retain(|m| m.saturating_add(c.within) >= now);
                    if let Some(m) = s.marks.iter().max() {
                        later(m.saturating_add(c.within).saturating_add(1));
                    }
                }
                Rule::Sequence { within, .. } => {
                    for p in s.progress.iter_mut() {
                        match *p {
                            Some(x) if x.saturating_add(*within) < now => *p = None,
                            Some(x) => later(x.saturating_add(*within).saturating_add(1)),
                            None => {}
                        }
                    }
                    if s.progress.iter().all(Option::is_none) {
                        s.progress.clear();
                    }
                }
                Rule::When { count: None, .. } => {}
            }
            match (tr.cooldown, s.last_fired) {
                (Some(c), Some(f)) if f.saturating_add(c) > now => later(f.saturating_add(c)),
                _ => s.last_fired = None,
            }
            if tr.max_per_user.is_none() {
                s.fired = 0;
            }
            for p in &s.pending {
                pending_min = Some(pending_min.map_or(p.deadline, |m| m.min(p.deadline)));
            }
            s.key = tr.key;
        }
        match self.file.limits {
            Some(lim) => {
                l.state
                    .recent
                    .retain(|r| r.saturating_add(lim.within) >= now);
                if let Some(r) = l.state.recent.iter().max() {
                    later(r.saturating_add(lim.within).saturating_add(1));
                }
            }
            None => l.state.recent.clear(),
        }
        let goal_within = |key: u64| {
            let at = self.by_key.binary_search_by_key(&key, |&(k, _)| k).ok()?;
            let tr = &self.file.triggers[self.by_key[at].1 as usize];
            tr.goal.as_ref().map(|g| g.within)
        };
        l.state.open.retain(|o| {
            let end = goal_within(o.key).map(|w| o.time.saturating_add(w));
            match end {
                Some(end) if end >= now => {
                    later(end.saturating_add(1));
                    true
                }
                _ => false,
            }
        });
        // Clean-up wake-ups need no precision: rounding them up keeps the
        // wake-up key (a delete and a put) from changing with every batch.
        let expiry = expiry.map(|e| {
            e.div_ceil(GC_GRANULARITY_MS)
                .saturating_mul(GC_GRANULARITY_MS)
        });
        let wake = pending_min.or(expiry);
        if l.state.wake != wake {
            if let Some(old) = l.state.wake {
                writes.delete(wake_key(old, visitor));
            }
            if let Some(new) = wake {
                writes.put(wake_key(new, visitor), Vec::new());
            }
            l.state.wake = wake;
        }
        if l.state.is_empty() {
            if l.raw.is_some() {
                writes.delete(std::mem::take(&mut l.key));
            }
            return;
        }
        // Empty trigger states are left out of the encoding. Encoded into
        // the reused buffer (sized for the worst case), then copied out at
        // its length only when it changed.
        let n = l.state.encode_into(&mut l.encoded);
        let bytes = &l.encoded[..n];
        if l.raw.as_deref() != Some(bytes) {
            writes.put(std::mem::take(&mut l.key), bytes);
        }
        l.saved = Some(n);
    }
}

impl Buffers {
    /// The visitor's state, in the scratch buffers (the caller hands them
    /// back through [`Buffers::recycle`]).
    fn load<S: Storage>(
        &mut self,
        by_key: &[(u64, u32)],
        store: &S,
        visitor: &str,
    ) -> Result<Loaded, StorageError> {
        let key = keys::with_str(keys::VISITOR, visitor);
        let raw = store.get(&key)?;
        if let Some(n) = self.kept {
            if self.kept_visitor == visitor && raw.as_deref() == Some(&self.scratch.encoded[..n]) {
                // The state the last call saved, still decoded.
                self.kept = None;
                let mut l = std::mem::take(&mut self.scratch);
                l.key = key;
                l.raw = raw;
                #[cfg(debug_assertions)]
                self.check_kept(by_key, &l);
                return Ok(l);
            }
        }
        let mut l = self.take_empty();
        l.key = key;
        l.raw = raw;
        self.decode(by_key, &mut l)?;
        Ok(l)
    }

    /// In debug builds (the tests): a kept state is what decoding its
    /// stored bytes gives.
    #[cfg(debug_assertions)]
    fn check_kept(&self, by_key: &[(u64, u32)], l: &Loaded) {
        let mut fresh = Buffers::default();
        let mut d = Loaded {
            key: l.key.clone(),
            raw: l.raw.clone(),
            ..Loaded::default()
        };
        fresh.decode(by_key, &mut d).expect("a kept state decodes");
        assert_eq!((&d.state, &d.of), (&l.state, &l.of), "kept state");
    }

    /// The scratch buffers, emptied (of the kept state, if any).
    fn take_empty(&mut self) -> Loaded {
        let mut l = std::mem::take(&mut self.scratch);
        if self.kept.take().is_some() {
            self.empty(&mut l);
        }
        l
    }

    /// Decodes `l.raw` into the empty `l`, keeping the states of the
    /// triggers in `by_key`.
    fn decode(&mut self, by_key: &[(u64, u32)], l: &mut Loaded) -> Result<(), StorageError> {
        if let Some(raw) = &l.raw {
            l.state.decode_into(&l.key, raw, &mut self.spare)?;
        }
        // State of triggers no longer in the file (or changed) is dropped
        // here; the others keep their order.
        let mut kept = 0;
        for j in 0..l.state.triggers.len() {
            let key = l.state.triggers[j].key;
            if let Ok(at) = by_key.binary_search_by_key(&key, |&(k, _)| k) {
                l.of.push(by_key[at].1);
                if kept != j {
                    l.state.triggers.swap(kept, j);
                }
                kept += 1;
            }
        }
        for mut t in l.state.triggers.drain(kept..) {
            t.clear();
            self.spare.push(t);
        }
        l.state
            .open
            .retain(|o| by_key.binary_search_by_key(&o.key, |&(k, _)| k).is_ok());
        Ok(())
    }

    /// Hands `l`, `visitor`'s state, back for the next call: kept as it is
    /// when it was saved (without its empty trigger states, which the
    /// encoding leaves out), emptied otherwise.
    fn recycle(&mut self, mut l: Loaded, visitor: &str) {
        if let Some(n) = l.saved.take() {
            let mut kept = 0;
            for j in 0..l.state.triggers.len() {
                if l.state.triggers[j].is_empty() {
                    continue;
                }
                // Most states are kept where they are: a swap with itself
                // still moves the whole state twice.
                if kept != j {
                    l.state.triggers.swap(kept, j);
                    l.of.swap(kept, j);
                }
                kept += 1;
            }
            l.of.truncate(kept);
            for mut t in l.state.triggers.drain(kept..) {
                t.clear();
                self.spare.push(t);
            }
            l.raw = None;
            self.kept = Some(n);
            self.kept_visitor.clear();
            self.kept_visitor.push_str(visitor);
            self.scratch = l;
            return;
        }
        self.empty(&mut l);
        self.scratch = l;
    }

    /// Empties `l`, its trigger states into `spare`.
    fn empty(&mut self, l: &mut Loaded) {
        for mut t in l.state.triggers.drain(..) {
            // A vector that once grew large is not kept around.
            if t.marks.capacity() > 64 || t.pending.capacity() > 64 {
                continue;
            }
            t.clear();
            self.spare.push(t);
        }
        l.state.traits.clear();
        l.state.wake = None;
        l.state.recent.clear();
        l.state.open.clear();
        l.of.clear();
        l.raw = None;
        l.traits_map = None;
        l.saved = None;
        if l.encoded.capacity() > 1 << 16 {
            l.encoded = Vec::new();
        }
    }
}

/// Fires the pending firings of `l` whose deadline `due` accepts, in
/// deadline order (then file order, then offset), counting the ones that
/// are blocked.
fn fire_due(
    file: &TriggerFile,
    suppressed: &mut Tally,
    l: &mut Loaded,
    visitor: &mut Who<'_>,
    due: impl Fn(u64) -> bool,
    out: &mut Vec<Firing>,
) {
    let mut ready: Vec<(u64, u32, u64, bool)> = Vec::new();
    for (&ti, s) in l.of.iter().zip(l.state.triggers.iter_mut()) {
        s.pending.retain(|p| {
            let go = due(p.deadline);
            if go {
                ready.push((p.deadline, ti, p.offset, p.audience_ok));
            }
            !go
        });
    }
    ready.sort_unstable();
    for (deadline, ti, offset, audience_ok) in ready {
        let tr = &file.triggers[ti as usize];
        let Some(j) = l.of.iter().position(|&x| x == ti) else {
            continue;
        };
        let v = Visit {
            traits: &l.state.traits,
            parsed: &mut l.traits_map,
            recent: &mut l.state.recent,
            open: &mut l.state.open,
            limits: file.limits,
        };
        let at = (deadline, offset);
        match fire(tr, &mut l.state.triggers[j], v, visitor, at, audience_ok) {
            Ok(f) => {
                suppressed.fired(ti as usize, &f, visitor);
                out.push(f);
            }
            Err(why) => suppressed.blocked(ti as usize, why, deadline),
        }
    }
}

fn wake_key(deadline: u64, visitor: &str) -> Vec<u8> {
    keys::with_u64_then(keys::WAKEUP, deadline, visitor.as_bytes())
}

fn min_deadline(slots: &[TriggerState]) -> u64 {
    slots
        .iter()
        .flat_map(|s| s.pending.iter().map(|p| p.deadline))
        .min()
        .unwrap_or(u64::MAX)
}

/// Whether `e` matches the step that starts the trigger's state: the `when`
/// step, or a sequence's first step. Without state, an event that does not
/// leaves it empty.
#[inline]
fn starts(tr: &Trigger, hook: &Hook, e: &Event<'_>, ctx: &Map<'_>, memo: &mut Memo) -> bool {
    let first = match &tr.rule {
        Rule::When { step, .. } => step,
        Rule::Sequence { steps, .. } => &steps[0],
    };
    hook.names(0, first, e) && first.holds(e, ctx, memo)
}

/// Applies event `e` at time `t` to one trigger's state; true when it
/// qualifies. `hook` says which steps name the event.
///
/// Always inlined: it runs for most hooks (seven per event with the bench
/// triggers), and a call's prologue and epilogue were 2% of an append.
#[inline(always)]
fn advance(
    tr: &Trigger,
    hook: &Hook,
    s: &mut TriggerState,
    e: &Event<'_>,
    ctx: &Map<'_>,
    memo: &mut Memo,
    t: u64,
) -> bool {
    let n = match &tr.rule {
        Rule::When { .. } => 1,
        Rule::Sequence { steps, .. } => steps.len(),
    };
    if let Some(u) = &tr.unless {
        if hook.names(n, &u.step, e) && u.step.holds(e, ctx, memo) {
            // Cancels firings qualified strictly before `t` whose window still covers `t`.
            s.pending
                .retain(|p| !(p.deadline.saturating_sub(u.within) < t && t <= p.deadline));
        }
    }
    match &tr.rule {
        Rule::When { step, count } => {
            if !(hook.names(0, step, e) && step.holds(e, ctx, memo)) {
                return false;
            }
            let Some(c) = count else { return true };
            s.marks.retain(|m| m.saturating_add(c.within) >= t);
            let inside = s.marks.iter().filter(|m| **m <= t).count() + 1;
            if inside >= c.at_least as usize {
                // The events that made the qualification are used up.
                s.marks.retain(|m| *m > t);
                true
            } else {
                s.marks.push(t);
                false
            }
        }
        Rule::Sequence { steps, within } => {
            // A macro rather than a closure: the closure was not inlined,
            // and this runs a few times per event.
            macro_rules! step_matches {
                ($k:expr) => {{
                    let k = $k;
                    hook.names(k, &steps[k], e) && steps[k].holds(e, ctx, memo)
                }};
            }
            if s.progress.len() != n - 1 {
                s.progress.resize(n - 1, None);
            }
            for p in s.progress.iter_mut() {
                if p.is_some_and(|x| x.saturating_add(*within) < t) {
                    *p = None;
                }
            }
            if s.progress[n - 2].is_some() && step_matches!(n - 1) {
                // Events up to the qualifying one are used up.
                s.progress.iter_mut().for_each(|p| *p = None);
                return true;
            }
            // Later steps first, so one event never serves two steps of a chain.
            for k in (1..n - 1).rev() {
                if let Some(start) = s.progress[k - 1] {
                    if step_matches!(k) {
                        s.progress[k] = Some(s.progress[k].map_or(start, |x| x.max(start)));
                    }
                }
            }
            if step_matches!(0) {
                s.progress[0] = Some(s.progress[0].map_or(t, |x| x.max(t)));
            }
            false
        }
    }
}

/// The visitor a call works on: its id, the copy of it that the firings
/// and conversions of the call share (made at the first), its hash for
/// the counters' distinct visitors (made at the first firing recorded), and
/// the firings made for it that have no id yet.
struct Who<'a> {
    id: &'a str,
    shared: Option<Arc<str>>,
    hash: Option<u64>,
    /// `(id seed, offset)` of each firing [`fire`] made since the last
    /// [`Who::name_firings`], in the order made: their ids are hashed
    /// together ([`firing_ids_after`]). The engine's vector, emptied.
    unnamed: &'a mut Vec<(u64, u64)>,
}

impl<'a> Who<'a> {
    fn new(id: &'a str, unnamed: &'a mut Vec<(u64, u64)>) -> Who<'a> {
        unnamed.clear();
        Who {
            id,
            shared: None,
            hash: None,
            unnamed,
        }
    }

    /// Gives the firings made since the last call their ids: `firings`
    /// are those firings, in the order made.
    fn name_firings(&mut self, firings: &mut [Firing]) {
        debug_assert_eq!(firings.len(), self.unnamed.len(), "unnamed firings");
        firing_ids_after(self.id, self.unnamed, |i, id| {
            if let Some(f) = firings.get_mut(i) {
                f.firing_id = id;
            }
        });
        self.unnamed.clear();
    }

    fn shared(&mut self) -> Arc<str> {
        let id = self.id;
        self.shared.get_or_insert_with(|| Arc::from(id)).clone()
    }

    fn hash(&mut self) -> u64 {
        let id = self.id;
        *self.hash.get_or_insert_with(|| hash64(id.as_bytes()))
    }
}

impl Tally {
    /// Records firing `f` of trigger `ti`, made for `who`.
    #[inline]
    fn fired(&mut self, ti: usize, f: &Firing, who: &mut Who<'_>) {
        if !self.recording() {
            return;
        }
        let what = match f.held_out {
            true => Counted::HeldOut,
            false => Counted::Fired(who.hash()),
        };
        self.record(ti, f.time, what, 1);
    }
}

/// The visitor-wide parts of a state that a firing reads or changes.
struct Visit<'a> {
    traits: &'a [(String, String)],
    /// `traits` parsed, once an audience needed them.
    parsed: &'a mut Option<Map<'static>>,
    /// Recent firing times, for `limits`.
    recent: &'a mut Vec<u64>,
    /// Firings waiting for their goal.
    open: &'a mut Vec<OpenFiring>,
    limits: Option<Limits>,
}

/// Converts the open firings that event `e` (at `t`, its context `ctx`,
/// `bot` when the visitor is a bot) converts: made strictly before `t`,
/// with `t` inside the window of their trigger's goal, which `e` meets.
/// Each is taken out of `open`, recorded in `tally` and given as a
/// [`Conversion`] in `out`, in file order of their triggers, then in
/// `open`'s order. `goals` are the triggers whose goal names the event: the
/// first in file order that converts a firing takes it (a file repeating a
/// trigger has its key twice). `hits` is scratch.
///
/// One pass over `open`, each firing looking its trigger up among the
/// event's goals, where each goal used to pass over all of the visitor's
/// open firings: with a goal on each of the 50 bench triggers, an event
/// meets up to a dozen goals and a visitor has a dozen open firings. Done
/// before the event's hooks run, which changes nothing they see: a firing
/// made at this event (time `t`) is never one an event at `t` converts, and
/// only conversions read `open`. (In `tally`, the event's conversions come
/// before its firings and suppressions; the counters add them up.)
fn convert_open(
    file: &TriggerFile,
    goals: &Goals,
    (e, ctx, t, bot): (&Event<'_>, &Map<'_>, u64, bool),
    memo: &mut Memo,
    open: &mut Vec<OpenFiring>,
    visitor: &mut Who<'_>,
    (hits, out, tally): (
        &mut Vec<(u32, OpenFiring)>,
        &mut Vec<Conversion>,
        &mut Tally,
    ),
) {
    let converts = |o: &OpenFiring, memo: &mut Memo| {
        let by_key = &goals.by_key;
        let from = by_key.partition_point(|&(key, _)| key < o.key);
        for &(_, ti) in by_key[from..].iter().take_while(|&&(key, _)| key == o.key) {
            let tr = &file.triggers[ti as usize];
            let Some(g) = &tr.goal else { continue };
            if (!bot || tr.include_bots)
                && o.time < t
                && t <= o.time.saturating_add(g.within)
                && g.step.holds(e, ctx, memo)
            {
                return Some(ti);
            }
        }
        None
    };
    hits.clear();
    // Most open firings wait for another event (their key's bit is not
    // among the goals'), and most events convert none: a firing is moved
    // out only when converted.
    let mut kept = 0;
    for i in 0..open.len() {
        let o = open[i];
        let ti = match goals.keys >> (o.key % 64) & 1 {
            0 => None,
            _ => converts(&o, memo),
        };
        match ti {
            Some(ti) => hits.push((ti, o)),
            None => {
                if kept != i {
                    open[kept] = o;
                }
                kept += 1;
            }
        }
    }
    if hits.is_empty() {
        return;
    }
    open.truncate(kept);
    // Stable: each trigger's conversions in the open firings' order.
    hits.sort_by_key(|&(ti, _)| ti);
    for (ti, o) in hits.iter() {
        let tr = &file.triggers[*ti as usize];
        let what = match o.held_out {
            true => Counted::HeldOutConverted,
            false => Counted::Converted,
        };
        tally.record(*ti as usize, t, what, 1);
        out.push(Conversion {
            firing_id: firing_id_after(tr.id_seed, visitor.id, o.offset),
            trigger_id: tr.id.clone(),
            visitor: visitor.shared(),
            time: t,
            held_out: o.held_out,
        });
    }
}

/// Fires if the trigger is enabled and audience, cooldown, `max_per_user`
/// and the file's `limits` allow it at `time`; otherwise says the first
/// reason (in the spec's order) that blocked it. A firing for a visitor in
/// the trigger's holdout is made the same way, with `held_out` set.
/// `(time, offset)`: when it fires and the log offset of the qualifying
/// event; `audience_ok`: whether the audience's context conditions held on
/// that event. The firing's id is empty until the caller names the call's
/// firings together ([`Who::name_firings`]).
///
/// Always inlined (with the bench triggers, three events in four qualify
/// somewhere): 0.7% of an append was the call.
#[inline(always)]
fn fire(
    tr: &Trigger,
    s: &mut TriggerState,
    v: Visit<'_>,
    visitor: &mut Who<'_>,
    (time, offset): (u64, u64),
    audience_ok: bool,
) -> Result<Firing, Blocked> {
    let (traits, parsed) = (v.traits, v.parsed);
    if !tr.enabled {
        return Err(Blocked::Disabled);
    }
    if !audience_ok {
        return Err(Blocked::Audience);
    }
    if !tr.audience.is_empty() {
        let map = parsed.get_or_insert_with(|| traits_map(traits));
        if !tr.audience.iter().all(|c| c.holds_on(map)) {
            return Err(Blocked::Audience);
        }
    }
    if let (Some(c), Some(f)) = (tr.cooldown, s.last_fired) {
        if time < f.saturating_add(c) {
            return Err(Blocked::Cooldown);
        }
    }
    if tr.max_per_user.is_some_and(|m| s.fired >= m) {
        return Err(Blocked::MaxPerUser);
    }
    if let Some(lim) = v.limits {
        let from = time.saturating_sub(lim.within);
        let n = v.recent.iter().filter(|&&r| from <= r && r <= time).count();
        if n >= lim.max_firings as usize {
            return Err(Blocked::GlobalCap);
        }
        v.recent.push(time);
    }
    let held_out = tr.holdout > 0 && holdout_bucket_after(tr.holdout_seed, visitor.id) < tr.holdout;
    if tr.goal.is_some() {
        v.open.push(OpenFiring {
            key: tr.key,
            offset,
            time,
            held_out,
        });
    }
    s.last_fired = Some(time);
    s.fired = s.fired.saturating_add(1);
    // Named with the call's other firings, when the call ends.
    visitor.unnamed.push((tr.id_seed, offset));
    Ok(Firing {
        firing_id: String::new(),
        trigger_id: tr.id.clone(),
        visitor: visitor.shared(),
        time,
        action_type: tr.action_type.clone(),
        payload: tr.payload.clone(),
        held_out,
    })
}

fn traits_map(traits: &[(String, String)]) -> Map<'static> {
    traits
        .iter()
        .filter_map(|(k, v)| {
            let j: serde_json::Value = serde_json::from_str(v).ok()?;
            Some((Cow::Owned(k.clone()), Value::from(&j)))
        })
        .collect()
}

/// Merges an identify call's traits, key by key; `null` removes a trait.
fn merge_traits(traits: &mut Vec<(String, String)>, props: &Map<'_>) {
    for (k, v) in props {
        let pos = traits.iter().position(|(name, _)| name == k);
        match (v, pos) {
            (Value::Null, Some(i)) => {
                traits.remove(i);
            }
            (Value::Null, None) => {}
            (v, Some(i)) => traits[i].1 = serde_json::Value::from(v).to_string(),
            (v, None) => traits.push((k.to_string(), serde_json::Value::from(v).to_string())),
        }
    }
}
