//! The stored form of trigger firings: firing batches in the firing stream,
//! and the per-visitor "undelivered" entries the visitor's pages are sent on
//! connect until they acknowledge them.
//!
//! Both are postcard encodings of a private `WireFiring` (a firing batch is a
//! sequence of them), so a firing costs its strings plus a few bytes.

use super::corrupt;
use crate::frame::wire::put_varint;
use crate::storage::{keys, StorageError};
use crate::trigger::Firing;
use serde::{Deserialize, Serialize};

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
            trigger_id: w.trigger_id.to_owned(),
            visitor: w.visitor.to_owned(),
            time: w.time,
            action_type: w.action_type.to_owned(),
            payload: w.payload.to_owned(),
        }
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

/// [`encode_firings`] of `firings` and [`encode_firing`] of each, each
/// firing serialised once: postcard writes a sequence as its length (a
/// varint) then its elements, so the batch is the entries after the count.
pub fn encode_firings_and_entries(firings: &[Firing]) -> (Vec<u8>, Vec<Vec<u8>>) {
    let entries: Vec<Vec<u8>> = firings.iter().map(encode_firing).collect();
    let mut batch = Vec::with_capacity(10 + entries.iter().map(Vec::len).sum::<usize>());
    put_varint(&mut batch, firings.len() as u64);
    for e in &entries {
        batch.extend_from_slice(e);
    }
    (batch, entries)
}

/// One firing, as stored in an undelivered entry.
pub fn encode_firing(firing: &Firing) -> Vec<u8> {
    let wire = WireFiring::from(firing);
    postcard::to_extend(&wire, Vec::with_capacity(wire.size_bound())).unwrap_or_default()
}

/// One firing from an undelivered entry.
pub fn decode_firing(value: &[u8], key: &[u8]) -> Result<Firing, StorageError> {
    let wire: WireFiring<'_> =
        postcard::from_bytes(value).map_err(|e| corrupt(key, &e.to_string()))?;
    Ok(wire.into())
}

/// The undelivered-entry key of the firing at `offset` for `visitor`:
/// `u` + visitor + `0x00` + offset (u64 BE).
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
            let (batch, entries) = encode_firings_and_entries(&fs);
            assert_eq!(batch, encode_firings(&fs), "{n} firings");
            let each: Vec<Vec<u8>> = fs.iter().map(encode_firing).collect();
            assert_eq!(entries, each);
        }
    }

    #[test]
    fn undelivered_keys_sort_by_visitor_then_offset() {
        assert!(undelivered_key("ab", 9) < undelivered_key("ab", 10));
        assert!(!undelivered_key("abc", 0).starts_with(&undelivered_prefix("ab")));
        assert!(undelivered_key("ab", u64::MAX).starts_with(&undelivered_prefix("ab")));
    }
}
