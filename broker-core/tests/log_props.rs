//! Property tests of the log's invariants, through the partition driver:
//! offsets dense and monotonic, every acknowledged event readable exactly
//! once and in order from any offset, retries never duplicate, retention
//! never reuses an offset nor skips silently.

#[path = "sim/support.rs"]
mod support;

use broker_core::log::LogError;
use broker_core::partition::{EventRecord, Partition, PartitionConfig, PartitionError};
use broker_core::storage::MemoryStorage;
use proptest::prelude::*;
use std::collections::{BTreeMap, HashSet};
use support::{tag_of, tagged_frame, FaultyStorage, Tag};

const T0: u64 = 1_764_000_000_000;

#[derive(Debug, Clone)]
enum Op {
    /// Producer `p` sends its next frame with this many events.
    Send { p: usize, count: u64 },
    /// Producer `p` sends again the frame `back` sequences ago.
    Resend { p: usize, back: u64 },
    /// The driver restarts.
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => (0..3usize, 0..8u64).prop_map(|(p, count)| Op::Send { p, count }),
        3 => (0..3usize, 0..8u64).prop_map(|(p, back)| Op::Resend { p, back }),
        1 => Just(Op::Restart),
    ]
}

fn read_all(part: &Partition, store: &FaultyStorage, from: u64, max: usize) -> Vec<EventRecord> {
    let mut out = Vec::new();
    let mut at = from;
    loop {
        let r = part.read_events(store, at, max, usize::MAX).expect("read");
        if r.records.is_empty() {
            return out;
        }
        at = r.next_offset;
        out.extend(r.records);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn acknowledged_events_are_stored_once_at_dense_offsets(
        ops in proptest::collection::vec(op(), 1..60),
        fail_seed in any::<u64>(),
        read_chunk in 1..25usize,
    ) {
        let mut store = FaultyStorage::new(fail_seed, 100, 100);
        let cfg = PartitionConfig::new(0, 1);
        let mut part = Partition::open(&store, cfg.clone()).unwrap();
        let producers = [11u64, 22, 33];
        // Per producer: frames sent (sequence -> bytes, count), next sequence.
        let mut sent: Vec<BTreeMap<u64, (Vec<u8>, u64)>> = vec![BTreeMap::new(); 3];
        let mut next = [0u64; 3];
        let mut acked: BTreeMap<(u64, u64), (u64, u32)> = BTreeMap::new();
        let mut last_end = 0;
        for op in ops {
            let (p, bytes, seq) = match op {
                Op::Restart => {
                    part = Partition::open(&store, cfg.clone()).unwrap();
                    continue;
                }
                Op::Send { p, count } => {
                    let seq = next[p];
                    let bytes = tagged_frame("v", producers[p], seq, count, T0);
                    sent[p].insert(seq, (bytes.clone(), count));
                    (p, bytes, seq)
                }
                Op::Resend { p, back } => {
                    let Some(seq) = next[p].checked_sub(back + 1) else { continue };
                    (p, sent[p][&seq].0.clone(), seq)
                }
            };
            match part.append(&mut store, &bytes, T0) {
                Ok(out) => {
                    let got = (out.base_offset, out.count);
                    // An empty frame as a producer's first owns nothing and
                    // is not remembered: sent again, it is acknowledged
                    // afresh, at the then next offset.
                    let first_empty = out.count == 0 && !out.duplicate;
                    if let Some(prev) = acked.insert((producers[p], seq), got) {
                        if !first_empty {
                            prop_assert_eq!(prev, got, "a retry got other offsets");
                            prop_assert!(out.duplicate);
                        }
                    }
                    // Offsets only grow, by exactly the events appended.
                    if !out.duplicate {
                        prop_assert_eq!(out.base_offset, last_end);
                        last_end += u64::from(out.count);
                    }
                    if seq == next[p] {
                        next[p] += 1;
                    }
                }
                Err(PartitionError::Storage(_)) => {
                    // Failed, or applied with the reply lost: the producer
                    // does not know; it resends the same frame later.
                    // The producer moves on; its next frame meets a gap
                    // until a resend of this one fills it.
                    if seq == next[p] {
                        next[p] += 1;
                    }
                    // A reply lost after applying moved the end.
                    last_end = part.stats(&store).unwrap().events.end;
                }
                Err(PartitionError::Log(LogError::SequenceGap { .. })) | Err(PartitionError::Log(LogError::StaleSequence { .. })) => {}
                Err(e) => prop_assert!(false, "unexpected error {e}"),
            }
        }
        let end = part.stats(&store).unwrap().events.end;
        prop_assert_eq!(end, last_end);
        let all = read_all(&part, &store, 0, read_chunk);
        // Dense: offsets 0..end, in order.
        let offsets: Vec<u64> = all.iter().map(|r| r.offset).collect();
        prop_assert_eq!(offsets, (0..end).collect::<Vec<_>>());
        // Exactly once: no tag twice, and every acked event where it was acked.
        let tags: Vec<Tag> = all.iter().map(|r| tag_of(&r.event).unwrap()).collect();
        prop_assert_eq!(tags.iter().collect::<HashSet<_>>().len(), tags.len(), "duplicate event");
        for (&(producer, seq), &(base, count)) in &acked {
            for i in 0..u64::from(count) {
                prop_assert_eq!(tags[(base + i) as usize], (producer, seq, i));
            }
        }
        // From any offset, a read returns the suffix, exactly.
        for from in [0, end / 3, end / 2, end.saturating_sub(1), end] {
            let suffix = read_all(&part, &store, from, read_chunk);
            let want: Vec<Tag> = tags[from as usize..].to_vec();
            let got: Vec<Tag> = suffix.iter().map(|r| tag_of(&r.event).unwrap()).collect();
            prop_assert_eq!(got, want);
        }
    }

    #[test]
    fn retention_never_reuses_offsets_nor_skips_silently(
        batches in proptest::collection::vec((1..10u64, 0..5_000u64), 1..40),
        retention_ms in 1..20_000u64,
        retention_bytes in 200..4_000u64,
        work in 1..5usize,
        alarm_gaps in proptest::collection::vec(0..3_000u64, 1..30),
    ) {
        let mut store = MemoryStorage::new();
        let mut cfg = PartitionConfig::new(0, 1);
        cfg.retention_ms = Some(retention_ms);
        cfg.retention_bytes = Some(retention_bytes);
        cfg.max_timeout_work = work;
        let mut part = Partition::open(&store, cfg).unwrap();
        let mut now = T0;
        let mut end = 0;
        let mut alarms = alarm_gaps.iter().cycle();
        for (seq, &(count, gap)) in batches.iter().enumerate() {
            now += gap;
            let bytes = tagged_frame("v", 1, seq as u64, count, now);
            let out = part.append(&mut store, &bytes, now).unwrap();
            prop_assert_eq!(out.base_offset, end, "an offset was reused");
            end += count;
            now += alarms.next().copied().unwrap_or(0);
            let before = part.stats(&store).unwrap().events.earliest;
            part.handle_timeout(&mut store, now).unwrap();
            let st = part.stats(&store).unwrap().events;
            prop_assert!(st.earliest >= before && st.earliest <= st.end);
            prop_assert_eq!(st.end, end);
            // Below retention: told, with the earliest offset; never skipped.
            if st.earliest > 0 {
                prop_assert_eq!(
                    part.read_events(&store, st.earliest - 1, 10, usize::MAX).unwrap_err(),
                    PartitionError::Log(LogError::OffsetOutOfRange { requested: st.earliest - 1, earliest: st.earliest, end })
                );
            }
            if st.earliest < end {
                let r = part.read_events(&store, st.earliest, 1, usize::MAX).unwrap();
                prop_assert_eq!(r.records[0].offset, st.earliest);
            }
        }
        // Enough alarms eventually bring the stream within its limits.
        for _ in 0..1_000 {
            let t = part.handle_timeout(&mut store, now).unwrap();
            if !t.more { break; }
        }
        let st = part.stats(&store).unwrap().events;
        prop_assert!(st.bytes <= retention_bytes);
        if let Some(due) = part.poll_timeout(&store, now).unwrap() {
            prop_assert!(due > now, "work left after the alarm said none");
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Hostile input: random bytes, or a valid frame with bytes flipped,
    /// cut or appended, never panics and, when refused, writes nothing.
    #[test]
    fn bad_frames_never_panic_and_never_write(
        count in 0..6u64,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4),
        cut in proptest::option::of(any::<usize>()),
        junk in proptest::collection::vec(any::<u8>(), 0..16),
        random in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..200)),
    ) {
        let mut bytes = match random {
            Some(r) => r,
            None => {
                let mut b = tagged_frame("v", 5, 0, count, T0);
                for (at, x) in flips {
                    let n = b.len();
                    b[at % n] ^= x;
                }
                if let Some(c) = cut {
                    let n = b.len();
                    b.truncate(c % (n + 1));
                }
                b
            }
        };
        bytes.extend_from_slice(&junk);
        let mut store = MemoryStorage::new();
        let mut part = Partition::open(&store, PartitionConfig::new(0, 1)).unwrap();
        match part.append(&mut store, &bytes, T0) {
            Ok(out) => {
                // Only an intact frame gets through the CRC: it is stored whole.
                let r = part.read_events(&store, 0, 100, usize::MAX).unwrap();
                prop_assert_eq!(r.records.len() as u32, out.count);
            }
            Err(e) => {
                prop_assert!(store.is_empty(), "refused with {e} but wrote");
                prop_assert!(matches!(e, PartitionError::Frame(_)), "{e}");
            }
        }
    }
}
