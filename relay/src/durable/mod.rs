//! The `Partition` Durable Object: one per partition (object name `p<N>`),
//! a thin driver around [`broker_core::partition::Partition`].
//!
//! It performs what the core asks for and nothing more: appends and reads
//! through [`SqlStore`], the alarm set to the core's `poll_timeout`, firings
//! pushed to the visitor's hibernating WebSockets, records to back-office
//! subscribers. The only state kept in memory is a cache (the opened core,
//! the alarm time last set); after hibernation or a restart it is rebuilt
//! from storage.
//!
//! The worker talks to it with the typed operations of
//! [`crate::protocol`]; it is not reachable from outside.

mod archive;
mod console;
mod control;
mod object;
mod outcomes;
mod sockets;

pub use console::SAMPLE_FIRINGS;
pub use control::Control;
pub use object::Partition;

use crate::config::Config;
use crate::error::{RelayError, Result};
use crate::http;
use crate::protocol::{Doc, Op, Position};
use crate::records;
use crate::sql::SqlStore;
use broker_core::context::Enrichment;
use broker_core::log::Stream;
use broker_core::partition::{Partition as Core, PartitionError};
use broker_core::plan::Plan;
use broker_core::trigger::TriggerFile;
use serde_json::json;
use std::cell::{Cell, RefCell};
use worker::{
    DurableObject, Env, Request, Response, ScheduledTime, State, WebSocket,
    WebSocketIncomingMessage,
};

/// The name under which the object remembers its partition number (for
/// alarms, which arrive without a request).
const META_PARTITION: &str = "partition";

/// The version number of the active document (from the control object),
/// beside the file the core stores.
fn version_meta(doc: Doc) -> &'static str {
    match doc {
        Doc::Triggers => "triggers_version",
        Doc::Plan => "plan_version",
    }
}

/// How long appends may go without the core's `poll_timeout` (see
/// `schedule_after_append`).
const COALESCE_MS: u64 = 50;

/// Milliseconds since the epoch, from the runtime's clock.
pub fn now_ms() -> u64 {
    worker::Date::now().as_millis()
}

impl DurableObject for Partition {
    fn new(state: State, env: Env) -> Self {
        Partition {
            state,
            env,
            core: RefCell::new(None),
            number: Cell::new(None),
            alarm_at: Cell::new(None),
            in_alarm: Cell::new(false),
            schema_ready: Cell::new(false),
            last_poll: Cell::new(0),
            backtests: RefCell::new(Default::default()),
            catalog: RefCell::new(None),
        }
    }

    async fn fetch(&self, req: Request) -> worker::Result<Response> {
        match self.route(req).await {
            Ok(res) => Ok(res),
            Err(e) => Ok(http::error(&e)),
        }
    }

    async fn alarm(&self) -> worker::Result<Response> {
        if let Err(e) = self.on_alarm().await {
            worker::console_error!("alarm failed: {e}");
            // Throwing makes the runtime retry the alarm with backoff.
            return Err(worker::Error::RustError(e.to_string()));
        }
        Response::ok("")
    }

    async fn websocket_message(
        &self,
        ws: WebSocket,
        message: WebSocketIncomingMessage,
    ) -> worker::Result<()> {
        self.on_socket_message(ws, message).await;
        Ok(())
    }

    async fn websocket_close(
        &self,
        ws: WebSocket,
        code: usize,
        _reason: String,
        _was_clean: bool,
    ) -> worker::Result<()> {
        // Completes the closing handshake; the socket may be gone already.
        let code = u16::try_from(code)
            .ok()
            .filter(|c| *c >= 1000 && *c != 1005 && *c != 1006);
        let _ = ws.close(code.or(Some(1000)), Some("closing"));
        Ok(())
    }

    async fn websocket_error(&self, ws: WebSocket, _error: worker::Error) -> worker::Result<()> {
        let _ = ws.close(Some(1011), Some("error"));
        Ok(())
    }
}

impl Partition {
    fn store(&self) -> Result<SqlStore> {
        let store = SqlStore::open(&self.state, !self.schema_ready.get())
            .map_err(|e| RelayError::Partition(e.into()))?;
        self.schema_ready.set(true);
        Ok(store)
    }

    fn config(&self) -> Result<Config> {
        Config::from_env(&self.env)
    }

    /// Learns the partition number from the internal request, remembering
    /// it in storage for the alarm.
    fn learn_number(&self, p: u32, store: &SqlStore) -> Result<()> {
        if self.number.get() != Some(p) {
            if store.meta(META_PARTITION).map_err(PartitionError::from)? != Some(p.to_string()) {
                store
                    .set_meta(META_PARTITION, &p.to_string())
                    .map_err(PartitionError::from)?;
            }
            self.number.set(Some(p));
        }
        Ok(())
    }

    fn known_number(&self, store: &SqlStore) -> Result<u32> {
        if let Some(p) = self.number.get() {
            return Ok(p);
        }
        let p = store
            .meta(META_PARTITION)
            .map_err(PartitionError::from)?
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| RelayError::Internal {
                message: "alarm before the partition number was stored".into(),
            })?;
        self.number.set(Some(p));
        Ok(p)
    }

    /// Runs `f` on the core, opening it first if needed. Never held across
    /// an `await`.
    fn with_core<T>(
        &self,
        store: &SqlStore,
        f: impl FnOnce(&mut Core) -> Result<T, PartitionError>,
    ) -> Result<T> {
        let mut slot = self.core.borrow_mut();
        if slot.is_none() {
            let number = self.known_number(store)?;
            let config = self.config()?.partition_config(number);
            *slot = Some(Core::open(store, config)?);
        }
        match slot.as_mut() {
            Some(core) => Ok(f(core)?),
            None => Err(RelayError::Internal {
                message: "partition core missing".into(),
            }),
        }
    }

    /// Answers one internal request. A refused WebSocket operation is
    /// answered with a refused socket carrying the exact error, which the
    /// worker passes on as it is.
    async fn route(&self, req: Request) -> Result<Response> {
        let url = req.url()?;
        let (p, op) = Op::parse(&req.method(), &url)?;
        let upgrade = op.is_upgrade();
        match self.run(req, p, op).await {
            Err(e) if upgrade => http::refuse_websocket(&e),
            other => other,
        }
    }

    async fn run(&self, mut req: Request, partition: u32, op: Op) -> Result<Response> {
        let store = self.store()?;
        self.learn_number(partition, &store)?;
        match op {
            Op::Append { enrichment } => {
                let bytes = req.bytes().await?;
                let out = self.append(&store, &bytes, enrichment.as_ref()).await?;
                http::json(200, &records::append_ack(&out))
            }
            Op::AppendBundle { enrichment } => {
                let bytes = req.bytes().await?;
                let limits = self.config()?.limits;
                let bundle = broker_core::frame::bundle::split(&bytes, &limits)
                    .map_err(PartitionError::from)?;
                let mut results = Vec::with_capacity(bundle.len());
                for f in bundle.frames() {
                    results.push(match self.append(&store, f, enrichment.as_ref()).await {
                        Ok(out) => {
                            let mut ack = records::append_ack(&out);
                            ack["status"] = 200.into();
                            ack
                        }
                        Err(e) => crate::routes::error_result(&e),
                    });
                }
                http::json(200, &json!({ "results": results }))
            }
            Op::VisitorSocket {
                visitor,
                enrichment,
            } => self.accept_visitor(&store, &visitor, enrichment),
            Op::StreamSocket {
                stream,
                from,
                consumer,
            } => self.accept_subscriber(&store, stream, from, consumer).await,
            Op::Read {
                stream,
                from,
                limit,
                max_bytes,
            } => {
                let from = self.resolve_from(&store, stream, &from)?;
                let page = self.read(&store, stream, from, clamp(limit), clamp(max_bytes))?;
                http::json(
                    200,
                    &json!({ "records": page.records, "next_offset": page.next_offset,
                             "end": page.end, "earliest": page.earliest }),
                )
            }
            Op::Stats => self.stats(&store, partition),
            Op::Activate { doc, version } => {
                let text = req.text().await?;
                self.activate(&store, doc, version, text).await?;
                http::json(
                    200,
                    &json!({ "ok": true, "partition": partition, "version": version }),
                )
            }
            Op::Active { doc } => {
                let file = self.with_core(&store, |core| match doc {
                    Doc::Triggers => core.trigger_file(&store),
                    Doc::Plan => core.plan_file(&store),
                })?;
                let file = file.ok_or(match doc {
                    Doc::Triggers => RelayError::NoTriggers,
                    Doc::Plan => RelayError::NoPlan,
                })?;
                let headers = worker::Headers::new();
                headers.set("content-type", "application/json")?;
                if let Some(v) = self.version(&store, doc)? {
                    headers.set(http::VERSION_HEADER, &v.to_string())?;
                }
                Ok(Response::ok(file)?.with_headers(headers))
            }
            Op::PlanStats => {
                let c = self.with_core(&store, |core| core.plan_counters(&store))?;
                http::json(200, &records::plan_counters(partition, &c))
            }
            Op::ReplayQuarantine { until } => {
                let mut s = store.clone();
                let now = now_ms();
                let out =
                    self.with_core(&store, |core| core.replay_quarantine(&mut s, until, now))?;
                if out.released > 0 {
                    self.feed_subscribers(&store, Stream::Events)?;
                }
                self.feed_subscribers(&store, Stream::Quarantine)?;
                http::json(
                    200,
                    &json!({ "partition": partition, "released": out.released,
                             "kept": out.kept, "until": out.until, "more": out.more }),
                )
            }
            Op::Backtest { caller, bounds } => {
                let text = req.text().await?;
                self.backtest(&store, &caller, bounds, &text).await
            }
            Op::Catalog => self.catalog(&store).await,
            Op::VisitorEvents { visitor, limit } => {
                self.visitor_events(&store, &visitor, clamp(limit)).await
            }
            Op::TriggerStats {
                from,
                to,
                bucket,
                trigger,
            } => self.trigger_stats(&store, (from, to), bucket, trigger.as_deref()),
            Op::Explain { visitor, trigger } => self.explain(&store, &visitor, &trigger),
        }
    }

    /// The version of the active document, when it came with one.
    pub(super) fn version(&self, store: &SqlStore, doc: Doc) -> Result<Option<u64>> {
        Ok(store
            .meta(version_meta(doc))
            .map_err(PartitionError::from)?
            .and_then(|v| v.parse().ok()))
    }

    /// Activates `text` as version `version` of the trigger file or the
    /// plan, then records the version number. Versions only move forward:
    /// an older one than the active (a push that lost a race) is refused,
    /// the same one is a no-op.
    async fn activate(&self, store: &SqlStore, doc: Doc, version: u64, text: String) -> Result<()> {
        match self.version(store, doc)? {
            Some(active) if active > version => {
                return Err(RelayError::StaleVersion { version, active })
            }
            Some(active) if active == version => return Ok(()),
            _ => {}
        }
        let mut s = store.clone();
        match doc {
            Doc::Triggers => {
                let file = TriggerFile::parse(&text)
                    .map_err(|e| RelayError::InvalidTriggers { errors: e.errors })?;
                self.with_core(store, |core| core.set_triggers(&mut s, &text, file))?;
            }
            Doc::Plan => {
                let plan =
                    Plan::parse(&text).map_err(|e| RelayError::InvalidPlan { errors: e.errors })?;
                let now = now_ms();
                self.with_core(store, |core| core.set_plan(&mut s, &text, plan, now))?;
            }
        }
        store
            .set_meta(version_meta(doc), &version.to_string())
            .map_err(PartitionError::from)?;
        self.schedule(store, now_ms(), false).await
    }

    /// Appends one frame, then pushes what it caused and re-arms the alarm.
    async fn append(
        &self,
        store: &SqlStore,
        bytes: &[u8],
        enrichment: Option<&Enrichment>,
    ) -> Result<broker_core::partition::AppendOutcome> {
        let now = now_ms();
        let mut s = store.clone();
        let out = self.with_core(store, |core| {
            core.append_enriched(&mut s, bytes, now, enrichment)
        })?;
        if !out.duplicate {
            self.push_firings(&out.firings);
            self.feed_subscribers(store, Stream::Events)?;
            if out.plan.quarantined > 0 {
                self.feed_subscribers(store, Stream::Quarantine)?;
            }
            if !out.firings.is_empty() {
                self.feed_subscribers(store, Stream::Firings)?;
            }
            self.schedule_after_append(store, now).await?;
        }
        Ok(out)
    }

    /// Re-arms the alarm after an append, coalescing bursts: the core's
    /// `poll_timeout` (four reads) runs at most once per
    /// [`COALESCE_MS`]; in between, the alarm is brought forward to the end
    /// of the window instead, and the alarm handler polls. A wake-up an
    /// append creates is therefore handled at most `COALESCE_MS` late; an
    /// immediate firing is pushed at once either way.
    async fn schedule_after_append(&self, store: &SqlStore, now: u64) -> Result<()> {
        let window_end = now.saturating_add(COALESCE_MS);
        if self.alarm_at.get().is_some_and(|t| t <= window_end) {
            // An alarm within the window will poll anyway.
            return Ok(());
        }
        if now.saturating_sub(self.last_poll.get()) < COALESCE_MS {
            let at = js_sys::Date::new(&js_sys::Number::from(window_end as f64));
            self.state
                .storage()
                .set_alarm(ScheduledTime::new(at))
                .await?;
            self.alarm_at.set(Some(window_end));
            return Ok(());
        }
        self.schedule(store, now, false).await
    }

    async fn on_alarm(&self) -> Result<()> {
        self.in_alarm.set(true);
        let result = self.run_alarm().await;
        self.in_alarm.set(false);
        result
    }

    async fn run_alarm(&self) -> Result<()> {
        self.alarm_at.set(None);
        let store = self.store()?;
        let now = now_ms();
        let mut s = store.clone();
        let out = self.with_core(&store, |core| core.handle_timeout(&mut s, now))?;
        self.push_firings(&out.firings);
        self.feed_subscribers(&store, Stream::Firings)?;
        // A subscriber's replay is sent in bounded steps; the alarm
        // carries on the ones that stopped at the bound.
        let behind = self.feed_subscribers(&store, Stream::Events)?;
        // The archive's failure (R2 unreachable, an injected one) must not
        // hold the rest back: it is thrown after the alarm is set again,
        // and the runtime retries the alarm with backoff.
        let archived = self.archive(&store, now).await;
        let more = out.more || behind || archived.as_ref().is_ok_and(|a| a.more);
        self.schedule(&store, now, more).await?;
        archived.map(|_| ())
    }

    /// Sets the alarm to the core's next deadline (or to now when work is
    /// left over), unless an earlier alarm is already set.
    async fn schedule(&self, store: &SqlStore, now: u64, soon: bool) -> Result<()> {
        let next = if soon {
            Some(now)
        } else {
            self.last_poll.set(now);
            let core = self.with_core(store, |core| core.poll_timeout(store, now))?;
            let archive = self.archive_deadline(store, now)?;
            core.into_iter().chain(archive).min()
        };
        let Some(next) = next else {
            return Ok(());
        };
        let storage = self.state.storage();
        let current = match self.alarm_at.get() {
            Some(t) => Some(t),
            None if self.in_alarm.get() => None,
            None => storage.get_alarm().await?.map(|t| t.max(0) as u64),
        };
        if current.is_none_or(|c| next < c) {
            let at = js_sys::Date::new(&js_sys::Number::from(next as f64));
            storage.set_alarm(ScheduledTime::new(at)).await?;
            self.alarm_at.set(Some(next));
        } else {
            self.alarm_at.set(current);
        }
        Ok(())
    }

    /// Records of `stream` from `from` on, as JSON: the one read path of
    /// the range reads and the subscriber sockets. The core checks the
    /// range (`limit` 0 checks it and returns the positions only).
    pub(super) fn read(
        &self,
        store: &SqlStore,
        stream: Stream,
        from: u64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<records::Page> {
        self.with_core(store, |c| match stream {
            Stream::Events => c
                .read_events(store, from, limit, max_bytes)
                .map(|r| records::Page::of(r, records::event_record)),
            Stream::Firings => c
                .read_firings(store, from, limit, max_bytes)
                .map(|r| records::Page::of(r, records::firing_record)),
            Stream::Quarantine => c
                .read_quarantine(store, from, limit, max_bytes)
                .map(|r| records::Page::of(r, records::event_record)),
        })
    }

    /// A [`Position`] as an offset.
    pub(super) fn resolve_from(
        &self,
        store: &SqlStore,
        stream: Stream,
        from: &Position,
    ) -> Result<u64> {
        let meta = || stream.log().meta(store).map_err(PartitionError::from);
        match from {
            Position::Earliest => Ok(meta()?.earliest_offset),
            Position::Latest => Ok(meta()?.next_offset),
            Position::Committed(name) => {
                match self.with_core(store, |c| c.consumer_position(store, stream, name))? {
                    Some(p) => Ok(p),
                    None => Ok(meta()?.earliest_offset),
                }
            }
            Position::Offset(n) => Ok(*n),
        }
    }

    fn stats(&self, store: &SqlStore, partition: u32) -> Result<Response> {
        let s = self.with_core(store, |c| c.stats(store))?;
        let stream = |x: &broker_core::partition::StreamStats| json!({ "earliest": x.earliest, "end": x.end, "bytes": x.bytes, "batches": x.batches });
        let consumers: Vec<_> = s
            .consumers
            .iter()
            .map(|c| json!({ "stream": c.stream.as_str(), "name": c.name, "offset": c.offset }))
            .collect();
        let (visitors, subscribers) = self.socket_counts();
        http::json(
            200,
            &json!({
                "partition": partition,
                "events": stream(&s.events),
                "firings": stream(&s.firings),
                "quarantine": stream(&s.quarantine),
                "producers": s.producers,
                "consumers": consumers,
                "triggers_active": s.triggers_active,
                "triggers_error": s.triggers_error,
                "triggers_version": self.version(store, Doc::Triggers)?,
                "plan_active": s.plan_active,
                "plan_error": s.plan_error,
                "plan_version": self.version(store, Doc::Plan)?,
                "visitor_sockets": visitors,
                "subscribers": subscribers,
                "database_bytes": store.database_size(),
                "archive": self.archive_stats(store)?,
            }),
        )
    }
}

fn clamp(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
