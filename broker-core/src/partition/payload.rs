//! What an event or quarantine batch stores: the frame as received, made
//! plain, and in front of it what the relay added (the frame's
//! [`Enrichment`]) and what the tracking plan decided ([`Marks`]).
//!
//! Layouts, told apart by the first two bytes (a frame starts with its
//! format version, never 0):
//! - the plain frame alone: every event of the frame is a record of the
//!   batch, none marked (every batch stored before enrichment existed);
//! - `0x00 | 0x01 | len varint | postcard(Enrichment) | plain frame`: the
//!   same, enriched;
//! - `0x00 | 0x02 | len varint | postcard((Option<Enrichment>, Marks)) |
//!   plain frame`: a frame the plan judged: which of its events the batch
//!   holds, and their violations.
//!
//! A reader meeting another second byte refuses the batch as corrupt
//! rather than guess. The frame is stored whole in every layout, so the
//! frame's identity (producer, sequence, each event's index) and its
//! context stay exactly as sent, whichever stream an event is in.

use crate::context::Enrichment;
use crate::frame::wire::put_varint;
use crate::plan::{Violation, ViolationKind};
use crate::storage::StorageError;
use serde::{Deserialize, Serialize};

const MARK: u8 = 0;
const ENRICHED: u8 = 1;
const JUDGED: u8 = 2;

/// A violation as stored: (kind code, path, message).
pub(crate) type StoredViolation = (u16, String, String);

/// What the plan decided about a frame's events, for one batch.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Marks {
    /// The frame's events that are not records of this batch, by their
    /// index in the frame, ascending: in an event batch the quarantined
    /// ones; in a quarantine batch the others.
    pub omitted: Vec<u32>,
    /// The violations of the batch's events that carry any, by frame index,
    /// ascending: `(index, [(violation code, path, message)])`.
    pub violations: Vec<(u32, Vec<StoredViolation>)>,
    /// In a quarantine batch: where the frame's other events went in the
    /// event stream (base offset, count).
    pub placed: Option<(u64, u32)>,
    /// When the frame first reached the relay, if that was not when this
    /// batch was appended (events released from quarantine).
    pub received_at: Option<u64>,
}

impl Marks {
    /// True when `index` is a record of the batch.
    pub fn holds(&self, index: u32) -> bool {
        self.omitted.binary_search(&index).is_err()
    }

    /// The violations of the event at `index`; a code this version does
    /// not know (written by a newer one) is `Err` with the code.
    pub fn violations_of(&self, index: u32) -> Result<Vec<Violation>, u16> {
        let Ok(at) = self.violations.binary_search_by_key(&index, |(i, _)| *i) else {
            return Ok(Vec::new());
        };
        self.violations[at]
            .1
            .iter()
            .map(|(code, path, message)| {
                Ok(Violation {
                    kind: ViolationKind::from_code(*code).ok_or(*code)?,
                    path: path.clone(),
                    message: message.clone(),
                })
            })
            .collect()
    }

    /// Stores `violations` as those of the event at `index` (indices must
    /// come in ascending order).
    pub fn add_violations(&mut self, index: u32, violations: &[Violation]) {
        let stored = violations
            .iter()
            .map(|v| (v.kind.code(), v.path.clone(), v.message.clone()))
            .collect();
        self.violations.push((index, stored));
    }

    fn is_empty(&self) -> bool {
        *self == Marks::default()
    }
}

/// A stored payload, taken apart.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Payload<'p> {
    /// What the relay added to the frame's context.
    pub enrichment: Option<Enrichment>,
    /// Which events the batch holds, and why.
    pub marks: Marks,
    /// The plain frame.
    pub frame: &'p [u8],
}

/// The stored payload of `plain` with `enrichment` and `marks`: the frame
/// alone when there is neither, the enriched layout without marks.
pub(crate) fn encode<'p>(
    plain: &'p [u8],
    enrichment: Option<&Enrichment>,
    marks: &Marks,
) -> std::borrow::Cow<'p, [u8]> {
    let enrichment = enrichment.filter(|e| **e != Enrichment::default());
    let (format, extra) = match (enrichment, marks.is_empty()) {
        (None, true) => return std::borrow::Cow::Borrowed(plain),
        (Some(e), true) => (ENRICHED, postcard::to_allocvec(e)),
        (e, false) => (JUDGED, postcard::to_allocvec(&(e, marks))),
    };
    // Serialising plain structs into a Vec cannot fail.
    let extra = extra.unwrap_or_default();
    let mut out = Vec::with_capacity(plain.len() + extra.len() + 12);
    out.extend_from_slice(&[MARK, format]);
    put_varint(&mut out, extra.len() as u64);
    out.extend_from_slice(&extra);
    out.extend_from_slice(plain);
    std::borrow::Cow::Owned(out)
}

/// A stored payload taken apart.
pub(crate) fn decode<'p>(payload: &'p [u8], key: &[u8]) -> Result<Payload<'p>, StorageError> {
    let corrupt = |reason: &str| StorageError::Corrupt {
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_owned(),
    };
    let (format, rest) = match payload {
        [MARK, f @ (ENRICHED | JUDGED), rest @ ..] => (*f, rest),
        [MARK, ..] => return Err(corrupt("unknown event payload format")),
        _ => {
            return Ok(Payload {
                enrichment: None,
                marks: Marks::default(),
                frame: payload,
            })
        }
    };
    let (len, used) = varint(rest).ok_or_else(|| corrupt("bad header length"))?;
    let body = rest
        .get(used..)
        .ok_or_else(|| corrupt("header past the end"))?;
    let len = usize::try_from(len).map_err(|_| corrupt("header too long"))?;
    let (head, frame) = match body.split_at_checked(len) {
        Some(split) => split,
        None => return Err(corrupt("header past the end")),
    };
    let (enrichment, marks) = match format {
        ENRICHED => (
            Some(postcard::from_bytes(head).map_err(|e| corrupt(&format!("enrichment: {e}")))?),
            Marks::default(),
        ),
        _ => postcard::from_bytes(head).map_err(|e| corrupt(&format!("plan marks: {e}")))?,
    };
    Ok(Payload {
        enrichment,
        marks,
        frame,
    })
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

    fn plain(frame: &[u8]) -> Payload<'_> {
        Payload {
            enrichment: None,
            marks: Marks::default(),
            frame,
        }
    }

    #[test]
    fn enrichment_travels_in_front_of_the_frame_and_plain_frames_stay_as_they_were() {
        let frame = [1u8, 0, 7, 9, 9];
        let none = Marks::default();
        assert_eq!(&*encode(&frame, None, &none), &frame);
        assert_eq!(
            &*encode(&frame, Some(&Enrichment::default()), &none),
            &frame
        );
        assert_eq!(decode(&frame, b"k").unwrap(), plain(&frame));
        let e = crate::context::tests::sample_enrichment();
        let stored = encode(&frame, Some(&e), &none);
        assert_eq!(&stored[..2], &[0, 1]);
        let back = decode(&stored, b"k").unwrap();
        assert_eq!((back.enrichment, back.frame), (Some(e), &frame[..]));
        assert!(decode(&[0, 3, 0], b"k").is_err());
        assert!(decode(&stored[..stored.len() - frame.len() - 1], b"k").is_err());
    }

    #[test]
    fn marks_travel_with_or_without_enrichment() {
        let frame = [1u8, 0, 7, 9, 9];
        let violation = Violation {
            kind: ViolationKind::WrongType,
            path: "properties.price".into(),
            message: "expected number, got string \"9\"".into(),
        };
        let mut marks = Marks {
            omitted: vec![0, 2],
            placed: Some((40, 3)),
            received_at: Some(1_764_000_000_000),
            ..Marks::default()
        };
        marks.add_violations(1, std::slice::from_ref(&violation));
        for e in [None, Some(crate::context::tests::sample_enrichment())] {
            let stored = encode(&frame, e.as_ref(), &marks);
            assert_eq!(&stored[..2], &[0, 2]);
            let back = decode(&stored, b"k").unwrap();
            assert_eq!(
                (&back.enrichment, &back.marks, back.frame),
                (&e, &marks, &frame[..])
            );
            assert!(!back.marks.holds(0) && back.marks.holds(1) && !back.marks.holds(2));
            assert_eq!(back.marks.violations_of(1), Ok(vec![violation.clone()]));
            assert_eq!(back.marks.violations_of(0), Ok(vec![]));
        }
    }
}
