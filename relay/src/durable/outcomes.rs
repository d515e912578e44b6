//! The partition object's side of trigger outcomes: its counters for a
//! time range, and `explain` over one visitor's retained events. Both are
//! broker-core's; this only reads and shapes.

use super::{now_ms, Partition};
use crate::error::{RelayError, Result};
use crate::http;
use crate::sql::SqlStore;
use broker_core::partition::EXPLAIN_MAX_SCAN;
use broker_core::stats;
use broker_core::trigger::ExplainError;
use serde_json::json;
use worker::Response;

/// Most stored counter entries one partition reads for one stats request
/// (31 days of hourly buckets for 50 triggers, if every minute of every
/// hour was active, is 2.2 million; the answer says `truncated` past this).
pub const MAX_STATS_ENTRIES: usize = 500_000;

impl Partition {
    /// The counters of `[from, to)` in buckets of `bucket` ms:
    /// `{"rows": [...], "truncated": bool}` (rows in `stats::row_to_json`'s shape).
    pub(super) fn trigger_stats(
        &self,
        store: &SqlStore,
        range: (u64, u64),
        bucket: u64,
        trigger: Option<&str>,
    ) -> Result<Response> {
        let read = self.with_core(store, |core| {
            core.trigger_stats(store, range.0, range.1, bucket, trigger, MAX_STATS_ENTRIES)
        })?;
        let rows: Vec<_> = read.rows.iter().map(stats::row_to_json).collect();
        http::json(200, &json!({ "rows": rows, "truncated": read.truncated }))
    }

    /// `explain` for `visitor` and `trigger` over the retained events.
    pub(super) fn explain(
        &self,
        store: &SqlStore,
        visitor: &str,
        trigger: &str,
    ) -> Result<Response> {
        let answer = self.with_core(store, |core| {
            core.explain(store, trigger, visitor, now_ms(), EXPLAIN_MAX_SCAN)
        })?;
        match answer {
            Ok(trace) => http::json(200, &trace),
            Err(ExplainError::NoTriggerFile) => Err(RelayError::NoTriggers),
            Err(e) => Err(RelayError::BadRequest {
                reason: e.to_string(),
            }),
        }
    }
}
