//! Fuzzes the relay's path: peek, inflate, decode, under default and tight
//! limits. Any panic is a bug; what decodes must re-encode and decode to
//! the same frame.
//!
//! Run (nightly): `cargo fuzz run decode` from `broker-core/`. Commit any
//! crash input under `broker-core/tests/golden/crashes/`, where
//! `tests/frame_golden.rs` replays it.

#![no_main]

use broker_core::frame::{self, Limits};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tight = Limits {
        max_inflated_bytes: 4_096,
        max_depth: 3,
        max_properties: 8,
        ..Limits::DEFAULT
    };
    for limits in [Limits::DEFAULT, tight] {
        let _ = frame::peek(data);
        let _ = frame::payload(data);
        let Ok(plain) = frame::inflate(data, &limits) else {
            continue;
        };
        let Ok(decoded) = frame::decode(&plain, &limits) else {
            continue;
        };
        if let Ok(again) = frame::encode(&decoded) {
            let back = frame::decode(&again, &Limits::DEFAULT).expect("a re-encoded frame decodes");
            assert_eq!(back, decoded);
        }
    }
});
