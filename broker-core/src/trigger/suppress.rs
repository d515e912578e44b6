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

/// Suppression counts per trigger, and each suppression when recorded.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    pub per: Vec<Suppressions>,
    pub log: Option<Vec<Suppressed>>,
}

impl Tally {
    pub fn count(&mut self, file: &TriggerFile, ti: usize, reason: Reason, time: u64, n: u64) {
        self.per[ti].add_reason(reason, n);
        if let Some(log) = &mut self.log {
            for _ in 0..n {
                log.push(Suppressed {
                    trigger_id: file.triggers[ti].id.clone(),
                    time,
                    reason,
                });
            }
        }
    }

    pub fn blocked(&mut self, file: &TriggerFile, ti: usize, why: Blocked, time: u64) {
        let reason = match why {
            Blocked::Disabled => return,
            Blocked::Audience => Reason::Audience,
            Blocked::Cooldown => Reason::Cooldown,
            Blocked::MaxPerUser => Reason::MaxPerUser,
            Blocked::GlobalCap => Reason::GlobalCap,
        };
        self.count(file, ti, reason, time, 1);
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
