//! Sessions: a visit ends after [`IDLE_MS`] without an event.

/// Idle time after which the next event starts a new session.
pub const IDLE_MS: u64 = 30 * 60 * 1000;

/// The current session. Its id is the time it started (ms since the epoch),
/// which is unique per visitor and sorts like the visits do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Session {
    /// Session id; 0 before the first event.
    pub id: u64,
    /// Time of the last event, ms since the epoch.
    pub last: u64,
}

impl Session {
    /// Records activity at `now`; returns true when it started a new session.
    pub fn touch(&mut self, now: u64) -> bool {
        let fresh = self.id == 0 || now.saturating_sub(self.last) > IDLE_MS;
        if fresh {
            self.id = now.max(1);
        }
        // A clock that went backwards must not extend the session into the past.
        self.last = self.last.max(now);
        fresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ends_after_thirty_idle_minutes() {
        let mut s = Session::default();
        assert!(s.touch(1_000));
        assert_eq!(s.id, 1_000);
        assert!(!s.touch(1_000 + IDLE_MS));
        assert_eq!(s.id, 1_000);
        assert!(s.touch(2_001 + 2 * IDLE_MS));
        assert_eq!(
            s,
            Session {
                id: 2_001 + 2 * IDLE_MS,
                last: 2_001 + 2 * IDLE_MS
            }
        );
    }

    #[test]
    fn restored_session_continues() {
        let mut s = Session { id: 5, last: 100 };
        assert!(!s.touch(100 + IDLE_MS - 1));
        assert_eq!(s.id, 5);
    }
}
