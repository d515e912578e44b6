//! What the tracking plan and the relay's enrichment add to an append:
//! every frame of the reference corpus (20 events a frame) appended to a
//! fresh partition in memory,
//!
//! - `append/plain`: no plan, no enrichment (the baseline);
//! - `append/enriched`: with the relay's enrichment (place, device, bot
//!   verdict) stored in front of each frame;
//! - `append/enriched + plan`: and `bench/plan-corpus.json` (the corpus's
//!   10 events and 52 properties, each with a constraint) judging every
//!   event in the append's commit (all clean: the path almost every event
//!   takes);
//! - `append/enriched + plan, broken prices`: the same with one event in
//!   twenty given a price as a string (quarantined where the plan has a price), so that many frames write a
//!   quarantine batch and counters too.
//!
//! Before the criterion runs each prints its cost in CPU time of this thread
//! per event (`cpu/...`, which holds on a loaded machine), and the added
//! cost against `plain` per event: the figure issue 16 asks for (target
//! under 200 ns per event for validation and enrichment).
//!
//! Run: `cargo bench -p broker-core --bench ingest`

use broker_core::context::{Device, Enrichment, Geo};
use broker_core::frame::FrameBuilder;
use broker_core::partition::{Partition, PartitionConfig};
use broker_core::plan::Plan;
use broker_core::{MemoryStorage, Value};
use criterion::{black_box, BatchSize, Criterion, Throughput};
use std::borrow::Cow;

#[path = "common/corpus_frames.rs"]
#[macro_use]
mod corpus_frames;
use corpus_frames::{thread_cpu_ns, visits, EVENTS_PER_FRAME};

fn enrichment() -> Enrichment {
    Enrichment {
        geo: Geo {
            country: Some("DE".into()),
            region: Some("Berlin".into()),
            city: Some("Berlin".into()),
            continent: Some("EU".into()),
            timezone: Some("Europe/Berlin".into()),
            asn: Some(3320),
        },
        device: Device {
            kind: Some("desktop".into()),
            browser: Some("Chrome".into()),
            version: Some("131.0".into()),
            os: Some("Mac OS X".into()),
        },
        bot: Some(false),
    }
}

/// Every frame of the corpus; with `broken`, one event in twenty has its
/// price (or, lacking one, a new `price` property) as a string.
fn frames(broken: bool) -> (Vec<Vec<u8>>, usize, u64) {
    let (mut out, mut events, mut newest) = (Vec::new(), 0, 0);
    for (producer, (context, s)) in visits().iter().enumerate() {
        for (seq, chunk) in s.chunks(EVENTS_PER_FRAME).enumerate() {
            let mut b = FrameBuilder::new(context);
            for c in chunk {
                let mut e = c.event.clone();
                if broken && events % 20 == 7 {
                    e.properties.retain(|(k, _)| k != "price");
                    e.properties
                        .push((Cow::Borrowed("price"), Value::Str("89.58".into())));
                }
                b.push(&e).expect("corpus events fit");
                newest = newest.max(e.timestamp);
                events += 1;
            }
            let sent_at = chunk.last().map_or(0, |c| c.event.timestamp);
            out.push(b.finish(producer as u64 + 1, seq as u64, sent_at));
        }
    }
    (out, events, newest)
}

/// A bench case: its name, the frames, the plan and the enrichment.
type Case<'a> = (
    &'a str,
    &'a [Vec<u8>],
    Option<&'a Plan>,
    Option<&'a Enrichment>,
);

/// Appends every frame to a fresh partition; the events quarantined.
fn ingest(frames: &[Vec<u8>], now: u64, plan: Option<&Plan>, e: Option<&Enrichment>) -> u32 {
    let mut store = MemoryStorage::new();
    let mut p = Partition::open(&store, PartitionConfig::new(0, 0)).expect("opens");
    if let Some(plan) = plan {
        p.set_plan(&mut store, plan.source(), plan.clone(), now)
            .expect("plan set");
    }
    let mut quarantined = 0;
    for f in frames {
        let ack = p.append_enriched(&mut store, f, now, e).expect("appends");
        quarantined += ack.plan.quarantined;
    }
    black_box(store);
    quarantined
}

/// CPU ns per event of `f` over `events` events, run for 2 s of CPU.
fn cpu_ns_per_event(events: usize, mut f: impl FnMut()) -> Option<f64> {
    let start = thread_cpu_ns()?;
    let (mut runs, mut used) = (0u64, 0);
    while used < 2_000_000_000 {
        f();
        runs += 1;
        used = thread_cpu_ns().unwrap_or(start) - start;
    }
    Some(used as f64 / (runs * events as u64) as f64)
}

fn bench(c: &mut Criterion) {
    let path = format!("{}/../bench/plan-corpus.json", env!("CARGO_MANIFEST_DIR"));
    let json = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let plan = Plan::parse(&json).expect("a valid plan");
    let e = enrichment();
    let (clean, events, newest) = frames(false);
    let (broken, _, _) = frames(true);
    let now = newest + 1_000;
    let cases: [Case; 4] = [
        ("plain", &clean, None, None),
        ("enriched", &clean, None, Some(&e)),
        ("enriched + plan", &clean, Some(&plan), Some(&e)),
        (
            "enriched + plan, broken prices",
            &broken,
            Some(&plan),
            Some(&e),
        ),
    ];
    let mut baseline = None;
    for (name, frames, plan, e) in cases {
        let quarantined = ingest(frames, now, plan, e);
        let Some(ns) = cpu_ns_per_event(events, || {
            black_box(ingest(frames, now, plan, e));
        }) else {
            break;
        };
        let added = baseline.map_or(String::new(), |b: f64| {
            format!(", {:+.0} ns against plain", ns - b)
        });
        baseline.get_or_insert(ns);
        println!(
            "cpu/append/{name}: {ns:.0} ns per event{added} ({quarantined} of {events} quarantined)"
        );
    }
    let mut g = c.benchmark_group("append");
    g.throughput(Throughput::Elements(events as u64));
    for (name, frames, plan, e) in cases {
        g.bench_function(name, |b| {
            b.iter_batched(
                || (),
                |_| ingest(frames, now, plan, e),
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_main_for_bench!(4);
