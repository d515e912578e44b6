// What the SDK's modules share: errors with a code, storage that never
// throws, base64 for stored frames, and ids.

export const P = 'es:'; // localStorage prefix
export const FRAME = P + 'f:'; // FRAME + producerHex + ':' + sequence = base64 frame
export const noop = () => {};

/** An Error with a stable `code` (and optional extra fields). */
export const error = (code, message, extra) => Object.assign(new Error(message), { code }, extra);

/** Runs what the SDK does on its own: reports, never throws into the page. */
export function safe(c, fn) {
  try {
    fn();
  } catch (e) {
    report(c, e);
  }
}

/** Logs an error and hands it to the page's onError (whose own throw is ignored). */
export function report(c, e) {
  c.say('error', e);
  if (c.o.onError) try { c.o.onError(e); } catch { /* the page's own handler failed */ }
}

/** Runs `fn` on localStorage; what it throws (private mode, sandboxed iframes, quota) gives undefined. */
const ls = (fn) => {
  try {
    return fn(localStorage);
  } catch { /* unavailable */ }
};

/** localStorage that never throws: get gives null or undefined when nothing is read, set true once written. */
export const store = {
  get: (k) => ls((s) => s.getItem(k)),
  set: (k, v) => ls((s) => (s.setItem(k, v), true)),
  del: (k) => ls((s) => s.removeItem(k)),
  keys: (prefix) => ls((s) => Object.keys(s).filter((k) => k.startsWith(prefix))) || [],
};

export function b64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

export function unb64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A random producer id: its u32 halves for the core and its 16 hex digits. */
export function newProducer() {
  const [lo, hi] = crypto.getRandomValues(new Uint32Array(2));
  const h = (x) => x.toString(16).padStart(8, '0');
  return { lo, hi, hex: h(hi) + h(lo) };
}

/**
 * A random (version 4) UUID. Not crypto.randomUUID: a page served over
 * plain HTTP has none, and this one form serves every page.
 */
export const uuid = () =>
  '10000000-1000-4000-8000-100000000000'.replace(/[018]/g, (d) => (d ^ (crypto.getRandomValues(new Uint8Array(1))[0] & (15 >> (d / 4)))).toString(16));
