//! `eventstream frame decode|encode`: frames to JSON and back, for debugging
//! what a page sends and for building test traffic.
//!
//! JSON shape of a frame (one per line):
//! `{"version":1,"flags":0,"producer_id":"123","sequence":0,"sent_at":ms,
//!   "context":{"anonymous_id":..,"user_id":null,"session_id":..,"origin":..,"referrer":..,
//!   "locale":..,"screen_width":..,"screen_height":..,"timezone":..,"library":..,"campaign":{}},
//!   "events":[{"kind":"track","name":"Product Viewed","time":ms,"properties":{..}}]}`
//! `producer_id` is written as a string (it is a full u64, beyond JSON's safe
//! integers) and read as a string or a number.

use crate::args::{self, Spec};
use broker_core::event::{map_to_json, Event, EventKind, Map, Value};
use broker_core::frame::{self, Context, Frame, Limits};
use serde_json::{json, Value as Json};
use std::borrow::Cow;
use std::io::{BufRead, Write};

const HELP: &str = "\
eventstream frame decode [FILE|-] [--hex]
    Decodes frames to JSON, one line per frame. Input is one binary frame, or with --hex one
    hex-encoded frame per line. A bad frame prints {\"error\":{code,name,message}} in its place,
    the reason on stderr, and the exit code is 1.
    Example: eventstream frame decode --hex frames.hex

eventstream frame encode [FILE|-] [--hex]
    Encodes JSON frames (one per line, the shape `decode` prints; version and flags are ignored)
    to binary, or with --hex to one hex line per frame.
    Example: echo '{\"producer_id\":1,\"sequence\":0,\"sent_at\":1764000000000,
      \"context\":{\"anonymous_id\":\"a-1\"},\"events\":[{\"kind\":\"track\",\"name\":\"Signed Up\",
      \"time\":1764000000000,\"properties\":{\"plan\":\"pro\"}}]}' | eventstream frame encode --hex
";

const SPEC: Spec = Spec {
    command: "frame",
    help: HELP,
    valued: &[],
    flags: &["--hex"],
};

/// Runs `eventstream frame ARGS`; returns the exit code.
pub fn run(argv: &[String]) -> u8 {
    let parsed = match args::parse(argv, &SPEC) {
        Ok(a) => a,
        Err(code) => return code,
    };
    let hex = parsed.has("--hex");
    let (sub, input) = match parsed.positional.as_slice() {
        [sub] => (sub.as_str(), "-"),
        [sub, input] => (sub.as_str(), input.as_str()),
        [] => return SPEC.usage("missing subcommand"),
        [_, _, extra, ..] => return SPEC.usage(&format!("unexpected argument {extra:?}")),
    };
    if !matches!(sub, "decode" | "encode") {
        return SPEC.usage(&format!("unknown subcommand {sub:?}"));
    }
    let data = match args::read_input(input) {
        Ok(d) => d,
        Err(e) => return SPEC.fail(&e),
    };
    if sub == "decode" {
        decode_cmd(&data, hex)
    } else {
        encode_cmd(&data, hex)
    }
}

fn decode_cmd(data: &[u8], hex: bool) -> u8 {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut failed = false;
    let frames: Vec<(usize, Result<Vec<u8>, String>)> = if hex {
        data.lines()
            .map_while(Result::ok)
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (i + 1, from_hex(l.trim())))
            .collect()
    } else {
        vec![(1, Ok(data.to_vec()))]
    };
    for (line, bytes) in frames {
        let result = bytes
            .map_err(|m| json!({"code": 0, "name": "bad_hex", "message": m}))
            .and_then(|b| {
                decode_to_json(&b).map_err(
                    |e| json!({"code": e.code(), "name": e.name(), "message": e.to_string()}),
                )
            });
        let text = match result {
            Ok(j) => j.to_string(),
            Err(err) => {
                failed = true;
                eprintln!(
                    "line {line}: {} ({})",
                    err["message"].as_str().unwrap_or(""),
                    err["name"].as_str().unwrap_or("")
                );
                json!({ "error": err }).to_string()
            }
        };
        if writeln!(out, "{text}").is_err() {
            return 1;
        }
    }
    u8::from(failed)
}

fn decode_to_json(bytes: &[u8]) -> Result<Json, frame::FrameError> {
    let limits = Limits::DEFAULT;
    let header = frame::peek(bytes)?;
    let plain = frame::inflate(bytes, &limits)?;
    let f = frame::decode(&plain, &limits)?;
    Ok(frame_to_json(&f, header.version, header.flags))
}

/// A decoded frame as JSON (the shape documented at the top of this module).
pub fn frame_to_json(f: &Frame<'_>, version: u8, flags: u8) -> Json {
    let c = &f.context;
    json!({
        "version": version,
        "flags": flags,
        "producer_id": f.producer_id.to_string(),
        "sequence": f.sequence,
        "sent_at": f.sent_at,
        "context": {
            "anonymous_id": c.anonymous_id,
            "user_id": c.user_id,
            "session_id": c.session_id,
            "origin": c.origin,
            "referrer": c.referrer,
            "locale": c.locale,
            "screen_width": c.screen_width,
            "screen_height": c.screen_height,
            "timezone": c.timezone,
            "library": c.library,
            "campaign": map_to_json(&c.campaign),
        },
        "events": f.events.iter().map(|e| json!({
            "kind": e.kind.as_str(),
            "name": e.name,
            "time": e.timestamp,
            "properties": map_to_json(&e.properties),
        })).collect::<Vec<_>>(),
    })
}

fn encode_cmd(data: &[u8], hex: bool) -> u8 {
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let text = String::from_utf8_lossy(data);
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bytes = match serde_json::from_str::<Json>(line)
            .map_err(|e| e.to_string())
            .and_then(|j| frame_from_json(&j))
            .and_then(|f| frame::encode(&f).map_err(|e| format!("{} ({})", e, e.name())))
        {
            Ok(b) => b,
            Err(msg) => {
                eprintln!("eventstream frame encode: line {}: {msg}", i + 1);
                return 1;
            }
        };
        let written = if hex {
            writeln!(out, "{}", to_hex(&bytes))
        } else {
            out.write_all(&bytes)
        };
        if written.is_err() {
            return 1;
        }
    }
    0
}

/// Parses the JSON shape `decode` prints back into a frame.
pub fn frame_from_json(j: &Json) -> Result<Frame<'static>, String> {
    let u64_of = |v: Option<&Json>, name: &str, default: Option<u64>| -> Result<u64, String> {
        match v {
            Some(Json::Number(n)) => n
                .as_u64()
                .ok_or_else(|| format!("`{name}` must be a whole number")),
            Some(Json::String(s)) => s
                .parse()
                .map_err(|_| format!("`{name}` must be a whole number")),
            None | Some(Json::Null) => default.ok_or_else(|| format!("`{name}` is required")),
            Some(_) => Err(format!("`{name}` must be a whole number")),
        }
    };
    let str_of = |v: Option<&Json>| -> Cow<'static, str> {
        Cow::Owned(v.and_then(Json::as_str).unwrap_or("").to_owned())
    };
    let map_of = |v: Option<&Json>| -> Map<'static> {
        match v.map(Value::from) {
            Some(Value::Map(m)) => m,
            _ => Vec::new(),
        }
    };
    let c = j.get("context").cloned().unwrap_or(Json::Null);
    let context = Context {
        anonymous_id: str_of(c.get("anonymous_id")),
        user_id: c
            .get("user_id")
            .and_then(Json::as_str)
            .map(|s| Cow::Owned(s.to_owned())),
        session_id: u64_of(c.get("session_id"), "context.session_id", Some(0))?,
        origin: str_of(c.get("origin")),
        referrer: str_of(c.get("referrer")),
        locale: str_of(c.get("locale")),
        screen_width: u64_of(c.get("screen_width"), "context.screen_width", Some(0))? as u16,
        screen_height: u64_of(c.get("screen_height"), "context.screen_height", Some(0))? as u16,
        timezone: str_of(c.get("timezone")),
        library: str_of(c.get("library")),
        campaign: map_of(c.get("campaign")),
    };
    let events = j
        .get("events")
        .and_then(Json::as_array)
        .ok_or("`events` must be a list")?
        .iter()
        .enumerate()
        .map(|(i, e)| {
            let kind_name = e.get("kind").and_then(Json::as_str).unwrap_or("track");
            let kind = EventKind::ALL
                .into_iter()
                .find(|k| k.as_str() == kind_name)
                .ok_or_else(|| format!("events[{i}].kind: unknown kind {kind_name:?}"))?;
            Ok(Event {
                kind,
                name: str_of(e.get("name")),
                timestamp: u64_of(e.get("time"), &format!("events[{i}].time"), None)?,
                properties: map_of(e.get("properties")),
            })
        })
        .collect::<Result<Vec<_>, String>>()?;
    Ok(Frame {
        producer_id: u64_of(j.get("producer_id"), "producer_id", None)?,
        sequence: u64_of(j.get("sequence"), "sequence", None)?,
        sent_at: u64_of(
            j.get("sent_at"),
            "sent_at",
            events.last().map(|e| e.timestamp),
        )?,
        context,
        events,
    })
}

fn to_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[(b >> 4) as usize] as char);
        s.push(DIGITS[(b & 15) as usize] as char);
    }
    s
}

fn from_hex(s: &str) -> Result<Vec<u8>, String> {
    if s.len() % 2 != 0 {
        return Err("odd number of hex digits".into());
    }
    (0..s.len())
        .step_by(2)
        .map(|i| {
            u8::from_str_radix(s.get(i..i + 2).unwrap_or("zz"), 16)
                .map_err(|_| format!("not hex at character {i}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let b = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(from_hex(&to_hex(&b)).unwrap(), b);
        assert!(from_hex("abc").is_err());
        assert!(from_hex("zz").is_err());
    }
}
