// Zeroes the data of the SDK's wasm that only a trap can reach: the panic
// messages, source locations and formatting tables that the Rust library
// links (`capacity overflow`, `memory allocation of .. bytes failed`, the
// paths of alloc's sources, core's decimal digit table). The crate's panic
// handler traps without reading any of it (sdk/src/lib.rs), and wasm-opt
// removes the code that formatted it, but not the bytes: a data segment is
// one block to it. What stays is code that stores those addresses on the
// stack just before `unreachable` (a store is a side effect to wasm-opt).
// std's own fix is nightly's `panic_immediate_abort`; this is its effect on
// the data, on a stable toolchain. About 400 bytes of the gzipped module.
//
// How: the data is cut into regions at every address that the code (as
// constants or load/store offsets), a global or a pointer-sized word of the
// data names. A region is live when code that does not end in a trap names
// its start (the same module optimized again with wasm-opt's
// --traps-never-happen, which deletes exactly the code that leads to
// `unreachable`), when any code loads or stores at a fixed address there,
// or when a word of a live region points at it. Every other region is
// set to zeros, in place: the module keeps its size and layout, and its
// code is the same bytes (it still traps where it trapped). A region ends
// where the next named address starts, so a live reference anywhere stops
// the zeroing; a table read from its own start is one region with its
// entries.
//
// Usage: node npm/dead-data.mjs <module.wasm> <wasm-opt> [wasm-opt flags...]
// Rewrites the module and prints what it zeroed.
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { gzipSync } from 'node:zlib';

const [file, wasmOpt, ...flags] = process.argv.slice(2);
const wasmDis = join(dirname(wasmOpt), 'wasm-dis');
const bytes = readFileSync(file);

/** The active data segments: `{ at: address, pos: file offset, len }`. */
function segments(b) {
  const out = [];
  let p = 8;
  const leb = () => {
    let r = 0;
    let s = 0;
    let x;
    do {
      x = b[p++];
      r += (x & 127) * 2 ** s;
      s += 7;
    } while (x & 128);
    return r;
  };
  while (p < b.length) {
    const id = b[p++];
    const len = leb();
    const end = p + len;
    if (id == 11) {
      for (let n = leb(); n > 0; n--) {
        // Active segments of memory 0 with an i32.const offset: what
        // wasm-ld writes. Anything else is left alone.
        if (leb() != 0 || b[p++] != 0x41) throw new Error('dead-data: a data segment of an unexpected kind');
        // An i32.const is signed LEB128; a non-negative one (an address)
        // reads the same unsigned.
        const at = leb();
        if (b[p++] != 0x0b) throw new Error('dead-data: a data segment offset that is not a constant');
        const size = leb();
        out.push({ at, pos: p, len: size });
        p += size;
      }
    }
    p = end;
  }
  return out;
}

/**
 * Every number the module's code and globals name (i64s as both halves),
 * and apart the load and store offsets among them: the addresses the code
 * reads or writes directly.
 */
function named(wasm) {
  const text = execFileSync(wasmDis, [wasm], { maxBuffer: 64 << 20 }).toString();
  const all = new Set();
  const offsets = new Set();
  for (const line of text.split('\n')) {
    if (line.startsWith(' (data')) continue;
    for (const m of line.matchAll(/(i32\.const|i64\.const|offset=)\s*(-?\d+)/g)) {
      const v = BigInt.asUintN(64, BigInt(m[2]));
      all.add(Number(v & 0xffffffffn));
      if (m[1] == 'i64.const') all.add(Number(v >> 32n));
      if (m[1] == 'offset=') offsets.add(Number(v));
    }
  }
  return { all, offsets };
}

const segs = segments(bytes);
const lo = Math.min(...segs.map((s) => s.at));
const hi = Math.max(...segs.map((s) => s.at + s.len));
const inData = (a) => a >= lo && a < hi;
const byteAt = (a) => {
  for (const s of segs) if (a >= s.at && a < s.at + s.len) return bytes[s.pos + a - s.at];
  return 0;
};
const word = (a) => byteAt(a) | (byteAt(a + 1) << 8) | (byteAt(a + 2) << 16) | (byteAt(a + 3) * 2 ** 24);

const dir = mkdtempSync(join(tmpdir(), 'dead-data-'));
let live;
try {
  const tnh = join(dir, 'tnh.wasm');
  execFileSync(wasmOpt, [...flags, '--traps-never-happen', '-O3', file, '-o', tnh]);
  live = [...named(tnh).all];
} finally {
  rmSync(dir, { recursive: true, force: true });
}
const { all: allNamed, offsets } = named(file);
const all = [...allNamed].filter(inData);
// Data the module reads or writes at a fixed address stays live even when
// only code that traps uses it: a check of static data before a trap would
// otherwise read zeros. The messages and paths are only passed by address.
live = [...live, ...offsets].filter(inData);

// Region starts: named addresses, data words that point into the data, and
// where the data starts. Not the segments' own bounds: wasm-opt splits
// segments at runs of zeros, which says nothing of where an object ends.
const starts = new Set([...all, ...live, lo]);
for (const s of segs) {
  for (let a = Math.ceil(s.at / 4) * 4; a + 4 <= s.at + s.len; a += 4) if (inData(word(a))) starts.add(word(a));
}
const cuts = [...starts].sort((a, b) => a - b);
const end = (a) => cuts[cuts.indexOf(a) + 1] ?? hi;

const keep = new Set();
const todo = [...new Set(live)];
while (todo.length) {
  const a = todo.pop();
  if (keep.has(a)) continue;
  keep.add(a);
  for (let w = Math.ceil(a / 4) * 4; w + 4 <= end(a); w += 4) if (inData(word(w))) todo.push(word(w));
}

const out = Buffer.from(bytes);
let zeroed = 0;
for (const a of cuts) {
  if (keep.has(a) || a >= hi) continue;
  const e = end(a);
  let text = '';
  for (const s of segs) {
    for (let x = Math.max(a, s.at); x < Math.min(e, s.at + s.len); x++) {
      const c = out[s.pos + x - s.at];
      if (c) zeroed++;
      text += c >= 32 && c < 127 ? String.fromCharCode(c) : '.';
      out[s.pos + x - s.at] = 0;
    }
  }
  if (/[^.]/.test(text)) console.log(`  zeroed ${a}..${e}: ${text.length > 72 ? text.slice(0, 69) + '...' : text}`);
}
writeFileSync(file, out);
const gz = (b) => gzipSync(b, { level: 9 }).length;
console.log(`dead data: ${zeroed} bytes zeroed, gzip ${gz(bytes)} -> ${gz(out)} bytes`);
