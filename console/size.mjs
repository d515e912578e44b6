// Prints the console's page weight: each file of console/dist raw and gzip
// (level 9, what a CDN's compression gets close to), and the total gzip
// against the 250 KB target. Exits 1 when a file is missing. scripts/bench
// prints the total through `measure`.
// Usage: node console/size.mjs [dist dir]
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

/** What the page loads: console/build.sh makes exactly these. */
export const FILES = ['index.html', 'console.js', 'console.css', 'validator_bg.wasm'];
export const TARGET_GZIP = 250 * 1024;
export const DIST = join(dirname(fileURLToPath(import.meta.url)), 'dist');

/**
 * Each file of `dir` raw and gzip (bytes), and their totals; throws when a
 * file is missing.
 */
export function measure(dir = DIST) {
  const files = FILES.map((file) => {
    const path = join(dir, file);
    if (!existsSync(path)) throw new Error(`${file}: missing from ${dir} (console/build.sh makes it)`);
    const bytes = readFileSync(path);
    return { file, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length };
  });
  const sum = (k) => files.reduce((n, f) => n + f[k], 0);
  return { files, raw: sum('raw'), gzip: sum('gzip') };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  let m;
  try {
    m = measure(process.argv[2] ?? DIST);
  } catch (e) {
    console.error(`  ${e.message}`);
    process.exit(1);
  }
  console.log('console page weight:');
  for (const f of m.files) console.log(`  ${f.file.padEnd(18)} ${kb(f.raw).padStart(10)} raw ${kb(f.gzip).padStart(10)} gzip`);
  const verdict = m.gzip <= TARGET_GZIP ? 'within' : 'OVER';
  console.log(`  ${'total'.padEnd(18)} ${kb(m.raw).padStart(10)} raw ${kb(m.gzip).padStart(10)} gzip (${verdict} the 250 KB target)`);
}
