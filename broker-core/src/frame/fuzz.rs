//! The frame codec's fuzz check, defined once for the cargo-fuzz target
//! (`fuzz/fuzz_targets/decode.rs`), the bounded mutation run that stands in
//! for it on stable Rust and the replay of the committed inputs
//! (`tests/frame_golden.rs`): every input meets the same limits and the
//! same assertions wherever it runs. Not part of the API: hidden from the
//! docs, and it may change at any time.

use super::crc::crc32_small;
use super::{decode, encode, inflate, payload, peek, rehome, Limits};

/// The limits each input is tried under: the defaults (what the relay
/// runs), and tight ones that small inputs can reach.
pub const LIMITS: [Limits; 2] = [
    Limits::DEFAULT,
    Limits {
        max_inflated_bytes: 4_096,
        max_depth: 3,
        max_properties: 8,
        ..Limits::DEFAULT
    },
];

/// A producer id no golden frame carries, for the [`rehome`] check.
const OTHER_PRODUCER: u64 = 0x5EED_0000_0000_0001;

/// Runs one input through the relay's path (peek, inflate, decode) and the
/// SDK's [`rehome`] under each of [`LIMITS`], as given and, from four bytes
/// on, with its last four bytes replaced by the right CRC-32 (so that
/// mutations reach the payload parser instead of all stopping at the
/// checksum). Returns whether any variant decoded.
///
/// # Panics
///
/// On a bug, which is what the fuzzer looks for: a panic in the codec, a
/// decoded frame that does not re-encode and decode to itself, or a
/// rehomed frame that decodes differently from its original.
pub fn check(data: &[u8]) -> bool {
    let mut decoded = check_one(data);
    if data.len() >= 4 {
        let mut fixed = data.to_vec();
        let body = fixed.len() - 4;
        let crc = crc32_small(&fixed[..body]);
        fixed[body..].copy_from_slice(&crc.to_le_bytes());
        decoded |= check_one(&fixed);
    }
    decoded
}

fn check_one(data: &[u8]) -> bool {
    let mut decoded = false;
    let moved = rehome(data, OTHER_PRODUCER).ok();
    if let Some(m) = &moved {
        let header = peek(m).expect("a rehomed frame has a header");
        assert_eq!(header.producer_id, OTHER_PRODUCER);
        assert_eq!(Some(header.sequence), peek(data).ok().map(|h| h.sequence));
    }
    // The same bytes as a bundle: its frames tile it, in order, each inside it.
    for limits in &LIMITS {
        if let Ok(b) = super::bundle::split(data, limits) {
            let frames: alloc::vec::Vec<&[u8]> = b.frames().collect();
            assert!(!frames.is_empty() && frames.len() <= super::bundle::MAX_BUNDLE_FRAMES);
            if data.get(1) == Some(&0) {
                assert_eq!(
                    super::bundle::bundle(&frames),
                    data,
                    "a plain bundle re-bundles to itself"
                );
            }
        }
    }
    for limits in &LIMITS {
        let _ = peek(data);
        let _ = payload(data);
        let _ = decode(data, limits);
        let Ok(plain) = inflate(data, limits) else {
            continue;
        };
        let Ok(frame) = decode(&plain, limits) else {
            continue;
        };
        decoded = true;
        if let Ok(again) = encode(&frame) {
            let back = decode(&again, &Limits::DEFAULT).expect("a re-encoded frame decodes");
            assert_eq!(back, frame, "a re-encoded frame decodes to itself");
        }
        // What decodes must decode the same under another producer id.
        let moved = moved
            .as_deref()
            .expect("a frame that decodes can be rehomed");
        let plain_moved = inflate(moved, limits).expect("a rehomed frame inflates");
        let mut other = decode(&plain_moved, limits).expect("a rehomed frame decodes");
        assert_eq!(other.producer_id, OTHER_PRODUCER);
        other.producer_id = frame.producer_id;
        assert_eq!(other, frame, "a rehomed frame decodes to the same frame");
    }
    decoded
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{Context, FrameBuilder};

    #[test]
    fn a_frame_decodes_and_garbage_does_not() {
        let f = FrameBuilder::new(&Context::default()).finish(7, 3, 1_764_000_000_000);
        assert!(check(&f));
        assert!(!check(b"not a frame at all"));
        assert!(!check(&[]));
    }
}
