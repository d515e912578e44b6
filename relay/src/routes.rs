//! The worker's routes: authentication, CORS, rate limit and routing to
//! the partition's Durable Object. No log or trigger logic lives here.

use crate::auth;
use crate::config::{secret, vars, Config, WriteKeys};
use crate::durable::now_ms;
use crate::error::{RelayError, Result};
use crate::http::{self, bearer, is_upgrade, query};
use broker_core::frame::{self, FrameError, Limits};
use broker_core::log::partition_for;
use broker_core::partition::PartitionError;
use broker_core::trigger::TriggerFile;
use serde_json::{json, Value};
use std::collections::HashMap;
use wasm_bindgen::JsValue;
use worker::{Env, Headers, Method, Request, RequestInit, Response, Url};

/// The Durable Object binding.
pub const BINDING: &str = "PARTITION";

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
    match (method.clone(), segments.as_slice()) {
        (Method::Get, ["health"]) => {
            let config = Config::from_env(env)?;
            http::json(
                200,
                &json!({ "ok": true, "partitions": config.partitions, "version": VERSION }),
            )
        }
        (Method::Options, ["v1", "frames"]) => preflight(&req, env, &q, "POST, OPTIONS"),
        (Method::Post, ["v1", "frames"]) => {
            let cors = cors_origin(&req, env, &q);
            with_cors(cors, ingest(req, env, &q)).await
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
        (Method::Get, ["v1", "partitions", p, stream @ ("events" | "firings")]) => {
            check_bearer(&req, env, &q, false)?;
            let p = partition_number(env, p)?;
            let mut params = pass(&q, &["from", "limit", "max_bytes", "consumer"]);
            params.push(("stream", (*stream).to_owned()));
            forward(call(env, p, Method::Get, "/read", &params, None, false).await?).await
        }
        (Method::Get, ["v1", "partitions", p, "stream"]) => {
            subscriber_socket(&req, env, &q, p).await
        }
        (Method::Put, ["v1", "admin", "triggers"]) => {
            check_admin(&req, env, &q)?;
            put_triggers(req, env).await
        }
        (Method::Get, ["v1", "admin", "triggers"]) => {
            check_admin(&req, env, &q)?;
            forward(call(env, 0, Method::Get, "/triggers", &[], None, false).await?).await
        }
        (Method::Post, ["v1", "admin", "triggers", "validate"]) => {
            check_admin(&req, env, &q)?;
            let mut req = req;
            let text = req.text().await?;
            let file = parse_triggers(&text)?;
            drop(file);
            http::json(200, &json!({ "ok": true }))
        }
        (_, ["health"])
        | (_, ["v1", "frames" | "token" | "partitions"])
        | (_, ["v1", "visitors", _, "ws"])
        | (_, ["v1", "partitions", _, "events" | "firings" | "stream"])
        | (_, ["v1", "admin", "triggers"])
        | (_, ["v1", "admin", "triggers", "validate"]) => Err(RelayError::MethodNotAllowed {
            method: method.to_string(),
            path,
        }),
        _ => Err(RelayError::NotFound {
            method: method.to_string(),
            path,
        }),
    }
}

fn decode_segment(s: &str) -> Result<String> {
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
    forward(
        call(
            env,
            p,
            Method::Post,
            "/append",
            &[],
            Some(body.into()),
            false,
        )
        .await?,
    )
    .await
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
    let params = [("visitor", visitor.to_owned())];
    upgraded(call(env, p, Method::Get, "/visitor-ws", &params, None, true).await?).await
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
    let p = match check_bearer(req, env, q, false).and_then(|_| partition_number(env, p)) {
        Ok(p) => p,
        Err(e) => return http::refuse_websocket(&e),
    };
    let params = pass(q, &["stream", "from", "consumer"]);
    upgraded(call(env, p, Method::Get, "/stream-ws", &params, None, true).await?).await
}

/// The object's answer to an upgrade: the socket, or its JSON refusal
/// turned into a refused socket.
async fn upgraded(mut res: Response) -> Result<Response> {
    if res.status_code() == 101 {
        return Ok(res);
    }
    let status = res.status_code();
    let body: Value = res.json().await.unwrap_or(Value::Null);
    let message = body["message"].as_str().unwrap_or("refused").to_owned();
    let e = match status {
        416 => RelayError::Partition(PartitionError::OffsetOutOfRange {
            requested: body["requested"].as_u64().unwrap_or(0),
            earliest: body["earliest"].as_u64().unwrap_or(0),
            end: body["end"].as_u64().unwrap_or(0),
        }),
        400..=499 => RelayError::BadRequest { reason: message },
        _ => RelayError::Internal { message },
    };
    http::refuse_websocket(&e)
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
    Err(RelayError::Unauthorized { role: "subscriber" })
}

fn check_admin(req: &Request, env: &Env, q: &HashMap<String, String>) -> Result<()> {
    let given = bearer(req, q).unwrap_or_default();
    if auth::ct_eq(&given, &secret(env, vars::ADMIN_TOKEN)?) {
        Ok(())
    } else {
        Err(RelayError::Unauthorized { role: "admin" })
    }
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

fn parse_triggers(text: &str) -> Result<TriggerFile> {
    TriggerFile::parse(text).map_err(|e| RelayError::InvalidTriggers { errors: e.errors })
}

/// Validates the whole file first (nothing changes when it has an error),
/// then activates it on every partition; each partition switches in one
/// commit.
async fn put_triggers(mut req: Request, env: &Env) -> Result<Response> {
    let text = req.text().await?;
    parse_triggers(&text)?;
    let partitions = Config::from_env(env)?.partitions;
    let mut failed = Vec::new();
    for p in 0..partitions {
        let body = JsValue::from_str(&text);
        let res = call(env, p, Method::Put, "/triggers", &[], Some(body), false).await?;
        if res.status_code() != 200 {
            failed.push(p);
        }
    }
    if !failed.is_empty() {
        return Err(RelayError::Internal {
            message: format!("partitions {failed:?} did not activate the file; upload it again"),
        });
    }
    http::json(200, &json!({ "ok": true, "partitions": partitions }))
}

async fn stats(env: &Env) -> Result<Response> {
    let partitions = Config::from_env(env)?.partitions;
    let mut all = Vec::new();
    for p in 0..partitions {
        let mut res = call(env, p, Method::Get, "/stats", &[], None, false).await?;
        let v: Value = res.json().await?;
        all.push(v);
    }
    http::json(200, &json!({ "partitions": all }))
}

fn pass(q: &HashMap<String, String>, names: &[&'static str]) -> Vec<(&'static str, String)> {
    names
        .iter()
        .filter_map(|n| q.get(*n).map(|v| (*n, v.clone())))
        .collect()
}

/// An internal request to partition `p`'s object.
async fn call(
    env: &Env,
    p: u32,
    method: Method,
    op: &str,
    params: &[(&str, String)],
    body: Option<JsValue>,
    upgrade: bool,
) -> Result<Response> {
    let ns = env.durable_object(BINDING)?;
    let stub = ns.id_from_name(&format!("p{p}"))?.get_stub()?;
    let mut url = Url::parse("https://partition/").map_err(|e| RelayError::Internal {
        message: e.to_string(),
    })?;
    url.set_path(op);
    {
        let mut pairs = url.query_pairs_mut();
        pairs.append_pair("p", &p.to_string());
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
    let req = Request::new_with_init(url.as_str(), &init)?;
    Ok(stub.fetch_with_request(req).await?)
}

/// The object's JSON answer, passed on as it is (copied only when CORS
/// headers must be added, by [`with_cors`]).
async fn forward(res: Response) -> Result<Response> {
    Ok(res)
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
