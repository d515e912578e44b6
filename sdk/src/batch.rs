//! Batching: events of one visitor go into a frame until it reaches the
//! page's thresholds (events or bytes) or the page flushes it; sealed frames
//! wait for the JS layer to store and send them.
//!
//! A sealed frame that is still waiting for its turn (an earlier frame of
//! the producer is in flight or backing off) can be reopened: later events
//! then join it, up to the relay's limits, instead of starting frames of
//! their own. One producer sends one frame at a time, so a slow relay
//! delivers events per frame, not frames: merging what waits keeps a slow
//! but healthy relay from filling the persistent queue.

use alloc::vec::Vec;
use broker_core::event::Event;
use broker_core::frame::{Context, FrameBuilder, FrameError, Limits};

/// Why an event could not be batched.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BatchError {
    /// The event is too large for any frame under the configured limits.
    #[error("event of about {len} bytes cannot fit a frame of {max} bytes")]
    EventTooLarge {
        /// Bytes the frame would have had with the event alone.
        len: usize,
        /// The frame limit.
        max: usize,
    },
    /// No frame can carry the event (NaN, repeated key, too deep, too long).
    /// Without the encoder's reason: the page gets the code (11), and the
    /// reasons' text was a hundred bytes of the gzipped module.
    #[error("event cannot be encoded")]
    Unencodable,
}

impl BatchError {
    /// Stable numeric code (never reused; distinct from `PropsError`'s).
    pub fn code(&self) -> u32 {
        match self {
            BatchError::EventTooLarge { .. } => 10,
            BatchError::Unencodable => 11,
        }
    }
}

/// One sealed frame, ready to be queued.
#[derive(Debug, Clone, PartialEq)]
pub struct Sealed {
    /// Its sequence number (the producer is the batcher's).
    pub sequence: u64,
    /// The plain (uncompressed) frame.
    pub bytes: Vec<u8>,
}

/// What the relay accepts: no frame passes it, reopened or not. A
/// constant rather than a field: the checks inlined from the encoder fold.
const LIMITS: Limits = Limits::DEFAULT;

/// The batcher of one SDK instance (one producer).
#[derive(Debug)]
pub struct Batcher {
    producer: u64,
    next_sequence: u64,
    /// Seal after this many events added since the frame was (re)opened.
    flush_events: usize,
    /// Seal once this many bytes were added since the frame was (re)opened.
    flush_bytes: usize,
    context: Context<'static>,
    open: Option<FrameBuilder>,
    /// Events and encoded bytes of the open frame when it was reopened
    /// (zero for a fresh one): the thresholds count what came after.
    base: (usize, usize),
    /// The builder of the frame taken last and its sequence, kept so that
    /// [`reopen`](Batcher::reopen) can add to it; dropped when the context
    /// or the producer changes (a frame holds one visitor and session).
    last: Option<(u64, FrameBuilder)>,
    /// Counts context and producer changes: a frame sealed under an older
    /// one is never reopened.
    epoch: u32,
    /// Sealed frames not taken yet, newest first (so that the oldest is
    /// popped): builders, finished by [`take`](Batcher::take), so that
    /// sealing in the page's own call (`identify` changes the visitor)
    /// costs nothing. A Vec, not a VecDeque: there are rarely more than
    /// two (the JS takes them in the same or the next task), and the
    /// deque's code was about 130 bytes of the gzipped module, where
    /// `insert(0, ..)` costs its (unreachable) panic message.
    sealed: Vec<Pending>,
}

/// A sealed frame not taken yet.
#[derive(Debug)]
struct Pending {
    sequence: u64,
    builder: FrameBuilder,
    sent_at: u64,
    epoch: u32,
}

impl Batcher {
    /// A batcher for `producer` that seals a frame once `max_events` events
    /// or `max_bytes` bytes were added to it (both clamped to the relay's
    /// limits; a frame passes `max_bytes` by at most its last event and
    /// never passes the relay's `max_frame_bytes`).
    pub fn new(producer: u64, max_events: usize, max_bytes: usize) -> Batcher {
        let limits = LIMITS;
        Batcher {
            producer,
            next_sequence: 0,
            flush_events: max_events.clamp(1, limits.max_events),
            flush_bytes: max_bytes.clamp(1024, limits.max_frame_bytes),
            context: Context::default(),
            open: None,
            base: (0, 0),
            last: None,
            epoch: 0,
            sealed: Vec::new(),
        }
    }

    /// The producer id.
    pub fn producer(&self) -> u64 {
        self.producer
    }

    /// Changes the producer id of the frames sealed from now on.
    pub fn set_producer(&mut self, producer: u64) {
        self.producer = producer;
        self.changed();
    }

    fn changed(&mut self) {
        self.last = None;
        self.epoch = self.epoch.wrapping_add(1);
    }

    /// The context new frames get. The last sealed frame can no longer be
    /// reopened: its context may differ. A context that breaks the limits
    /// (a string over `max_string_bytes`, ...) makes [`push`](Batcher::push)
    /// refuse events with [`BatchError::Unencodable`] until it is fixed.
    pub fn context_mut(&mut self) -> &mut Context<'static> {
        self.changed();
        &mut self.context
    }

    /// Reopens the frame sealed last, of sequence `sequence`, so that the
    /// next events join it; it is sealed again under the same sequence. Only
    /// when nothing is open, it is the newest sealed frame of this producer
    /// and taken, and the context has not changed since. The caller
    /// promises the frame has not gone out (it waits behind another).
    pub fn reopen(&mut self, sequence: u64) -> bool {
        if self.open.is_some() || !self.sealed.is_empty() || sequence + 1 != self.next_sequence {
            return false;
        }
        match self.last.take() {
            Some((seq, b)) if seq == sequence => {
                self.next_sequence = seq;
                self.base = (b.len(), b.encoded_len());
                self.open = Some(b);
                true
            }
            _ => false,
        }
    }

    /// Seals the open frame (if any) so that context changes apply only to
    /// later events: a frame holds events of one visitor and one session.
    pub fn cut(&mut self, now: u64) {
        self.base = (0, 0);
        if let Some(b) = self.open.take() {
            if b.is_empty() {
                return;
            }
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            self.last = None;
            self.sealed.insert(
                0,
                Pending {
                    sequence,
                    builder: b,
                    sent_at: now,
                    epoch: self.epoch,
                },
            );
        }
    }

    /// Events in the open frame (a reopened frame's earlier events count).
    pub fn pending(&self) -> usize {
        self.open.as_ref().map_or(0, FrameBuilder::len)
    }

    /// Adds an event, sealing the open frame first when it is full, and
    /// after the event when it reached a threshold.
    pub fn push(&mut self, event: &Event<'_>, now: u64) -> Result<(), BatchError> {
        for _ in 0..2 {
            // `try_with_limits`, not `with_limits`: the context that
            // `Core::context` sets always fits (see there), and the fitting
            // fallback for any other context is about 1.2 KB of the module.
            // A context that does not fit refuses the event instead.
            let b = match self.open.take() {
                Some(b) => b,
                None => FrameBuilder::try_with_limits(&self.context, &LIMITS).map_err(map_err)?,
            };
            let b = self.open.insert(b);
            match b.push(event) {
                Ok(()) => {
                    let (events, bytes) = self.base;
                    if b.len() - events >= self.flush_events
                        || b.encoded_len() - bytes >= self.flush_bytes
                    {
                        self.cut(now);
                    }
                    return Ok(());
                }
                Err(FrameError::Full { .. }) => self.cut(now),
                Err(e) => return Err(map_err(e)),
            }
        }
        // A fresh frame said "full": cannot happen, as a fresh frame reports
        // `FrameTooLarge` instead; refuse rather than loop.
        Err(BatchError::EventTooLarge {
            len: 0,
            max: LIMITS.max_frame_bytes,
        })
    }

    /// True when sealed frames wait for [`take`](Batcher::take).
    pub fn has_sealed(&self) -> bool {
        !self.sealed.is_empty()
    }

    /// Sealed frames not taken yet.
    pub fn sealed_len(&self) -> usize {
        self.sealed.len()
    }

    /// The next sealed frame, oldest first, encoded now under the current
    /// producer id.
    pub fn take(&mut self) -> Option<Sealed> {
        // Newest first, so the oldest pops: `Vec::remove(0)` would keep a
        // panic site (and core's message for it) in the module.
        let Pending {
            sequence,
            builder,
            sent_at,
            epoch,
        } = self.sealed.pop()?;
        let bytes = builder.finish(self.producer, sequence, sent_at);
        // The newest frame of the current context may be reopened: keep
        // its builder.
        if self.sealed.is_empty() && epoch == self.epoch {
            self.last = Some((sequence, builder));
        }
        Some(Sealed { sequence, bytes })
    }
}

fn map_err(e: FrameError) -> BatchError {
    match e {
        FrameError::FrameTooLarge { len, max } => BatchError::EventTooLarge { len, max },
        FrameError::TooManyEvents { max, .. } => BatchError::EventTooLarge { len: 0, max },
        _ => BatchError::Unencodable,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use broker_core::event::{EventKind, Value};
    use broker_core::frame;
    use std::borrow::Cow;

    fn event(i: i64, text: &str) -> Event<'static> {
        Event {
            kind: EventKind::Track,
            name: Cow::Borrowed("E"),
            timestamp: 1_764_000_000_000 + i as u64,
            properties: vec![
                (Cow::Borrowed("i"), Value::Int(i)),
                (Cow::Borrowed("t"), Value::Str(Cow::Owned(text.to_owned()))),
            ],
        }
    }

    #[test]
    fn splits_by_bytes_and_keeps_every_event_in_order() {
        let mut b = Batcher::new(9, 1000, 1024);
        for i in 0..40 {
            b.push(&event(i, &"x".repeat(100 + i as usize)), 5).unwrap();
        }
        b.cut(6);
        let mut seen = Vec::new();
        let mut seq = 0;
        while let Some(s) = b.take() {
            // A threshold: passed by at most the last event (~250 bytes).
            assert!(
                s.bytes.len() <= 1024 + 260,
                "frame of {} bytes",
                s.bytes.len()
            );
            assert_eq!(s.sequence, seq);
            seq += 1;
            let f = frame::decode(&s.bytes, &Limits::DEFAULT).unwrap();
            assert_eq!(f.producer_id, 9);
            seen.extend(
                f.events
                    .iter()
                    .map(|e| e.properties[0].1.clone().into_owned()),
            );
        }
        assert!(seq >= 5, "{seq} frames");
        assert_eq!(seen, (0..40).map(Value::Int).collect::<Vec<_>>());
    }

    #[test]
    fn seals_at_max_events_and_refuses_what_fits_no_frame() {
        let mut b = Batcher::new(1, 2, 1024);
        b.push(&event(0, ""), 0).unwrap();
        assert!(!b.has_sealed());
        b.push(&event(1, ""), 0).unwrap();
        assert!(b.has_sealed());
        assert_eq!(b.pending(), 0);
        // Over the byte threshold alone: a frame of its own.
        b.push(&event(2, &"y".repeat(2000)), 0).unwrap();
        assert_eq!((b.pending(), b.take().unwrap().sequence), (0, 0));
        assert!(b.take().unwrap().bytes.len() > 2000);
        // Over the relay's 64 KB: no frame can carry it.
        let mut huge = event(2, "");
        for k in ["a", "b", "c", "d", "e", "f", "g", "h", "j"] {
            // Distinct strings: the frame's string table stores a repeated one once.
            let text = k.repeat(8000);
            huge.properties
                .push((Cow::Borrowed(k), Value::Str(Cow::Owned(text))));
        }
        let r = b.push(&huge, 0);
        assert!(
            matches!(r, Err(BatchError::EventTooLarge { max: 65_536, .. })),
            "{r:?}"
        );
        let nan = Event {
            properties: vec![(Cow::Borrowed("f"), Value::Float(f64::NAN))],
            ..event(3, "")
        };
        assert!(matches!(b.push(&nan, 0), Err(BatchError::Unencodable)));
        assert_eq!(b.pending(), 0);
        // An empty open frame is never sealed.
        b.cut(0);
        assert!(b.take().is_none());
    }

    fn events_of(bytes: &[u8]) -> Vec<Value<'static>> {
        let f = frame::decode(bytes, &Limits::DEFAULT).unwrap();
        f.events
            .iter()
            .map(|e| e.properties[0].1.clone().into_owned())
            .collect()
    }

    #[test]
    fn a_reopened_frame_takes_later_events_under_its_sequence() {
        let mut b = Batcher::new(9, 2, 1024);
        b.push(&event(0, ""), 0).unwrap();
        b.push(&event(1, ""), 0).unwrap();
        let first = b.take().unwrap();
        assert_eq!(first.sequence, 0);
        // Frame 0 waits: the next events join it, and the threshold counts
        // only what came after the reopening.
        assert!(!b.reopen(1));
        assert!(b.reopen(0));
        assert_eq!(b.pending(), 2);
        b.push(&event(2, ""), 1).unwrap();
        assert!(!b.has_sealed());
        b.push(&event(3, ""), 1).unwrap();
        let again = b.take().unwrap();
        assert_eq!(again.sequence, 0);
        assert_eq!(
            events_of(&again.bytes),
            (0..4).map(Value::Int).collect::<Vec<_>>()
        );
        // Up to the relay's limits, not the thresholds: 1,000 events.
        let mut i = 4;
        loop {
            assert!(b.reopen(0), "event {i}");
            b.push(&event(i, ""), 2).unwrap();
            i += 1;
            if b.pending() == 1 {
                break;
            }
            b.cut(2);
            assert_eq!(b.take().unwrap().sequence, 0);
        }
        let full = b.take().unwrap();
        assert_eq!((full.sequence, events_of(&full.bytes).len()), (0, 1_000));
        // The event that did not fit opened frame 1.
        assert_eq!(b.pending(), 1);
        b.cut(4);
        assert_eq!(b.take().unwrap().sequence, 1);
        // A new context (visitor, session) or producer: nothing to reopen.
        b.context_mut().session_id = 5;
        assert!(!b.reopen(1));
        b.push(&event(0, ""), 5).unwrap();
        b.cut(5);
        assert_eq!(b.take().unwrap().sequence, 2);
        b.set_producer(10);
        assert!(!b.reopen(2));
        // Not while events are open, nor before the frame is taken.
        b.push(&event(0, ""), 6).unwrap();
        b.cut(6);
        b.push(&event(1, ""), 6).unwrap();
        assert!(!b.reopen(3));
    }
}
