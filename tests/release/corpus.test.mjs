// The reference corpus the tests, benches and README use is in the repository
// (examples/corpus) and is what its generator makes, byte for byte, as its
// README says; and its shape is the one its README documents.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/relay.mjs';

const DIR = join(ROOT, 'examples', 'corpus');
const corpus = readFileSync(join(DIR, 'clickstream.jsonl'));
const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
// Python is not among the project's requirements: without it this one check is skipped, visibly.
let python = true;
try {
  execFileSync('python3', ['--version'], { stdio: 'ignore' });
} catch {
  python = false;
}

test('gen.py remakes clickstream.jsonl byte for byte (seed and sessions from its README)', { skip: !python && 'python3 is not installed' }, () => {
  const [, seed, sessions] = /gen\.py --seed (\d+) --sessions (\d+) \| cmp/.exec(readme);
  const made = execFileSync('python3', [join(DIR, 'gen.py'), '--seed', seed, '--sessions', sessions], { maxBuffer: 1 << 26 });
  assert.ok(made.equals(corpus), 'examples/corpus/gen.py output differs from clickstream.jsonl');
});

test('the README states the corpus as it is: checksum, call count, visits, fields', () => {
  const sha = createHash('sha256').update(corpus).digest('hex');
  assert.ok(readme.includes(sha), `README.md gives the sha256 ${sha}`);
  const calls = corpus.toString('utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(readme.includes(`${calls.length.toLocaleString('en-US')} SDK calls`));
  assert.ok(readme.includes(`from ${new Set(calls.map((c) => c.session)).size} visits`));
  assert.deepEqual([...new Set(calls.map((c) => c.call))].sort(), ['click', 'identify', 'page', 'submit', 'track']);
  for (const c of calls) {
    assert.equal(typeof c.anonymousId, 'string');
    assert.ok(Number.isInteger(c.t) && c.t >= 0);
  }
});
