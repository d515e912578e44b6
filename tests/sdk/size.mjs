// Prints the published package's size: each file and the totals of what a
// page loads (wasm + JS: at init, and with the trigger socket), raw, gzip
// (level 9) and brotli (quality 11). The JS is already minified by
// npm/build.sh. Usage: node tests/sdk/size.mjs [dist]
// With --json prints one JSON object instead of the table.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

/**
 * What a page loads, gzip level 9, in bytes, which tests/sdk/package.test.mjs
 * holds to these budgets. `init` is what `init()` fetches (index.js and the
 * wasm), all a page with `triggers: false` ever loads; `triggers` adds
 * socket.js, which a page with triggers fetches when its visitor first
 * connects, in parallel with the visitor's token (npm/src/trigger.js).
 *
 * History (issue 20): 22,737 bytes at its start (budget 22,848, both files
 * at init). Properties as a binary layout instead of JSON text (no JSON
 * parser in the wasm), no panic sites in the encoder path, the context
 * made to fit in the SDK (no fitting fallback linked), and socket.js
 * loaded on first use brought init to 20,432 and triggers to 21,513.
 * Each budget is that figure plus about 100 bytes of margin. A change that
 * needs more raises it in its own commit, with the figures and why.
 * Writing ASCII strings byte by byte in the properties encoder (main thread
 * per call p50 10 -> 5 us) took init to 20,500 and triggers to 21,581.
 * One-letter wasm export names, the SDK's own JS properties renamed by the
 * minifier (npm/build.sh PROPS) and wasm-opt's --low-memory-unused brought
 * them to 20,090 and 21,155; the batcher's sealed frames in a Vec instead
 * of a VecDeque and the page context copied once when cut, to 19,942 and
 * 21,007; wasm-opt's --reorder-functions and esbuild's ES2021 target, to
 * 19,864 and 20,929; the allocator without its realloc and wasm-opt -O3
 * instead of -Oz (more raw bytes, fewer gzipped), to 19,793 and 20,858.
 * The encoder's CRC-32 from a 16-entry table of nibbles instead of a
 * 1 KiB byte table (high-entropy data gzip cannot shrink) and the frame
 * header read without panic sites, to 18,474 and 19,539; the encoder's
 * error without its reason text, to 18,450 and 19,515.
 * The data that only a trap reaches (panic messages and locations, core's
 * digit table: npm/dead-data.mjs) zeroed, and the encoder's reasons for
 * refusing a value as an enum instead of text, to 17,857 and 18,922: under
 * Snowplow's 17.6 KB (18,022 bytes).
 * Slices planned only in small tables, by a pairwise search for the
 * longest string containing each one (no hash index and sort: frames
 * large enough to be deflated do better without slices), to 16,942 and
 * 18,007. `FrameBuilder::finish` by reference, so that the batcher keeps
 * the last frame's builder for reopening without cloning it, to 16,818
 * and 17,883. The encoder's static strings as one packed byte array
 * instead of a table of pointers, to 16,725; frames sent plain on a socket
 * with permessage-deflate (a field and a test), to 16,731 and 17,823;
 * the deflate decided at each attempt, to 16,733 and 17,825.
 * Bundles (the frames waiting, of every producer, in one request deflated
 * as a whole: wire bytes back to back 30.8 -> 14.6 per event), a frame
 * sealed by a visitor change held for the next flush, and a producer per
 * visitor, to 17,288 and 18,380. No more deflating frame by frame (what
 * goes by HTTP is a bundle, deflated as a whole; the socket has
 * permessage-deflate): the wasm's payload and seal exports and the JS that
 * drove them gone, to 16,756 and 17,829. The encoder without slice
 * planning (broker-core's `slices` feature off: only a frame travelling
 * plain gained from slices, and the SDK's never do), to 16,362 and 17,435.
 * Rehoming a frame (a new producer id and CRC) in the JS half instead of
 * the wasm, whose header parser and checks only it used, to 15,781 and
 * 16,854; a frame still taking events sealed before any bundle goes, to
 * 15,788 and 16,861; only the current visitor's frames on its socket, to
 * 15,802 and 16,875.
 * Under the 15 KB target (issue 20's second round): a one-line v4 uuid and
 * localStorage behind one helper, to 15,723 and 16,795. The wasm exports
 * that take and give numbers called without a Core wrapper class, to
 * 15,697 and 16,772. The client's fields named like Web API properties
 * renamed so that the minifier takes them, to 15,685 and 16,756. The
 * campaign read by reference in Core::context (consuming the map linked
 * its iterator and drops), to 15,563 and 16,634. The batcher's limits a
 * constant instead of a field, to 15,532 and 16,603. The properties
 * reader's tag, u32 and f64 read as arrays, to 15,512 and 16,583. push and
 * context reading the io buffer in place instead of a copy taken out and
 * put back, to 15,463 and 16,534. The context export's strings without a
 * tuple of Options, to 15,431 and 16,502. fit copying up to the boundary
 * it found without checking it again, to 15,413 and 16,484. wasm-opt's
 * one-caller inlining limited to functions of 150 bytes, to 15,364 and
 * 16,435. props.js's u32 writes through one helper and error() in one
 * expression, to 15,360 and 16,431. str_then splitting the buffer once, to
 * 15,354 and 16,425. One lock() for the page's producer and a rehomed
 * queue's, to 15,345 and 16,416. flushAt passed straight to the core and
 * the client's push renamed for the minifier, to 15,339 and 16,411. An
 * empty user id never copied, to 15,295 and 16,367. ms() as a saturating
 * cast, to 15,281 and 16,353. push under its own name again (the corpus
 * test and the bench call it), to 15,282 and 16,352. The init budget is the
 * target itself now (78 bytes of margin).
 */
export const BUDGET_GZIP = { init: 15_360, triggers: 16_432 };
/** The product target for what a page loads, in bytes (README, TARGETS.md). */
export const TARGET_GZIP = 15 * 1024;

const size = (dist, f) => {
  const b = readFileSync(join(dist, f));
  return {
    file: f,
    raw: b.length,
    gzip: gzipSync(b, { level: 9 }).length,
    brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
  };
};

const sum = (file, rows) => {
  const total = { file, raw: 0, gzip: 0, brotli: 0 };
  for (const r of rows) for (const k of ['raw', 'gzip', 'brotli']) total[k] += r[k];
  return total;
};

/**
 * The package's files and what a page loads: rows for index.js,
 * eventstream.wasm and socket.js, then `total (init)` (index.js + wasm)
 * and `total (triggers)` (all three), last.
 */
export function measure(dist) {
  const [js, wasm, socket] = ['index.js', 'eventstream.wasm', 'socket.js'].map((f) => size(dist, f));
  return [js, wasm, socket, sum('total (init)', [js, wasm]), sum('total (triggers)', [js, wasm, socket])];
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const args = process.argv.slice(2);
  const dist = args.find((a) => !a.startsWith('--')) || join(dirname(fileURLToPath(import.meta.url)), '../../npm/dist');
  const rows = measure(dist);
  if (args.includes('--json')) console.log(JSON.stringify(rows));
  else {
    const kb = (n) => (n / 1024).toFixed(2).padStart(8) + ' KB';
    console.log('package size'.padEnd(18) + 'raw'.padStart(11) + 'gzip'.padStart(11) + 'brotli'.padStart(11));
    for (const r of rows) console.log(r.file.padEnd(18) + kb(r.raw) + kb(r.gzip) + kb(r.brotli));
  }
}
