//! Configuration from `wrangler.toml` vars and `wrangler secret` secrets.
//!
//! Vars have documented defaults (README); a var that is set but malformed
//! is an error (`bad_config`), never silently replaced by its default.

use crate::error::{RelayError, Result};
use broker_core::frame::Limits;
use broker_core::partition::PartitionConfig;
use serde::Deserialize;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use worker::Env;

/// The relay's settings, read from the environment per request (cheap:
/// a handful of string bindings).
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// Partitions of the topic (`PARTITIONS`, default 4). Fixed at deploy
    /// time: changing it re-routes visitors.
    pub partitions: u32,
    /// Frame limits (`MAX_FRAME_BYTES`, `MAX_EVENTS`).
    pub limits: Limits,
    /// Oldest accepted event timestamp before now (`MAX_PAST_MS`).
    pub max_past_ms: u64,
    /// Latest accepted event timestamp after now (`MAX_FUTURE_MS`).
    pub max_future_ms: u64,
    /// Age retention (`RETENTION_MS`; `0` keeps forever).
    pub retention_ms: Option<u64>,
    /// Size retention per stream (`RETENTION_BYTES`; `0`: no limit).
    pub retention_bytes: Option<u64>,
    /// Frames per second per write key and client address
    /// (`RATE_LIMIT_PER_SEC`, default 100; `0` disables the limit).
    pub rate_per_sec: f64,
    /// Burst allowance of the same bucket (`RATE_LIMIT_BURST`, default 200).
    pub rate_burst: f64,
    /// Whether the `ARCHIVE` R2 bucket is bound (see `durable::archive`).
    pub archive: bool,
    /// The archive's segment interval (`ARCHIVE_INTERVAL_MS`, default one
    /// hour; at least 1 ms).
    pub archive_interval_ms: u64,
}

/// The names of the vars, as in `wrangler.toml`.
pub mod vars {
    /// Number of partitions.
    pub const PARTITIONS: &str = "PARTITIONS";
    /// Largest frame as received, bytes.
    pub const MAX_FRAME_BYTES: &str = "MAX_FRAME_BYTES";
    /// Most events per frame.
    pub const MAX_EVENTS: &str = "MAX_EVENTS";
    /// Accepted skew into the past, ms.
    pub const MAX_PAST_MS: &str = "MAX_PAST_MS";
    /// Accepted skew into the future, ms.
    pub const MAX_FUTURE_MS: &str = "MAX_FUTURE_MS";
    /// Age retention, ms.
    pub const RETENTION_MS: &str = "RETENTION_MS";
    /// Size retention per stream, bytes.
    pub const RETENTION_BYTES: &str = "RETENTION_BYTES";
    /// Sustained frames per second per write key and client address.
    pub const RATE_LIMIT_PER_SEC: &str = "RATE_LIMIT_PER_SEC";
    /// Burst size of the rate limit.
    pub const RATE_LIMIT_BURST: &str = "RATE_LIMIT_BURST";
    /// Binding (optional): the R2 bucket the archive writes to.
    pub const ARCHIVE: &str = "ARCHIVE";
    /// The archive's segment interval, ms.
    pub const ARCHIVE_INTERVAL_MS: &str = "ARCHIVE_INTERVAL_MS";
    /// Secret: the admin bearer token.
    pub const ADMIN_TOKEN: &str = "ADMIN_TOKEN";
    /// Secret (optional): the console's editor bearer token.
    pub const EDITOR_TOKEN: &str = "EDITOR_TOKEN";
    /// Secret (optional): the console's viewer bearer token.
    pub const VIEWER_TOKEN: &str = "VIEWER_TOKEN";
    /// Secret: the back-office subscriber bearer token.
    pub const SUBSCRIBER_TOKEN: &str = "SUBSCRIBER_TOKEN";
    /// Secret: the HMAC key of visitor tokens.
    pub const VISITOR_TOKEN_KEY: &str = "VISITOR_TOKEN_KEY";
    /// Secret: the write keys and their origins, JSON.
    pub const WRITE_KEYS: &str = "WRITE_KEYS";
}

/// A secret that may be unset (an unset or empty one is `None`).
pub fn optional_secret(env: &Env, name: &str) -> Option<String> {
    optional(env, name).filter(|s| !s.is_empty())
}

fn optional(env: &Env, name: &str) -> Option<String> {
    // Vars and secrets are both plain strings in the environment.
    env.var(name).ok().map(|v| v.to_string())
}

fn number<T: std::str::FromStr>(env: &Env, name: &'static str, default: T) -> Result<T> {
    match optional(env, name) {
        None => Ok(default),
        Some(s) => s.trim().parse().map_err(|_| RelayError::Config {
            name,
            reason: format!("{s:?} is not a valid number"),
        }),
    }
}

fn zero_is_none(n: u64) -> Option<u64> {
    (n > 0).then_some(n)
}

impl Config {
    /// Reads the vars (not the secrets), once per isolate: vars are fixed
    /// for a deployment, and an isolate never outlives its deployment.
    pub fn from_env(env: &Env) -> Result<Config> {
        thread_local! {
            static CACHE: RefCell<Option<Config>> = const { RefCell::new(None) };
        }
        if let Some(c) = CACHE.with(|c| c.borrow().clone()) {
            return Ok(c);
        }
        let config = Config::read(env)?;
        CACHE.with(|c| *c.borrow_mut() = Some(config.clone()));
        Ok(config)
    }

    fn read(env: &Env) -> Result<Config> {
        let defaults = PartitionConfig::new(0, 1);
        let partitions: u32 = number(env, vars::PARTITIONS, 4)?;
        if partitions == 0 || partitions > 1024 {
            return Err(RelayError::Config {
                name: vars::PARTITIONS,
                reason: format!("must be 1 to 1024, got {partitions}"),
            });
        }
        let mut limits = Limits::DEFAULT;
        limits.max_frame_bytes = number(env, vars::MAX_FRAME_BYTES, limits.max_frame_bytes)?;
        limits.max_events = number(env, vars::MAX_EVENTS, limits.max_events)?;
        Ok(Config {
            partitions,
            limits,
            max_past_ms: number(env, vars::MAX_PAST_MS, defaults.max_past_ms)?,
            max_future_ms: number(env, vars::MAX_FUTURE_MS, defaults.max_future_ms)?,
            retention_ms: zero_is_none(number(
                env,
                vars::RETENTION_MS,
                defaults.retention_ms.unwrap_or(0),
            )?),
            retention_bytes: zero_is_none(number(
                env,
                vars::RETENTION_BYTES,
                defaults.retention_bytes.unwrap_or(0),
            )?),
            rate_per_sec: number(env, vars::RATE_LIMIT_PER_SEC, 100.0)?,
            rate_burst: number(env, vars::RATE_LIMIT_BURST, 200.0)?,
            archive: env.bucket(vars::ARCHIVE).is_ok(),
            archive_interval_ms: match number(env, vars::ARCHIVE_INTERVAL_MS, 3_600_000u64)? {
                0 => {
                    return Err(RelayError::Config {
                        name: vars::ARCHIVE_INTERVAL_MS,
                        reason: "must be at least 1".into(),
                    })
                }
                n => n,
            },
        })
    }

    /// The core's configuration for partition `partition`.
    pub fn partition_config(&self, partition: u32) -> PartitionConfig {
        let mut c = PartitionConfig::new(partition, self.partitions);
        c.limits = self.limits.clone();
        c.max_past_ms = self.max_past_ms;
        c.max_future_ms = self.max_future_ms;
        c.retention_ms = self.retention_ms;
        c.retention_bytes = self.retention_bytes;
        c.archive = self.archive;
        // A producer must outlive the timestamp window, or a late retry
        // could be stored twice; widening the window stretches the TTL.
        let window = self.max_past_ms.saturating_add(self.max_future_ms);
        c.producer_ttl_ms = c.producer_ttl_ms.max(window.saturating_add(10 * 60_000));
        c
    }
}

/// `TEST_FAULTS`, for tests only: faults the relay injects on purpose.
/// Unset (as in every deployment) means none; a value other than those
/// below is a configuration error, so that a typo never passes as "off".
///
/// - `fail_socket_appends=N`: the first N frames a visitor socket hands
///   to this isolate's partitions fail as a storage failure would (status
///   500, retriable), so that tests can watch the SDK keep and resend them.
pub fn test_faults(env: &Env) -> Result<u32> {
    const NAME: &str = "TEST_FAULTS";
    let Some(v) = optional(env, NAME).filter(|v| !v.is_empty()) else {
        return Ok(0);
    };
    v.strip_prefix("fail_socket_appends=")
        .and_then(|n| n.parse().ok())
        .ok_or(RelayError::Config {
            name: NAME,
            reason: format!("{v:?} is not fail_socket_appends=N (a test-only switch)"),
        })
}

/// A required secret.
pub fn secret(env: &Env, name: &'static str) -> Result<String> {
    optional(env, name)
        .filter(|s| !s.is_empty())
        .ok_or(RelayError::Config {
            name,
            reason: "is not set (wrangler secret put, or .dev.vars locally)".into(),
        })
}

/// The prefix of a `WRITE_KEYS` entry that names a key by its hash.
const HASH_PREFIX: &str = "sha256:";

/// What one write key may do.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WriteKey {
    /// Page origins allowed to use the key (`https://shop.example`), or
    /// `"*"` for any.
    #[serde(default)]
    pub origins: Vec<String>,
}

impl WriteKey {
    /// True when a page at `origin` may use the key.
    pub fn allows(&self, origin: &str) -> bool {
        self.origins.iter().any(|o| o == "*" || o == origin)
    }
}

/// The `WRITE_KEYS` secret: `{"<key>": {"origins": [...]}, "sha256:<hex>": {...}}`.
/// A `sha256:` entry names a key by the hex SHA-256 of it, so the secret
/// need not hold the key itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WriteKeys {
    keys: HashMap<String, WriteKey>,
}

impl WriteKeys {
    /// Parses the secret's JSON.
    pub fn parse(json: &str) -> Result<WriteKeys> {
        let keys = serde_json::from_str(json).map_err(|e| RelayError::Config {
            name: vars::WRITE_KEYS,
            reason: format!("not a JSON object of write keys: {e}"),
        })?;
        Ok(WriteKeys { keys })
    }

    /// The write key `key`, looked up as given and then by its hash. A
    /// `sha256:` entry is reachable only through the key it hashes: the
    /// hash itself is not a key.
    pub fn get(&self, key: &str) -> Option<&WriteKey> {
        if key.is_empty() {
            return None;
        }
        let plain = if key.starts_with(HASH_PREFIX) {
            None
        } else {
            self.keys.get(key)
        };
        plain.or_else(|| {
            self.keys
                .get(&format!("{HASH_PREFIX}{}", crate::auth::sha256_hex(key)))
        })
    }

    /// Reads and parses `WRITE_KEYS`, reusing the last parse while the
    /// secret's text is unchanged (it is parsed once per isolate).
    pub fn from_env(env: &Env) -> Result<Rc<WriteKeys>> {
        thread_local! {
            static CACHE: RefCell<Option<(String, Rc<WriteKeys>)>> = const { RefCell::new(None) };
        }
        let text = secret(env, vars::WRITE_KEYS)?;
        CACHE.with(|c| {
            let mut c = c.borrow_mut();
            if let Some((cached, keys)) = c.as_ref() {
                if *cached == text {
                    return Ok(keys.clone());
                }
            }
            let keys = Rc::new(WriteKeys::parse(&text)?);
            *c = Some((text, keys.clone()));
            Ok(keys)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_keys_match_by_key_or_by_hash_and_check_origins() {
        let keys = WriteKeys::parse(
            r#"{"plain-key": {"origins": ["https://shop.example"]},
                "sha256:04c0218b3c6929c6638fa052827cc353c3e1eb3a432020f686e083aae900d6c4": {"origins": ["*"]},
                "no-origins": {}}"#,
        )
        .unwrap();
        let plain = keys.get("plain-key").unwrap();
        assert!(plain.allows("https://shop.example"));
        assert!(!plain.allows("https://shop.example.evil"));
        assert!(!plain.allows("http://shop.example"));
        // Stored as the hex SHA-256 of "test-write-key".
        assert!(keys
            .get("test-write-key")
            .unwrap()
            .allows("https://anything.example"));
        assert!(!keys
            .get("no-origins")
            .unwrap()
            .allows("https://shop.example"));
        assert_eq!(keys.get("unknown"), None);
        // The hash is not a key.
        let hash = "sha256:04c0218b3c6929c6638fa052827cc353c3e1eb3a432020f686e083aae900d6c4";
        assert_eq!(keys.get(hash), None);
        assert_eq!(keys.get(""), None);
    }

    #[test]
    fn malformed_write_keys_are_a_config_error() {
        for bad in [
            "",
            "[]",
            r#"{"k": {"origin": ["x"]}}"#,
            r#"{"k": {"origins": "x"}}"#,
        ] {
            match WriteKeys::parse(bad) {
                Err(RelayError::Config { name, .. }) => assert_eq!(name, vars::WRITE_KEYS),
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
    }
}
