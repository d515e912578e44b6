//! The JSON the relay sends: log records and the messages of its
//! WebSockets.

use broker_core::event::map_to_json;
use broker_core::partition::{AppendOutcome, EventRecord, FiringRecord};
use broker_core::trigger::Firing;
use serde_json::{json, Value};

/// A firing's body: `{"firing_id", "trigger", "visitor", "time", "action"}`.
pub fn firing(f: &Firing) -> Value {
    // The payload was validated as JSON when the trigger file was; a value
    // that no longer parses is passed on as a string rather than dropped.
    let payload = serde_json::from_str::<Value>(&f.payload)
        .unwrap_or_else(|_| Value::String(f.payload.clone()));
    json!({
        "firing_id": f.firing_id,
        "trigger": f.trigger_id,
        "visitor": f.visitor,
        "time": f.time,
        "action": { "type": f.action_type, "payload": payload },
    })
}

/// An event record: `{"partition","offset","visitor","userId","kind","name","time","properties"}`.
pub fn event_record(r: &EventRecord) -> Value {
    json!({
        "partition": r.partition,
        "offset": r.offset,
        "visitor": r.visitor,
        "userId": r.user_id,
        "kind": r.event.kind.as_str(),
        "name": r.event.name,
        "time": r.event.timestamp,
        "properties": Value::Object(map_to_json(&r.event.properties)),
    })
}

/// A firing record: the firing with its partition and offset.
pub fn firing_record(r: &FiringRecord) -> Value {
    let mut v = firing(&r.firing);
    if let Value::Object(m) = &mut v {
        m.insert("partition".into(), r.partition.into());
        m.insert("offset".into(), r.offset.into());
    }
    v
}

/// The page message for one firing.
pub fn firing_message(offset: u64, f: &Firing) -> String {
    json!({ "type": "firing", "offset": offset, "firing": firing(f) }).to_string()
}

/// The acknowledgement of an appended frame, over HTTP.
pub fn append_ack(o: &AppendOutcome) -> Value {
    json!({
        "partition": o.partition,
        "base_offset": o.base_offset,
        "count": o.count,
        "duplicate": o.duplicate,
    })
}

/// The acknowledgement of a frame sent over the visitor WebSocket.
pub fn appended_message(o: &AppendOutcome) -> String {
    json!({
        "type": "appended",
        "producer_id": o.producer_id.to_string(),
        "sequence": o.sequence,
        "base_offset": o.base_offset,
        "count": o.count,
        "duplicate": o.duplicate,
    })
    .to_string()
}

/// A back-office stream message for one record.
pub fn record_message(record: Value) -> String {
    json!({ "type": "record", "record": record }).to_string()
}
