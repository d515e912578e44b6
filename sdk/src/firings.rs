//! Firing deduplication: the relay resends undelivered firings on every
//! connect, and may resend one whose ack crossed a disconnect.

use alloc::borrow::ToOwned;
use alloc::string::String;
use alloc::vec::Vec;

/// How many firing ids are remembered (oldest forgotten first).
pub const REMEMBERED: usize = 512;

/// The ids of firings already handed to the page.
#[derive(Debug, Default)]
pub struct Seen {
    // A Vec, not a VecDeque: removing the oldest of 512 short strings is
    // cheap, and VecDeque's code is ~1 KB of wasm.
    ids: Vec<String>,
}

impl Seen {
    /// True the first time an id is offered, false for every repeat.
    pub fn first(&mut self, id: &str) -> bool {
        if self.ids.iter().any(|s| s == id) {
            return false;
        }
        if self.ids.len() == REMEMBERED {
            self.ids.remove(0);
        }
        self.ids.push(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_once_then_never() {
        let mut s = Seen::default();
        assert!(s.first("a"));
        assert!(!s.first("a"));
        assert!(s.first("b"));
        for i in 0..REMEMBERED {
            s.first(&i.to_string());
        }
        // "a" was forgotten after REMEMBERED newer ids.
        assert!(s.first("a"));
    }
}
