//! Wire-size figures: the reference corpus packed into frames, against the
//! same events as Segment-style JSON.
//!
//! Run: `cargo run --release -p broker-core --example pack [corpus path]`
//!
//! Each session is its own visitor and frames never span two of them; a
//! session's events go into frames of N in order. Per event = total bytes of
//! all frames / events. `defl` counts each frame as the smaller of its
//! DEFLATE form and its plain form (what a sender sends). JSON is one object per event, the way analytics.js
//! sends it (`{"batch":[...],"sentAt":..}` per frame), gzip = deflate at the
//! same level + 18 bytes of gzip header and trailer.

use broker_core::corpus::{self, CorpusEvent};
use broker_core::event::{map_to_json, EventKind, Value};
use broker_core::frame::{self, Context, FrameBuilder, Limits, DEFLATE_LEVEL};
use broker_core::time::iso8601;
use serde_json::json;
use std::borrow::Cow;
use std::time::Instant;

const GZIP_OVERHEAD: usize = 18;
const USER_AGENT: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36";

#[derive(Default)]
struct Sizes {
    frames: usize,
    events: usize,
    raw: usize,
    deflated: usize,
    json: usize,
    json_gzip: usize,
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR")));
    let text = match std::fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("pack: cannot read {}: {e}", path.display());
            std::process::exit(2);
        }
    };
    let calls = match corpus::parse_corpus(&text) {
        Ok(c) => c,
        Err((line, e)) => {
            eprintln!("pack: {}:{line}: {e}", path.display());
            std::process::exit(2);
        }
    };
    let sessions = split_sessions(&calls);
    println!(
        "corpus: {} ({} events, {} sessions)\n",
        path.display(),
        calls.len(),
        sessions.len()
    );
    println!(
        "{:>12} {:>7} | {:>9} {:>9} | {:>9} {:>9} | {:>8}",
        "events/frame", "frames", "raw B/ev", "defl B/ev", "JSON B/ev", "gzip B/ev", "raw/gzip"
    );
    let mut all_frames: Vec<Vec<u8>> = Vec::new();
    for n in [1usize, 20, 100] {
        let (s, frames) = pack(&sessions, n);
        let per = |b: usize| b as f64 / s.events as f64;
        println!(
            "{:>12} {:>7} | {:>9.1} {:>9.1} | {:>9.1} {:>9.1} | {:>7.2}x",
            n,
            s.frames,
            per(s.raw),
            per(s.deflated),
            per(s.json),
            per(s.json_gzip),
            s.json_gzip as f64 / s.raw as f64,
        );
        if n == 20 {
            all_frames = frames;
        }
    }
    decode_speed(&all_frames);
}

/// Consecutive calls of one session.
fn split_sessions(calls: &[CorpusEvent]) -> Vec<&[CorpusEvent]> {
    let mut out = Vec::new();
    let mut start = 0;
    for i in 1..=calls.len() {
        if i == calls.len() || calls[i].session != calls[start].session {
            out.push(&calls[start..i]);
            start = i;
        }
    }
    out
}

fn context_for<'a>(session: &'a [CorpusEvent], user_id: Option<&'a str>) -> Context<'a> {
    let referrer = session
        .iter()
        .find(|c| c.event.kind == EventKind::Page)
        .and_then(
            |c| match c.event.properties.iter().find(|(k, _)| k == "referrer") {
                Some((_, Value::Str(s))) => Some(s.as_ref()),
                _ => None,
            },
        )
        .unwrap_or("");
    Context {
        anonymous_id: Cow::Borrowed(&session[0].visitor),
        user_id: user_id.map(Cow::Borrowed),
        session_id: session[0].session,
        origin: "https://shop.example".into(),
        referrer: referrer.into(),
        locale: "en-US".into(),
        screen_width: 1440,
        screen_height: 900,
        timezone: "Europe/Berlin".into(),
        library: "eventstream-js/0.1.0".into(),
        campaign: Vec::new(),
    }
}

fn pack(sessions: &[&[CorpusEvent]], n: usize) -> (Sizes, Vec<Vec<u8>>) {
    let mut s = Sizes::default();
    let mut frames = Vec::new();
    for (si, session) in sessions.iter().enumerate() {
        let producer_id = 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(si as u64 + 1);
        let mut user_id: Option<&str> = None;
        let mut page: Option<&CorpusEvent> = None;
        for (seq, chunk) in session.chunks(n).enumerate() {
            let mut b = FrameBuilder::new(&context_for(session, user_id));
            let mut batch = Vec::with_capacity(chunk.len());
            for c in chunk {
                if let Err(e) = b.push(&c.event) {
                    eprintln!("pack: session {}: {e}", c.session);
                    std::process::exit(1);
                }
                if c.event.kind == EventKind::Page {
                    page = Some(c);
                }
                batch.push(segment_json(c, user_id, page, session));
                if let Some(u) = c.user_id.as_deref() {
                    user_id = Some(u);
                }
            }
            let sent_at = chunk.last().map_or(0, |c| c.event.timestamp + 50);
            let bytes = b.finish(producer_id, seq as u64, sent_at);
            let packed = frame::compress(&bytes).unwrap_or_else(|e| panic!("compress: {e}"));
            let body = json!({ "batch": batch, "sentAt": iso8601(sent_at) }).to_string();
            s.frames += 1;
            s.events += chunk.len();
            s.raw += bytes.len();
            s.deflated += packed.len().min(bytes.len());
            s.json += body.len();
            s.json_gzip += miniz_oxide::deflate::compress_to_vec(body.as_bytes(), DEFLATE_LEVEL)
                .len()
                + GZIP_OVERHEAD;
            frames.push(bytes);
        }
    }
    (s, frames)
}

/// One event as analytics.js would send it.
fn segment_json(
    c: &CorpusEvent,
    user_id: Option<&str>,
    page: Option<&CorpusEvent>,
    session: &[CorpusEvent],
) -> serde_json::Value {
    let e = &c.event;
    let prop = |ev: Option<&CorpusEvent>, k: &str| -> serde_json::Value {
        ev.and_then(|p| p.event.properties.iter().find(|(key, _)| key == k))
            .map(|(_, v)| v.into())
            .unwrap_or(serde_json::Value::String(String::new()))
    };
    let first_page = session.iter().find(|x| x.event.kind == EventKind::Page);
    let mut o = json!({
        "anonymousId": c.visitor,
        "userId": user_id.or(c.user_id.as_deref()),
        "timestamp": iso8601(e.timestamp),
        "messageId": message_id(c),
        "context": {
            "page": {
                "path": prop(page, "path"),
                "url": prop(page, "url"),
                "title": prop(page, "title"),
                "referrer": prop(first_page, "referrer"),
            },
            "library": { "name": "analytics.js", "version": "next-1.84.3" },
            "locale": "en-US",
            "userAgent": USER_AGENT,
            "timezone": "Europe/Berlin",
            "screen": { "width": 1440, "height": 900 },
        },
    });
    let props = serde_json::Value::Object(map_to_json(&e.properties));
    let fields = match e.kind {
        EventKind::Page => json!({ "type": "page", "name": e.name, "properties": props }),
        EventKind::Identify => json!({ "type": "identify", "traits": props }),
        EventKind::Track => json!({ "type": "track", "event": e.name, "properties": props }),
        EventKind::Click => {
            json!({ "type": "track", "event": "Element Clicked", "properties": props })
        }
        EventKind::Submit => {
            json!({ "type": "track", "event": "Form Submitted", "properties": props })
        }
    };
    if let (Some(o), serde_json::Value::Object(f)) = (o.as_object_mut(), fields) {
        o.extend(f);
    }
    o
}

/// `ajs-next-` and 32 hex digits, deterministic per event.
fn message_id(c: &CorpusEvent) -> String {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for b in c.visitor.bytes().chain(c.event.timestamp.to_le_bytes()) {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    let h2 = h.rotate_left(29).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    format!("ajs-next-{h:016x}{h2:016x}")
}

/// A rough single-thread decode figure over the 20-event frames (the
/// criterion bench `frame` is the careful one).
fn decode_speed(frames: &[Vec<u8>]) {
    let limits = Limits::DEFAULT;
    let events: usize = frames
        .iter()
        .map(|f| frame::decode(f, &limits).map_or(0, |d| d.events.len()))
        .sum();
    let rounds = 20;
    let start = Instant::now();
    let mut seen = 0usize;
    for _ in 0..rounds {
        for f in frames {
            seen += frame::decode(std::hint::black_box(f), &limits).map_or(0, |d| d.events.len());
        }
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "\ndecode, frames of 20: {:.2} M events/s ({} events x {rounds} in {:.3} s)",
        seen as f64 / secs / 1e6,
        events,
        secs
    );
}
