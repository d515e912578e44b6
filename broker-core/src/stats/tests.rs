use super::*;
use crate::storage::MemoryStorage;
use crate::trigger::{Conversion, Firing};

fn firing(trigger: &str, visitor: &str, time: u64, held_out: bool) -> Outcome {
    Outcome::Fired(Firing {
        firing_id: format!("{visitor}-{time}"),
        trigger_id: trigger.into(),
        visitor: visitor.into(),
        time,
        action_type: "t".into(),
        payload: "{}".into(),
        held_out,
    })
}

const T0: u64 = 1_764_000_000_000;

#[test]
fn counters_round_trip_exact_and_sketched() {
    let mut c = Counters {
        fired: 3,
        held_out: 1,
        conversions: 300,
        held_out_conversions: u64::MAX,
        ..Counters::default()
    };
    c.suppressed.global_cap = 7;
    for i in 0..EXACT_VISITORS as u64 {
        c.visitors.insert(visitor_hash(&i.to_le_bytes()));
    }
    assert!(matches!(c.visitors, Visitors::Exact(_)));
    assert_eq!(Counters::decode(&c.encode(), b"s").unwrap(), c);
    assert!(c.encode().len() <= MAX_ENTRY_BYTES);
    c.visitors.insert(visitor_hash(b"one more"));
    assert!(matches!(c.visitors, Visitors::Sketch(_)));
    assert_eq!(Counters::decode(&c.encode(), b"s").unwrap(), c);
    assert!(c.encode().len() <= MAX_ENTRY_BYTES);
    for bad in [&[][..], &[9], &[FORMAT, 1], &c.encode()[..40]] {
        assert!(Counters::decode(bad, b"s").is_err(), "{bad:?}");
    }
}

#[test]
fn distinct_visitors_are_exact_while_few_and_close_when_sketched() {
    for n in [0u64, 1, 32, 33, 100, 1_000, 10_000, 100_000] {
        let mut v = Visitors::default();
        for i in 0..n {
            let h = visitor_hash(format!("v-{i}").as_bytes());
            v.insert(h);
            v.insert(h); // twice: counted once
        }
        let got = v.count() as f64;
        let err = if n == 0 {
            got
        } else {
            (got - n as f64).abs() / n as f64
        };
        let bound = if n <= EXACT_VISITORS as u64 {
            0.0
        } else {
            0.15
        };
        assert!(err <= bound, "{n}: {got}");
    }
}

#[test]
fn merging_is_a_union_not_a_sum() {
    // The same 500 visitors in two minutes, and 500 others.
    let set = |from: u64| {
        let mut v = Visitors::default();
        (from..from + 500).for_each(|i| v.insert(visitor_hash(&i.to_le_bytes())));
        v
    };
    let mut a = set(0);
    a.merge(&set(0));
    let same = a.count();
    a.merge(&set(500));
    let both = a.count() as f64;
    assert!((same as f64 - 500.0).abs() < 75.0, "{same}");
    assert!((both - 1000.0).abs() < 150.0, "{both}");
    let mut small = set(0);
    small.merge(&Visitors::Exact(vec![1, 2]));
    let mut exact = Visitors::Exact(vec![1, 2]);
    exact.merge(&set(0));
    assert_eq!(small, exact);
}

#[test]
fn stage_read_and_expire() {
    let mut store = MemoryStorage::new();
    let mut w = WriteBatch::new();
    let outcomes = [
        firing("a", "v-1", T0, false),
        firing("a", "v-1", T0 + 1, false),
        firing("a", "v-2", T0 + MINUTE_MS, true),
        firing("b", "v-1", T0 + HOUR_MS, false),
        Outcome::Converted(Conversion {
            firing_id: "x".into(),
            trigger_id: "a".into(),
            visitor: "v-1".into(),
            time: T0 + 2,
            held_out: false,
        }),
    ];
    let suppressed = [Suppressed {
        trigger_id: "a".into(),
        time: T0 + 3,
        reason: Reason::GlobalCap,
    }];
    stage(&store, &mut w, &outcomes, &suppressed).unwrap();
    store.commit(w).unwrap();
    // Again: the counters add up, the visitors do not.
    let mut w = WriteBatch::new();
    stage(&store, &mut w, &outcomes[..1], &[]).unwrap();
    store.commit(w).unwrap();

    let minutes = read(
        &store,
        T0 - T0 % MINUTE_MS,
        T0 + 2 * HOUR_MS,
        MINUTE_MS,
        None,
        100,
    )
    .unwrap();
    assert_eq!(minutes.rows.len(), 3);
    let first = &minutes.rows[0].counters;
    assert_eq!(
        (
            first.fired,
            first.conversions,
            first.suppressed.global_cap,
            first.visitors.count()
        ),
        (3, 1, 1, 1)
    );
    let hours = read(&store, 0, u64::MAX / 2, HOUR_MS, Some("a"), 100).unwrap();
    assert_eq!(hours.rows.len(), 1);
    let a = &hours.rows[0];
    assert_eq!(a.start % HOUR_MS, 0);
    assert_eq!(
        (
            a.counters.fired,
            a.counters.held_out,
            a.counters.visitors.count()
        ),
        (3, 1, 1)
    );
    let json = row_to_json(a);
    assert_eq!(json["suppressed"]["global_cap"], 1);
    // Two partitions' rows add up.
    let merged = merge_json_rows([&json, &json]);
    assert_eq!((merged.len(), merged[0]["fired"].as_u64()), (1, Some(6)));
    assert_eq!(merged[0]["suppressed"]["global_cap"], 2);
    assert_eq!(merged[0]["start"], a.start);
    // The bound on entries read.
    assert!(
        read(&store, 0, u64::MAX / 2, HOUR_MS, None, 2)
            .unwrap()
            .truncated
    );

    let mut w = WriteBatch::new();
    expire(&store, &mut w, T0 + HOUR_MS + RETENTION_MS).unwrap();
    store.commit(w).unwrap();
    let left = read(&store, 0, u64::MAX / 2, MINUTE_MS, None, 100).unwrap();
    assert_eq!(
        left.rows.len(),
        1,
        "only the minute of b at T0 + 1h is kept"
    );
}

/// `merged_into` writes exactly what decode, merge and encode write, for
/// exact sets that stay exact, overlap, cross into a sketch, sketches, a
/// delta that is itself a sketch, and a stored set out of order.
#[test]
fn merging_stored_bytes_equals_decode_merge_encode() {
    let exact = |range: std::ops::Range<u64>| {
        let mut v = Visitors::default();
        range.for_each(|i| v.insert(visitor_hash(&i.to_le_bytes())));
        v
    };
    let counters = |n: u64, visitors: Visitors| {
        let mut c = Counters {
            fired: n,
            held_out: n / 2,
            conversions: 127 + n,
            held_out_conversions: 1 << 40,
            visitors,
            ..Counters::default()
        };
        c.suppressed.cooldown = n * 3;
        c
    };
    let mut unsorted = Counters::default().encode();
    unsorted.truncate(unsorted.len() - 2);
    unsorted.extend_from_slice(&[0, 2]);
    unsorted.extend_from_slice(&9u64.to_le_bytes());
    unsorted.extend_from_slice(&3u64.to_le_bytes());
    let stored = [
        counters(0, Visitors::default()).encode(),
        counters(5, exact(0..10)).encode(),
        counters(1, exact(0..32)).encode(),
        counters(300, exact(0..1_000)).encode(),
        unsorted,
    ];
    let deltas = [
        counters(1, Visitors::default()),
        counters(2, exact(5..6)),
        counters(0, exact(8..20)),
        counters(7, exact(40..50)),
        counters(4, exact(0..100)),
        counters(0, Visitors::Exact(vec![5, 1])),
    ];
    for s in &stored {
        for d in &deltas {
            let mut want = Counters::decode(s, b"s").unwrap();
            want.merge(d);
            assert_eq!(
                d.merged_into(s, b"s").unwrap(),
                want.encode(),
                "{s:?} {d:?}"
            );
        }
    }
    for bad in [&[][..], &[9], &[FORMAT, 1], &stored[1][..40]] {
        assert!(deltas[1].merged_into(bad, b"s").is_err(), "{bad:?}");
    }
}

/// A deterministic mix of outcomes and suppressions over `calls` calls:
/// several triggers and minutes, up to 60 visitors per minute (so that
/// sets cross into sketches), conversions and held-out firings.
fn workload(calls: u64) -> Vec<(Vec<Outcome>, Vec<Suppressed>)> {
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    (0..calls)
        .map(|c| {
            let base = T0 + c / 8 * MINUTE_MS;
            let outcomes = (0..next(6))
                .map(|_| {
                    let (trigger, time) = (["a", "b", "c"][next(3) as usize], base + next(90_000));
                    let visitor = format!("v-{}", next(60));
                    match next(5) {
                        0 => Outcome::Converted(Conversion {
                            firing_id: "x".into(),
                            trigger_id: trigger.into(),
                            visitor: visitor.into(),
                            time,
                            held_out: next(2) == 0,
                        }),
                        n => firing(trigger, &visitor, time, n == 1),
                    }
                })
                .collect();
            let suppressed = (0..next(3))
                .map(|_| Suppressed {
                    trigger_id: ["a", "d"][next(2) as usize].into(),
                    time: base + next(60_000),
                    reason: Reason::ALL[next(Reason::ALL.len() as u64) as usize],
                })
                .collect();
            (outcomes, suppressed)
        })
        .collect()
}

fn read_all<S: Storage>(store: &S, bucket: u64, trigger: Option<&str>) -> Read {
    read(store, 0, u64::MAX / 2, bucket, trigger, 100_000).unwrap()
}

fn journal_keys(store: &MemoryStorage) -> usize {
    let start = [keys::STATS_JOURNAL];
    store
        .scan(&start, &keys::prefix_end(&start), usize::MAX)
        .unwrap()
        .len()
}

/// One call staged straight into the minute entries of `store`, committed.
fn stage_direct(store: &mut MemoryStorage, outcomes: &[Outcome], suppressed: &[Suppressed]) {
    let mut w = WriteBatch::new();
    stage(store, &mut w, outcomes, suppressed).unwrap();
    store.commit(w).unwrap();
}

/// One call staged through `journal` over `store`: the batch to commit.
fn stage_journaled(
    journal: &mut Journal,
    store: &MemoryStorage,
    outcomes: &[Outcome],
    suppressed: &[Suppressed],
) -> WriteBatch {
    let mut w = WriteBatch::new();
    let each = suppressed
        .iter()
        .map(|s| (s.trigger_id.as_str(), s.time, s.reason, 1));
    journal
        .stage_counted(store, &mut w, outcomes, each, T0)
        .unwrap();
    w
}

/// Folds `journal` and checks that every minute reads as `direct`'s.
fn fold_and_compare(journal: &mut Journal, journaled: &mut MemoryStorage, direct: &MemoryStorage) {
    let mut w = WriteBatch::new();
    journal.fold(journaled, &mut w, T0).unwrap();
    journaled.commit(w).unwrap();
    assert_eq!(journal_keys(journaled), 0);
    assert_eq!(
        read_all(journaled, MINUTE_MS, None),
        read_all(direct, MINUTE_MS, None)
    );
}

/// Through the journal (folded by appends every `JOURNAL_FOLD_AT` entries,
/// by the periodic work, and reopened in between), every read gives what
/// staging each call straight into the minute entries gives: before a
/// fold, after it, for any bucket and trigger filter.
#[test]
fn the_journal_reads_as_direct_staging() {
    let (mut direct, mut journaled) = (MemoryStorage::new(), MemoryStorage::new());
    let mut journal = Journal::load(&journaled).unwrap();
    // Two folds by appends (and a third by hand at the end).
    let calls = workload(JOURNAL_FOLD_AT * 2 + 44);
    for (i, (outcomes, suppressed)) in calls.iter().enumerate() {
        stage_direct(&mut direct, outcomes, suppressed);
        let w = stage_journaled(&mut journal, &journaled, outcomes, suppressed);
        journaled.commit(w).unwrap();
        if i == 20 || i == 100 {
            // A restarted partition: the journal is read back, and its next
            // entries do not overwrite the ones stored.
            journal = Journal::load(&journaled).unwrap();
        }
        if i % 37 == 0 {
            for (bucket, trigger) in [(MINUTE_MS, None), (HOUR_MS, Some("a"))] {
                assert_eq!(
                    read_all(&journaled, bucket, trigger),
                    read_all(&direct, bucket, trigger),
                    "after call {i}"
                );
            }
        }
        assert!(journal_keys(&journaled) as u64 <= JOURNAL_FOLD_AT);
    }
    assert!(journal_keys(&journaled) > 0, "entries wait for a fold");
    fold_and_compare(&mut journal, &mut journaled, &direct);
    assert_eq!(journaled.len(), direct.len(), "the same minute entries");
}

/// Batches that are never committed (a failed commit; one of them holds a
/// fold) leave the journal reading as if those calls had not happened: the
/// fold reads the stored entries whenever its sum does not cover exactly
/// them.
#[test]
fn the_journal_reads_as_direct_staging_across_lost_commits() {
    let (mut direct, mut journaled) = (MemoryStorage::new(), MemoryStorage::new());
    let mut journal = Journal::load(&journaled).unwrap();
    let (mut lost, mut lost_folds) = (0, 0);
    // Room for two lost folds (a lost fold leaves its entries, and the
    // next fold comes JOURNAL_FOLD_AT entries later) and one that is kept.
    let calls = workload(JOURNAL_FOLD_AT * 4);
    for (i, (outcomes, suppressed)) in calls.iter().enumerate() {
        let folds = journal.entries >= JOURNAL_FOLD_AT;
        let lose = i % 23 == 5 || (folds && lost_folds < 2);
        let w = stage_journaled(&mut journal, &journaled, outcomes, suppressed);
        if lose {
            lost += 1;
            lost_folds += u32::from(folds);
            continue;
        }
        journaled.commit(w).unwrap();
        stage_direct(&mut direct, outcomes, suppressed);
        if i % 41 == 0 {
            assert_eq!(
                read_all(&journaled, MINUTE_MS, None),
                read_all(&direct, MINUTE_MS, None),
                "after call {i}"
            );
        }
    }
    assert!(lost > 10 && lost_folds == 2, "{lost} {lost_folds}");
    fold_and_compare(&mut journal, &mut journaled, &direct);
}

/// The fold uses its sum only when the stored entries are the ones staged
/// and committed since the last fold.
#[test]
fn the_fold_trusts_its_sum_only_over_exactly_its_entries() {
    let mut store = MemoryStorage::new();
    let mut journal = Journal::load(&store).unwrap();
    let stage_one = |journal: &mut Journal, store: &MemoryStorage, t| {
        let mut w = WriteBatch::new();
        let fired = [firing("a", "v-1", t, false)];
        journal
            .stage_counted(store, &mut w, &fired, std::iter::empty(), t)
            .unwrap();
        w
    };
    let covered = |journal: &Journal, store: &MemoryStorage| {
        journal.sum.covers(&journal_sequences(store).unwrap())
    };
    for t in 0..3 {
        let w = stage_one(&mut journal, &store, T0 + t);
        store.commit(w).unwrap();
    }
    assert!(covered(&journal, &store));
    let _lost = stage_one(&mut journal, &store, T0);
    assert!(!covered(&journal, &store), "an entry never committed");
    let mut w = WriteBatch::new();
    journal.fold(&store, &mut w, T0).unwrap();
    store.commit(w).unwrap();
    let w = stage_one(&mut journal, &store, T0);
    store.commit(w).unwrap();
    assert!(covered(&journal, &store), "a new sum after the fold");
    // A fold that is not committed: its entries stay, the sum starts again.
    journal.fold(&store, &mut WriteBatch::new(), T0).unwrap();
    let w = stage_one(&mut journal, &store, T0);
    store.commit(w).unwrap();
    assert!(!covered(&journal, &store), "the entry of the lost fold");
    // Reopened: entries from before are not in the sum.
    let journal = Journal::load(&store).unwrap();
    assert!(!covered(&journal, &store));
    assert_eq!(read_all(&store, HOUR_MS, None).rows[0].counters.fired, 5);
}

/// The journal entry an append writes holds, byte for byte, what the
/// counters of [`delta`] encode to: for the workload's calls, and for a
/// call whose firings reach more visitors than an exact set holds.
#[test]
fn journal_entries_encode_what_the_counters_would() {
    let mut calls = workload(200);
    let many: Vec<Outcome> = (0..40)
        .map(|v| firing("a", &format!("v-{v}"), T0 + v, false))
        .collect();
    calls.push((many, Vec::new()));
    // One visitor firing a trigger twice in a minute, as an append does.
    let twice = vec![
        firing("b", "v-1", T0, false),
        firing("b", "v-1", T0 + 5, false),
    ];
    calls.push((twice, Vec::new()));
    let store = MemoryStorage::new();
    let mut journal = Journal::load(&store).unwrap();
    for (i, (outcomes, suppressed)) in calls.iter().enumerate() {
        let w = stage_journaled(&mut journal, &store, outcomes, suppressed);
        let each = suppressed
            .iter()
            .map(|s| (s.trigger_id.as_str(), s.time, s.reason, 1));
        let pairs = delta(outcomes, each);
        let written = w.ops.iter().find_map(|op| match op {
            crate::storage::WriteOp::Put(k, v) if k[0] == keys::STATS_JOURNAL => Some(v),
            _ => None,
        });
        if pairs.is_empty() {
            assert!(written.is_none(), "call {i}");
            continue;
        }
        let mut want = vec![FORMAT];
        put_varint(&mut want, pairs.len() as u64);
        for ((minute, id), c) in &pairs {
            put_varint(&mut want, *minute);
            put_varint(&mut want, id.len() as u64);
            want.extend_from_slice(id.as_bytes());
            let bytes = c.encode();
            put_varint(&mut want, bytes.len() as u64);
            want.extend_from_slice(&bytes);
        }
        assert_eq!(written, Some(&want), "call {i}");
    }
    let sketched = delta(&calls[calls.len() - 2].0, std::iter::empty());
    assert!(matches!(sketched[0].1.visitors, Visitors::Sketch(_)));
}

/// A fold leaves the entries staged in the same batch and not committed
/// yet, and drops the minutes that `expire` would delete.
#[test]
fn a_fold_keeps_uncommitted_entries_and_drops_expired_minutes() {
    let mut store = MemoryStorage::new();
    let mut journal = Journal::load(&store).unwrap();
    let stage_one = |journal: &mut Journal, store: &MemoryStorage, w: &mut WriteBatch, t| {
        let fired = [firing("a", "v-1", t, false)];
        journal
            .stage_counted(store, w, &fired, std::iter::empty(), t)
            .unwrap();
    };
    let mut w = WriteBatch::new();
    stage_one(&mut journal, &store, &mut w, T0);
    store.commit(w).unwrap();
    let mut w = WriteBatch::new();
    stage_one(&mut journal, &store, &mut w, T0 + HOUR_MS);
    journal.fold(&store, &mut w, T0).unwrap();
    store.commit(w).unwrap();
    assert_eq!(journal_keys(&store), 1, "the entry staged before the fold");
    assert_eq!(read_all(&store, HOUR_MS, None).rows.len(), 2);

    let mut w = WriteBatch::new();
    journal
        .fold(&store, &mut w, T0 + HOUR_MS + RETENTION_MS - MINUTE_MS)
        .unwrap();
    store.commit(w).unwrap();
    let rows = read_all(&store, HOUR_MS, None).rows;
    assert_eq!(rows.len(), 2, "T0's minute entry is there, T0 + 1h's too");
    let mut w = WriteBatch::new();
    stage_one(&mut journal, &store, &mut w, T0);
    store.commit(w).unwrap();
    let mut w = WriteBatch::new();
    journal
        .fold(&store, &mut w, T0 + 2 * MINUTE_MS + RETENTION_MS)
        .unwrap();
    store.commit(w).unwrap();
    let rows = read_all(&store, HOUR_MS, None).rows;
    assert_eq!(
        rows[0].counters.fired, 1,
        "the journal's late firing at T0 was dropped, not written back"
    );
}

#[test]
fn a_corrupt_journal_entry_is_an_error() {
    let good = {
        let mut store = MemoryStorage::new();
        let mut journal = Journal::load(&store).unwrap();
        let mut w = WriteBatch::new();
        let fired = [firing("a", "v-1", T0, false)];
        journal
            .stage_counted(&store, &mut w, &fired, std::iter::empty(), T0)
            .unwrap();
        store.commit(w).unwrap();
        let start = [keys::STATS_JOURNAL];
        store
            .scan(&start, &keys::prefix_end(&start), 1)
            .unwrap()
            .remove(0)
            .1
    };
    for bad in [vec![], vec![9], good[..good.len() - 1].to_vec(), {
        let mut b = good.clone();
        b[1] = 2; // two pairs, one written
        b
    }] {
        let mut store = MemoryStorage::new();
        let mut w = WriteBatch::new();
        w.put(journal_key(0), bad.clone());
        store.commit(w).unwrap();
        assert!(
            matches!(
                read(&store, 0, u64::MAX / 2, HOUR_MS, None, 10),
                Err(StorageError::Corrupt { .. })
            ),
            "{bad:?}"
        );
        let mut journal = Journal::load(&store).unwrap();
        assert!(journal.fold(&store, &mut WriteBatch::new(), T0).is_err());
    }
}
