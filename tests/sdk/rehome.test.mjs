// The JS half's rehome (npm/src/queue.js): a frame moved to another
// producer id keeps every other byte and decodes, by the real codec, to
// the same frame; a damaged or unknown frame is never sealed again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rehomeFrame } from '../../npm/src/queue.js';
import { encodeFrames, decodeFrames, makeFrame } from '../support/frames.mjs';

const frame = () =>
  encodeFrames([makeFrame({ visitor: 'v-1', producerId: '77', sequence: 9, events: [{ name: 'Product Viewed', time: 1_764_000_000_000, properties: { price: 89.58, sku: 'A-1' } }] })])[0];

test('a rehomed frame decodes to the same frame under the new producer id', () => {
  const f = frame();
  const [lo, hi] = [0x89abcdef, 0x01234567];
  const moved = rehomeFrame(f, lo, hi);
  assert.equal(moved.length, f.length);
  // Only the producer id (bytes 2-9) and the CRC (the last 4) change.
  for (let i = 0; i < f.length; i++) if (i < 2 || (i >= 10 && i < f.length - 4)) assert.equal(moved[i], f[i], `byte ${i}`);
  const [before, after] = decodeFrames([f, moved]);
  assert.equal(after.error, undefined, JSON.stringify(after));
  assert.equal(after.producer_id, ((BigInt(hi) << 32n) | BigInt(lo)).toString());
  assert.deepEqual({ ...after, producer_id: before.producer_id }, before);
  // Moved again, from the moved bytes.
  assert.equal(decodeFrames([rehomeFrame(moved, 5, 6)])[0].producer_id, ((6n << 32n) | 5n).toString());
});

test('a damaged frame, or one of another version, is not sealed again', () => {
  const f = frame();
  const damaged = f.slice();
  damaged[14] ^= 1;
  assert.equal(rehomeFrame(damaged, 1, 2), null);
  const v2 = f.slice();
  v2[0] = 2;
  assert.equal(rehomeFrame(v2, 1, 2), null);
  assert.equal(rehomeFrame(f.subarray(0, 10), 1, 2), null);
  assert.equal(rehomeFrame(new Uint8Array(0), 1, 2), null);
});
