//! Fuzzes the frame codec on the relay's path (peek, inflate, decode, with
//! the re-encode round trip) and the SDK's `rehome`, under default and
//! tight limits. Any panic is a bug.
//!
//! The check itself is `broker_core::frame::fuzz::check`, shared with the
//! replay of the committed inputs in `tests/frame_golden.rs`, so an input
//! found here fails there the same way.
//!
//! Run (nightly) from `broker-core/`: `fuzz/run.sh [seconds]` (builds with
//! cargo-fuzz's instrumentation, seeds, runs on one core), or with
//! cargo-fuzz: `fuzz/seed.sh`, then
//! `cargo +nightly fuzz run decode fuzz/corpus/decode`. Commit a crash
//! input under `tests/golden/crashes/` (see the README there). The
//! committed corpus (`tests/golden/corpus/`) keeps the golden frames and,
//! from a run, the smallest input of each refusal (`err-<code>-<name>`):
//! a few KB rather than the thousand files of a working corpus.

#![no_main]

use broker_core::frame::fuzz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz::check(data);
});
