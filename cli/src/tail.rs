//! `eventstream tail`: a partition's events or firings as JSON lines,
//! replayed from an offset and then followed live (what
//! `kafka-console-consumer` is to Kafka).

use crate::args::Spec;
use crate::relay::{encode, Relay, RelayError, WebSocket};
use serde_json::{json, Value as Json};
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const TOKEN_ENV: &str = "EVENTSTREAM_SUBSCRIBER_TOKEN";
/// How often a consumer's position is committed while records flow.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// With --until-end, how long to wait for a record before deciding the end is reached
/// (only matters when the start position is not known in advance, as with `committed`).
const IDLE_END: Duration = Duration::from_secs(3);

const HELP: &str = "\
eventstream tail --relay URL [--stream events|firings|quarantine] [--partition N|all]
                 [--from OFFSET|earliest|latest|committed] [--consumer NAME] [--until-end]
                 [--token TOKEN]
    Prints records as JSON lines (partition, offset and the event or firing), replaying from
    --from and then following live until Ctrl-C. With --until-end it stops at the end of the
    log as it was when tail started. With --consumer NAME the position is committed on the
    relay every second and at the end (at-least-once: after a crash a few records may print
    again); --from then defaults to `committed` (the earliest offset if nothing is committed).
    Defaults: --stream events, --partition all, --from latest. `quarantine` is the events the
    tracking plan kept out of `events`, each with its `violations`.
    The subscriber token comes from --token or EVENTSTREAM_SUBSCRIBER_TOKEN.
    Example: eventstream tail --relay http://127.0.0.1:8787 --from earliest --until-end
";

struct Tail {
    relay: Relay,
    stream: String,
    from: String,
    consumer: Option<String>,
    until_end: bool,
    out: Arc<Mutex<std::io::Stdout>>,
}

const SPEC: Spec = Spec {
    command: "tail",
    help: HELP,
    valued: &[
        "--relay",
        "--token",
        "--stream",
        "--partition",
        "--from",
        "--consumer",
    ],
    flags: &["--until-end"],
};

/// `eventstream tail ARGS`.
pub fn run(argv: &[String]) -> u8 {
    let (opts, relay) = match crate::relay::open(argv, &SPEC, &[TOKEN_ENV]) {
        Ok(opened) => opened,
        Err(code) => return code,
    };
    if !opts.positional.is_empty() {
        return SPEC.usage("unexpected arguments");
    }
    let stream = opts.get("--stream").unwrap_or("events");
    if !matches!(stream, "events" | "firings" | "quarantine") {
        return SPEC.usage("--stream must be events, firings or quarantine");
    }
    let consumer = opts.get("--consumer").map(str::to_owned);
    let from = opts.get("--from").unwrap_or(if consumer.is_some() {
        "committed"
    } else {
        "latest"
    });
    let from_ok = matches!(from, "earliest" | "latest")
        || from.parse::<u64>().is_ok()
        || (from == "committed" && consumer.is_some());
    if !from_ok {
        return SPEC
            .usage("--from must be an offset, earliest, latest, or committed (with --consumer)");
    }
    let partitions: Vec<u32> = match opts.get("--partition").unwrap_or("all") {
        "all" => match relay.call("GET", "/health", None) {
            Ok(h) => (0..h["partitions"].as_u64().unwrap_or(1) as u32).collect(),
            Err(e) => return fail(&e),
        },
        n => match n.parse() {
            Ok(p) => vec![p],
            Err(_) => return SPEC.usage("--partition must be a number or all"),
        },
    };
    let tail = Arc::new(Tail {
        relay,
        stream: stream.to_owned(),
        from: from.to_owned(),
        consumer,
        until_end: opts.has("--until-end"),
        out: Arc::new(Mutex::new(std::io::stdout())),
    });
    let handles: Vec<_> = partitions
        .into_iter()
        .map(|p| {
            let t = Arc::clone(&tail);
            std::thread::spawn(move || t.partition(p))
        })
        .collect();
    let mut code = 0;
    for h in handles {
        match h.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("eventstream: {e}");
                code = 1;
            }
            Err(_) => code = 1,
        }
    }
    code
}

impl Tail {
    fn partition(&self, p: u32) -> Result<(), RelayError> {
        // The end as it is now: --until-end stops there.
        let end = if self.until_end {
            let path = format!("/v1/partitions/{p}/{}?from=latest&limit=0", self.stream);
            let info = self.relay.call("GET", &path, None)?;
            let end = info["end"].as_u64().unwrap_or(0);
            let start = match self.from.as_str() {
                "latest" => Some(end),
                "earliest" => info["earliest"].as_u64(),
                n => n.parse().ok(),
            };
            if start.is_some_and(|s| s >= end) {
                return Ok(());
            }
            Some(end)
        } else {
            None
        };
        let mut path = format!(
            "/v1/partitions/{p}/stream?stream={}&from={}&token={}",
            self.stream,
            encode(&self.from),
            encode(&self.relay.token)
        );
        if let Some(c) = &self.consumer {
            path.push_str(&format!("&consumer={}", encode(c)));
        }
        let mut ws = self.relay.websocket(&path, end.map(|_| IDLE_END))?;
        let mut next: Option<u64> = None;
        let mut committed: Option<u64> = None;
        let mut last_commit = Instant::now();
        loop {
            let msg = match ws.read() {
                Ok(m) => m,
                Err(tungstenite::Error::Io(e))
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break; // --until-end and nothing more came: the end is reached
                }
                Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                    break
                }
                Err(e) => return Err(RelayError::Connect(e.to_string())),
            };
            let text = match msg {
                tungstenite::Message::Text(t) => t.to_string(),
                tungstenite::Message::Close(frame) => {
                    if let Some(f) = frame.filter(|f| u16::from(f.code) >= 4000) {
                        return Err(RelayError::Protocol(format!(
                            "closed {}: {}",
                            u16::from(f.code),
                            f.reason
                        )));
                    }
                    break;
                }
                _ => continue,
            };
            let v: Json =
                serde_json::from_str(&text).map_err(|_| RelayError::Protocol(text.clone()))?;
            match v["type"].as_str() {
                Some("record") => {
                    let offset = v["record"]["offset"].as_u64().unwrap_or(0);
                    {
                        let mut out = self.out.lock().unwrap_or_else(|e| e.into_inner());
                        if writeln!(out, "{}", v["record"]).is_err() {
                            return Ok(()); // stdout closed (| head): stop quietly
                        }
                    }
                    next = Some(offset + 1);
                    if end.is_some_and(|e| offset + 1 >= e) {
                        break;
                    }
                }
                Some("error") => return Err(RelayError::Protocol(RelayError::in_stream(&v))),
                _ => {}
            }
            if self.consumer.is_some() && last_commit.elapsed() >= COMMIT_EVERY && next != committed
            {
                commit(&mut ws, next)?;
                committed = next;
                last_commit = Instant::now();
            }
        }
        if self.consumer.is_some() && next != committed {
            commit(&mut ws, next)?;
        }
        let _ = self.out.lock().map(|mut o| o.flush());
        let _ = ws.close(None);
        let _ = ws.flush();
        Ok(())
    }
}

fn commit(ws: &mut WebSocket, next: Option<u64>) -> Result<(), RelayError> {
    if let Some(offset) = next {
        let msg = json!({"type": "commit", "offset": offset}).to_string();
        ws.send(tungstenite::Message::text(msg))
            .map_err(|e| RelayError::Connect(e.to_string()))?;
    }
    Ok(())
}

fn fail(e: &RelayError) -> u8 {
    eprintln!("eventstream: {e}");
    crate::EXIT_USAGE
}
