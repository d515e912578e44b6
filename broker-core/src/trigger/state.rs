//! Per-visitor state, one storage entry per visitor: a version byte, then
//! postcard. Kept small: only what a future event or deadline can still use.

use crate::storage::StorageError;
use serde::{Deserialize, Serialize};

/// The first byte of every stored visitor state; a new layout takes a new one.
const STATE_FORMAT: u8 = 1;

/// Everything the engine remembers about one visitor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct VisitorState {
    /// Traits from identify calls: name and compact JSON value, latest wins.
    pub traits: Vec<(String, String)>,
    /// State of the triggers that have any, by [`TriggerState::key`].
    pub triggers: Vec<TriggerState>,
    /// The wake-up key this visitor has in the index, if any (kept here so
    /// the key can be deleted exactly even after the trigger file changed).
    pub wake: Option<u64>,
}

/// One trigger's state for one visitor.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct TriggerState {
    /// The trigger definition's hash: state of a changed definition is dropped.
    pub key: u64,
    /// `count`: times of matching events not yet used up.
    pub marks: Vec<u64>,
    /// `sequence`: for step `k` (all but the last), the latest start time of
    /// a chain that has reached step `k`.
    pub progress: Vec<Option<u64>>,
    /// `unless`: firings waiting for their deadline.
    pub pending: Vec<Pending>,
    /// Last firing time, kept while a cooldown can still block.
    pub last_fired: Option<u64>,
    /// Firings so far, kept when `max_per_user` is set.
    pub fired: u32,
}

/// A delayed firing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Pending {
    /// When it fires: qualifying time + the `unless` window.
    pub deadline: u64,
    /// Log offset of the qualifying event (the firing id derives from it).
    pub offset: u64,
}

impl TriggerState {
    pub fn is_empty(&self) -> bool {
        self.marks.is_empty()
            && self.progress.iter().all(Option::is_none)
            && self.pending.is_empty()
            && self.last_fired.is_none()
            && self.fired == 0
    }
}

impl VisitorState {
    pub fn is_empty(&self) -> bool {
        self.traits.is_empty()
            && self.wake.is_none()
            && self.triggers.iter().all(TriggerState::is_empty)
    }

    pub fn decode(key: &[u8], bytes: &[u8]) -> Result<VisitorState, StorageError> {
        let corrupt = |reason: String| StorageError::Corrupt {
            key: String::from_utf8_lossy(key).into_owned(),
            reason,
        };
        match bytes.split_first() {
            Some((&STATE_FORMAT, rest)) => {
                postcard::from_bytes(rest).map_err(|e| corrupt(format!("visitor state: {e}")))
            }
            Some((v, _)) => Err(corrupt(format!("unknown visitor state format {v}"))),
            None => Err(corrupt("empty visitor state".into())),
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        // Serialising plain structs into a Vec cannot fail.
        postcard::to_extend(self, vec![STATE_FORMAT]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_unknown_formats() {
        let s = VisitorState {
            traits: vec![("plan".into(), "\"free\"".into())],
            triggers: vec![TriggerState {
                key: 7,
                marks: vec![1_764_000_000_000],
                progress: vec![None, Some(5)],
                pending: vec![Pending {
                    deadline: 9,
                    offset: 3,
                }],
                last_fired: Some(4),
                fired: 2,
            }],
            wake: Some(9),
        };
        let bytes = s.encode();
        assert_eq!(VisitorState::decode(b"vx", &bytes), Ok(s));
        let mut bad = bytes.clone();
        bad[0] = 9;
        assert!(matches!(
            VisitorState::decode(b"vx", &bad),
            Err(StorageError::Corrupt { .. })
        ));
        assert!(VisitorState::decode(b"vx", &bytes[..bytes.len() - 1]).is_err());
    }
}
