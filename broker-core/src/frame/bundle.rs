//! Bundles: several frames in one request body (`POST /v1/bundles`), each
//! still a whole frame with its own producer, sequence and CRC, and each
//! answered on its own. A bundle can be deflated as a whole, so that its
//! frames compress against each other: the keys, URLs and context that
//! the frames of one page (or of the visitors one page saw) repeat cost
//! almost nothing after the first frame.
//!
//! Layout: a version byte ([`BUNDLE_VERSION`]), a flags byte (bit 0: the
//! rest is one deflate-raw stream, [`flags::DEFLATE`](super::flags)), then
//! the frames, each as a varint length and its bytes, to the end. See
//! `FORMAT.md` ("Bundles") for the limits and errors.

use super::compress::inflate_raw;
use super::{flags, FrameError, Limits};
use crate::frame::wire::put_varint;
use alloc::borrow::Cow;
use alloc::vec::Vec;
use core::ops::Range;

/// The bundle format version this code writes and reads (the first byte).
pub const BUNDLE_VERSION: u8 = 1;

/// Most frames in one bundle.
pub const MAX_BUNDLE_FRAMES: usize = 100;

/// A bundle split into its frames; the frames borrow from the body when it
/// was plain, else from the inflated copy it holds.
#[derive(Debug, Clone)]
pub struct Bundle<'a> {
    bytes: Cow<'a, [u8]>,
    frames: Vec<Range<usize>>,
}

impl Bundle<'_> {
    /// The frames, in the bundle's order, as sent (each may itself be
    /// deflated: [`inflate`](super::inflate) checks it like any frame).
    pub fn frames(&self) -> impl ExactSizeIterator<Item = &[u8]> + '_ {
        self.frames.iter().map(|r| &self.bytes[r.clone()])
    }

    /// How many frames the bundle holds (at least one).
    pub fn len(&self) -> usize {
        self.frames.len()
    }

    /// Never true: a bundle without frames is refused by [`split`].
    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }
}

/// Splits a bundle as received into its frames, checking only the
/// bundle's own structure: its size (at most `max_inflated_bytes` as
/// received and once inflated, so that a small body cannot balloon), its
/// version and flags, its deflate stream, and that the length prefixes
/// tile the rest exactly into 1 to [`MAX_BUNDLE_FRAMES`] non-empty frames.
/// The frames are not looked into: each is checked (and refused) on its
/// own when appended. Offsets in errors are into the plain bundle (the
/// inflated one for a deflated bundle), the version byte at 0.
pub fn split<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Bundle<'a>, FrameError> {
    let max = limits.max_inflated_bytes;
    if bytes.len() > max {
        return Err(FrameError::BundleTooLarge {
            len: bytes.len(),
            max,
        });
    }
    let (&version, rest) = bytes.split_first().ok_or(FrameError::Truncated {
        offset: 0,
        need: 2,
        have: 0,
    })?;
    if version != BUNDLE_VERSION {
        return Err(FrameError::UnknownVersion { version });
    }
    let (&flag_byte, body) = rest.split_first().ok_or(FrameError::Truncated {
        offset: 1,
        need: 1,
        have: 0,
    })?;
    if flag_byte & !flags::DEFLATE != 0 {
        return Err(FrameError::UnknownFlags { flags: flag_byte });
    }
    let bytes: Cow<'a, [u8]> = if flag_byte & flags::DEFLATE == 0 {
        Cow::Borrowed(bytes)
    } else {
        let inflated = inflate_raw(body, max - 2)?;
        let mut plain = Vec::with_capacity(2 + inflated.len());
        plain.extend_from_slice(&[version, 0]);
        plain.extend_from_slice(&inflated);
        Cow::Owned(plain)
    };
    let mut frames = Vec::new();
    let mut at = 2;
    while at < bytes.len() {
        if frames.len() == MAX_BUNDLE_FRAMES {
            return Err(FrameError::BundleFrames {
                count: frames.len() + 1,
                max: MAX_BUNDLE_FRAMES,
            });
        }
        let (len, start) = varint(&bytes, at)?;
        let have = bytes.len() - start;
        if len == 0 || len > have as u64 {
            return Err(FrameError::LengthPastEnd {
                offset: at,
                len,
                have,
            });
        }
        let end = start + len as usize;
        frames.push(start..end);
        at = end;
    }
    if frames.is_empty() {
        return Err(FrameError::BundleFrames {
            count: 0,
            max: MAX_BUNDLE_FRAMES,
        });
    }
    Ok(Bundle { bytes, frames })
}

/// A plain bundle of `frames` (deflate it, and set the flag, to send it
/// compressed; `split` reads either).
pub fn bundle<F: AsRef<[u8]>>(frames: &[F]) -> Vec<u8> {
    let len = frames.iter().map(|f| f.as_ref().len() + 3).sum::<usize>();
    let mut out = Vec::with_capacity(2 + len);
    out.extend_from_slice(&[BUNDLE_VERSION, 0]);
    for f in frames {
        put_varint(&mut out, f.as_ref().len() as u64);
        out.extend_from_slice(f.as_ref());
    }
    out
}

/// The varint at `at` (at most 10 bytes, no trailing zero byte, no
/// overflow) and the offset after it.
fn varint(bytes: &[u8], at: usize) -> Result<(u64, usize), FrameError> {
    let mut v = 0u64;
    for (i, &b) in bytes[at..].iter().enumerate().take(10) {
        let part = u64::from(b & 0x7f);
        if i == 9 && b > 1 {
            return Err(FrameError::BadVarint { offset: at });
        }
        v |= part << (7 * i);
        if b & 0x80 == 0 {
            if b == 0 && i > 0 {
                return Err(FrameError::BadVarint { offset: at });
            }
            return Ok((v, at + i + 1));
        }
    }
    if bytes.len() - at >= 10 {
        return Err(FrameError::BadVarint { offset: at });
    }
    Err(FrameError::Truncated {
        offset: at,
        need: 1,
        have: 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::{decode, inflate, Context, FrameBuilder};
    use crate::{Event, EventKind};
    use alloc::vec;

    fn frame(visitor: &str, seq: u64) -> Vec<u8> {
        let context = Context {
            anonymous_id: visitor.into(),
            ..Context::default()
        };
        let mut b = FrameBuilder::new(&context);
        b.push(&Event {
            kind: EventKind::Track,
            name: "Product Viewed".into(),
            timestamp: 1_764_000_017_274,
            properties: vec![],
        })
        .unwrap();
        b.finish(7, seq, 1_764_000_018_000)
    }

    fn deflated(plain_bundle: &[u8]) -> Vec<u8> {
        let mut out = vec![BUNDLE_VERSION, flags::DEFLATE];
        out.extend(miniz_oxide::deflate::compress_to_vec(&plain_bundle[2..], 6));
        out
    }

    #[test]
    fn frames_come_back_in_order_plain_or_deflated() {
        let frames = [frame("a", 0), frame("b", 0), frame("a", 1)];
        let plain = bundle(&frames);
        for body in [plain.clone(), deflated(&plain)] {
            let b = split(&body, &Limits::DEFAULT).unwrap();
            assert_eq!(b.len(), 3);
            let got: Vec<&[u8]> = b.frames().collect();
            assert_eq!(got, frames.iter().map(Vec::as_slice).collect::<Vec<_>>());
            let plain = inflate(got[1], &Limits::DEFAULT).unwrap();
            let f = decode(&plain, &Limits::DEFAULT).unwrap();
            assert_eq!(f.context.anonymous_id, "b");
        }
        // Repeated frames deflate to little more than one.
        let many = bundle(&vec![frame("a", 0); 20]);
        assert!(deflated(&many).len() < frame("a", 0).len() * 2);
    }

    #[test]
    fn a_bad_bundle_says_why() {
        let limits = Limits::DEFAULT;
        let good = bundle(&[frame("a", 0)]);
        let err = |b: &[u8]| split(b, &limits).unwrap_err();
        assert!(matches!(err(&[]), FrameError::Truncated { offset: 0, .. }));
        assert!(matches!(err(&[1]), FrameError::Truncated { offset: 1, .. }));
        assert!(matches!(
            err(&[2, 0, 1, 1]),
            FrameError::UnknownVersion { version: 2 }
        ));
        assert!(matches!(
            err(&[1, 2, 1, 1]),
            FrameError::UnknownFlags { flags: 2 }
        ));
        assert!(matches!(
            err(&[1, 0]),
            FrameError::BundleFrames { count: 0, .. }
        ));
        // A length past the end, a zero length, an over-long varint.
        let mut cut = good.clone();
        cut.pop();
        assert!(matches!(
            err(&cut),
            FrameError::LengthPastEnd { offset: 2, .. }
        ));
        assert!(matches!(
            err(&[1, 0, 0]),
            FrameError::LengthPastEnd { len: 0, .. }
        ));
        assert!(matches!(
            err(&[1, 0, 0x81, 0x00, 1]),
            FrameError::BadVarint { offset: 2 }
        ));
        assert!(matches!(
            err(&[1, 0, 0x81]),
            FrameError::Truncated { offset: 2, .. }
        ));
        // Not a deflate stream.
        assert!(matches!(
            err(&[1, 1, 0xff, 0xff]),
            FrameError::Deflate { .. }
        ));
        // Too many frames.
        let over = bundle(&vec![frame("a", 0); MAX_BUNDLE_FRAMES + 1]);
        assert!(matches!(
            err(&over),
            FrameError::BundleFrames { count, max: MAX_BUNDLE_FRAMES } if count == MAX_BUNDLE_FRAMES + 1
        ));
        assert_eq!(
            split(&bundle(&vec![frame("a", 0); MAX_BUNDLE_FRAMES]), &limits)
                .unwrap()
                .len(),
            MAX_BUNDLE_FRAMES
        );
        // Too large as received, and once inflated (a zip bomb).
        let small = Limits {
            max_inflated_bytes: 4_096,
            ..Limits::DEFAULT
        };
        let big = bundle(&[vec![7u8; 5_000]]);
        assert!(matches!(
            split(&big, &small).unwrap_err(),
            FrameError::BundleTooLarge {
                len: 5_004,
                max: 4_096
            }
        ));
        let bomb = deflated(&big);
        assert!(bomb.len() < 100);
        assert!(matches!(
            split(&bomb, &small).unwrap_err(),
            FrameError::InflatedTooLarge { .. }
        ));
    }
}
