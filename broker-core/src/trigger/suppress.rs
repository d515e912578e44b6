//! Why triggers that qualified did not fire: the spec's suppression
//! reasons, counted per trigger and, when asked, recorded one by one with
//! their time (the partition's per-minute counters are kept from them).

use super::TriggerFile;

/// How many times a trigger qualified but did not fire, by the first reason
/// that applied (the spec's order: audience, cooldown, `max_per_user`,
/// `global_cap`), and how many delayed firings its `unless` step cancelled.
/// A disabled trigger counts none.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Suppressions {
    /// The visitor's traits failed the audience.
    pub audience: u64,
    /// The trigger fired for the visitor less than `cooldown` before.
    pub cooldown: u64,
    /// The visitor had reached `max_per_user`.
    pub max_per_user: u64,
    /// The visitor had reached the file's `limits` (`max_firings` within
    /// `within`, all triggers together).
    pub global_cap: u64,
    /// A scheduled delayed firing was cancelled by its `unless` step.
    pub cancelled: u64,
}

impl Suppressions {
    /// Adds `other`'s counts.
    pub fn add(&mut self, other: &Suppressions) {
        self.audience += other.audience;
        self.cooldown += other.cooldown;
        self.max_per_user += other.max_per_user;
        self.global_cap += other.global_cap;
        self.cancelled += other.cancelled;
    }

    /// The sum of every reason.
    pub fn total(&self) -> u64 {
        self.audience + self.cooldown + self.max_per_user + self.global_cap + self.cancelled
    }
}

/// Why a trigger that qualified did not fire (the spec's suppression
/// reasons).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Reason {
    /// The visitor's traits failed the audience.
    Audience,
    /// Inside the trigger's cooldown.
    Cooldown,
    /// `max_per_user` reached.
    MaxPerUser,
    /// The file's `limits` reached.
    GlobalCap,
    /// A delayed firing cancelled by its `unless` step.
    Cancelled,
}

impl Reason {
    /// Every reason, in the spec's order.
    pub const ALL: [Reason; 5] = [
        Reason::Audience,
        Reason::Cooldown,
        Reason::MaxPerUser,
        Reason::GlobalCap,
        Reason::Cancelled,
    ];

    /// The stable snake_case name (`audience`, `global_cap`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Reason::Audience => "audience",
            Reason::Cooldown => "cooldown",
            Reason::MaxPerUser => "max_per_user",
            Reason::GlobalCap => "global_cap",
            Reason::Cancelled => "cancelled",
        }
    }
}

/// One suppression, as recorded when [`Engine::record_suppressions`](super::Engine::record_suppressions) is on:
/// the partition's per-minute counters are kept from these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Suppressed {
    /// The trigger's id.
    pub trigger_id: String,
    /// When: the firing's time (a delayed firing's due time), or for
    /// `cancelled` the cancelling event's.
    pub time: u64,
    /// Why.
    pub reason: Reason,
}

impl Suppressions {
    /// Adds `n` suppressions for `reason`.
    pub fn add_reason(&mut self, reason: Reason, n: u64) {
        match reason {
            Reason::Audience => self.audience += n,
            Reason::Cooldown => self.cooldown += n,
            Reason::MaxPerUser => self.max_per_user += n,
            Reason::GlobalCap => self.global_cap += n,
            Reason::Cancelled => self.cancelled += n,
        }
    }
}

/// Suppression counts per trigger, and when recorded, each suppression,
/// firing and conversion (what the partition's counters add up).
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub per: Vec<Suppressions>,
    /// Recorded suppressions, firings and conversions, by trigger index:
    /// the id is copied only when a suppression is taken as [`Suppressed`]
    /// (the partition's counters name the trigger by its index; a copy or a
    /// lookup per outcome cost more than counting it).
    pub log: Option<Vec<Logged>>,
    /// Recorded suppressions of a trigger file since replaced, whose
    /// indexes no longer hold.
    pub carried: Vec<Suppressed>,
}

/// `n` times `what` of trigger `trigger` (its index in the file) at
/// `time`, recorded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Logged {
    pub trigger: u32,
    pub time: u64,
    pub what: Counted,
    pub n: u64,
}

/// What a [`Logged`] record counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Counted {
    /// A qualification that did not fire.
    Suppressed(Reason),
    /// A firing delivered to the visitor whose hash (`stats`' visitor
    /// hash) this is.
    Fired(u64),
    /// A held-out firing.
    HeldOut,
    /// A conversion of a delivered firing.
    Converted,
    /// A conversion of a held-out firing.
    HeldOutConverted,
}

impl Tally {
    pub fn count(&mut self, ti: usize, reason: Reason, time: u64, n: u64) {
        self.per[ti].add_reason(reason, n);
        self.record(ti, time, Counted::Suppressed(reason), n);
    }

    /// Records `n` times `what` of trigger `ti` at `time`, when recording.
    #[inline]
    pub fn record(&mut self, ti: usize, time: u64, what: Counted, n: u64) {
        if let Some(log) = &mut self.log {
            log.push(Logged {
                trigger: ti as u32,
                time,
                what,
                n,
            });
        }
    }

    /// True when [`Tally::record`] keeps what it is given.
    #[inline]
    pub fn recording(&self) -> bool {
        self.log.is_some()
    }

    /// The recorded suppressions, one [`Suppressed`] each, emptied (with
    /// the rest of the record).
    pub fn take(&mut self, file: &TriggerFile) -> Vec<Suppressed> {
        let mut out = std::mem::take(&mut self.carried);
        for l in self.log.iter_mut().flat_map(|log| log.drain(..)) {
            let Counted::Suppressed(reason) = l.what else {
                continue;
            };
            let trigger_id = &file.triggers[l.trigger as usize].id;
            for _ in 0..l.n {
                out.push(Suppressed {
                    trigger_id: trigger_id.to_string(),
                    time: l.time,
                    reason,
                });
            }
        }
        out
    }

    /// Empties the record.
    pub fn clear(&mut self) {
        self.carried.clear();
        if let Some(log) = &mut self.log {
            log.clear();
        }
    }

    pub fn blocked(&mut self, ti: usize, why: Blocked, time: u64) {
        let reason = match why {
            Blocked::Disabled => return,
            Blocked::Audience => Reason::Audience,
            Blocked::Cooldown => Reason::Cooldown,
            Blocked::MaxPerUser => Reason::MaxPerUser,
            Blocked::GlobalCap => Reason::GlobalCap,
        };
        self.count(ti, reason, time, 1);
    }
}

/// Why the engine's `fire` did not fire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Blocked {
    Disabled,
    Audience,
    Cooldown,
    MaxPerUser,
    GlobalCap,
}

#[cfg(test)]
mod tests {
    use crate::trigger::{Engine, Reason, TriggerFile};
    use crate::{Event, EventKind, MemoryStorage, WriteBatch};

    fn file(id: &str) -> TriggerFile {
        TriggerFile::parse(&format!(
            r#"{{"version": 1, "triggers": [{{"id": "{id}", "when": {{"event": "$page"}},
                "max_per_user": 1, "action": {{"type": "banner"}}}}]}}"#
        ))
        .expect("valid")
    }

    /// Suppressions are recorded by trigger index; those not yet taken when
    /// the file is replaced keep the id of the file they happened under
    /// (and the firing recorded with them is not taken as one).
    #[test]
    fn recorded_suppressions_keep_their_ids_across_a_replace() {
        let mut engine = Engine::new(file("old"));
        engine.record_suppressions();
        let store = MemoryStorage::new();
        let page = Event {
            kind: EventKind::Page,
            name: "Home".into(),
            timestamp: 1_000,
            properties: vec![],
        };
        let events = [page.clone(), page.clone(), page];
        let fired = engine
            .on_events(&store, &mut WriteBatch::new(), "v", &events, 0)
            .expect("runs");
        assert_eq!(fired.len(), 1);
        engine
            .replace(file("new"), &store, &mut WriteBatch::new())
            .expect("replaces");
        let (logged, carried) = engine.recorded();
        assert!(logged.is_empty(), "indexes of the old file: {logged:?}");
        let recorded: Vec<_> = carried
            .iter()
            .map(|s| (s.trigger_id.as_str(), s.time, s.reason))
            .collect();
        let one = ("old", 1_000, Reason::MaxPerUser);
        assert_eq!(recorded, vec![one, one]);
        let taken = engine.take_suppressed();
        assert_eq!(taken.len(), 2);
        assert!(taken.iter().all(|s| s.trigger_id == "old"));
        let (logged, carried) = engine.recorded();
        assert_eq!((logged.len(), carried.len()), (0, 0));
    }
}
