//! Log throughput on the reference corpus, in events per second: frames of
//! 20 events (each session its own visitor and producer, as the SDK sends),
//! appended to a partition over `MemoryStorage`.
//!
//! - `append/decode+append`: `Partition::append`, the relay's hot path
//!   (inflate check, decode, routing, idempotence check, timestamps, one
//!   commit with batch, producer state and metadata);
//! - `append/decode+append+50 triggers`: the same with the 50 mixed triggers
//!   of the `triggers` bench set through `Partition::set_triggers`, so that
//!   the engine runs inside each append and its state and firings share the
//!   commit (the target's figure); `append/decode+append+examples` with
//!   `examples/triggers.json`; `append/decode+append+50 triggers+outcomes`
//!   the 50 with a goal and a 10% holdout each and a cap of 20 an hour
//!   (the cost of outcomes, with their counters, against the line above);
//! - `append/decode+log-append (no idempotence)`: decode, then the bare
//!   `Log::append` and commit, without producer state;
//! - `append/inflate+decode+append (deflated frames)`: the same frames as the
//!   SDK sends them when compression pays;
//! - `append/idempotent retry`: every frame sent again (all duplicates);
//! - `read/events`: `Partition::read_events` of the whole log, 1,000 at a time.
//!
//! `CPU_FIGURES=<text>` keeps only the `cpu/...` figures whose name contains
//! it (to profile one: a criterion filter that matches nothing skips the rest).
//!
//! Run: `cargo bench -p broker-core --bench log`

use broker_core::frame::{self, Limits};
use broker_core::log::Log;
use broker_core::partition::{Partition, PartitionConfig};
use broker_core::storage::{MemoryStorage, Storage, WriteBatch};
use broker_core::trigger::TriggerFile;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};

#[path = "common/trigger_files.rs"]
mod trigger_files;
use trigger_files::{example_file, fifty_triggers, fifty_triggers_with_outcomes};

#[path = "common/corpus_frames.rs"]
mod corpus_frames;
use corpus_frames::cpu_figure;

fn config() -> PartitionConfig {
    // One partition holds every visitor here: the routing check is skipped.
    PartitionConfig::new(0, 0)
}

fn append_all(frames: &[Vec<u8>], now: u64) -> (Partition, MemoryStorage) {
    let (p, store, _) = append_all_with(frames, now, None);
    (p, store)
}

/// Appends every frame to a fresh partition running `triggers` (JSON and
/// its parse), if any; returns the partition, its store and the firings.
fn append_all_with(
    frames: &[Vec<u8>],
    now: u64,
    triggers: Option<(&str, &TriggerFile)>,
) -> (Partition, MemoryStorage, usize) {
    let mut store = MemoryStorage::new();
    let mut p = Partition::open(&store, config()).expect("open");
    if let Some((json, file)) = triggers {
        p.set_triggers(&mut store, json, file.clone())
            .expect("set triggers");
    }
    let mut firings = 0;
    for f in frames {
        firings += p.append(&mut store, f, now).expect("append").firings.len();
    }
    (p, store, firings)
}

fn bench(c: &mut Criterion) {
    let (frames, events, now) = corpus_frames::frames();
    let bytes: usize = frames.iter().map(Vec::len).sum();
    println!(
        "corpus: {} frames, {events} events, {bytes} frame bytes ({:.1} per event)",
        frames.len(),
        bytes as f64 / events as f64
    );

    let (_, filled) = append_all(&frames, now);
    println!(
        "stored: {} keys, {} bytes ({:.1} per event: batches, producer state, metadata)",
        filled.len(),
        filled.bytes(),
        filled.bytes() as f64 / events as f64
    );

    cpu_figure("cpu/decode+append", events, 1, || {
        black_box(append_all(&frames, now));
    });
    let trigger_files: Vec<(&str, String, TriggerFile)> = [
        ("50 triggers", fifty_triggers()),
        ("50 triggers+outcomes", fifty_triggers_with_outcomes()),
        ("examples", example_file()),
    ]
    .into_iter()
    .map(|(name, json)| {
        let file = TriggerFile::parse(&json).expect("valid");
        (name, json, file)
    })
    .collect();
    for (name, json, file) in &trigger_files {
        let (_, filled, firings) = append_all_with(&frames, now, Some((json, file)));
        println!(
            "{name}: {} triggers, {firings} firings, {} keys stored",
            file.len(),
            filled.len()
        );
        cpu_figure(&format!("cpu/decode+append+{name}"), events, 1, || {
            black_box(append_all_with(&frames, now, Some((json, file))));
        });
    }
    cpu_figure("cpu/decode+log-append (no idempotence)", events, 1, || {
        let log = Log::events();
        let mut store = MemoryStorage::new();
        for f in &frames {
            let frame = frame::decode(f, &Limits::DEFAULT).expect("decode");
            let newest = frame.events.iter().map(|e| e.timestamp).max().unwrap_or(0);
            let mut meta = log.meta(&store).expect("meta");
            let mut w = WriteBatch::new();
            log.append(&mut meta, &mut w, frame.events.len(), now, newest, f)
                .expect("append");
            store.commit(w).expect("commit");
        }
        black_box(store);
    });
    let deflated: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| frame::compress(f).expect("compresses"))
        .collect();
    cpu_figure(
        "cpu/inflate+decode+append (deflated frames)",
        events,
        1,
        || {
            black_box(append_all(&deflated, now));
        },
    );
    {
        let (mut p, mut store) = append_all(&frames, now);
        cpu_figure("cpu/idempotent retry (all duplicates)", events, 1, || {
            for f in &frames {
                black_box(p.append(&mut store, f, now).expect("append"));
            }
        });
    }
    {
        let (p, store) = append_all(&frames, now);
        cpu_figure("cpu/read events, 1000 at a time", events, 1, || {
            let mut at = 0;
            while let Ok(r) = p.read_events(&store, at, 1_000, usize::MAX) {
                if r.records.is_empty() {
                    break;
                }
                at = r.next_offset;
                black_box(r);
            }
        });
    }

    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(events as u64));
    g.bench_function("decode+append", |b| {
        b.iter_batched(
            MemoryStorage::new,
            |mut store| {
                let mut p = Partition::open(&store, config()).expect("open");
                for f in &frames {
                    black_box(p.append(&mut store, f, now).expect("append"));
                }
                store
            },
            BatchSize::LargeInput,
        )
    });
    for (name, json, file) in &trigger_files {
        g.bench_function(format!("decode+append+{name}"), |b| {
            b.iter_batched(
                MemoryStorage::new,
                |mut store| {
                    let mut p = Partition::open(&store, config()).expect("open");
                    p.set_triggers(&mut store, json, file.clone())
                        .expect("set triggers");
                    for f in &frames {
                        black_box(p.append(&mut store, f, now).expect("append"));
                    }
                    store
                },
                BatchSize::LargeInput,
            )
        });
    }
    g.bench_function("inflate+decode+append (deflated frames)", |b| {
        b.iter_batched(
            MemoryStorage::new,
            |mut store| {
                let mut p = Partition::open(&store, config()).expect("open");
                for f in &deflated {
                    black_box(p.append(&mut store, f, now).expect("append"));
                }
                store
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("decode+log-append (no idempotence)", |b| {
        let log = Log::events();
        b.iter_batched(
            MemoryStorage::new,
            |mut store| {
                for f in &frames {
                    let frame = frame::decode(f, &Limits::DEFAULT).expect("decode");
                    let newest = frame.events.iter().map(|e| e.timestamp).max().unwrap_or(0);
                    let mut meta = log.meta(&store).expect("meta");
                    let mut w = WriteBatch::new();
                    log.append(&mut meta, &mut w, frame.events.len(), now, newest, f)
                        .expect("append");
                    store.commit(w).expect("commit");
                }
                store
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("idempotent retry (all duplicates)", |b| {
        let (mut p, mut store) = append_all(&frames, now);
        b.iter(|| {
            for f in &frames {
                let out = p.append(&mut store, f, now).expect("append");
                debug_assert!(out.duplicate);
                black_box(out);
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(events as u64));
    let (p, store) = append_all(&frames, now);
    g.bench_function("events, 1000 at a time", |b| {
        b.iter(|| {
            let mut at = 0;
            loop {
                let r = p.read_events(&store, at, 1_000, usize::MAX).expect("read");
                if r.records.is_empty() {
                    break;
                }
                at = r.next_offset;
                black_box(r);
            }
            assert_eq!(at as usize, events);
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
