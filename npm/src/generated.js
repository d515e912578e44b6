// Generated from the Rust sources by sdk/src/js_constants.rs: do not edit.
// Regenerate: UPDATE_GENERATED=1 cargo test -p eventstream-sdk --lib

// Event kinds: the wire codes of broker_core::event::EventKind.
export const TRACK = 0;
export const PAGE = 1;
export const IDENTIFY = 2;
export const CLICK = 3;
export const SUBMIT = 4;

// Core.push: the event is batched and the call sealed a frame (eventstream_sdk::SEALED);
// 0 is batched, anything else below SEALED a refusal.
export const SEALED = 256;
// The refusals of Core.push (PropsError, BatchError, UNKNOWN_KIND), by the
// SDK error code each raises.
export const CORE_CODES = { 1: 'invalid_argument', 3: 'invalid_argument', 4: 'invalid_argument', 10: 'event_too_large', 11: 'invalid_argument' };

// The value tags of the properties' layout (eventstream_sdk::props).
export const NULL = 0, FALSE = 1, TRUE = 2, NUMBER = 3, STRING = 4, LIST = 5, MAP = 6;

// outcome(): remove the frame (acknowledged, or rejected: report it); any
// other value is the ms to wait before the next attempt.
export const ACKED = -1;
export const REJECTED = -2;

// The relay's close code for a visitor socket from an origin the write key does
// not allow: reconnecting cannot help (eventstream_sdk::policy).
export const CLOSE_ORIGIN_NOT_ALLOWED = 4403;
