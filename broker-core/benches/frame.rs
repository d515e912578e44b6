//! Frame codec throughput on the reference corpus, in events per second:
//! frames of 20 events (each session its own visitor, as the SDK sends).
//!
//! Run: `cargo bench -p broker-core --bench frame`

use broker_core::frame::{self, FrameBuilder, Limits};
use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};

#[path = "common/corpus_frames.rs"]
mod corpus_frames;
use corpus_frames::EVENTS_PER_FRAME;

fn bench(c: &mut Criterion) {
    let batches = corpus_frames::batches();
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
