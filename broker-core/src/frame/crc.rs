//! CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), as zlib and PNG
//! compute it.
//!
//! Two routines compute the same function: [`crc32_small`] is what the
//! encoder links, and on wasm32 (the SDK) it uses a 64-byte table of
//! nibbles (a 1 KiB byte table, which gzip cannot shrink, was a twentieth of
//! what a page loads), natively the 1 KiB byte table (the CLI and tests
//! encode frames twice as fast with it); [`crc32`] is the decoder's, which
//! checks every frame on the relay's hot path: slicing-by-8 (8 KiB of
//! tables) on wasm32 (the relay), and natively `crc32fast`, which folds with
//! carry-less multiplication where the CPU has it (the CLI, benches and
//! tests: a 1 KB frame's check took 2.4k instructions by slicing, about
//! 0.5k folded).

const POLY: u32 = 0xEDB8_8320;

/// The register after `bits` bits of `c` went through the polynomial.
const fn shifted(mut c: u32, bits: u32) -> u32 {
    let mut k = 0;
    while k < bits {
        c = if c & 1 != 0 { POLY ^ (c >> 1) } else { c >> 1 };
        k += 1;
    }
    c
}

const fn make_tables() -> [[u32; 256]; 8] {
    let mut t = [[0u32; 256]; 8];
    let mut i = 0;
    while i < 256 {
        t[0][i] = shifted(i as u32, 8);
        i += 1;
    }
    let mut s = 1;
    while s < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[s - 1][i];
            t[s][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        s += 1;
    }
    t
}

/// The CRC of each 4-bit value: the table for four bits at a time.
#[cfg(any(target_arch = "wasm32", test))]
const fn nibble_table() -> [u32; 16] {
    let mut t = [0u32; 16];
    let mut i = 0;
    while i < 16 {
        t[i] = shifted(i as u32, 4);
        i += 1;
    }
    t
}

#[cfg(any(target_arch = "wasm32", test))]
static NIBBLES: [u32; 16] = nibble_table();
#[cfg(not(target_arch = "wasm32"))]
static TABLE: [u32; 256] = make_tables()[0];
#[cfg(any(target_arch = "wasm32", test))]
static SLICES: [[u32; 256]; 8] = make_tables();

/// CRC-32 of `bytes`, two lookups of a 16-entry table per byte (a frame
/// the SDK seals, 1-2 KB, in microseconds).
#[cfg(target_arch = "wasm32")]
pub(crate) fn crc32_small(bytes: &[u8]) -> u32 {
    crc32_nibbles(bytes)
}

/// CRC-32 of `bytes`, one lookup of a 256-entry table per byte.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn crc32_small(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c = TABLE[((c ^ u32::from(b)) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

/// CRC-32 of `bytes` four bits at a time (what wasm32 builds use; native
/// tests check it too).
#[cfg(any(target_arch = "wasm32", test))]
fn crc32_nibbles(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        c = NIBBLES[(c & 0xf) as usize] ^ (c >> 4);
        c = NIBBLES[(c & 0xf) as usize] ^ (c >> 4);
    }
    !c
}

/// CRC-32 of `bytes`: folded with carry-less multiplication where the CPU
/// has it (`crc32fast` picks at run time), by slicing otherwise.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32fast::hash(bytes)
}

/// CRC-32 of `bytes` by slicing (the relay's wasm has no carry-less
/// multiplication).
#[cfg(target_arch = "wasm32")]
pub(crate) fn crc32(bytes: &[u8]) -> u32 {
    crc32_slices(bytes)
}

/// CRC-32 of `bytes`, eight bytes per step.
#[cfg(any(target_arch = "wasm32", test))]
fn crc32_slices(bytes: &[u8]) -> u32 {
    let t = &SLICES;
    let mut c = !0u32;
    let mut chunks = bytes.chunks_exact(8);
    for ch in &mut chunks {
        let lo = u32::from_le_bytes([ch[0], ch[1], ch[2], ch[3]]) ^ c;
        let hi = u32::from_le_bytes([ch[4], ch[5], ch[6], ch[7]]);
        c = t[7][(lo & 0xff) as usize]
            ^ t[6][((lo >> 8) & 0xff) as usize]
            ^ t[5][((lo >> 16) & 0xff) as usize]
            ^ t[4][(lo >> 24) as usize]
            ^ t[3][(hi & 0xff) as usize]
            ^ t[2][((hi >> 8) & 0xff) as usize]
            ^ t[1][((hi >> 16) & 0xff) as usize]
            ^ t[0][(hi >> 24) as usize];
    }
    for &b in chunks.remainder() {
        c = t[0][((c ^ b as u32) & 0xff) as usize] ^ (c >> 8);
    }
    !c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_standard_check_values() {
        // The CRC-32 "check" value from the catalogue of parametrised CRCs.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_slices(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_small(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32_nibbles(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(
            crc32_small(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    #[test]
    fn the_routines_agree_at_every_length_and_alignment() {
        let data: Vec<u8> = (0..300u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for start in 0..9 {
            for end in start..data.len() {
                assert_eq!(
                    crc32(&data[start..end]),
                    crc32_small(&data[start..end]),
                    "{start}..{end}"
                );
                assert_eq!(
                    crc32(&data[start..end]),
                    crc32_nibbles(&data[start..end]),
                    "{start}..{end}"
                );
                assert_eq!(
                    crc32(&data[start..end]),
                    crc32_slices(&data[start..end]),
                    "{start}..{end}"
                );
            }
        }
    }

    #[test]
    fn folding_agrees_with_slicing_on_frames_of_every_size() {
        // The folded path works 64 bytes at a time past a threshold: sizes
        // around each multiple, up to the largest frame.
        let data: Vec<u8> = (0..(crate::frame::Limits::DEFAULT.max_frame_bytes as u32 + 64))
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
            .collect();
        let mut len = 0;
        while len < data.len() {
            for n in [len, len + 1, len + 63] {
                let n = n.min(data.len());
                for start in [0, 1, 7] {
                    let s = &data[start.min(n)..n];
                    assert_eq!(crc32(s), crc32_slices(s), "{start}..{n}");
                }
            }
            len = if len < 1024 { len + 64 } else { len * 2 };
        }
        assert_eq!(crc32(&data), crc32_slices(&data));
    }
}
