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
//!   `examples/triggers.json`;
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

use broker_core::corpus::{self, CorpusEvent};
use broker_core::frame::{self, Context, FrameBuilder, Limits};
use broker_core::log::Log;
use broker_core::partition::{Partition, PartitionConfig};
use broker_core::storage::{MemoryStorage, Storage, WriteBatch};
use broker_core::trigger::TriggerFile;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::borrow::Cow;

#[path = "common/trigger_files.rs"]
mod trigger_files;
use trigger_files::{example_file, fifty_triggers};

const EVENTS_PER_FRAME: usize = 20;

/// Every frame of the corpus and the `now` at which all are in range.
fn corpus_frames() -> (Vec<Vec<u8>>, usize, u64) {
    let path = corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let calls = corpus::parse_corpus(&text).expect("the reference corpus parses");
    let mut sessions: Vec<Vec<CorpusEvent>> = Vec::new();
    for c in calls {
        match sessions.last_mut() {
            Some(s) if s[0].session == c.session => s.push(c),
            _ => sessions.push(vec![c]),
        }
    }
    let (mut frames, mut events, mut newest) = (Vec::new(), 0, 0);
    for (producer, s) in sessions.iter().enumerate() {
        let context = Context {
            anonymous_id: Cow::Owned(s[0].visitor.clone()),
            session_id: s[0].session,
            origin: "https://shop.example".into(),
            locale: "en-US".into(),
            screen_width: 1440,
            screen_height: 900,
            timezone: "Europe/Berlin".into(),
            library: "eventstream-js/0.1.0".into(),
            ..Context::default()
        };
        for (seq, chunk) in s.chunks(EVENTS_PER_FRAME).enumerate() {
            let mut b = FrameBuilder::new(&context);
            for c in chunk {
                b.push(&c.event).expect("corpus events fit");
                newest = newest.max(c.event.timestamp);
            }
            events += chunk.len();
            let sent_at = chunk.last().map_or(0, |c| c.event.timestamp);
            frames.push(b.finish(producer as u64 + 1, seq as u64, sent_at));
        }
    }
    (frames, events, newest)
}

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

/// This thread's CPU time in ns (Linux `schedstat`): unlike wall time it
/// does not count the time other processes held the core, so the figures
/// below hold on a shared, loaded machine.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Runs `f` (which handles `events` events) until it has used a second of
/// CPU, and prints events per CPU second.
fn cpu_figure(name: &str, events: usize, mut f: impl FnMut()) {
    if std::env::var("CPU_FIGURES").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    let Some(start) = thread_cpu_ns() else {
        return;
    };
    let mut runs = 0u64;
    let mut used = 0;
    while used < 1_000_000_000 {
        f();
        runs += 1;
        used = thread_cpu_ns().unwrap_or(start) - start;
    }
    let per_sec = (runs * events as u64) as f64 / (used as f64 / 1e9);
    println!(
        "{name}: {:.2} M events per CPU second ({runs} runs)",
        per_sec / 1e6
    );
}

fn bench(c: &mut Criterion) {
    let (frames, events, now) = corpus_frames();
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

    cpu_figure("cpu/decode+append", events, || {
        black_box(append_all(&frames, now));
    });
    let trigger_files: Vec<(&str, String, TriggerFile)> = [
        ("50 triggers", fifty_triggers()),
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
        cpu_figure(&format!("cpu/decode+append+{name}"), events, || {
            black_box(append_all_with(&frames, now, Some((json, file))));
        });
    }
    cpu_figure("cpu/decode+log-append (no idempotence)", events, || {
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
        || {
            black_box(append_all(&deflated, now));
        },
    );
    {
        let (mut p, mut store) = append_all(&frames, now);
        cpu_figure("cpu/idempotent retry (all duplicates)", events, || {
            for f in &frames {
                black_box(p.append(&mut store, f, now).expect("append"));
            }
        });
    }
    {
        let (p, store) = append_all(&frames, now);
        cpu_figure("cpu/read events, 1000 at a time", events, || {
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
