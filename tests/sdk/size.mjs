// Prints the published package's size: each file and the total of what a
// page loads (wasm + JS), raw, gzip (level 9) and brotli (quality 11). The JS
// is already minified by npm/build.sh. Usage: node tests/sdk/size.mjs [dist]
// With --json prints one JSON object instead of the table.
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync, brotliCompressSync, constants } from 'node:zlib';

/**
 * The size budget of what a page loads (wasm + JS, gzip level 9), in bytes,
 * which tests/sdk/package.test.mjs enforces. A regression budget, not the
 * product target (15 KB, which the SDK misses: README, "Missed targets").
 * 22,528 until issue 18 (22,145 bytes then plus 383 of margin); raised to
 * the size after it (22,737 bytes: +592, +400 wasm for frames that take
 * later events while they wait and the lazy sealing that took identify from
 * ~250 to ~35 us, +190 JS) plus 111 bytes of margin. Where to win it back:
 * about 1 KB of the wasm is core's formatting machinery, linked by panic
 * sites in broker-core's frame encoder (slices::plan, Interner::get,
 * seal_compressed) though the SDK's panic handler never formats. A change
 * that needs more raises it in its own commit, with the figures and why.
 */
export const BUDGET_GZIP = 22848;
/** The product target, in bytes (printed beside the budget). */
export const TARGET_GZIP = 15 * 1024;

export function measure(dist) {
  const files = ['index.js', 'eventstream.wasm'];
  const rows = files.map((f) => {
    const b = readFileSync(join(dist, f));
    return {
      file: f,
      raw: b.length,
      gzip: gzipSync(b, { level: 9 }).length,
      brotli: brotliCompressSync(b, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
    };
  });
  const total = { file: 'total (loaded)', raw: 0, gzip: 0, brotli: 0 };
  for (const r of rows) for (const k of ['raw', 'gzip', 'brotli']) total[k] += r[k];
  return [...rows, total];
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
