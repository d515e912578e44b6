// Bundles (POST /v1/bundles) in workerd: several frames in one body, plain
// or deflated as a whole, each routed to its partition, appended as if sent
// alone and answered on its own; a bundle that cannot be split is refused
// whole, and a bad frame inside refuses only itself.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { deflateRawSync } from 'node:zlib';
import { startRelay } from '../support/relay.mjs';
import { ORIGIN, WRITE_KEY, frame, newProducer, partitionOf, postAlone } from './helpers.mjs';
import { makeBundle } from '../support/frames.mjs';

let relay;
before(async () => {
  relay = await startRelay({ origins: [ORIGIN] });
});
after(async () => {
  await relay?.stop();
});

const bundle = makeBundle;

const post = (body, headers = {}) => relay.api('POST', `/v1/bundles?key=${WRITE_KEY}`, { body: new Uint8Array(body), headers });

test('the frames of a bundle are appended to their partitions, in order, each answered', async () => {
  const t = Date.now() - 1000;
  // Two visitors on two partitions, one producer sending two frames in a row.
  let [a, b] = ['bundle-a', 'bundle-b'];
  for (let i = 0; (await partitionOf(relay, a)) === (await partitionOf(relay, b)); i++) b = `bundle-b${i}`;
  const [pa, pb] = [await partitionOf(relay, a), await partitionOf(relay, b)];
  const producerId = newProducer();
  const frames = [
    frame(a, [{ name: 'Product Viewed', time: t, properties: { sku: 'A-1', price: 10 } }], { producerId, sequence: 0 }),
    frame(b, [{ name: 'Product Viewed', time: t + 1, properties: { sku: 'B-1', price: 20 } }]),
    frame(a, [{ name: 'Product Added', time: t + 2 }, { name: 'Checkout Started', time: t + 3 }], { producerId, sequence: 1 }),
  ];
  const r = await post(bundle(frames, { deflate: true }));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body.results, [
    { status: 200, partition: pa, base_offset: 0, count: 1, duplicate: false },
    { status: 200, partition: pb, base_offset: 0, count: 1, duplicate: false },
    { status: 200, partition: pa, base_offset: 1, count: 2, duplicate: false },
  ]);
  const events = (await relay.readAll()).filter((e) => e.visitor === a || e.visitor === b);
  const names = (v) => events.filter((e) => e.visitor === v).map((e) => [e.offset, e.name, e.sequence]);
  assert.deepEqual(names(a), [[0, 'Product Viewed', 0], [1, 'Product Added', 1], [2, 'Checkout Started', 1]]);
  assert.deepEqual(names(b), [[0, 'Product Viewed', 0]]);

  // Sent again (plain this time), every frame is a duplicate with its first offsets.
  const again = await post(bundle(frames));
  assert.deepEqual(again.body.results.map((x) => [x.status, x.base_offset, x.duplicate]), [[200, 0, true], [200, 0, true], [200, 1, true]]);
  assert.equal((await relay.readAll()).filter((e) => e.visitor === a || e.visitor === b).length, 4);
});

test('a bad frame in a bundle refuses only itself, with the code a frame alone gets', async () => {
  const t = Date.now() - 1000;
  const good = frame('bundle-good', [{ name: 'Signed Up', time: t }]);
  const corrupt = Uint8Array.from(frame('bundle-bad', [{ name: 'Signed Up', time: t }]));
  corrupt[corrupt.length - 1] ^= 0xff; // the CRC
  const producerId = newProducer();
  const gap = frame('bundle-gap', [{ name: 'Signed Up', time: t }], { producerId, sequence: 0 });
  const gap2 = frame('bundle-gap', [{ name: 'Signed Up', time: t }], { producerId, sequence: 5 });
  const r = await post(bundle([corrupt, good, gap, gap2]));
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const [c, g, g0, g5] = r.body.results;
  assert.deepEqual([c.status, c.code], [400, 'checksum']);
  assert.match(c.message, /checksum/);
  assert.deepEqual([g.status, g.count], [200, 1]);
  assert.deepEqual([g0.status, g0.count], [200, 1]);
  assert.deepEqual([g5.status, g5.code, g5.expected, g5.got], [409, 'sequence_gap', 1, 5]);
  const stored = (await relay.readAll()).filter((e) => e.visitor.startsWith('bundle-') && e.name === 'Signed Up');
  assert.deepEqual(stored.map((e) => e.visitor).sort(), ['bundle-gap', 'bundle-good']);
});

test('a bundle that cannot be split is refused whole and stores nothing', async () => {
  const before = (await relay.readAll()).length;
  const f = frame('bundle-refused', [{ name: 'Signed Up', time: Date.now() - 1000 }]);
  const cases = [
    [Buffer.from([]), 400, 'truncated'],
    [Buffer.from([2, 0, 1, 1]), 400, 'unknown_version'],
    [Buffer.from([1, 4, 1, 1]), 400, 'unknown_flags'],
    [Buffer.from([1, 0]), 400, 'bundle_frames'],
    [bundle([f]).subarray(0, -1), 400, 'length_past_end'],
    [Buffer.from([1, 1, 0xff, 0xff]), 400, 'deflate'],
    [bundle(Array(101).fill(f)), 413, 'bundle_frames'],
  ];
  for (const [body, status, code] of cases) {
    const r = await post(body);
    assert.deepEqual([r.status, r.body.code], [status, code], `${code}: ${JSON.stringify(r.body)}`);
    assert.equal(typeof r.body.message, 'string');
  }
  // Over 1 MiB as received (refused from its Content-Length), and a small
  // body that would inflate past it.
  const big = await postAlone(`${relay.url}/v1/bundles?key=${WRITE_KEY}`, Buffer.alloc((1 << 20) + 1));
  assert.deepEqual([big.status, big.body.code], [413, 'bundle_too_large']);
  const bomb = Buffer.concat([Buffer.from([1, 1]), deflateRawSync(Buffer.alloc(2 << 20, 1))]);
  assert.ok(bomb.length < 4096);
  const r = await post(bomb);
  assert.deepEqual([r.status, r.body.code], [413, 'inflated_too_large']);
  assert.equal((await relay.readAll()).length, before);
});

test('bundles take the write key, CORS and the rate limit like frames', async () => {
  const f = frame('bundle-cors', [{ name: 'Signed Up', time: Date.now() - 1000 }]);
  const unknown = await relay.api('POST', '/v1/bundles?key=nope', { body: new Uint8Array(bundle([f])) });
  assert.deepEqual([unknown.status, unknown.body.code], [401, 'unknown_write_key']);
  const pre = await relay.api('OPTIONS', `/v1/bundles?key=${WRITE_KEY}`, { headers: { origin: ORIGIN, 'access-control-request-method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
  const ok = await relay.api('POST', `/v1/bundles?key=${WRITE_KEY}`, { body: new Uint8Array(bundle([f])), headers: { origin: ORIGIN } });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('access-control-allow-origin'), ORIGIN);
  const other = await relay.api('POST', `/v1/bundles?key=${WRITE_KEY}`, { body: new Uint8Array(bundle([f])), headers: { origin: 'https://evil.example' } });
  assert.deepEqual([other.status, other.body.code], [403, 'origin_not_allowed']);
  const get = await relay.api('GET', '/v1/bundles');
  assert.equal(get.status, 405);
});

test('the rate limit counts a token per frame of a bundle', async () => {
  const limited = await startRelay({ origins: [ORIGIN], vars: { RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_BURST: '5' } });
  try {
    const frames = Array.from({ length: 4 }, (_, i) => frame(`bundle-rate-${i}`, [{ name: 'Signed Up', time: Date.now() - 1000 }]));
    const send = (fs) => limited.api('POST', `/v1/bundles?key=${WRITE_KEY}`, { body: new Uint8Array(bundle(fs)) });
    assert.equal((await send(frames)).status, 200);
    const refused = await send(frames);
    assert.deepEqual([refused.status, refused.body.code], [429, 'rate_limited']);
    assert.ok(Number(refused.headers.get('retry-after')) >= 1);
  } finally {
    await limited.stop();
  }
});
