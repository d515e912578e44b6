// The Outcomes view's statistics (console/src/lift.js) against published,
// hand-checkable values: Wilson intervals from Newcombe (1998a, "Two-sided
// confidence intervals for the single proportion", Stat Med 17:857-872,
// Table I, method 3) and hybrid score intervals for a difference from
// Newcombe (1998b, Stat Med 17:873-890, Table II, method 10), to 4 places.
// Runs in Node; no build needed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { wilson, newcombe, verdict, points, Z95 } from '../../console/src/lift.js';

const r4 = (x) => Math.round(x * 1e4) / 1e4;

test('Wilson score interval: the published examples', () => {
  for (const [k, n, lo, hi] of [
    [81, 263, 0.2553, 0.3662],
    [15, 148, 0.0624, 0.1605],
    [0, 20, 0, 0.1611],
    [1, 29, 0.0061, 0.1718],
  ]) {
    const w = wilson(k, n);
    assert.deepEqual([r4(w.lo), r4(w.hi)], [lo, hi], `${k}/${n}`);
    assert.equal(w.p, k / n);
  }
});

test('Wilson by hand: 15/148', () => {
  // z^2 = 3.8415; centre (15 + 1.9207) / 151.8415 = 0.11144;
  // half z * sqrt(15 * 133 / 148 + 0.9604) / 151.8415
  //    = 1.96 * sqrt(14.4399) / 151.8415 = 0.04905.
  const w = wilson(15, 148);
  assert.equal(r4((w.lo + w.hi) / 2), 0.1114);
  assert.equal(r4((w.hi - w.lo) / 2), 0.0491);
  assert.equal(r4(Z95 * Z95), 3.8415);
});

test('Wilson: every proportion at the ends stays inside [0, 1]; n = 0 has no interval', () => {
  assert.deepEqual(wilson(0, 1), { p: 0, lo: 0, hi: wilson(0, 1).hi });
  assert.equal(wilson(5, 5).hi, 1);
  assert.equal(wilson(0, 0), null);
  assert.throws(() => wilson(6, 5), RangeError);
});

test("Newcombe's hybrid score interval: the published examples", () => {
  for (const [k1, n1, k2, n2, lo, hi] of [
    [56, 70, 48, 80, 0.0524, 0.3339],
    [9, 10, 3, 10, 0.1705, 0.809],
    [6, 7, 2, 7, 0.0582, 0.8062],
    [5, 56, 0, 29, -0.0381, 0.1926],
    [0, 10, 0, 20, -0.1611, 0.2775],
    [0, 10, 0, 10, -0.2775, 0.2775],
    [10, 10, 0, 20, 0.6791, 1],
    [10, 10, 0, 10, 0.6075, 1],
  ]) {
    const d = newcombe(k1, n1, k2, n2);
    assert.deepEqual([r4(d.lo), r4(d.hi)], [lo, hi], `${k1}/${n1} - ${k2}/${n2}`);
    assert.equal(d.diff, k1 / n1 - k2 / n2);
  }
  assert.equal(newcombe(1, 2, 0, 0), null);
});

test('Newcombe by hand: the sum of the two Wilson distances (56/70 - 48/80)', () => {
  // Lower: 0.2 - sqrt((0.8 - 0.6918)^2 + (0.7004 - 0.6)^2) = 0.2 - 0.1476 = 0.0524.
  const d = newcombe(56, 70, 48, 80);
  assert.equal(r4(d.treated.lo), 0.6918);
  assert.equal(r4(d.held.hi), 0.7004);
  assert.equal(r4(0.2 - Math.hypot(0.8 - d.treated.lo, d.held.hi - 0.6)), 0.0524);
});

test('verdict: in plain words, only when the interval excludes zero', () => {
  assert.equal(verdict({ conversions: 56, firings: 70 }, { conversions: 48, firings: 80 }).text, 'Lifts conversion by 20.0 points (95% CI +5.2 to +33.4)');
  const drop = verdict({ conversions: 48, firings: 80 }, { conversions: 56, firings: 70 });
  assert.equal(drop.kind, 'drop');
  assert.equal(drop.text, 'Lowers conversion by 20.0 points (95% CI −33.4 to −5.2)');
  const unsure = verdict({ conversions: 5, firings: 56 }, { conversions: 0, firings: 29 });
  assert.equal(unsure.kind, 'unknown');
  assert.match(unsure.text, /^Not enough evidence yet: the difference is \+8\.9 points, but the interval \(95% CI −3\.8 to \+19\.3\) includes zero\.$/);
  assert.equal(verdict({ conversions: 3, firings: 10 }, { conversions: 0, firings: 0 }).text, 'Not enough evidence yet: no held-out firing in this range to compare with.');
  assert.equal(verdict({ conversions: 0, firings: 0 }, { conversions: 0, firings: 4 }).kind, 'unknown');
});

test('points: signed percentage points, no negative zero', () => {
  assert.equal(points(0.0123), '+1.2');
  assert.equal(points(-0.0004), '0.0');
  assert.equal(points(-0.25), '−25.0');
});
