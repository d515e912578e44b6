//! Slices: a frame string that occurs inside another is sent as a
//! reference into it (`/product/p-0191` inside
//! `https://shop.example/product/p-0191`) instead of its bytes, which keeps
//! the decoder zero-copy (a slice of a borrowed string is borrowed).
//!
//! The plan is made once, at `finish`, from the whole table; the builder
//! counts every string raw until then, so its size bound only shrinks.

use super::wire::varint_len;
use alloc::vec;
use alloc::vec::Vec;

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
///
/// Linear in the table's bytes: every 4-byte window of each raw string goes
/// into a hash index, and a candidate is looked up by its first 4 bytes
/// (a naive pairwise search was quadratic and dominated `finish`).
pub(crate) fn plan(strings: &[&[u8]]) -> Vec<Slice> {
    let mut order: Vec<usize> = (0..strings.len()).collect();
    // The index breaks ties, so the order is total and any sort gives it.
    // (Here and below, `get` rather than indexing, though every index is in
    // range: a panic site links core's messages and locations into the
    // SDK's wasm, and the encoder is the SDK's.)
    let len = |i: usize| strings.get(i).map_or(0, |s| s.len());
    heap_sort(&mut order, |a, b| (len(b), a) < (len(a), b));
    let windows: usize = strings
        .iter()
        .map(|s| s.len().saturating_sub(MIN_SLICE - 1))
        .sum();
    let mut index = GramIndex::with_capacity(windows);
    // By position, so the plan comes out sorted without a second sort.
    let mut found: Vec<Option<Slice>> = vec![None; strings.len()];
    for k in order {
        let Some(&s) = strings.get(k) else { continue };
        if s.len() >= MIN_SLICE {
            if let Some((j, at)) = index.find(strings, s) {
                let slice = Slice {
                    position: k as u32,
                    of: j,
                    start: at,
                    len: s.len() as u32,
                };
                if slice.wire_len() < varint_len(s.len() as u64) + s.len() {
                    if let Some(f) = found.get_mut(k) {
                        *f = Some(slice);
                    }
                    continue;
                }
            }
        }
        index.add(k as u32, s);
    }
    found.iter().flatten().copied().collect()
}

/// Sorts `v` so that no element comes before one it is `before`: a heapsort,
/// O(n log n) in place and without recursion (n is the frame's string count,
/// up to tens of thousands). core's sorts cost the SDK's wasm about 5 KB.
fn heap_sort(v: &mut [usize], before: impl Fn(usize, usize) -> bool) {
    let n = v.len();
    for root in (0..n / 2).rev() {
        sift_down(v, root, &before);
    }
    for end in (1..n).rev() {
        swap(v, 0, end);
        if let Some(heap) = v.get_mut(..end) {
            sift_down(heap, 0, &before);
        }
    }
}

/// `v.swap(a, b)` for indexes in range; nothing otherwise (never here).
fn swap(v: &mut [usize], a: usize, b: usize) {
    if let (Some(&x), Some(&y)) = (v.get(a), v.get(b)) {
        if let Some(p) = v.get_mut(a) {
            *p = y;
        }
        if let Some(p) = v.get_mut(b) {
            *p = x;
        }
    }
}

/// Restores the max-heap property (by `before`) of `v` below `root`.
fn sift_down(v: &mut [usize], mut root: usize, before: &impl Fn(usize, usize) -> bool) {
    loop {
        let mut child = 2 * root + 1;
        let (Some(&top), Some(&left)) = (v.get(root), v.get(child)) else {
            return;
        };
        let mut next = left;
        if let Some(&right) = v.get(child + 1) {
            if before(left, right) {
                child += 1;
                next = right;
            }
        }
        if !before(top, next) {
            return;
        }
        swap(v, root, child);
        root = child;
    }
}

/// Every 4-byte window of the raw strings, chained per hash bucket in
/// insertion order (so the first hit is the first raw string, then the
/// first offset).
struct GramIndex {
    /// Bucket -> first entry + 1 (0: empty).
    heads: Vec<u32>,
    /// Bucket -> last entry, for appending in order.
    tails: Vec<u32>,
    /// (window, string, offset, next entry + 1)
    entries: Vec<(u32, u32, u32, u32)>,
}

impl GramIndex {
    fn with_capacity(windows: usize) -> GramIndex {
        let buckets = (windows * 2).next_power_of_two().max(16);
        GramIndex {
            heads: vec![0; buckets],
            tails: vec![0; buckets],
            entries: Vec::with_capacity(windows),
        }
    }

    /// The window at `at` (callers keep `at + 4 <= s.len()`).
    fn gram(s: &[u8], at: usize) -> u32 {
        s.get(at..at + MIN_SLICE)
            .and_then(|w| w.try_into().ok())
            .map_or(0, u32::from_le_bytes)
    }

    fn bucket(&self, gram: u32) -> usize {
        (gram.wrapping_mul(0x9E37_79B1) >> 7) as usize & (self.heads.len() - 1)
    }

    fn add(&mut self, string: u32, s: &[u8]) {
        for at in 0..s.len().saturating_sub(MIN_SLICE - 1) {
            let gram = GramIndex::gram(s, at);
            let b = self.bucket(gram);
            let e = self.entries.len() as u32;
            self.entries.push((gram, string, at as u32, 0));
            let (Some(head), Some(tail)) = (self.heads.get_mut(b), self.tails.get_mut(b)) else {
                continue;
            };
            match *head {
                0 => *head = e + 1,
                _ => {
                    if let Some(last) = self.entries.get_mut(*tail as usize) {
                        last.3 = e + 1;
                    }
                }
            }
            *tail = e;
        }
    }

    /// The first raw string (in insertion order) containing `needle`, and
    /// the offset of its first occurrence.
    fn find(&self, strings: &[&[u8]], needle: &[u8]) -> Option<(u32, u32)> {
        let gram = GramIndex::gram(needle, 0);
        let mut e = self.heads.get(self.bucket(gram)).copied().unwrap_or(0);
        while e != 0 {
            let &(g, string, at, next) = self.entries.get(e as usize - 1)?;
            if g == gram {
                let hay = strings.get(string as usize)?;
                let at_ = at as usize;
                if hay.get(at_..at_ + needle.len()) == Some(needle) {
                    return Some((string, at));
                }
            }
            e = next;
        }
        None
    }
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

/// First occurrence of `needle` in `haystack` (the plain reference the
/// index is tested against).
#[cfg(test)]
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
    fn the_index_agrees_with_a_pairwise_search() {
        let words: Vec<String> = (0..300u32)
            .map(|i| {
                let n = (i.wrapping_mul(2_654_435_761) >> 20) % 40;
                format!("{}{}-{}", "ab".repeat((i % 5) as usize), n, i % 13)
            })
            .collect();
        let t: Vec<&[u8]> = words.iter().map(|w| w.as_bytes()).collect();
        let mut order: Vec<usize> = (0..t.len()).collect();
        order.sort_by_key(|&i| (std::cmp::Reverse(t[i].len()), i));
        let mut raw: Vec<usize> = Vec::new();
        let mut expected = Vec::new();
        for k in order {
            let hit = (t[k].len() >= MIN_SLICE)
                .then(|| raw.iter().find_map(|&j| find(t[j], t[k]).map(|at| (j, at))))
                .flatten();
            let slice = hit.map(|(j, at)| Slice {
                position: k as u32,
                of: j as u32,
                start: at as u32,
                len: t[k].len() as u32,
            });
            match slice {
                Some(sl) if sl.wire_len() < 1 + t[k].len() => expected.push(sl),
                _ => raw.push(k),
            }
        }
        expected.sort_by_key(|s| s.position);
        assert!(expected.len() > 10);
        assert_eq!(plan(&t), expected);
    }

    #[test]
    fn heap_sort_agrees_with_core_sort() {
        for n in 0..40usize {
            let keys: Vec<usize> = (0..n).map(|i| (i * 7919) % 5).collect();
            let mut v: Vec<usize> = (0..n).collect();
            heap_sort(&mut v, |a, b| (keys[b], a) < (keys[a], b));
            let mut expected: Vec<usize> = (0..n).collect();
            expected.sort_by_key(|&i| (std::cmp::Reverse(keys[i]), i));
            assert_eq!(v, expected, "n = {n}");
        }
    }

    #[test]
    fn find_finds_the_first_occurrence() {
        assert_eq!(find(b"aXbXc", b"X"), Some(1));
        assert_eq!(find(b"ab", b"abc"), None);
        assert_eq!(find(b"ab", b""), None);
    }
}
