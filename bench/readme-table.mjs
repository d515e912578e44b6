// Puts a `scripts/bench` run into the README's table: each figure of
// bench-results/latest.json (or the file given) as a row, and the value the
// README showed before as its "earlier run". The prose around the table
// (the run's date and machine, what changed: bench/HISTORY.md) is written by
// hand. Run once per bench run: a README that already shows the run is left
// as it is, so its earlier column is not overwritten with the same run.
// Usage: node bench/readme-table.mjs [results.json]
import { readFileSync, writeFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const HEADER = '| figure | value | unit | target | note | earlier run |';

/** The README's name of a figure: `init()` as code, as the prose writes it. */
const shown = (name) => name.replace('at init (', 'at init() (').replaceAll('init()', '`init()`');
const key = (name) => name.replaceAll('`', '');
const fmt = (v) => (typeof v != 'number' ? v : Math.abs(v) >= 100 ? Math.round(v).toLocaleString('en-US') : v.toFixed(2));

/** The README text with its table made from `figures`. */
export function render(readme, figures) {
  const lines = readme.split('\n');
  const start = lines.indexOf(HEADER);
  if (start < 0) throw new Error(`the README has no table headed ${HEADER}`);
  let end = start + 2;
  while (lines[end]?.startsWith('|')) end++;
  const before = new Map();
  for (const l of lines.slice(start + 2, end)) {
    const cells = l.split('|').slice(1, -1).map((c) => c.trim());
    before.set(key(cells[0]), cells[1]);
  }
  const unchanged = figures.every((f) => before.get(key(shown(f.name))) === String(fmt(f.value)));
  if (unchanged) return { text: readme, rows: [], gone: [], unchanged };
  const rows = figures.map((f) =>
    `| ${shown(f.name)} | ${fmt(f.value)} | ${f.unit} | ${f.target ?? ''} | ${f.note ?? ''} | ${before.get(key(shown(f.name))) ?? ''} |`);
  const gone = [...before.keys()].filter((k) => !figures.some((f) => key(shown(f.name)) === k));
  lines.splice(start + 2, end - start - 2, ...rows);
  return { text: lines.join('\n'), rows, gone, unchanged };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const results = process.argv[2] || join(ROOT, 'bench-results/latest.json');
  const { figures, date } = JSON.parse(readFileSync(results, 'utf8'));
  const path = join(ROOT, 'README.md');
  const { text, rows, gone, unchanged } = render(readFileSync(path, 'utf8'), figures);
  if (unchanged) {
    console.log(`README.md already shows the run of ${date}: left as it is`);
  } else {
    writeFileSync(path, text);
    console.log(`README.md: ${rows.length} rows from the run of ${date}; now write its date and machine above the table`);
    if (gone.length) console.error(`rows the run no longer measures, dropped: ${gone.join('; ')}`);
  }
}
