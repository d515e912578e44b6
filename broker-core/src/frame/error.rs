//! Why a frame could not be decoded, inflated or built.

use alloc::string::String;

/// Why a frame could not be decoded, inflated, compressed or built.
///
/// Every variant has a stable numeric [`code`](FrameError::code) and a
/// snake_case [`name`](FrameError::name) (the table in `FORMAT.md`); codes
/// are never reused for another meaning. Offsets are byte offsets into the
/// frame given to the failing function (for [`decode`](super::decode) of an
/// inflated frame: into the inflated frame).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The input ended inside a fixed-size field or a varint.
    #[error("truncated at byte {offset}: need {need} more bytes, have {have}")]
    Truncated {
        /// Where the field starts.
        offset: usize,
        /// Bytes the field needs (for a varint: at least one more).
        need: usize,
        /// Bytes left.
        have: usize,
    },
    /// Bytes are left over after the last event.
    #[error("{extra} trailing bytes at byte {offset}")]
    TrailingBytes {
        /// Where the extra bytes start.
        offset: usize,
        /// How many there are.
        extra: usize,
    },
    /// The version byte is not one this decoder knows.
    #[error("unknown frame version {version}")]
    UnknownVersion {
        /// The version byte.
        version: u8,
    },
    /// The flags byte has bits this decoder does not know.
    #[error("unknown flag bits {flags:#04x}")]
    UnknownFlags {
        /// The whole flags byte.
        flags: u8,
    },
    /// A varint is over-long (a trailing zero byte) or overflows its type.
    #[error("bad varint at byte {offset}")]
    BadVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A length or count prefix claims more than the bytes left could hold.
    #[error("length {len} at byte {offset} is past the end: {have} bytes left")]
    LengthPastEnd {
        /// Where the prefix starts.
        offset: usize,
        /// The claimed length (strings: bytes; lists: items).
        len: u64,
        /// Bytes left after the prefix.
        have: usize,
    },
    /// Lists and maps nest deeper than `max_depth`.
    #[error("nesting deeper than {max} at byte {offset}")]
    TooDeep {
        /// Where the too-deep list or map starts.
        offset: usize,
        /// The limit.
        max: usize,
    },
    /// More events than `max_events`.
    #[error("{count} events, more than the limit of {max}")]
    TooManyEvents {
        /// Events in the frame.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// A map or list has more entries than `max_properties`.
    #[error("{count} entries at byte {offset}, more than the limit of {max}")]
    TooManyProperties {
        /// Where the count starts.
        offset: usize,
        /// The count.
        count: u64,
        /// The limit.
        max: usize,
    },
    /// A string is longer than `max_string_bytes`.
    #[error("string of {len} bytes at byte {offset}, more than the limit of {max}")]
    StringTooLong {
        /// Where the string's length starts.
        offset: usize,
        /// Its length in bytes.
        len: u64,
        /// The limit.
        max: usize,
    },
    /// The frame is larger than the limit that applies to it.
    #[error("frame of {len} bytes, more than the limit of {max}")]
    FrameTooLarge {
        /// The frame's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A compressed frame inflates past `max_inflated_bytes`.
    #[error("frame inflates past the limit of {max} bytes")]
    InflatedTooLarge {
        /// The limit.
        max: usize,
    },
    /// The CRC-32 at the end does not match the bytes before it.
    #[error("checksum mismatch: frame says {expected:#010x}, bytes give {actual:#010x}")]
    Checksum {
        /// The CRC the frame carries.
        expected: u32,
        /// The CRC of the bytes received.
        actual: u32,
    },
    /// A string is not valid UTF-8.
    #[error("invalid UTF-8 in the string at byte {offset}")]
    BadUtf8 {
        /// Where the string's bytes start.
        offset: usize,
    },
    /// A string reference points past the string table.
    #[error("string index {index} at byte {offset}, but the table has {count} strings")]
    BadStringIndex {
        /// Where the reference starts.
        offset: usize,
        /// The index.
        index: u32,
        /// Strings in the table.
        count: usize,
    },
    /// An event kind code this version does not know.
    #[error("unknown event kind {code} at byte {offset}")]
    UnknownEventKind {
        /// Where the kind byte is.
        offset: usize,
        /// The code.
        code: u8,
    },
    /// A value tag this version does not know.
    #[error("unknown value tag {tag} at byte {offset}")]
    UnknownValueTag {
        /// Where the tag is.
        offset: usize,
        /// The tag byte.
        tag: u8,
    },
    /// A key appears twice in one map.
    #[error("duplicate key {key:?} at byte {offset}")]
    DuplicateKey {
        /// Where the second occurrence's key reference starts.
        offset: usize,
        /// The key.
        key: String,
    },
    /// An 8-byte float is NaN or infinite (JSON cannot carry them).
    #[error("NaN or infinite float at byte {offset}")]
    NonFiniteFloat {
        /// Where the float's tag is.
        offset: usize,
    },
    /// The frame is compressed: call [`inflate`](super::inflate) first (or,
    /// for [`compress`](super::compress), it already is).
    #[error("the frame is compressed; inflate it first")]
    Compressed,
    /// The compressed payload is not a valid deflate-raw stream.
    #[error("bad deflate stream: {reason}")]
    Deflate {
        /// What the inflater reported.
        reason: &'static str,
    },
    /// The builder cannot take the event: the frame would exceed
    /// `max_frame_bytes` or `max_events`. Finish this frame and push the
    /// event into a new one.
    #[error("frame full: {events} events, {len} bytes with the event, limit {max} bytes")]
    Full {
        /// Events already in the builder.
        events: usize,
        /// Upper bound of the frame's size with the event.
        len: usize,
        /// `max_frame_bytes`.
        max: usize,
    },
    /// A string-table slice is malformed: positions not increasing or past
    /// the table, a source that is itself a slice, or bytes outside the
    /// source or not on character boundaries.
    #[error("bad string slice at byte {offset}")]
    BadSlice {
        /// Where the slice starts.
        offset: usize,
    },
    /// A bundle (`frame::bundle`) is larger, as received, than its limit
    /// (`max_inflated_bytes`).
    #[error("bundle of {len} bytes, more than the limit of {max}")]
    BundleTooLarge {
        /// The bundle's length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// A bundle holds no frame, or more than its limit.
    #[error("a bundle holds 1 to {max} frames, this one {count}")]
    BundleFrames {
        /// The frames found (for too many: the limit plus one, where the
        /// split stopped).
        count: usize,
        /// The limit ([`MAX_BUNDLE_FRAMES`](super::bundle::MAX_BUNDLE_FRAMES)).
        max: usize,
    },
    /// The event (or context) cannot be encoded within the limits a decoder
    /// enforces, so no frame may carry it.
    #[error("cannot encode: {reason}")]
    Unencodable {
        /// What is wrong.
        reason: Unencodable,
    },
}

/// Why [`FrameError::Unencodable`]: which limit of the format an event or
/// a context breaks. An enum rather than its text, so that a program that
/// never prints the error (the browser SDK) carries no text for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unencodable {
    /// A float is NaN or infinite (JSON cannot carry them).
    NonFiniteFloat,
    /// Lists and maps nest deeper than `max_depth`.
    TooDeep,
    /// A map or list has more than `max_properties` entries.
    TooManyEntries,
    /// A string is longer than `max_string_bytes`.
    StringTooLong,
    /// A map has a repeated key.
    DuplicateKey,
}

impl Unencodable {
    /// The reason in words, as the error prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Unencodable::NonFiniteFloat => "float is NaN or infinite",
            Unencodable::TooDeep => "lists and maps nest deeper than max_depth",
            Unencodable::TooManyEntries => "a map or list has more than max_properties entries",
            Unencodable::StringTooLong => "a string is longer than max_string_bytes",
            Unencodable::DuplicateKey => "a map has a repeated key",
        }
    }
}

impl From<Unencodable> for FrameError {
    fn from(reason: Unencodable) -> FrameError {
        FrameError::Unencodable { reason }
    }
}

impl core::fmt::Display for Unencodable {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FrameError {
    /// The stable numeric code (see `FORMAT.md`); never reused.
    pub fn code(&self) -> u16 {
        self.code_and_name().0
    }

    /// The stable snake_case name (`truncated`, `checksum`, ...).
    pub fn name(&self) -> &'static str {
        self.code_and_name().1
    }

    /// Each variant's code and name, side by side so that they are assigned
    /// together.
    fn code_and_name(&self) -> (u16, &'static str) {
        match self {
            FrameError::Truncated { .. } => (1, "truncated"),
            FrameError::TrailingBytes { .. } => (2, "trailing_bytes"),
            FrameError::UnknownVersion { .. } => (3, "unknown_version"),
            FrameError::UnknownFlags { .. } => (4, "unknown_flags"),
            FrameError::BadVarint { .. } => (5, "bad_varint"),
            FrameError::LengthPastEnd { .. } => (6, "length_past_end"),
            FrameError::TooDeep { .. } => (7, "too_deep"),
            FrameError::TooManyEvents { .. } => (8, "too_many_events"),
            FrameError::TooManyProperties { .. } => (9, "too_many_properties"),
            FrameError::StringTooLong { .. } => (10, "string_too_long"),
            FrameError::FrameTooLarge { .. } => (11, "frame_too_large"),
            FrameError::InflatedTooLarge { .. } => (12, "inflated_too_large"),
            FrameError::Checksum { .. } => (13, "checksum"),
            FrameError::BadUtf8 { .. } => (14, "bad_utf8"),
            FrameError::BadStringIndex { .. } => (15, "bad_string_index"),
            FrameError::UnknownEventKind { .. } => (16, "unknown_event_kind"),
            FrameError::UnknownValueTag { .. } => (17, "unknown_value_tag"),
            FrameError::DuplicateKey { .. } => (18, "duplicate_key"),
            FrameError::NonFiniteFloat { .. } => (19, "non_finite_float"),
            FrameError::Compressed => (20, "compressed"),
            FrameError::Deflate { .. } => (21, "deflate"),
            FrameError::Full { .. } => (22, "full"),
            FrameError::Unencodable { .. } => (23, "unencodable"),
            FrameError::BadSlice { .. } => (24, "bad_slice"),
            FrameError::BundleTooLarge { .. } => (25, "bundle_too_large"),
            FrameError::BundleFrames { .. } => (26, "bundle_frames"),
        }
    }
}
