//! The stored form of trigger firings: firing batches in the firing stream,
//! and the per-visitor "undelivered" entries the visitor's pages are sent on
//! connect until they acknowledge them.
//!
//! Both are postcard encodings of a private `WireFiring`, so a firing costs
//! its strings plus a few bytes. A batch of delivered firings only is a
//! postcard sequence of them (the first format, still written for such
//! batches so that a relay rolled back reads them). A batch holding held-out
//! firings or conversions (`holdout`, `goal`) is a zero byte, a format byte
//! and a postcard sequence of `WireRecord`s: a first-format batch never
//! starts with zero, since an empty batch is never appended.

use super::corrupt;
use crate::frame::wire::{put_varint, take_varint as varint};
use crate::storage::{keys, StorageError};
use crate::trigger::{Conversion, Firing, Outcome};
use serde::{Deserialize, Serialize};
use std::ops::Range;

/// A firing as stored: borrowed strings, field order fixed forever (postcard
/// is not self-describing; a new field means a new stream format).
#[derive(Debug, Serialize, Deserialize)]
struct WireFiring<'a> {
    firing_id: &'a str,
    trigger_id: &'a str,
    visitor: &'a str,
    time: u64,
    action_type: &'a str,
    payload: &'a str,
}

/// A conversion as stored; field order fixed like [`WireFiring`]'s.
#[derive(Debug, Serialize, Deserialize)]
struct WireConversion<'a> {
    firing_id: &'a str,
    trigger_id: &'a str,
    visitor: &'a str,
    time: u64,
    held_out: bool,
}

/// One record of a records-format batch. Variants are numbered by their
/// order: never reorder, only append.
#[derive(Debug, Serialize, Deserialize)]
enum WireRecord<'a> {
    #[serde(borrow)]
    Firing(WireFiring<'a>),
    #[serde(borrow)]
    HeldOut(WireFiring<'a>),
    #[serde(borrow)]
    Conversion(WireConversion<'a>),
}

/// The first byte of a records-format batch (see the module docs).
const RECORDS_MARK: u8 = 0;
/// The format byte after it; a new layout takes a new one.
const RECORDS_FORMAT: u8 = 1;

impl WireFiring<'_> {
    /// At least its postcard size, so that encoding never grows the buffer
    /// (the firing path was spending more on reallocation than on copying).
    fn size_bound(&self) -> usize {
        let strs = [
            self.firing_id,
            self.trigger_id,
            self.visitor,
            self.action_type,
            self.payload,
        ];
        10 + strs.iter().map(|s| 5 + s.len()).sum::<usize>()
    }
}

impl WireFiring<'_> {
    /// Appends postcard's bytes of `self` to `out`, written by hand (each
    /// string a varint length then its bytes, the time a varint, in field
    /// order): the serde path cost more than the copying (a test holds the
    /// two side by side).
    fn write(&self, out: &mut Vec<u8>) {
        put_str(out, self.firing_id);
        put_str(out, self.trigger_id);
        put_str(out, self.visitor);
        put_varint(out, self.time);
        put_str(out, self.action_type);
        put_str(out, self.payload);
    }
}

impl WireConversion<'_> {
    /// At least its postcard size, like [`WireFiring::size_bound`].
    fn size_bound(&self) -> usize {
        let strs = [self.firing_id, self.trigger_id, self.visitor];
        11 + strs.iter().map(|s| 5 + s.len()).sum::<usize>()
    }

    /// Appends postcard's bytes of `self` to `out`, written by hand like
    /// [`WireFiring::write`] (a boolean is one byte, 0 or 1).
    fn write(&self, out: &mut Vec<u8>) {
        put_str(out, self.firing_id);
        put_str(out, self.trigger_id);
        put_str(out, self.visitor);
        put_varint(out, self.time);
        out.push(u8::from(self.held_out));
    }
}

impl WireRecord<'_> {
    /// At least its postcard size: the variant's index (one byte), then
    /// the record's.
    fn size_bound(&self) -> usize {
        1 + match self {
            WireRecord::Firing(f) | WireRecord::HeldOut(f) => f.size_bound(),
            WireRecord::Conversion(c) => c.size_bound(),
        }
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s.as_bytes());
}

impl<'a> From<&'a Firing> for WireFiring<'a> {
    fn from(f: &'a Firing) -> Self {
        WireFiring {
            firing_id: &f.firing_id,
            trigger_id: &f.trigger_id,
            visitor: &f.visitor,
            time: f.time,
            action_type: &f.action_type,
            payload: &f.payload,
        }
    }
}

impl From<WireFiring<'_>> for Firing {
    fn from(w: WireFiring<'_>) -> Self {
        Firing {
            firing_id: w.firing_id.to_owned(),
            trigger_id: w.trigger_id.into(),
            visitor: w.visitor.into(),
            time: w.time,
            action_type: w.action_type.into(),
            payload: w.payload.into(),
            held_out: false,
        }
    }
}

impl From<WireRecord<'_>> for Outcome {
    fn from(w: WireRecord<'_>) -> Self {
        match w {
            WireRecord::Firing(f) => Outcome::Fired(f.into()),
            WireRecord::HeldOut(f) => Outcome::Fired(Firing {
                held_out: true,
                ..f.into()
            }),
            WireRecord::Conversion(c) => Outcome::Converted(Conversion {
                firing_id: c.firing_id.to_owned(),
                trigger_id: c.trigger_id.into(),
                visitor: c.visitor.into(),
                time: c.time,
                held_out: c.held_out,
            }),
        }
    }
}

impl<'a> From<&'a Outcome> for WireRecord<'a> {
    fn from(o: &'a Outcome) -> Self {
        match o {
            Outcome::Fired(f) if f.held_out => WireRecord::HeldOut(f.into()),
            Outcome::Fired(f) => WireRecord::Firing(f.into()),
            Outcome::Converted(c) => WireRecord::Conversion(WireConversion {
                firing_id: &c.firing_id,
                trigger_id: &c.trigger_id,
                visitor: &c.visitor,
                time: c.time,
                held_out: c.held_out,
            }),
        }
    }
}

/// The payload of a firing-stream batch of `outcomes`, and where the
/// undelivered entry of each delivered firing among them lies in it
/// (`None` for the others): a delivered firing is written in the batch as
/// its entry holds it, so each is serialised once and copied out of the
/// batch when its entry is written. A batch of delivered firings only is
/// written in the first format.
pub fn encode_outcomes_and_entries(outcomes: &[Outcome]) -> (Vec<u8>, Vec<Option<Range<usize>>>) {
    let mut batch = Vec::new();
    let mut entries = Vec::with_capacity(outcomes.len());
    encode_outcomes_into(outcomes, &mut batch, &mut entries);
    (batch, entries)
}

/// [`encode_outcomes_and_entries`], appending the payload to `batch` (the
/// partition writes it after the batch's header, in the vector it stores)
/// and the entries' places in `batch` to `entries`.
pub(crate) fn encode_outcomes_into(
    outcomes: &[Outcome],
    batch: &mut Vec<u8>,
    entries: &mut Vec<Option<Range<usize>>>,
) {
    let delivered_only = outcomes
        .iter()
        .all(|o| matches!(o, Outcome::Fired(f) if !f.held_out));
    if delivered_only {
        // Every outcome is a firing here; their wire forms borrow them, so
        // they are made twice (for the size, then to write) rather than
        // kept in a vector.
        let wire = || {
            outcomes
                .iter()
                .filter_map(Outcome::firing)
                .map(WireFiring::from)
        };
        batch.reserve(10 + wire().map(|w| w.size_bound()).sum::<usize>());
        put_varint(batch, outcomes.len() as u64);
        for w in wire() {
            let start = batch.len();
            w.write(batch);
            entries.push(Some(start..batch.len()));
        }
        return;
    }
    // Postcard's bytes of the records, written by hand as for the first
    // format, into a buffer reserved once (the serde path, and the buffer
    // growing as it went, were 1.6% of an append's instructions with
    // outcomes on the 50 bench triggers).
    let bound = outcomes
        .iter()
        .map(|o| WireRecord::from(o).size_bound())
        .sum::<usize>();
    batch.reserve(12 + bound);
    batch.extend_from_slice(&[RECORDS_MARK, RECORDS_FORMAT]);
    put_varint(batch, outcomes.len() as u64);
    for o in outcomes {
        // Each variant's index, then the record.
        match WireRecord::from(o) {
            WireRecord::Firing(f) => {
                put_varint(batch, 0);
                // The firing as its entry holds it.
                let start = batch.len();
                f.write(batch);
                entries.push(Some(start..batch.len()));
            }
            WireRecord::HeldOut(f) => {
                put_varint(batch, 1);
                f.write(batch);
                entries.push(None);
            }
            WireRecord::Conversion(c) => {
                put_varint(batch, 2);
                c.write(batch);
                entries.push(None);
            }
        }
    }
}

/// The records of a firing-stream batch payload, of either format; `key`
/// names it in errors.
pub fn decode_outcomes(payload: &[u8], key: &[u8]) -> Result<Vec<Outcome>, StorageError> {
    match payload {
        [RECORDS_MARK, RECORDS_FORMAT, rest @ ..] => {
            let wire: Vec<WireRecord<'_>> =
                postcard::from_bytes(rest).map_err(|e| corrupt(key, &e.to_string()))?;
            Ok(wire.into_iter().map(Outcome::from).collect())
        }
        [RECORDS_MARK, v, ..] => Err(corrupt(key, &format!("unknown firing batch format {v}"))),
        _ => Ok(decode_firings(payload, key)?
            .into_iter()
            .map(Outcome::Fired)
            .collect()),
    }
}

/// The payload of a firing batch.
pub fn encode_firings(firings: &[Firing]) -> Vec<u8> {
    let wire: Vec<WireFiring<'_>> = firings.iter().map(WireFiring::from).collect();
    let size = 5 + wire.iter().map(WireFiring::size_bound).sum::<usize>();
    // Serialising strings and integers into a Vec cannot fail.
    postcard::to_extend(&wire, Vec::with_capacity(size)).unwrap_or_default()
}

/// The firings of a firing batch payload; `key` names it in errors.
pub fn decode_firings(payload: &[u8], key: &[u8]) -> Result<Vec<Firing>, StorageError> {
    let wire: Vec<WireFiring<'_>> =
        postcard::from_bytes(payload).map_err(|e| corrupt(key, &e.to_string()))?;
    Ok(wire.into_iter().map(Firing::from).collect())
}

/// One firing, as stored in an undelivered entry.
pub fn encode_firing(firing: &Firing) -> Vec<u8> {
    let wire = WireFiring::from(firing);
    let mut out = Vec::with_capacity(wire.size_bound());
    wire.write(&mut out);
    out
}

/// One firing from an undelivered entry.
pub fn decode_firing(value: &[u8], key: &[u8]) -> Result<Firing, StorageError> {
    let wire: WireFiring<'_> =
        postcard::from_bytes(value).map_err(|e| corrupt(key, &e.to_string()))?;
    Ok(wire.into())
}

/// The first byte of an undelivered entry that holds several firings. An
/// entry of one firing is [`encode_firing`]'s bytes, which start with the
/// length of its id: never 0 (ids are never empty).
const GROUP_MARK: u8 = 0;

/// An undelivered entry holding the firings `(offset, encode_firing bytes)`
/// of one visitor, in offset order, to be stored under `key_offset` (at
/// least the last of them; an append's entry is under its last firing):
/// one row instead of one per firing. A single firing under its own offset
/// is stored as its own bytes (the layout every entry had before groups).
///
/// Group layout: a 0 byte, a varint count, then for each firing
/// `key_offset` minus its offset (varint) and its bytes (varint length,
/// then the bytes).
pub fn encode_undelivered(key_offset: u64, firings: &[(u64, &[u8])]) -> Vec<u8> {
    encode_undelivered_of(key_offset, firings.iter().copied())
}

/// [`encode_undelivered`] of the firings `firings` yields.
pub(crate) fn encode_undelivered_of<'b>(
    key_offset: u64,
    firings: impl ExactSizeIterator<Item = (u64, &'b [u8])> + Clone,
) -> Vec<u8> {
    let n = firings.len();
    if n == 1 {
        if let Some((_, one)) = firings.clone().next().filter(|(o, _)| *o == key_offset) {
            return one.to_vec();
        }
    }
    let size = firings.clone().map(|(_, b)| b.len() + 6).sum::<usize>();
    let mut out = Vec::with_capacity(11 + size);
    out.push(GROUP_MARK);
    put_varint(&mut out, n as u64);
    for (o, bytes) in firings {
        put_varint(&mut out, key_offset.saturating_sub(o));
        put_varint(&mut out, bytes.len() as u64);
        out.extend_from_slice(bytes);
    }
    out
}

/// The firings of the undelivered entry stored under `offset`, either
/// layout, as `(offset, encode_firing bytes)` in offset order; `key` names
/// the entry in errors.
pub fn undelivered_entries<'v>(
    offset: u64,
    value: &'v [u8],
    key: &[u8],
) -> Result<Vec<(u64, &'v [u8])>, StorageError> {
    let Some((&GROUP_MARK, mut r)) = value.split_first() else {
        return Ok(vec![(offset, value)]);
    };
    let bad = |what: &str| corrupt(key, &format!("undelivered group: {what}"));
    let n = varint(&mut r).ok_or_else(|| bad("truncated count"))?;
    let mut out = Vec::with_capacity(n.min(1024) as usize);
    for _ in 0..n {
        let back = varint(&mut r).ok_or_else(|| bad("truncated offset"))?;
        let o = offset
            .checked_sub(back)
            .ok_or_else(|| bad("offset below 0"))?;
        if out.last().is_some_and(|&(prev, _)| prev >= o) {
            return Err(bad("offsets out of order"));
        }
        let len = varint(&mut r)
            .and_then(|l| usize::try_from(l).ok())
            .filter(|&l| l <= r.len())
            .ok_or_else(|| bad("truncated firing"))?;
        let (bytes, rest) = r.split_at(len);
        r = rest;
        out.push((o, bytes));
    }
    Ok(out)
}

/// The undelivered-entry key of the firing at `offset` for `visitor`:
/// `u` + visitor + `0x00` + offset (u64 BE). An entry of several firings
/// ([`encode_undelivered`]) is under its last firing's offset: the entry
/// that may hold the firing at `o` is the first at or after `o`'s key.
pub fn undelivered_key(visitor: &str, offset: u64) -> Vec<u8> {
    let mut k = undelivered_prefix(visitor);
    k.extend_from_slice(&offset.to_be_bytes());
    k
}

/// The prefix of every undelivered entry of `visitor`. The `0x00` separator
/// keeps visitor `ab` from matching `abc`'s entries.
pub fn undelivered_prefix(visitor: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(10 + visitor.len());
    k.push(keys::UNDELIVERED);
    k.extend_from_slice(visitor.as_bytes());
    k.push(0);
    k
}

#[cfg(test)]
mod tests {
    use super::*;

    fn firing(n: u64) -> Firing {
        Firing {
            firing_id: format!("f-{n}"),
            trigger_id: "cart-rescue".into(),
            visitor: "v-1".into(),
            time: 1_764_000_000_000 + n,
            action_type: "banner".into(),
            payload: r#"{"text":"Still there?"}"#.into(),
            held_out: false,
        }
    }

    /// One firing under its own offset keeps the single-firing layout
    /// (what entries were before groups); several, or one under a later
    /// key (the rest of a partly acknowledged group), round-trip as a
    /// group; damaged groups are corrupt, never a panic.
    #[test]
    fn undelivered_entries_round_trip_in_both_layouts() {
        let bytes: Vec<Vec<u8>> = (0..3).map(|n| encode_firing(&firing(n))).collect();
        let one = encode_undelivered(7, &[(7, &bytes[0])]);
        assert_eq!(one, bytes[0]);
        assert_eq!(
            undelivered_entries(7, &one, b"u").unwrap(),
            [(7, &bytes[0][..])]
        );
        for (key, firings) in [
            (
                12,
                vec![(10, &bytes[0][..]), (11, &bytes[1]), (12, &bytes[2])],
            ),
            (12, vec![(10, &bytes[0][..])]),
            (u64::MAX, vec![(0, &bytes[1][..]), (u64::MAX, &bytes[2])]),
        ] {
            let group = encode_undelivered(key, &firings);
            assert_eq!(group[0], GROUP_MARK);
            assert_eq!(undelivered_entries(key, &group, b"u").unwrap(), firings);
        }
        let group = encode_undelivered(12, &[(10, &bytes[0][..]), (12, &bytes[1])]);
        for bad in [
            &group[..group.len() - 1],
            &group[..2],
            &[GROUP_MARK][..],
            &[GROUP_MARK, 2, 0, 0, 0, 0][..],
        ] {
            assert!(undelivered_entries(12, bad, b"u").is_err(), "{bad:?}");
        }
        assert!(
            undelivered_entries(1, &group, b"u").is_err(),
            "offset below 0"
        );
    }

    /// Batches of the first format (delivered firings only) decode as
    /// outcomes, and such batches are still written in it; batches with
    /// held-out firings and conversions round-trip in the records format,
    /// with entries for the delivered firings only.
    #[test]
    fn outcome_batches_round_trip_in_both_formats() {
        let plain: Vec<Outcome> = (0..3).map(|n| Outcome::Fired(firing(n))).collect();
        let (batch, entries) = encode_outcomes_and_entries(&plain);
        let firings: Vec<Firing> = (0..3).map(firing).collect();
        assert_eq!(batch, encode_firings(&firings));
        for (e, f) in entries.iter().zip(&firings) {
            assert_eq!(&batch[e.clone().unwrap()], &encode_firing(f)[..]);
        }
        assert_eq!(decode_outcomes(&batch, b"f").unwrap(), plain);

        let mixed = vec![
            Outcome::Fired(firing(1)),
            Outcome::Fired(Firing {
                held_out: true,
                ..firing(2)
            }),
            Outcome::Converted(Conversion {
                firing_id: "f-1".into(),
                trigger_id: "cart-rescue".into(),
                visitor: "v-1".into(),
                time: 1_764_000_000_009,
                held_out: false,
            }),
        ];
        let (batch, entries) = encode_outcomes_and_entries(&mixed);
        assert_eq!(&batch[..2], &[RECORDS_MARK, RECORDS_FORMAT]);
        assert_eq!(decode_outcomes(&batch, b"f").unwrap(), mixed);
        let first = entries[0].clone().unwrap();
        assert_eq!(&batch[first], &encode_firing(&firing(1))[..]);
        assert!(entries[1].is_none() && entries[2].is_none());
        let postcard = postcard::to_extend(
            &mixed.iter().map(WireRecord::from).collect::<Vec<_>>(),
            vec![RECORDS_MARK, RECORDS_FORMAT],
        )
        .unwrap();
        assert_eq!(batch, postcard);
        // The hand-written records are postcard's, for short and long
        // strings and small and large times, held out or not.
        let long = "x".repeat(300);
        for (text, time, held_out) in [
            ("", 0, true),
            ("é", 127, false),
            (&long[..], u64::MAX, true),
        ] {
            let records = vec![
                Outcome::Converted(Conversion {
                    firing_id: text.into(),
                    trigger_id: long.as_str().into(),
                    visitor: text.into(),
                    time,
                    held_out,
                }),
                Outcome::Fired(Firing {
                    firing_id: text.into(),
                    payload: long.as_str().into(),
                    time,
                    held_out,
                    ..firing(3)
                }),
            ];
            let (batch, _) = encode_outcomes_and_entries(&records);
            let wire: Vec<WireRecord<'_>> = records.iter().map(WireRecord::from).collect();
            let postcard = postcard::to_extend(&wire, vec![RECORDS_MARK, RECORDS_FORMAT]);
            assert_eq!(batch, postcard.unwrap());
            assert_eq!(decode_outcomes(&batch, b"f").unwrap(), records);
        }
        assert!(decode_outcomes(&[RECORDS_MARK, 9, 0], b"f").is_err());
        assert!(decode_outcomes(&batch[..batch.len() - 1], b"f").is_err());
    }

    /// The hand-written encoding is postcard's, for short and long
    /// strings (one- and two-byte lengths) and small and large times.
    #[test]
    fn entries_are_postcard_bytes() {
        let long = "x".repeat(300);
        for (text, time) in [("", 0), ("é", 127), (long.as_str(), u64::MAX)] {
            let f = Firing {
                firing_id: text.into(),
                payload: long.as_str().into(),
                time,
                ..firing(1)
            };
            let postcard = postcard::to_allocvec(&WireFiring::from(&f)).unwrap();
            assert_eq!(encode_firing(&f), postcard);
            assert_eq!(decode_firing(&postcard, b"u").unwrap(), f);
        }
    }

    #[test]
    fn firing_batches_and_entries_round_trip() {
        let fs = vec![firing(1), firing(2)];
        assert_eq!(decode_firings(&encode_firings(&fs), b"f").unwrap(), fs);
        assert_eq!(decode_firing(&encode_firing(&fs[0]), b"u").unwrap(), fs[0]);
        assert!(decode_firings(&[0xff, 0xff], b"f").is_err());
    }

    #[test]
    fn batch_and_entries_at_once_are_the_same_bytes() {
        for n in [0, 1, 2, 127, 128, 300] {
            let fs: Vec<Firing> = (0..n).map(firing).collect();
            let outcomes: Vec<Outcome> = fs.iter().cloned().map(Outcome::Fired).collect();
            let (batch, entries) = encode_outcomes_and_entries(&outcomes);
            assert_eq!(batch, encode_firings(&fs), "{n} firings");
            let cut: Vec<&[u8]> = entries.into_iter().map(|e| &batch[e.unwrap()]).collect();
            let each: Vec<Vec<u8>> = fs.iter().map(encode_firing).collect();
            assert_eq!(cut, each.iter().map(Vec::as_slice).collect::<Vec<_>>());
        }
    }

    #[test]
    fn undelivered_keys_sort_by_visitor_then_offset() {
        assert!(undelivered_key("ab", 9) < undelivered_key("ab", 10));
        assert!(!undelivered_key("abc", 0).starts_with(&undelivered_prefix("ab")));
        assert!(undelivered_key("ab", u64::MAX).starts_with(&undelivered_prefix("ab")));
    }
}
