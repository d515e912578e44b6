//! Kafka's default partitioner, so that a key lands in the same partition
//! here as it would in a Kafka topic with as many partitions.

/// Kafka's `Utils.murmur2`: MurmurHash2, 32 bits, seed `0x9747b28c`, as a
/// signed integer the way Java returns it.
pub fn murmur2(data: &[u8]) -> i32 {
    const M: u32 = 0x5bd1_e995;
    const R: u32 = 24;
    let mut h: u32 = 0x9747_b28c ^ (data.len() as u32);
    let mut chunks = data.chunks_exact(4);
    for c in &mut chunks {
        let mut k = u32::from_le_bytes([c[0], c[1], c[2], c[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let rest = chunks.remainder();
    if !rest.is_empty() {
        // Java's switch falls through from case 3 to case 1.
        if rest.len() == 3 {
            h ^= (rest[2] as u32) << 16;
        }
        if rest.len() >= 2 {
            h ^= (rest[1] as u32) << 8;
        }
        h ^= rest[0] as u32;
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^= h >> 15;
    h as i32
}

/// The partition of `key` among `partitions`:
/// `(murmur2(key) & 0x7fffffff) % partitions`, Kafka's default for keyed
/// records. Stable forever: the test vectors below pin it. `partitions == 0`
/// is treated as 1 (everything in partition 0) rather than dividing by zero.
pub fn partition_for(key: &str, partitions: u32) -> u32 {
    let positive = (murmur2(key.as_bytes()) as u32) & 0x7fff_ffff;
    positive % partitions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn murmur2_matches_kafkas_own_test_vectors() {
        // From Kafka's `UtilsTest.testMurmur2`.
        assert_eq!(murmur2(b"21"), -973_932_308);
        assert_eq!(murmur2(b"foobar"), -790_332_482);
        assert_eq!(murmur2(b"a-little-bit-long-string"), -985_981_536);
        assert_eq!(murmur2(b"a-little-bit-longer-string"), -1_486_304_829);
        assert_eq!(
            murmur2(b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8"),
            -58_897_971
        );
        assert_eq!(murmur2(b"abc"), 479_470_107);
    }

    #[test]
    fn partition_for_is_pinned() {
        // Changing any of these moves visitors between partitions: never.
        assert_eq!(partition_for("foobar", 16), 14);
        // The first visitor of the reference corpus; an independent Python
        // implementation agrees on all three.
        assert_eq!(partition_for("73cb6eb1-a44e-4454-af9f-1a3bbbfebbdb", 8), 5);
        assert_eq!(partition_for("", 4), 1);
        assert_eq!(partition_for("anything", 1), 0);
        assert_eq!(partition_for("anything", 0), 0);
    }
}
