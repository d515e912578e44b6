//! What an event batch stores: the frame as received, made plain, and, when
//! the relay added any, the frame's [`Enrichment`] in front of it.
//!
//! Layout: the plain frame alone (it starts with its format version, never
//! 0: every batch stored before enrichment existed), or `0x00 | 0x01 |
//! len varint | postcard(Enrichment) | plain frame`. A reader meeting
//! another second byte refuses the batch as corrupt rather than guess.

use crate::context::Enrichment;
use crate::frame::wire::put_varint;
use crate::storage::StorageError;

const MARK: u8 = 0;
const FORMAT: u8 = 1;

/// The stored payload of `plain` with `enrichment` (none, or an empty one:
/// the frame alone, as before enrichment existed).
pub(crate) fn encode<'p>(
    plain: &'p [u8],
    enrichment: Option<&Enrichment>,
) -> std::borrow::Cow<'p, [u8]> {
    let Some(e) = enrichment.filter(|e| **e != Enrichment::default()) else {
        return std::borrow::Cow::Borrowed(plain);
    };
    let extra = postcard::to_allocvec(e).unwrap_or_default();
    let mut out = Vec::with_capacity(plain.len() + extra.len() + 12);
    out.extend_from_slice(&[MARK, FORMAT]);
    put_varint(&mut out, extra.len() as u64);
    out.extend_from_slice(&extra);
    out.extend_from_slice(plain);
    std::borrow::Cow::Owned(out)
}

/// The enrichment (if any) and the plain frame of a stored payload.
pub(crate) fn decode<'p>(
    payload: &'p [u8],
    key: &[u8],
) -> Result<(Option<Enrichment>, &'p [u8]), StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_owned(),
    };
    match payload {
        [MARK, FORMAT, rest @ ..] => {
            let (len, used) = varint(rest).ok_or_else(|| corrupt("bad enrichment length"))?;
            let body = rest
                .get(used..)
                .ok_or_else(|| corrupt("enrichment past the end"))?;
            let len = usize::try_from(len).map_err(|_| corrupt("enrichment too long"))?;
            if body.len() < len {
                return Err(corrupt("enrichment past the end"));
            }
            let e: Enrichment = postcard::from_bytes(&body[..len])
                .map_err(|e| corrupt(&format!("enrichment: {e}")))?;
            Ok((Some(e), &body[len..]))
        }
        [MARK, ..] => Err(corrupt("unknown event payload format")),
        _ => Ok((None, payload)),
    }
}

fn varint(b: &[u8]) -> Option<(u64, usize)> {
    let mut v = 0u64;
    for (i, byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Some((v, i + 1));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enrichment_travels_in_front_of_the_frame_and_plain_frames_stay_as_they_were() {
        let frame = [1u8, 0, 7, 9, 9];
        assert_eq!(&*encode(&frame, None), &frame);
        assert_eq!(&*encode(&frame, Some(&Enrichment::default())), &frame);
        assert_eq!(decode(&frame, b"k").unwrap(), (None, &frame[..]));
        let e = crate::context::tests::sample_enrichment();
        let stored = encode(&frame, Some(&e));
        assert_eq!(&stored[..2], &[0, 1]);
        assert_eq!(decode(&stored, b"k").unwrap(), (Some(e), &frame[..]));
        assert!(decode(&[0, 2, 0], b"k").is_err());
        assert!(decode(&stored[..stored.len() - frame.len() - 1], b"k").is_err());
    }
}
