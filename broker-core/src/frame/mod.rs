//! The frame: the wire format that carries a batch of events from a browser
//! to the relay. See `FORMAT.md` beside this file for the spec.
//!
//! STUB: owned by the frame codec work; signatures are the contract.

use crate::event::{Event, Map};
use std::borrow::Cow;

/// The format version this code writes.
pub const FORMAT_VERSION: u8 = 1;

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

/// Limits a decoder enforces.
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
