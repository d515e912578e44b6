//! The tracking plan's admin routes (viewer reads, editor replays): the
//! violation counters of every partition merged, and the replay of the
//! quarantine after a plan is fixed.
//!
//! `GET /v1/admin/plan/stats`: `{"since", "partitions", "quarantine":
//! {"events"}, "totals": {"allowed", "flagged", "quarantined"}, "counters":
//! [{"event", "kind", "code", "path", "allowed", "flagged", "quarantined",
//! "total", "first_seen", "last_seen", "example"}]}`, counters most
//! violations first. `since` is the earliest activation of the active plan
//! among the partitions (counters start again with each activation);
//! `quarantine.events` is how many events the quarantine holds now.
//!
//! `POST /v1/admin/quarantine/replay`: every partition judges its
//! quarantine again with the active plan, in bounded steps, up to where
//! its quarantine ended when the replay began; `{"released", "kept",
//! "partitions": [{"partition", "released", "kept", "steps"}]}`.

use crate::admin::expect_ok_from;
use crate::config::Config;
use crate::error::{RelayError, Result};
use crate::http;
use crate::protocol::Op;
use crate::routes::call;
use futures_util::future::join_all;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use worker::{Env, Response};

/// Most steps one partition's replay takes in one request (each step
/// replays up to the partition's `max_timeout_work` batches); a replay cut
/// short says so, and the request can be made again.
pub const MAX_REPLAY_STEPS: u32 = 200;

/// `GET /v1/admin/plan/stats`.
pub async fn plan_stats(env: &Env) -> Result<Response> {
    let partitions = Config::from_env(env)?.partitions;
    let calls = (0..partitions).map(|p| async move {
        let counters: Value = call(env, p, &Op::PlanStats, None).await?.json().await?;
        let stats: Value = call(env, p, &Op::Stats, None).await?.json().await?;
        Ok::<_, RelayError>((counters, stats))
    });
    type Key = (Option<String>, String, Option<String>);
    let mut merged: BTreeMap<Key, Value> = BTreeMap::new();
    let (mut since, mut quarantined) = (None::<u64>, 0u64);
    for answer in join_all(calls).await {
        let (counters, stats) = answer?;
        let q = &stats["quarantine"];
        quarantined += q["end"].as_u64().unwrap_or(0) - q["earliest"].as_u64().unwrap_or(0);
        if let Some(s) = counters["since"].as_u64() {
            since = Some(since.map_or(s, |m| m.min(s)));
        }
        for c in counters["counters"].as_array().into_iter().flatten() {
            let text = |k: &str| c[k].as_str().map(str::to_owned);
            let key = (
                text("event"),
                text("kind").unwrap_or_default(),
                text("path"),
            );
            match merged.get_mut(&key) {
                None => {
                    merged.insert(key, c.clone());
                }
                Some(m) => merge(m, c),
            }
        }
    }
    let mut totals = json!({ "allowed": 0, "flagged": 0, "quarantined": 0 });
    let mut counters: Vec<Value> = merged.into_values().collect();
    for c in &mut counters {
        let mut total = 0;
        for action in ["allowed", "flagged", "quarantined"] {
            let n = c[action].as_u64().unwrap_or(0);
            total += n;
            totals[action] = (totals[action].as_u64().unwrap_or(0) + n).into();
        }
        c["total"] = total.into();
        if let Some(o) = c.as_object_mut() {
            o.remove("partition");
        }
    }
    counters.sort_by_key(|c| std::cmp::Reverse(c["total"].as_u64().unwrap_or(0)));
    http::json(
        200,
        &json!({ "since": since, "partitions": partitions,
                 "quarantine": { "events": quarantined },
                 "totals": totals, "counters": counters }),
    )
}

/// Adds counter `c` of another partition into `m`.
fn merge(m: &mut Value, c: &Value) {
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    for k in ["allowed", "flagged", "quarantined"] {
        m[k] = (n(m, k) + n(c, k)).into();
    }
    m["first_seen"] = n(m, "first_seen").min(n(c, "first_seen")).into();
    if n(c, "last_seen") > n(m, "last_seen") {
        m["last_seen"] = c["last_seen"].clone();
        m["example"] = c["example"].clone();
    }
}

/// `POST /v1/admin/quarantine/replay`.
pub async fn replay_quarantine(env: &Env) -> Result<Response> {
    let partitions = Config::from_env(env)?.partitions;
    let calls = (0..partitions).map(|p| async move {
        let (mut released, mut kept, mut steps) = (0u64, 0u64, 0u32);
        let mut until = None;
        loop {
            let answer = call(env, p, &Op::ReplayQuarantine { until }, None).await?;
            let step: Value = expect_ok_from(answer, "a partition").await?.json().await?;
            steps += 1;
            released += step["released"].as_u64().unwrap_or(0);
            kept += step["kept"].as_u64().unwrap_or(0);
            until = step["until"].as_u64();
            let more = step["more"].as_bool().unwrap_or(false);
            if !more || steps >= MAX_REPLAY_STEPS {
                return Ok::<_, RelayError>(json!({
                    "partition": p, "released": released, "kept": kept,
                    "steps": steps, "complete": !more,
                }));
            }
        }
    });
    let results: Vec<Value> = join_all(calls).await.into_iter().collect::<Result<_>>()?;
    let sum = |k: &str| {
        results
            .iter()
            .map(|r| r[k].as_u64().unwrap_or(0))
            .sum::<u64>()
    };
    let complete = results.iter().all(|r| r["complete"] == true);
    http::json(
        200,
        &json!({ "released": sum("released"), "kept": sum("kept"),
                 "complete": complete, "partitions": results }),
    )
}
