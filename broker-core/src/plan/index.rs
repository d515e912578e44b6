//! Finding a name among the few an object or a plan has: the lookup behind
//! every property of every event, so it is the check's main cost.
//!
//! Each name is kept as its length and its first 8 bytes, which tell most
//! names apart in one comparison of 16 bytes; only a candidate longer than 8
//! bytes is then compared whole. Up to [`LINEAR_MAX`] names are scanned in
//! order; more are searched by binary search over the names, which are
//! sorted. Measured on the corpus (1-8 properties per object, 10 event
//! names; `benches/plan.rs`, CPU time): 166 ns per event with a binary
//! search of string comparisons for every lookup, 72 ns with this.

/// The most names scanned linearly.
const LINEAR_MAX: usize = 32;

/// Sorted names, for [`Index::find`].
#[derive(Debug, Clone, Default)]
pub(super) struct Index {
    keys: Vec<(usize, u64)>,
}

impl Index {
    /// The index of `names`, which must be sorted.
    pub(super) fn new<'a>(names: impl Iterator<Item = &'a str>) -> Index {
        Index {
            keys: names.map(key).collect(),
        }
    }

    /// The position of `name`; `nth(i)` is the i-th of the sorted names.
    #[inline]
    pub(super) fn find<'n>(&self, name: &str, nth: impl Fn(usize) -> &'n str) -> Option<usize> {
        if self.keys.len() > LINEAR_MAX {
            return binary(self.keys.len(), name, nth);
        }
        let k = key(name);
        self.keys.iter().position(|e| *e == k).and_then(|i| {
            if name.len() <= 8 || nth(i) == name {
                Some(i)
            } else {
                // Another name shares the length and first 8 bytes: rare.
                (i + 1..self.keys.len()).find(|j| self.keys[*j] == k && nth(*j) == name)
            }
        })
    }
}

fn binary<'n>(len: usize, name: &str, nth: impl Fn(usize) -> &'n str) -> Option<usize> {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = (lo + hi) / 2;
        match nth(mid).cmp(name) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

/// The length and the first 8 bytes (zero-padded): equal for equal names,
/// and for names of at most 8 bytes, equal only for equal names.
#[inline]
fn key(s: &str) -> (usize, u64) {
    let b = s.as_bytes();
    let mut w = [0u8; 8];
    let n = b.len().min(8);
    w[..n].copy_from_slice(&b[..n]);
    (b.len(), u64::from_le_bytes(w))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_every_name_and_nothing_else() {
        for n in [0, 1, 5, LINEAR_MAX, LINEAR_MAX + 1, 100] {
            // Names sharing long prefixes and lengths, and short ones.
            let mut names: Vec<String> = (0..n)
                .map(|i| match i % 3 {
                    0 => format!("product_{i:04}"),
                    1 => format!("p{i}"),
                    _ => format!("product_{i:04}x"),
                })
                .collect();
            names.sort();
            let idx = Index::new(names.iter().map(String::as_str));
            let nth = |i: usize| names[i].as_str();
            for (i, name) in names.iter().enumerate() {
                assert_eq!(idx.find(name, nth), Some(i), "{name} of {n}");
            }
            for absent in ["", "p", "product_", "product_9999", "product_0000y", "\0"] {
                assert_eq!(idx.find(absent, nth), None, "{absent:?} of {n}");
            }
        }
    }
}
