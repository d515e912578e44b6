//! Moving a sealed frame to another producer id.
//!
//! The relay stores frames of a producer densely: a gap is answered
//! `sequence_gap` until it is filled. Two things can leave a gap that will
//! never fill: the persistent queue dropping its oldest frames when full,
//! and beacons at unload overtaking the frame still in flight (the relay
//! accepts a first-seen producer at any sequence, so the late frame would
//! then be refused as stale and lost). A frame that never went on the wire
//! cannot be stored yet, so giving it a fresh producer id (which the relay
//! accepts at any sequence) is safe; this rewrites the id and the CRC.

use alloc::vec::Vec;
use broker_core::frame::FORMAT_VERSION;

/// Offset of the producer id in every frame (after version and flags).
const PRODUCER_AT: usize = 2;
/// Smallest frame: version, flags, producer, one-byte sequence, CRC.
const MIN_FRAME: usize = 2 + 8 + 1 + 4;

/// The frame with `producer` in place of its own id, or `None` if `frame`
/// is not a frame of this format version.
pub fn rehome(frame: &[u8], producer: u64) -> Option<Vec<u8>> {
    if frame.len() < MIN_FRAME || frame[0] != FORMAT_VERSION {
        return None;
    }
    let mut out = frame.to_vec();
    out[PRODUCER_AT..PRODUCER_AT + 8].copy_from_slice(&producer.to_le_bytes());
    let body = out.len() - 4;
    let crc = crc32(&out[..body]);
    out[body..].copy_from_slice(&crc.to_le_bytes());
    Some(out)
}

/// CRC-32 (IEEE 802.3, as zlib), bit by bit: a table would cost 1 KB of wasm
/// for a function that runs once per rehomed frame.
fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = (c >> 1) ^ (0xEDB8_8320 & (c & 1).wrapping_neg());
        }
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_core::frame::{self, Context, FrameBuilder, Limits};

    #[test]
    fn crc_matches_the_reference_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn rehomed_frame_decodes_with_the_new_producer() {
        let ctx = Context {
            anonymous_id: "a".into(),
            ..Context::default()
        };
        let plain = FrameBuilder::new(&ctx).finish(7, 3, 1_764_000_000_000);
        let moved = rehome(&plain, 0xDEAD_BEEF_0000_0001).unwrap();
        let f = frame::decode(&moved, &Limits::DEFAULT).unwrap();
        assert_eq!((f.producer_id, f.sequence), (0xDEAD_BEEF_0000_0001, 3));
        assert_eq!(rehome(&[9; 20], 1), None);
        assert_eq!(rehome(&plain[..10], 1), None);
    }
}
