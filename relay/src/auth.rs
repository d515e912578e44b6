//! Tokens and the rate limit: visitor tokens (HMAC-SHA256 of the anonymous
//! id), bearer tokens compared in constant time, and a token bucket per
//! write key and client address.

use crate::error::{RelayError, Result};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use std::cell::RefCell;
use std::collections::HashMap;

type HmacSha256 = Hmac<Sha256>;

/// The visitor token of `visitor`: base64url (no padding) of
/// HMAC-SHA256(`key`, `visitor`).
pub fn visitor_token(key: &str, visitor: &str) -> String {
    URL_SAFE_NO_PAD.encode(mac(key, visitor).finalize().into_bytes())
}

fn mac(key: &str, visitor: &str) -> HmacSha256 {
    // HMAC takes keys of any length, so this cannot fail.
    let mut m = <HmacSha256 as Mac>::new_from_slice(key.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    m.update(visitor.as_bytes());
    m
}

/// Checks `token` against `visitor`'s token, in constant time.
pub fn check_visitor_token(key: &str, visitor: &str, token: &str) -> Result<()> {
    let bad = || RelayError::BadVisitorToken {
        visitor: visitor.to_owned(),
    };
    let raw = URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?;
    mac(key, visitor).verify_slice(&raw).map_err(|_| bad())
}

/// Equality that takes the same time wherever the strings differ.
pub fn ct_eq(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Lowercase hex SHA-256 of `s` (for `sha256:` write-key entries).
pub fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Most buckets kept per isolate; past this, idle ones are dropped.
const MAX_BUCKETS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at_ms: f64,
}

/// Takes one token from the bucket of (`key`, `client`), refilled at
/// `per_sec` up to `burst`. Answers [`RelayError::RateLimited`] with the
/// seconds until a token is back.
///
/// The buckets live in the isolate's memory: the limit is per isolate, a
/// simple guard against a runaway page, not a global quota (Cloudflare's
/// rate-limiting rules are the tool for that).
pub fn rate_limit(key: &str, client: &str, per_sec: f64, burst: f64, now_ms: f64) -> Result<()> {
    rate_limit_cost(key, client, per_sec, burst, now_ms, 1.0)
}

/// [`rate_limit`] taking `cost` tokens at once (a bundle: one per frame),
/// at most `burst` of them, so that a request within the limits can always
/// pass once the bucket is full.
pub fn rate_limit_cost(
    key: &str,
    client: &str,
    per_sec: f64,
    burst: f64,
    now_ms: f64,
    cost: f64,
) -> Result<()> {
    if per_sec <= 0.0 {
        return Ok(());
    }
    thread_local! {
        static BUCKETS: RefCell<HashMap<(String, String), Bucket>> = RefCell::new(HashMap::new());
    }
    let burst = burst.max(1.0);
    BUCKETS.with(|b| {
        let mut buckets = b.borrow_mut();
        if buckets.len() >= MAX_BUCKETS {
            // A bucket idle long enough to be full again carries no
            // information; dropping it changes nothing.
            let full_after_ms = burst / per_sec * 1000.0;
            buckets.retain(|_, v| now_ms - v.at_ms < full_after_ms);
        }
        let bucket = buckets
            .entry((key.to_owned(), client.to_owned()))
            .or_insert(Bucket {
                tokens: burst,
                at_ms: now_ms,
            });
        let elapsed_s = ((now_ms - bucket.at_ms) / 1000.0).max(0.0);
        bucket.tokens = (bucket.tokens + elapsed_s * per_sec).min(burst);
        bucket.at_ms = now_ms;
        let cost = cost.clamp(1.0, burst);
        if bucket.tokens >= cost {
            bucket.tokens -= cost;
            Ok(())
        } else {
            let wait_s = ((cost - bucket.tokens) / per_sec).ceil().max(1.0);
            Err(RelayError::RateLimited {
                retry_after_s: wait_s.min(u32::MAX as f64) as u32,
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "test-visitor-token-key-0123456789abcdef";

    #[test]
    fn visitor_tokens_are_base64url_hmac_sha256() {
        // Vector from node: createHmac('sha256', KEY).update('visitor-a').digest('base64url').
        let token = visitor_token(KEY, "visitor-a");
        assert_eq!(token, "Ow_6aCnENk7ne6MFCnLRRK0fUs_dCA2UgweYnCnZWuQ");
        assert_eq!(check_visitor_token(KEY, "visitor-a", &token), Ok(()));
        let refused = Err(RelayError::BadVisitorToken {
            visitor: "visitor-b".into(),
        });
        assert_eq!(check_visitor_token(KEY, "visitor-b", &token), refused);
        for bad in ["", "not base64!", &token[..token.len() - 1], "AAAA"] {
            assert!(
                check_visitor_token(KEY, "visitor-a", bad).is_err(),
                "{bad:?}"
            );
        }
        assert!(check_visitor_token("other-key", "visitor-a", &token).is_err());
    }

    #[test]
    fn ct_eq_compares_whole_strings() {
        assert!(ct_eq("token", "token"));
        assert!(!ct_eq("token", "tokem"));
        assert!(!ct_eq("token", "token2"));
        assert!(!ct_eq("", "x"));
        assert!(ct_eq("", ""));
    }

    #[test]
    fn sha256_hex_matches_the_standard_vector() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn the_bucket_allows_the_burst_then_refills_at_the_rate() {
        let t0 = 1_000_000.0;
        for _ in 0..3 {
            assert_eq!(rate_limit("k-burst", "1.2.3.4", 1.0, 3.0, t0), Ok(()));
        }
        assert_eq!(
            rate_limit("k-burst", "1.2.3.4", 1.0, 3.0, t0),
            Err(RelayError::RateLimited { retry_after_s: 1 })
        );
        // Another client address has its own bucket.
        assert_eq!(rate_limit("k-burst", "5.6.7.8", 1.0, 3.0, t0), Ok(()));
        assert!(rate_limit("k-burst", "1.2.3.4", 1.0, 3.0, t0 + 500.0).is_err());
        assert_eq!(
            rate_limit("k-burst", "1.2.3.4", 1.0, 3.0, t0 + 1_000.0),
            Ok(())
        );
        // A slow rate says how long to wait.
        assert_eq!(rate_limit("k-slow", "a", 0.1, 1.0, t0), Ok(()));
        // A bundle takes a token per frame, at most the burst.
        assert_eq!(rate_limit_cost("k-cost", "a", 1.0, 10.0, t0, 8.0), Ok(()));
        assert_eq!(
            rate_limit_cost("k-cost", "a", 1.0, 10.0, t0, 3.0),
            Err(RelayError::RateLimited { retry_after_s: 1 })
        );
        assert_eq!(rate_limit_cost("k-cost", "b", 1.0, 10.0, t0, 50.0), Ok(()));
        assert!(rate_limit("k-cost", "b", 1.0, 10.0, t0).is_err());
        assert_eq!(
            rate_limit("k-slow", "a", 0.1, 1.0, t0),
            Err(RelayError::RateLimited { retry_after_s: 10 })
        );
        // Zero disables the limit.
        for _ in 0..1_000 {
            assert_eq!(rate_limit("k-off", "a", 0.0, 1.0, t0), Ok(()));
        }
    }
}
