//! DEFLATE frames: [`inflate`] on the relay, [`compress`] natively and
//! [`seal_compressed`] for the SDK, whose deflate runs in the browser.

use super::crc::crc32_small;
use super::decode::{check_envelope, parse_header};
use super::encode::CRC_LEN;
use super::{flags, FrameError, Limits};
use alloc::borrow::Cow;
use alloc::boxed::Box;
use alloc::vec;
use alloc::vec::Vec;
use miniz_oxide::inflate::core::{decompress, inflate_flags, DecompressorOxide};
use miniz_oxide::inflate::TINFLStatus;

/// The deflate level [`compress`] uses: zlib's default, which is also what
/// browsers' `CompressionStream('deflate-raw')` uses, so native and browser
/// frames compare.
pub const DEFLATE_LEVEL: u8 = 6;

/// The payload of a plain frame: the bytes between the header and the CRC,
/// which the SDK compresses with `CompressionStream('deflate-raw')` before
/// [`seal_compressed`]. Empty if `plain_frame` has no valid header.
pub fn payload(plain_frame: &[u8]) -> &[u8] {
    match parse_header(plain_frame) {
        Ok((_, start)) => plain_frame
            .get(start..plain_frame.len() - CRC_LEN)
            .unwrap_or(&[]),
        Err(_) => &[],
    }
}

/// Wraps a deflate-raw `deflated_payload` (of [`payload`]`(plain_frame)`)
/// as a DEFLATE frame: the plain frame's header with the flag set, the
/// deflated bytes, a new CRC. Checks the plain frame's header but neither
/// its CRC nor the deflate stream (the relay's [`inflate`] does). Send
/// whichever of the two frames is smaller.
pub fn seal_compressed(plain_frame: &[u8], deflated_payload: &[u8]) -> Result<Vec<u8>, FrameError> {
    let (header, start) = parse_header(plain_frame)?;
    if header.flags & flags::DEFLATE != 0 {
        return Err(FrameError::Compressed);
    }
    let mut out = Vec::with_capacity(start + deflated_payload.len() + CRC_LEN);
    // `get` rather than indexing (`parse_header` checked both): the SDK's
    // wasm links this, and a panic site would link core's messages.
    out.extend_from_slice(plain_frame.get(..start).unwrap_or_default());
    if let Some(f) = out.get_mut(1) {
        *f = header.flags | flags::DEFLATE;
    }
    out.extend_from_slice(deflated_payload);
    let crc = crc32_small(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(out)
}

/// Compresses a plain frame (checked whole, CRC included) into a DEFLATE
/// frame at [`DEFLATE_LEVEL`]. For native senders (CLI, tests, figures).
pub fn compress(plain_frame: &[u8]) -> Result<Vec<u8>, FrameError> {
    let (header, start) = check_envelope(plain_frame)?;
    if header.flags & flags::DEFLATE != 0 {
        return Err(FrameError::Compressed);
    }
    let body = &plain_frame[start..plain_frame.len() - CRC_LEN];
    let deflated = miniz_oxide::deflate::compress_to_vec(body, DEFLATE_LEVEL);
    seal_compressed(plain_frame, &deflated)
}

/// Checks a frame as received (size against `max_frame_bytes`, header,
/// CRC) and returns the equivalent plain frame: the input itself when it is
/// plain (`Cow::Borrowed`, no copy), else the inflated payload under the
/// same header without the flag and with a new CRC. Never inflates past
/// `max_inflated_bytes` (the whole plain frame counts), so a small frame
/// cannot balloon (zip bombs).
pub fn inflate<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Cow<'a, [u8]>, FrameError> {
    if bytes.len() > limits.max_frame_bytes {
        return Err(FrameError::FrameTooLarge {
            len: bytes.len(),
            max: limits.max_frame_bytes,
        });
    }
    let (header, start) = check_envelope(bytes)?;
    if header.flags & flags::DEFLATE == 0 {
        return Ok(Cow::Borrowed(bytes));
    }
    let body = &bytes[start..bytes.len() - CRC_LEN];
    let budget = limits.max_inflated_bytes.checked_sub(start + CRC_LEN);
    let Some(budget) = budget else {
        return Err(FrameError::InflatedTooLarge {
            max: limits.max_inflated_bytes,
        });
    };
    let inflated = inflate_raw(body, budget).map_err(|e| match e {
        FrameError::InflatedTooLarge { .. } => FrameError::InflatedTooLarge {
            max: limits.max_inflated_bytes,
        },
        other => other,
    })?;
    let mut out = Vec::with_capacity(start + inflated.len() + CRC_LEN);
    out.extend_from_slice(&bytes[..start]);
    out[1] = header.flags & !flags::DEFLATE;
    out.extend_from_slice(&inflated);
    let crc = super::crc::crc32(&out);
    out.extend_from_slice(&crc.to_le_bytes());
    Ok(Cow::Owned(out))
}

/// Inflates a whole deflate-raw stream into at most `max` bytes; bytes
/// after the end of the stream are an error.
pub(crate) fn inflate_raw(mut input: &[u8], max: usize) -> Result<Vec<u8>, FrameError> {
    let mut state = Box::<DecompressorOxide>::default();
    // Grows by doubling, so memory follows the output actually produced,
    // not the budget.
    let mut out = vec![0u8; input.len().saturating_mul(4).saturating_add(64).min(max)];
    let mut pos = 0;
    loop {
        let (status, consumed, written) = decompress(
            &mut state,
            input,
            &mut out,
            pos,
            inflate_flags::TINFL_FLAG_USING_NON_WRAPPING_OUTPUT_BUF,
        );
        pos += written;
        input = input.get(consumed..).unwrap_or(&[]);
        match status {
            TINFLStatus::Done => {
                if !input.is_empty() {
                    return Err(FrameError::Deflate {
                        reason: "bytes after the end of the deflate stream",
                    });
                }
                out.truncate(pos);
                return Ok(out);
            }
            TINFLStatus::HasMoreOutput => {
                if out.len() >= max {
                    return Err(FrameError::InflatedTooLarge { max });
                }
                let grown = out.len().saturating_mul(2).max(64).min(max);
                out.resize(grown, 0);
            }
            TINFLStatus::FailedCannotMakeProgress | TINFLStatus::NeedsMoreInput => {
                return Err(FrameError::Deflate {
                    reason: "the deflate stream is truncated",
                });
            }
            _ => {
                return Err(FrameError::Deflate {
                    reason: "the deflate stream is invalid",
                })
            }
        }
    }
}
