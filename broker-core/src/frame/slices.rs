//! Slices: a frame string that occurs inside another is sent as a
//! reference into it (`/product/p-0191` inside
//! `https://shop.example/product/p-0191`) instead of its bytes, which keeps
//! the decoder zero-copy (a slice of a borrowed string is borrowed).
//!
//! The plan is made once, at `finish`, from the whole table; the builder
//! counts every string raw until then, so its size bound only shrinks.
//!
//! Only small tables are planned ([`MAX_PLANNED_TABLE`]): slices pay in a
//! frame sent as it is, and a frame of a few events is (the SDK sends one
//! under 400 bytes on its socket without deflating it, for the firing's
//! latency), but a larger one is deflated, and deflate finds the repeats
//! itself and does better without slices. Measured over the reference
//! corpus (frames of 1, 2, 3 and 22 events per visit): slices save 9-11
//! bytes per event sent plain, and cost 0.4-0.7 bytes per event deflated.

use super::wire::varint_len;
use alloc::vec::Vec;

/// Strings shorter than this are always sent raw: a slice costs at least
/// four bytes.
pub(crate) const MIN_SLICE: usize = 4;

/// Tables whose strings take more bytes than this are sent without
/// slices (see the module's documentation). A frame under 400 bytes, the
/// SDK's bound for sending plain, always has a table below it; the
/// pairwise search of the plan stays a few thousand byte comparisons.
pub(crate) const MAX_PLANNED_TABLE: usize = 512;

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

/// The slices for a table, sorted by position; none when its strings
/// take more than [`MAX_PLANNED_TABLE`] bytes, or without the `slices`
/// feature. A string of at least
/// [`MIN_SLICE`] bytes that occurs in longer ones becomes a slice of the
/// longest of them (the first in table order among equals), at the first
/// occurrence, when that is shorter than sending it raw. No string
/// contains that longest one (a longer one would contain the string too),
/// so it is sent raw: no slice is of a slice. (A whole UTF-8 string found
/// inside another lies on its character boundaries.)
pub(crate) fn plan(strings: &[&[u8]]) -> Vec<Slice> {
    let mut out = Vec::new();
    // Without the `slices` feature (the SDK) every string goes raw.
    if !cfg!(feature = "slices")
        || strings.iter().map(|s| s.len()).sum::<usize>() > MAX_PLANNED_TABLE
    {
        return out;
    }
    for (k, &s) in strings.iter().enumerate() {
        if s.len() < MIN_SLICE {
            continue;
        }
        // The longest string containing `s` so far, and where.
        let (mut of, mut longest) = (None, s.len());
        for (j, &hay) in strings.iter().enumerate() {
            if hay.len() > longest {
                if let Some(at) = contains(hay, s) {
                    (of, longest) = (Some((j, at)), hay.len());
                }
            }
        }
        let Some((j, at)) = of else { continue };
        let slice = Slice {
            position: k as u32,
            of: j as u32,
            start: at as u32,
            len: s.len() as u32,
        };
        if slice.wire_len() < varint_len(s.len() as u64) + s.len() {
            out.push(slice);
        }
    }
    out
}

/// Where `needle` first occurs in `hay` (a window whose first byte
/// differs is passed over without comparing the rest: half the time of
/// small frames' encoding otherwise).
fn contains(hay: &[u8], needle: &[u8]) -> Option<usize> {
    let first = needle.first()?;
    hay.windows(needle.len())
        .position(|w| w.first() == Some(first) && w == needle)
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
    fn the_longest_container_is_the_source_the_first_among_equals() {
        // "abcd" occurs in all three longer strings, "bcde" in the last two
        // (of equal length): each is a slice of the longest, at its first
        // occurrence there; "xabcdex" itself is a slice of neither.
        let t: Vec<&[u8]> = vec![b"abcd", b"xabcdex", b"yyabcdexyy", b"zzabcdexzz", b"bcde"];
        assert_eq!(
            plan(&t),
            vec![
                Slice {
                    position: 0,
                    of: 2,
                    start: 2,
                    len: 4
                },
                Slice {
                    position: 4,
                    of: 2,
                    start: 3,
                    len: 4
                },
            ]
        );
        // A string inside a string that is itself inside another is a
        // slice of the outermost: never a slice of a slice.
        let t: Vec<&[u8]> = vec![b"cdef", b"bcdefg", b"abcdefgh"];
        let p = plan(&t);
        assert!(p.iter().all(|s| s.of == 2), "{p:?}");
    }

    proptest::proptest! {
        /// On tables made of a few fragments (so that strings often occur
        /// inside others), the plan is what the rule says, checked the
        /// plain way: each slice is of the longest string containing it
        /// (the first among equals), at the first occurrence, shorter than
        /// the string raw, and never of a slice; a string not sliced has no
        /// longer container, or its slice would not be shorter.
        #[test]
        fn plans_follow_the_rule(
            parts in proptest::collection::vec(
                proptest::collection::vec(0usize..4, 1..6),
                1..24,
            )
        ) {
            const FRAGMENTS: [&str; 4] = ["/p-01", "shop", "é9", "xy"];
            let mut table: Vec<String> = Vec::new();
            for p in parts {
                let s: String = p.iter().map(|&i| FRAGMENTS[i]).collect();
                if !table.contains(&s) {
                    table.push(s);
                }
            }
            let t: Vec<&[u8]> = table.iter().map(|s| s.as_bytes()).collect();
            let planned = plan(&t);
            let sliced: Vec<u32> = planned.iter().map(|s| s.position).collect();
            proptest::prop_assert!(sliced.windows(2).all(|w| w[0] < w[1]));
            let fits = t.iter().map(|s| s.len()).sum::<usize>() <= MAX_PLANNED_TABLE;
            for (k, s) in t.iter().enumerate() {
                let hay = |j: usize| t[j].windows(s.len()).position(|w| w == *s);
                let longest = (0..t.len())
                    .filter(|&j| t[j].len() > s.len() && hay(j).is_some())
                    .max_by_key(|&j| (t[j].len(), std::cmp::Reverse(j)));
                let expected = longest
                    .filter(|_| fits && s.len() >= MIN_SLICE)
                    .map(|j| Slice {
                        position: k as u32,
                        of: j as u32,
                        start: hay(j).unwrap() as u32,
                        len: s.len() as u32,
                    })
                    .filter(|sl| sl.wire_len() < varint_len(s.len() as u64) + s.len());
                let got = planned.iter().find(|p| p.position == k as u32).copied();
                proptest::prop_assert_eq!(got, expected);
                if let Some(sl) = got {
                    proptest::prop_assert!(!sliced.contains(&sl.of), "a slice of a slice");
                }
            }
        }
    }

    #[test]
    fn tables_over_the_bound_are_not_planned() {
        let long = "https://shop.example/product/p-0191?".repeat(14);
        let t: Vec<&[u8]> = vec![long.as_bytes(), b"/product/p-0191"];
        assert!(long.len() + 15 > MAX_PLANNED_TABLE);
        assert!(plan(&t).is_empty());
        let t: Vec<&[u8]> = vec![
            &long.as_bytes()[..MAX_PLANNED_TABLE - 15],
            b"/product/p-0191",
        ];
        assert_eq!(plan(&t).len(), 1);
    }
}
