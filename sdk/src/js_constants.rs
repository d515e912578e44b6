//! `npm/src/generated.js`: the numbers the JS half shares with this crate
//! and broker-core (event kinds, the codes `Core::push` returns, the tags
//! of the properties' layout, the sentinels of `outcome`, the relay's close
//! code that stops reconnecting),
//! written from their Rust definitions.
//!
//! The test below renders the file and fails when the committed one
//! differs, so a change on the Rust side cannot pass unnoticed by the JS
//! side; `UPDATE_GENERATED=1 cargo test -p eventstream-sdk --lib` rewrites
//! it. A committed file rather than a build step or ABI exports: the
//! package builds with esbuild alone from `npm/src`, and plain constants
//! cost the package nothing at run time (exports would cost wasm and glue).

use crate::batch::BatchError;
use crate::policy::CLOSE_ORIGIN_NOT_ALLOWED;
use crate::props::{
    PropsError, TAG_FALSE, TAG_LIST, TAG_MAP, TAG_NULL, TAG_NUMBER, TAG_STRING, TAG_TRUE,
};
use crate::{ACKED, REJECTED, SEALED, UNKNOWN_KIND};
use broker_core::event::EventKind;
use std::fmt::Write;
use std::path::PathBuf;

/// The SDK error code (`EventstreamError.code` in `npm/src/index.d.ts`) a
/// props error raises. A match, so a new variant must be given one here.
fn props_error_code(e: &PropsError) -> &'static str {
    match e {
        PropsError::Syntax { .. } | PropsError::TooDeep { .. } => "invalid_argument",
    }
}

/// The SDK error code a batch error raises.
fn batch_error_code(e: &BatchError) -> &'static str {
    match e {
        BatchError::EventTooLarge { .. } => "event_too_large",
        BatchError::Unencodable => "invalid_argument",
    }
}

/// Every code below [`SEALED`] that `Core::push` returns, with the SDK error
/// code it raises, in numeric order.
fn core_codes() -> Vec<(u32, &'static str)> {
    let props = [
        PropsError::Syntax { offset: 0 },
        PropsError::TooDeep { max: 0 },
    ];
    let batch = [
        BatchError::EventTooLarge { len: 0, max: 0 },
        BatchError::Unencodable,
    ];
    let mut codes: Vec<(u32, &str)> = props
        .iter()
        .map(|e| (e.code(), props_error_code(e)))
        .chain(batch.iter().map(|e| (e.code(), batch_error_code(e))))
        .chain([(UNKNOWN_KIND, "invalid_argument")])
        .collect();
    codes.sort_unstable();
    codes
}

/// The text of `npm/src/generated.js`.
fn render() -> String {
    let mut js = String::from(
        "// Generated from the Rust sources by sdk/src/js_constants.rs: do not edit.\n\
         // Regenerate: UPDATE_GENERATED=1 cargo test -p eventstream-sdk --lib\n\n\
         // Event kinds: the wire codes of broker_core::event::EventKind.\n",
    );
    for kind in EventKind::ALL {
        let name = kind.as_str().to_ascii_uppercase();
        writeln!(js, "export const {name} = {};", kind.code()).unwrap();
    }
    writeln!(
        js,
        "\n// Core.push: the event is batched and the call sealed a frame (eventstream_sdk::SEALED);\n\
         // 0 is batched, anything else below SEALED a refusal.\n\
         export const SEALED = {SEALED};"
    )
    .unwrap();
    js.push_str(
        "// The refusals of Core.push (PropsError, BatchError, UNKNOWN_KIND), by the\n\
         // SDK error code each raises.\nexport const CORE_CODES = { ",
    );
    let entries: Vec<String> = core_codes()
        .iter()
        .map(|(n, code)| format!("{n}: '{code}'"))
        .collect();
    js.push_str(&entries.join(", "));
    js.push_str(" };\n");
    writeln!(
        js,
        "\n// The value tags of the properties' layout (eventstream_sdk::props).\n\
         export const NULL = {TAG_NULL}, FALSE = {TAG_FALSE}, TRUE = {TAG_TRUE}, NUMBER = {TAG_NUMBER}, \
         STRING = {TAG_STRING}, LIST = {TAG_LIST}, MAP = {TAG_MAP};"
    )
    .unwrap();
    writeln!(
        js,
        "\n// outcome(): remove the frame (acknowledged, or rejected: report it); any\n\
         // other value is the ms to wait before the next attempt.\n\
         export const ACKED = {ACKED};\nexport const REJECTED = {REJECTED};"
    )
    .unwrap();
    writeln!(
        js,
        "\n// The relay's close code for a visitor socket from an origin the write key does\n\
         // not allow: reconnecting cannot help (eventstream_sdk::policy).\n\
         export const CLOSE_ORIGIN_NOT_ALLOWED = {CLOSE_ORIGIN_NOT_ALLOWED};"
    )
    .unwrap();
    js
}

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../npm/src/generated.js")
}

#[test]
fn npm_generated_js_matches_the_rust_constants() {
    let want = render();
    let path = path();
    if std::env::var_os("UPDATE_GENERATED").is_some() {
        std::fs::write(&path, &want).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    }
    let have = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert!(
        have == want,
        "{} is out of date with the Rust constants; regenerate it with\n\
         UPDATE_GENERATED=1 cargo test -p eventstream-sdk --lib\n--- committed\n{have}\n--- rendered\n{want}",
        path.display()
    );
}

#[test]
fn every_refusal_code_is_below_sealed_and_distinct() {
    let codes = core_codes();
    assert!(codes.windows(2).all(|w| w[0].0 < w[1].0), "{codes:?}");
    assert!(codes.iter().all(|&(n, _)| n != 0 && n < SEALED));
}
