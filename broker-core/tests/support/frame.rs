//! What the frame codec's tests share: an independent CRC and the check
//! that a call failed with exactly one `FrameError`.

#![allow(dead_code)]

use broker_core::frame::FrameError;

/// CRC-32 (IEEE), bitwise: an independent check of the codec's tables.
pub fn crc32(bytes: &[u8]) -> u32 {
    let mut c = !0u32;
    for &b in bytes {
        c ^= u32::from(b);
        for _ in 0..8 {
            c = if c & 1 != 0 {
                0xEDB8_8320 ^ (c >> 1)
            } else {
                c >> 1
            };
        }
    }
    !c
}

/// `result` failed with `expected`, whose stable code and name are `code`
/// and `name`, and which displays as a message.
pub fn check(
    result: Result<impl std::fmt::Debug, FrameError>,
    expected: FrameError,
    code: u16,
    name: &str,
) {
    let err = result.expect_err("must fail");
    assert_eq!(err, expected);
    assert_eq!(err.code(), code);
    assert_eq!(err.name(), name);
    assert!(!err.to_string().is_empty());
}
