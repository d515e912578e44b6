// What the SDK's modules share: errors with a code, storage that never
// throws, base64 for stored frames, and ids.

export const P = 'es:'; // localStorage prefix
export const FRAME = P + 'f:'; // FRAME + producerHex + ':' + sequence = base64 frame
export const noop = () => {};

/** An Error with a stable `code` (and optional extra fields). */
export function error(code, message, extra) {
  const e = new Error(message);
  e.code = code;
  return Object.assign(e, extra);
}

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
  c.log('error', e);
  if (c.o.onError) try { c.o.onError(e); } catch { /* the page's own handler failed */ }
}

/** localStorage that never throws (private mode, sandboxed iframes, quota). */
export const store = {
  get(k) {
    try { return localStorage.getItem(k); } catch { return null; }
  },
  set(k, v) {
    try { localStorage.setItem(k, v); return true; } catch { return false; }
  },
  del(k) {
    try { localStorage.removeItem(k); } catch { /* unavailable: nothing stored */ }
  },
  keys(prefix) {
    const out = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i);
        if (k && k.startsWith(prefix)) out.push(k);
      }
    } catch { /* unavailable */ }
    return out;
  },
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

export function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join('');
  return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
}
