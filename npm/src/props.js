// Properties (and the frame context) as the core reads them: one walk of the
// object into a small tagged layout (sdk/src/props.rs has the diagram),
// instead of JSON text that the core would have to parse (the parser was a
// tenth of the package). JSON.stringify's data model: toJSON (dates become
// ISO strings); undefined, functions and symbols are dropped from objects
// and null in lists; non-finite numbers become null in the core. A cycle
// overflows the stack (a RangeError), as JSON.stringify refuses one.
import { NULL, FALSE, TRUE, NUMBER, STRING, LIST, MAP } from './generated.js';

const enc = new TextEncoder();
const num = new Float64Array(1);
const num8 = new Uint8Array(num.buffer);
let buf = new Uint8Array(1024);
let n = 0;

function room(k) {
  if (n + k > buf.length) {
    const b = new Uint8Array((n + k) * 2);
    b.set(buf);
    buf = b;
  }
}

/** Writes u32 `x` at `at`, little endian. */
function at32(at, x) {
  buf[at] = x;
  buf[at + 1] = x >> 8;
  buf[at + 2] = x >> 16;
  buf[at + 3] = x >> 24;
}

function u32(x) {
  room(4);
  at32(n, x);
  n += 4;
}

function str(s) {
  // UTF-8 needs at most 3 bytes per UTF-16 unit.
  const l = s.length;
  room(l * 3 + 4);
  const at = n;
  n += 4;
  // ASCII (keys, most values) byte by byte: for short strings that costs
  // less than encodeInto's call; the rest from the first other character.
  let i = 0;
  for (let c; i < l && (c = s.charCodeAt(i)) < 128; i++) buf[n++] = c;
  if (i < l) n += enc.encodeInto(s.slice(i), buf.subarray(n)).written;
  at32(at, n - at - 4);
}

const norm = (v, k) => (v && typeof v.toJSON == 'function' ? v.toJSON(k) : v);
const dropped = (v) => v === undefined || typeof v == 'function' || typeof v == 'symbol';

function map(o) {
  const kept = [];
  for (const k of Object.keys(o)) {
    const v = norm(o[k], k);
    if (!dropped(v)) kept.push(k, v);
  }
  u32(kept.length / 2);
  for (let i = 0; i < kept.length; i += 2) {
    str(kept[i]);
    value(kept[i + 1]);
  }
}

function value(v) {
  room(9);
  const t = typeof v;
  if (v === null) buf[n++] = NULL;
  else if (t == 'boolean') buf[n++] = v ? TRUE : FALSE;
  else if (t == 'number') {
    buf[n++] = NUMBER;
    num[0] = v;
    buf.set(num8, n);
    n += 8;
  } else if (t == 'string') {
    buf[n++] = STRING;
    str(v);
  } else if (t == 'bigint') throw new TypeError('a BigInt cannot be serialised');
  else if (Array.isArray(v)) {
    buf[n++] = LIST;
    u32(v.length);
    v.forEach((x, i) => {
      x = norm(x, '' + i);
      value(dropped(x) ? null : x);
    });
  } else {
    buf[n++] = MAP;
    map(v);
  }
}

/**
 * The bytes of object `o` (undefined or null: none); a view that the next
 * call overwrites. Throws what JSON.stringify would (BigInt, cycles).
 */
export function encodeProps(o) {
  n = 0;
  if (o != null) map(o);
  return buf.subarray(0, n);
}
