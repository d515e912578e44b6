//! The relay's one error type: every refusal becomes a JSON body
//! `{"code": "...", "message": "..."}` (plus fields where useful) with the
//! HTTP status the README documents.

use broker_core::frame::FrameError;
use broker_core::log::LogError;
use broker_core::partition::PartitionError;
use broker_core::plan::PlanError;
use broker_core::trigger::ValidationError;
use serde_json::{json, Value};

/// Why the relay refused or failed a request.
///
/// Codes: the relay's own errors are 1000 and up; a [`PartitionError`]
/// keeps the core's code (frame errors below 100, partition errors 100 and
/// up). Codes are never reused for another meaning.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// No route matches the path.
    #[error("no route for {method} {path}")]
    NotFound {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// The route exists but not for this method.
    #[error("{method} is not allowed on {path}")]
    MethodNotAllowed {
        /// The request method.
        method: String,
        /// The request path.
        path: String,
    },
    /// The `key` query parameter is missing or names no write key.
    #[error("unknown write key")]
    UnknownWriteKey,
    /// The request's `Origin` is not in the write key's allow-list.
    #[error("origin {origin:?} is not allowed for this write key")]
    OriginNotAllowed {
        /// The `Origin` header.
        origin: String,
    },
    /// The bearer token is missing or wrong.
    #[error("missing or wrong {role} token")]
    Unauthorized {
        /// Which token was expected: `admin`, `subscriber`, `viewer` or `editor`.
        role: &'static str,
    },
    /// The visitor token does not match the visitor id.
    #[error("the visitor token does not match visitor {visitor:?}")]
    BadVisitorToken {
        /// The visitor id of the request.
        visitor: String,
    },
    /// Too many requests from this write key and client address.
    #[error("too many requests: retry in {retry_after_s} s")]
    RateLimited {
        /// Seconds to wait, also sent as `Retry-After`.
        retry_after_s: u32,
    },
    /// A query parameter or body is malformed.
    #[error("bad request: {reason}")]
    BadRequest {
        /// What is wrong.
        reason: String,
    },
    /// A partition number outside `0..partitions`.
    #[error("partition {partition} does not exist: there are {partitions}")]
    UnknownPartition {
        /// The number asked for.
        partition: String,
        /// How many partitions there are.
        partitions: u32,
    },
    /// The route only takes WebSocket upgrades.
    #[error("this route takes WebSocket upgrades only")]
    UpgradeRequired,
    /// An uploaded trigger file failed validation; nothing changed.
    #[error("the trigger file has {} error(s); nothing was changed", errors.len())]
    InvalidTriggers {
        /// Every mistake, in document order.
        errors: Vec<ValidationError>,
    },
    /// No trigger file has been uploaded yet.
    #[error("no trigger file is active")]
    NoTriggers,
    /// An uploaded tracking plan failed validation; nothing changed.
    #[error("the tracking plan has {} error(s); nothing was changed", errors.len())]
    InvalidPlan {
        /// Every mistake, in document order.
        errors: Vec<PlanError>,
    },
    /// No tracking plan has been pushed yet.
    #[error("no tracking plan is active")]
    NoPlan,
    /// The core refused or failed the operation.
    #[error(transparent)]
    Partition(#[from] PartitionError),
    /// A `wrangler.toml` var or secret is missing or malformed.
    #[error("configuration {name}: {reason}")]
    Config {
        /// The var or secret.
        name: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The token is valid but its role may not do this (a viewer pushing).
    #[error("the {role} role may not {action}")]
    Forbidden {
        /// The caller's role.
        role: &'static str,
        /// What it tried.
        action: &'static str,
    },
    /// This caller already runs a backtest on a partition.
    #[error("a backtest of yours is already running on partition {partition}; wait for it")]
    BacktestBusy {
        /// The partition.
        partition: u32,
    },
    /// A trigger file version older than the partition's active one.
    #[error("version {version} is older than the active version {active}")]
    StaleVersion {
        /// The version offered.
        version: u64,
        /// The version active on the partition.
        active: u64,
    },
    /// No trigger file version with this number.
    #[error("there is no trigger file version {version}")]
    NoSuchVersion {
        /// The number asked for.
        version: u64,
    },
    /// The runtime failed (storage, Durable Object call, WebSocket).
    #[error("internal error: {message}")]
    Internal {
        /// The runtime's message.
        message: String,
    },
}

impl RelayError {
    /// The stable numeric code; never reused.
    pub fn code(&self) -> u16 {
        match self {
            RelayError::Partition(e) => e.code(),
            RelayError::NotFound { .. } => 1000,
            RelayError::MethodNotAllowed { .. } => 1001,
            RelayError::UnknownWriteKey => 1002,
            RelayError::OriginNotAllowed { .. } => 1003,
            RelayError::Unauthorized { .. } => 1004,
            RelayError::BadVisitorToken { .. } => 1005,
            RelayError::RateLimited { .. } => 1006,
            RelayError::BadRequest { .. } => 1007,
            RelayError::UnknownPartition { .. } => 1008,
            RelayError::UpgradeRequired => 1009,
            RelayError::InvalidTriggers { .. } => 1010,
            RelayError::NoTriggers => 1011,
            RelayError::Config { .. } => 1012,
            RelayError::Internal { .. } => 1013,
            RelayError::Forbidden { .. } => 1014,
            RelayError::BacktestBusy { .. } => 1015,
            RelayError::StaleVersion { .. } => 1016,
            RelayError::NoSuchVersion { .. } => 1017,
            RelayError::InvalidPlan { .. } => 1018,
            RelayError::NoPlan => 1019,
        }
    }

    /// The stable snake_case name, the `code` field of the JSON body.
    pub fn name(&self) -> &'static str {
        match self {
            RelayError::Partition(e) => e.name(),
            RelayError::NotFound { .. } => "not_found",
            RelayError::MethodNotAllowed { .. } => "method_not_allowed",
            RelayError::UnknownWriteKey => "unknown_write_key",
            RelayError::OriginNotAllowed { .. } => "origin_not_allowed",
            RelayError::Unauthorized { .. } => "unauthorized",
            RelayError::BadVisitorToken { .. } => "bad_token",
            RelayError::RateLimited { .. } => "rate_limited",
            RelayError::BadRequest { .. } => "bad_request",
            RelayError::UnknownPartition { .. } => "unknown_partition",
            RelayError::UpgradeRequired => "upgrade_required",
            RelayError::InvalidTriggers { .. } => "invalid_triggers",
            RelayError::NoTriggers => "no_triggers",
            RelayError::Config { .. } => "bad_config",
            RelayError::Internal { .. } => "internal",
            RelayError::Forbidden { .. } => "forbidden",
            RelayError::BacktestBusy { .. } => "backtest_busy",
            RelayError::StaleVersion { .. } => "stale_version",
            RelayError::NoSuchVersion { .. } => "no_such_version",
            RelayError::InvalidPlan { .. } => "invalid_plan",
            RelayError::NoPlan => "no_plan",
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> u16 {
        match self {
            RelayError::Partition(e) => partition_status(e),
            RelayError::NotFound { .. } | RelayError::UnknownPartition { .. } => 404,
            RelayError::NoTriggers | RelayError::NoPlan | RelayError::NoSuchVersion { .. } => 404,
            RelayError::Forbidden { .. } => 403,
            RelayError::BacktestBusy { .. } => 429,
            RelayError::StaleVersion { .. } => 409,
            RelayError::MethodNotAllowed { .. } => 405,
            RelayError::UnknownWriteKey
            | RelayError::Unauthorized { .. }
            | RelayError::BadVisitorToken { .. } => 401,
            RelayError::OriginNotAllowed { .. } => 403,
            RelayError::RateLimited { .. } => 429,
            RelayError::BadRequest { .. }
            | RelayError::InvalidTriggers { .. }
            | RelayError::InvalidPlan { .. } => 400,
            RelayError::UpgradeRequired => 426,
            RelayError::Config { .. } | RelayError::Internal { .. } => 500,
        }
    }

    /// True when the same request may succeed later unchanged: a core
    /// error that says so ([`PartitionError::is_retriable`]: a sequence gap,
    /// a storage failure), a runtime failure, a rate limit. The visitor
    /// socket's error answers carry it beside the HTTP status.
    pub fn is_retriable(&self) -> bool {
        match self {
            RelayError::Partition(e) => e.is_retriable(),
            RelayError::RateLimited { .. } | RelayError::Internal { .. } => true,
            _ => false,
        }
    }

    /// The WebSocket close code for an error that refuses a connection
    /// (the page cannot read an HTTP status of a failed upgrade).
    pub fn close_code(&self) -> u16 {
        match self.status() {
            401 => 4401,
            403 => 4403,
            404 => 4404,
            429 => 4429,
            400 | 416 => 4400,
            _ => 1011,
        }
    }

    /// The JSON body: `code`, `message`, and the error's useful fields.
    pub fn to_json(&self) -> Value {
        let mut body = json!({ "code": self.name(), "message": self.to_string() });
        let extra = match self {
            RelayError::Partition(PartitionError::Log(log)) => match log {
                LogError::OffsetOutOfRange {
                    requested,
                    earliest,
                    end,
                } => json!({ "requested": requested, "earliest": earliest, "end": end }),
                LogError::SequenceGap { expected, got, .. } => {
                    json!({ "expected": expected, "got": got })
                }
                LogError::StaleSequence { last, got, .. } => json!({ "last": last, "got": got }),
                _ => Value::Null,
            },
            RelayError::InvalidTriggers { errors } => json!({
                "errors": errors
                    .iter()
                    .map(|e| json!({ "path": e.path, "message": e.message,
                                     "kind": e.kind.name(), "code": e.kind.code(),
                                     "trigger": e.trigger }))
                    .collect::<Vec<_>>()
            }),
            RelayError::InvalidPlan { errors } => json!({
                "errors": errors
                    .iter()
                    .map(|e| json!({ "path": e.path, "message": e.message,
                                     "kind": e.kind.name(), "code": e.kind.code() }))
                    .collect::<Vec<_>>()
            }),
            RelayError::StaleVersion { active, .. } => json!({ "active": active }),
            RelayError::RateLimited { retry_after_s } => json!({ "retry_after": retry_after_s }),
            _ => Value::Null,
        };
        if let (Value::Object(body), Value::Object(extra)) = (&mut body, extra) {
            body.extend(extra);
        }
        body
    }
}

/// The HTTP status of a core error: 413 for a frame over a size limit, 400
/// for another bad frame or bad input, 409 for sequence errors, 416 for
/// offsets out of range, 421 for a misrouted frame, 500 for storage
/// failures and configuration.
pub fn partition_status(e: &PartitionError) -> u16 {
    match e {
        PartitionError::Frame(
            FrameError::FrameTooLarge { .. }
            | FrameError::BundleTooLarge { .. }
            | FrameError::BundleFrames { count: 1.., .. }
            | FrameError::TooManyEvents { .. }
            | FrameError::InflatedTooLarge { .. },
        ) => 413,
        PartitionError::Frame(_) | PartitionError::TimestampOutOfRange { .. } => 400,
        PartitionError::WrongPartition { .. } => 421,
        PartitionError::Log(log) => match log {
            LogError::SequenceGap { .. } | LogError::StaleSequence { .. } => 409,
            LogError::OffsetOutOfRange { .. } => 416,
            LogError::InvalidConsumerName { .. } => 400,
            LogError::BatchTooLarge { .. } => 413,
            _ => 500,
        },
        _ => 500,
    }
}

impl From<LogError> for RelayError {
    fn from(e: LogError) -> Self {
        RelayError::Partition(e.into())
    }
}

impl From<worker::Error> for RelayError {
    fn from(e: worker::Error) -> Self {
        RelayError::Internal {
            message: e.to_string(),
        }
    }
}

/// Shorthand for the relay's results.
pub type Result<T, E = RelayError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_bodies_carry_code_message_and_useful_fields() {
        let e = RelayError::from(LogError::OffsetOutOfRange {
            requested: 1,
            earliest: 5,
            end: 9,
        });
        assert_eq!((e.status(), e.close_code()), (416, 4400));
        assert_eq!(
            e.to_json(),
            json!({ "code": "offset_out_of_range",
                    "message": "offset 1 is out of range: the stream holds 5..9",
                    "requested": 1, "earliest": 5, "end": 9 })
        );
        let r = RelayError::RateLimited { retry_after_s: 3 };
        assert_eq!(
            (r.status(), r.name(), r.code()),
            (429, "rate_limited", 1006)
        );
        assert_eq!(r.to_json()["retry_after"], 3);
        let nf = RelayError::NotFound {
            method: "GET".into(),
            path: "/x".into(),
        };
        assert_eq!(
            nf.to_json(),
            json!({ "code": "not_found", "message": "no route for GET /x" })
        );
    }

    #[test]
    fn statuses_and_close_codes_follow_the_readme() {
        let cases: Vec<(RelayError, u16, u16, &str)> = vec![
            (RelayError::UnknownWriteKey, 401, 4401, "unknown_write_key"),
            (
                RelayError::OriginNotAllowed { origin: "o".into() },
                403,
                4403,
                "origin_not_allowed",
            ),
            (
                RelayError::Unauthorized { role: "admin" },
                401,
                4401,
                "unauthorized",
            ),
            (
                RelayError::BadVisitorToken {
                    visitor: "v".into(),
                },
                401,
                4401,
                "bad_token",
            ),
            (
                RelayError::BadRequest { reason: "r".into() },
                400,
                4400,
                "bad_request",
            ),
            (
                RelayError::UnknownPartition {
                    partition: "9".into(),
                    partitions: 4,
                },
                404,
                4404,
                "unknown_partition",
            ),
            (RelayError::UpgradeRequired, 426, 1011, "upgrade_required"),
            (RelayError::NoTriggers, 404, 4404, "no_triggers"),
            (RelayError::NoPlan, 404, 4404, "no_plan"),
            (
                RelayError::InvalidPlan { errors: vec![] },
                400,
                4400,
                "invalid_plan",
            ),
            (
                RelayError::Internal {
                    message: "m".into(),
                },
                500,
                1011,
                "internal",
            ),
        ];
        let storage = RelayError::from(PartitionError::Storage(
            broker_core::storage::StorageError::Io("disk".into()),
        ));
        assert_eq!((storage.status(), storage.is_retriable()), (500, true));
        assert!(!RelayError::BadRequest { reason: "r".into() }.is_retriable());
        let mut codes = std::collections::HashSet::new();
        for (e, status, close, name) in cases {
            assert_eq!(
                (e.status(), e.close_code(), e.name()),
                (status, close, name)
            );
            assert!(codes.insert(e.code()), "code {} reused", e.code());
        }
    }
}
