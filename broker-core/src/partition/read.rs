//! Reading the three streams: one path from stored batches to records.

use super::payload;
use super::types::{EventRecord, EventSource, EventView, FiringRecord, ReadOutcome, ViewsRead};
use super::{log_corrupt, Partition, PartitionError, STORED_LIMITS};
use crate::frame;
use crate::log::firing::decode_outcomes;
use crate::log::{Log, StoredBatch};
use crate::storage::Storage;

impl Partition {
    /// Up to `max_records` events from offset `from` (both bounds are also
    /// capped by the configuration; at least one record comes back when
    /// `from` is below the end). `from == end` returns none: the caller
    /// waits for appends (live tail). Below the earliest offset, or above
    /// the end, is [`LogError::OffsetOutOfRange`](crate::log::LogError::OffsetOutOfRange) (as [`PartitionError::Log`]), never a skip.
    pub fn read_events<S: Storage>(
        &self,
        store: &S,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadOutcome<EventRecord>, PartitionError> {
        self.read_log(
            store,
            Log::events(),
            from,
            max_records,
            max_bytes,
            |b, k| self.event_records(b, k),
        )
    }

    /// The events [`Partition::read_events`] would return, as views
    /// borrowed from their decoded frames, handed to `each` in offset order
    /// (no copy of their strings and properties: the archive's path). `each`
    /// returns whether it took the view; at the first it did not, reading
    /// stops and `next_offset` is that view's offset.
    pub fn read_event_views<S: Storage>(
        &self,
        store: &S,
        from: u64,
        max_records: usize,
        max_bytes: usize,
        mut each: impl FnMut(&EventView<'_>) -> bool,
    ) -> Result<ViewsRead, PartitionError> {
        let (max_records, max_bytes) = self.clamp(max_records, max_bytes);
        let log = Log::events();
        let read = log.read(store, from, max_records, max_bytes)?;
        let mut out = ViewsRead {
            taken: 0,
            next_offset: from,
            end: read.end,
            earliest: read.earliest,
        };
        for batch in &read.batches {
            let mut stopped = false;
            self.each_event(batch, &log.batch_key(batch.base_offset), |view| {
                if view.offset < from {
                    return true;
                }
                if out.taken >= max_records || !each(view) {
                    stopped = true;
                    return false;
                }
                out.taken += 1;
                out.next_offset = view.offset + 1;
                true
            })?;
            if stopped {
                break;
            }
        }
        Ok(out)
    }

    /// Up to `max_records` quarantined events from offset `from`, each with
    /// its violations and where its frame's other events went; the rules
    /// of [`Partition::read_events`].
    pub fn read_quarantine<S: Storage>(
        &self,
        store: &S,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadOutcome<EventRecord>, PartitionError> {
        self.read_log(
            store,
            Log::quarantine(),
            from,
            max_records,
            max_bytes,
            |b, k| self.event_records(b, k),
        )
    }

    /// Up to `max_records` firings from offset `from`; the rules of
    /// [`Partition::read_events`].
    pub fn read_firings<S: Storage>(
        &self,
        store: &S,
        from: u64,
        max_records: usize,
        max_bytes: usize,
    ) -> Result<ReadOutcome<FiringRecord>, PartitionError> {
        self.read_log(
            store,
            Log::firings(),
            from,
            max_records,
            max_bytes,
            |b, k| {
                let outcomes = decode_outcomes(b.payload(), k)?;
                Ok(outcomes
                    .into_iter()
                    .enumerate()
                    .map(|(i, outcome)| FiringRecord {
                        partition: self.config.partition,
                        offset: b.base_offset + i as u64,
                        outcome,
                    })
                    .collect())
            },
        )
    }

    /// The one read path: the batches from `from` on, each made records by
    /// `records_of` (in offset order, from the batch's base offset), cut
    /// to `from..` and the bounds.
    fn read_log<S: Storage, T>(
        &self,
        store: &S,
        log: Log,
        from: u64,
        max_records: usize,
        max_bytes: usize,
        mut records_of: impl FnMut(&StoredBatch, &[u8]) -> Result<Vec<T>, PartitionError>,
    ) -> Result<ReadOutcome<T>, PartitionError> {
        let (max_records, max_bytes) = self.clamp(max_records, max_bytes);
        let read = log.read(store, from, max_records, max_bytes)?;
        let mut records = Vec::new();
        let mut next_offset = from;
        'batches: for batch in &read.batches {
            let key = log.batch_key(batch.base_offset);
            let skip = from.saturating_sub(batch.base_offset) as usize;
            for (i, record) in records_of(batch, &key)?.into_iter().enumerate().skip(skip) {
                if records.len() >= max_records {
                    break 'batches;
                }
                records.push(record);
                next_offset = batch.base_offset + i as u64 + 1;
            }
        }
        Ok(ReadOutcome {
            records,
            next_offset,
            end: read.end,
            earliest: read.earliest,
        })
    }

    /// The records of an event or quarantine batch: the frame's events the
    /// batch holds, with their violations.
    fn event_records(
        &self,
        batch: &StoredBatch,
        key: &[u8],
    ) -> Result<Vec<EventRecord>, PartitionError> {
        let (stored, frame) = decode_batch(batch, key)?;
        let marks = stored.marks;
        let enrichment = stored.enrichment.map(std::sync::Arc::new);
        let visitor = frame.context.anonymous_id.to_string();
        let user_id = frame.context.user_id.as_ref().map(|u| u.to_string());
        let context = std::sync::Arc::new(frame.context.into_owned());
        let (producer_id, sequence) = (frame.producer_id, frame.sequence);
        let received_at = marks.received_at.unwrap_or(batch.header.append_time);
        let mut records = Vec::with_capacity(batch.header.count as usize);
        for (i, event) in frame.events.into_iter().enumerate() {
            let index = i as u32;
            if !marks.holds(index) {
                continue;
            }
            let violations = violations_of(&marks, index, key)?;
            records.push(EventRecord {
                partition: self.config.partition,
                offset: batch.base_offset + records.len() as u64,
                visitor: visitor.clone(),
                user_id: user_id.clone(),
                event: event.into_owned(),
                source: EventSource {
                    context: context.clone(),
                    producer_id,
                    sequence,
                    index,
                    received_at,
                    enrichment: enrichment.clone(),
                    frame_events: marks.placed,
                },
                violations,
            });
        }
        if records.len() != batch.header.count as usize {
            return Err(log_corrupt(
                key,
                "the batch's frame does not hold its count of events",
            ));
        }
        Ok(records)
    }

    /// The events of an event or quarantine batch as views, handed to `f`
    /// until it returns false; the checks of [`Partition::event_records`]
    /// (the batch's count is checked when `f` saw every event).
    fn each_event(
        &self,
        batch: &StoredBatch,
        key: &[u8],
        mut f: impl FnMut(&EventView<'_>) -> bool,
    ) -> Result<(), PartitionError> {
        let (stored, frame) = decode_batch(batch, key)?;
        let marks = &stored.marks;
        let received_at = marks.received_at.unwrap_or(batch.header.append_time);
        let mut held = 0u64;
        for (i, event) in frame.events.iter().enumerate() {
            let index = i as u32;
            if !marks.holds(index) {
                continue;
            }
            let violations = violations_of(marks, index, key)?;
            let view = EventView {
                partition: self.config.partition,
                offset: batch.base_offset + held,
                visitor: &frame.context.anonymous_id,
                user_id: frame.context.user_id.as_deref(),
                event,
                context: &frame.context,
                producer_id: frame.producer_id,
                sequence: frame.sequence,
                index,
                received_at,
                enrichment: stored.enrichment.as_ref(),
                frame_events: marks.placed,
                violations: &violations,
            };
            held += 1;
            if !f(&view) {
                return Ok(());
            }
        }
        if held != u64::from(batch.header.count) {
            return Err(log_corrupt(
                key,
                "the batch's frame does not hold its count of events",
            ));
        }
        Ok(())
    }
}

/// A stored event or quarantine batch taken apart: its payload and frame.
fn decode_batch<'b>(
    batch: &'b StoredBatch,
    key: &[u8],
) -> Result<(payload::Payload<'b>, frame::Frame<'b>), PartitionError> {
    let stored = payload::decode(batch.payload(), key)?;
    let frame = frame::decode(stored.frame, &STORED_LIMITS)
        .map_err(|e| log_corrupt(key, &e.to_string()))?;
    Ok((stored, frame))
}

/// The violations the marks give the event at `index` of its frame.
fn violations_of(
    marks: &payload::Marks,
    index: u32,
    key: &[u8],
) -> Result<Vec<crate::plan::Violation>, PartitionError> {
    marks.violations_of(index).map_err(|code| {
        log_corrupt(
            key,
            &format!("violation code {code} unknown to this version"),
        )
    })
}
