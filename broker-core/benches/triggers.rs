//! Trigger throughput on the reference corpus, in events per second: frames
//! of 20 events (each session its own visitor, as the SDK sends), each
//! inflated (CRC check) and decoded, its events evaluated by the engine over
//! `MemoryStorage` with the state writes committed, and every delayed firing
//! fired at the end.
//!
//! - `decode+eval/examples`: `examples/triggers.json` (8 enabled triggers);
//! - `decode+eval/50 mixed`: 50 triggers of every kind (when, count,
//!   sequence, unless, audience, cooldown), several on `$page` and `$click`
//!   so that most events concern some trigger;
//! - `eval/50 mixed`: the same without the frame decode (pre-decoded events);
//! - `decode/only`: the frame decode alone, for comparison.
//!
//! Before the criterion runs, the same four print events per CPU second of
//! this thread (`cpu/...`), which hold on a shared, loaded machine where wall
//! time does not.
//!
//! `CPU_FIGURES=<text>` keeps only the `cpu/...` figures whose name contains
//! it (to profile one: a criterion filter that matches nothing skips the rest).
//!
//! Run: `cargo bench -p broker-core --bench triggers`. The README's figures
//! build it as the shipped binaries are built, with `panic = "abort"`, which
//! cargo never applies to a bench (`scripts/bench`: `CARGO_TARGET_DIR=target/shipped
//! RUSTFLAGS='-C panic=abort' cargo bench ...`); with unwinding the core runs
//! 6-18% slower.

use broker_core::frame::{self, Limits};
use broker_core::storage::{MemoryStorage, Storage, WriteBatch};
use broker_core::trigger::{Engine, TriggerFile};
use broker_core::Event;
use criterion::{black_box, BatchSize, Criterion, Throughput};

#[path = "common/trigger_files.rs"]
mod trigger_files;
use trigger_files::{example_file, fifty_triggers};

#[path = "common/corpus_frames.rs"]
#[macro_use]
mod corpus_frames;
use corpus_frames::cpu_figure;

/// Decodes every frame and evaluates its events; returns the firing count.
fn run(
    engine: &mut Engine,
    store: &mut MemoryStorage,
    frames: &[Vec<u8>],
    offset: &mut u64,
) -> usize {
    let mut firings = 0;
    for bytes in frames {
        let plain = frame::inflate(bytes, &Limits::DEFAULT).expect("inflate");
        let f = frame::decode(&plain, &Limits::DEFAULT).expect("decode");
        let mut w = WriteBatch::new();
        let visitor = f.context.anonymous_id.as_ref();
        firings += engine
            .on_events(store, &mut w, visitor, &f.events, *offset)
            .expect("eval")
            .len();
        *offset += f.events.len() as u64;
        store.commit(w).expect("commit");
    }
    let mut w = WriteBatch::new();
    firings += engine
        .on_timeout(store, &mut w, u64::MAX)
        .expect("timeout")
        .len();
    store.commit(w).expect("commit");
    firings
}

/// Inflates (CRC check) and decodes every frame, as [`run`] does before
/// the engine: the decode's share of its figure.
fn decode_only(frames: &[Vec<u8>]) {
    for bytes in frames {
        let plain = frame::inflate(bytes, &Limits::DEFAULT).expect("inflate");
        black_box(
            frame::decode(&plain, &Limits::DEFAULT)
                .expect("decode")
                .events
                .len(),
        );
    }
}

fn bench(c: &mut Criterion) {
    let (frames, events, _) = corpus_frames::frames();
    let files = [("examples", example_file()), ("50 mixed", fifty_triggers())];
    let decoded: Vec<(String, Vec<Event<'static>>)> = frames
        .iter()
        .map(|bytes| {
            let f = frame::decode(bytes, &Limits::DEFAULT).expect("decode");
            let v = f.context.anonymous_id.to_string();
            (v, f.events.into_iter().map(Event::into_owned).collect())
        })
        .collect();
    let eval_only = |file: &TriggerFile| {
        let mut engine = Engine::new(file.clone());
        let mut store = MemoryStorage::new();
        let mut offset = 0;
        for (visitor, evs) in &decoded {
            let mut w = WriteBatch::new();
            black_box(
                engine
                    .on_events(&store, &mut w, visitor, evs, offset)
                    .expect("eval"),
            );
            offset += evs.len() as u64;
            store.commit(w).expect("commit");
        }
    };
    for (name, json) in &files {
        let file = TriggerFile::parse(json).expect("valid");
        cpu_figure(&format!("cpu/decode+eval/{name}"), events, 2, || {
            let (mut engine, mut store) = (Engine::new(file.clone()), MemoryStorage::new());
            black_box(run(&mut engine, &mut store, &frames, &mut 0));
        });
        cpu_figure(&format!("cpu/eval/{name}"), events, 2, || eval_only(&file));
    }
    cpu_figure("cpu/decode/only", events, 2, || decode_only(&frames));

    let mut g = c.benchmark_group("triggers");
    g.throughput(Throughput::Elements(events as u64));
    for (name, json) in &files {
        let file = TriggerFile::parse(json).expect("valid");
        let mut engine = Engine::new(file.clone());
        let mut store = MemoryStorage::new();
        let n = run(&mut engine, &mut store, &frames, &mut 0);
        eprintln!(
            "{name}: {} triggers, {n} firings over {events} events",
            file.len()
        );
        g.bench_function(format!("decode+eval/{name}"), |b| {
            b.iter_batched(
                || (Engine::new(file.clone()), MemoryStorage::new()),
                |(mut engine, mut store)| black_box(run(&mut engine, &mut store, &frames, &mut 0)),
                BatchSize::LargeInput,
            )
        });
    }
    let file = TriggerFile::parse(&files[1].1).expect("valid");
    g.bench_function("eval/50 mixed", |b| b.iter(|| eval_only(&file)));
    g.bench_function("decode/only", |b| b.iter(|| decode_only(&frames)));
    g.finish();
}

criterion_main_for_bench!(4);
