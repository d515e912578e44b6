//! The admin routes for trigger outcomes (viewer role): the counters of
//! every partition merged over a time range, and `explain` for one visitor
//! and trigger (answered by the visitor's partition).
//!
//! `GET /v1/admin/stats?from=MS&to=MS&bucket=minute|hour[&trigger=ID]`:
//! `{"from", "to", "bucket", "bucket_ms", "partitions", "truncated", "rows":
//! [{"start", "trigger", "fired", "held_out", "suppressed": {reason: n},
//! "conversions", "held_out_conversions", "visitors"}]}`, rows by bucket
//! start then trigger, buckets with no activity left out. `from` is rounded
//! down and `to` up to whole minutes; a range is at most [`MAX_RANGE_MS`].
//!
//! `GET /v1/admin/explain?visitor=ID&trigger=ID`: the trace of
//! `broker_core::trigger::explain` (docs/triggers.md).

use crate::config::Config;
use crate::error::{RelayError, Result};
use crate::http;
use crate::protocol::Op;
use crate::routes::call;
use broker_core::log::partition_for;
use broker_core::stats::{self, HOUR_MS, MINUTE_MS, RETENTION_MS};
use futures_util::future::join_all;
use serde_json::{json, Value};
use worker::{Env, Request, Response};

/// The longest range one stats request covers: the counters' retention.
pub const MAX_RANGE_MS: u64 = RETENTION_MS;

fn bad(reason: String) -> RelayError {
    RelayError::BadRequest { reason }
}

/// `GET /v1/admin/stats`.
pub async fn stats(env: &Env, req: &Request) -> Result<Response> {
    let q = http::query(&req.url()?);
    let number = |name: &str| -> Result<u64> {
        let s = q
            .get(name)
            .ok_or_else(|| bad(format!("{name} is required (ms since the epoch)")))?;
        s.parse()
            .map_err(|_| bad(format!("{name}={s:?} is not a time in ms since the epoch")))
    };
    let (from, to) = (number("from")?, number("to")?);
    let (bucket_name, bucket) = match q.get("bucket").map(String::as_str) {
        None | Some("hour") => ("hour", HOUR_MS),
        Some("minute") => ("minute", MINUTE_MS),
        Some(other) => return Err(bad(format!("bucket={other:?}: expected minute or hour"))),
    };
    let from = from / MINUTE_MS * MINUTE_MS;
    let to = to.div_ceil(MINUTE_MS).saturating_mul(MINUTE_MS);
    if to <= from {
        return Err(bad("to must be after from".into()));
    }
    if to - from > MAX_RANGE_MS {
        return Err(bad(format!(
            "the range is longer than the counters are kept ({} days)",
            MAX_RANGE_MS / (24 * HOUR_MS)
        )));
    }
    let trigger = q.get("trigger").filter(|t| !t.is_empty()).cloned();
    let partitions = Config::from_env(env)?.partitions;
    let op = Op::TriggerStats {
        from,
        to,
        bucket,
        trigger,
    };
    let calls = (0..partitions).map(|p| {
        let op = op.clone();
        async move {
            let mut res = call(env, p, &op, None).await?;
            let body: Value = res.json().await?;
            if res.status_code() != 200 {
                return Err(RelayError::Internal {
                    message: format!(
                        "partition {p} answered {}: {}",
                        res.status_code(),
                        body["message"].as_str().unwrap_or("no message")
                    ),
                });
            }
            Ok::<Value, RelayError>(body)
        }
    });
    let answers = join_all(calls)
        .await
        .into_iter()
        .collect::<Result<Vec<_>>>()?;
    let truncated = answers.iter().any(|a| a["truncated"] == true);
    let rows = stats::merge_json_rows(
        answers
            .iter()
            .flat_map(|a| a["rows"].as_array().into_iter().flatten()),
    );
    http::json(
        200,
        &json!({ "from": from, "to": to, "bucket": bucket_name, "bucket_ms": bucket,
                 "partitions": partitions, "truncated": truncated, "rows": rows }),
    )
}

/// `GET /v1/admin/explain`.
pub async fn explain(env: &Env, req: &Request) -> Result<Response> {
    let q = http::query(&req.url()?);
    let required = |name: &str| -> Result<String> {
        q.get(name)
            .filter(|v| !v.is_empty())
            .cloned()
            .ok_or_else(|| bad(format!("{name} is required")))
    };
    let (visitor, trigger) = (required("visitor")?, required("trigger")?);
    let p = partition_for(&visitor, Config::from_env(env)?.partitions);
    call(env, p, &Op::Explain { visitor, trigger }, None).await
}
