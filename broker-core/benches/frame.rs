//! Frame codec throughput on the reference corpus, in events per second:
//! frames of 20 events (each session its own visitor, as the SDK sends).
//!
//! Run: `cargo bench -p broker-core --bench frame`

use broker_core::corpus::{self, CorpusEvent};
use broker_core::event::Event;
use broker_core::frame::{self, Context, FrameBuilder, Limits};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use std::borrow::Cow;

const EVENTS_PER_FRAME: usize = 20;

/// (context, events) per frame of the whole corpus.
fn corpus_batches() -> Vec<(Context<'static>, Vec<Event<'static>>)> {
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
    let mut batches = Vec::new();
    for s in &sessions {
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
        for chunk in s.chunks(EVENTS_PER_FRAME) {
            batches.push((
                context.clone(),
                chunk.iter().map(|c| c.event.clone()).collect(),
            ));
        }
    }
    batches
}

fn bench(c: &mut Criterion) {
    let batches = corpus_batches();
    let events: usize = batches.iter().map(|(_, e)| e.len()).sum();
    let frames: Vec<Vec<u8>> = batches
        .iter()
        .enumerate()
        .map(|(i, (ctx, evs))| {
            let mut b = FrameBuilder::new(ctx);
            for e in evs {
                b.push(e).expect("corpus events fit");
            }
            b.finish(i as u64, 0, evs.last().map_or(0, |e| e.timestamp))
        })
        .collect();
    let deflated: Vec<Vec<u8>> = frames
        .iter()
        .map(|f| frame::compress(f).expect("compresses"))
        .collect();
    let bytes: usize = frames.iter().map(Vec::len).sum();
    println!(
        "corpus: {events} events in {} frames of <= {EVENTS_PER_FRAME}, {:.1} bytes/event raw",
        frames.len(),
        bytes as f64 / events as f64
    );

    let mut g = c.benchmark_group("frame");
    g.throughput(Throughput::Elements(events as u64));
    g.bench_function("encode/20", |b| {
        b.iter(|| {
            let mut n = 0;
            for (i, (ctx, evs)) in batches.iter().enumerate() {
                let mut fb = FrameBuilder::new(ctx);
                for e in evs {
                    let _ = fb.push(e);
                }
                n += fb.finish(i as u64, 0, 0).len();
            }
            black_box(n)
        })
    });
    g.bench_function("decode/20", |b| {
        let limits = Limits::DEFAULT;
        b.iter(|| {
            let mut n = 0;
            for f in &frames {
                n += frame::decode(black_box(f), &limits).map_or(0, |d| d.events.len());
            }
            black_box(n)
        })
    });
    g.bench_function("inflate+decode/20", |b| {
        let limits = Limits::DEFAULT;
        b.iter(|| {
            let mut n = 0;
            for f in &deflated {
                if let Ok(plain) = frame::inflate(black_box(f), &limits) {
                    n += frame::decode(&plain, &limits).map_or(0, |d| d.events.len());
                }
            }
            black_box(n)
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
