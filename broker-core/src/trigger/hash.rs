//! The trigger engine's hashes, in one place because their values are
//! stored or shared: state keys ([`hash64`] of a trigger's canonical JSON)
//! key visitor state in storage, firing ids ([`firing_id`]) are acked and
//! deduplicated by pages and exports, and holdout buckets
//! ([`holdout_bucket`]) are written down in the spec so that any tool can
//! tell who was held out. None of them may ever change; the tests below pin
//! vectors computed outside this crate.
//!
//! All are FNV-1a 64 (offset basis 0xcbf29ce484222325, prime
//! 0x100000001b3): stable across builds and platforms, with no seed, unlike
//! std's `DefaultHasher`. State keys and firing ids add a final avalanche
//! (MurmurHash3's `fmix64`) so that their low bits are well mixed; the
//! holdout bucket is plain FNV-1a modulo 100, as the spec defines it.

use std::hash::Hasher;

/// The FNV-1a 64 state before any byte (the offset basis).
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The FNV-1a 64 prime.
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// Separates the parts of a firing id. 0xff never occurs inside UTF-8, so
/// the parts cannot run together.
const ID_SEPARATOR: u8 = 0xff;

/// FNV-1a 64 state `h` continued over `bytes`, so that a common prefix can
/// be hashed once (see [`id_seed`]). Start from [`FNV_OFFSET`].
#[inline]
fn fnv(mut h: u64, bytes: &[u8]) -> u64 {
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(FNV_PRIME);
    }
    h
}

/// The final mix of [`hash64`] over an FNV-1a state (MurmurHash3 `fmix64`).
#[inline]
fn avalanche(mut h: u64) -> u64 {
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// FNV-1a 64 with a final [`avalanche`]: the hash of state keys.
pub(crate) fn hash64(bytes: &[u8]) -> u64 {
    avalanche(fnv(FNV_OFFSET, bytes))
}

/// The firing id: 16 hex digits of a stable hash of the trigger id, the
/// visitor and the log offset of the qualifying event.
pub fn firing_id(trigger_id: &str, visitor: &str, offset: u64) -> String {
    firing_id_after(id_seed(trigger_id), visitor, offset)
}

/// The hash state of a firing id after the trigger id, the same for all of
/// the trigger's firings (kept in the validated trigger, so that the firing
/// path hashes only the visitor and the offset).
pub(crate) fn id_seed(trigger_id: &str) -> u64 {
    fnv(fnv(FNV_OFFSET, trigger_id.as_bytes()), &[ID_SEPARATOR])
}

/// [`firing_id`] from the trigger's [`id_seed`] (a conversion's, and
/// the public [`firing_id`]'s: the engine names its firings together).
pub(crate) fn firing_id_after(seed: u64, visitor: &str, offset: u64) -> String {
    let mut id = String::new();
    firing_ids_after(visitor, &[(seed, offset)], |_, s| id = s);
    id
}

/// The firing ids of one visitor's firings, `(seed, offset)` each (as
/// [`firing_id_after`] takes them), given to `put` with their index.
///
/// The hash chains run four at a time, byte by byte through the visitor:
/// each step of one chain waits for the multiply before it, so one chain at
/// a time left the core mostly waiting (hashing the ids was 2.8% of an
/// append with the 50 bench triggers: six firings per append on average,
/// each with a trigger and visitor of its own).
pub(crate) fn firing_ids_after(
    visitor: &str,
    jobs: &[(u64, u64)],
    mut put: impl FnMut(usize, String),
) {
    const LANES: usize = 4;
    for (c, chunk) in jobs.chunks(LANES).enumerate() {
        // Lanes past the chunk's end hash along, and are not read.
        let mut h = [FNV_OFFSET; LANES];
        let mut offsets = [[0u8; 8]; LANES];
        for (k, &(seed, offset)) in chunk.iter().enumerate() {
            h[k] = seed;
            offsets[k] = offset.to_be_bytes();
        }
        for &b in visitor.as_bytes().iter().chain(&[ID_SEPARATOR]) {
            for x in &mut h {
                *x = (*x ^ u64::from(b)).wrapping_mul(FNV_PRIME);
            }
        }
        for i in 0..8 {
            for (x, o) in h.iter_mut().zip(&offsets) {
                *x = (*x ^ u64::from(o[i])).wrapping_mul(FNV_PRIME);
            }
        }
        for (k, x) in h.iter().take(chunk.len()).enumerate() {
            put(c * LANES + k, id_text(avalanche(*x)));
        }
    }
}

/// A firing id's text: the 16 hex digits of its hash.
#[inline]
fn id_text(h: u64) -> String {
    // The hex digits computed eight at a time: `format!`, a `push` per
    // digit (each encoding a char) and a table lookup per digit all cost
    // more on the firing path. Always ASCII: the conversion only checks it
    // (no error to handle).
    String::from_utf8(hex16(h).to_vec()).unwrap_or_default()
}

/// The 16 lowercase hex digits of `h`, as `format!("{h:016x}")` writes them.
#[inline]
fn hex16(h: u64) -> [u8; 16] {
    let mut hex = [0u8; 16];
    hex[..8].copy_from_slice(&hex8(h >> 32).to_be_bytes());
    hex[8..].copy_from_slice(&hex8(h & 0xffff_ffff).to_be_bytes());
    hex
}

/// The eight lowercase hex digits of `x` (below 2^32) as the bytes of a
/// u64, the first digit its most significant byte: each nibble spread to a
/// byte, then `'0'` added, and `'a' - '0' - 10` more where it is 10 or more.
#[inline]
fn hex8(x: u64) -> u64 {
    let x = (x | x << 16) & 0x0000_ffff_0000_ffff;
    let x = (x | x << 8) & 0x00ff_00ff_00ff_00ff;
    let x = (x | x << 4) & 0x0f0f_0f0f_0f0f_0f0f;
    // 1 in each byte whose nibble is 10 or more (no carry crosses bytes).
    let letters = ((x + 0x0606_0606_0606_0606) >> 4) & 0x0101_0101_0101_0101;
    x + 0x3030_3030_3030_3030 + letters * u64::from(b'a' - b'0' - 10)
}

/// The holdout bucket of a visitor for a trigger, 0 to 99, as the trigger
/// language's holdout rule defines it: FNV-1a 64 over the
/// UTF-8 bytes of the trigger id, one zero byte, and the UTF-8 bytes of the
/// visitor's anonymous id, modulo 100. The visitor is held out of a trigger
/// with `holdout: p` when the bucket is less than `p`.
///
/// ```
/// use broker_core::trigger::holdout_bucket;
/// assert_eq!(holdout_bucket("cart-rescue", "v-1"), 91);
/// ```
pub fn holdout_bucket(trigger_id: &str, visitor: &str) -> u8 {
    holdout_bucket_after(holdout_seed(trigger_id), visitor)
}

/// The hash state of a holdout bucket after the trigger id and its zero
/// byte, the same for all of the trigger's visitors (kept in the validated
/// trigger, so that a firing hashes only the visitor).
pub(crate) fn holdout_seed(trigger_id: &str) -> u64 {
    fnv(fnv(FNV_OFFSET, trigger_id.as_bytes()), &[0])
}

/// [`holdout_bucket`] from the trigger's [`holdout_seed`].
pub(crate) fn holdout_bucket_after(seed: u64, visitor: &str) -> u8 {
    // The remainder is below 100, so it fits.
    (fnv(seed, visitor.as_bytes()) % 100) as u8
}

/// The [`Hasher`] of in-memory maps keyed by bytes (trigger ids and event
/// names here, [`MemoryStorage`](crate::storage::MemoryStorage)'s keys):
/// eight bytes at a time (FxHash's step), then a final mix so that the low
/// bits, which pick the bucket, depend on every byte. A byte at a time
/// (FNV) cost four times as much on the append path's lookups. Not
/// resistant to chosen keys, and nothing it computes is stored: the maps
/// hold names from the trigger file, or serve tests, benches and the CLI.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct WordHasher(u64);

/// [`WordHasher`]'s multiplier (FxHash's).
const WORD_K: u64 = 0x517c_c1b7_2722_0a95;

impl Hasher for WordHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut h = self.0;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let word = u64::from_le_bytes(c.try_into().unwrap_or_default());
            h = (h.rotate_left(5) ^ word).wrapping_mul(WORD_K);
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut last = [0u8; 8];
            last[..rest.len()].copy_from_slice(rest);
            h = (h.rotate_left(5) ^ u64::from_le_bytes(last)).wrapping_mul(WORD_K);
        }
        self.0 = h;
    }

    #[inline]
    fn write_u8(&mut self, b: u8) {
        // `str`'s terminator: one step, without the slice's loop.
        self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(WORD_K);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let mut h = self.0;
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^ (h >> 33)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Vectors computed independently of this crate, with Python 3:
    //
    //   M = (1 << 64) - 1
    //   def fnv(b, h=0xcbf29ce484222325):
    //       for x in b: h = ((h ^ x) * 0x100000001b3) & M
    //       return h
    //   def av(h):
    //       h ^= h >> 33; h = (h * 0xff51afd7ed558ccd) & M
    //       h ^= h >> 33; h = (h * 0xc4ceb9fe1a85ec53) & M
    //       return h ^ (h >> 33)
    //   fid = lambda t, v, o: "%016x" % av(fnv(t.encode() + b"\xff"
    //                            + v.encode() + b"\xff" + o.to_bytes(8, "big")))
    //   bucket = lambda t, v: fnv(t.encode() + b"\0" + v.encode()) % 100

    /// FNV-1a 64 itself: the empty string gives the offset basis; "a" and
    /// "foobar" are also in the FNV authors' published test vectors.
    #[test]
    fn fnv1a_64_vectors() {
        assert_eq!(fnv(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
        // Continuing a state is hashing the concatenation.
        assert_eq!(
            fnv(fnv(FNV_OFFSET, b"foo"), b"bar"),
            fnv(FNV_OFFSET, b"foobar")
        );
    }

    /// The hash of state keys: `av(fnv(b))`.
    #[test]
    fn hash64_vectors() {
        assert_eq!(hash64(b""), 0xefd0_1f60_ba99_2926);
        assert_eq!(hash64(b"a"), 0x82a2_a958_a9be_ce5b);
        assert_eq!(hash64(b"foobar"), 0x2c22_1949_22d1_672b);
    }

    /// The digits of a firing id are `format!`'s.
    #[test]
    fn hex_digits_are_formats() {
        let edges = [
            0,
            u64::MAX,
            0x0a0a_0a0a_0a0a_0a0a,
            0x9999_9999_9999_9999,
            0xf0f0_f0f0_0f0f_0f0f,
        ];
        let mut x = 0x0123_4567_89ab_cdefu64;
        let spread = (0..10_000).map(|_| {
            x = x.wrapping_mul(0x9e37_79b9_7f4a_7c15).wrapping_add(1);
            x
        });
        for h in edges.into_iter().chain(spread) {
            assert_eq!(hex16(h), format!("{h:016x}").as_bytes(), "{h:x}");
        }
    }

    /// Firing ids are stored and acked: `fid(t, v, o)`.
    #[test]
    fn firing_id_vectors() {
        for (t, v, o, id) in [
            ("welcome", "v-1", 0, "11e6d04365342551"),
            ("w", "v-1", 1, "e49e8e1434a0daea"),
            ("cart-rescue", "73cb6eb1", u64::MAX, "18533a25b1d2bb5e"),
            ("", "", 7, "45d44ee787edaff5"),
            ("café", "访客", 42, "cad413165b0b5c6e"),
        ] {
            assert_eq!(firing_id(t, v, o), id, "{t:?} {v:?} {o}");
            assert_eq!(firing_id_after(id_seed(t), v, o), id);
        }
    }

    /// The ids of several firings at once are each firing's id as defined,
    /// for any number of firings (the lanes of four, full or not).
    #[test]
    fn firing_ids_of_a_visitor_at_once() {
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        for visitor in ["", "v-1", "73cb6eb1-4f0a-4b55-9a3e-2f1c0d9e8b7a", "访客"] {
            for n in 0..=9 {
                let jobs: Vec<(u64, u64)> =
                    (0..n).map(|_| (next(), next() >> (next() % 64))).collect();
                let mut got = vec![None; n];
                firing_ids_after(visitor, &jobs, |i, id| {
                    assert!(got[i].replace(id).is_none(), "index {i} twice");
                });
                // The id as defined: FNV-1a from the seed over the visitor,
                // the separator and the offset (big-endian), then avalanche.
                let one = |s: u64, o: u64| {
                    let h = fnv(fnv(s, visitor.as_bytes()), &[ID_SEPARATOR]);
                    id_text(avalanche(fnv(h, &o.to_be_bytes())))
                };
                let want: Vec<Option<String>> =
                    jobs.iter().map(|&(s, o)| Some(one(s, o))).collect();
                assert_eq!(got, want, "{visitor:?}, {n} firings");
            }
        }
        let mut one = None;
        firing_ids_after("v-1", &[(id_seed("w"), 1)], |_, id| one = Some(id));
        assert_eq!(one.as_deref(), Some("e49e8e1434a0daea"));
    }

    /// Holdout buckets as the spec defines them: `bucket(t, v)`.
    #[test]
    fn holdout_bucket_vectors() {
        for (t, v, bucket) in [
            ("cart-rescue", "v-1", 91),
            ("cart-rescue", "73cb6eb1-0c2d-4e8a-9d3f-5b1a2c3d4e5f", 62),
            ("welcome", "v-1", 7),
            ("", "", 55),
            ("café", "访客", 21),
        ] {
            assert_eq!(holdout_bucket(t, v), bucket, "{t:?} {v:?}");
        }
    }

    #[test]
    fn word_hasher_spreads_ids_that_differ_in_their_last_bytes() {
        use std::hash::{BuildHasher, BuildHasherDefault};
        let b = BuildHasherDefault::<WordHasher>::default();
        assert_eq!(b.hash_one("offer-12"), b.hash_one("offer-12"));
        // Trigger ids of one file often share all but their last bytes,
        // and a hash map picks its bucket with the low bits.
        let mut buckets = [0u32; 1024];
        for i in 0..1024 {
            let h = b.hash_one(format!("cart-rescue-{i}"));
            buckets[(h & 1023) as usize] += 1;
        }
        let fullest = buckets.iter().max().copied().unwrap_or(0);
        assert!(fullest <= 8, "{fullest} ids in one of 1,024 buckets");
        // The same words in another order hash differently.
        assert_ne!(
            b.hash_one("abcdefgh12345678"),
            b.hash_one("12345678abcdefgh")
        );
    }
}
