//! The object's hibernating WebSockets: visitor pages (firings out, acks
//! and frames in) and back-office subscribers (records out, commits in).
//!
//! Each socket carries its role in its attachment, which survives
//! hibernation; a subscriber's attachment also holds the next offset to
//! send, so that replay and live records form one gap-free sequence.

use super::{now_ms, Partition};
use crate::error::{RelayError, Result};
use crate::protocol::Position;
use crate::records;
use crate::sql::SqlStore;
use broker_core::context::Enrichment;
use broker_core::log::Stream;
use broker_core::partition::PartitionError;
use broker_core::trigger::Firing;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use worker::{Response, WebSocket, WebSocketIncomingMessage, WebSocketPair};

/// Longest visitor id a socket can be tagged with (the runtime limits
/// tags to 256 characters).
const MAX_VISITOR_TAG: usize = 250;

/// Most records sent to one subscriber per turn; the alarm sends the rest,
/// so that a long replay never holds the object for long.
const MAX_RECORDS_PER_TURN: usize = 5_000;

/// What a socket is, kept in its attachment.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "role", rename_all = "snake_case")]
enum Role {
    /// A visitor's page, with what the worker knew of its request.
    Visitor {
        visitor: String,
        #[serde(default)]
        enrichment: Option<Enrichment>,
    },
    /// A back-office subscriber of one stream.
    Subscriber {
        stream: String,
        next: u64,
        consumer: Option<String>,
    },
}

fn visitor_tag(visitor: &str) -> String {
    format!("v:{visitor}")
}

fn stream_tag(stream: Stream) -> String {
    format!("s:{}", stream.as_str())
}

/// Messages a page or subscriber may send as text.
#[derive(Debug, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
enum Incoming {
    Ack { offsets: Vec<u64> },
    Commit { offset: u64 },
}

fn error_message(e: &RelayError) -> String {
    let mut v = e.to_json();
    if let Value::Object(m) = &mut v {
        m.insert("type".into(), "error".into());
    }
    v.to_string()
}

impl Partition {
    /// Accepts a page of `visitor` and sends it every undelivered firing.
    pub(super) fn accept_visitor(
        &self,
        store: &SqlStore,
        visitor: &str,
        enrichment: Option<Enrichment>,
    ) -> Result<Response> {
        if visitor.is_empty() || visitor.len() > MAX_VISITOR_TAG {
            return Err(RelayError::BadRequest {
                reason: format!("visitor id must be 1 to {MAX_VISITOR_TAG} bytes"),
            });
        }
        let pending = self.with_core(store, |c| c.undelivered_firings(store, visitor))?;
        let pair = WebSocketPair::new()?;
        self.state
            .accept_websocket_with_tags(&pair.server, &[&visitor_tag(visitor)]);
        pair.server.serialize_attachment(Role::Visitor {
            visitor: visitor.to_owned(),
            enrichment,
        })?;
        for (offset, firing) in &pending {
            pair.server
                .send_with_str(records::firing_message(*offset, firing))?;
        }
        Ok(Response::from_websocket(pair.client)?)
    }

    /// Accepts a back-office subscriber and starts its replay.
    pub(super) async fn accept_subscriber(
        &self,
        store: &SqlStore,
        stream: Stream,
        from: Position,
        consumer: Option<String>,
    ) -> Result<Response> {
        let consumer = match &from {
            Position::Committed(name) => Some(name.clone()),
            _ => consumer,
        };
        let from = self.resolve_from(store, stream, &from)?;
        // A read of no records: the core's range check, nothing else.
        self.read(store, stream, from, 0, 0)?;
        let pair = WebSocketPair::new()?;
        self.state
            .accept_websocket_with_tags(&pair.server, &[&stream_tag(stream)]);
        pair.server.serialize_attachment(Role::Subscriber {
            stream: stream.as_str().to_owned(),
            next: from,
            consumer,
        })?;
        if self.feed(store, &pair.server)? {
            // The rest of the replay goes out from the alarm.
            self.schedule(store, now_ms(), true).await?;
        }
        Ok(Response::from_websocket(pair.client)?)
    }

    /// Sends each firing to every open page of its visitor.
    pub(super) fn push_firings(&self, firings: &[(u64, Firing)]) {
        for (offset, firing) in firings {
            let msg = records::firing_message(*offset, firing);
            for ws in self
                .state
                .get_websockets_with_tag(&visitor_tag(&firing.visitor))
            {
                // A page that is going away gets the firing on its next
                // connect: it stays undelivered until acknowledged.
                let _ = ws.send_with_str(&msg);
            }
        }
    }

    /// Sends every subscriber of `stream` what it has not had yet. True
    /// when one of them stopped at the per-turn bound.
    pub(super) fn feed_subscribers(&self, store: &SqlStore, stream: Stream) -> Result<bool> {
        let mut behind = false;
        for ws in self.state.get_websockets_with_tag(&stream_tag(stream)) {
            match self.feed(store, &ws) {
                Ok(b) => behind |= b,
                Err(e) => {
                    let _ = ws.send_with_str(error_message(&e));
                    let _ = ws.close(Some(e.close_code()), Some(e.name()));
                }
            }
        }
        Ok(behind)
    }

    /// Sends one subscriber its records from its next offset on; true when
    /// it stopped at [`MAX_RECORDS_PER_TURN`].
    fn feed(&self, store: &SqlStore, ws: &WebSocket) -> Result<bool> {
        let Some(Role::Subscriber {
            stream,
            mut next,
            consumer,
        }) = ws.deserialize_attachment::<Role>()?
        else {
            return Ok(false);
        };
        let parsed = Stream::parse(&stream).ok_or_else(|| RelayError::Internal {
            message: format!("subscriber of unknown stream {stream:?}"),
        })?;
        let start = next;
        let mut sent = 0usize;
        loop {
            let page = self.read(store, parsed, next, 1_000, 1 << 20)?;
            let (new_next, end) = (page.next_offset, page.end);
            let messages: Vec<_> = page
                .records
                .into_iter()
                .map(records::record_message)
                .collect();
            for m in &messages {
                ws.send_with_str(m)?;
            }
            sent += messages.len();
            next = new_next;
            if messages.is_empty() || next >= end {
                break;
            }
            if sent >= MAX_RECORDS_PER_TURN {
                break;
            }
        }
        if next != start {
            ws.serialize_attachment(Role::Subscriber {
                stream,
                next,
                consumer,
            })?;
        }
        let end = parsed
            .log()
            .meta(store)
            .map_err(PartitionError::from)?
            .next_offset;
        Ok(next < end)
    }

    /// Live sockets: (visitor pages, back-office subscribers).
    pub(super) fn socket_counts(&self) -> (usize, usize) {
        let subs: usize = Stream::ALL
            .iter()
            .map(|s| self.state.get_websockets_with_tag(&stream_tag(*s)).len())
            .sum();
        let all = self.state.get_websockets().len();
        (all.saturating_sub(subs), subs)
    }

    /// A message from a page or a subscriber.
    pub(super) async fn on_socket_message(&self, ws: WebSocket, message: WebSocketIncomingMessage) {
        if let Err(e) = self.handle_socket_message(&ws, message).await {
            let _ = ws.send_with_str(error_message(&e));
            // A refusal by the core (an offset out of range, say) leaves the
            // socket open; a message the relay cannot understand closes it.
            if !matches!(e, RelayError::Partition(_)) {
                let _ = ws.close(Some(e.close_code()), Some(e.name()));
            }
        }
    }

    async fn handle_socket_message(
        &self,
        ws: &WebSocket,
        message: WebSocketIncomingMessage,
    ) -> Result<()> {
        let role = ws
            .deserialize_attachment::<Role>()?
            .ok_or_else(|| RelayError::Internal {
                message: "socket without a role".into(),
            })?;
        let store = self.store()?;
        match (role, message) {
            (Role::Visitor { visitor, .. }, WebSocketIncomingMessage::String(text)) => {
                match parse_incoming(&text)? {
                    Incoming::Ack { offsets } => {
                        let mut s = store.clone();
                        self.with_core(&store, |c| c.ack_firings(&mut s, &visitor, &offsets))
                    }
                    Incoming::Commit { .. } => Err(malformed("pages send acks, not commits")),
                }
            }
            (Role::Visitor { enrichment, .. }, WebSocketIncomingMessage::Binary(frame)) => {
                let result = match injected_fault(&self.env)? {
                    Some(e) => Err(e),
                    None => self.append(&store, &frame, enrichment.as_ref()).await,
                };
                match result {
                    Ok(out) => ws.send_with_str(records::appended_message(&out))?,
                    Err(e) => {
                        // A refused frame is answered, not fatal: the page
                        // keeps its socket (and its firings). The answer
                        // carries the HTTP status the same failure gets over
                        // HTTP, so that the page retries exactly what it
                        // would retry there (a storage failure: 500).
                        let header = broker_core::frame::peek(&frame).ok();
                        let mut v = e.to_json();
                        if let Value::Object(m) = &mut v {
                            m.insert("type".into(), "error".into());
                            m.insert("status".into(), e.status().into());
                            m.insert("retriable".into(), e.is_retriable().into());
                            m.insert(
                                "producer_id".into(),
                                header.map(|h| h.producer_id.to_string()).into(),
                            );
                            m.insert("sequence".into(), header.map(|h| h.sequence).into());
                        }
                        ws.send_with_str(v.to_string())?;
                    }
                }
                Ok(())
            }
            (
                Role::Subscriber {
                    stream, consumer, ..
                },
                WebSocketIncomingMessage::String(text),
            ) => match parse_incoming(&text)? {
                Incoming::Commit { offset } => {
                    let name = consumer.ok_or_else(|| RelayError::BadRequest {
                        reason: "commit needs a consumer name in the stream URL".into(),
                    })?;
                    let stream = Stream::parse(&stream).unwrap_or(Stream::Events);
                    let mut s = store.clone();
                    self.with_core(&store, |c| c.commit_consumer(&mut s, stream, &name, offset))?;
                    ws.send_with_str(
                        json!({ "type": "committed", "offset": offset, "at": now_ms() })
                            .to_string(),
                    )?;
                    Ok(())
                }
                Incoming::Ack { .. } => Err(malformed("subscribers send commits, not acks")),
            },
            (Role::Subscriber { .. }, WebSocketIncomingMessage::Binary(_)) => {
                Err(malformed("subscribers cannot send frames"))
            }
        }
    }
}

/// `TEST_FAULTS=fail_socket_appends=N` (tests only; unset in every
/// deployment, see `config::test_faults`): the isolate's first N frames
/// from visitor sockets fail as a storage failure would.
fn injected_fault(env: &worker::Env) -> Result<Option<RelayError>> {
    thread_local! {
        static FAILED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
    }
    let n = crate::config::test_faults(env)?;
    Ok(FAILED.with(|failed| {
        (failed.get() < n).then(|| {
            failed.set(failed.get() + 1);
            let io = broker_core::storage::StorageError::Io("injected by TEST_FAULTS".into());
            PartitionError::Storage(io).into()
        })
    }))
}

fn malformed(reason: &str) -> RelayError {
    RelayError::BadRequest {
        reason: reason.to_owned(),
    }
}

fn parse_incoming(text: &str) -> Result<Incoming> {
    serde_json::from_str(text).map_err(|e| malformed(&format!("not a known message: {e}")))
}
