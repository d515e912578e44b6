//! `explain`: why a trigger did or did not fire for one visitor. The
//! visitor's events are replayed through a fresh [`Engine`] running the
//! whole file (the cap and the traits depend on every trigger), one event
//! per call, and after each the trace reads what changed for the one
//! trigger asked about: which of its steps the event matched and which
//! conditions held, how far its count or sequence got, and what it did
//! (fired, held out, suppressed and why, scheduled, cancelled, converted, or
//! nothing). The engine is the only judge: the trace reports its decisions
//! and reads its stored state, it does not re-implement the rules.

use super::cond::On;
use super::engine::Engine;
use super::model::{Rule, Step, Trigger};
use super::state::VisitorState;
use super::{Outcome, TriggerFile};
use crate::event::{Event, Map};
use crate::storage::{keys, MemoryStorage, Storage, StorageError, WriteBatch};
use serde_json::{json, Value as Json};

/// Why `explain` could not run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExplainError {
    /// The file has no trigger of that id.
    #[error("no trigger {id:?} in the active file")]
    UnknownTrigger {
        /// The id asked for.
        id: String,
    },
    /// The partition has no active trigger file.
    #[error("no trigger file is active")]
    NoTriggerFile,
    /// The in-memory store failed (it does not; the engine's API allows it).
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Replays `events` (one visitor's, in log order, each with its log offset
/// and its context view, `EventSource::context_view`) through `file` and
/// traces trigger `trigger`; delayed firings due by `now` fire at the end. Returns the trace as JSON:
/// `{"trigger", "visitor", "enabled", "held_out", "events": [...],
/// "other_events", "summary": {...}, "verdict"}` (docs/triggers.md).
pub fn explain(
    file: &TriggerFile,
    trigger: &str,
    visitor: &str,
    events: &[(u64, Event<'_>, Map<'_>)],
    now: u64,
) -> Result<Json, ExplainError> {
    let Some(tr) = file.triggers.iter().find(|t| &*t.id == trigger) else {
        return Err(ExplainError::UnknownTrigger {
            id: trigger.to_owned(),
        });
    };
    let mut engine = Engine::new(file.clone());
    engine.record_suppressions();
    let mut store = MemoryStorage::new();
    let mut trace = Vec::new();
    let mut other = 0u64;
    let mut summary = Summary::default();
    for (offset, e, ctx) in events {
        let mut w = WriteBatch::new();
        let one = std::slice::from_ref(e);
        let fired = engine.on_events_in(&store, &mut w, visitor, one, *offset, ctx)?;
        store.commit(w)?;
        let happened = what_happened(&mut engine, tr, fired, &mut summary);
        let steps = step_trace(tr, e, ctx);
        if steps.is_empty() && happened.is_empty() {
            other += 1;
            continue;
        }
        summary.matched += u64::from(!steps.is_empty());
        let state = progress(&store, tr, visitor, e.timestamp)?;
        let outcome = match happened.first() {
            Some(h) => h["what"].clone(),
            None if steps.iter().any(|s| s["matched"] == true) => json!("no qualification"),
            None => json!("conditions not met"),
        };
        trace.push(json!({
            "offset": offset,
            "time": e.timestamp,
            "event": e.trigger_name(),
            "steps": steps,
            "progress": state,
            "outcome": outcome,
            "results": happened,
        }));
    }
    let mut w = WriteBatch::new();
    let fired = engine.on_timeout(&store, &mut w, now)?;
    store.commit(w)?;
    let at_end = what_happened(&mut engine, tr, fired, &mut summary);
    let pending = progress(&store, tr, visitor, now)?;
    let held_out = tr.holdout > 0 && super::holdout_bucket(&tr.id, visitor) < tr.holdout;
    Ok(json!({
        "trigger": &*tr.id,
        "visitor": visitor,
        "enabled": tr.enabled,
        "held_out": held_out,
        "events": trace,
        "other_events": other,
        "at_end": {"now": now, "results": at_end, "progress": pending},
        "summary": summary.to_json(),
        "verdict": summary.verdict(tr),
    }))
}

/// Counts over the whole replay.
#[derive(Debug, Default)]
struct Summary {
    fired: u64,
    held_out: u64,
    converted: u64,
    suppressed: std::collections::BTreeMap<&'static str, u64>,
    matched: u64,
}

impl Summary {
    fn to_json(&self) -> Json {
        json!({"fired": self.fired, "held_out": self.held_out, "conversions": self.converted,
            "suppressed": self.suppressed, "events_named": self.matched})
    }

    /// One sentence a marketer reads first.
    fn verdict(&self, tr: &Trigger) -> String {
        let reasons = |s: &std::collections::BTreeMap<&str, u64>| {
            s.iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        if !tr.enabled {
            "the trigger is disabled: it never fires".to_owned()
        } else if self.fired + self.held_out > 0 {
            let mut s = format!(
                "fired {} time(s) ({} delivered, {} held out)",
                self.fired + self.held_out,
                self.fired,
                self.held_out
            );
            if !self.suppressed.is_empty() {
                s.push_str(&format!("; suppressed: {}", reasons(&self.suppressed)));
            }
            s
        } else if !self.suppressed.is_empty() {
            format!(
                "qualified but never fired; suppressed: {}",
                reasons(&self.suppressed)
            )
        } else if self.matched == 0 {
            "no event of this visitor is named by any step of the trigger".to_owned()
        } else {
            "never qualified: see each event's steps and progress".to_owned()
        }
    }
}

/// The trigger's firings, suppressions and conversions of the last call.
fn what_happened(
    engine: &mut Engine,
    tr: &Trigger,
    fired: Vec<super::Firing>,
    summary: &mut Summary,
) -> Vec<Json> {
    let mut out = Vec::new();
    for f in fired.iter().filter(|f| f.trigger_id == tr.id) {
        let what = if f.held_out { "held_out" } else { "fired" };
        if f.held_out {
            summary.held_out += 1;
        } else {
            summary.fired += 1;
        }
        out.push(json!({"what": what, "firing_id": f.firing_id, "time": f.time}));
    }
    for s in engine
        .take_suppressed()
        .into_iter()
        .filter(|s| *s.trigger_id == *tr.id)
    {
        let what = if s.reason == super::Reason::Cancelled {
            "cancelled"
        } else {
            "suppressed"
        };
        *summary.suppressed.entry(s.reason.name()).or_default() += 1;
        out.push(json!({"what": what, "reason": s.reason.name(), "time": s.time}));
    }
    for c in engine
        .take_conversions()
        .into_iter()
        .filter(|c| *c.trigger_id == *tr.id)
    {
        summary.converted += 1;
        let o = Outcome::Converted(c);
        out.push(json!({"what": "converted", "record": crate::export::outcome_to_json(&o)}));
    }
    out
}

/// Each step of the trigger that names `e`'s event, with each condition
/// on the event's properties or its context `ctx`.
fn step_trace(tr: &Trigger, e: &Event<'_>, ctx: &Map<'_>) -> Vec<Json> {
    let mut named: Vec<(String, &Step)> = match &tr.rule {
        Rule::When { step, .. } => vec![("when".to_owned(), step)],
        Rule::Sequence { steps, .. } => steps
            .iter()
            .enumerate()
            .map(|(i, s)| (format!("sequence[{i}]"), s))
            .collect(),
    };
    if let Some(u) = &tr.unless {
        named.push(("unless".to_owned(), &u.step));
    }
    if let Some(g) = &tr.goal {
        named.push(("goal".to_owned(), &g.step));
    }
    named
        .into_iter()
        .filter(|(_, s)| s.event == e.trigger_name())
        .map(|(name, s)| {
            let conditions: Vec<Json> = s
                .conditions
                .iter()
                .map(|c| {
                    let (subject, on) = match c.on {
                        On::Context => ("context", ctx),
                        _ => ("prop", &e.properties),
                    };
                    json!({
                        subject: c.path.text(),
                        "op": c.op.name(),
                        "value": Json::from(&c.value),
                        "actual": c.path.resolve(on).map(Json::from),
                        "held": c.holds_on(on),
                    })
                })
                .collect();
            let matched = conditions.iter().all(|c| c["held"] == true);
            json!({"step": name, "matched": matched, "conditions": conditions})
        })
        .collect()
}

/// The trigger's stored state for the visitor after a call: the count's
/// unused matches inside the window, the sequence's progress, pending
/// delayed firings, the cooldown and `max_per_user`.
fn progress(
    store: &MemoryStorage,
    tr: &Trigger,
    visitor: &str,
    t: u64,
) -> Result<Json, StorageError> {
    let key = keys::with_str(keys::VISITOR, visitor);
    let mut state = VisitorState::default();
    if let Some(raw) = store.get(&key)? {
        state.decode_into(&key, &raw, &mut Vec::new())?;
    }
    let s = state.triggers.iter().find(|s| s.key == tr.key);
    let mut out = serde_json::Map::new();
    match &tr.rule {
        Rule::When { count: Some(c), .. } => {
            let n = s.map_or(0, |s| {
                s.marks
                    .iter()
                    .filter(|&&m| m <= t && m.saturating_add(c.within) >= t)
                    .count()
            });
            out.insert(
                "count".into(),
                json!({"matches": n, "at_least": c.at_least}),
            );
        }
        Rule::Sequence { steps, within } => {
            // The furthest step a chain still inside the window has reached.
            let reached = s.map_or(0, |s| {
                s.progress
                    .iter()
                    .rposition(|p| p.is_some_and(|x| x.saturating_add(*within) >= t))
                    .map_or(0, |k| k + 1)
            });
            out.insert(
                "sequence".into(),
                json!({"steps_done": reached, "steps": steps.len()}),
            );
        }
        Rule::When { count: None, .. } => {}
    }
    if let Some(s) = s {
        if !s.pending.is_empty() {
            let due: Vec<u64> = s.pending.iter().map(|p| p.deadline).collect();
            out.insert("pending".into(), json!(due));
        }
        if let (Some(c), Some(f)) = (tr.cooldown, s.last_fired) {
            if t < f.saturating_add(c) {
                out.insert("cooldown_until".into(), json!(f.saturating_add(c)));
            }
        }
        if let Some(m) = tr.max_per_user {
            out.insert("fired".into(), json!({"count": s.fired, "max_per_user": m}));
        }
    }
    Ok(Json::Object(out))
}

#[cfg(test)]
mod tests;
