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
//!   (the cost of outcomes, with their counters, against the line above).
//!   With triggers, each run over the corpus ends with the partition's
//!   periodic work at the appends' time (`Partition::handle_timeout`: the
//!   counter journal's last fold, the delayed firings due), so that work
//!   the appends leave to it is counted;
//! - `append/decode+log-append (no idempotence)`: decode, then the bare
//!   `Log::append` and commit, without producer state;
//! - `append/inflate+decode+append (deflated frames)`: the same frames as the
//!   SDK sends them when compression pays;
//! - `append/idempotent retry`: every frame sent again (all duplicates);
//! - `read/events`: `Partition::read_events` of the whole log, 1,000 at a time.
//!
//! It also prints the storage reads and writes an append makes (without
//! triggers, and with each trigger file): on a Durable Object each is one
//! SQL statement, and rows written are what its storage bills.
//!
//! `CPU_FIGURES=<text>` keeps only the `cpu/...` figures whose name contains
//! it, `CPU_FIGURES='<name>$'` only the one named so (to profile one: a
//! criterion filter that matches nothing skips the rest).
//! `PROFILE_APPEND=<name>` (`50 triggers`, `50 triggers+outcomes`,
//! `examples`, `none`) only appends the corpus 5 times with that file and
//! exits (with triggers, each time ending with the periodic work): for
//! `valgrind --tool=callgrind --toggle-collect='log::append_into*'`,
//! whose instruction counts hold on a loaded machine (divide by 5 x 10,728).
//!
//! `BENCH_EVENTS_PER_FRAME=<n>` cuts the corpus into frames of at most `n`
//! events instead of 20 (an experiment: with 50 triggers, a whole visit per
//! frame, `1000`, against `5` says how much of an append is per frame; the
//! printed corpus line gives the frames' count).
//!
//! Run: `cargo bench -p broker-core --bench log`. The README's figures
//! build it as the shipped binaries are built, with `panic = "abort"`, which
//! cargo never applies to a bench (`scripts/bench`: `CARGO_TARGET_DIR=target/shipped
//! RUSTFLAGS='-C panic=abort' cargo bench ...`); with unwinding the core runs
//! 6-18% slower.

use broker_core::frame::{self, Limits};
use broker_core::log::Log;
use broker_core::partition::{Partition, PartitionConfig};
use broker_core::storage::{MemoryStorage, Storage, WriteBatch};
use broker_core::trigger::TriggerFile;
use criterion::measurement::WallTime;
use criterion::{
    black_box, criterion_group, criterion_main, BatchSize, BenchmarkGroup, Criterion, Throughput,
};

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

/// [`append_into`] a fresh store; returns the partition, its store and the
/// firings.
fn append_all_with(
    frames: &[Vec<u8>],
    now: u64,
    triggers: Option<(&str, &TriggerFile)>,
) -> (Partition, MemoryStorage, usize) {
    let mut store = MemoryStorage::new();
    let (p, firings) = append_into(&mut store, frames, now, triggers);
    (p, store, firings)
}

/// Appends every frame to a partition opened on `store`, running
/// `triggers` (JSON and its parse), if any; returns the partition and the
/// firings. With triggers, the run ends with the partition's periodic work
/// (`handle_timeout` at `now`), so that what the appends left to it counts
/// too: the counter journal's last fold, the delayed firings due.
fn append_into(
    store: &mut MemoryStorage,
    frames: &[Vec<u8>],
    now: u64,
    triggers: Option<(&str, &TriggerFile)>,
) -> (Partition, usize) {
    let mut p = Partition::open(store, config()).expect("open");
    if let Some((json, file)) = triggers {
        p.set_triggers(store, json, file.clone())
            .expect("set triggers");
    }
    let mut firings = 0;
    for f in frames {
        firings += p.append(store, f, now).expect("append").firings.len();
    }
    if triggers.is_some() {
        let done = p.handle_timeout(store, now).expect("timeout");
        firings += done.firings.len();
    }
    (p, firings)
}

/// Decodes every frame and appends its events with the bare `Log::append`
/// and a commit each, without the partition's producer state.
fn log_append_all(log: &Log, store: &mut MemoryStorage, frames: &[Vec<u8>], now: u64) {
    for f in frames {
        let frame = frame::decode(f, &Limits::DEFAULT).expect("decode");
        let newest = frame.events.iter().map(|e| e.timestamp).max().unwrap_or(0);
        let mut meta = log.meta(store).expect("meta");
        let mut w = WriteBatch::new();
        log.append(&mut meta, &mut w, frame.events.len(), now, newest, f)
            .expect("append");
        store.commit(w).expect("commit");
    }
}

/// Appends every frame 5 times over, each time to a fresh store, with the
/// trigger file `name` (or none).
fn profile_append(name: &str, frames: &[Vec<u8>], now: u64) {
    let json = match name {
        "50 triggers" => Some(fifty_triggers()),
        "50 triggers+outcomes" => Some(fifty_triggers_with_outcomes()),
        "examples" => Some(example_file()),
        "none" => None,
        _ => panic!("PROFILE_APPEND: no trigger file {name:?}"),
    };
    let file = json.as_ref().map(|j| TriggerFile::parse(j).expect("valid"));
    let triggers = json.as_deref().zip(file.as_ref());
    for _ in 0..5 {
        black_box(append_all_with(frames, now, triggers));
    }
}

/// A [`MemoryStorage`] that counts what a driver's storage would do: reads
/// (`get`, `scan`) and writes (each put, delete and range delete: one SQL
/// statement each on a Durable Object).
#[derive(Default)]
struct Counting {
    store: MemoryStorage,
    reads: std::cell::Cell<u64>,
    writes: u64,
}

impl Storage for Counting {
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, broker_core::StorageError> {
        self.reads.set(self.reads.get() + 1);
        self.store.get(key)
    }
    fn scan(
        &self,
        start: &[u8],
        end: &[u8],
        limit: usize,
    ) -> Result<broker_core::storage::Entries, broker_core::StorageError> {
        self.reads.set(self.reads.get() + 1);
        self.store.scan(start, end, limit)
    }
    fn commit(&mut self, batch: WriteBatch) -> Result<(), broker_core::StorageError> {
        self.writes += batch.ops.len() as u64;
        self.store.commit(batch)
    }
}

/// Storage reads and writes per append of the corpus with `triggers`.
fn storage_ops(frames: &[Vec<u8>], now: u64, triggers: Option<(&str, &TriggerFile)>) -> (f64, f64) {
    let mut store = Counting::default();
    let mut p = Partition::open(&store, config()).expect("open");
    if let Some((json, file)) = triggers {
        p.set_triggers(&mut store, json, file.clone())
            .expect("set triggers");
    }
    let (r0, w0) = (store.reads.get(), store.writes);
    for f in frames {
        p.append(&mut store, f, now).expect("append");
    }
    if triggers.is_some() {
        // As in `append_into`: the work the appends left, counted.
        p.handle_timeout(&mut store, now).expect("timeout");
    }
    let n = frames.len() as f64;
    (
        (store.reads.get() - r0) as f64 / n,
        (store.writes - w0) as f64 / n,
    )
}

/// Sends every frame again: each is acknowledged as a duplicate.
fn retry_all(p: &mut Partition, store: &mut MemoryStorage, frames: &[Vec<u8>], now: u64) {
    for f in frames {
        let out = p.append(store, f, now).expect("append");
        debug_assert!(out.duplicate);
        black_box(out);
    }
}

/// Reads the whole event stream, 1,000 records at a time; returns the end.
fn read_all(p: &Partition, store: &MemoryStorage) -> u64 {
    let mut at = 0;
    loop {
        let r = p.read_events(store, at, 1_000, usize::MAX).expect("read");
        if r.records.is_empty() {
            return at;
        }
        at = r.next_offset;
        black_box(r);
    }
}

/// Times [`append_into`] a fresh store (whose creation and drop are not
/// timed).
fn bench_append(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    frames: &[Vec<u8>],
    now: u64,
    triggers: Option<(&str, &TriggerFile)>,
) {
    g.bench_function(name, |b| {
        b.iter_batched(
            MemoryStorage::new,
            |mut store| {
                black_box(append_into(&mut store, frames, now, triggers));
                store
            },
            BatchSize::LargeInput,
        )
    });
}

fn bench(c: &mut Criterion) {
    let (frames, events, now) = corpus_frames::frames();
    if let Ok(name) = std::env::var("PROFILE_APPEND") {
        profile_append(&name, &frames, now);
        return;
    }
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

    let (reads, writes) = storage_ops(&frames, now, None);
    println!("storage per append: {reads:.1} reads, {writes:.1} writes");
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
        let (reads, writes) = storage_ops(&frames, now, Some((json, file)));
        println!(
            "{name}: {} triggers, {firings} firings, {} keys stored; per append {reads:.1} storage reads, {writes:.1} writes",
            file.len(),
            filled.len()
        );
        cpu_figure(&format!("cpu/decode+append+{name}"), events, 1, || {
            black_box(append_all_with(&frames, now, Some((json, file))));
        });
    }
    let log = Log::events();
    cpu_figure("cpu/decode+log-append (no idempotence)", events, 1, || {
        let mut store = MemoryStorage::new();
        log_append_all(&log, &mut store, &frames, now);
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
    let (mut p, mut store) = append_all(&frames, now);
    cpu_figure("cpu/idempotent retry (all duplicates)", events, 1, || {
        retry_all(&mut p, &mut store, &frames, now);
    });
    cpu_figure("cpu/read events, 1000 at a time", events, 1, || {
        black_box(read_all(&p, &store));
    });

    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(events as u64));
    bench_append(&mut g, "decode+append", &frames, now, None);
    for (name, json, file) in &trigger_files {
        let name = format!("decode+append+{name}");
        bench_append(&mut g, &name, &frames, now, Some((json, file)));
    }
    let name = "inflate+decode+append (deflated frames)";
    bench_append(&mut g, name, &deflated, now, None);
    g.bench_function("decode+log-append (no idempotence)", |b| {
        b.iter_batched(
            MemoryStorage::new,
            |mut store| {
                log_append_all(&log, &mut store, &frames, now);
                store
            },
            BatchSize::LargeInput,
        )
    });
    g.bench_function("idempotent retry (all duplicates)", |b| {
        b.iter(|| retry_all(&mut p, &mut store, &frames, now))
    });
    g.finish();

    let mut g = c.benchmark_group("read");
    g.throughput(Throughput::Elements(events as u64));
    g.bench_function("events, 1000 at a time", |b| {
        b.iter(|| assert_eq!(read_all(&p, &store) as usize, events))
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
