//! The JSON shape of log records, the same everywhere: HTTP range reads,
//! the back-office WebSocket, the CLI's `tail`, and the CLI backtest's
//! input.
//!
//! Event record:
//! ```json
//! {"partition":0,"offset":42,"visitor":"<anonymous id>","userId":"u-7",
//!  "kind":"track","name":"Product Viewed","time":1764000011223,"properties":{},
//!  "context":{"campaign":{"name":"winter-sale","source":"news"},"session_id":3,
//!             "origin":"https://shop.example","screen":{"width":1440,"height":900}},
//!  "producer_id":"9007199254740993","sequence":4,"index":0,"received_at":1764000011300}
//! ```
//! A flagged or quarantined event also has `"violations":[{"kind":"wrong_type",
//! "code":2,"path":"properties.price","message":"expected number, got string
//! \"89.58\""}]`, and a quarantined one `"frame_events":{"base_offset":40,
//! "count":2}`: where its frame's other events went in the event stream.
//! `userId` is `null` when the frame carried none; `name` is the track name,
//! the page name, the user id (identify) or `""` (click, submit). `context`
//! is the frame's context under the trigger spec's paths
//! ([`crate::context::context_map`]: empty values left out); `producer_id`
//! (a string: 64 bits), `sequence` and `index` (the event's position in its
//! frame) name the event wherever records are merged; `received_at` is when
//! the relay appended its frame. Readers take every field but `kind`,
//! `visitor` and `time` as optional.
//!
//! Numbers: integers stay integers; floats are written in their shortest
//! exact form. A reader parsing with serde_json should enable its
//! `float_roundtrip` feature to get every float back bit for bit (without
//! it, a float with 17 significant digits may come back one ULP off).
//!
//! Firing record (the firing itself, as pushed to pages, is the same object
//! without `partition` and `offset`):
//! ```json
//! {"partition":0,"offset":3,"firing_id":"..","trigger":"cart-rescue","visitor":"..",
//!  "time":1764000011223,"action":{"type":"banner","payload":{}}}
//! ```

use crate::context::{context_from_map, Device, Enrichment, Geo};
use crate::event::{map_to_json, Event, EventKind, Value};
use crate::frame::Context;
use crate::partition::{EventRecord, EventSource, FiringRecord};
use crate::plan::{Violation, ViolationKind};
use crate::trigger::{Conversion, Firing, Outcome};
use serde_json::{json, Map as JsonMap, Value as Json};
use std::borrow::Cow;
use std::sync::Arc;

/// Why a JSON value is not a record.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExportError {
    /// The value is not a JSON object.
    #[error("a record must be a JSON object")]
    NotAnObject,
    /// A required field is absent.
    #[error("field `{field}` is missing")]
    MissingField {
        /// The field's name.
        field: &'static str,
    },
    /// A field has the wrong JSON type.
    #[error("field `{field}` must be {expected}")]
    WrongType {
        /// The field's name.
        field: &'static str,
        /// What it must be (`a string`, `an unsigned integer` ...).
        expected: &'static str,
    },
    /// `kind` is not one of `track`, `page`, `identify`, `click`, `submit`.
    #[error("unknown event kind {kind:?}")]
    UnknownKind {
        /// The kind found.
        kind: String,
    },
}

impl ExportError {
    /// A stable number for this error; never reused.
    pub fn code(&self) -> u16 {
        match self {
            ExportError::NotAnObject => 1,
            ExportError::MissingField { .. } => 2,
            ExportError::WrongType { .. } => 3,
            ExportError::UnknownKind { .. } => 4,
        }
    }

    /// A stable snake_case name.
    pub fn name(&self) -> &'static str {
        match self {
            ExportError::NotAnObject => "not_an_object",
            ExportError::MissingField { .. } => "missing_field",
            ExportError::WrongType { .. } => "wrong_type",
            ExportError::UnknownKind { .. } => "unknown_kind",
        }
    }
}

/// An event record as JSON.
pub fn event_record_to_json(r: &EventRecord) -> Json {
    let s = &r.source;
    let mut out = json!({
        "partition": r.partition,
        "offset": r.offset,
        "visitor": r.visitor,
        "userId": r.user_id,
        "kind": r.event.kind.as_str(),
        "name": r.event.name,
        "time": r.event.timestamp,
        "properties": Json::Object(map_to_json(&r.event.properties)),
        "context": Json::Object(map_to_json(&s.context_view())),
        // A string: producer ids are 64-bit, past what JSON numbers keep.
        "producer_id": s.producer_id.to_string(),
        "sequence": s.sequence,
        "index": s.index,
        "received_at": s.received_at,
    });
    if !r.violations.is_empty() {
        out["violations"] = r.violations.iter().map(Violation::to_json).collect();
    }
    if let Some((base_offset, count)) = s.frame_events {
        out["frame_events"] = json!({ "base_offset": base_offset, "count": count });
    }
    out
}

/// The violations of an event record (`violations`, absent when none).
fn violations_from_json(v: Option<&Json>) -> Result<Vec<Violation>, ExportError> {
    let wrong = ExportError::WrongType {
        field: "violations",
        expected: "a list of {kind, path, message}",
    };
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(Vec::new());
    };
    let list = v.as_array().ok_or(wrong.clone())?;
    list.iter()
        .map(|v| {
            let text = |k: &str| v.get(k).and_then(Json::as_str);
            Some(Violation {
                kind: ViolationKind::from_name(text("kind")?)?,
                path: text("path")?.to_owned(),
                message: text("message")?.to_owned(),
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(wrong)
}

/// Where a quarantined event's frame went in the event stream.
fn frame_events_from_json(v: Option<&Json>) -> Result<Option<(u64, u32)>, ExportError> {
    let Some(v) = v.filter(|v| !v.is_null()) else {
        return Ok(None);
    };
    let base = v.get("base_offset").and_then(Json::as_u64);
    let count = v
        .get("count")
        .and_then(Json::as_u64)
        .and_then(|c| u32::try_from(c).ok());
    match (base, count) {
        (Some(b), Some(c)) => Ok(Some((b, c))),
        _ => Err(ExportError::WrongType {
            field: "frame_events",
            expected: "{base_offset, count}",
        }),
    }
}

fn kind_from_str(s: &str) -> Option<EventKind> {
    EventKind::ALL.into_iter().find(|k| k.as_str() == s)
}

struct Fields<'j>(&'j JsonMap<String, Json>);

impl<'j> Fields<'j> {
    fn of(v: &'j Json) -> Result<Fields<'j>, ExportError> {
        v.as_object().map(Fields).ok_or(ExportError::NotAnObject)
    }
    fn get(&self, field: &'static str) -> Result<&'j Json, ExportError> {
        self.0.get(field).ok_or(ExportError::MissingField { field })
    }
    fn str(&self, field: &'static str) -> Result<&'j str, ExportError> {
        self.get(field)?.as_str().ok_or(ExportError::WrongType {
            field,
            expected: "a string",
        })
    }
    fn u64(&self, field: &'static str) -> Result<u64, ExportError> {
        self.get(field)?.as_u64().ok_or(ExportError::WrongType {
            field,
            expected: "an unsigned integer",
        })
    }
    /// Absent means `default`; present must be an unsigned integer.
    fn u64_or(&self, field: &'static str, default: u64) -> Result<u64, ExportError> {
        match self.0.get(field) {
            None => Ok(default),
            Some(_) => self.u64(field),
        }
    }
}

/// An event record from JSON (the CLI backtest's input). `partition` and
/// `offset` may be absent (then 0), `userId` absent or `null` (then none),
/// `name` absent (then `""`), `properties` absent (then empty).
pub fn event_record_from_json(v: &Json) -> Result<EventRecord, ExportError> {
    let f = Fields::of(v)?;
    let kind_str = f.str("kind")?;
    let kind = kind_from_str(kind_str).ok_or_else(|| ExportError::UnknownKind {
        kind: kind_str.to_owned(),
    })?;
    let user_id = match f.0.get("userId") {
        None | Some(Json::Null) => None,
        Some(Json::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(ExportError::WrongType {
                field: "userId",
                expected: "a string or null",
            })
        }
    };
    let name = match f.0.get("name") {
        None => String::new(),
        Some(_) => f.str("name")?.to_owned(),
    };
    let properties = match f.0.get("properties") {
        None | Some(Json::Null) => Vec::new(),
        Some(p @ Json::Object(_)) => match Value::from(p) {
            Value::Map(m) => m,
            _ => Vec::new(),
        },
        Some(_) => {
            return Err(ExportError::WrongType {
                field: "properties",
                expected: "an object",
            })
        }
    };
    let partition =
        u32::try_from(f.u64_or("partition", 0)?).map_err(|_| ExportError::WrongType {
            field: "partition",
            expected: "a 32-bit unsigned integer",
        })?;
    let visitor = f.str("visitor")?.to_owned();
    let (mut context, enrichment) = match f.0.get("context") {
        None | Some(Json::Null) => (Context::default(), None),
        Some(c @ Json::Object(o)) => {
            let e: Option<Enrichment> = ["geo", "device", "bot"]
                .iter()
                .any(|k| o.contains_key(*k))
                .then(|| enrichment_from_json(o));
            match Value::from(c) {
                Value::Map(m) => (context_from_map(&m), e),
                _ => (Context::default(), e),
            }
        }
        Some(_) => {
            return Err(ExportError::WrongType {
                field: "context",
                expected: "an object",
            })
        }
    };
    context.anonymous_id = Cow::Owned(visitor.clone());
    context.user_id = user_id.clone().map(Cow::Owned);
    let producer_id = match f.0.get("producer_id") {
        None => 0,
        Some(Json::String(p)) => p.parse().map_err(|_| ExportError::WrongType {
            field: "producer_id",
            expected: "a decimal string of an unsigned 64-bit integer",
        })?,
        Some(_) => f.u64("producer_id")?,
    };
    let index = u32::try_from(f.u64_or("index", 0)?).map_err(|_| ExportError::WrongType {
        field: "index",
        expected: "a 32-bit unsigned integer",
    })?;
    Ok(EventRecord {
        partition,
        offset: f.u64_or("offset", 0)?,
        visitor,
        user_id,
        event: Event {
            kind,
            name: Cow::Owned(name),
            timestamp: f.u64("time")?,
            properties,
        },
        source: EventSource {
            context: Arc::new(context),
            producer_id,
            sequence: f.u64_or("sequence", 0)?,
            index,
            received_at: f.u64_or("received_at", 0)?,
            enrichment: enrichment.map(Arc::new),
            frame_events: frame_events_from_json(f.0.get("frame_events"))?,
        },
        violations: violations_from_json(f.0.get("violations"))?,
    })
}

/// The relay's enrichment from a context view's `geo`, `device` and `bot`.
fn enrichment_from_json(o: &JsonMap<String, Json>) -> Enrichment {
    let text = |v: Option<&Json>, k: &str| {
        v.and_then(|v| v.get(k))
            .and_then(Json::as_str)
            .map(str::to_owned)
    };
    let (geo, device) = (o.get("geo"), o.get("device"));
    Enrichment {
        geo: Geo {
            country: text(geo, "country"),
            region: text(geo, "region"),
            city: text(geo, "city"),
            continent: text(geo, "continent"),
            timezone: text(geo, "timezone"),
            asn: geo
                .and_then(|g| g.get("asn"))
                .and_then(Json::as_u64)
                .and_then(|a| u32::try_from(a).ok()),
        },
        device: Device {
            kind: text(device, "type"),
            browser: text(device, "browser"),
            version: text(device, "version"),
            os: text(device, "os"),
        },
        bot: o.get("bot").and_then(Json::as_bool),
    }
}

/// A firing as JSON, as pushed to the visitor's pages (`"firing":{...}`).
/// A payload that is not valid JSON (the engine never makes one) is sent as
/// a JSON string rather than dropped.
pub fn firing_to_json(f: &Firing) -> Json {
    let payload = serde_json::from_str::<Json>(&f.payload)
        .unwrap_or_else(|_| Json::String(f.payload.to_string()));
    let mut v = json!({
        "firing_id": f.firing_id,
        "trigger": &*f.trigger_id,
        "visitor": &*f.visitor,
        "time": f.time,
        "action": {"type": &*f.action_type, "payload": payload},
    });
    if let (true, Json::Object(m)) = (f.held_out, &mut v) {
        m.insert("held_out".into(), Json::Bool(true));
    }
    v
}

/// A firing record (a firing with its partition and offset) as JSON.
pub fn firing_record_to_json(r: &FiringRecord) -> Json {
    let mut v = outcome_to_json(&r.outcome);
    if let Json::Object(o) = &mut v {
        // Field order in the output follows serde_json's map (sorted unless
        // `preserve_order`); readers must not depend on it.
        o.insert("partition".into(), json!(r.partition));
        o.insert("offset".into(), json!(r.offset));
    }
    v
}

/// A record of the firing stream as JSON: a firing's shape with `"type"`
/// `"firing"` or `"held_out"` (and `"held_out": true`), or a conversion,
/// `{"type":"conversion","firing_id","trigger","visitor","time","held_out"}`.
pub fn outcome_to_json(o: &Outcome) -> Json {
    match o {
        Outcome::Fired(f) => {
            let mut v = firing_to_json(f);
            if let Json::Object(m) = &mut v {
                m.insert("type".into(), json!(o.kind()));
            }
            v
        }
        Outcome::Converted(c) => json!({
            "type": "conversion",
            "firing_id": c.firing_id,
            "trigger": &*c.trigger_id,
            "visitor": &*c.visitor,
            "time": c.time,
            "held_out": c.held_out,
        }),
    }
}

/// A record of the firing stream from JSON ([`outcome_to_json`]'s shape; an
/// absent `"type"` is a firing).
pub fn outcome_from_json(v: &Json) -> Result<Outcome, ExportError> {
    let f = Fields::of(v)?;
    match f.0.get("type").and_then(Json::as_str) {
        None | Some("firing") | Some("held_out") => Ok(Outcome::Fired(firing_from_json(v)?)),
        Some("conversion") => Ok(Outcome::Converted(Conversion {
            firing_id: f.str("firing_id")?.to_owned(),
            trigger_id: f.str("trigger")?.into(),
            visitor: f.str("visitor")?.into(),
            time: f.u64("time")?,
            held_out: f.0.get("held_out").and_then(Json::as_bool).unwrap_or(false),
        })),
        Some(_) => Err(ExportError::WrongType {
            field: "type",
            expected: "\"firing\", \"held_out\" or \"conversion\"",
        }),
    }
}

/// A firing from JSON (either shape: with or without partition/offset).
/// An absent payload is `null`; `"held_out": true` or `"type": "held_out"`
/// makes a held-out firing.
pub fn firing_from_json(v: &Json) -> Result<Firing, ExportError> {
    let f = Fields::of(v)?;
    let action = Fields::of(f.get("action")?).map_err(|_| ExportError::WrongType {
        field: "action",
        expected: "an object",
    })?;
    let payload = action.0.get("payload").cloned().unwrap_or(Json::Null);
    Ok(Firing {
        firing_id: f.str("firing_id")?.to_owned(),
        trigger_id: f.str("trigger")?.into(),
        visitor: f.str("visitor")?.into(),
        time: f.u64("time")?,
        action_type: action.str("type")?.into(),
        payload: payload.to_string().into(),
        held_out: f.0.get("held_out").and_then(Json::as_bool) == Some(true)
            || f.0.get("type").and_then(Json::as_str) == Some("held_out"),
    })
}

/// A firing record from JSON; `partition` and `offset` may be absent (0).
pub fn firing_record_from_json(v: &Json) -> Result<FiringRecord, ExportError> {
    let f = Fields::of(v)?;
    let partition =
        u32::try_from(f.u64_or("partition", 0)?).map_err(|_| ExportError::WrongType {
            field: "partition",
            expected: "a 32-bit unsigned integer",
        })?;
    Ok(FiringRecord {
        partition,
        offset: f.u64_or("offset", 0)?,
        outcome: outcome_from_json(v)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: EventKind, name: &str, user: Option<&str>) -> EventRecord {
        EventRecord {
            partition: 3,
            offset: 42,
            visitor: "73cb6eb1".into(),
            user_id: user.map(str::to_owned),
            event: Event {
                kind,
                name: Cow::Owned(name.to_owned()),
                timestamp: 1_764_000_011_223,
                properties: vec![
                    (Cow::Borrowed("currency"), Value::Str(Cow::Borrowed("EUR"))),
                    (Cow::Borrowed("price"), Value::Float(89.58)),
                    (Cow::Borrowed("qty"), Value::Int(2)),
                    (
                        Cow::Borrowed("tags"),
                        Value::List(vec![Value::Bool(true), Value::Null]),
                    ),
                ],
            },
            source: EventSource {
                context: Arc::new(Context {
                    anonymous_id: "73cb6eb1".into(),
                    user_id: user.map(|u| Cow::Owned(u.to_owned())),
                    session_id: 3,
                    campaign: vec![(Cow::Borrowed("utm_campaign"), Value::Str("winter".into()))],
                    ..Context::default()
                }),
                producer_id: u64::MAX,
                sequence: 4,
                index: 1,
                received_at: 1_764_000_011_300,
                enrichment: None,
                frame_events: None,
            },
            violations: Vec::new(),
        }
    }

    #[test]
    fn event_records_have_the_documented_shape() {
        let r = record(EventKind::Track, "Product Viewed", None);
        assert_eq!(
            event_record_to_json(&r).to_string(),
            r#"{"context":{"campaign":{"name":"winter"},"session_id":3},"index":1,"kind":"track","name":"Product Viewed","offset":42,"partition":3,"producer_id":"18446744073709551615","properties":{"currency":"EUR","price":89.58,"qty":2,"tags":[true,null]},"received_at":1764000011300,"sequence":4,"time":1764000011223,"userId":null,"visitor":"73cb6eb1"}"#
        );
    }

    #[test]
    fn event_records_round_trip_for_every_kind() {
        for (kind, name, user) in [
            (EventKind::Track, "Order Completed", None),
            (EventKind::Page, "Home", Some("u-7")),
            (EventKind::Identify, "u-7", Some("u-7")),
            (EventKind::Click, "", None),
            (EventKind::Submit, "", Some("u-1")),
        ] {
            let r = record(kind, name, user);
            let text = event_record_to_json(&r).to_string();
            let back = event_record_from_json(&serde_json::from_str(&text).unwrap()).unwrap();
            // The campaign comes back in the spec's names.
            assert_eq!(back.source.context.campaign[0].0, "name");
            let mut expected = r.clone();
            Arc::make_mut(&mut expected.source.context).campaign[0].0 = Cow::Borrowed("name");
            assert_eq!(back, expected);
        }
    }

    #[test]
    fn quarantined_records_carry_their_violations_and_their_frame_s_place() {
        let mut r = record(EventKind::Track, "Product Viewed", None);
        r.violations = vec![Violation {
            kind: ViolationKind::WrongType,
            path: "properties.price".into(),
            message: r#"expected number, got string "89.58""#.into(),
        }];
        r.source.frame_events = Some((40, 2));
        let v = event_record_to_json(&r);
        assert_eq!(
            v["violations"].to_string(),
            r#"[{"code":2,"kind":"wrong_type","message":"expected number, got string \"89.58\"","path":"properties.price"}]"#
        );
        assert_eq!(
            v["frame_events"].to_string(),
            r#"{"base_offset":40,"count":2}"#
        );
        let back = event_record_from_json(&v).unwrap();
        assert_eq!(
            (&back.violations, back.source.frame_events),
            (&r.violations, Some((40, 2)))
        );
        for bad in [
            json!(3),
            json!([{"kind": "no_such_kind", "path": "p", "message": "m"}]),
        ] {
            let mut v = v.clone();
            v["violations"] = bad;
            assert!(event_record_from_json(&v).is_err());
        }
    }

    #[test]
    fn backtest_input_may_omit_position_fields() {
        let v = json!({"visitor":"v","kind":"page","time":5});
        let r = event_record_from_json(&v).unwrap();
        assert_eq!(
            (r.partition, r.offset, r.user_id, r.event.name.as_ref()),
            (0, 0, None, "")
        );
        assert!(r.event.properties.is_empty());
    }

    #[test]
    fn malformed_records_are_errors_naming_the_field() {
        assert_eq!(
            event_record_from_json(&json!([1])),
            Err(ExportError::NotAnObject)
        );
        assert_eq!(
            event_record_from_json(&json!({"kind":"page","time":5})),
            Err(ExportError::MissingField { field: "visitor" })
        );
        assert_eq!(
            event_record_from_json(&json!({"visitor":"v","kind":"alias","time":5})),
            Err(ExportError::UnknownKind {
                kind: "alias".into()
            })
        );
        assert_eq!(
            event_record_from_json(&json!({"visitor":"v","kind":"page","time":-5})),
            Err(ExportError::WrongType {
                field: "time",
                expected: "an unsigned integer"
            })
        );
        assert_eq!(
            event_record_from_json(&json!({"visitor":"v","kind":"page","time":5,"userId":7})),
            Err(ExportError::WrongType {
                field: "userId",
                expected: "a string or null"
            })
        );
    }

    #[test]
    fn firings_have_the_documented_shape_and_round_trip() {
        let f = Firing {
            firing_id: "f-1".into(),
            trigger_id: "cart-rescue".into(),
            visitor: "v-1".into(),
            time: 1_764_000_011_223,
            action_type: "banner".into(),
            payload: r#"{"text":"Still there?"}"#.into(),
            held_out: false,
        };
        assert_eq!(
            firing_to_json(&f).to_string(),
            r#"{"action":{"payload":{"text":"Still there?"},"type":"banner"},"firing_id":"f-1","time":1764000011223,"trigger":"cart-rescue","visitor":"v-1"}"#
        );
        let r = FiringRecord {
            partition: 1,
            offset: 3,
            outcome: Outcome::Fired(f.clone()),
        };
        let v = firing_record_to_json(&r);
        assert_eq!(
            (v["partition"].as_u64(), v["offset"].as_u64()),
            (Some(1), Some(3))
        );
        assert_eq!(firing_record_from_json(&v).unwrap(), r);
        assert_eq!(firing_from_json(&firing_to_json(&f)).unwrap(), f);
    }

    #[test]
    fn held_out_firings_and_conversions_have_a_type_and_round_trip() {
        let f = Firing {
            firing_id: "f-2".into(),
            trigger_id: "cart-rescue".into(),
            visitor: "v-1".into(),
            time: 5,
            action_type: "banner".into(),
            payload: "{}".into(),
            held_out: true,
        };
        let c = Conversion {
            firing_id: "f-2".into(),
            trigger_id: "cart-rescue".into(),
            visitor: "v-1".into(),
            time: 9,
            held_out: true,
        };
        let held = FiringRecord {
            partition: 0,
            offset: 7,
            outcome: Outcome::Fired(f),
        };
        let v = firing_record_to_json(&held);
        assert_eq!(
            (v["type"].as_str(), v["held_out"].as_bool()),
            (Some("held_out"), Some(true))
        );
        assert_eq!(firing_record_from_json(&v).unwrap(), held);
        let conv = FiringRecord {
            partition: 1,
            offset: 8,
            outcome: Outcome::Converted(c),
        };
        let v = firing_record_to_json(&conv);
        assert_eq!(
            v.to_string(),
            r#"{"firing_id":"f-2","held_out":true,"offset":8,"partition":1,"time":9,"trigger":"cart-rescue","type":"conversion","visitor":"v-1"}"#
        );
        assert_eq!(firing_record_from_json(&v).unwrap(), conv);
        let bad = json!({"type": "goal", "visitor": "v"});
        assert!(matches!(
            firing_record_from_json(&bad),
            Err(ExportError::WrongType { field: "type", .. })
        ));
    }

    #[test]
    fn a_payload_that_is_not_json_is_sent_as_a_string() {
        let f = Firing {
            firing_id: "f".into(),
            trigger_id: "t".into(),
            visitor: "v".into(),
            time: 1,
            action_type: "banner".into(),
            payload: "{oops".into(),
            held_out: false,
        };
        assert_eq!(firing_to_json(&f)["action"]["payload"], json!("{oops"));
    }
}
