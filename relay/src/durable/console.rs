//! The partition's side of the trigger console: a backtest over its
//! retained events, the catalog of what they hold, one visitor's events.
//! Each reads the log and changes nothing.

use super::{now_ms, Partition};
use crate::error::{RelayError, Result};
use crate::http;
use crate::protocol::BacktestBounds;
use crate::records;
use crate::sql::SqlStore;
use broker_core::backtest::{Replay, Report};
use broker_core::catalog::CatalogBuilder;
use broker_core::log::Log;
use broker_core::partition::{EventRecord, EventSource, PartitionError};
use broker_core::trigger::TriggerFile;
use broker_core::{Event, Map, StorageError};
use serde_json::json;
use std::time::Duration;
use worker::Response;

/// Events read per step of a backtest; between steps the object yields,
/// so that appends are not held up by a long replay.
const STEP_EVENTS: usize = 5_000;
/// Firings kept per trigger as the report's sample.
pub const SAMPLE_FIRINGS: usize = 20;
/// Most firings a backtest returns when asked for all of them.
pub const MAX_RETURNED_FIRINGS: usize = 200_000;
/// The catalog covers the newest events up to this many.
pub const CATALOG_EVENTS: u64 = 100_000;

/// How long a partition answers a catalog again without scanning, when
/// events arrived since (with none, it is answered again until one does).
pub const CATALOG_REUSE_MS: u64 = 5_000;
/// One visitor's events are looked for among the newest this many.
pub const VISITOR_SCAN_EVENTS: u64 = 200_000;

/// Removes a caller from the running backtests when the replay ends, however
/// it ends.
struct Running<'a> {
    partition: &'a Partition,
    caller: String,
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.partition.backtests.borrow_mut().remove(&self.caller);
    }
}

impl Partition {
    /// Reads events `from..end` in steps, handing each step's records to `f`
    /// (`f` returns false to stop); yields between steps when `pause`.
    async fn scan(
        &self,
        store: &SqlStore,
        from: u64,
        end: u64,
        pause: bool,
        mut f: impl FnMut(Vec<EventRecord>) -> Result<bool>,
    ) -> Result<u64> {
        let mut next = from;
        while next < end {
            let read =
                self.with_core(store, |c| c.read_events(store, next, STEP_EVENTS, 4 << 20))?;
            let records: Vec<EventRecord> = read
                .records
                .into_iter()
                .take_while(|r| r.offset < end)
                .collect();
            if records.is_empty() {
                break;
            }
            next = read.next_offset.min(end);
            if !f(records)? {
                break;
            }
            if pause && next < end {
                worker::Delay::from(Duration::from_millis(0)).await;
            }
        }
        Ok(next)
    }

    /// Replays the retained events stamped at or after `bounds.since` with
    /// the candidate file `text` and with the active file, from fresh
    /// state, wake-ups included up to now. Nothing is stored or pushed.
    pub(super) async fn backtest(
        &self,
        store: &SqlStore,
        caller: &str,
        bounds: BacktestBounds,
        text: &str,
    ) -> Result<Response> {
        let candidate = TriggerFile::parse(text)
            .map_err(|e| RelayError::InvalidTriggers { errors: e.errors })?;
        let partition = self.number.get().unwrap_or_default();
        if !self.backtests.borrow_mut().insert(caller.to_owned()) {
            return Err(RelayError::BacktestBusy { partition });
        }
        let _running = Running {
            partition: self,
            caller: caller.to_owned(),
        };
        // The active file as it is now; one that no longer parses (see
        // `triggers_error`) has nothing to compare with.
        let active = self
            .with_core(store, |c| c.trigger_file(store))?
            .and_then(|t| TriggerFile::parse(&t).ok());
        let meta = Log::events().meta(store).map_err(PartitionError::from)?;
        let (from, end) = (meta.earliest_offset, meta.next_offset);
        let mut runs = (
            Replay::new(candidate.clone()),
            active.clone().map(Replay::new),
        );
        let mut replayed = 0u64;
        let mut stopped = None;
        let last = self
            .scan(store, from, end, true, |mut records| {
                records.retain(|r| r.event.timestamp >= bounds.since);
                let budget = bounds.max_events.saturating_sub(replayed);
                if records.len() as u64 > budget {
                    // More than the bound allows: replay up to it exactly.
                    records.truncate(budget as usize);
                    stopped = Some("events");
                }
                for (visitor, base, ctx, events) in groups(records) {
                    runs.0
                        .events_in(&visitor, &events, base, &ctx)
                        .map_err(storage)?;
                    if let Some(a) = &mut runs.1 {
                        a.events_in(&visitor, &events, base, &ctx)
                            .map_err(storage)?;
                    }
                    replayed += events.len() as u64;
                }
                Ok(stopped.is_none())
            })
            .await?;
        let now = now_ms();
        let run = runs.0.finish(now).map_err(storage)?;
        let report = Report::of(&candidate, &run, SAMPLE_FIRINGS);
        let active_report = match (runs.1, &active) {
            (Some(r), Some(file)) => Some(Report::of(
                file,
                &r.finish(now).map_err(storage)?,
                SAMPLE_FIRINGS,
            )),
            _ => None,
        };
        let mut body = json!({
            "partition": partition,
            "from": from,
            "to": last,
            "end": end,
            "events": replayed,
            "complete": stopped.is_none(),
            "stopped": stopped,
            "candidate": report,
            "active": active_report,
        });
        if bounds.all_firings {
            let firings: Vec<_> = run
                .firings
                .iter()
                .take(MAX_RETURNED_FIRINGS)
                .map(broker_core::export::firing_to_json)
                .collect();
            body["firings"] = firings.into();
            body["firings_truncated"] = (run.firings.len() > MAX_RETURNED_FIRINGS).into();
        }
        http::json(200, &body)
    }

    /// Event names and property paths among the newest
    /// [`CATALOG_EVENTS`] events.
    pub(super) async fn catalog(&self, store: &SqlStore) -> Result<Response> {
        let meta = Log::events().meta(store).map_err(PartitionError::from)?;
        // The console validates as the marketer types: a catalog of the same
        // log, or one younger than CATALOG_REUSE_MS, is answered again
        // rather than scanned again.
        let now = super::now_ms();
        if let Some((end, at, json)) = self.catalog.borrow().as_ref() {
            if *end == meta.next_offset || now.saturating_sub(*at) < CATALOG_REUSE_MS {
                return http::json_text(200, json.clone());
            }
        }
        let from = meta
            .earliest_offset
            .max(meta.next_offset.saturating_sub(CATALOG_EVENTS));
        let mut builder = CatalogBuilder::new();
        self.scan(store, from, meta.next_offset, true, |records| {
            for r in &records {
                builder.add(&r.event);
            }
            Ok(true)
        })
        .await?;
        let catalog = json!(builder.build(from == meta.earliest_offset)).to_string();
        *self.catalog.borrow_mut() = Some((meta.next_offset, now, catalog.clone()));
        http::json_text(200, catalog)
    }

    /// The newest `limit` events of `visitor` among the newest
    /// [`VISITOR_SCAN_EVENTS`].
    pub(super) async fn visitor_events(
        &self,
        store: &SqlStore,
        visitor: &str,
        limit: usize,
    ) -> Result<Response> {
        let meta = Log::events().meta(store).map_err(PartitionError::from)?;
        let from = meta
            .earliest_offset
            .max(meta.next_offset.saturating_sub(VISITOR_SCAN_EVENTS));
        let mut found = std::collections::VecDeque::new();
        self.scan(store, from, meta.next_offset, true, |records| {
            for r in records.iter().filter(|r| r.visitor == visitor) {
                if found.len() == limit.max(1) {
                    found.pop_front();
                }
                found.push_back(records::event_record(r));
            }
            Ok(true)
        })
        .await?;
        let found: Vec<_> = found.into_iter().take(limit).collect();
        http::json(
            200,
            &json!({ "visitor": visitor, "records": found,
                     "scanned_from": from, "complete": from == meta.earliest_offset }),
        )
    }
}

fn storage(e: StorageError) -> RelayError {
    RelayError::Partition(e.into())
}

/// Consecutive events of one frame (one visitor, consecutive offsets, one
/// context), as `(visitor, first offset, context view, events)`.
type Group = (String, u64, Map<'static>, Vec<Event<'static>>);

fn groups(records: Vec<EventRecord>) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    let mut last_source: Option<EventSource> = None;
    for r in records {
        let same_frame = last_source.as_ref().is_some_and(|s| {
            std::sync::Arc::ptr_eq(&s.context, &r.source.context)
                && s.producer_id == r.source.producer_id
                && s.sequence == r.source.sequence
        });
        match out.last_mut() {
            Some((v, base, _, events))
                if same_frame && *v == r.visitor && *base + events.len() as u64 == r.offset =>
            {
                events.push(r.event);
            }
            _ => {
                let ctx = r.source.context_view();
                last_source = Some(r.source);
                out.push((r.visitor, r.offset, ctx, vec![r.event]));
            }
        }
    }
    out
}
