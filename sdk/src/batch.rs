//! Batching: events of one visitor go into a frame until it is full (events
//! or bytes) or the page flushes it; sealed frames wait for the JS layer to
//! store and send them.

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
    #[error("event cannot be encoded: {reason}")]
    Unencodable {
        /// The encoder's reason.
        reason: &'static str,
    },
}

impl BatchError {
    /// Stable numeric code (never reused; distinct from `PropsError`'s).
    pub fn code(&self) -> u32 {
        match self {
            BatchError::EventTooLarge { .. } => 10,
            BatchError::Unencodable { .. } => 11,
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

/// The batcher of one SDK instance (one producer).
#[derive(Debug)]
pub struct Batcher {
    producer: u64,
    next_sequence: u64,
    limits: Limits,
    context: Context<'static>,
    open: Option<FrameBuilder>,
    /// Oldest first; rarely more than one (JS takes them at once).
    sealed: Vec<Sealed>,
}

impl Batcher {
    /// A batcher for `producer` whose frames hold at most `max_events` events
    /// and `max_bytes` bytes (both clamped to the relay's limits).
    pub fn new(producer: u64, max_events: usize, max_bytes: usize) -> Batcher {
        let d = Limits::DEFAULT;
        let limits = Limits {
            max_events: max_events.clamp(1, d.max_events),
            max_frame_bytes: max_bytes.clamp(1024, d.max_frame_bytes),
            ..d
        };
        Batcher {
            producer,
            next_sequence: 0,
            limits,
            context: Context::default(),
            open: None,
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
    }

    /// The context new frames get.
    pub fn context_mut(&mut self) -> &mut Context<'static> {
        &mut self.context
    }

    /// Seals the open frame (if any) so that context changes apply only to
    /// later events: a frame holds events of one visitor and one session.
    pub fn cut(&mut self, now: u64) {
        if let Some(b) = self.open.take() {
            if b.is_empty() {
                return;
            }
            let sequence = self.next_sequence;
            self.next_sequence += 1;
            self.sealed.push(Sealed {
                sequence,
                bytes: b.finish(self.producer, sequence, now),
            });
        }
    }

    /// Events in the open frame.
    pub fn pending(&self) -> usize {
        self.open.as_ref().map_or(0, FrameBuilder::len)
    }

    /// Adds an event, sealing the open frame first when it is full.
    pub fn push(&mut self, event: &Event<'_>, now: u64) -> Result<(), BatchError> {
        for _ in 0..2 {
            let limits = &self.limits;
            let ctx = &self.context;
            let b = self
                .open
                .get_or_insert_with(|| FrameBuilder::with_limits(ctx, limits));
            match b.push(event) {
                Ok(()) => {
                    if b.len() >= self.limits.max_events {
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
            max: self.limits.max_frame_bytes,
        })
    }

    /// True when sealed frames wait for [`take`](Batcher::take).
    pub fn has_sealed(&self) -> bool {
        !self.sealed.is_empty()
    }

    /// The next sealed frame, oldest first.
    pub fn take(&mut self) -> Option<Sealed> {
        (!self.sealed.is_empty()).then(|| self.sealed.remove(0))
    }
}

fn map_err(e: FrameError) -> BatchError {
    match e {
        FrameError::FrameTooLarge { len, max } => BatchError::EventTooLarge { len, max },
        FrameError::TooManyEvents { max, .. } => BatchError::EventTooLarge { len: 0, max },
        FrameError::Unencodable { reason } => BatchError::Unencodable { reason },
        _ => BatchError::Unencodable {
            reason: "encoder error",
        },
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
            assert!(s.bytes.len() <= 1024, "frame of {} bytes", s.bytes.len());
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
        let big = event(2, &"y".repeat(2000));
        assert!(matches!(
            b.push(&big, 0),
            Err(BatchError::EventTooLarge { max: 1024, .. })
        ));
        let nan = Event {
            properties: vec![(Cow::Borrowed("f"), Value::Float(f64::NAN))],
            ..event(3, "")
        };
        assert!(matches!(
            b.push(&nan, 0),
            Err(BatchError::Unencodable { .. })
        ));
        assert_eq!(b.pending(), 0);
        // An empty open frame is never sealed.
        b.take();
        b.cut(0);
        assert!(b.take().is_none());
    }
}
