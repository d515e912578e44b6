//! The JSON the relay sends: log records (in the core's export shape,
//! shared with the CLI) and the messages of its WebSockets.

use broker_core::export;
use broker_core::partition::{
    AppendOutcome, EventRecord, FiringRecord, PlanCounters, PlanTally, ReadOutcome,
};
use broker_core::trigger::Firing;
use serde_json::{json, Value};

/// A firing's body: `{"firing_id", "trigger", "visitor", "time", "action"}`.
pub fn firing(f: &Firing) -> Value {
    export::firing_to_json(f)
}

/// An event record: `{"partition","offset","visitor","userId","kind","name","time","properties"}`.
pub fn event_record(r: &EventRecord) -> Value {
    export::event_record_to_json(r)
}

/// A firing record: the firing with its partition and offset.
pub fn firing_record(r: &FiringRecord) -> Value {
    export::firing_record_to_json(r)
}

/// The page message for one firing.
pub fn firing_message(offset: u64, f: &Firing) -> String {
    json!({ "type": "firing", "offset": offset, "firing": firing(f) }).to_string()
}

/// The acknowledgement of an appended frame, over HTTP: `partition`,
/// `base_offset`, `count` (events stored in the event stream),
/// `duplicate`, and `plan` when the tracking plan found anything.
pub fn append_ack(o: &AppendOutcome) -> Value {
    let mut ack = json!({
        "partition": o.partition,
        "base_offset": o.base_offset,
        "count": o.count,
        "duplicate": o.duplicate,
    });
    add_plan(&mut ack, o);
    ack
}

/// The acknowledgement of a frame sent over the visitor WebSocket.
pub fn appended_message(o: &AppendOutcome) -> String {
    let mut message = json!({
        "type": "appended",
        "producer_id": o.producer_id.to_string(),
        "sequence": o.sequence,
        "base_offset": o.base_offset,
        "count": o.count,
        "duplicate": o.duplicate,
    });
    add_plan(&mut message, o);
    message.to_string()
}

/// `"plan": {"flagged", "quarantined", "violations"}`, when any is not 0.
fn add_plan(ack: &mut Value, o: &AppendOutcome) {
    let t = o.plan;
    if t != PlanTally::default() {
        ack["plan"] = json!({ "flagged": t.flagged, "quarantined": t.quarantined,
                              "violations": t.violations });
    }
}

/// A partition's plan counters: `{"partition", "since", "counters": [..]}`,
/// each counter `{"event", "kind", "code", "path", "allowed", "flagged",
/// "quarantined", "first_seen", "last_seen", "example"}` (`event` and
/// `path` are `null` for the per-kind overflow).
pub fn plan_counters(partition: u32, c: &PlanCounters) -> Value {
    let counters: Vec<Value> = c
        .counters
        .iter()
        .map(|c| {
            json!({ "event": c.event, "kind": c.kind.name(), "code": c.kind.code(),
                    "path": c.path, "allowed": c.allowed, "flagged": c.flagged,
                    "quarantined": c.quarantined, "first_seen": c.first_seen,
                    "last_seen": c.last_seen, "example": c.example })
        })
        .collect();
    json!({ "partition": partition, "since": c.since, "counters": counters })
}

/// A back-office stream message for one record.
pub fn record_message(record: Value) -> String {
    json!({ "type": "record", "record": record }).to_string()
}

/// One read of a stream, its records as JSON.
#[derive(Debug, Clone)]
pub struct Page {
    /// The records, in offset order.
    pub records: Vec<Value>,
    /// The offset to read from next.
    pub next_offset: u64,
    /// The offset the next record will get.
    pub end: u64,
    /// The earliest offset still stored.
    pub earliest: u64,
}

impl Page {
    /// The page of a core read, each record shaped by `shape`.
    pub fn of<R>(read: ReadOutcome<R>, shape: fn(&R) -> Value) -> Page {
        Page {
            records: read.records.iter().map(shape).collect(),
            next_offset: read.next_offset,
            end: read.end,
            earliest: read.earliest,
        }
    }
}
