#![doc = include_str!("../README.md")]
#![deny(missing_docs)]

pub mod admin;
pub mod assets;
pub mod auth;
pub mod config;
pub mod durable;
pub mod enrich;
pub mod error;
pub mod http;
pub mod outcomes;
pub mod protocol;
pub mod quality;
pub mod records;
pub mod routes;
pub mod sql;

pub use durable::{Control, Partition};
pub use error::RelayError;

use worker::{event, Context, Env, Request, Response};

/// The worker's entry: routes every request (see [`routes`]).
#[event(fetch)]
pub async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    Ok(routes::handle(req, &env).await)
}
