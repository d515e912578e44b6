//! The reference corpus as the benches feed it, and the CPU-time figure they
//! print, shared by `frame.rs`, `log.rs` and `triggers.rs` (each includes
//! this file through `#[path]`, so each uses only part of it).
#![allow(dead_code)]

use broker_core::corpus::{self, CorpusEvent};
use broker_core::event::Event;
use broker_core::frame::{Context, FrameBuilder};
use std::borrow::Cow;

/// Events per frame: what the SDK sends for a busy visitor, and the size the
/// targets are stated for.
pub const EVENTS_PER_FRAME: usize = 20;

/// The corpus, one visit (one visitor) after another, with the frame context
/// each visit's frames carry.
pub fn visits() -> Vec<(Context<'static>, Vec<CorpusEvent>)> {
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
    sessions
        .into_iter()
        .map(|s| {
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
            (context, s)
        })
        .collect()
}

/// (context, events) of every frame of [`EVENTS_PER_FRAME`] events.
pub fn batches() -> Vec<(Context<'static>, Vec<Event<'static>>)> {
    batches_of(EVENTS_PER_FRAME)
}

/// (context, events) of every frame of `per_frame` events.
pub fn batches_of(per_frame: usize) -> Vec<(Context<'static>, Vec<Event<'static>>)> {
    let mut out = Vec::new();
    for (context, s) in visits() {
        for chunk in s.chunks(per_frame) {
            out.push((
                context.clone(),
                chunk.iter().map(|c| c.event.clone()).collect(),
            ));
        }
    }
    out
}

/// Events per frame for [`frames`]: [`EVENTS_PER_FRAME`], or
/// `BENCH_EVENTS_PER_FRAME` when set (an experiment, never a figure of the
/// table: how an append's cost splits between the frame and its events).
pub fn events_per_frame() -> usize {
    std::env::var("BENCH_EVENTS_PER_FRAME")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(EVENTS_PER_FRAME)
}

/// Every frame of the corpus (visit `i` is producer `i + 1`, its frames
/// numbered from 0, of at most [`events_per_frame`] events), the number of
/// events, and the newest event's time (a `now` at which every frame is in
/// range).
pub fn frames() -> (Vec<Vec<u8>>, usize, u64) {
    let (mut frames, mut events, mut newest) = (Vec::new(), 0, 0);
    let per_frame = events_per_frame();
    for (producer, (context, s)) in visits().iter().enumerate() {
        for (seq, chunk) in s.chunks(per_frame).enumerate() {
            let mut b = FrameBuilder::new(context);
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

/// This thread's CPU time in ns (Linux `schedstat`): unlike wall time it
/// does not count the time other processes held the core, so the figures
/// hold on a shared, loaded machine.
pub fn thread_cpu_ns() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    s.split_whitespace().next()?.parse().ok()
}

/// Runs `f` (which handles `events` events) until it has used `seconds` of
/// CPU, and prints `name: X M events per CPU second`. `CPU_FIGURES=<text>`
/// skips the figures whose name does not contain it (`<text>$`: whose name
/// is not `<text>`, for a figure whose name starts another's).
pub fn cpu_figure(name: &str, events: usize, seconds: u64, mut f: impl FnMut()) {
    let skip = |only: String| match only.strip_suffix('$') {
        Some(exact) => name != exact,
        None => !name.contains(&only),
    };
    if std::env::var("CPU_FIGURES").is_ok_and(skip) {
        return;
    }
    let Some(start) = thread_cpu_ns() else {
        return;
    };
    let (mut runs, mut used) = (0u64, 0);
    while used < seconds * 1_000_000_000 {
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

/// The `main` of a criterion bench whose entry is `fn bench(&mut Criterion)`:
/// 20 samples, each measured for `$seconds` seconds. Include this file with
/// `#[macro_use]` to use it.
#[allow(unused_macros)] // the benches without criterion include this file too
macro_rules! criterion_main_for_bench {
    ($seconds:expr) => {
        criterion::criterion_group! {
            name = benches;
            config = criterion::Criterion::default()
                .sample_size(20)
                .measurement_time(std::time::Duration::from_secs($seconds));
            targets = bench
        }
        criterion::criterion_main!(benches);
    };
}
