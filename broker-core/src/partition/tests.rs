use super::*;
use crate::event::{EventKind, Value};
use crate::frame::{Context, Frame};
use crate::log::LogError;
use crate::storage::{Entries, MemoryStorage, StorageError};
use std::borrow::Cow;

const T0: u64 = 1_764_000_000_000;
const HOUR: u64 = 3_600_000;

fn event(n: u64, at: u64) -> Event<'static> {
    Event {
        kind: EventKind::Track,
        name: Cow::Owned(format!("e{n}")),
        timestamp: at,
        properties: vec![(Cow::Borrowed("n"), Value::Int(n as i64))],
    }
}

fn frame_for(visitor: &str, producer: u64, seq: u64, events: Vec<Event<'static>>) -> Vec<u8> {
    frame::encode(&Frame {
        producer_id: producer,
        sequence: seq,
        sent_at: T0,
        context: Context {
            anonymous_id: Cow::Owned(visitor.to_owned()),
            user_id: Some(Cow::Borrowed("u-7")),
            ..Context::default()
        },
        events,
    })
    .unwrap()
}

fn frame_of(producer: u64, seq: u64, n: u64) -> Vec<u8> {
    let events = (0..n).map(|i| event(seq * 100 + i, T0 + i)).collect();
    frame_for("v-1", producer, seq, events)
}

fn open(store: &MemoryStorage) -> Partition {
    Partition::open(store, PartitionConfig::new(0, 1)).unwrap()
}

fn names(r: &ReadOutcome<EventRecord>) -> Vec<String> {
    r.records.iter().map(|r| r.event.name.to_string()).collect()
}

#[test]
fn appends_get_dense_offsets_and_read_back_in_order() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let a = p.append(&mut s, &frame_of(1, 0, 3), T0).unwrap();
    let b = p.append(&mut s, &frame_of(1, 1, 2), T0).unwrap();
    let c = p.append(&mut s, &frame_of(2, 0, 1), T0).unwrap();
    assert_eq!((a.base_offset, a.count, a.duplicate), (0, 3, false));
    assert_eq!((b.base_offset, b.count), (3, 2));
    assert_eq!((c.base_offset, c.count), (5, 1));
    assert_eq!(a.visitor, "v-1");
    let r = p.read_events(&s, 0, 100, usize::MAX).unwrap();
    assert_eq!(names(&r), ["e0", "e1", "e2", "e100", "e101", "e0"]);
    assert_eq!((r.next_offset, r.end, r.earliest), (6, 6, 0));
    let offsets: Vec<u64> = r.records.iter().map(|r| r.offset).collect();
    assert_eq!(offsets, [0, 1, 2, 3, 4, 5]);
    assert_eq!(r.records[0].user_id.as_deref(), Some("u-7"));
    assert_eq!(r.records[0].event, event(0, T0));
}

#[test]
fn reads_resume_mid_batch_and_tail_at_the_end() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    p.append(&mut s, &frame_of(1, 0, 5), T0).unwrap();
    p.append(&mut s, &frame_of(1, 1, 5), T0).unwrap();
    let r = p.read_events(&s, 3, 4, usize::MAX).unwrap();
    assert_eq!(names(&r), ["e3", "e4", "e100", "e101"]);
    assert_eq!(r.next_offset, 7);
    let r = p.read_events(&s, r.next_offset, 100, usize::MAX).unwrap();
    assert_eq!(names(&r), ["e102", "e103", "e104"]);
    let tail = p.read_events(&s, 10, 100, usize::MAX).unwrap();
    assert!(tail.records.is_empty());
    assert_eq!((tail.next_offset, tail.end), (10, 10));
    assert_eq!(
        p.read_events(&s, 11, 1, 1).unwrap_err(),
        PartitionError::Log(LogError::OffsetOutOfRange {
            requested: 11,
            earliest: 0,
            end: 10
        })
    );
}

#[test]
fn a_retry_is_acknowledged_with_its_first_offsets_and_not_stored_twice() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let f = frame_of(7, 0, 4);
    let first = p.append(&mut s, &f, T0).unwrap();
    p.append(&mut s, &frame_of(7, 1, 1), T0).unwrap();
    let keys_before = s.len();
    // Much later, past the timestamp window: still a duplicate, not an error.
    let again = p.append(&mut s, &f, T0 + 23 * HOUR).unwrap();
    assert_eq!(
        (again.base_offset, again.count, again.duplicate),
        (0, 4, true)
    );
    assert_eq!(first.base_offset, again.base_offset);
    assert_eq!(s.len(), keys_before);
    assert_eq!(p.stats(&s).unwrap().events.end, 5);
}

#[test]
fn sequence_gaps_and_stale_sequences_are_distinct_errors() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    for seq in 0..7 {
        p.append(&mut s, &frame_of(7, seq, 1), T0).unwrap();
    }
    let gap = p.append(&mut s, &frame_of(7, 9, 1), T0).unwrap_err();
    assert_eq!(
        gap,
        PartitionError::Log(LogError::SequenceGap {
            producer: 7,
            expected: 7,
            got: 9
        })
    );
    let stale = p.append(&mut s, &frame_of(7, 1, 1), T0).unwrap_err();
    assert_eq!(
        stale,
        PartitionError::Log(LogError::StaleSequence {
            producer: 7,
            last: 6,
            got: 1
        })
    );
    assert_eq!(p.stats(&s).unwrap().events.end, 7);
}

#[test]
fn a_first_seen_producer_may_start_at_any_sequence() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let a = p.append(&mut s, &frame_of(3, 12, 2), T0).unwrap();
    assert_eq!((a.base_offset, a.sequence), (0, 12));
    assert_eq!(
        p.append(&mut s, &frame_of(3, 13, 1), T0)
            .unwrap()
            .base_offset,
        2
    );
}

#[test]
fn timestamps_outside_the_window_refuse_the_whole_frame() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let now = T0 + 24 * HOUR + 1;
    let f = frame_for("v-1", 1, 0, vec![event(0, T0 + 5), event(1, T0)]);
    assert_eq!(
        p.append(&mut s, &f, now).unwrap_err(),
        PartitionError::TimestampOutOfRange {
            index: 1,
            timestamp: T0,
            min: T0 + 1,
            max: now + 300_000
        }
    );
    let future = frame_for("v-1", 2, 0, vec![event(0, T0 + 300_001)]);
    assert!(matches!(
        p.append(&mut s, &future, T0),
        Err(PartitionError::TimestampOutOfRange { index: 0, .. })
    ));
    assert!(
        s.is_empty(),
        "refusing an unknown producer's frame writes nothing"
    );
}

#[test]
fn a_known_producers_refused_frame_takes_its_sequence() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    p.append(&mut s, &frame_for("v-1", 1, 0, vec![event(0, T0)]), T0)
        .unwrap();
    let now = T0 + 24 * HOUR + 1;
    // Queued offline for a day: refused.
    let stale = frame_for("v-1", 1, 1, vec![event(1, T0)]);
    let e = p.append(&mut s, &stale, now).unwrap_err();
    assert_eq!(e.name(), "timestamp_out_of_range");
    // The SDK drops it and sends its next frame: no gap.
    let next = frame_for("v-1", 1, 2, vec![event(2, now)]);
    let a = p.append(&mut s, &next, now).unwrap();
    assert_eq!((a.base_offset, a.count, a.duplicate), (1, 1, false));
    // The refused frame sent again: taken, with no events.
    let again = p.append(&mut s, &stale, now).unwrap();
    assert_eq!(
        (again.base_offset, again.count, again.duplicate),
        (1, 0, true)
    );
    assert_eq!(p.stats(&s).unwrap().events.end, 2);
}

#[test]
fn an_empty_frame_from_an_unknown_producer_takes_nothing() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    // A late copy of an old empty frame from a forgotten producer must not
    // set its sequence back: it is acknowledged and forgotten.
    let e = p.append(&mut s, &frame_of(1, 4, 0), T0).unwrap();
    assert_eq!((e.base_offset, e.count), (0, 0));
    assert!(s.is_empty());
    assert_eq!(p.append(&mut s, &frame_of(1, 9, 1), T0).unwrap().count, 1);
}

#[test]
fn a_visitor_of_another_partition_is_refused() {
    let mut s = MemoryStorage::new();
    // "v-1" hashes to partition 1 of 4 (murmur2, pinned by the log tests).
    let home = crate::log::partition_for("v-1", 4);
    let other = (home + 1) % 4;
    let mut p = Partition::open(&s, PartitionConfig::new(other, 4)).unwrap();
    assert_eq!(
        p.append(&mut s, &frame_of(1, 0, 1), T0).unwrap_err(),
        PartitionError::WrongPartition {
            expected: home,
            partition: other
        }
    );
    let mut p = Partition::open(&s, PartitionConfig::new(home, 4)).unwrap();
    assert!(p.append(&mut s, &frame_of(1, 0, 1), T0).is_ok());
}

#[test]
fn compressed_frames_are_stored_plain_and_read_back() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let plain = frame_of(1, 0, 20);
    let packed = frame::compress(&plain).unwrap();
    assert_ne!(packed, plain);
    p.append(&mut s, &packed, T0).unwrap();
    let r = p.read_events(&s, 0, 100, usize::MAX).unwrap();
    assert_eq!(r.records.len(), 20);
    assert_eq!(r.records[19].event, event(19, T0 + 19));
}

#[test]
fn bad_frames_are_frame_errors_with_their_own_names() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    let mut f = frame_of(1, 0, 2);
    let last = f.len() - 1;
    f[last] ^= 0xff;
    let e = p.append(&mut s, &f, T0).unwrap_err();
    assert_eq!(e.name(), "checksum");
    let e = p.append(&mut s, &vec![1u8; 70_000], T0).unwrap_err();
    assert_eq!(e.name(), "frame_too_large");
    assert!(s.is_empty());
}

#[test]
fn an_empty_frame_takes_its_sequence_and_no_offsets() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    p.append(&mut s, &frame_of(1, 0, 2), T0).unwrap();
    let e = p.append(&mut s, &frame_of(1, 1, 0), T0).unwrap();
    assert_eq!((e.base_offset, e.count), (2, 0));
    assert_eq!(
        p.append(&mut s, &frame_of(1, 2, 1), T0)
            .unwrap()
            .base_offset,
        2
    );
    assert_eq!(p.stats(&s).unwrap().events.batches, 2);
}

/// Fails every commit while `fail` is set, applying nothing.
struct Flaky {
    inner: MemoryStorage,
    fail: bool,
}

impl Storage for Flaky {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, StorageError> {
        self.inner.get(key)
    }
    fn scan(&self, start: &[u8], end: &[u8], limit: usize) -> Result<Entries, StorageError> {
        self.inner.scan(start, end, limit)
    }
    fn commit(&mut self, batch: WriteBatch) -> Result<(), StorageError> {
        if self.fail {
            return Err(StorageError::Io("injected".into()));
        }
        self.inner.commit(batch)
    }
}

#[test]
fn a_failed_commit_stores_nothing_and_the_retry_gets_the_same_offsets() {
    let mut s = Flaky {
        inner: MemoryStorage::new(),
        fail: false,
    };
    let mut p = Partition::open(&s, PartitionConfig::new(0, 1)).unwrap();
    p.append(&mut s, &frame_of(1, 0, 2), T0).unwrap();
    s.fail = true;
    let e = p.append(&mut s, &frame_of(1, 1, 3), T0).unwrap_err();
    assert_eq!(
        e,
        PartitionError::Storage(StorageError::Io("injected".into()))
    );
    assert!(e.is_retriable());
    s.fail = false;
    // A restart in between: nothing lives in the struct.
    let mut p = Partition::open(&s, PartitionConfig::new(0, 1)).unwrap();
    let a = p.append(&mut s, &frame_of(1, 1, 3), T0).unwrap();
    assert_eq!((a.base_offset, a.duplicate), (2, false));
    let again = p.append(&mut s, &frame_of(1, 1, 3), T0).unwrap();
    assert_eq!((again.base_offset, again.duplicate), (2, true));
}

#[test]
fn retention_by_age_runs_from_the_alarm_and_reads_below_it_say_so() {
    let mut s = MemoryStorage::new();
    let mut cfg = PartitionConfig::new(0, 1);
    cfg.retention_ms = Some(HOUR);
    cfg.producer_ttl_ms = 100 * HOUR;
    let mut p = Partition::open(&s, cfg).unwrap();
    p.append(&mut s, &frame_of(1, 0, 3), T0).unwrap();
    p.append(&mut s, &frame_of(1, 1, 3), T0 + HOUR / 2).unwrap();
    assert_eq!(p.poll_timeout(&s, T0).unwrap(), Some(T0 + HOUR));
    let t = p.handle_timeout(&mut s, T0 + HOUR - 1).unwrap();
    assert_eq!(t.deleted_event_batches, 0);
    let t = p.handle_timeout(&mut s, T0 + HOUR).unwrap();
    assert_eq!((t.deleted_event_batches, t.more), (1, false));
    assert_eq!(
        p.poll_timeout(&s, T0 + HOUR).unwrap(),
        Some(T0 + HOUR + HOUR / 2)
    );
    assert_eq!(
        p.read_events(&s, 0, 10, usize::MAX).unwrap_err(),
        PartitionError::Log(LogError::OffsetOutOfRange {
            requested: 0,
            earliest: 3,
            end: 6
        })
    );
    assert_eq!(
        names(&p.read_events(&s, 3, 10, usize::MAX).unwrap()),
        ["e100", "e101", "e102"]
    );
    p.handle_timeout(&mut s, T0 + 2 * HOUR).unwrap();
    let st = p.stats(&s).unwrap();
    assert_eq!(
        st.events,
        StreamStats {
            earliest: 6,
            end: 6,
            bytes: 0,
            batches: 0
        }
    );
    // Offsets go on from 6, and a retry of a deleted batch is still a duplicate.
    let again = p.append(&mut s, &frame_of(1, 1, 3), T0 + 2 * HOUR).unwrap();
    assert_eq!((again.base_offset, again.duplicate), (3, true));
}

#[test]
fn retention_work_per_alarm_is_bounded() {
    let mut s = MemoryStorage::new();
    let mut cfg = PartitionConfig::new(0, 1);
    cfg.retention_bytes = Some(0);
    cfg.max_timeout_work = 2;
    let mut p = Partition::open(&s, cfg).unwrap();
    for seq in 0..5 {
        p.append(&mut s, &frame_of(1, seq, 1), T0).unwrap();
    }
    let t = p.handle_timeout(&mut s, T0).unwrap();
    assert_eq!((t.deleted_event_batches, t.more), (2, true));
    assert_eq!(p.poll_timeout(&s, T0).unwrap(), Some(T0));
    p.handle_timeout(&mut s, T0).unwrap();
    let t = p.handle_timeout(&mut s, T0).unwrap();
    assert_eq!((t.deleted_event_batches, t.more), (1, false));
    assert_eq!(p.stats(&s).unwrap().events.batches, 0);
}

#[test]
fn idle_producers_expire_from_the_alarm() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    p.append(&mut s, &frame_of(1, 0, 1), T0).unwrap();
    p.append(&mut s, &frame_of(2, 0, 1), T0).unwrap();
    assert_eq!(p.stats(&s).unwrap().producers, 2);
    let ttl = p.config().producer_ttl_ms;
    let t = p.handle_timeout(&mut s, T0 + ttl).unwrap();
    assert_eq!(t.expired_producers, 2);
    assert_eq!(p.stats(&s).unwrap().producers, 0);
    assert_eq!(
        p.poll_timeout(&s, T0 + ttl).unwrap(),
        Some(T0 + 7 * 24 * HOUR)
    );
}

#[test]
fn consumers_commit_and_resume() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    p.append(&mut s, &frame_of(1, 0, 4), T0).unwrap();
    assert_eq!(p.consumer_position(&s, Stream::Events, "wh").unwrap(), None);
    p.commit_consumer(&mut s, Stream::Events, "wh", 3).unwrap();
    assert_eq!(
        p.consumer_position(&s, Stream::Events, "wh").unwrap(),
        Some(3)
    );
    assert_eq!(
        p.commit_consumer(&mut s, Stream::Events, "wh", 5)
            .unwrap_err(),
        PartitionError::Log(LogError::OffsetOutOfRange {
            requested: 5,
            earliest: 0,
            end: 4
        })
    );
    assert_eq!(
        p.commit_consumer(&mut s, Stream::Events, "", 1)
            .unwrap_err()
            .name(),
        "invalid_consumer_name"
    );
    let st = p.stats(&s).unwrap();
    assert_eq!(
        st.consumers,
        vec![ConsumerPosition {
            stream: Stream::Events,
            name: "wh".into(),
            offset: 3
        }]
    );
}

#[test]
fn read_bounds_are_capped_by_the_configuration() {
    let mut s = MemoryStorage::new();
    let mut cfg = PartitionConfig::new(0, 1);
    cfg.max_read_records = 3;
    let mut p = Partition::open(&s, cfg).unwrap();
    p.append(&mut s, &frame_of(1, 0, 10), T0).unwrap();
    let r = p.read_events(&s, 0, 1_000, usize::MAX).unwrap();
    assert_eq!((r.records.len(), r.next_offset), (3, 3));
}

#[test]
fn triggers_fire_store_and_deliver_once_acknowledged() {
    let json = r#"{"version": 1, "triggers": [{
        "id": "welcome", "when": {"event": "e0"},
        "max_per_user": 1, "action": {"type": "banner", "payload": {"text": "hi"}}}]}"#;
    let file = match TriggerFile::parse(json) {
        Ok(f) => f,
        Err(e) => panic!("trigger file refused: {e:?}"),
    };
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    p.set_triggers(&mut s, json, file).unwrap();
    let a = p.append(&mut s, &frame_of(1, 0, 2), T0).unwrap();
    assert_eq!(a.firings.len(), 1);
    assert_eq!(a.firings[0].0, 0);
    assert_eq!(&*a.firings[0].1.trigger_id, "welcome");
    assert_eq!(&*a.firings[0].1.visitor, "v-1");
    // Restart: the trigger file is restored, state is in storage.
    let mut p = open(&s);
    assert!(p.stats(&s).unwrap().triggers_active);
    assert_eq!(p.trigger_file(&s).unwrap().as_deref(), Some(json));
    let b = p.append(&mut s, &frame_of(1, 1, 1), T0).unwrap();
    assert!(b.firings.is_empty(), "max_per_user: 1");
    let pending = p.undelivered_firings(&s, "v-1").unwrap();
    assert_eq!(pending, a.firings);
    let read = p.read_firings(&s, 0, 10, usize::MAX).unwrap();
    assert_eq!(read.records.len(), 1);
    assert_eq!(read.records[0].outcome.firing(), Some(&a.firings[0].1));
    p.ack_firings(&mut s, "v-1", &[0]).unwrap();
    assert!(p.undelivered_firings(&s, "v-1").unwrap().is_empty());
}

#[test]
fn a_stored_trigger_file_that_no_longer_parses_does_not_brick_the_partition() {
    let mut s = MemoryStorage::new();
    let mut w = WriteBatch::new();
    w.put(
        trigger_file_key(),
        br#"{"version": 99, "triggers": []}"#.to_vec(),
    );
    s.commit(w).unwrap();
    // Opens, runs without triggers, and says why.
    let mut p = open(&s);
    let st = p.stats(&s).unwrap();
    assert!(!st.triggers_active);
    let why = st.triggers_error.expect("the reason is reported");
    assert!(
        why.starts_with("the stored trigger file is invalid: "),
        "{why}"
    );
    let a = p.append(&mut s, &frame_of(1, 0, 2), T0).unwrap();
    assert!(a.firings.is_empty());
    assert_eq!(
        p.read_events(&s, 0, 10, usize::MAX).unwrap().records.len(),
        2
    );
    // A new file replaces it, and survives the next restart.
    let json = r#"{"version": 1, "triggers": [{"id": "welcome", "when": {"event": "e0"}, "action": {"type": "banner", "payload": {}}}]}"#;
    let file = TriggerFile::parse(json).unwrap();
    p.set_triggers(&mut s, json, file).unwrap();
    let st = p.stats(&s).unwrap();
    assert!(st.triggers_active && st.triggers_error.is_none());
    let p = open(&s);
    assert!(p.stats(&s).unwrap().triggers_active);
}

#[test]
fn contradictory_configurations_are_refused_at_open() {
    let s = MemoryStorage::new();
    let mut cfg = PartitionConfig::new(0, 1);
    cfg.max_past_ms = 48 * HOUR; // longer than the producer TTL
    let e = Partition::open(&s, cfg).unwrap_err();
    assert_eq!((e.name(), e.code()), ("invalid_config", 109));
    assert!(Partition::open(&s, PartitionConfig::new(4, 4)).is_err());
    assert!(PartitionConfig::new(3, 4).validate().is_ok());
    assert!(PartitionConfig::default().validate().is_ok());
}

#[test]
fn alarms_are_idempotent_and_an_empty_partition_sleeps() {
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    assert_eq!(p.poll_timeout(&s, T0).unwrap(), None);
    assert_eq!(
        p.handle_timeout(&mut s, T0).unwrap(),
        TimeoutOutcome::default()
    );
    assert!(s.is_empty(), "an alarm with nothing due writes nothing");
    p.append(&mut s, &frame_of(1, 0, 2), T0).unwrap();
    let late = T0 + 8 * 24 * HOUR;
    let first = p.handle_timeout(&mut s, late).unwrap();
    assert_eq!(
        (first.deleted_event_batches, first.expired_producers),
        (1, 1)
    );
    let keys = s.len();
    // The same alarm delivered again finds nothing left to do.
    assert_eq!(
        p.handle_timeout(&mut s, late).unwrap(),
        TimeoutOutcome::default()
    );
    assert_eq!(s.len(), keys);
    assert_eq!(p.poll_timeout(&s, late).unwrap(), None);
}

#[test]
fn firing_retention_also_drops_the_undelivered_entries() {
    let json = r#"{"version": 1, "triggers": [{"id": "hello", "when": {"event": "e0"},
        "action": {"type": "banner"}}]}"#;
    let mut cfg = PartitionConfig::new(0, 1);
    cfg.retention_ms = Some(HOUR);
    let (mut s, mut p) = with_triggers(json, cfg);
    let a = p.append(&mut s, &frame_of(1, 0, 1), T0).unwrap();
    assert_eq!(a.firings.len(), 1);
    assert_eq!(p.undelivered_firings(&s, "v-1").unwrap().len(), 1);
    let t = p.handle_timeout(&mut s, T0 + HOUR).unwrap();
    assert_eq!((t.deleted_event_batches, t.deleted_firing_batches), (1, 1));
    assert!(p.undelivered_firings(&s, "v-1").unwrap().is_empty());
    assert_eq!(
        p.read_firings(&s, 0, 10, usize::MAX).unwrap_err(),
        PartitionError::Log(LogError::OffsetOutOfRange {
            requested: 0,
            earliest: 1,
            end: 1
        })
    );
}

#[test]
fn a_visitor_id_with_nul_does_not_see_another_visitors_firings() {
    let json = r#"{"version": 1, "triggers": [{"id": "hello", "when": {"event": "e0"},
        "action": {"type": "banner"}}]}"#;
    let (mut s, mut p) = with_triggers(json, PartitionConfig::new(0, 0));
    let other = frame_for("a\0b", 1, 0, vec![event(0, T0)]);
    assert_eq!(p.append(&mut s, &other, T0).unwrap().firings.len(), 1);
    assert!(p.undelivered_firings(&s, "a").unwrap().is_empty());
    assert_eq!(p.undelivered_firings(&s, "a\0b").unwrap().len(), 1);
}

#[test]
fn a_new_trigger_file_keeps_unchanged_triggers_state_and_drops_removed_ones() {
    let counter = r#"{"id": "counter", "when": {"event": "e0"},
        "count": {"at_least": 2, "within": "1h"}, "action": {"type": "toast"}}"#;
    let later = r#"{"id": "later", "when": {"event": "e0"},
        "unless": {"event": "e9", "within": "1m"}, "action": {"type": "banner"}}"#;
    let set = |p: &mut Partition, s: &mut MemoryStorage, triggers: &[&str]| {
        let json = format!(r#"{{"version": 1, "triggers": [{}]}}"#, triggers.join(","));
        let file = match TriggerFile::parse(&json) {
            Ok(f) => f,
            Err(e) => panic!("trigger file refused: {e:?}"),
        };
        p.set_triggers(s, &json, file).unwrap();
    };
    let mut s = MemoryStorage::new();
    let mut p = open(&s);
    set(&mut p, &mut s, &[counter, later]);
    let a = p
        .append(&mut s, &frame_for("v-1", 1, 0, vec![event(0, T0)]), T0)
        .unwrap();
    assert!(a.firings.is_empty(), "one of two; `later` waits a minute");
    assert_eq!(p.poll_timeout(&s, T0).unwrap(), Some(T0 + 60_000));
    // `counter` is unchanged, `later` is gone.
    set(&mut p, &mut s, &[counter]);
    let b = p
        .append(
            &mut s,
            &frame_for("v-1", 1, 1, vec![event(0, T0 + 1_000)]),
            T0 + 1_000,
        )
        .unwrap();
    let fired: Vec<&str> = b.firings.iter().map(|(_, f)| &*f.trigger_id).collect();
    assert_eq!(fired, ["counter"], "the first e0 still counts");
    let t = p.handle_timeout(&mut s, T0 + 120_000).unwrap();
    assert!(
        t.firings.is_empty(),
        "the removed trigger's pending firing never fires"
    );
    assert_eq!(
        p.read_firings(&s, 0, 10, usize::MAX).unwrap().records.len(),
        1
    );
}

/// A partition over a new store, configured by `cfg`, running `json`.
fn with_triggers(json: &str, cfg: PartitionConfig) -> (MemoryStorage, Partition) {
    let file = match TriggerFile::parse(json) {
        Ok(f) => f,
        Err(e) => panic!("trigger file refused: {e:?}"),
    };
    let mut s = MemoryStorage::new();
    let mut p = Partition::open(&s, cfg).unwrap();
    p.set_triggers(&mut s, json, file).unwrap();
    (s, p)
}

/// Storage entries under `prefix`.
fn entries_under(s: &MemoryStorage, prefix: u8) -> usize {
    s.scan(&[prefix], &keys::prefix_end(&[prefix]), usize::MAX)
        .unwrap()
        .len()
}

/// The firings of one append are one undelivered entry, whatever their
/// number; acknowledging some of them keeps the others, in order, and an
/// acknowledgement of unknown or already acknowledged offsets changes
/// nothing. A timeout's firings of several visitors get one entry each.
#[test]
fn an_append_s_firings_are_one_undelivered_entry_acknowledged_in_parts() {
    let json = r#"{"version": 1, "triggers": [
        {"id": "hello", "when": {"event": "e0"}, "action": {"type": "banner"}},
        {"id": "again", "when": {"event": "e0"}, "action": {"type": "toast"}},
        {"id": "later", "when": {"event": "e0"}, "unless": {"event": "e9", "within": "1m"},
         "action": {"type": "later"}}]}"#;
    let (mut s, mut p) = with_triggers(json, PartitionConfig::new(0, 0));
    let three = frame_for(
        "v-1",
        1,
        0,
        vec![event(0, T0), event(1, T0 + 1), event(0, T0 + 2)],
    );
    let a = p.append(&mut s, &three, T0).unwrap();
    assert_eq!(a.firings.len(), 4, "hello and again, twice");
    assert_eq!(entries_under(&s, keys::UNDELIVERED), 1);
    assert_eq!(p.undelivered_firings(&s, "v-1").unwrap(), a.firings);
    let one = frame_for("v-2", 2, 0, vec![event(0, T0)]);
    let b = p.append(&mut s, &one, T0).unwrap();
    assert_eq!(b.firings.len(), 2);
    assert_eq!(entries_under(&s, keys::UNDELIVERED), 2);

    // Some of v-1's: the second and the last, an unknown one, v-2's first
    // (not v-1's), twice over.
    let offsets: Vec<u64> = a.firings.iter().map(|(o, _)| *o).collect();
    let v2: Vec<u64> = b.firings.iter().map(|(o, _)| *o).collect();
    for _ in 0..2 {
        p.ack_firings(&mut s, "v-1", &[offsets[3], 999, offsets[1], v2[0]])
            .unwrap();
        let left = p.undelivered_firings(&s, "v-1").unwrap();
        assert_eq!(left, [a.firings[0].clone(), a.firings[2].clone()]);
        assert_eq!(p.undelivered_firings(&s, "v-2").unwrap(), b.firings);
    }
    p.ack_firings(&mut s, "v-1", &[offsets[2]]).unwrap();
    assert_eq!(
        p.undelivered_firings(&s, "v-1").unwrap(),
        [a.firings[0].clone()]
    );
    p.ack_firings(&mut s, "v-1", &[offsets[0]]).unwrap();
    assert!(p.undelivered_firings(&s, "v-1").unwrap().is_empty());
    assert_eq!(entries_under(&s, keys::UNDELIVERED), 1, "v-2's");

    // `later` is due for both visitors at the same timeout: an entry each.
    let t = p.handle_timeout(&mut s, T0 + 120_000).unwrap();
    let visitors: Vec<&str> = t.firings.iter().map(|(_, f)| &*f.visitor).collect();
    assert_eq!(visitors, ["v-1", "v-1", "v-2"]);
    assert_eq!(p.undelivered_firings(&s, "v-1").unwrap(), t.firings[..2]);
    let mut v2_all = b.firings.clone();
    v2_all.push(t.firings[2].clone());
    assert_eq!(p.undelivered_firings(&s, "v-2").unwrap(), v2_all);
    assert_eq!(entries_under(&s, keys::UNDELIVERED), 3);
}

/// Firing retention deletes an undelivered entry of several firings too,
/// also after part of it was acknowledged.
#[test]
fn firing_retention_drops_undelivered_entries_of_several_firings() {
    let json = r#"{"version": 1, "triggers": [
        {"id": "hello", "when": {"event": "e0"}, "action": {"type": "banner"}},
        {"id": "again", "when": {"event": "e0"}, "action": {"type": "toast"}},
        {"id": "more", "when": {"event": "e0"}, "action": {"type": "toast"}}]}"#;
    let mut cfg = PartitionConfig::new(0, 1);
    cfg.retention_ms = Some(HOUR);
    let (mut s, mut p) = with_triggers(json, cfg);
    let a = p.append(&mut s, &frame_of(1, 0, 1), T0).unwrap();
    assert_eq!(a.firings.len(), 3);
    p.ack_firings(&mut s, "v-1", &[a.firings[2].0]).unwrap();
    assert_eq!(p.undelivered_firings(&s, "v-1").unwrap().len(), 2);
    p.handle_timeout(&mut s, T0 + HOUR).unwrap();
    assert!(p.undelivered_firings(&s, "v-1").unwrap().is_empty());
    assert_eq!(entries_under(&s, keys::UNDELIVERED), 0);
}
