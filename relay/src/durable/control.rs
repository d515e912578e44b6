//! The `Control` Durable Object (one per deployment, object name
//! `control`): the versions of the trigger file and of the tracking plan
//! (a table each, numbered on their own).
//!
//! Every push is an immutable version: number, time, author, role, comment
//! and content, in SQLite. The *target* is the version every partition
//! should run; each partition records which version it runs (see
//! [`Op::Activate`](crate::protocol::Op::Activate)), so "what is
//! active where" is read from the partitions themselves, never guessed
//! from what a push last heard.

use crate::error::{RelayError, Result};
use crate::http;
use crate::protocol::{ControlOp, Doc, NewVersion};
use serde::Deserialize;
use serde_json::json;
use worker::{DurableObject, Env, Request, Response, SqlStorageValue, State};

/// The tables: one of versions per document (the trigger file's and the
/// plan's, the same columns), and the targets.
fn schema() -> String {
    let mut sql = String::new();
    for doc in [Doc::Triggers, Doc::Plan] {
        sql.push_str(&format!(
            "CREATE TABLE IF NOT EXISTS {} (
                version INTEGER PRIMARY KEY,
                time INTEGER NOT NULL,
                author TEXT NOT NULL,
                role TEXT NOT NULL,
                comment TEXT,
                reverts INTEGER,
                content TEXT NOT NULL);\n",
            table(doc).0
        ));
    }
    sql.push_str(
        "CREATE TABLE IF NOT EXISTS control_meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);",
    );
    sql
}

/// The table of a document's versions, and the name of its target in
/// `control_meta` (the trigger file's kept the names it had before plans).
fn table(doc: Doc) -> (&'static str, &'static str) {
    match doc {
        Doc::Triggers => ("versions", "target"),
        Doc::Plan => ("plan_versions", "plan_target"),
    }
}

/// Most versions listed by [`ControlOp::Versions`] (the newest).
pub const MAX_LISTED_VERSIONS: u32 = 200;

pub use object::Control;

mod object {
    // The `#[durable_object]` macro generates undocumented glue.
    #![allow(missing_docs)]
    use worker::{durable_object, Env, State};

    /// The Durable Object class `Control` (binding `CONTROL`).
    #[durable_object]
    pub struct Control {
        pub(super) state: State,
        #[allow(dead_code)]
        pub(super) env: Env,
    }
}

#[derive(Debug, Deserialize)]
struct Row {
    version: f64,
    time: f64,
    author: String,
    role: String,
    comment: Option<String>,
    reverts: Option<f64>,
    bytes: f64,
}

#[derive(Debug, Deserialize)]
struct Content {
    content: String,
}

#[derive(Debug, Deserialize)]
struct Number {
    n: Option<f64>,
}

impl DurableObject for Control {
    fn new(state: State, env: Env) -> Self {
        Control { state, env }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        match self.route(req).await {
            Ok(res) => Ok(res),
            Err(e) => Ok(http::error(&e)),
        }
    }
}

fn internal(e: worker::Error) -> RelayError {
    RelayError::Internal {
        message: e.to_string(),
    }
}

impl Control {
    async fn route(&self, mut req: Request) -> Result<Response> {
        let url = req.url()?;
        let op = ControlOp::parse(&req.method(), &url)?;
        let sql = self.state.storage().sql();
        sql.exec(&schema(), None).map_err(internal)?;
        let doc = op.doc();
        let (versions, _) = table(doc);
        match op {
            ControlOp::CreateVersion { .. } => {
                let new: NewVersion = req.json().await.map_err(|e| RelayError::BadRequest {
                    reason: format!("not a version: {e}"),
                })?;
                let next = self.latest(doc)?.unwrap_or(0) + 1;
                let opt = |v: Option<u64>| v.map_or(SqlStorageValue::Null, |v| (v as i64).into());
                sql.exec(
                    &format!(
                        "INSERT INTO {versions} (version, time, author, role, comment, reverts, content)
                         VALUES (?, ?, ?, ?, ?, ?, ?)"
                    ),
                    vec![
                        (next as i64).into(),
                        (super::now_ms() as i64).into(),
                        new.author.into(),
                        new.role.into(),
                        new.comment.map_or(SqlStorageValue::Null, Into::into),
                        opt(new.reverts),
                        new.content.into(),
                    ],
                )
                .map_err(internal)?;
                self.set_target(doc, next)?;
                http::json(200, &json!({ "version": next }))
            }
            ControlOp::Versions { .. } => {
                let rows: Vec<Row> = sql
                    .exec(
                        &format!(
                            "SELECT version, time, author, role, comment, reverts,
                                    length(CAST(content AS BLOB)) AS bytes
                             FROM {versions} ORDER BY version DESC LIMIT ?"
                        ),
                        vec![(MAX_LISTED_VERSIONS as i64).into()],
                    )
                    .and_then(|c| c.to_array())
                    .map_err(internal)?;
                let versions: Vec<_> = rows
                    .into_iter()
                    .map(|r| {
                        json!({
                            "version": r.version as u64, "time": r.time as u64,
                            "author": r.author, "role": r.role, "comment": r.comment,
                            "reverts": r.reverts.map(|v| v as u64), "bytes": r.bytes as u64,
                        })
                    })
                    .collect();
                http::json(
                    200,
                    &json!({ "target": self.target(doc)?, "latest": self.latest(doc)?, "versions": versions }),
                )
            }
            ControlOp::Version { version, .. } => {
                let rows: Vec<Content> = sql
                    .exec(
                        &format!("SELECT content FROM {versions} WHERE version = ?"),
                        vec![(version as i64).into()],
                    )
                    .and_then(|c| c.to_array())
                    .map_err(internal)?;
                let row = rows
                    .into_iter()
                    .next()
                    .ok_or(RelayError::NoSuchVersion { version })?;
                let headers = worker::Headers::new();
                headers.set("content-type", "application/json")?;
                headers.set(http::VERSION_HEADER, &version.to_string())?;
                Ok(Response::ok(row.content)?.with_headers(headers))
            }
            ControlOp::SetTarget { version, .. } => {
                if self
                    .latest(doc)?
                    .is_none_or(|latest| version == 0 || version > latest)
                {
                    return Err(RelayError::NoSuchVersion { version });
                }
                self.set_target(doc, version)?;
                http::json(200, &json!({ "target": version }))
            }
        }
    }

    fn number(&self, query: &str) -> Result<Option<u64>> {
        let rows: Vec<Number> = self
            .state
            .storage()
            .sql()
            .exec(query, None)
            .and_then(|c| c.to_array())
            .map_err(internal)?;
        Ok(rows.into_iter().next().and_then(|r| r.n).map(|n| n as u64))
    }

    fn latest(&self, doc: Doc) -> Result<Option<u64>> {
        self.number(&format!("SELECT max(version) AS n FROM {}", table(doc).0))
    }

    fn target(&self, doc: Doc) -> Result<Option<u64>> {
        self.number(&format!(
            "SELECT value AS n FROM control_meta WHERE name = '{}'",
            table(doc).1
        ))
    }

    fn set_target(&self, doc: Doc, version: u64) -> Result<()> {
        self.state
            .storage()
            .sql()
            .exec(
                "INSERT OR REPLACE INTO control_meta (name, value) VALUES (?, ?)",
                vec![table(doc).1.into(), (version as i64).into()],
            )
            .map_err(internal)?;
        Ok(())
    }
}
