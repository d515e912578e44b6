//! The tracking plan's cost per event at ingest: `Plan::check` over every
//! event of the reference corpus (10,728 events, all clean, so this is the
//! path the relay takes for almost every event).
//!
//! - `check/corpus plan`: `bench/plan-corpus.json`, derived from the corpus:
//!   its 10 event names and the 52 properties they send (nested ones
//!   included), required where every event of the name has them, with an
//!   enum, pattern (regex-lite), minimum or max_length on each;
//! - `check/corpus plan without patterns`: the same with every `pattern`
//!   removed, to tell what the regexes cost;
//! - `check/corpus plan, $page and $click unplanned`: the same without those
//!   two events, so that 60% of the events are unplanned violations (the
//!   violation's message and did-you-mean allocate);
//! - `check/examples`: `examples/plan.json`, the demo shop's plan.
//!
//! Before the criterion runs, each prints nanoseconds per event in CPU time
//! of this thread (`cpu/...`), which holds on a shared, loaded machine where
//! wall time does not; the target is under 200 ns per event. Measured on
//! the 2-core development machine under a load of 5: corpus plan 74-88 ns,
//! without patterns 61-70 ns, with `$page` and `$click` unplanned 210 ns
//! (1,342 ns before the did-you-mean skipped names too far in length),
//! examples 78-87 ns (criterion's wall time under that load: 171, 164 and
//! 235 ns for the corpus plan, without patterns, examples).
//!
//! Run: `cargo bench -p broker-core --bench plan`

use broker_core::corpus;
use broker_core::plan::Plan;
use broker_core::Event;
use criterion::{black_box, Criterion, Throughput};

#[path = "common/corpus_frames.rs"]
#[macro_use]
mod corpus_frames;
use corpus_frames::thread_cpu_ns;

fn read(path: &str) -> String {
    let full = format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&full).unwrap_or_else(|e| panic!("{full}: {e}"))
}

/// Checks every event; returns how many had a violation (0 on the corpus).
fn check_all(plan: &Plan, events: &[Event<'static>]) -> usize {
    events
        .iter()
        .filter(|e| !black_box(plan.check(e)).is_clean())
        .count()
}

/// The plan with every `pattern` removed: what the regexes cost is the
/// difference.
fn without_patterns(json: &str) -> String {
    fn strip(v: &mut serde_json::Value) {
        match v {
            serde_json::Value::Object(o) => {
                o.remove("pattern");
                o.values_mut().for_each(strip);
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(strip),
            _ => {}
        }
    }
    let mut v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    strip(&mut v);
    v.to_string()
}

/// Checks the corpus until 2 s of this thread's CPU time are used, and
/// prints nanoseconds per event (`CPU_FIGURES=<text>` keeps only the
/// figures whose name contains it, as in the other benches).
fn ns_per_event(name: &str, plan: &Plan, events: &[Event<'static>]) {
    if std::env::var("CPU_FIGURES").is_ok_and(|only| !name.contains(&only)) {
        return;
    }
    let Some(start) = thread_cpu_ns() else {
        return;
    };
    let (mut runs, mut used) = (0u64, 0);
    while used < 2_000_000_000 {
        black_box(check_all(plan, events));
        runs += 1;
        used = thread_cpu_ns().unwrap_or(start) - start;
    }
    let ns = used as f64 / (runs * events.len() as u64) as f64;
    println!("{name}: {ns:.0} ns per event in CPU time ({runs} runs; target under 200)");
}

/// The plan without these events: they become unplanned, each with a
/// violation and its did-you-mean, as in a plan rolled out for part of a
/// site with `on_unplanned: allow`.
fn unplanning(json: &str, names: &[&str]) -> String {
    let mut v: serde_json::Value = serde_json::from_str(json).expect("JSON");
    let events = v["events"].as_object_mut().expect("events");
    for n in names {
        events.remove(*n);
    }
    v.to_string()
}

fn bench(c: &mut Criterion) {
    let path = corpus::reference_corpus_path(env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).expect("the reference corpus");
    let events: Vec<Event<'static>> = corpus::parse_corpus(&text)
        .expect("the corpus parses")
        .into_iter()
        .map(|c| c.event)
        .collect();
    let corpus_plan = read("bench/plan-corpus.json");
    let plans = [
        ("examples", read("examples/plan.json")),
        (
            "corpus plan without patterns",
            without_patterns(&corpus_plan),
        ),
        (
            "corpus plan, $page and $click unplanned",
            unplanning(&corpus_plan, &["$page", "$click"]),
        ),
        ("corpus plan", corpus_plan),
    ];
    let mut g = c.benchmark_group("plan");
    g.throughput(Throughput::Elements(events.len() as u64));
    for (name, json) in &plans {
        let plan = Plan::parse(json).expect("a valid plan");
        let bad = check_all(&plan, &events);
        eprintln!(
            "{name}: {}; {bad} of {} events with violations",
            plan.summary(),
            events.len()
        );
        ns_per_event(&format!("cpu/check/{name}"), &plan, &events);
        g.bench_function(format!("check/{name}"), |b| {
            b.iter(|| check_all(&plan, &events))
        });
    }
    g.finish();
}

criterion_main_for_bench!(4);
