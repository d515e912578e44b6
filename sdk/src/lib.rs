#![doc = include_str!("../README.md")]
#![deny(missing_docs)]
// Without the `std` feature (the npm build) nothing in the module's crate
// graph links std, so the panic handler at the end replaces std's, and with
// it the formatting machinery of panic messages.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(target_arch = "wasm32")]
pub mod abi;
#[cfg(target_arch = "wasm32")]
pub mod allocator;
pub mod batch;
pub mod policy;
pub mod props;
pub mod session;

#[cfg(test)]
mod js_constants;

use alloc::borrow::Cow;
use alloc::vec::Vec;
use batch::Batcher;
use broker_core::event::{Event, EventKind, Value};
use broker_core::frame;
pub use props::Props;

#[cfg(target_arch = "wasm32")]
#[global_allocator]
static ALLOC: allocator::SizeClasses = allocator::SizeClasses::new();

/// The SDK's name and version, as frames carry it.
pub const LIBRARY: &str = concat!("eventstream-js/", env!("CARGO_PKG_VERSION"));

/// The state of one SDK instance, driven by the JS layer (`npm/src/index.js`
/// through the `abi` module's exports on wasm).
///
/// Sans-I/O like quinn-proto: the page's code passes `now` and what it
/// read from storage, and pulls sealed frames and decisions out. Everything
/// that touches the browser (listeners, fetch, WebSocket, storage, timers,
/// `CompressionStream`) lives in JS, where it costs no glue and no web-sys.
pub struct Core {
    batch: Batcher,
    session: session::Session,
    taken_sequence: u64,
}

/// What [`Core::context`] takes: the visitor and what the page knows of
/// itself (`broker_core::frame::Context` without the core's own fields).
/// Separate strings rather than one object: reading fields by name was
/// about 2 KB of the module.
#[derive(Debug, Clone, Copy)]
pub struct PageContext<'a> {
    /// The visitor's anonymous id.
    pub anonymous_id: &'a str,
    /// The user id `identify` gave; empty: none.
    pub user_id: &'a str,
    /// `location.origin`.
    pub origin: &'a str,
    /// `document.referrer`.
    pub referrer: &'a str,
    /// `navigator.language`.
    pub locale: &'a str,
    /// The IANA time zone.
    pub timezone: &'a str,
    /// `screen.width`.
    pub screen_width: u32,
    /// `screen.height`.
    pub screen_height: u32,
    /// The landing URL's campaign parameters, an object of strings.
    pub campaign: Props<'a>,
}

/// `push` result: the event is batched.
pub const OK: u32 = 0;
/// `push` result: the event is batched and the call sealed a frame, which
/// waits for [`Core::take`] (as do frames [`Core::context`] sealed). Error
/// codes are below it.
pub const SEALED: u32 = 256;
/// `push` result: `kind` is not the code of an [`EventKind`] (the event is
/// dropped). Distinct from the codes of [`props::PropsError`] (1-3) and
/// [`batch::BatchError`] (10-11).
pub const UNKNOWN_KIND: u32 = 4;
/// [`outcome`]: the relay stored the frame (now or before): remove it.
pub const ACKED: f64 = -1.0;
/// [`outcome`]: the relay refused the frame for good: remove it and report.
pub const REJECTED: f64 = -2.0;
// The JS tells a removal from a wait (ms, never negative) by the sign.
const _: () = assert!(ACKED < 0.0 && REJECTED < 0.0 && ACKED != REJECTED);

impl Core {
    /// A core whose producer id is `hi << 32 | lo` (random per page load),
    /// sealing frames at `max_events` events or `max_bytes` bytes.
    pub fn new(lo: u32, hi: u32, max_events: u32, max_bytes: u32) -> Core {
        Core {
            batch: Batcher::new(
                u64::from(hi) << 32 | u64::from(lo),
                max_events as usize,
                max_bytes as usize,
            ),
            session: session::Session::default(),
            taken_sequence: 0,
        }
    }

    /// Gives this core a new producer id (see [`rehome`](fn@rehome)); the
    /// sequence continues, which a first-seen producer is allowed.
    pub fn set_producer(&mut self, lo: u32, hi: u32) {
        self.batch.set_producer(u64::from(hi) << 32 | u64::from(lo));
    }

    /// Sets the frame context (the session id and library are the core's).
    /// Made to fit any frame: strings longer than the frame limit are cut
    /// (at a character boundary), a screen size past `u16` is 0, and the
    /// campaign keeps its text values, up to the limit on entries. Seals
    /// the open frame first when the visitor (anonymous id or user id)
    /// changes, so a frame holds one visitor. Returns 0, or the code of the
    /// campaign's [`props::PropsError`] (nothing changes).
    pub fn context(&mut self, page: &PageContext<'_>, now: f64) -> u32 {
        let max = frame::Limits::DEFAULT.max_string_bytes;
        let text = |s: &str| fit(s, max);
        let c = match page.campaign.read() {
            Ok(c) => c,
            Err(e) => return e.code(),
        };
        // Text only, so that the context always fits a frame: the batcher
        // refuses events under a context that does not. The map read by
        // reference: consuming it linked its iterator and a drop for each
        // value it left, about 120 bytes of the gzipped module.
        let mut campaign = Vec::new();
        for (k, v) in &c {
            if let Value::Str(v) = v {
                let k = fit(k, max);
                if campaign.len() < frame::Limits::DEFAULT.max_properties
                    && !campaign.iter().any(|(e, _)| *e == k)
                {
                    campaign.push((k, Value::Str(fit(v, max))));
                }
            }
        }
        let anonymous_id = text(page.anonymous_id);
        let user_id = (!page.user_id.is_empty()).then(|| text(page.user_id));
        let c = self.batch.context_mut();
        if c.anonymous_id != anonymous_id || c.user_id != user_id {
            self.batch.cut(ms(now));
        }
        let size = |n: u32| u16::try_from(n).unwrap_or(0);
        *self.batch.context_mut() = frame::Context {
            anonymous_id,
            user_id,
            session_id: self.session.id,
            origin: text(page.origin),
            referrer: text(page.referrer),
            locale: text(page.locale),
            screen_width: size(page.screen_width),
            screen_height: size(page.screen_height),
            timezone: text(page.timezone),
            library: Cow::Borrowed(LIBRARY),
            campaign,
        };
        OK
    }

    /// Restores the session read from storage (id 0: none).
    pub fn restore_session(&mut self, id: f64, last: f64) {
        self.session = session::Session {
            id: ms(id),
            last: ms(last),
        };
        self.batch.context_mut().session_id = self.session.id;
    }

    /// The session id (0 before the first event).
    pub fn session_id(&self) -> f64 {
        self.session.id as f64
    }

    /// Time of the last event, ms.
    pub fn session_last(&self) -> f64 {
        self.session.last as f64
    }

    /// Forgets the session (on `reset()`).
    pub fn end_session(&mut self) {
        self.session = session::Session::default();
    }

    /// Batches one event. `kind` is the wire code of [`EventKind`], `props`
    /// its properties ([`Props::EMPTY`]: none). Returns [`OK`],
    /// [`SEALED`], or the numeric code (below 256) of a [`props::PropsError`]
    /// / [`batch::BatchError`], or [`UNKNOWN_KIND`] (the event is then
    /// dropped and nothing changes).
    pub fn push(&mut self, kind: u8, name: &str, props: Props<'_>, now: f64) -> u32 {
        let now = ms(now);
        let sealed = self.batch.sealed_len();
        let properties = match props.read() {
            Ok(p) => p,
            Err(e) => return e.code(),
        };
        let Some(kind) = EventKind::from_code(kind) else {
            return UNKNOWN_KIND;
        };
        if self.session.touch(now) {
            // A frame holds one session: its context says which.
            self.batch.cut(now);
            self.batch.context_mut().session_id = self.session.id;
        }
        let event = Event {
            kind,
            name: Cow::Borrowed(name),
            timestamp: now,
            properties,
        };
        match self.batch.push(&event, now) {
            // Sealed by this call; a frame sealed by `context` waits for the
            // page's next task.
            Ok(()) if self.batch.sealed_len() > sealed => SEALED,
            Ok(()) => OK,
            Err(e) => e.code(),
        }
    }

    /// Reopens the frame of `sequence`, sealed and taken last, so that the
    /// next events join it (see [`batch::Batcher::reopen`]); 1 if it did.
    /// The JS calls it when that frame waits behind another of its producer
    /// and has not gone out; the frame comes out of [`take`](Core::take)
    /// again, under the same sequence, with the later events.
    pub fn reopen(&mut self, sequence: f64) -> u32 {
        u32::from(self.batch.reopen(ms(sequence)))
    }

    /// Events waiting in the open frame.
    pub fn pending(&self) -> u32 {
        self.batch.pending() as u32
    }

    /// Seals the open frame (flush, timer, unload).
    pub fn cut(&mut self, now: f64) {
        self.batch.cut(ms(now));
    }

    /// The oldest sealed frame not yet taken; its sequence is then
    /// [`taken_sequence`](Core::taken_sequence).
    pub fn take(&mut self) -> Option<Vec<u8>> {
        let s = self.batch.take()?;
        self.taken_sequence = s.sequence;
        Some(s.bytes)
    }

    /// Sequence of the frame [`take`](Core::take) returned last.
    pub fn taken_sequence(&self) -> f64 {
        self.taken_sequence as f64
    }
}

/// What a delivery attempt means: [`ACKED`] (remove), [`REJECTED`] (remove
/// and report), otherwise the ms to wait before the next attempt. See
/// [`policy::outcome`].
pub fn outcome(status: u16, code: &str, attempt: u32, retry_after_ms: f64, rand: f64) -> f64 {
    match policy::outcome(status, code, attempt, retry_after_ms, rand) {
        policy::Outcome::Acked => ACKED,
        policy::Outcome::Rejected => REJECTED,
        policy::Outcome::Retry(ms) => ms,
    }
}

/// A copy of `s` cut to at most `max` bytes, at a character boundary.
fn fit(s: &str, max: usize) -> Cow<'static, str> {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    // Safety: `end` is a character boundary, at most `s.len()`.
    Cow::Owned(unsafe { s.get_unchecked(..end) }.into())
}

/// A JS time (ms, f64) as u64; NaN and negatives are 0.
fn ms(t: f64) -> u64 {
    // `as` saturates: NaN and negatives are 0.
    t as u64
}

/// A panic is a bug (bad input gives codes, never panics): trap without
/// formatting a message. std's handler links `core::fmt` and the messages
/// and locations of every panic site, a few KB of the module.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    core::arch::wasm32::unreachable()
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_core::event::Map;
    use broker_core::frame::Limits;

    fn s(x: &str) -> Value<'static> {
        Value::Str(Cow::Owned(x.into()))
    }

    #[test]
    fn js_times_become_ms() {
        assert_eq!(ms(1_764_000_000_123.9), 1_764_000_000_123);
        assert_eq!((ms(f64::NAN), ms(-5.0), ms(f64::NEG_INFINITY)), (0, 0, 0));
    }

    #[test]
    fn any_context_from_the_page_is_made_to_fit_a_frame() {
        let max = Limits::DEFAULT.max_string_bytes;
        // A referrer one byte over the limit whose cut falls inside "é".
        let long = ["x".repeat(max - 1), "é".into()].concat();
        let mut campaign: Map<'static> = vec![
            (Cow::Borrowed("utm_source"), s("news")),
            (Cow::Borrowed("utm_source"), s("again")),
            (Cow::Borrowed("n"), Value::Int(1)),
        ];
        for i in 0..300 {
            campaign.push((Cow::Owned(format!("k{i}")), s("v")));
        }
        let campaign = Props::encode(&campaign);
        let page = PageContext {
            anonymous_id: "a-1",
            user_id: "",
            origin: "",
            referrer: &long,
            locale: "",
            timezone: "",
            screen_width: 70_000,
            screen_height: 800,
            // Safety: `Props::encode` writes UTF-8.
            campaign: unsafe { Props::from_bytes_unchecked(&campaign) },
        };
        let mut c = Core::new(1, 0, 10, 16_384);
        assert_eq!(c.context(&page, 1.0), OK);
        assert_eq!(c.push(0, "E", Props::EMPTY, 2.0), OK);
        c.cut(3.0);
        let bytes = c.take().unwrap();
        let f = frame::decode(&bytes, &Limits::DEFAULT).unwrap();
        assert_eq!(f.context.referrer, "x".repeat(max - 1));
        assert_eq!((f.context.screen_width, f.context.screen_height), (0, 800));
        assert_eq!(f.context.user_id, None);
        let c = &f.context.campaign;
        assert_eq!(c.len(), Limits::DEFAULT.max_properties);
        assert_eq!((c[0].0.as_ref(), &c[0].1), ("utm_source", &s("news")));
        assert_eq!(c[1].0, "k0");
    }
}
