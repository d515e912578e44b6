//! The partition's read side of trigger outcomes: `explain` over the
//! visitor's retained events (the counters' read is `trigger_stats`).

use super::{Partition, PartitionError};
use crate::storage::Storage;
use crate::trigger::{explain, ExplainError};
use crate::{Event, Map};

/// The most events [`Partition::explain`] scans by default.
pub const EXPLAIN_MAX_SCAN: usize = 200_000;

impl Partition {
    /// Replays `visitor`'s retained events through the active trigger file
    /// and traces trigger `trigger` (see [`crate::trigger::explain`]) over
    /// the newest `max_scan` events of the log at most, from fresh state
    /// (`"truncated": true` in the answer when older ones were left out).
    /// The outer error is the store's; the inner one the request's (no
    /// active file, an unknown trigger).
    pub fn explain<S: Storage>(
        &self,
        store: &S,
        trigger: &str,
        visitor: &str,
        now: u64,
        max_scan: usize,
    ) -> Result<Result<serde_json::Value, ExplainError>, PartitionError> {
        let Some(engine) = &self.engine else {
            return Ok(Err(ExplainError::NoTriggerFile));
        };
        let mut events: Vec<(u64, Event<'static>, Map<'static>)> = Vec::new();
        // The newest `max_scan` events: the ones a marketer asks about.
        let meta = crate::log::Log::events().meta(store)?;
        let max = u64::try_from(max_scan).unwrap_or(u64::MAX);
        let mut from = meta
            .earliest_offset
            .max(meta.next_offset.saturating_sub(max));
        let truncated = from > meta.earliest_offset;
        let mut scanned = 0usize;
        while scanned < max_scan {
            let read = self.read_events(store, from, max_scan - scanned, usize::MAX)?;
            if read.records.is_empty() {
                break;
            }
            scanned += read.records.len();
            from = read.next_offset;
            events.extend(
                read.records
                    .into_iter()
                    .filter(|r| r.visitor == visitor)
                    .map(|r| (r.offset, r.event, r.source.context_view())),
            );
            if from >= read.end {
                break;
            }
        }
        Ok(
            explain(engine.file(), trigger, visitor, &events, now).map(|mut j| {
                j["scanned"] = scanned.into();
                j["truncated"] = truncated.into();
                j
            }),
        )
    }
}
