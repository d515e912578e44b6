//! [`rehome`]: the same frame under another producer id.
//!
//! The SDK needs it: the relay stores a producer's frames densely and
//! answers `sequence_gap` until a gap is filled, so a gap that can never
//! fill (the browser's queue dropped its oldest frame, or a beacon at
//! unload overtook the frame still in flight) would block every later frame
//! of that producer. A frame that the relay has not stored can take a fresh
//! producer id, which the relay accepts at any sequence. Only the producer
//! id and the CRC change: the id is fixed-width, so nothing else moves.

use super::crc::crc32_small;
use super::decode::parse_header;
use super::encode::{CRC_LEN, FIXED_HEADER};
use super::FrameError;
use alloc::vec::Vec;

/// Where the producer id starts: after the version and flags bytes.
const PRODUCER_AT: usize = FIXED_HEADER - 8;

/// `frame` (plain or DEFLATE) with `producer_id` in place of its own and a
/// new CRC; version, flags, sequence and payload are the same bytes.
///
/// Checks the header and the CRC first, so a frame damaged in storage
/// keeps failing its checksum instead of being sealed again over the
/// damage. The payload is not decoded (the relay does).
///
/// ```
/// use broker_core::frame::{self, Context, FrameBuilder, Limits};
///
/// let plain = FrameBuilder::new(&Context::default()).finish(7, 3, 1_764_000_000_000);
/// let moved = frame::rehome(&plain, 42)?;
/// let f = frame::decode(&moved, &Limits::DEFAULT)?;
/// assert_eq!((f.producer_id, f.sequence), (42, 3));
/// # Ok::<(), frame::FrameError>(())
/// ```
pub fn rehome(frame: &[u8], producer_id: u64) -> Result<Vec<u8>, FrameError> {
    parse_header(frame)?;
    let mut out = frame.to_vec();
    // Chunk accessors instead of indexing: no bounds checks and panic
    // sites in the SDK's wasm (`parse_header` has checked the length).
    let (body, crc) = out
        .split_last_chunk_mut::<CRC_LEN>()
        .ok_or(FrameError::Truncated {
            offset: 0,
            need: CRC_LEN,
            have: frame.len(),
        })?;
    // The table-driven routine the encoder links (not the decoder's
    // slicing-by-8): the SDK's wasm carries one CRC, and this runs once per
    // rehomed frame.
    let expected = u32::from_le_bytes(*crc);
    let actual = crc32_small(body);
    if expected != actual {
        return Err(FrameError::Checksum { expected, actual });
    }
    if let Some(id) = body
        .get_mut(PRODUCER_AT..)
        .and_then(|b| b.first_chunk_mut::<8>())
    {
        *id = producer_id.to_le_bytes();
    }
    *crc = crc32_small(body).to_le_bytes();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Event, EventKind, Value};
    use crate::frame::{compress, decode, inflate, Context, FrameBuilder, Limits};
    use alloc::borrow::Cow;
    use alloc::vec;

    fn plain() -> Vec<u8> {
        let ctx = Context {
            anonymous_id: "a".into(),
            ..Context::default()
        };
        let mut b = FrameBuilder::new(&ctx);
        b.push(&Event {
            kind: EventKind::Track,
            name: "Product Viewed".into(),
            timestamp: 1_764_000_000_000,
            properties: vec![(Cow::Borrowed("price"), Value::Float(89.58))],
        })
        .unwrap();
        b.finish(7, 300, 1_764_000_000_100)
    }

    #[test]
    fn changes_only_the_producer_and_the_crc() {
        let before = plain();
        let after = rehome(&before, 0xDEAD_BEEF_0000_0001).unwrap();
        assert_eq!(after.len(), before.len());
        assert_eq!(after[..PRODUCER_AT], before[..PRODUCER_AT]);
        assert_eq!(
            after[PRODUCER_AT..FIXED_HEADER],
            0xDEAD_BEEF_0000_0001u64.to_le_bytes()
        );
        let body = before.len() - CRC_LEN;
        assert_eq!(after[FIXED_HEADER..body], before[FIXED_HEADER..body]);
        let mut moved = decode(&after, &Limits::DEFAULT).unwrap();
        let original = decode(&before, &Limits::DEFAULT).unwrap();
        assert_eq!(
            (moved.producer_id, moved.sequence),
            (0xDEAD_BEEF_0000_0001, 300)
        );
        moved.producer_id = original.producer_id;
        assert_eq!(moved, original);
        // Back to the first id: the very same bytes.
        assert_eq!(rehome(&after, 7).unwrap(), before);
    }

    #[test]
    fn moves_a_compressed_frame_too() {
        let plain = plain();
        let packed = compress(&plain).unwrap();
        let moved = rehome(&packed, 99).unwrap();
        let inflated = inflate(&moved, &Limits::DEFAULT).unwrap();
        assert_eq!(*inflated, rehome(&plain, 99).unwrap()[..]);
    }

    #[test]
    fn refuses_what_is_not_an_intact_frame() {
        let good = plain();
        let mut other_version = good.clone();
        other_version[0] = 9;
        assert_eq!(
            rehome(&other_version, 1),
            Err(FrameError::UnknownVersion { version: 9 })
        );
        assert!(matches!(
            rehome(&good[..10], 1),
            Err(FrameError::Truncated { .. })
        ));
        assert!(matches!(rehome(&[], 1), Err(FrameError::Truncated { .. })));
        let mut damaged = good.clone();
        damaged[20] ^= 0x40;
        assert!(matches!(
            rehome(&damaged, 1),
            Err(FrameError::Checksum { .. })
        ));
    }
}
