//! The worker's routes: authentication, CORS, rate limit and routing to
//! the partition's Durable Object. No log or trigger logic lives here.

use crate::config::{secret, vars, Config, WriteKeys};
use crate::durable::now_ms;
use crate::error::{RelayError, Result};
use crate::http::{self, bearer, is_upgrade, query};
use crate::protocol::{parse_stream, query_u64, ControlOp, Op, Position};
use crate::{admin, assets, auth, enrich};
use broker_core::frame::{self, FrameError, Limits};
use broker_core::log::{partition_for, Stream};
use broker_core::partition::PartitionError;
use serde_json::{json, Value};
use std::collections::HashMap;
use wasm_bindgen::JsValue;
use worker::{Env, Headers, Method, Request, Response};

/// The partitions' Durable Object binding.
pub const BINDING: &str = "PARTITION";

/// The control object's binding (trigger file versions).
pub const CONTROL_BINDING: &str = "CONTROL";

/// The relay's version, as `/health` reports it.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// Answers one request; every failure becomes its JSON error.
pub async fn handle(req: Request, env: &Env) -> Response {
    match dispatch(req, env).await {
        Ok(res) => res,
        Err(e) => http::error(&e),
    }
}

async fn dispatch(req: Request, env: &Env) -> Result<Response> {
    let url = req.url()?;
    let q = query(&url);
    let path = url.path().to_owned();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let method = req.method();
    if let ["v1", "admin", rest @ ..] = segments.as_slice() {
        if let Some(answer) = admin::route(req, env, rest).await {
            return answer;
        }
        return Err(RelayError::NotFound {
            method: method.to_string(),
            path,
        });
    }
    match (method.clone(), segments.as_slice()) {
        (Method::Get, ["health"]) => {
            let config = Config::from_env(env)?;
            http::json(
                200,
                &json!({ "ok": true, "partitions": config.partitions, "version": VERSION }),
            )
        }
        (Method::Get, ["console"] | ["console", ""]) => assets::page(),
        (Method::Get, ["console", "assets", name]) => assets::asset(name),
        (Method::Options, ["v1", "frames"]) => preflight(&req, env, &q, "POST, OPTIONS"),
        (Method::Post, ["v1", "frames"]) => {
            let cors = cors_origin(&req, env, &q);
            with_cors(cors, ingest(req, env, &q)).await
        }
        (Method::Options, ["v1", "bundles"]) => preflight(&req, env, &q, "POST, OPTIONS"),
        (Method::Post, ["v1", "bundles"]) => {
            let cors = cors_origin(&req, env, &q);
            with_cors(cors, ingest_bundle(req, env, &q)).await
        }
        (Method::Options, ["v1", "token"]) => preflight(&req, env, &q, "GET, OPTIONS"),
        (Method::Get, ["v1", "token"]) => {
            let cors = cors_origin(&req, env, &q);
            with_cors(cors, token(&req, env, &q)).await
        }
        (Method::Get, ["v1", "visitors", visitor, "ws"]) => {
            let visitor = decode_segment(visitor)?;
            visitor_socket(&req, env, &q, &visitor).await
        }
        (Method::Get, ["v1", "partitions"]) => {
            check_bearer(&req, env, &q, true)?;
            stats(env).await
        }
        (Method::Get, ["v1", "partitions", p, kind @ ("events" | "firings" | "quarantine")]) => {
            check_bearer(&req, env, &q, false)?;
            let p = partition_number(env, p)?;
            let op = Op::Read {
                stream: Stream::parse(kind).unwrap_or(Stream::Events),
                from: Position::parse(&q)?,
                limit: query_u64(&q, "limit", 100)?,
                max_bytes: query_u64(&q, "max_bytes", 1 << 20)?,
            };
            call(env, p, &op, None).await
        }
        (Method::Get, ["v1", "partitions", p, "stream"]) => {
            subscriber_socket(&req, env, &q, p).await
        }
        (_, ["health"])
        | (_, ["console"])
        | (_, ["console", ""])
        | (_, ["console", "assets", _])
        | (_, ["v1", "frames" | "bundles" | "token" | "partitions"])
        | (_, ["v1", "visitors", _, "ws"])
        | (_, ["v1", "partitions", _, "events" | "firings" | "quarantine" | "stream"]) => {
            Err(RelayError::MethodNotAllowed {
                method: method.to_string(),
                path,
            })
        }
        _ => Err(RelayError::NotFound {
            method: method.to_string(),
            path,
        }),
    }
}

/// A percent-encoded path segment, decoded.
pub fn decode_segment(s: &str) -> Result<String> {
    js_sys::decode_uri_component(s)
        .map(String::from)
        .map_err(|_| RelayError::BadRequest {
            reason: format!("path segment {s:?} is not valid percent-encoding"),
        })
}

fn origin_of(req: &Request) -> Option<String> {
    req.headers().get("origin").ok().flatten()
}

fn client_of(req: &Request) -> String {
    req.headers()
        .get("cf-connecting-ip")
        .ok()
        .flatten()
        .unwrap_or_else(|| "unknown".into())
}

/// Checks the `key` parameter and the request's origin against the key's
/// allow-list. A request without `Origin` is not from a page (browsers
/// always send it on cross-origin requests and on POST) and passes.
fn check_key(req: &Request, env: &Env, q: &HashMap<String, String>) -> Result<()> {
    let keys = WriteKeys::from_env(env)?;
    let key = q
        .get("key")
        .and_then(|k| keys.get(k))
        .ok_or(RelayError::UnknownWriteKey)?;
    match origin_of(req) {
        Some(origin) if !key.allows(&origin) => Err(RelayError::OriginNotAllowed { origin }),
        _ => Ok(()),
    }
}

/// The page origin to let read the answer: the request's `Origin` when it
/// is allowed for the key.
fn cors_origin(req: &Request, env: &Env, q: &HashMap<String, String>) -> Option<String> {
    origin_of(req).filter(|_| check_key(req, env, q).is_ok())
}

/// Adds the CORS headers to an ingest answer when the page's origin is
/// allowed for the key (errors included, so the SDK can read the code and
/// `Retry-After`).
async fn with_cors(
    origin: Option<String>,
    fut: impl std::future::Future<Output = Result<Response>>,
) -> Result<Response> {
    let mut res = fut.await.unwrap_or_else(|e| http::error(&e));
    if let Some(origin) = origin {
        res = rebuild(res).await?;
        http::allow_origin(&mut res, &origin)?;
    }
    Ok(res)
}

fn preflight(
    req: &Request,
    env: &Env,
    q: &HashMap<String, String>,
    methods: &str,
) -> Result<Response> {
    check_key(req, env, q)?;
    match origin_of(req) {
        Some(origin) => http::preflight(&origin, methods),
        None => Ok(Response::empty()?.with_status(204)),
    }
}

async fn ingest(mut req: Request, env: &Env, q: &HashMap<String, String>) -> Result<Response> {
    let config = Config::from_env(env)?;
    check_key(&req, env, q)?;
    let key = q.get("key").map(String::as_str).unwrap_or_default();
    auth::rate_limit(
        key,
        &client_of(&req),
        config.rate_per_sec,
        config.rate_burst,
        now_ms() as f64,
    )?;
    let max = config.limits.max_frame_bytes;
    let too_large = |len: usize| PartitionError::Frame(FrameError::FrameTooLarge { len, max });
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|l| l.parse::<usize>().ok());
    if let Some(len) = declared.filter(|l| *l > max) {
        return Err(too_large(len).into());
    }
    let bytes = req.bytes().await?;
    if bytes.len() > max {
        return Err(too_large(bytes.len()).into());
    }
    let visitor = visitor_of(&bytes, &config.limits)?;
    let p = partition_for(&visitor, config.partitions);
    let body = js_sys::Uint8Array::from(bytes.as_slice());
    let op = Op::Append {
        enrichment: Some(enrich::of_request(&req)),
    };
    call(env, p, &op, Some(body.into())).await
}

/// Several frames in one body (`frame::bundle`): each routed to its
/// partition and appended as if POSTed alone, the frames of one partition
/// one after the other in the bundle's order (a producer's frames stay in
/// sequence) in one call to its object, the partitions at once. Answers 200 with one result per
/// frame, in order: the frame's own answer (its acknowledgement or error
/// body) with its `status`. A bundle that cannot be split is refused as a
/// whole (400, or 413 over a limit), and so is one over the rate limit,
/// which counts a token per frame.
async fn ingest_bundle(
    mut req: Request,
    env: &Env,
    q: &HashMap<String, String>,
) -> Result<Response> {
    let config = Config::from_env(env)?;
    check_key(&req, env, q)?;
    let max = config.limits.max_inflated_bytes;
    let declared = req
        .headers()
        .get("content-length")?
        .and_then(|l| l.parse::<usize>().ok());
    let too_large = |len| PartitionError::Frame(FrameError::BundleTooLarge { len, max });
    if let Some(len) = declared.filter(|l| *l > max) {
        return Err(too_large(len).into());
    }
    let bytes = req.bytes().await?;
    let bundle = frame::bundle::split(&bytes, &config.limits).map_err(PartitionError::from)?;
    auth::rate_limit_cost(
        q.get("key").map(String::as_str).unwrap_or_default(),
        &client_of(&req),
        config.rate_per_sec,
        config.rate_burst,
        now_ms() as f64,
        bundle.len() as f64,
    )?;
    let enrichment = enrich::of_request(&req);
    let mut results = vec![Value::Null; bundle.len()];
    let mut by_partition: std::collections::BTreeMap<u32, Vec<(usize, &[u8])>> =
        std::collections::BTreeMap::new();
    for (i, f) in bundle.frames().enumerate() {
        let routed = match f.len() {
            len if len > config.limits.max_frame_bytes => {
                Err(PartitionError::Frame(FrameError::FrameTooLarge {
                    len,
                    max: config.limits.max_frame_bytes,
                })
                .into())
            }
            _ => visitor_of(f, &config.limits),
        };
        match routed {
            Ok(visitor) => by_partition
                .entry(partition_for(&visitor, config.partitions))
                .or_default()
                .push((i, f)),
            Err(e) => results[i] = error_result(&e),
        }
    }
    let enrichment = &enrichment;
    // One call per partition: a frame alone as `POST /v1/frames` sends it,
    // several as a bundle of their own, which the object appends in order.
    let calls = by_partition.into_iter().map(|(p, frames)| async move {
        let enrichment = Some(enrichment.clone());
        let (op, body) = match frames.as_slice() {
            [(_, f)] => (Op::Append { enrichment }, js_sys::Uint8Array::from(*f)),
            _ => {
                let plain =
                    frame::bundle::bundle(&frames.iter().map(|(_, f)| *f).collect::<Vec<_>>());
                (
                    Op::AppendBundle { enrichment },
                    js_sys::Uint8Array::from(plain.as_slice()),
                )
            }
        };
        let answers = match call(env, p, &op, Some(body.into())).await {
            Ok(mut res) => {
                let status = res.status_code();
                match (res.json::<Value>().await, frames.len()) {
                    (Ok(Value::Object(mut m)), 1) => {
                        m.insert("status".into(), status.into());
                        vec![Value::Object(m)]
                    }
                    (Ok(Value::Object(mut m)), n) if status == 200 => match m.remove("results") {
                        Some(Value::Array(a)) if a.len() == n => a,
                        _ => vec![internal(p, status); n],
                    },
                    (Ok(Value::Object(mut m)), n) => {
                        // The object refused the whole call: each frame gets its answer.
                        m.insert("status".into(), status.into());
                        vec![Value::Object(m); n]
                    }
                    (_, n) => vec![internal(p, status); n],
                }
            }
            Err(e) => vec![error_result(&e); frames.len()],
        };
        frames
            .into_iter()
            .map(|(i, _)| i)
            .zip(answers)
            .collect::<Vec<_>>()
    });
    for (i, answer) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .flatten()
    {
        results[i] = answer;
    }
    http::json(200, &json!({ "results": results }))
}

/// One frame's result in a bundle's answer: the error's body with its status.
pub fn error_result(e: &RelayError) -> Value {
    let mut v = e.to_json();
    if let Value::Object(m) = &mut v {
        m.insert("status".into(), e.status().into());
    }
    v
}

/// The result of a frame whose partition answered without the JSON expected.
fn internal(p: u32, status: u16) -> Value {
    error_result(&RelayError::Internal {
        message: format!("partition {p} answered {status} without the JSON expected"),
    })
}

/// The frame's visitor, to route it; the object checks the frame again
/// as it appends (the core never trusts its caller).
fn visitor_of(bytes: &[u8], limits: &Limits) -> Result<String> {
    let plain = frame::inflate(bytes, limits).map_err(PartitionError::from)?;
    let f = frame::decode(&plain, limits).map_err(PartitionError::from)?;
    Ok(f.context.anonymous_id.into_owned())
}

async fn token(req: &Request, env: &Env, q: &HashMap<String, String>) -> Result<Response> {
    check_key(req, env, q)?;
    let config = Config::from_env(env)?;
    let key = q.get("key").map(String::as_str).unwrap_or_default();
    auth::rate_limit(
        key,
        &client_of(req),
        config.rate_per_sec,
        config.rate_burst,
        now_ms() as f64,
    )?;
    let visitor =
        q.get("visitor")
            .filter(|v| !v.is_empty())
            .ok_or_else(|| RelayError::BadRequest {
                reason: "visitor is required".into(),
            })?;
    let key = secret(env, vars::VISITOR_TOKEN_KEY)?;
    http::json(
        200,
        &json!({
            "visitor": visitor,
            "token": auth::visitor_token(&key, visitor),
            "partition": partition_for(visitor, config.partitions),
        }),
    )
}

async fn visitor_socket(
    req: &Request,
    env: &Env,
    q: &HashMap<String, String>,
    visitor: &str,
) -> Result<Response> {
    if !is_upgrade(req) {
        return Err(RelayError::UpgradeRequired);
    }
    let checks = || -> Result<u32> {
        check_key(req, env, q)?;
        let key = secret(env, vars::VISITOR_TOKEN_KEY)?;
        let token = q.get("token").map(String::as_str).unwrap_or_default();
        auth::check_visitor_token(&key, visitor, token)?;
        Ok(partition_for(visitor, Config::from_env(env)?.partitions))
    };
    let p = match checks() {
        Ok(p) => p,
        Err(e) => return http::refuse_websocket(&e),
    };
    let op = Op::VisitorSocket {
        visitor: visitor.to_owned(),
        enrichment: Some(enrich::of_request(req)),
    };
    call(env, p, &op, None).await
}

async fn subscriber_socket(
    req: &Request,
    env: &Env,
    q: &HashMap<String, String>,
    p: &str,
) -> Result<Response> {
    if !is_upgrade(req) {
        return Err(RelayError::UpgradeRequired);
    }
    let checked = check_bearer(req, env, q, false).and_then(|_| {
        Ok((
            partition_number(env, p)?,
            Op::StreamSocket {
                stream: parse_stream(q)?,
                from: Position::parse(q)?,
                consumer: q.get("consumer").filter(|c| !c.is_empty()).cloned(),
            },
        ))
    });
    match checked {
        // The object refuses what only it can judge (an offset out of
        // range) with a refused socket of its own, passed on as it is.
        Ok((p, op)) => call(env, p, &op, None).await,
        Err(e) => http::refuse_websocket(&e),
    }
}

/// Checks the subscriber token (or, for operator routes, also the admin
/// token).
fn check_bearer(
    req: &Request,
    env: &Env,
    q: &HashMap<String, String>,
    admin_too: bool,
) -> Result<()> {
    let given = bearer(req, q).unwrap_or_default();
    let subscriber = secret(env, vars::SUBSCRIBER_TOKEN)?;
    if auth::ct_eq(&given, &subscriber) {
        return Ok(());
    }
    if admin_too && auth::ct_eq(&given, &secret(env, vars::ADMIN_TOKEN)?) {
        return Ok(());
    }
    // The console's roles read the log too (its live debugger), with the
    // token in the Authorization header only.
    if admin::Role::of(req, env).is_ok() {
        return Ok(());
    }
    Err(RelayError::Unauthorized { role: "subscriber" })
}

fn partition_number(env: &Env, p: &str) -> Result<u32> {
    let partitions = Config::from_env(env)?.partitions;
    p.parse::<u32>()
        .ok()
        .filter(|n| *n < partitions)
        .ok_or_else(|| RelayError::UnknownPartition {
            partition: p.to_owned(),
            partitions,
        })
}

async fn stats(env: &Env) -> Result<Response> {
    let partitions = Config::from_env(env)?.partitions;
    let calls = (0..partitions).map(|p| async move {
        let mut res = call(env, p, &Op::Stats, None).await?;
        Ok::<Value, RelayError>(res.json().await?)
    });
    let all: Vec<Value> = futures_util::future::join_all(calls)
        .await
        .into_iter()
        .collect::<Result<_>>()?;
    http::json(200, &json!({ "partitions": all }))
}

/// Runs `op` on partition `p`'s object; its answer, as it is.
pub async fn call(env: &Env, p: u32, op: &Op, body: Option<JsValue>) -> Result<Response> {
    let ns = env.durable_object(BINDING)?;
    let stub = ns.id_from_name(&format!("p{p}"))?.get_stub()?;
    Ok(stub.fetch_with_request(op.request(p, body)?).await?)
}

/// Runs `op` on the control object; its answer, as it is.
pub async fn control(env: &Env, op: ControlOp, body: Option<JsValue>) -> Result<Response> {
    let ns = env.durable_object(CONTROL_BINDING)?;
    let stub = ns.id_from_name("control")?.get_stub()?;
    Ok(stub.fetch_with_request(op.request(body)?).await?)
}

/// A copy of `res` with mutable headers (a fetched response's are not).
async fn rebuild(mut res: Response) -> Result<Response> {
    let status = res.status_code();
    let headers = Headers::new();
    for (k, v) in res.headers().entries() {
        headers.append(&k, &v)?;
    }
    let body = res.bytes().await?;
    Ok(Response::from_bytes(body)?
        .with_status(status)
        .with_headers(headers))
}
