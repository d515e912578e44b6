//! The module's interface to its JS glue (`npm/src/wasm.js`): plain numbers
//! in and out, bytes through one buffer. wasm-bindgen's generated glue was
//! about 2 KB of the package's gzipped JS, and its shims and externref
//! table some hundreds of bytes of wasm; these few exports need neither.
//!
//! Bytes cross through [`io`]: JS asks it for a buffer of n bytes and
//! writes strings (UTF-8) or frames there back to back, then passes their
//! lengths to the call. A call that returns bytes leaves them in that buffer
//! and returns their length (-1: none), which JS reads at `io(length)`.
//! Cores are handles, indexes into a table, so a stale or wrong handle from
//! JS does nothing instead of touching freed memory.
//!
//! Each export has a one-letter name (`export_name`), which wasm.js uses:
//! the names are in the module and in the JS once each, and full names
//! were about 100 bytes of the gzipped package.

use crate::{Core, Props};
use alloc::vec::Vec;
use core::cell::UnsafeCell;

/// One piece of the module's state.
struct Global<T>(UnsafeCell<T>);

// Safety: wasm32-unknown-unknown without the atomics feature has one thread.
unsafe impl<T> Sync for Global<T> {}

static IO: Global<Vec<u8>> = Global(UnsafeCell::new(Vec::new()));
static CORES: Global<Vec<Option<Core>>> = Global(UnsafeCell::new(Vec::new()));

/// The bytes buffer. Each export takes it at most once and keeps it only
/// for the call: JS never calls in while a call runs (the module imports
/// nothing), so there is one reference at a time.
fn io_buf() -> &'static mut Vec<u8> {
    // Safety: see above.
    unsafe { &mut *IO.0.get() }
}

/// Runs `f` on the buffer's bytes, read in place: nothing borrowed from
/// them outlives `f` (the next [`io`] may move them), and the cores never
/// touch the buffer. Reading a copy taken out of the buffer and putting it
/// back after the call was about 50 bytes of the gzipped module.
fn read_io<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    f(io_buf())
}

/// The core behind handle `h`, if it is live (same discipline as
/// [`io_buf`]: at most once per export).
fn core(h: u32) -> Option<&'static mut Core> {
    // Safety: see `io_buf`.
    let cores = unsafe { &mut *CORES.0.get() };
    cores.get_mut(h as usize)?.as_mut()
}

/// A string of `a` bytes and then `b` more bytes, back to back at the start
/// of `buf`.
///
/// # Safety
///
/// The string must be UTF-8, as `TextEncoder.encodeInto` writes it and reports
/// its length. Not checked: `from_utf8` is 700 bytes of the module, and
/// the glue is the only caller (wasm-bindgen trusts it the same way).
unsafe fn str_then(buf: &[u8], a: usize, b: usize) -> Option<(&str, &[u8])> {
    let (first, rest) = buf.split_at_checked(a)?;
    Some((core::str::from_utf8_unchecked(first), rest.get(..b)?))
}

/// Leaves `out` in the buffer for JS and returns its length (-1: none).
fn give(out: Option<Vec<u8>>) -> i32 {
    match out {
        Some(v) => {
            let n = v.len() as i32;
            *io_buf() = v;
            n
        }
        None => -1,
    }
}

/// Makes the buffer `len` bytes long and returns where it starts.
#[export_name = "i"]
pub extern "C" fn io(len: usize) -> *mut u8 {
    let buf = io_buf();
    buf.resize(len, 0);
    buf.as_mut_ptr()
}

/// A new [`Core`] (see [`Core::new`]); returns its handle.
#[export_name = "n"]
pub extern "C" fn core_new(lo: u32, hi: u32, max_events: u32, max_bytes: u32) -> u32 {
    // Safety: see `io_buf`.
    let cores = unsafe { &mut *CORES.0.get() };
    cores.push(Some(Core::new(lo, hi, max_events, max_bytes)));
    cores.len() as u32 - 1
}

/// Drops the core; its handle is never reused.
#[export_name = "f"]
pub extern "C" fn core_free(h: u32) {
    // Safety: see `io_buf`.
    let cores = unsafe { &mut *CORES.0.get() };
    if let Some(c) = cores.get_mut(h as usize) {
        *c = None;
    }
}

/// [`Core::set_producer`].
#[export_name = "r"]
pub extern "C" fn core_set_producer(h: u32, lo: u32, hi: u32) {
    if let Some(c) = core(h) {
        c.set_producer(lo, hi);
    }
}

/// [`Core::context`] with its six strings (anonymous id, user id, origin,
/// referrer, locale, time zone) of the given UTF-8 lengths, then the
/// campaign's `campaign_len` bytes ([`Props`]), back to back in the buffer.
///
/// # Safety
///
/// The strings, and those in the campaign, are UTF-8 (see `str_then` and
/// [`Props::from_bytes_unchecked`]).
#[export_name = "x"]
#[allow(clippy::too_many_arguments)]
pub unsafe extern "C" fn core_context(
    h: u32,
    now: f64,
    screen_width: u32,
    screen_height: u32,
    anonymous_id_len: usize,
    user_id_len: usize,
    origin_len: usize,
    referrer_len: usize,
    locale_len: usize,
    timezone_len: usize,
    campaign_len: usize,
) -> u32 {
    read_io(|mut rest| {
        let mut whole = true;
        // Safety: the caller's (UTF-8).
        let mut text = |n: usize| match rest.split_at_checked(n) {
            Some((s, r)) => {
                rest = r;
                unsafe { core::str::from_utf8_unchecked(s) }
            }
            None => {
                whole = false;
                ""
            }
        };
        let page = crate::PageContext {
            anonymous_id: text(anonymous_id_len),
            user_id: text(user_id_len),
            origin: text(origin_len),
            referrer: text(referrer_len),
            locale: text(locale_len),
            timezone: text(timezone_len),
            screen_width,
            screen_height,
            // Safety: the caller's.
            campaign: unsafe {
                Props::from_bytes_unchecked(rest.get(..campaign_len).unwrap_or_default())
            },
        };
        match core(h) {
            Some(c) if whole => c.context(&page, now),
            _ => crate::props::PropsError::Syntax { offset: 0 }.code(),
        }
    })
}

/// [`Core::restore_session`].
#[export_name = "s"]
pub extern "C" fn core_restore_session(h: u32, id: f64, last: f64) {
    if let Some(c) = core(h) {
        c.restore_session(id, last);
    }
}

/// [`Core::session_id`].
#[export_name = "d"]
pub extern "C" fn core_session_id(h: u32) -> f64 {
    core(h).map_or(0.0, |c| c.session_id())
}

/// [`Core::session_last`].
#[export_name = "l"]
pub extern "C" fn core_session_last(h: u32) -> f64 {
    core(h).map_or(0.0, |c| c.session_last())
}

/// [`Core::end_session`].
#[export_name = "e"]
pub extern "C" fn core_end_session(h: u32) {
    if let Some(c) = core(h) {
        c.end_session();
    }
}

/// [`Core::push`] with the name's `name_len` bytes (UTF-8), then the
/// properties' `props_len` bytes ([`Props`]), in the buffer.
///
/// # Safety
///
/// The name and the strings in the properties are UTF-8 (see `str_then`
/// and [`Props::from_bytes_unchecked`]).
#[export_name = "p"]
pub unsafe extern "C" fn core_push(
    h: u32,
    kind: u8,
    name_len: usize,
    props_len: usize,
    now: f64,
) -> u32 {
    // Safety: the caller's.
    read_io(
        |buf| match (core(h), unsafe { str_then(buf, name_len, props_len) }) {
            // Safety: the caller's.
            (Some(c), Some((name, props))) => c.push(
                kind,
                name,
                unsafe { Props::from_bytes_unchecked(props) },
                now,
            ),
            _ => crate::props::PropsError::Syntax { offset: 0 }.code(),
        },
    )
}

/// [`Core::reopen`].
#[export_name = "v"]
pub extern "C" fn core_reopen(h: u32, sequence: f64) -> u32 {
    core(h).map_or(0, |c| c.reopen(sequence))
}

/// [`Core::pending`].
#[export_name = "g"]
pub extern "C" fn core_pending(h: u32) -> u32 {
    core(h).map_or(0, |c| c.pending())
}

/// [`Core::cut`].
#[export_name = "u"]
pub extern "C" fn core_cut(h: u32, now: f64) {
    if let Some(c) = core(h) {
        c.cut(now);
    }
}

/// [`Core::take`]: the frame's length, its bytes in the buffer (-1: none).
#[export_name = "t"]
pub extern "C" fn core_take(h: u32) -> i32 {
    give(core(h).and_then(Core::take))
}

/// [`Core::taken_sequence`].
#[export_name = "q"]
pub extern "C" fn core_taken_sequence(h: u32) -> f64 {
    core(h).map_or(0.0, |c| c.taken_sequence())
}

/// [`outcome`](crate::outcome) with the code's `code_len` bytes in the
/// buffer.
///
/// # Safety
///
/// The bytes are UTF-8 (see `str_then`).
#[export_name = "b"]
pub unsafe extern "C" fn outcome(
    status: u16,
    code_len: usize,
    attempt: u32,
    retry_after_ms: f64,
    rand: f64,
) -> f64 {
    // Safety: the caller's.
    let code = match unsafe { str_then(io_buf(), code_len, 0) } {
        Some((code, _)) => code,
        None => "",
    };
    crate::outcome(status, code, attempt, retry_after_ms, rand)
}
