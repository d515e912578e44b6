// bench/readme-table.mjs, which puts a `scripts/bench` run into the
// README's table: the earlier column keeps what the README showed, the
// SDK's rows read `init()` as the prose does, a second pass over the same
// run changes nothing, and the README's own table is one it can fill.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { render } from '../../bench/readme-table.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const HEADER = '| figure | value | unit | target | note | earlier run |';

const readme = (rows) => ['# Title', '', HEADER, '|---|---|---|---|---|---|', ...rows, '', 'After.'].join('\n');

test('a run becomes the table, with the values it replaces as the earlier run', () => {
  const before = readme([
    '| core decode + append | 4,109,786 | events/s | >= 2,000,000 |  | 3,672,727 |',
    '| SDK loaded at `init()` (wasm + JS), gzip | 14.92 | KB | <= 15 | peers |  |',
    '| a row no longer measured | 1.00 | x |  |  |  |',
  ]);
  const figures = [
    { name: 'core decode + append', value: 4078196.4, unit: 'events/s', target: '>= 2,000,000', note: '' },
    { name: 'SDK loaded at init (wasm + JS), gzip', value: 14.9, unit: 'KB', target: '<= 15', note: 'peers' },
    { name: 'a new row', value: 3, unit: 'ms', target: '', note: 'p90 4' },
  ];
  const { text, rows, gone, unchanged } = render(before, figures);
  assert.equal(unchanged, false);
  assert.deepEqual(rows, [
    '| core decode + append | 4,078,196 | events/s | >= 2,000,000 |  | 4,109,786 |',
    '| SDK loaded at `init()` (wasm + JS), gzip | 14.90 | KB | <= 15 | peers | 14.92 |',
    '| a new row | 3.00 | ms |  | p90 4 |  |',
  ]);
  assert.deepEqual(gone, ['a row no longer measured']);
  assert.ok(text.startsWith('# Title\n\n' + HEADER) && text.endsWith('\n\nAfter.'), 'the text around the table stays');
  // The same run again: nothing changes, so the earlier column survives.
  const again = render(text, figures);
  assert.equal(again.unchanged, true);
  assert.equal(again.text, text);
});

test('the README has the table the tool fills, a row per figure name', () => {
  const text = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const lines = text.split('\n');
  const start = lines.indexOf(HEADER);
  assert.ok(start > 0, `README.md has a table headed ${HEADER}`);
  const names = [];
  for (let i = start + 2; lines[i]?.startsWith('|'); i++) {
    const cells = lines[i].split('|').slice(1, -1);
    assert.equal(cells.length, 6, `row ${lines[i]} has six cells`);
    names.push(cells[0].trim());
  }
  assert.ok(names.includes('core decode + append + 50 triggers'), 'the 50-trigger row is there');
  assert.equal(new Set(names).size, names.length, 'figure names are distinct');
});
