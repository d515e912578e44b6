//! Fuzzes the relay's path: peek, inflate, decode, under default and tight
//! limits. Any panic is a bug; what decodes must re-encode and decode to
//! the same frame.
//!
//! Each input is tried as given and with its last four bytes replaced by
//! the right CRC-32, so that mutations reach the payload parser instead of
//! all stopping at the checksum.
//!
//! Run (nightly): `cargo +nightly fuzz run decode` from `broker-core/`
//! (seed `fuzz/corpus/decode/` with the golden frames: see
//! `fuzz/seed.sh`). Commit any crash input under
//! `broker-core/tests/golden/crashes/`, where `tests/frame_golden.rs`
//! replays it.

#![no_main]

use broker_core::frame::{self, Limits};
use libfuzzer_sys::fuzz_target;

fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

fn check(data: &[u8]) {
    let tight = Limits {
        max_inflated_bytes: 4_096,
        max_depth: 3,
        max_properties: 8,
        ..Limits::DEFAULT
    };
    for limits in [Limits::DEFAULT, tight] {
        let _ = frame::peek(data);
        let _ = frame::payload(data);
        let _ = frame::decode(data, &limits);
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
}

fuzz_target!(|data: &[u8]| {
    check(data);
    if data.len() >= 4 {
        let mut fixed = data.to_vec();
        let body = fixed.len() - 4;
        let crc = crc32(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
        check(&fixed);
    }
});
