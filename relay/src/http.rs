//! Small HTTP helpers: JSON responses, JSON errors, CORS headers, query
//! parameters.

use crate::error::{RelayError, Result};
use serde_json::Value;
use std::collections::HashMap;
use worker::{Headers, Request, Response, Url, WebSocketPair};

/// The header that carries a trigger file's version number.
pub const VERSION_HEADER: &str = "x-eventstream-version";

/// A JSON response with `status`.
pub fn json(status: u16, body: &Value) -> Result<Response> {
    json_text(status, body.to_string())
}

/// A JSON response of text already serialised.
pub fn json_text(status: u16, body: String) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", "application/json")?;
    Ok(Response::ok(body)?
        .with_status(status)
        .with_headers(headers))
}

/// The JSON error response of `e` (with `Retry-After` when rate limited).
pub fn error(e: &RelayError) -> Response {
    let body = e.to_json().to_string();
    let status = e.status();
    let build = || -> worker::Result<Response> {
        let headers = Headers::new();
        headers.set("content-type", "application/json")?;
        if let RelayError::RateLimited { retry_after_s } = e {
            headers.set("retry-after", &retry_after_s.to_string())?;
        }
        Ok(Response::ok(body.clone())?
            .with_status(status)
            .with_headers(headers))
    };
    build().unwrap_or_else(|_| Response::builder().with_status(status).empty())
}

/// Refuses a WebSocket upgrade the way a page can see: the connection is
/// accepted, sent one `{"type":"error",...}` message and closed with the
/// error's close code (a browser cannot read a failed upgrade's status).
pub fn refuse_websocket(e: &RelayError) -> Result<Response> {
    let pair = WebSocketPair::new()?;
    pair.server.accept()?;
    let mut msg = e.to_json();
    if let Value::Object(m) = &mut msg {
        m.insert("type".into(), "error".into());
    }
    pair.server.send_with_str(msg.to_string())?;
    pair.server.close(Some(e.close_code()), Some(e.name()))?;
    Ok(Response::from_websocket(pair.client)?)
}

/// True when the request asks for a WebSocket.
pub fn is_upgrade(req: &Request) -> bool {
    req.headers()
        .get("upgrade")
        .ok()
        .flatten()
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Sets the CORS headers that let a page at `origin` read the response.
pub fn allow_origin(res: &mut Response, origin: &str) -> Result<()> {
    let h = res.headers_mut();
    h.set("access-control-allow-origin", origin)?;
    h.set("access-control-expose-headers", "retry-after")?;
    h.append("vary", "Origin")?;
    Ok(())
}

/// The 204 answer to a CORS preflight from an allowed origin.
pub fn preflight(origin: &str, methods: &str) -> Result<Response> {
    let mut res = Response::empty()?.with_status(204);
    allow_origin(&mut res, origin)?;
    let h = res.headers_mut();
    h.set("access-control-allow-methods", methods)?;
    h.set("access-control-allow-headers", "Content-Type")?;
    h.set("access-control-max-age", "86400")?;
    Ok(res)
}

/// The query parameters (the last value wins for repeated names).
pub fn query(url: &Url) -> HashMap<String, String> {
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The bearer token of the `Authorization` header only (the console's
/// routes never take a token from the URL, where history and logs keep it).
pub fn bearer_header(req: &Request) -> Option<String> {
    req.headers()
        .get("authorization")
        .ok()
        .flatten()
        .and_then(|h| {
            h.strip_prefix("Bearer ")
                .or_else(|| h.strip_prefix("bearer "))
                .map(|t| t.trim().to_owned())
        })
}

/// The bearer token of the request, or its `token` query parameter.
pub fn bearer(req: &Request, q: &HashMap<String, String>) -> Option<String> {
    bearer_header(req).or_else(|| q.get("token").cloned())
}
