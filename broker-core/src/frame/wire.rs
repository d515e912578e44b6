//! The primitives of the payload, exactly postcard's: LEB128 varints,
//! zigzag for signed numbers; plus the value tags.

use alloc::vec::Vec;

/// Value tag: JSON `null`.
pub(crate) const TAG_NULL: u8 = 0;
/// Value tag: `false`.
pub(crate) const TAG_FALSE: u8 = 1;
/// Value tag: `true`.
pub(crate) const TAG_TRUE: u8 = 2;
/// Value tag: an integer, zigzag varint follows.
pub(crate) const TAG_INT: u8 = 3;
/// Value tag: a float, 8 bytes little-endian follow.
pub(crate) const TAG_FLOAT: u8 = 4;
/// Value tag: a string, varint index into the string table follows.
pub(crate) const TAG_STR: u8 = 5;
/// Value tag: a list, varint count and the values follow.
pub(crate) const TAG_LIST: u8 = 6;
/// Value tag: a map, varint count and (key index, value) pairs follow.
pub(crate) const TAG_MAP: u8 = 7;
/// Value tags 8..=15: a float that is exactly `mantissa / 10^(tag - 8)`;
/// the mantissa follows as a zigzag varint.
pub(crate) const TAG_DECIMAL: u8 = 8;
/// Number of decimal scales (0..=7).
pub(crate) const DECIMAL_SCALES: u8 = 8;
/// Value tags 16..=47: the integer `tag - 16`, nothing follows.
pub(crate) const TAG_SMALL_INT: u8 = 16;
/// Number of small integers packed in the tag.
pub(crate) const SMALL_INTS: u8 = 32;
/// Value tags 48..=127: the string with index `tag - 48`, nothing follows.
pub(crate) const TAG_SMALL_STR: u8 = 48;
/// Number of string indices packed in the tag.
pub(crate) const SMALL_STRS: u8 = 80;

/// The static dictionary: strings every frame may reference without
/// carrying them, as references `0..STATIC_STRINGS.len()` (frame strings
/// follow). Segment-spec property keys, event names and currencies, sorted
/// by bytes (the encoder binary-searches). Frozen for format version 1:
/// changing it changes the meaning of frames.
pub(crate) static STATIC_STRINGS: [&str; 62] = STATIC_LIST;

const STATIC_LIST: [&str; 62] = [
    "",
    "Cart Viewed",
    "Checkout Started",
    "EUR",
    "GBP",
    "Order Completed",
    "Product Added",
    "Product Clicked",
    "Product List Viewed",
    "Product Removed",
    "Product Viewed",
    "Products Searched",
    "Signed In",
    "Signed Up",
    "USD",
    "brand",
    "cart_id",
    "category",
    "checkout_id",
    "country",
    "coupon",
    "currency",
    "discount",
    "email",
    "fields",
    "first_name",
    "form_id",
    "href",
    "id",
    "image_url",
    "label",
    "last_name",
    "list_id",
    "name",
    "newsletter",
    "order_id",
    "path",
    "plan",
    "position",
    "price",
    "product_id",
    "products",
    "quantity",
    "query",
    "referrer",
    "revenue",
    "search",
    "selector",
    "shipping",
    "sku",
    "tax",
    "text",
    "title",
    "total",
    "url",
    "utm_campaign",
    "utm_content",
    "utm_medium",
    "utm_source",
    "utm_term",
    "value",
    "variant",
];

/// References below this are to [`STATIC_STRINGS`]; `STATIC_COUNT + i`
/// is the frame's string `i`.
pub(crate) const STATIC_COUNT: u32 = STATIC_STRINGS.len() as u32;

// Static references and the first frame strings must stay one-byte varints.
const _: () = assert!(STATIC_COUNT < 64);

/// The static strings' bytes back to back, in order, for [`static_ref`]:
/// the encoder then carries these bytes and [`STATIC_ENDS`] instead of a
/// table of 62 pointers and lengths (the browser SDK's wasm is a product
/// figure, and pointer tables are what gzip shrinks least).
static STATIC_BYTES: [u8; STATIC_BYTES_LEN] = {
    let mut out = [0; STATIC_BYTES_LEN];
    let (mut i, mut at) = (0, 0);
    while i < STATIC_LIST.len() {
        let s = STATIC_LIST[i].as_bytes();
        let mut j = 0;
        while j < s.len() {
            out[at] = s[j];
            at += 1;
            j += 1;
        }
        i += 1;
    }
    out
};

const STATIC_BYTES_LEN: usize = {
    let (mut i, mut n) = (0, 0);
    while i < STATIC_LIST.len() {
        n += STATIC_LIST[i].len();
        i += 1;
    }
    n
};

/// The end of each static string in [`STATIC_BYTES`].
static STATIC_ENDS: [u16; 62] = {
    let mut ends = [0; 62];
    let (mut i, mut at) = (0, 0);
    while i < STATIC_LIST.len() {
        at += STATIC_LIST[i].len();
        ends[i] = at as u16;
        i += 1;
    }
    ends
};

/// The static string with these bytes, as a reference.
#[inline]
pub(crate) fn static_ref(s: &[u8]) -> Option<u32> {
    let (mut lo, mut hi) = (0, STATIC_ENDS.len());
    while lo < hi {
        let mid = (lo + hi) / 2;
        let start = match mid.checked_sub(1) {
            Some(p) => STATIC_ENDS.get(p).map_or(0, |&e| e as usize),
            None => 0,
        };
        let end = STATIC_ENDS.get(mid).map_or(0, |&e| e as usize);
        match STATIC_BYTES.get(start..end).unwrap_or_default().cmp(s) {
            core::cmp::Ordering::Less => lo = mid + 1,
            core::cmp::Ordering::Greater => hi = mid,
            core::cmp::Ordering::Equal => return Some(mid as u32),
        }
    }
    None
}

/// Powers of ten exactly representable as f64, one per decimal scale.
pub(crate) const POW10: [f64; DECIMAL_SCALES as usize] =
    [1.0, 10.0, 100.0, 1e3, 1e4, 1e5, 1e6, 1e7];

/// Zigzag-encodes a signed number (0, -1, 1, -2 ... -> 0, 1, 2, 3 ...).
#[inline]
pub(crate) fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

/// Inverse of [`zigzag`].
#[inline]
pub(crate) fn unzigzag(v: u64) -> i64 {
    ((v >> 1) as i64) ^ -((v & 1) as i64)
}

/// Bytes a LEB128 varint of `v` takes.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per 7 significant bits, at least one byte.
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `v` as a LEB128 varint.
#[inline]
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Reads a LEB128 varint of at most 10 bytes from the front of `r`.
#[cfg(feature = "std")]
pub(crate) fn take_varint(r: &mut &[u8]) -> Option<u64> {
    let mut n = 0u64;
    for i in 0..10 {
        let (&b, rest) = r.split_first()?;
        *r = rest;
        n |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some(n);
        }
    }
    None
}

/// The float as `(scale, mantissa)` when it is exactly `mantissa / 10^scale`
/// for a scale in 0..=7 and a mantissa of at most 2^53, the decimal form a
/// JSON number like `89.58` had; `None` otherwise (and for -0.0, which the
/// decimal form cannot carry).
pub(crate) fn as_decimal(f: f64) -> Option<(u8, i64)> {
    const LIMIT: f64 = 9_007_199_254_740_992.0; // 2^53
    if !f.is_finite() || (f == 0.0 && f.is_sign_negative()) {
        return None;
    }
    for (scale, p) in POW10.iter().enumerate() {
        let m = round(f * p);
        if m.abs() > LIMIT {
            return None;
        }
        // The decoder computes exactly this division; accept only when it
        // gives the same bits back.
        if (m / p).to_bits() == f.to_bits() {
            return Some((scale as u8, m as i64));
        }
    }
    None
}

/// `x.round()` (half away from zero, sign kept) without std, which the
/// SDK's wasm does not link; bit-identical to it, so both ends agree.
fn round(x: f64) -> f64 {
    // 2^52: a float this large (or infinite) has no fraction.
    const INTEGRAL: f64 = 4_503_599_627_370_496.0;
    if x.is_nan() || x.abs() >= INTEGRAL {
        return x;
    }
    // Truncation, exact below 2^52; so is the fraction (Sterbenz).
    let t = x as i64 as f64;
    let fraction = x - t;
    let r = if fraction >= 0.5 {
        t + 1.0
    } else if fraction <= -0.5 {
        t - 1.0
    } else {
        t
    };
    r.copysign(x)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn static_strings_are_sorted_unique_and_one_byte_references() {
        assert!(STATIC_STRINGS
            .windows(2)
            .all(|w| w[0].as_bytes() < w[1].as_bytes()));
        assert_eq!(static_ref(b""), Some(0));
        assert_eq!(static_ref(b"variant"), Some(STATIC_COUNT - 1));
        assert_eq!(static_ref(b"Variant"), None);
        // The packed bytes give each string its own index, and nothing else
        // (prefixes, extensions, neighbours run together) is found.
        for (i, s) in STATIC_STRINGS.iter().enumerate() {
            assert_eq!(static_ref(s.as_bytes()), Some(i as u32), "{s}");
            for probe in [
                &s[..s.len().saturating_sub(1)],
                &format!("{s}x"),
                &format!("x{s}"),
            ] {
                let expected = STATIC_STRINGS.iter().position(|t| *t == probe);
                assert_eq!(
                    static_ref(probe.as_bytes()),
                    expected.map(|i| i as u32),
                    "{probe}"
                );
            }
        }
        assert_eq!(static_ref(b"EURGBP"), None);
    }

    #[test]
    fn zigzag_matches_postcard() {
        for (v, z) in [
            (0i64, 0u64),
            (-1, 1),
            (1, 2),
            (-2, 3),
            (i64::MAX, u64::MAX - 1),
            (i64::MIN, u64::MAX),
        ] {
            assert_eq!(zigzag(v), z);
            assert_eq!(unzigzag(z), v);
        }
    }

    #[test]
    fn varint_len_is_exact() {
        for v in [0u64, 1, 127, 128, 16_383, 16_384, u32::MAX as u64, u64::MAX] {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_len(v), "{v}");
        }
        assert_eq!(varint_len(u64::MAX), 10);
    }

    #[test]
    fn round_is_std_round_bit_for_bit() {
        let mut xs = vec![
            0.0,
            -0.0,
            0.5,
            -0.5,
            1.5,
            2.5,
            -2.5,
            0.49999999999999994,
            -0.49999999999999994,
            4_503_599_627_370_495.5,
            4_503_599_627_370_496.0,
            -4_503_599_627_370_497.0,
            9_007_199_254_740_993.0,
            1e300,
            f64::MIN_POSITIVE,
            f64::INFINITY,
            f64::NEG_INFINITY,
        ];
        // A spread over every magnitude, both signs, and values near halves.
        let mut bits = 0x9E37_79B9_7F4A_7C15u64;
        for _ in 0..100_000 {
            bits ^= bits << 13;
            bits ^= bits >> 7;
            bits ^= bits << 17;
            let x = f64::from_bits(bits);
            xs.push(x);
            xs.push((bits % 2_000_001) as f64 / 1000.0 - 1000.0);
            xs.push((bits % 20_001) as f64 * 0.5 - 5000.0);
        }
        for x in xs.into_iter().filter(|x| !x.is_nan()) {
            assert_eq!(round(x).to_bits(), x.round().to_bits(), "{x:e}");
        }
        assert!(round(f64::NAN).is_nan());
    }

    #[test]
    fn decimals_are_found_only_when_exact() {
        assert_eq!(as_decimal(89.58), Some((2, 8958)));
        assert_eq!(as_decimal(3.0), Some((0, 3)));
        assert_eq!(as_decimal(-0.5), Some((1, -5)));
        assert_eq!(as_decimal(0.0), Some((0, 0)));
        assert_eq!(as_decimal(-0.0), None);
        assert_eq!(as_decimal(0.1 + 0.2), None);
        assert_eq!(as_decimal(1e300), None);
        assert_eq!(as_decimal(f64::NAN), None);
        assert_eq!(as_decimal(f64::MIN_POSITIVE), None);
    }
}
