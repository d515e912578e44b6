//! The worker's internal protocol with its Durable Objects: one typed
//! operation per thing a partition (or the control object) does, encoded
//! to and decoded from an internal request in this one place.
//!
//! An operation travels as `https://partition/<op>?p=<N>&<params>`, the
//! body (a frame, a trigger file, a backtest request) beside it. Neither
//! side spells a path or a parameter name: the worker builds an [`Op`] and
//! calls [`Op::request`], the object gets it back with [`Op::parse`] and
//! matches on it. A new operation is a variant here, a `match` arm in the
//! object, and nothing else.

use crate::error::{RelayError, Result};
use broker_core::context::Enrichment;
use broker_core::log::Stream;
use std::collections::HashMap;
use worker::{Headers, Method, Request, RequestInit, Url};

/// Where a read or a subscription starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Position {
    /// The earliest offset still stored.
    Earliest,
    /// The end: only what is appended from now on.
    Latest,
    /// The consumer's committed offset (the earliest for a new consumer).
    Committed(String),
    /// This offset.
    Offset(u64),
}

impl Position {
    /// `from=OFFSET|earliest|latest|committed` (with `consumer=NAME` for
    /// `committed`); absent is `earliest`.
    pub fn parse(q: &HashMap<String, String>) -> Result<Position> {
        match q.get("from").map(String::as_str) {
            None | Some("earliest") => Ok(Position::Earliest),
            Some("latest") => Ok(Position::Latest),
            Some("committed") => match q.get("consumer").filter(|c| !c.is_empty()) {
                Some(name) => Ok(Position::Committed(name.clone())),
                None => Err(bad("from=committed needs a consumer name")),
            },
            Some(n) => n.parse().map(Position::Offset).map_err(|_| {
                bad(&format!(
                    "from={n:?}: expected an offset, earliest, latest or committed"
                ))
            }),
        }
    }

    fn encode(&self, out: &mut Vec<(&'static str, String)>) {
        let from = match self {
            Position::Earliest => "earliest".to_owned(),
            Position::Latest => "latest".to_owned(),
            Position::Committed(name) => {
                out.push(("consumer", name.clone()));
                "committed".to_owned()
            }
            Position::Offset(n) => n.to_string(),
        };
        out.push(("from", from));
    }
}

/// `stream=events|firings|quarantine` (absent: events).
pub fn parse_stream(q: &HashMap<String, String>) -> Result<Stream> {
    match q.get("stream") {
        None => Ok(Stream::Events),
        Some(s) => Stream::parse(s).ok_or_else(|| {
            bad(&format!(
                "stream={s:?}: expected events, firings or quarantine"
            ))
        }),
    }
}

/// A document that is versioned, pushed and activated on every partition:
/// the trigger file or the tracking plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Doc {
    /// The trigger file.
    Triggers,
    /// The tracking plan.
    Plan,
}

impl Doc {
    /// `triggers` or `plan`, as in the admin routes.
    pub fn as_str(self) -> &'static str {
        match self {
            Doc::Triggers => "triggers",
            Doc::Plan => "plan",
        }
    }

    /// The document named `triggers` or `plan`.
    pub fn parse(s: &str) -> Option<Doc> {
        [Doc::Triggers, Doc::Plan]
            .into_iter()
            .find(|d| d.as_str() == s)
    }

    /// `a trigger file` or `a tracking plan`, for messages.
    pub fn noun(self) -> &'static str {
        match self {
            Doc::Triggers => "a trigger file",
            Doc::Plan => "a tracking plan",
        }
    }

    fn of(q: &HashMap<String, String>) -> Result<Doc> {
        let d = q.get("doc").map(String::as_str).unwrap_or_default();
        Doc::parse(d).ok_or_else(|| bad(&format!("doc={d:?}: expected triggers or plan")))
    }
}

/// A numeric query parameter, or `default` when absent.
pub fn query_u64(q: &HashMap<String, String>, name: &str, default: u64) -> Result<u64> {
    match q.get(name) {
        None => Ok(default),
        Some(s) => s.parse().map_err(|_| {
            bad(&format!(
                "query parameter {name}={s:?} is not a non-negative integer"
            ))
        }),
    }
}

fn bad(reason: &str) -> RelayError {
    RelayError::BadRequest {
        reason: reason.to_owned(),
    }
}

/// Bounds of a server-side backtest on one partition. (Its time bound is
/// the worker's: the runtime's clock does not advance inside one
/// object's synchronous replay.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BacktestBounds {
    /// Events stamped before this (ms since the epoch) are skipped.
    pub since: u64,
    /// The replay stops after this many events.
    pub max_events: u64,
    /// Return every firing, not only the report's sample.
    pub all_firings: bool,
}

/// One operation of a partition's Durable Object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Append the frame in the body, with what the worker knows of the
    /// request (place, device, bot).
    Append {
        /// Added to the context of the frame's events.
        enrichment: Option<Enrichment>,
    },
    /// Append each frame of the plain bundle in the body, in order, as
    /// [`Op::Append`] would: one result each (`{"results": [...]}`).
    AppendBundle {
        /// Added to the context of the frames' events.
        enrichment: Option<Enrichment>,
    },
    /// Read records of a stream.
    Read {
        /// Which stream.
        stream: Stream,
        /// From where.
        from: Position,
        /// Most records.
        limit: u64,
        /// Most bytes of stored batches.
        max_bytes: u64,
    },
    /// Accept a visitor's page socket.
    VisitorSocket {
        /// The visitor's anonymous id.
        visitor: String,
        /// What the worker knows of the page's request, added to the
        /// frames it sends over the socket.
        enrichment: Option<Enrichment>,
    },
    /// Accept a back-office subscriber socket.
    StreamSocket {
        /// Which stream.
        stream: Stream,
        /// From where.
        from: Position,
        /// The consumer whose commits it may send.
        consumer: Option<String>,
    },
    /// Activate the document in the body as `version`.
    Activate {
        /// The trigger file or the plan.
        doc: Doc,
        /// The version number the control object gave it.
        version: u64,
    },
    /// The active document, as uploaded.
    Active {
        /// The trigger file or the plan.
        doc: Doc,
    },
    /// The tracking plan's violation counters.
    PlanStats,
    /// One bounded step of a replay of the quarantine with the active plan.
    ReplayQuarantine {
        /// The quarantine offset the replay goes up to (none on the first
        /// step: the stream's end then).
        until: Option<u64>,
    },
    /// The partition's figures.
    Stats,
    /// Replay the retained events with the candidate file in the body and
    /// with the active file, changing nothing.
    Backtest {
        /// Who asks (a role), so that one caller runs one at a time.
        caller: String,
        /// How far to go.
        bounds: BacktestBounds,
    },
    /// Event names, property paths and context paths the log has seen.
    Catalog,
    /// One visitor's most recent events.
    VisitorEvents {
        /// The visitor's anonymous id.
        visitor: String,
        /// Most events returned.
        limit: u64,
    },
    /// Trigger counters of minutes in `[from, to)` (ms), merged into
    /// buckets of `bucket` ms, for one trigger or all.
    TriggerStats {
        /// Range start, ms since the epoch.
        from: u64,
        /// Range end (excluded).
        to: u64,
        /// Bucket size in ms (a minute or an hour).
        bucket: u64,
        /// Only this trigger, when given.
        trigger: Option<String>,
    },
    /// Why `trigger` did or did not fire for `visitor`, event by event.
    Explain {
        /// The visitor's anonymous id.
        visitor: String,
        /// The trigger's id.
        trigger: String,
    },
}

impl Op {
    fn name(&self) -> &'static str {
        match self {
            Op::Append { .. } => "append",
            Op::AppendBundle { .. } => "append-bundle",
            Op::Read { .. } => "read",
            Op::VisitorSocket { .. } => "visitor-ws",
            Op::StreamSocket { .. } => "stream-ws",
            Op::Activate { .. } => "activate",
            Op::Active { .. } => "active",
            Op::PlanStats => "plan-stats",
            Op::ReplayQuarantine { .. } => "replay-quarantine",
            Op::Stats => "stats",
            Op::Backtest { .. } => "backtest",
            Op::Catalog => "catalog",
            Op::VisitorEvents { .. } => "visitor-events",
            Op::TriggerStats { .. } => "trigger-stats",
            Op::Explain { .. } => "explain",
        }
    }

    /// True for the operations answered with a WebSocket.
    pub fn is_upgrade(&self) -> bool {
        matches!(self, Op::VisitorSocket { .. } | Op::StreamSocket { .. })
    }

    fn method(&self) -> Method {
        match self {
            Op::Append { .. }
            | Op::AppendBundle { .. }
            | Op::Backtest { .. }
            | Op::ReplayQuarantine { .. } => Method::Post,
            Op::Activate { .. } => Method::Put,
            _ => Method::Get,
        }
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = Vec::new();
        match self {
            Op::Stats | Op::Catalog | Op::PlanStats => {}
            Op::Active { doc } => out.push(("doc", doc.as_str().to_owned())),
            Op::ReplayQuarantine { until } => {
                if let Some(u) = until {
                    out.push(("until", u.to_string()));
                }
            }
            Op::Append { enrichment } | Op::AppendBundle { enrichment } => {
                push_enrichment(&mut out, enrichment)
            }
            Op::Read {
                stream,
                from,
                limit,
                max_bytes,
            } => {
                out.push(("stream", stream.as_str().to_owned()));
                from.encode(&mut out);
                out.push(("limit", limit.to_string()));
                out.push(("max_bytes", max_bytes.to_string()));
            }
            Op::VisitorSocket {
                visitor,
                enrichment,
            } => {
                out.push(("visitor", visitor.clone()));
                push_enrichment(&mut out, enrichment);
            }
            Op::StreamSocket {
                stream,
                from,
                consumer,
            } => {
                out.push(("stream", stream.as_str().to_owned()));
                from.encode(&mut out);
                if let (Some(c), false) = (consumer, matches!(from, Position::Committed(_))) {
                    out.push(("consumer", c.clone()));
                }
            }
            Op::Activate { doc, version } => {
                out.push(("doc", doc.as_str().to_owned()));
                out.push(("version", version.to_string()));
            }
            Op::Backtest { caller, bounds } => {
                out.push(("caller", caller.clone()));
                out.push(("since", bounds.since.to_string()));
                out.push(("max_events", bounds.max_events.to_string()));
                out.push(("all_firings", bounds.all_firings.to_string()));
            }
            Op::VisitorEvents { visitor, limit } => {
                out.push(("visitor", visitor.clone()));
                out.push(("limit", limit.to_string()));
            }
            Op::TriggerStats {
                from,
                to,
                bucket,
                trigger,
            } => {
                out.push(("from", from.to_string()));
                out.push(("to", to.to_string()));
                out.push(("bucket", bucket.to_string()));
                if let Some(t) = trigger {
                    out.push(("trigger", t.clone()));
                }
            }
            Op::Explain { visitor, trigger } => {
                out.push(("visitor", visitor.clone()));
                out.push(("trigger", trigger.clone()));
            }
        }
        out
    }

    /// The internal request for partition `p` (the body, if any, beside it).
    pub fn request(&self, p: u32, body: Option<wasm_bindgen::JsValue>) -> Result<Request> {
        let mut params = vec![("p", p.to_string())];
        params.extend(self.params());
        internal_request(
            "partition",
            self.name(),
            self.method(),
            &params,
            self.is_upgrade(),
            body,
        )
    }

    /// The partition number and the operation of an internal request.
    pub fn parse(method: &Method, url: &Url) -> Result<(u32, Op)> {
        let q = query_of(url);
        let p = q
            .get("p")
            .and_then(|p| p.parse::<u32>().ok())
            .ok_or_else(|| bad("internal request without a partition"))?;
        let text = |name: &str| q.get(name).cloned().unwrap_or_default();
        let op = match url.path().trim_start_matches('/') {
            "append" => Op::Append {
                enrichment: parse_enrichment(&q)?,
            },
            "append-bundle" => Op::AppendBundle {
                enrichment: parse_enrichment(&q)?,
            },
            "read" => Op::Read {
                stream: parse_stream(&q)?,
                from: Position::parse(&q)?,
                limit: query_u64(&q, "limit", 100)?,
                max_bytes: query_u64(&q, "max_bytes", 1 << 20)?,
            },
            "visitor-ws" => Op::VisitorSocket {
                visitor: text("visitor"),
                enrichment: parse_enrichment(&q)?,
            },
            "stream-ws" => {
                let from = Position::parse(&q)?;
                // With `committed`, the consumer travels in the position.
                let consumer = match from {
                    Position::Committed(_) => None,
                    _ => q.get("consumer").filter(|c| !c.is_empty()).cloned(),
                };
                Op::StreamSocket {
                    stream: parse_stream(&q)?,
                    from,
                    consumer,
                }
            }
            "activate" => Op::Activate {
                doc: Doc::of(&q)?,
                version: query_u64(&q, "version", 0)?,
            },
            "active" => Op::Active { doc: Doc::of(&q)? },
            "plan-stats" => Op::PlanStats,
            "replay-quarantine" => Op::ReplayQuarantine {
                until: match q.get("until") {
                    Some(_) => Some(query_u64(&q, "until", 0)?),
                    None => None,
                },
            },
            "stats" => Op::Stats,
            "backtest" => Op::Backtest {
                caller: text("caller"),
                bounds: BacktestBounds {
                    since: query_u64(&q, "since", 0)?,
                    max_events: query_u64(&q, "max_events", u64::MAX)?,
                    all_firings: q.get("all_firings").is_some_and(|v| v == "true"),
                },
            },
            "catalog" => Op::Catalog,
            "visitor-events" => Op::VisitorEvents {
                visitor: text("visitor"),
                limit: query_u64(&q, "limit", 200)?,
            },
            "trigger-stats" => Op::TriggerStats {
                from: query_u64(&q, "from", 0)?,
                to: query_u64(&q, "to", 0)?,
                bucket: query_u64(&q, "bucket", 3_600_000)?,
                trigger: q.get("trigger").cloned(),
            },
            "explain" => Op::Explain {
                visitor: text("visitor"),
                trigger: text("trigger"),
            },
            other => {
                return Err(RelayError::NotFound {
                    method: method.to_string(),
                    path: format!("/{other} (internal)"),
                })
            }
        };
        if op.method() != *method {
            return Err(RelayError::MethodNotAllowed {
                method: method.to_string(),
                path: format!("/{} (internal)", op.name()),
            });
        }
        Ok((p, op))
    }
}

fn push_enrichment(out: &mut Vec<(&'static str, String)>, e: &Option<Enrichment>) {
    if let Some(json) = e.as_ref().and_then(|e| serde_json::to_string(e).ok()) {
        out.push(("enrichment", json));
    }
}

fn parse_enrichment(q: &HashMap<String, String>) -> Result<Option<Enrichment>> {
    q.get("enrichment")
        .map(|j| serde_json::from_str(j).map_err(|e| bad(&format!("enrichment: {e}"))))
        .transpose()
}

/// An internal request `https://<host>/<name>?<params>`.
fn internal_request(
    host: &str,
    name: &str,
    method: Method,
    params: &[(&'static str, String)],
    upgrade: bool,
    body: Option<wasm_bindgen::JsValue>,
) -> Result<Request> {
    let mut url = Url::parse(&format!("https://{host}/")).map_err(|e| RelayError::Internal {
        message: e.to_string(),
    })?;
    url.set_path(name);
    {
        let mut pairs = url.query_pairs_mut();
        for (k, v) in params {
            pairs.append_pair(k, v);
        }
    }
    let headers = Headers::new();
    if upgrade {
        headers.set("upgrade", "websocket")?;
    }
    let mut init = RequestInit::new();
    init.with_method(method)
        .with_headers(headers)
        .with_body(body);
    Ok(Request::new_with_init(url.as_str(), &init)?)
}

fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// One operation of the control object (`Control`, one per deployment),
/// which keeps the versions of the trigger file and of the tracking plan,
/// each document numbered on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlOp {
    /// Store the [`NewVersion`] in the body as the next version and make
    /// it the target.
    CreateVersion {
        /// Of which document.
        doc: Doc,
    },
    /// Every version's metadata, newest first, and the target.
    Versions {
        /// Of which document.
        doc: Doc,
    },
    /// One version's content.
    Version {
        /// Of which document.
        doc: Doc,
        /// Its number.
        version: u64,
    },
    /// Make an existing version the target (what every partition should run).
    SetTarget {
        /// Of which document.
        doc: Doc,
        /// Its number.
        version: u64,
    },
}

/// The body of [`ControlOp::CreateVersion`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NewVersion {
    /// The document, validated by the worker.
    pub content: String,
    /// Who pushed it, as they said.
    pub author: String,
    /// The role of their token.
    pub role: String,
    /// Why, as they said.
    pub comment: Option<String>,
    /// The version whose content this restores, for a revert.
    pub reverts: Option<u64>,
}

impl ControlOp {
    fn name(&self) -> &'static str {
        match self {
            ControlOp::CreateVersion { .. } => "create-version",
            ControlOp::Versions { .. } => "versions",
            ControlOp::Version { .. } => "version",
            ControlOp::SetTarget { .. } => "set-target",
        }
    }

    fn method(&self) -> Method {
        match self {
            ControlOp::CreateVersion { .. } | ControlOp::SetTarget { .. } => Method::Post,
            ControlOp::Versions { .. } | ControlOp::Version { .. } => Method::Get,
        }
    }

    /// Which document the operation is about.
    pub fn doc(&self) -> Doc {
        match self {
            ControlOp::CreateVersion { doc }
            | ControlOp::Versions { doc }
            | ControlOp::Version { doc, .. }
            | ControlOp::SetTarget { doc, .. } => *doc,
        }
    }

    fn params(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("doc", self.doc().as_str().to_owned())];
        if let ControlOp::Version { version, .. } | ControlOp::SetTarget { version, .. } = self {
            out.push(("version", version.to_string()));
        }
        out
    }

    /// The internal request (the body, if any, beside it).
    pub fn request(&self, body: Option<wasm_bindgen::JsValue>) -> Result<Request> {
        internal_request(
            "control",
            self.name(),
            self.method(),
            &self.params(),
            false,
            body,
        )
    }

    /// The operation of an internal request.
    pub fn parse(method: &Method, url: &Url) -> Result<ControlOp> {
        let q = query_of(url);
        let version = || query_u64(&q, "version", 0);
        let op = match url.path().trim_start_matches('/') {
            "create-version" => ControlOp::CreateVersion { doc: Doc::of(&q)? },
            "versions" => ControlOp::Versions { doc: Doc::of(&q)? },
            "version" => ControlOp::Version {
                doc: Doc::of(&q)?,
                version: version()?,
            },
            "set-target" => ControlOp::SetTarget {
                doc: Doc::of(&q)?,
                version: version()?,
            },
            other => {
                return Err(RelayError::NotFound {
                    method: method.to_string(),
                    path: format!("/{other} (control)"),
                })
            }
        };
        if op.method() != *method {
            return Err(RelayError::MethodNotAllowed {
                method: method.to_string(),
                path: format!("/{} (control)", op.name()),
            });
        }
        Ok(op)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(op: Op) {
        let mut url = Url::parse("https://partition/").unwrap();
        url.set_path(op.name());
        url.query_pairs_mut().append_pair("p", "3");
        for (k, v) in op.params() {
            url.query_pairs_mut().append_pair(k, &v);
        }
        assert_eq!(Op::parse(&op.method(), &url).unwrap(), (3, op));
    }

    #[test]
    fn every_operation_survives_its_encoding() {
        let ops = [
            Op::Append { enrichment: None },
            Op::AppendBundle { enrichment: None },
            Op::Append {
                enrichment: Some(Enrichment {
                    bot: Some(true),
                    ..Enrichment::default()
                }),
            },
            Op::Read {
                stream: Stream::Firings,
                from: Position::Committed("ops".into()),
                limit: 7,
                max_bytes: 99,
            },
            Op::Read {
                stream: Stream::Events,
                from: Position::Offset(42),
                limit: 0,
                max_bytes: 1,
            },
            Op::VisitorSocket {
                visitor: "a b&c=d".into(),
                enrichment: None,
            },
            Op::StreamSocket {
                stream: Stream::Events,
                from: Position::Latest,
                consumer: Some("c".into()),
            },
            Op::StreamSocket {
                stream: Stream::Events,
                from: Position::Earliest,
                consumer: None,
            },
            Op::Activate {
                doc: Doc::Triggers,
                version: 12,
            },
            Op::Activate {
                doc: Doc::Plan,
                version: 3,
            },
            Op::Active { doc: Doc::Plan },
            Op::PlanStats,
            Op::ReplayQuarantine { until: None },
            Op::ReplayQuarantine { until: Some(0) },
            Op::Read {
                stream: Stream::Quarantine,
                from: Position::Earliest,
                limit: 1,
                max_bytes: 1,
            },
            Op::Stats,
            Op::Backtest {
                caller: "editor".into(),
                bounds: BacktestBounds {
                    since: 1,
                    max_events: 2,
                    all_firings: true,
                },
            },
            Op::Catalog,
            Op::VisitorEvents {
                visitor: "v".into(),
                limit: 5,
            },
            Op::TriggerStats {
                from: 1,
                to: 2,
                bucket: 60_000,
                trigger: Some("cart-rescue".into()),
            },
            Op::TriggerStats {
                from: 0,
                to: u64::MAX,
                bucket: 3_600_000,
                trigger: None,
            },
            Op::Explain {
                visitor: "v &=1".into(),
                trigger: "cart-rescue".into(),
            },
        ];
        for op in ops {
            round_trip(op);
        }
    }

    #[test]
    fn every_control_operation_survives_its_encoding() {
        for op in [
            ControlOp::CreateVersion { doc: Doc::Plan },
            ControlOp::Versions { doc: Doc::Triggers },
            ControlOp::Version {
                doc: Doc::Triggers,
                version: 4,
            },
            ControlOp::SetTarget {
                doc: Doc::Plan,
                version: 9,
            },
        ] {
            let mut url = Url::parse("https://control/").unwrap();
            url.set_path(op.name());
            for (k, v) in op.params() {
                url.query_pairs_mut().append_pair(k, &v);
            }
            assert_eq!(ControlOp::parse(&op.method(), &url).unwrap(), op);
        }
    }

    #[test]
    fn positions_parse_as_the_readme_says() {
        let q = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(Position::parse(&q(&[])).unwrap(), Position::Earliest);
        assert_eq!(
            Position::parse(&q(&[("from", "17")])).unwrap(),
            Position::Offset(17)
        );
        assert!(Position::parse(&q(&[("from", "committed")])).is_err());
        assert!(Position::parse(&q(&[("from", "-1")])).is_err());
        assert_eq!(
            parse_stream(&q(&[("stream", "quarantine")])).unwrap(),
            Stream::Quarantine
        );
        assert!(parse_stream(&q(&[("stream", "quarantined")])).is_err());
    }
}
