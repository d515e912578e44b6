//! The trigger console's page, served by the relay it belongs to: the files
//! `console/build.sh` writes into `console/dist/`, embedded at compile time
//! (so `wrangler deploy` ships them with the worker, and the page always
//! matches the routes it calls).

use crate::error::{RelayError, Result};
use worker::{Headers, Response};

macro_rules! dist {
    ($name:literal) => {
        include_bytes!(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../console/dist/",
            $name
        ))
    };
}

/// The console's files: name, content type, bytes.
const FILES: &[(&str, &str, &[u8])] = &[
    (
        "console.js",
        "text/javascript; charset=utf-8",
        dist!("console.js"),
    ),
    (
        "console.css",
        "text/css; charset=utf-8",
        dist!("console.css"),
    ),
    (
        "validator_bg.wasm",
        "application/wasm",
        dist!("validator_bg.wasm"),
    ),
];

const PAGE: &[u8] = dist!("index.html");

fn respond(bytes: &[u8], content_type: &str) -> Result<Response> {
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    // Revalidated on every load: the files change with every deploy.
    headers.set("cache-control", "no-cache")?;
    headers.set("x-content-type-options", "nosniff")?;
    Ok(Response::from_bytes(bytes.to_vec())?.with_headers(headers))
}

/// `GET /console`: the page. It carries no token; the page asks for one.
pub fn page() -> Result<Response> {
    let mut res = respond(PAGE, "text/html; charset=utf-8")?;
    let h = res.headers_mut();
    // The page loads only its own files and talks only to this relay;
    // `wasm-unsafe-eval` lets it compile the validator.
    h.set(
        "content-security-policy",
        "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self' 'unsafe-inline'; \
         img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'",
    )?;
    h.set("referrer-policy", "no-referrer")?;
    Ok(res)
}

/// `GET /console/assets/NAME`.
pub fn asset(name: &str) -> Result<Response> {
    match FILES.iter().find(|(n, _, _)| *n == name) {
        Some((_, content_type, bytes)) => respond(bytes, content_type),
        None => Err(RelayError::NotFound {
            method: "GET".into(),
            path: format!("/console/assets/{name}"),
        }),
    }
}
