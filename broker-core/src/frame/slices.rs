//! Slices: a frame string that occurs inside another is sent as a
//! reference into it (`/product/p-0191` inside
//! `https://shop.example/product/p-0191`) instead of its bytes, which keeps
//! the decoder zero-copy (a slice of a borrowed string is borrowed).
//!
//! The plan is made once, at `finish`, from the whole table; the builder
//! counts every string raw until then, so its size bound only shrinks.

use super::wire::varint_len;

/// Strings shorter than this are always sent raw: a slice costs at least
/// four bytes.
pub(crate) const MIN_SLICE: usize = 4;

/// Frame string `position` is bytes `start..start + len` of frame string
/// `of`, which is sent raw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Slice {
    pub(crate) position: u32,
    pub(crate) of: u32,
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Slice {
    /// Bytes the slice takes on the wire.
    pub(crate) fn wire_len(&self) -> usize {
        varint_len(u64::from(self.position))
            + varint_len(u64::from(self.of))
            + varint_len(u64::from(self.start))
            + varint_len(u64::from(self.len))
    }
}

/// The slices for a table, sorted by position: strings by decreasing
/// length (ties: lower index first); one of at least [`MIN_SLICE`] bytes
/// found in a string already kept raw becomes a slice of the first such
/// string at its first occurrence, when that is shorter than sending it raw.
pub(crate) fn plan(strings: &[&[u8]]) -> Vec<Slice> {
    let mut order: Vec<usize> = (0..strings.len()).collect();
    // The index breaks ties, so the order is total and an unstable sort is
    // deterministic (and smaller in the SDK's wasm than a stable one).
    order.sort_unstable_by(|&a, &b| strings[b].len().cmp(&strings[a].len()).then(a.cmp(&b)));
    let mut raw: Vec<usize> = Vec::with_capacity(strings.len());
    let mut out = Vec::new();
    for k in order {
        let s = strings[k];
        if s.len() >= MIN_SLICE {
            let found = raw
                .iter()
                .find_map(|&j| find(strings[j], s).map(|at| (j, at)));
            if let Some((j, at)) = found {
                let slice = Slice {
                    position: k as u32,
                    of: j as u32,
                    start: at as u32,
                    len: s.len() as u32,
                };
                if slice.wire_len() < varint_len(s.len() as u64) + s.len() {
                    out.push(slice);
                    continue;
                }
            }
        }
        raw.push(k);
    }
    out.sort_unstable_by_key(|s| s.position);
    out
}

/// Wire bytes of the string table (raw count, raw strings, slice count,
/// slices) under `plan`.
pub(crate) fn table_len(strings: &[&[u8]], plan: &[Slice]) -> usize {
    let raw: usize = strings
        .iter()
        .map(|s| varint_len(s.len() as u64) + s.len())
        .sum();
    let saved: usize = plan
        .iter()
        .map(|p| varint_len(u64::from(p.len)) + p.len as usize)
        .sum();
    let slices: usize = plan.iter().map(Slice::wire_len).sum();
    varint_len((strings.len() - plan.len()) as u64) + raw - saved
        + varint_len(plan.len() as u64)
        + slices
}

/// First occurrence of `needle` in `haystack`. Both are UTF-8, so a match
/// starts and ends on character boundaries.
fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    let (&first, _) = needle.split_first()?;
    if needle.len() > haystack.len() {
        return None;
    }
    (0..=haystack.len() - needle.len())
        .find(|&i| haystack[i] == first && &haystack[i..i + needle.len()] == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plans_slices_into_longer_strings_only_when_shorter() {
        let t: Vec<&[u8]> = vec![
            b"/product/p-0191",
            b"https://shop.example/product/p-0191",
            b"p-0191",
            b"abc",
            b"Urban Sunglasses 191",
            b"Urban Sunglasses 191 | Example Shop",
        ];
        assert_eq!(
            plan(&t),
            vec![
                Slice {
                    position: 0,
                    of: 1,
                    start: 20,
                    len: 15
                },
                Slice {
                    position: 2,
                    of: 1,
                    start: 29,
                    len: 6
                },
                Slice {
                    position: 4,
                    of: 5,
                    start: 0,
                    len: 20
                },
            ]
        );
        let p = plan(&t);
        let raw_len: usize = t.iter().map(|s| 1 + s.len()).sum::<usize>() + 2;
        // Each slice is 4 bytes instead of 1 + len.
        assert_eq!(table_len(&t, &p), raw_len - (16 + 7 + 21) + 12);
        assert_eq!(
            plan(&[b"abcd", b"xabcdx"]),
            vec![Slice {
                position: 0,
                of: 1,
                start: 1,
                len: 4
            }]
        );
        // Four bytes raw cost 5, the slice 4: taken; "abc" never.
        assert!(plan(&[b"abc", b"xabcx"]).is_empty());
    }

    #[test]
    fn find_finds_the_first_occurrence() {
        assert_eq!(find(b"aXbXc", b"X"), Some(1));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"ab", b""), None);
    }
}
