//! Delivery policy: what a relay answer means for a queued frame, and when
//! to try again. Pure functions, so the schedule is tested without a network.

/// Base of the exponential backoff, ms.
pub const BACKOFF_BASE_MS: f64 = 500.0;
/// Longest wait between two attempts, ms.
pub const BACKOFF_CAP_MS: f64 = 60_000.0;

/// The close code with which the relay refuses a visitor socket from an
/// origin the write key does not allow (`RelayError::close_code` in the
/// relay, and its README's table): reconnecting cannot help, so the SDK
/// stops. Other closes reconnect after [`backoff`].
pub const CLOSE_ORIGIN_NOT_ALLOWED: u16 = 4403;

/// What to do with a frame after an attempt to send it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Outcome {
    /// Stored by the relay (now or before): remove it from the queue.
    Acked,
    /// Try again after this many ms; the frame keeps its producer and sequence.
    Retry(f64),
    /// Refused for good (bad frame, unknown key, ...): remove it and report
    /// the relay's code through the error callback.
    Rejected,
}

/// Classifies one attempt. `status` 0 means the request never got an answer
/// (offline, DNS, CORS, aborted). `code` is the JSON error body's `code` (or
/// empty). `attempt` counts from 0. `retry_after_ms` is the `Retry-After`
/// header in ms (0 when absent). `rand` is uniform in [0, 1).
pub fn outcome(status: u16, code: &str, attempt: u32, retry_after_ms: f64, rand: f64) -> Outcome {
    match status {
        200..=299 => Outcome::Acked,
        // Stored before (a retry of a frame whose answer was lost).
        409 if code == "stale_sequence" => Outcome::Acked,
        // An earlier frame of this producer is not stored yet: wait for it.
        409 => Outcome::Retry(backoff(attempt, rand)),
        429 => Outcome::Retry(backoff(attempt, rand).max(retry_after_ms)),
        0 | 408 | 500..=599 => Outcome::Retry(backoff(attempt, rand).max(retry_after_ms)),
        _ => Outcome::Rejected,
    }
}

/// Exponential backoff with "equal jitter": half the step is fixed so retries
/// never bunch up at zero, half is random so tabs and visitors spread out.
pub fn backoff(attempt: u32, rand: f64) -> f64 {
    let step = (BACKOFF_BASE_MS * f64::from(1u32 << attempt.min(16))).min(BACKOFF_CAP_MS);
    let r = if (0.0..1.0).contains(&rand) {
        rand
    } else {
        0.5
    };
    step / 2.0 + r * step / 2.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_answers() {
        assert_eq!(outcome(200, "", 0, 0.0, 0.0), Outcome::Acked);
        assert_eq!(outcome(409, "stale_sequence", 3, 0.0, 0.0), Outcome::Acked);
        assert_eq!(
            outcome(409, "sequence_gap", 0, 0.0, 0.0),
            Outcome::Retry(250.0)
        );
        assert_eq!(outcome(500, "", 1, 0.0, 0.0), Outcome::Retry(500.0));
        assert_eq!(outcome(0, "", 2, 0.0, 0.5), Outcome::Retry(1500.0));
        assert_eq!(
            outcome(429, "rate_limited", 0, 3000.0, 0.0),
            Outcome::Retry(3000.0)
        );
        assert_eq!(outcome(400, "checksum", 0, 0.0, 0.0), Outcome::Rejected);
        assert_eq!(
            outcome(401, "unknown_write_key", 0, 0.0, 0.0),
            Outcome::Rejected
        );
        assert_eq!(
            outcome(413, "frame_too_large", 0, 0.0, 0.0),
            Outcome::Rejected
        );
    }

    #[test]
    fn backoff_doubles_then_caps() {
        assert_eq!(backoff(0, 0.0), 250.0);
        assert_eq!(backoff(1, 0.0), 500.0);
        assert_eq!(backoff(3, 0.5), 3000.0);
        assert_eq!(backoff(7, 0.0), 30_000.0);
        assert_eq!(backoff(40, 0.0), 30_000.0);
        assert_eq!(backoff(40, 0.99), 59_700.0);
        // Out-of-range randomness does not escape the bounds.
        assert_eq!(backoff(0, 7.0), 375.0);
    }
}
