// Prints the console's page weight: each file of console/dist raw and gzip
// (level 9, what a CDN's compression gets close to), and the total gzip
// against the 250 KB target. Exits 1 when a file is missing.
// Usage: node console/size.mjs [dist dir]
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const FILES = ['index.html', 'console.js', 'console.css', 'validator_bg.wasm'];
const TARGET_GZIP = 250 * 1024;

const dir = process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), 'dist');
const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
let total = 0;
let totalRaw = 0;
console.log('console page weight:');
for (const f of FILES) {
  const path = join(dir, f);
  if (!existsSync(path)) {
    console.error(`  ${f}: missing from ${dir}`);
    process.exit(1);
  }
  const bytes = readFileSync(path);
  const gz = gzipSync(bytes, { level: 9 }).length;
  total += gz;
  totalRaw += bytes.length;
  console.log(`  ${f.padEnd(18)} ${kb(bytes.length).padStart(10)} raw ${kb(gz).padStart(10)} gzip`);
}
const verdict = total <= TARGET_GZIP ? 'within' : 'OVER';
console.log(`  ${'total'.padEnd(18)} ${kb(totalRaw).padStart(10)} raw ${kb(total).padStart(10)} gzip (${verdict} the 250 KB target)`);
