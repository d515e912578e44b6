//! The trigger console's routes (`/v1/admin/...`): roles, the trigger
//! file and the tracking plan with their versions (the same routes under
//! `triggers/` and `plan/`), validation with the log's warnings, the
//! server-side backtest, the catalog, one visitor's events, the plan's
//! violation counters and the quarantine's replay.
//!
//! Roles, each with its own bearer token: `viewer` (`VIEWER_TOKEN`: read the
//! file, versions, diffs, the catalog; validate and backtest), `editor`
//! (`EDITOR_TOKEN`: also push, activate and revert) and `admin`
//! (`ADMIN_TOKEN`, an editor). Tokens travel in the `Authorization`
//! header only.

use crate::auth;
use crate::config::{optional_secret, secret, vars, Config};
use crate::durable::{now_ms, SAMPLE_FIRINGS};
use crate::error::{RelayError, Result};
use crate::http::{self, bearer_header};
use crate::protocol::{BacktestBounds, ControlOp, Doc, NewVersion, Op};
use crate::routes::{call, control};
use broker_core::backtest::Report;
use broker_core::log::partition_for;
use broker_core::plan::Plan;
use broker_core::trigger::{lint, parse_duration, Catalog, CatalogEvent, TriggerFile};
use futures_util::future::{join_all, select, Either};
use futures_util::stream::{FuturesUnordered, StreamExt};
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;
use wasm_bindgen::JsValue;
use worker::{Env, Method, Request, Response};

/// Largest trigger file accepted (bytes).
pub const MAX_FILE_BYTES: usize = 1 << 20;
/// Longest `author` or `comment` of a version (characters).
pub const MAX_NOTE_CHARS: usize = 500;
/// Default events per partition a backtest replays at most.
pub const BACKTEST_MAX_EVENTS: u64 = 2_000_000;
/// How long the worker waits for one partition's backtest.
pub const BACKTEST_TIMEOUT_MS: u64 = 25_000;

/// A caller's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Reads, validates, backtests.
    Viewer,
    /// Also pushes, activates, reverts.
    Editor,
    /// The admin token: an editor.
    Admin,
}

impl Role {
    /// The role's name, as `whoami` says it.
    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Editor => "editor",
            Role::Admin => "admin",
        }
    }

    /// The role of the request's bearer token; 401 without a known one.
    pub fn of(req: &Request, env: &Env) -> Result<Role> {
        let given = bearer_header(req).unwrap_or_default();
        if !given.is_empty() {
            if auth::ct_eq(&given, &secret(env, vars::ADMIN_TOKEN)?) {
                return Ok(Role::Admin);
            }
            for (name, role) in [
                (vars::EDITOR_TOKEN, Role::Editor),
                (vars::VIEWER_TOKEN, Role::Viewer),
            ] {
                if optional_secret(env, name).is_some_and(|t| auth::ct_eq(&given, &t)) {
                    return Ok(role);
                }
            }
        }
        Err(RelayError::Unauthorized {
            role: "admin, editor or viewer",
        })
    }

    fn must_edit(self, action: &'static str) -> Result<()> {
        if self >= Role::Editor {
            Ok(())
        } else {
            Err(RelayError::Forbidden {
                role: self.name(),
                action,
            })
        }
    }
}

/// Routes `/v1/admin/<rest>`; `None` when no route matches the path.
pub async fn route(req: Request, env: &Env, rest: &[&str]) -> Option<Result<Response>> {
    let method = req.method();
    let document = match rest {
        [doc, tail @ ..] if Doc::parse(doc).is_some() => matches!(
            tail,
            [] | ["validate"]
                | ["versions"]
                | ["versions", _]
                | ["versions", _, "activate" | "revert"]
                | ["diff"]
        ),
        _ => false,
    };
    let known = document
        || matches!(
            rest,
            ["whoami"]
                | ["backtest"]
                | ["catalog"]
                | ["visitors", _, "events"]
                | ["stats"]
                | ["explain"]
                | ["plan", "stats"]
                | ["quarantine", "replay"]
        );
    if !known {
        return None;
    }
    Some(dispatch(req, env, method, rest).await)
}

async fn dispatch(mut req: Request, env: &Env, method: Method, rest: &[&str]) -> Result<Response> {
    let role = Role::of(&req, env)?;
    match (method.clone(), rest) {
        (Method::Get, ["whoami"]) => http::json(200, &json!({ "role": role.name() })),
        (Method::Get, ["plan", "stats"]) => crate::quality::plan_stats(env).await,
        (Method::Post, ["quarantine", "replay"]) => {
            role.must_edit("replay the quarantine")?;
            crate::quality::replay_quarantine(env).await
        }
        (_, [doc, tail @ ..]) if Doc::parse(doc).is_some() => {
            let doc = Doc::parse(doc).unwrap_or(Doc::Triggers);
            document(req, env, role, doc, method, tail).await
        }
        (Method::Post, ["backtest"]) => {
            let b: BacktestBody = json_body(&mut req).await?;
            backtest(env, role, b).await
        }
        (Method::Get, ["catalog"]) => http::json(200, &json!(merged_catalog(env).await?)),
        (Method::Get, ["stats"]) => crate::outcomes::stats(env, &req).await,
        (Method::Get, ["explain"]) => crate::outcomes::explain(env, &req).await,
        (Method::Get, ["visitors", visitor, "events"]) => {
            let visitor = crate::routes::decode_segment(visitor)?;
            let q = http::query(&req.url()?);
            let limit = crate::protocol::query_u64(&q, "limit", 200)?.min(1_000);
            let p = partition_for(&visitor, Config::from_env(env)?.partitions);
            Ok(call(env, p, &Op::VisitorEvents { visitor, limit }, None).await?)
        }
        _ => Err(RelayError::MethodNotAllowed {
            method: method.to_string(),
            path: format!("/v1/admin/{}", rest.join("/")),
        }),
    }
}

/// The routes of one versioned document: `/v1/admin/triggers/<rest>` or
/// `/v1/admin/plan/<rest>`.
async fn document(
    mut req: Request,
    env: &Env,
    role: Role,
    doc: Doc,
    method: Method,
    rest: &[&str],
) -> Result<Response> {
    let push_action = match doc {
        Doc::Triggers => "push a trigger file",
        Doc::Plan => "push a tracking plan",
    };
    match (method.clone(), rest) {
        (Method::Get, []) => active_file(env, doc).await,
        (Method::Put, []) => {
            role.must_edit(push_action)?;
            let text = body_text(&mut req).await?;
            let (status, body) = push(env, role, doc, text, Note::default(), None).await?;
            http::json(status, &body)
        }
        (Method::Post, ["validate"]) => {
            let text = body_text(&mut req).await?;
            validate(env, doc, &text).await
        }
        (Method::Get, ["versions"]) => versions(env, doc).await,
        (Method::Post, ["versions"]) => {
            role.must_edit(push_action)?;
            let p: PushBody = json_body(&mut req).await?;
            let note = Note {
                author: p.author,
                comment: p.comment,
            };
            let (status, body) = push(env, role, doc, p.file, note, None).await?;
            http::json(status, &body)
        }
        (Method::Get, ["versions", n]) => {
            let version = version_number(n)?;
            Ok(control(env, ControlOp::Version { doc, version }, None).await?)
        }
        (Method::Post, ["versions", n, "activate"]) => {
            role.must_edit("activate a version")?;
            let version = version_number(n)?;
            // Only the newest version is activated again (a retry); an older
            // one comes back with a revert, as a new version.
            let mut res = expect_ok(control(env, ControlOp::Versions { doc }, None).await?).await?;
            let list: Value = res.json().await?;
            if let Some(latest) = list["latest"].as_u64().filter(|l| version < *l) {
                return Err(RelayError::StaleVersion {
                    version,
                    active: latest,
                });
            }
            let content = version_text(env, doc, version).await?;
            expect_ok(control(env, ControlOp::SetTarget { doc, version }, None).await?).await?;
            let (status, body) = activate(env, doc, version, &content).await?;
            http::json(status, &body)
        }
        (Method::Post, ["versions", n, "revert"]) => {
            role.must_edit("revert to a version")?;
            let version = version_number(n)?;
            let text = body_text(&mut req).await?;
            let mut note: Note = if text.trim().is_empty() {
                Note::default()
            } else {
                parse_json(&text)?
            };
            let content = version_text(env, doc, version).await?;
            note.comment = note
                .comment
                .or_else(|| Some(format!("revert to version {version}")));
            let (status, body) = push(env, role, doc, content, note, Some(version)).await?;
            http::json(status, &body)
        }
        (Method::Get, ["diff"]) => {
            let q = http::query(&req.url()?);
            let number = |name: &str| -> Result<u64> {
                version_number(q.get(name).map(String::as_str).unwrap_or(""))
            };
            let (from, to) = (number("from")?, number("to")?);
            let (a, b) = (
                version_text(env, doc, from).await?,
                version_text(env, doc, to).await?,
            );
            let diff = similar::TextDiff::from_lines(&a, &b)
                .unified_diff()
                .context_radius(3)
                .header(&format!("version {from}"), &format!("version {to}"))
                .to_string();
            http::json(200, &json!({ "from": from, "to": to, "diff": diff }))
        }
        _ => Err(RelayError::MethodNotAllowed {
            method: method.to_string(),
            path: format!("/v1/admin/{}/{}", doc.as_str(), rest.join("/")),
        }),
    }
}

/// Validates a document: its summary and the warnings only the log can
/// give (for triggers, the lint over the catalog; for a plan, the events
/// seen in the log that it does not name, and what would happen to them).
async fn validate(env: &Env, doc: Doc, text: &str) -> Result<Response> {
    let catalog = merged_catalog(env);
    let (summary, warnings): (Value, Vec<Value>) = match doc {
        Doc::Triggers => {
            let file = parse_file(text)?;
            let warnings = lint(&file, &catalog.await?)
                .into_iter()
                .map(|w| json!({ "path": w.path, "message": w.message }))
                .collect();
            (json!(file.summary()), warnings)
        }
        Doc::Plan => {
            let plan = parse_plan(text)?;
            let planned: BTreeSet<&str> = plan.event_names().collect();
            let action = plan.on_unplanned().as_str();
            let warnings = catalog
                .await?
                .events
                .iter()
                .filter(|e| !planned.contains(e.name.as_str()))
                .map(|e| {
                    json!({ "path": "events", "message": format!(
                        "{:?} is in the log ({} seen) but not in the plan: on_unplanned is {action}",
                        e.name, e.count) })
                })
                .collect();
            (plan.summary().into(), warnings)
        }
    };
    http::json(
        200,
        &json!({ "ok": true, "summary": summary, "warnings": warnings }),
    )
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PushBody {
    file: String,
    author: Option<String>,
    comment: Option<String>,
}

/// Who pushed a version and why, as they said.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Note {
    author: Option<String>,
    comment: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BacktestBody {
    file: String,
    since: Option<String>,
    max_events_per_partition: Option<u64>,
    #[serde(default)]
    firings: bool,
}

async fn body_text(req: &mut Request) -> Result<String> {
    let text = req.text().await?;
    if text.len() > MAX_FILE_BYTES {
        return Err(RelayError::BadRequest {
            reason: format!(
                "the body is {} bytes; at most {MAX_FILE_BYTES} are accepted",
                text.len()
            ),
        });
    }
    Ok(text)
}

async fn json_body<T: serde::de::DeserializeOwned>(req: &mut Request) -> Result<T> {
    parse_json(&body_text(req).await?)
}

fn parse_json<T: serde::de::DeserializeOwned>(text: &str) -> Result<T> {
    serde_json::from_str(text).map_err(|e| RelayError::BadRequest {
        reason: format!("the body is not the JSON this route takes: {e}"),
    })
}

fn parse_file(text: &str) -> Result<TriggerFile> {
    TriggerFile::parse(text).map_err(|e| RelayError::InvalidTriggers { errors: e.errors })
}

fn parse_plan(text: &str) -> Result<Plan> {
    Plan::parse(text).map_err(|e| RelayError::InvalidPlan { errors: e.errors })
}

fn version_number(s: &str) -> Result<u64> {
    s.parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| RelayError::BadRequest {
            reason: format!("{s:?} is not a version number"),
        })
}

fn note(s: Option<String>, what: &str) -> Result<Option<String>> {
    match s.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()) {
        Some(s) if s.chars().count() > MAX_NOTE_CHARS => Err(RelayError::BadRequest {
            reason: format!("{what} is longer than {MAX_NOTE_CHARS} characters"),
        }),
        other => Ok(other),
    }
}

/// A control answer that must be 200, else its error.
async fn expect_ok(res: Response) -> Result<Response> {
    expect_ok_from(res, "the control object").await
}

/// An internal answer (of `who`) that must be 200, else its error as it said it.
pub(crate) async fn expect_ok_from(mut res: Response, who: &str) -> Result<Response> {
    if res.status_code() == 200 {
        return Ok(res);
    }
    let body: Value = res.json().await.unwrap_or(Value::Null);
    Err(RelayError::Internal {
        message: format!(
            "{who} answered {}: {}",
            res.status_code(),
            body["message"].as_str().unwrap_or("no message")
        ),
    })
}

async fn version_text(env: &Env, doc: Doc, version: u64) -> Result<String> {
    let mut res = control(env, ControlOp::Version { doc, version }, None).await?;
    match res.status_code() {
        200 => Ok(res.text().await?),
        404 => Err(RelayError::NoSuchVersion { version }),
        _ => Err(expect_ok(res).await.err().unwrap_or(RelayError::Internal {
            message: "control object failed".into(),
        })),
    }
}

/// The target version's file (the last pushed); before any version
/// exists, the file partition 0 runs (uploaded by an older relay).
async fn active_file(env: &Env, doc: Doc) -> Result<Response> {
    let mut res = control(env, ControlOp::Versions { doc }, None).await?;
    let list: Value = res.json().await?;
    if let Some(version) = list["target"].as_u64() {
        return control(env, ControlOp::Version { doc, version }, None).await;
    }
    call(env, 0, &Op::Active { doc }, None).await
}

/// Validates, stores a new version, makes it the target, activates it.
async fn push(
    env: &Env,
    role: Role,
    doc: Doc,
    text: String,
    said: Note,
    reverts: Option<u64>,
) -> Result<(u16, Value)> {
    if text.len() > MAX_FILE_BYTES {
        return Err(RelayError::BadRequest {
            reason: format!("the file is {} bytes; at most {MAX_FILE_BYTES}", text.len()),
        });
    }
    match doc {
        Doc::Triggers => drop(parse_file(&text)?),
        Doc::Plan => drop(parse_plan(&text)?),
    }
    let new = NewVersion {
        content: text.clone(),
        author: note(said.author, "author")?.unwrap_or_else(|| role.name().to_owned()),
        role: role.name().to_owned(),
        comment: note(said.comment, "comment")?,
        reverts,
    };
    let body =
        JsValue::from_str(
            &serde_json::to_string(&new).map_err(|e| RelayError::Internal {
                message: e.to_string(),
            })?,
        );
    let create = ControlOp::CreateVersion { doc };
    let mut res = expect_ok(control(env, create, Some(body)).await?).await?;
    let created: Value = res.json().await?;
    let version = created["version"].as_u64().ok_or(RelayError::Internal {
        message: "the control object gave no version number".into(),
    })?;
    activate(env, doc, version, &text).await
}

/// Activates `version` on every partition at once; 200 when all took it,
/// else 503 `activation_incomplete` naming the ones that did not (the
/// version stays the target: activating it again is safe).
async fn activate(env: &Env, doc: Doc, version: u64, text: &str) -> Result<(u16, Value)> {
    let partitions = Config::from_env(env)?.partitions;
    let calls = (0..partitions).map(|p| async move {
        let body = Some(JsValue::from_str(text));
        let outcome = match call(env, p, &Op::Activate { doc, version }, body).await {
            Ok(res) if res.status_code() == 200 => Ok(()),
            Ok(mut res) => {
                let v: Value = res.json().await.unwrap_or(Value::Null);
                Err(v["message"].as_str().unwrap_or("refused").to_owned())
            }
            Err(e) => Err(e.to_string()),
        };
        match outcome {
            Ok(()) => json!({ "partition": p, "ok": true }),
            Err(error) => json!({ "partition": p, "ok": false, "error": error }),
        }
    });
    let results = join_all(calls).await;
    let complete = results.iter().all(|r| r["ok"] == true);
    let mut body = json!({ "ok": complete, "version": version, "partitions": results,
                           "complete": complete });
    if complete {
        return Ok((200, body));
    }
    body["code"] = "activation_incomplete".into();
    body["message"] = format!(
        "version {version} was stored but not every partition activated it; activate it again"
    )
    .into();
    Ok((503, body))
}

/// The versions, newest first, each with the partitions that run it.
async fn versions(env: &Env, doc: Doc) -> Result<Response> {
    let mut res = expect_ok(control(env, ControlOp::Versions { doc }, None).await?).await?;
    let mut list: Value = res.json().await?;
    let running = partition_versions(env, doc).await?;
    let target = list["target"].as_u64();
    if let Some(versions) = list["versions"].as_array_mut() {
        for v in versions {
            let n = v["version"].as_u64();
            let on: Vec<u32> = running
                .iter()
                .filter(|(_, r)| *r == n)
                .map(|(p, _)| *p)
                .collect();
            let pending: Vec<u32> = if n == target {
                running
                    .iter()
                    .filter(|(_, r)| *r != n)
                    .map(|(p, _)| *p)
                    .collect()
            } else {
                Vec::new()
            };
            v["partitions"] = json!({ "active_on": on, "pending": pending });
        }
    }
    list["active"] = target.into();
    let running: Vec<_> = running
        .iter()
        .map(|(p, v)| json!({ "partition": p, "version": v }))
        .collect();
    list["running"] = running.into();
    http::json(200, &list)
}

/// Each partition's running version of the document.
async fn partition_versions(env: &Env, doc: Doc) -> Result<Vec<(u32, Option<u64>)>> {
    let partitions = Config::from_env(env)?.partitions;
    let field = format!("{}_version", doc.as_str());
    let calls = (0..partitions).map(|p| {
        let field = field.as_str();
        async move {
            let mut res = call(env, p, &Op::Stats, None).await?;
            let v: Value = res.json().await?;
            Ok::<_, RelayError>((p, v[field].as_u64()))
        }
    });
    join_all(calls).await.into_iter().collect()
}

/// Every partition's catalog, merged.
async fn merged_catalog(env: &Env) -> Result<Catalog> {
    let partitions = Config::from_env(env)?.partitions;
    let calls = (0..partitions).map(|p| async move {
        let mut res = call(env, p, &Op::Catalog, None).await?;
        let c: Catalog = res.json().await?;
        Ok::<_, RelayError>(c)
    });
    let mut names: BTreeMap<String, (u64, BTreeSet<String>)> = BTreeMap::new();
    let mut context = BTreeSet::new();
    let (mut scanned, mut complete) = (0, true);
    for c in join_all(calls).await {
        let c = c?;
        scanned += c.scanned;
        complete &= c.complete;
        context.extend(c.context);
        for e in c.events {
            let (count, paths) = names.entry(e.name).or_default();
            *count += e.count;
            paths.extend(e.properties);
        }
    }
    Ok(Catalog {
        events: names
            .into_iter()
            .map(|(name, (count, paths))| CatalogEvent {
                name,
                count,
                properties: paths.into_iter().collect(),
            })
            .collect(),
        context: context.into_iter().collect(),
        scanned,
        complete,
    })
}

/// One partition's backtest answer, or why there is none.
struct PartitionRun {
    partition: u32,
    answer: std::result::Result<Value, String>,
    timed_out: bool,
}

async fn partition_backtest(env: Env, p: u32, op: Op, text: String) -> PartitionRun {
    let run = async {
        let mut res = call(&env, p, &op, Some(JsValue::from_str(&text))).await?;
        let status = res.status_code();
        let v: Value = res.json().await?;
        if status == 200 {
            Ok(v)
        } else {
            Err(RelayError::Internal {
                message: v["message"].as_str().unwrap_or("failed").to_owned(),
            })
        }
    };
    let timeout = worker::Delay::from(Duration::from_millis(BACKTEST_TIMEOUT_MS));
    match select(Box::pin(run), timeout).await {
        Either::Left((Ok(v), _)) => PartitionRun {
            partition: p,
            answer: Ok(v),
            timed_out: false,
        },
        Either::Left((Err(e), _)) => PartitionRun {
            partition: p,
            answer: Err(e.to_string()),
            timed_out: false,
        },
        Either::Right(_) => PartitionRun {
            partition: p,
            answer: Err(format!("no answer within {BACKTEST_TIMEOUT_MS} ms")),
            timed_out: true,
        },
    }
}

/// Merges partition answers into the result line.
#[derive(Default)]
struct Merge {
    candidate: Report,
    active: Option<Report>,
    partitions: Vec<Value>,
    firings: Vec<Value>,
    want_firings: bool,
    stopped_early: bool,
}

impl Merge {
    fn add(&mut self, run: PartitionRun) -> Value {
        let (events, done) = match run.answer {
            Ok(v) => {
                let report = |x: &Value| serde_json::from_value::<Report>(x.clone()).ok();
                if let Some(c) = report(&v["candidate"]) {
                    self.candidate.merge(&c, SAMPLE_FIRINGS);
                }
                if let Some(a) = report(&v["active"]) {
                    match &mut self.active {
                        Some(m) => m.merge(&a, SAMPLE_FIRINGS),
                        None => self.active = Some(a),
                    }
                }
                if let (true, Some(f)) = (self.want_firings, v["firings"].as_array()) {
                    self.firings.extend(f.iter().cloned());
                }
                let complete = v["complete"].as_bool().unwrap_or(false);
                self.stopped_early |= !complete;
                self.partitions.push(json!({
                    "partition": run.partition, "events": v["events"], "complete": complete,
                    "stopped": v["stopped"], "from": v["from"], "to": v["to"], "end": v["end"],
                }));
                (v["events"].as_u64().unwrap_or(0), true)
            }
            Err(error) => {
                self.stopped_early = true;
                let stopped = if run.timed_out { "time" } else { "error" };
                self.partitions.push(json!({
                    "partition": run.partition, "events": 0, "complete": false,
                    "stopped": stopped, "error": error,
                }));
                (0, false)
            }
        };
        json!({ "type": "progress", "partition": run.partition, "events": events,
                "done": true, "ok": done })
    }

    fn result(&mut self, since: u64) -> Value {
        let figures = |r: &Report, id: &str| {
            r.triggers.iter().find(|t| t.id == id).map(|t| {
                let f = r.figures(t);
                json!({
                    "firings": t.firings, "visitors": t.visitors, "share": f.share,
                    "per_visitor": f.per_visitor, "suppressed": t.suppressed,
                    "held_out": t.held_out, "conversions": t.conversions,
                    "held_out_conversions": t.held_out_conversions,
                })
            })
        };
        let triggers: Vec<_> = self
            .candidate
            .triggers
            .iter()
            .map(|t| {
                json!({
                    "id": t.id,
                    "candidate": figures(&self.candidate, &t.id),
                    "active": self.active.as_ref().and_then(|a| figures(a, &t.id)),
                    "sample": t.sample,
                })
            })
            .collect();
        self.partitions
            .sort_by_key(|p| p["partition"].as_u64().unwrap_or(0));
        let mut out = json!({
            "type": "result",
            "events": self.candidate.events,
            "visitors": self.candidate.visitors,
            "since": since,
            "partitions": self.partitions,
            "triggers": triggers,
            "stopped_early": self.stopped_early,
        });
        if self.want_firings {
            let mut firings = std::mem::take(&mut self.firings);
            firings.sort_by(|a, b| {
                let key = |v: &Value| {
                    (
                        v["time"].as_u64().unwrap_or(0),
                        v["visitor"].as_str().unwrap_or("").to_owned(),
                        v["firing_id"].as_str().unwrap_or("").to_owned(),
                    )
                };
                key(a).cmp(&key(b))
            });
            out["firings"] = firings.into();
        }
        out
    }
}

fn line(v: &Value) -> Vec<u8> {
    let mut bytes = v.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

/// Runs the candidate file over every partition's retained events at once
/// and streams NDJSON: a `started` line, a `progress` line per partition as
/// it answers, then the merged `result`.
async fn backtest(env: &Env, role: Role, b: BacktestBody) -> Result<Response> {
    parse_file(&b.file)?;
    let now = now_ms();
    let since = match b.since.as_deref().unwrap_or("24h") {
        "all" => 0,
        d => now.saturating_sub(parse_duration(d).map_err(|reason| RelayError::BadRequest {
            reason: format!("since: {reason}"),
        })?),
    };
    let bounds = BacktestBounds {
        since,
        max_events: b.max_events_per_partition.unwrap_or(BACKTEST_MAX_EVENTS),
        all_firings: b.firings,
    };
    let partitions = Config::from_env(env)?.partitions;
    let op = Op::Backtest {
        caller: role.name().to_owned(),
        bounds,
    };
    let pending: FuturesUnordered<_> = (0..partitions)
        .map(|p| partition_backtest(env.clone(), p, op.clone(), b.file.clone()))
        .collect();
    let merge = Merge {
        want_firings: b.firings,
        ..Merge::default()
    };
    let started = json!({ "type": "started", "partitions": partitions, "since": since,
                          "max_events_per_partition": bounds.max_events });
    let stream = futures_util::stream::unfold(
        (Some(started), pending, merge, false),
        move |(first, mut pending, mut merge, done)| async move {
            if let Some(first) = first {
                return Some((
                    Ok::<_, worker::Error>(line(&first)),
                    (None, pending, merge, false),
                ));
            }
            if done {
                return None;
            }
            match pending.next().await {
                Some(run) => {
                    let progress = merge.add(run);
                    Some((Ok(line(&progress)), (None, pending, merge, false)))
                }
                None => {
                    let result = merge.result(since);
                    Some((Ok(line(&result)), (None, pending, merge, true)))
                }
            }
        },
    );
    let headers = worker::Headers::new();
    headers.set("content-type", "application/x-ndjson")?;
    headers.set("cache-control", "no-store")?;
    Ok(Response::from_stream(stream)?.with_headers(headers))
}
