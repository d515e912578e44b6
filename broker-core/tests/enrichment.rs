//! The relay's enrichment is stored with the frame it came with and part of
//! every event's context when read back, in the export JSON too; frames
//! stored without one read as before.

use broker_core::context::{Device, Enrichment, Geo};
use broker_core::export::event_record_to_json;
use broker_core::frame::{self, Context, Frame};
use broker_core::partition::{Partition, PartitionConfig};
use broker_core::{Event, EventKind, MemoryStorage};

const NOW: u64 = 1_764_000_000_000;

fn frame(producer: u64, n: usize) -> Vec<u8> {
    frame::encode(&Frame {
        producer_id: producer,
        sequence: 0,
        sent_at: NOW,
        context: Context {
            anonymous_id: "v-1".into(),
            session_id: 2,
            ..Context::default()
        },
        events: (0..n)
            .map(|i| Event {
                kind: EventKind::Page,
                name: "Home".into(),
                timestamp: NOW - 10 + i as u64,
                properties: vec![],
            })
            .collect(),
    })
    .unwrap()
}

#[test]
fn enrichment_is_stored_with_its_frame_and_read_as_context() {
    let mut store = MemoryStorage::new();
    let mut p = Partition::open(&store, PartitionConfig::new(0, 1)).unwrap();
    let e = Enrichment {
        geo: Geo {
            country: Some("DE".into()),
            city: Some("Berlin".into()),
            ..Geo::default()
        },
        device: Device {
            kind: Some("mobile".into()),
            browser: Some("Safari".into()),
            ..Device::default()
        },
        bot: Some(false),
    };
    p.append_enriched(&mut store, &frame(1, 2), NOW, Some(&e))
        .unwrap();
    p.append(&mut store, &frame(2, 1), NOW).unwrap();
    let read = p.read_events(&store, 0, 10, 1 << 20).unwrap();
    assert_eq!(read.records.len(), 3);
    for r in &read.records[..2] {
        assert_eq!(r.source.enrichment.as_deref(), Some(&e));
    }
    assert_eq!(read.records[2].source.enrichment, None);
    let json = event_record_to_json(&read.records[1]);
    assert_eq!(
        json["context"],
        serde_json::json!({
            "session_id": 2,
            "geo": {"country": "DE", "city": "Berlin"},
            "device": {"type": "mobile", "browser": "Safari"},
            "bot": false,
        })
    );
    // And read back from the export, as the CLI does.
    let back = broker_core::export::event_record_from_json(&json).unwrap();
    assert_eq!(back.source.enrichment.as_deref(), Some(&e));
    assert_eq!(
        event_record_to_json(&read.records[2])["context"],
        serde_json::json!({"session_id": 2})
    );
}
