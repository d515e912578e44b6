//! Fuzzes the frame codec on the relay's path (peek, inflate, decode, with
//! the re-encode round trip) and the SDK's `rehome`, under default and
//! tight limits. Any panic is a bug.
//!
//! The check itself is `broker_core::frame::fuzz::check`, shared with the
//! replay of the committed inputs in `tests/frame_golden.rs`, so an input
//! found here fails there the same way.
//!
//! Run (nightly) from `broker-core/`: `fuzz/seed.sh`, then
//! `cargo +nightly fuzz run decode fuzz/corpus/decode`. Commit a crash
//! input under `tests/golden/crashes/` (see the README there); merge new
//! coverage into the committed corpus with
//! `cargo +nightly fuzz run decode tests/golden/corpus fuzz/corpus/decode -- -merge=1`.

#![no_main]

use broker_core::frame::fuzz;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    fuzz::check(data);
});
