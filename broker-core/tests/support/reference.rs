//! A straightforward reference implementation of the trigger semantics,
//! independent of the engine: it reads the trigger JSON itself, keeps every
//! event of a visitor in memory and re-scans the history for each decision,
//! exactly as `docs/triggers.md` words it, outcomes included (goals,
//! holdouts, the cap, suppression reasons). Only the firing id derivation is
//! shared with the engine (it is a naming scheme, not a rule); the holdout
//! bucket is written out again from the spec's words.
//!
//! Shared by `broker-core/tests/trigger_corpus.rs` and the CLI's tests
//! (`#[path]`-included), with [`ref_events`], the corpus's parsed events as
//! the reference sees them. Assumes a valid file and per-visitor timestamps that
//! never go backwards (true of the reference corpus).

#![allow(dead_code)]

use broker_core::corpus::CorpusEvent;
use broker_core::event::map_to_json;
use serde_json::Value as J;
use std::collections::BTreeMap;

/// One event as the reference sees it.
#[derive(Debug, Clone)]
pub struct RefEvent {
    /// Log offset (the firing id derives from it).
    pub offset: u64,
    pub visitor: String,
    /// Trigger name: the track name or `$page`, `$click`, `$submit`, `$identify`.
    pub name: String,
    pub time: u64,
    /// Properties (traits for `$identify`).
    pub props: serde_json::Map<String, J>,
    /// The event's context under the spec's paths (`campaign.name`, ...).
    pub context: serde_json::Map<String, J>,
}

/// One firing, as the CLI prints it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RefFiring {
    pub time: u64,
    pub visitor: String,
    pub trigger: String,
    pub firing_id: String,
    pub action_type: String,
    pub payload: String,
    /// Held out (`holdout`): recorded, not delivered.
    pub held_out: bool,
}

/// One goal conversion.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct RefConversion {
    /// The goal event's time.
    pub time: u64,
    pub visitor: String,
    pub trigger: String,
    pub firing_id: String,
    pub held_out: bool,
}

/// Per trigger (by id), qualifications that did not fire, by the first
/// reason: `[audience, cooldown, max_per_user, global_cap, cancelled]`.
pub type RefSuppressions = BTreeMap<String, [u64; 5]>;

/// Everything the reference computes.
#[derive(Debug, Clone, Default)]
pub struct RefOutcomes {
    /// Firings, delivered and held out, sorted.
    pub firings: Vec<RefFiring>,
    /// Conversions, sorted.
    pub conversions: Vec<RefConversion>,
    pub suppressed: RefSuppressions,
}

pub fn reference_firings(triggers_json: &str, events: &[RefEvent]) -> Vec<RefFiring> {
    reference_outcomes(triggers_json, events).firings
}

pub fn reference_outcomes(triggers_json: &str, events: &[RefEvent]) -> RefOutcomes {
    let doc: J = serde_json::from_str(triggers_json).expect("valid JSON");
    let triggers = doc["triggers"].as_array().cloned().unwrap_or_default();
    let limits = doc.get("limits").map(|l| {
        (
            l["max_firings"].as_u64().expect("max_firings"),
            ms(&l["within"]),
        )
    });
    let mut by_visitor: BTreeMap<&str, Vec<&RefEvent>> = BTreeMap::new();
    for e in events {
        by_visitor.entry(&e.visitor).or_default().push(e);
    }
    let mut out = RefOutcomes::default();
    for t in &triggers {
        out.suppressed
            .insert(t["id"].as_str().expect("id").to_owned(), [0; 5]);
    }
    for (visitor, evs) in &by_visitor {
        visitor_outcomes(&triggers, limits, visitor, evs, &mut out);
    }
    out.firings.sort();
    out.conversions.sort();
    out
}

fn ms(d: &J) -> u64 {
    let s = d.as_str().expect("duration");
    let (n, u) = s.split_at(s.len() - 1);
    let n: u64 = n.parse().expect("number");
    n * match u {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => 86_400_000,
    }
}

/// FNV-1a 64 of the trigger id, a zero byte and the visitor, modulo 100:
/// written out again here from the spec's words.
fn bucket(trigger: &str, visitor: &str) -> u64 {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in trigger.bytes().chain([0]).chain(visitor.bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x100000001b3);
    }
    h % 100
}

/// A firing candidate of one trigger: `(after, phase, time, offset)`. It is
/// made after event `after` of the visitor (phase 0: that event's own
/// immediate firing; phase 1: a delayed firing due after every event stamped
/// no later than its time).
type Candidate = (usize, u8, u64, u64);

/// One visitor, every trigger: candidates of all triggers in the order the
/// spec makes firings, then audience, cooldown, max_per_user and the cap.
fn visitor_outcomes(
    triggers: &[J],
    limits: Option<(u64, u64)>,
    visitor: &str,
    evs: &[&RefEvent],
    out: &mut RefOutcomes,
) {
    // (after, phase, time, file index, offset)
    let mut all: Vec<(usize, u8, u64, usize, u64)> = Vec::new();
    for (ti, t) in triggers.iter().enumerate() {
        if t.get("enabled") == Some(&J::Bool(false)) {
            continue;
        }
        let (cands, cancelled) = candidates(t, evs);
        out.suppressed
            .get_mut(t["id"].as_str().expect("id"))
            .expect("id")[4] += cancelled;
        all.extend(cands.into_iter().map(|(a, p, time, o)| (a, p, time, ti, o)));
    }
    all.sort();
    let mut last: Vec<Option<u64>> = vec![None; triggers.len()];
    let mut count = vec![0u64; triggers.len()];
    let mut recent: Vec<u64> = Vec::new();
    for (known, _, time, ti, offset) in all {
        let t = &triggers[ti];
        let id = t["id"].as_str().expect("id");
        let mut traits = serde_json::Map::new();
        for e in &evs[..=known] {
            if e.name == "$identify" {
                for (k, v) in &e.props {
                    if v.is_null() {
                        traits.remove(k);
                    } else {
                        traits.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        let audience = t
            .get("audience")
            .and_then(J::as_array)
            .cloned()
            .unwrap_or_default();
        // A `context` condition reads the qualifying event's context.
        let qualifying = evs
            .iter()
            .find(|e| e.offset == offset)
            .expect("qualifying event");
        let reason = if !audience
            .iter()
            .all(|c| condition_holds(c, "trait", &traits, &qualifying.context))
        {
            Some(0)
        } else if t
            .get("cooldown")
            .map(ms)
            .zip(last[ti])
            .is_some_and(|(c, l)| time < l + c)
        {
            Some(1)
        } else if t
            .get("max_per_user")
            .and_then(J::as_u64)
            .is_some_and(|m| count[ti] >= m)
        {
            Some(2)
        } else if limits.is_some_and(|(max, w)| {
            recent
                .iter()
                .filter(|&&r| r + w >= time && r <= time)
                .count() as u64
                >= max
        }) {
            Some(3)
        } else {
            None
        };
        if let Some(r) = reason {
            out.suppressed.get_mut(id).expect("id")[r] += 1;
            continue;
        }
        last[ti] = Some(time);
        count[ti] += 1;
        recent.push(time);
        let held_out = bucket(id, visitor) < t.get("holdout").and_then(J::as_u64).unwrap_or(0);
        let firing_id = broker_core::trigger::firing_id(id, visitor, offset);
        if let Some(g) = t.get("goal") {
            let w = ms(&g["within"]);
            if let Some(e) = evs
                .iter()
                .find(|e| step_matches(g, e) && e.time > time && e.time <= time + w)
            {
                out.conversions.push(RefConversion {
                    time: e.time,
                    visitor: visitor.to_owned(),
                    trigger: id.to_owned(),
                    firing_id: firing_id.clone(),
                    held_out,
                });
            }
        }
        out.firings.push(RefFiring {
            time,
            visitor: visitor.to_owned(),
            trigger: id.to_owned(),
            firing_id,
            action_type: t["action"]["type"].as_str().expect("type").to_owned(),
            payload: t["action"]
                .get("payload")
                .map_or("{}".to_owned(), |p| p.to_string()),
            held_out,
        });
    }
}

/// A trigger's firing candidates for one visitor, and how many delayed
/// firings its `unless` step cancelled.
fn candidates(t: &J, evs: &[&RefEvent]) -> (Vec<Candidate>, u64) {
    // 1. Qualifying events, as (index into evs).
    let mut qualifying: Vec<usize> = Vec::new();
    if let Some(step) = t.get("when") {
        match t.get("count") {
            None => qualifying.extend((0..evs.len()).filter(|&i| step_matches(step, evs[i]))),
            Some(c) => {
                let n = c["at_least"].as_u64().expect("at_least") as usize;
                let w = ms(&c["within"]);
                let mut used = vec![false; evs.len()];
                for i in 0..evs.len() {
                    if !step_matches(step, evs[i]) {
                        continue;
                    }
                    let ti = evs[i].time;
                    let before: Vec<usize> = (0..i)
                        .filter(|&j| !used[j] && step_matches(step, evs[j]))
                        .filter(|&j| evs[j].time <= ti && evs[j].time + w >= ti)
                        .collect();
                    if before.len() + 1 >= n {
                        for j in before {
                            used[j] = true;
                        }
                        used[i] = true;
                        qualifying.push(i);
                    }
                }
            }
        }
    } else {
        let steps = t["sequence"].as_array().expect("sequence");
        let w = ms(&t["within"]);
        let last = steps.len() - 1;
        let mut boundary = 0; // events before this index are used up
        for i in 0..evs.len() {
            if !step_matches(&steps[last], evs[i]) {
                continue;
            }
            let chain = (boundary..i).any(|start| {
                if !step_matches(&steps[0], evs[start]) || evs[start].time + w < evs[i].time {
                    return false;
                }
                // Greedy: each further step on the earliest matching event after the previous.
                let mut at = start;
                for step in &steps[1..last] {
                    match (at + 1..i).find(|&j| step_matches(step, evs[j])) {
                        Some(j) => at = j,
                        None => return false,
                    }
                }
                true
            });
            if chain {
                qualifying.push(i);
                boundary = i + 1;
            }
        }
    }

    // 2. Firing candidates.
    let mut candidates = Vec::new();
    let mut cancelled = 0;
    for i in qualifying {
        let q = evs[i].time;
        match t.get("unless") {
            None => candidates.push((i, 0, q, evs[i].offset)),
            Some(u) => {
                let w = ms(&u["within"]);
                let cancel = (i + 1..evs.len())
                    .any(|j| step_matches(u, evs[j]) && evs[j].time > q && evs[j].time <= q + w);
                if cancel {
                    cancelled += 1;
                } else {
                    let d = q + w;
                    // Made after every event stamped no later than d.
                    let known = evs
                        .iter()
                        .take_while(|e| e.time <= d)
                        .count()
                        .saturating_sub(1);
                    candidates.push((known, 1, d, evs[i].offset));
                }
            }
        }
    }
    (candidates, cancelled)
}

fn step_matches(step: &J, e: &RefEvent) -> bool {
    step["event"].as_str() == Some(e.name.as_str())
        && step.get("where").and_then(J::as_array).is_none_or(|conds| {
            conds
                .iter()
                .all(|c| condition_holds(c, "prop", &e.props, &e.context))
        })
}

fn lookup<'a>(props: &'a serde_json::Map<String, J>, path: &str) -> Option<&'a J> {
    let mut segs = path.split('.');
    let mut v = props.get(segs.next()?)?;
    for s in segs {
        v = match v {
            J::Object(o) => o.get(s)?,
            J::Array(a) if s.bytes().all(|b| b.is_ascii_digit()) => {
                a.get(s.parse::<usize>().ok()?)?
            }
            _ => return None,
        };
    }
    (!v.is_null()).then_some(v)
}

fn same(a: &J, b: &J) -> bool {
    match (a, b) {
        (J::Number(x), J::Number(y)) => x.as_f64() == y.as_f64(),
        (J::Array(x), J::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(p, q)| same(p, q))
        }
        (J::Object(x), J::Object(y)) => {
            x.len() == y.len() && x.iter().all(|(k, v)| y.get(k).is_some_and(|w| same(v, w)))
        }
        _ => a == b,
    }
}

/// `subject` (`prop` or `trait`) reads `props`; `context` reads `context`.
fn condition_holds(
    c: &J,
    subject: &str,
    props: &serde_json::Map<String, J>,
    context: &serde_json::Map<String, J>,
) -> bool {
    let p = match c.get("context") {
        Some(path) => lookup(context, path.as_str().expect("path")),
        None => lookup(props, c[subject].as_str().expect("path")),
    };
    let v = &c["value"];
    let cmp = |p: &J| -> Option<std::cmp::Ordering> {
        match (p, v) {
            (J::Number(x), J::Number(y)) => x.as_f64()?.partial_cmp(&y.as_f64()?),
            (J::String(x), J::String(y)) => Some(x.cmp(y)),
            _ => None,
        }
    };
    use std::cmp::Ordering::*;
    match c["op"].as_str().expect("op") {
        "eq" => p.is_some_and(|p| same(p, v)),
        "ne" => !p.is_some_and(|p| same(p, v)),
        "gt" => p.and_then(cmp) == Some(Greater),
        "gte" => matches!(p.and_then(cmp), Some(Greater | Equal)),
        "lt" => p.and_then(cmp) == Some(Less),
        "lte" => matches!(p.and_then(cmp), Some(Less | Equal)),
        "in" => p.is_some_and(|p| v.as_array().is_some_and(|l| l.iter().any(|x| same(p, x)))),
        "not_in" => !p.is_some_and(|p| v.as_array().is_some_and(|l| l.iter().any(|x| same(p, x)))),
        "contains" => match (p, v) {
            (Some(J::String(s)), J::String(x)) => s.contains(x.as_str()),
            (Some(J::Array(l)), x) => l.iter().any(|y| same(y, x)),
            _ => false,
        },
        "starts_with" => {
            matches!((p, v), (Some(J::String(s)), J::String(x)) if s.starts_with(x.as_str()))
        }
        "ends_with" => {
            matches!((p, v), (Some(J::String(s)), J::String(x)) if s.ends_with(x.as_str()))
        }
        "exists" => p.is_some() == (v == &J::Bool(true)),
        other => panic!("unknown op {other}"),
    }
}

/// The reference's events, with the context the corpus README gives them,
/// written out from its words: a page call's `campaign` property is the
/// campaign of that call and of every later call of the visit.
pub fn ref_events(events: &[CorpusEvent]) -> Vec<RefEvent> {
    let mut campaign: std::collections::HashMap<&str, J> = Default::default();
    events
        .iter()
        .enumerate()
        .map(|(i, ce)| {
            let props = map_to_json(&ce.event.properties);
            if ce.event.trigger_name() == "$page" {
                if let Some(c) = props.get("campaign").filter(|c| c.is_object()) {
                    campaign.insert(&ce.visitor, c.clone());
                }
            }
            let mut context = serde_json::Map::new();
            if let Some(c) = campaign.get(ce.visitor.as_str()) {
                context.insert("campaign".into(), c.clone());
            }
            RefEvent {
                offset: i as u64,
                visitor: ce.visitor.clone(),
                name: ce.event.trigger_name().to_owned(),
                time: ce.event.timestamp,
                props,
                context,
            }
        })
        .collect()
}
