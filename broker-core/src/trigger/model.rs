//! Validated triggers, as the engine evaluates them.

use super::cond::{Condition, Memo, On};
use crate::event::{Event, Map};
use std::sync::Arc;

/// One step: an event name and the conditions on its properties.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    pub event: String,
    pub conditions: Vec<Condition>,
}

impl Step {
    /// True when every condition holds on `e` (its name is checked apart)
    /// and its context `ctx`, `memo` holding the results on `e` so far.
    #[inline]
    pub fn holds(&self, e: &Event<'_>, ctx: &Map<'_>, memo: &mut Memo) -> bool {
        self.conditions.iter().all(|c| {
            let on = if c.on == On::Context {
                ctx
            } else {
                &e.properties
            };
            memo.holds(c, on)
        })
    }
}

/// What makes an event qualify.
#[derive(Debug, Clone)]
pub(crate) enum Rule {
    /// Every matching event qualifies, or (with `count`) every `at_least`-th
    /// inside the window.
    When { step: Step, count: Option<Count> },
    /// The last step's event qualifies when the chain fits in `within` ms.
    Sequence { steps: Vec<Step>, within: u64 },
}

/// `count`: `at_least` matching events within `within` ms.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Count {
    pub at_least: u32,
    pub within: u64,
}

/// `unless`: cancels a delayed firing when `step` happens within `within` ms.
#[derive(Debug, Clone)]
pub(crate) struct Unless {
    pub step: Step,
    pub within: u64,
}

/// `goal`: a firing at F converts at the first event matching `step` in
/// `(F, F + within]`.
#[derive(Debug, Clone)]
pub(crate) struct Goal {
    pub step: Step,
    pub within: u64,
}

/// The file's top-level `limits`: at most `max_firings` firings (delivered
/// or held out, of any trigger) per visitor in any `[t - within, t]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_firings: u32,
    pub within: u64,
}

/// The largest `holdout` percentage.
pub(crate) const MAX_HOLDOUT: u64 = 50;

/// One validated trigger.
#[derive(Debug, Clone)]
pub(crate) struct Trigger {
    pub id: Arc<str>,
    pub description: Option<String>,
    pub enabled: bool,
    pub rule: Rule,
    pub unless: Option<Unless>,
    /// Conditions on the visitor's traits, checked at the moment of firing.
    pub audience: Vec<Condition>,
    /// The audience's conditions on the qualifying event's context (kept
    /// apart: checked when the trigger qualifies, remembered for a
    /// delayed firing).
    pub audience_context: Vec<Condition>,
    /// `include_bots`: events whose context says `bot: true` count too.
    pub include_bots: bool,
    pub cooldown: Option<u64>,
    pub max_per_user: Option<u32>,
    /// `goal`, if any.
    pub goal: Option<Goal>,
    /// `holdout`: percentage of visitors held out, 0 to [`MAX_HOLDOUT`].
    pub holdout: u8,
    pub action_type: Arc<str>,
    /// Compact JSON.
    pub payload: Arc<str>,
    /// Hash of the trigger's canonical JSON: the key of its per-visitor state,
    /// so that a changed definition starts afresh.
    pub key: u64,
    /// The hash state of its firing ids after the trigger id (see
    /// `engine::firing_id`), computed once.
    pub id_seed: u64,
    /// The hash state of its holdout buckets after the trigger id (see
    /// `hash::holdout_bucket`), computed once.
    pub holdout_seed: u64,
}

impl Trigger {
    /// Every step whose event can change this trigger's state: the rule's,
    /// then `unless`'s, then `goal`'s.
    pub fn steps(&self) -> impl Iterator<Item = &Step> {
        let rule: &[Step] = match &self.rule {
            Rule::When { step, .. } => std::slice::from_ref(step),
            Rule::Sequence { steps, .. } => steps,
        };
        rule.iter()
            .chain(self.unless.as_ref().map(|u| &u.step))
            .chain(self.goal.as_ref().map(|g| &g.step))
    }

    /// How many steps the rule has (`unless` is step `n`, `goal` the one after).
    pub fn rule_steps(&self) -> usize {
        match &self.rule {
            Rule::When { .. } => 1,
            Rule::Sequence { steps, .. } => steps.len(),
        }
    }

    /// The index of the `goal` step in [`Trigger::steps`].
    pub fn goal_step(&self) -> usize {
        self.rule_steps() + usize::from(self.unless.is_some())
    }

    /// [`Trigger::steps`], mutable.
    pub fn steps_mut(&mut self) -> impl Iterator<Item = &mut Step> {
        let rule: &mut [Step] = match &mut self.rule {
            Rule::When { step, .. } => std::slice::from_mut(step),
            Rule::Sequence { steps, .. } => steps,
        };
        rule.iter_mut()
            .chain(self.unless.as_mut().map(|u| &mut u.step))
            .chain(self.goal.as_mut().map(|g| &mut g.step))
    }
}

/// The kind of a trigger, as `triggers check` summarises it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TriggerKind {
    /// `when` alone: every matching event.
    When,
    /// `when` with `count`.
    Count,
    /// `sequence`.
    Sequence,
}

/// A read-only view of one validated trigger.
#[derive(Debug, Clone, Copy)]
pub struct TriggerInfo<'a> {
    t: &'a Trigger,
}

impl<'a> TriggerInfo<'a> {
    pub(crate) fn new(t: &'a Trigger) -> Self {
        TriggerInfo { t }
    }
    /// `id`.
    pub fn id(&self) -> &'a str {
        &self.t.id
    }
    /// `description`, if given.
    pub fn description(&self) -> Option<&'a str> {
        self.t.description.as_deref()
    }
    /// `enabled` (default true).
    pub fn enabled(&self) -> bool {
        self.t.enabled
    }
    /// When, count or sequence.
    pub fn kind(&self) -> TriggerKind {
        match &self.t.rule {
            Rule::When { count: None, .. } => TriggerKind::When,
            Rule::When { count: Some(_), .. } => TriggerKind::Count,
            Rule::Sequence { .. } => TriggerKind::Sequence,
        }
    }
    /// True when the trigger has an `unless` (its firings are delayed).
    pub fn has_unless(&self) -> bool {
        self.t.unless.is_some()
    }
    /// True when the trigger has `audience` conditions.
    pub fn has_audience(&self) -> bool {
        !self.t.audience.is_empty()
    }
    /// `goal.within` in ms, when the trigger has a goal.
    pub fn goal_within(&self) -> Option<u64> {
        self.t.goal.as_ref().map(|g| g.within)
    }
    /// `goal.event`, when the trigger has a goal.
    pub fn goal_event(&self) -> Option<&'a str> {
        self.t.goal.as_ref().map(|g| g.step.event.as_str())
    }
    /// `holdout`, the percentage of visitors held out (0 without one).
    pub fn holdout(&self) -> u8 {
        self.t.holdout
    }
    /// `action.type`.
    pub fn action_type(&self) -> &'a str {
        &self.t.action_type
    }
    /// `action.payload`, compact JSON.
    pub fn payload(&self) -> &'a str {
        &self.t.payload
    }
}

/// How many triggers of each kind a file holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Summary {
    /// All triggers.
    pub total: usize,
    /// Those with `enabled: false`.
    pub disabled: usize,
    /// `when` without `count`.
    pub when: usize,
    /// `when` with `count`.
    pub count: usize,
    /// `sequence`.
    pub sequence: usize,
    /// Those with `unless` (of any kind above).
    pub unless: usize,
    /// Those with `audience`.
    pub audience: usize,
}

impl Summary {
    pub(crate) fn of<'a>(ts: impl Iterator<Item = TriggerInfo<'a>>) -> Summary {
        let mut s = Summary::default();
        for t in ts {
            s.total += 1;
            s.disabled += usize::from(!t.enabled());
            match t.kind() {
                TriggerKind::When => s.when += 1,
                TriggerKind::Count => s.count += 1,
                TriggerKind::Sequence => s.sequence += 1,
            }
            s.unless += usize::from(t.has_unless());
            s.audience += usize::from(t.has_audience());
        }
        s
    }
}

impl std::fmt::Display for Summary {
    /// `5 triggers: 2 when, 1 count, 2 sequence; 1 with unless, 1 with audience, 0 disabled`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let plural = if self.total == 1 { "" } else { "s" };
        write!(
            f,
            "{} trigger{plural}: {} when, {} count, {} sequence; {} with unless, {} with audience, {} disabled",
            self.total, self.when, self.count, self.sequence, self.unless, self.audience, self.disabled
        )
    }
}
