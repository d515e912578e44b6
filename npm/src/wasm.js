// The glue to the Rust core (sdk/src/abi.rs): numbers in and out; strings,
// properties (props.js) and frames through the module's one bytes buffer
// (`io(n)`, export i, sizes it and returns its address). Hand-written: wasm-bindgen's generated glue was
// about 2 KB of this package's gzipped JS, for a dozen plain functions.

// The instance's exports, each under a one-letter name (sdk/src/abi.rs):
// i io, n core_new, f core_free, r core_set_producer, x core_context,
// s core_restore_session, d core_session_id, l core_session_last,
// e core_end_session, p core_push, v core_reopen, g core_pending, u core_cut,
// t core_take, q core_taken_sequence, b outcome.
let w;
let bytes = new Uint8Array(0); // view of the memory, renewed when it grows
const enc = new TextEncoder();

function mem() {
  if (!bytes.byteLength) bytes = new Uint8Array(w.memory.buffer);
  return bytes;
}

/** Writes strings and then bytes `b` into the buffer, back to back; returns their lengths. */
function put(list, b) {
  let at = w.i(list.reduce((n, s) => n + s.length * 3, b.length)); // UTF-8: at most 3 bytes per UTF-16 unit
  const m = mem();
  const lens = list.map((s) => {
    const len = enc.encodeInto(s, m.subarray(at, at + s.length * 3)).written;
    at += len;
    return len;
  });
  m.set(b, at);
  return [...lens, b.length];
}

/** The `len` bytes a call left in the buffer (a copy), or undefined for -1. */
function out(len) {
  if (len < 0) return;
  const at = w.i(len);
  return mem().slice(at, at + len);
}

/**
 * Loads the module once; `url` defaults to eventstream.wasm next to this
 * file (bundlers such as Vite and webpack 5 follow this `new URL` form).
 */
export async function load(url) {
  if (w) return;
  const imports = {};
  const res = await fetch(url || new URL('./eventstream.wasm', import.meta.url));
  if (!res.ok) throw new Error('HTTP ' + res.status + ' fetching ' + res.url);
  // Streaming compilation needs the `application/wasm` type; without it,
  // compile from the bytes.
  const r = await (WebAssembly.instantiateStreaming && res.headers.get('Content-Type') == 'application/wasm'
    ? WebAssembly.instantiateStreaming(res, imports)
    : res.arrayBuffer().then((b) => WebAssembly.instantiate(b, imports)));
  if (w) return;
  w = r.instance.exports;
  ({ n: coreNew, f: coreFree, r: coreSetProducer, s: coreRestoreSession, d: coreSessionId, l: coreSessionLast,
    e: coreEndSession, v: coreReopen, g: corePending, u: coreCut, q: coreTakenSequence } = w);
}

// One SDK core (see sdk/src/lib.rs `Core`) is a handle into the module,
// which the client keeps as `core` and passes to each of these functions
// first. The exports that take and give only numbers are called as they
// are (a wrapper per export was a hundred bytes of the package), set by
// load(): coreNew(lo, hi, maxEvents, maxBytes) gives a handle;
// coreFree(h), coreSetProducer(h, lo, hi), coreRestoreSession(h, id, last),
// coreSessionId(h), coreSessionLast(h), coreEndSession(h),
// coreReopen(h, seq) (1 if it did), corePending(h), coreCut(h, now),
// coreTakenSequence(h) (of the frame coreTake gave last).
export let coreNew, coreFree, coreSetProducer, coreRestoreSession, coreSessionId, coreSessionLast, coreEndSession,
  coreReopen, corePending, coreCut, coreTakenSequence;

/** `texts`: anonymous id, user id, origin, referrer, locale, time zone; `campaign`: its bytes (props.js). */
export const coreContext = (h, texts, width, height, campaign, now) => w.x(h, now, width, height, ...put(texts, campaign));

/** `props`: the properties' bytes (props.js). */
export const corePush = (h, kind, name, props, now) => w.p(h, kind, ...put([name], props), now);

/** The oldest sealed frame not taken yet (a copy), or undefined. */
export const coreTake = (h) => out(w.t(h));

export const outcome = (status, code, attempt, retryAfter, rand) =>
  w.b(status, put([code], [])[0], attempt, retryAfter, rand);
