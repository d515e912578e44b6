//! Frame codec throughput on the reference corpus, in events per second:
//! frames of 20 events (each session its own visitor, as the SDK sends),
//! and `encode/2`, frames of 2 events, the size a visitor's page sends
//! one at a time (small tables, where the encoder plans slices).
//!
//! Run: `cargo bench -p broker-core --bench frame`. The README's figures
//! build it as the shipped binaries are built, with `panic = "abort"`, which
//! cargo never applies to a bench (`scripts/bench`: `CARGO_TARGET_DIR=target/shipped
//! RUSTFLAGS='-C panic=abort' cargo bench ...`); with unwinding the core runs
//! 6-18% slower.

use broker_core::event::Event;
use broker_core::frame::{self, Context, FrameBuilder, Limits};
use criterion::{black_box, Criterion, Throughput};
use std::borrow::Cow;

#[path = "common/corpus_frames.rs"]
#[macro_use]
mod corpus_frames;
use corpus_frames::EVENTS_PER_FRAME;

/// Decodes every frame, inflating it first when `deflated`; returns the
/// number of events decoded.
fn decoded_events(frames: &[Vec<u8>], deflated: bool) -> usize {
    let limits = Limits::DEFAULT;
    let mut n = 0;
    for f in frames {
        let plain = if deflated {
            match frame::inflate(black_box(f), &limits) {
                Ok(plain) => plain,
                Err(_) => continue,
            }
        } else {
            Cow::Borrowed(black_box(f.as_slice()))
        };
        n += frame::decode(&plain, &limits).map_or(0, |d| d.events.len());
    }
    n
}

/// Encodes every batch as one frame; returns the bytes encoded.
fn encoded_bytes(batches: &[(Context<'static>, Vec<Event<'static>>)]) -> usize {
    let mut n = 0;
    for (i, (ctx, evs)) in batches.iter().enumerate() {
        let mut fb = FrameBuilder::new(ctx);
        for e in evs {
            let _ = fb.push(e);
        }
        n += fb.finish(i as u64, 0, 0).len();
    }
    n
}

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
        b.iter(|| black_box(encoded_bytes(&batches)))
    });
    let pairs = corpus_frames::batches_of(2);
    g.bench_function("encode/2", |b| b.iter(|| black_box(encoded_bytes(&pairs))));
    g.bench_function("decode/20", |b| {
        b.iter(|| black_box(decoded_events(&frames, false)))
    });
    g.bench_function("inflate+decode/20", |b| {
        b.iter(|| black_box(decoded_events(&deflated, true)))
    });
    g.finish();
}

criterion_main_for_bench!(3);
