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
//! Run: `cargo bench -p broker-core --bench triggers`

use broker_core::corpus::{self, CorpusEvent};
use broker_core::frame::{self, Context, FrameBuilder, Limits};
use broker_core::storage::{MemoryStorage, Storage, WriteBatch};
use broker_core::trigger::{Engine, TriggerFile};
use broker_core::Event;
use criterion::{black_box, criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::borrow::Cow;

#[path = "common/trigger_files.rs"]
mod trigger_files;
use trigger_files::{example_file, fifty_triggers};

const EVENTS_PER_FRAME: usize = 20;

fn corpus_frames() -> (Vec<Vec<u8>>, usize) {
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
    let (mut frames, mut events) = (Vec::new(), 0);
    for (producer, s) in sessions.iter().enumerate() {
        let context = Context {
            anonymous_id: Cow::Owned(s[0].visitor.clone()),
            session_id: s[0].session,
            origin: "https://shop.example".into(),
            locale: "en-US".into(),
            timezone: "Europe/Berlin".into(),
            library: "eventstream-js/0.1.0".into(),
            ..Context::default()
        };
        for (seq, chunk) in s.chunks(EVENTS_PER_FRAME).enumerate() {
            let mut b = FrameBuilder::new(&context);
            for c in chunk {
                b.push(&c.event).expect("corpus events fit");
            }
            events += chunk.len();
            let sent_at = chunk.last().map_or(0, |c| c.event.timestamp);
            frames.push(b.finish(producer as u64 + 1, seq as u64, sent_at));
        }
    }
    (frames, events)
}

/// This thread's CPU time in ns (Linux `schedstat`): unlike wall time it
/// does not count the time other processes held the core.
fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Runs `f` (which handles `events` events) until it has used two seconds of
/// CPU, and prints events per CPU second.
fn cpu_figure(name: &str, events: usize, mut f: impl FnMut()) {
    if std::env::var("CPU_FIGURES").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    let Some(start) = thread_cpu_ns() else {
        return;
    };
    let (mut runs, mut used) = (0u64, 0);
    while used < 2_000_000_000 {
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

fn bench(c: &mut Criterion) {
    let (frames, events) = corpus_frames();
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
        cpu_figure(&format!("cpu/decode+eval/{name}"), events, || {
            let (mut engine, mut store) = (Engine::new(file.clone()), MemoryStorage::new());
            black_box(run(&mut engine, &mut store, &frames, &mut 0));
        });
        cpu_figure(&format!("cpu/eval/{name}"), events, || eval_only(&file));
    }
    cpu_figure("cpu/decode/only", events, || {
        for bytes in &frames {
            let plain = frame::inflate(bytes, &Limits::DEFAULT).expect("inflate");
            black_box(
                frame::decode(&plain, &Limits::DEFAULT)
                    .expect("decode")
                    .events
                    .len(),
            );
        }
    });

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
    g.bench_function("decode/only", |b| {
        b.iter(|| {
            for bytes in &frames {
                let plain = frame::inflate(bytes, &Limits::DEFAULT).expect("inflate");
                black_box(
                    frame::decode(&plain, &Limits::DEFAULT)
                        .expect("decode")
                        .events
                        .len(),
                );
            }
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
