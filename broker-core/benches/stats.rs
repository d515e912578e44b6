//! Trigger counters' figures: their storage per partition per day at the
//! reference corpus's rate, and the time to merge 30 days of hourly buckets
//! over 4 partitions (what the relay's stats route computes: each
//! partition's read of its minute entries into hours, as JSON rows, then
//! the worker's sum of the 4 answers), in-process over `MemoryStorage`.
//!
//! Run: `cargo bench -p broker-core --bench stats`

use broker_core::log::partition_for;
use broker_core::partition::{Partition, PartitionConfig};
use broker_core::stats::{self, HOUR_MS, MINUTE_MS};
use broker_core::storage::{keys, MemoryStorage, Storage, WriteBatch};
use broker_core::trigger::TriggerFile;
use std::time::Instant;

#[path = "common/corpus_frames.rs"]
mod corpus_frames;
#[path = "common/trigger_files.rs"]
mod trigger_files;

const PARTITIONS: u32 = 4;
const DAY_MS: u64 = 24 * HOUR_MS;

/// The counter entries of a store: `(minute, key suffix, value)`.
fn entries(store: &MemoryStorage) -> Vec<(u64, Vec<u8>, Vec<u8>)> {
    let start = [keys::TRIGGER_STATS];
    store
        .scan(&start, &keys::prefix_end(&start), usize::MAX)
        .expect("scan")
        .into_iter()
        .map(|(k, v)| {
            let minute = u64::from_be_bytes(k[1..9].try_into().expect("a minute"));
            (minute, k[9..].to_vec(), v)
        })
        .collect()
}

fn main() {
    let json = trigger_files::example_file();
    let file = TriggerFile::parse(&json).expect("valid");
    let visits = corpus_frames::visits();
    let mut stores: Vec<(Partition, MemoryStorage)> = (0..PARTITIONS)
        .map(|p| {
            let mut store = MemoryStorage::new();
            let mut part =
                Partition::open(&store, PartitionConfig::new(p, PARTITIONS)).expect("open");
            part.set_triggers(&mut store, &json, file.clone())
                .expect("set");
            (part, store)
        })
        .collect();
    let (mut first, mut last) = (u64::MAX, 0);
    for (producer, (context, s)) in visits.iter().enumerate() {
        let p = partition_for(&context.anonymous_id, PARTITIONS) as usize;
        for (seq, chunk) in s.chunks(corpus_frames::EVENTS_PER_FRAME).enumerate() {
            let mut b = broker_core::frame::FrameBuilder::new(context);
            for c in chunk {
                b.push(&c.event).expect("fits");
                first = first.min(c.event.timestamp);
                last = last.max(c.event.timestamp);
            }
            let sent = chunk.last().map_or(0, |c| c.event.timestamp);
            let frame = b.finish(producer as u64 + 1, seq as u64, sent);
            let (part, store) = &mut stores[p];
            part.append(store, &frame, sent).expect("append");
        }
    }
    for (part, store) in &mut stores {
        part.handle_timeout(store, last + HOUR_MS).expect("timeout");
    }
    let span_min = (last - first).div_ceil(MINUTE_MS);
    println!(
        "corpus: {} visits over {span_min} minutes, {} triggers, {PARTITIONS} partitions",
        visits.len(),
        file.len()
    );
    let mut per_partition = Vec::new();
    for (p, (_, store)) in stores.iter().enumerate() {
        let e = entries(store);
        let bytes: usize = e.iter().map(|(_, k, v)| 9 + k.len() + v.len()).sum();
        let per_day = bytes as f64 * (DAY_MS / MINUTE_MS) as f64 / span_min as f64;
        println!(
            "partition {p}: {} counter entries, {bytes} bytes (keys + values) in {span_min} minutes: {:.1} MB per day at this rate, {:.0} MB for 31 days",
            e.len(),
            per_day / 1e6,
            per_day * 31.0 / 1e6
        );
        per_partition.push(e);
    }

    // 30 days at the corpus's rate: each partition's entries repeated every
    // `span_min` minutes.
    let days = 30u64;
    let mut month: Vec<MemoryStorage> = Vec::new();
    for e in &per_partition {
        let mut store = MemoryStorage::new();
        let base = e.iter().map(|(m, _, _)| *m).min().unwrap_or(0);
        let mut w = WriteBatch::new();
        for copy in 0..(days * DAY_MS / MINUTE_MS / span_min) {
            for (m, k, v) in e {
                let mut key = keys::with_u64(keys::TRIGGER_STATS, m - base + copy * span_min);
                key.extend_from_slice(k);
                w.put(key, v.clone());
            }
        }
        store.commit(w).expect("commit");
        month.push(store);
    }
    let entries_total: usize = month.iter().map(MemoryStorage::len).sum();
    let mut times = Vec::new();
    let mut rows = 0;
    for _ in 0..7 {
        let t = Instant::now();
        let answers: Vec<serde_json::Value> = month
            .iter()
            .map(|store| {
                let read = stats::read(store, 0, days * DAY_MS, HOUR_MS, None, usize::MAX)
                    .expect("read");
                serde_json::json!({"rows": read.rows.iter().map(stats::row_to_json).collect::<Vec<_>>()})
            })
            .collect();
        let merged = stats::merge_json_rows(
            answers
                .iter()
                .flat_map(|a| a["rows"].as_array().into_iter().flatten()),
        );
        times.push(t.elapsed().as_secs_f64() * 1e3);
        rows = merged.len();
    }
    times.sort_by(f64::total_cmp);
    println!(
        "30 days of hourly buckets over {PARTITIONS} partitions ({entries_total} minute entries, {rows} merged rows): median {:.0} ms, best {:.0} ms (of 7)",
        times[3], times[0]
    );
}
