//! The frame: the wire format that carries a batch of events from a browser
//! to the relay.
//!
//! The SDK builds frames with [`FrameBuilder`] (and, to compress in the
//! browser, [`payload`] + [`seal_compressed`]; to move a frame that cannot
//! be stored to a fresh producer id, [`rehome`]); the relay checks and
//! decodes them with [`peek`], [`inflate`] and [`decode`]:
//!
//! ```
//! use broker_core::frame::{self, Context, FrameBuilder, Limits};
//! use broker_core::{Event, EventKind, Value};
//! use std::borrow::Cow;
//!
//! let context = Context { anonymous_id: "a-1".into(), ..Context::default() };
//! let mut b = FrameBuilder::new(&context);
//! b.push(&Event {
//!     kind: EventKind::Track,
//!     name: "Product Viewed".into(),
//!     timestamp: 1_764_000_017_274,
//!     properties: vec![(Cow::Borrowed("price"), Value::Float(89.58))],
//! })?;
//! let bytes = b.finish(7, 0, 1_764_000_018_000);
//!
//! let plain = frame::inflate(&bytes, &Limits::DEFAULT)?; // CRC, size, zip-bomb checks
//! let f = frame::decode(&plain, &Limits::DEFAULT)?;      // strings borrow from `plain`
//! assert_eq!(f.events[0].properties[0].1, Value::Float(89.58));
//! # Ok::<(), frame::FrameError>(())
//! ```
//!
//! The wire format, its error codes and its evolution rules follow.
//!
#![doc = include_str!("FORMAT.md")]

pub mod bundle;
mod compress;
mod crc;
mod decode;
mod encode;
mod error;
#[doc(hidden)]
pub mod fuzz;
#[cfg(test)]
mod postcard_layout;
mod rehome;
mod slices;
#[cfg(test)]
mod tests;
pub(crate) mod wire;

pub use compress::{compress, inflate, payload, seal_compressed, DEFLATE_LEVEL};
pub use decode::{decode, peek};
#[cfg(feature = "std")]
pub(crate) use decode::{decode_reusing, Reuse};
pub use encode::{encode, FrameBuilder};
pub use error::{FrameError, Unencodable};
pub use rehome::rehome;

use crate::event::{Event, Map};
use alloc::borrow::Cow;
use alloc::vec::Vec;

/// The format version this code writes and reads (the first byte).
pub const FORMAT_VERSION: u8 = 1;

/// The bits of the flags byte (the second byte).
pub mod flags {
    /// The payload is deflate-raw (RFC 1951) compressed.
    pub const DEFLATE: u8 = 0x01;
}

/// What [`peek`] reads without decoding the payload or checking the CRC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// The version byte.
    pub version: u8,
    /// The flags byte (see [`flags`]).
    pub flags: u8,
    /// The sending SDK instance.
    pub producer_id: u64,
    /// The frame's number for its producer.
    pub sequence: u64,
}

/// What is the same for every event of a batch.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Context<'a> {
    /// The visitor's anonymous id (also the partition key).
    pub anonymous_id: Cow<'a, str>,
    /// The user id from `identify`, if any.
    pub user_id: Option<Cow<'a, str>>,
    /// The SDK's session number (starts a new one after 30 minutes idle).
    pub session_id: u64,
    /// `location.origin` of the page.
    pub origin: Cow<'a, str>,
    /// `document.referrer` at load (may be empty).
    pub referrer: Cow<'a, str>,
    /// `navigator.language`.
    pub locale: Cow<'a, str>,
    /// Screen width in CSS pixels.
    pub screen_width: u16,
    /// Screen height in CSS pixels.
    pub screen_height: u16,
    /// IANA time zone name (`Europe/Berlin`).
    pub timezone: Cow<'a, str>,
    /// The SDK's name and version (`eventstream-js/0.1.0`).
    pub library: Cow<'a, str>,
    /// Campaign parameters from the landing URL (`utm_source` ...).
    pub campaign: Map<'a>,
}

impl Context<'_> {
    /// Copies every borrowed string so the context outlives its source bytes.
    pub fn into_owned(self) -> Context<'static> {
        let owned = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        Context {
            anonymous_id: owned(self.anonymous_id),
            user_id: self.user_id.map(owned),
            session_id: self.session_id,
            origin: owned(self.origin),
            referrer: owned(self.referrer),
            locale: owned(self.locale),
            screen_width: self.screen_width,
            screen_height: self.screen_height,
            timezone: owned(self.timezone),
            library: owned(self.library),
            campaign: self
                .campaign
                .into_iter()
                .map(|(k, v)| (owned(k), v.into_owned()))
                .collect(),
        }
    }
}

/// One decoded frame.
#[derive(Debug, Clone, PartialEq)]
pub struct Frame<'a> {
    /// Random id of the sending SDK instance; with `sequence` it makes
    /// retries idempotent.
    pub producer_id: u64,
    /// Dense per producer: 0, 1, 2, ...
    pub sequence: u64,
    /// When the SDK sealed the frame, ms since the epoch.
    pub sent_at: u64,
    /// Shared context.
    pub context: Context<'a>,
    /// The events, in the order they happened.
    pub events: Vec<Event<'a>>,
}

/// Limits a decoder enforces and the builder keeps to.
///
/// The builder never produces a frame a decoder with the same limits
/// rejects. `max_depth` counts nested lists and maps inside a property map
/// (`{"a":[1]}` has depth 1); the decoder never recurses deeper than 64
/// whatever it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Most bytes in a frame as received.
    pub max_frame_bytes: usize,
    /// Most bytes of a compressed frame once inflated.
    pub max_inflated_bytes: usize,
    /// Most events in one frame.
    pub max_events: usize,
    /// Most entries in one property map or list.
    pub max_properties: usize,
    /// Deepest nesting of lists and maps.
    pub max_depth: usize,
    /// Most bytes in one string.
    pub max_string_bytes: usize,
}

impl Limits {
    /// The defaults: 64 KiB frames, 1 MiB inflated, 1,000 events, 256
    /// entries per map or list, depth 8, 8 KiB strings.
    pub const DEFAULT: Limits = Limits {
        max_frame_bytes: 65_536,
        max_inflated_bytes: 1_048_576,
        max_events: 1_000,
        max_properties: 256,
        max_depth: 8,
        max_string_bytes: 8_192,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Limits::DEFAULT
    }
}
