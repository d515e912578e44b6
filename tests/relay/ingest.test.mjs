// Ingest through the relay in workerd: frames appended durably with their
// offsets and read back, idempotent retries, sequence errors, CORS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../support/relay.mjs';
import { ORIGIN, TEST_SECRETS, WRITE_KEY, frame, newProducer, postFrame, partitionOf } from './helpers.mjs';

let relay;
before(async () => {
  relay = await startRelay({ origins: [ORIGIN] });
});
after(async () => {
  await relay?.stop();
});

const read = (p, stream, query) => relay.api('GET', `/v1/partitions/${p}/${stream}?${query}`, { token: TEST_SECRETS.SUBSCRIBER_TOKEN });

test('health says how many partitions there are', async () => {
  const r = await relay.api('GET', '/health');
  assert.equal(r.status, 200);
  assert.deepEqual(r.body, { ok: true, partitions: 4, version: '0.1.0' });
});

test('a frame is appended and read back with dense offsets', async () => {
  const visitor = 'ingest-visitor-1';
  const p = await partitionOf(relay, visitor);
  const t = Date.now() - 1000;
  const producerId = newProducer();
  const r1 = await postFrame(relay, frame(visitor, [
    { name: 'Product Viewed', time: t, properties: { price: 89.58, sku: 'A-1', tags: ['x', 'y'], nested: { ok: true } } },
    { kind: 'page', name: '$page', time: t + 1, properties: { path: '/cart' } },
  ], { producerId, sequence: 0, userId: 'u-7' }));
  assert.equal(r1.status, 200, JSON.stringify(r1.body));
  assert.deepEqual(r1.body, { partition: p, base_offset: 0, count: 2, duplicate: false });
  const r2 = await postFrame(relay, frame(visitor, [{ name: 'Product Added', time: t + 2 }], { producerId, sequence: 1 }));
  assert.deepEqual(r2.body, { partition: p, base_offset: 2, count: 1, duplicate: false });

  const all = await read(p, 'events', 'from=earliest&limit=100');
  assert.equal(all.status, 200);
  // Each record names its frame (producer, sequence, index) and when it was
  // appended, and carries the frame's context with what the relay added.
  const frameOf = all.body.records.map(({ producer_id, sequence, index, received_at }) => [producer_id, sequence, index, typeof received_at]);
  assert.deepEqual(frameOf, [[producerId, 0, 0, 'number'], [producerId, 0, 1, 'number'], [producerId, 1, 0, 'number']]);
  for (const r of all.body.records) {
    // geo is whatever the runtime's request properties say (Miniflare's
    // stand-in here; tests/relay/enrichment.test.mjs sets its own).
    const { geo, ...context } = r.context;
    assert.equal(typeof geo, 'object');
    assert.deepEqual(context, {
      session_id: 1, origin: 'http://127.0.0.1', locale: 'en-US', timezone: 'Europe/Berlin',
      library: 'eventstream-tests/0', screen: { width: 1440, height: 900 },
      // Node's fetch sends a user agent no parser knows: another device, no bot.
      device: { type: 'other' }, bot: false,
    });
  }
  const plain = all.body.records.map(({ context, producer_id, sequence, index, received_at, ...rest }) => rest);
  assert.deepEqual(plain, [
    { partition: p, offset: 0, visitor, userId: 'u-7', kind: 'track', name: 'Product Viewed', time: t, properties: { price: 89.58, sku: 'A-1', tags: ['x', 'y'], nested: { ok: true } } },
    { partition: p, offset: 1, visitor, userId: 'u-7', kind: 'page', name: '$page', time: t + 1, properties: { path: '/cart' } },
    { partition: p, offset: 2, visitor, userId: null, kind: 'track', name: 'Product Added', time: t + 2, properties: {} },
  ]);
  assert.equal(all.body.next_offset, 3);
  assert.equal(all.body.end, 3);
  assert.equal(all.body.earliest, 0);

  const page = await read(p, 'events', 'from=1&limit=1');
  assert.deepEqual(page.body.records.map((r) => r.offset), [1]);
  assert.equal(page.body.next_offset, 2);
  const latest = await read(p, 'events', 'from=latest');
  assert.deepEqual(latest.body, { records: [], next_offset: 3, end: 3, earliest: 0 });
  const none = await read(p, 'events', 'from=0&limit=0');
  assert.deepEqual(none.body, { records: [], next_offset: 0, end: 3, earliest: 0 });
  const past = await read(p, 'events', 'from=9');
  assert.equal(past.status, 416);
  assert.equal(past.body.code, 'offset_out_of_range');
  assert.equal(past.body.end, 3);
  assert.equal(past.body.earliest, 0);
});

test('a retried frame is acknowledged with its first offsets and stored once', async () => {
  const visitor = 'ingest-visitor-retry';
  const p = await partitionOf(relay, visitor);
  const before = (await read(p, 'events', 'from=latest')).body.end;
  const producerId = newProducer();
  const bytes = frame(visitor, [{ name: 'A' }, { name: 'B' }, { name: 'C' }], { producerId, sequence: 0 });
  const first = await postFrame(relay, bytes);
  assert.deepEqual(first.body, { partition: p, base_offset: before, count: 3, duplicate: false });
  for (let i = 0; i < 3; i++) {
    const again = await postFrame(relay, bytes);
    assert.equal(again.status, 200);
    assert.deepEqual(again.body, { partition: p, base_offset: before, count: 3, duplicate: true });
  }
  const after = (await read(p, 'events', 'from=latest')).body.end;
  assert.equal(after, before + 3);
});

test('a sequence gap is 409 sequence_gap (retriable); an old sequence is 409 stale_sequence', async () => {
  const visitor = 'ingest-visitor-seq';
  const producerId = newProducer();
  for (let s = 0; s < 7; s++) {
    const r = await postFrame(relay, frame(visitor, [{ name: `E${s}` }], { producerId, sequence: s }));
    assert.equal(r.status, 200);
  }
  const gap = await postFrame(relay, frame(visitor, [{ name: 'late' }], { producerId, sequence: 9 }));
  assert.equal(gap.status, 409);
  assert.equal(gap.body.code, 'sequence_gap');
  assert.equal(gap.body.expected, 7);
  assert.equal(gap.body.got, 9);
  const stale = await postFrame(relay, frame(visitor, [{ name: 'old' }], { producerId, sequence: 0 }));
  assert.equal(stale.status, 409);
  assert.equal(stale.body.code, 'stale_sequence');
});

test('CORS: preflight from an allowed origin, answers readable by the page', async () => {
  const pre = await relay.api('OPTIONS', `/v1/frames?key=${WRITE_KEY}`, {
    headers: { origin: ORIGIN, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
  });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  assert.match(pre.headers.get('access-control-allow-headers'), /Content-Type/i);
  assert.equal(pre.headers.get('access-control-max-age'), '86400');
  assert.match(pre.headers.get('vary'), /Origin/);

  const r = await postFrame(relay, frame('cors-visitor', [{ name: 'A' }]), { headers: { origin: ORIGIN } });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('access-control-allow-origin'), ORIGIN);
  assert.match(r.headers.get('vary'), /Origin/);

  const tok = await relay.api('GET', `/v1/token?key=${WRITE_KEY}&visitor=cors-visitor`, { headers: { origin: ORIGIN } });
  assert.equal(tok.status, 200);
  assert.equal(tok.headers.get('access-control-allow-origin'), ORIGIN);

  const evil = await relay.api('OPTIONS', `/v1/frames?key=${WRITE_KEY}`, { headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
  assert.equal(evil.status, 403);
  assert.equal(evil.body.code, 'origin_not_allowed');
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
});

test('operators see per-partition stats', async () => {
  const r = await relay.api('GET', '/v1/partitions', { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
  assert.equal(r.status, 200);
  assert.equal(r.body.partitions.length, 4);
  const total = r.body.partitions.reduce((n, p) => n + p.events.end, 0);
  assert.ok(total >= 6);
  for (const [i, p] of r.body.partitions.entries()) {
    assert.equal(p.partition, i);
    for (const k of ['events', 'firings', 'producers', 'consumers', 'visitor_sockets', 'subscribers', 'database_bytes']) assert.ok(k in p, k);
  }
  const denied = await relay.api('GET', '/v1/partitions');
  assert.equal(denied.status, 401);
});

test('write keys given by their SHA-256, with any origin allowed', async () => {
  const { createHash } = await import('node:crypto');
  const r = await startRelay({
    vars: { WRITE_KEYS: JSON.stringify({ [`sha256:${createHash('sha256').update('secret-key-1').digest('hex')}`]: { origins: ['*'] } }) },
  });
  try {
    const ok = await postFrame(r, frame('hashed-visitor', [{ name: 'A' }]), { key: 'secret-key-1', headers: { origin: 'https://any.example' } });
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.headers.get('access-control-allow-origin'), 'https://any.example');
    const wrong = await postFrame(r, frame('hashed-visitor', [{ name: 'A' }]), { key: 'secret-key-2' });
    assert.equal(wrong.status, 401);
    // The hash itself is not a key.
    const hashAsKey = await postFrame(r, frame('hashed-visitor', [{ name: 'A' }]), { key: `sha256:${createHash('sha256').update('secret-key-1').digest('hex')}` });
    assert.equal(hashAsKey.status, 401);
  } finally {
    await r.stop();
  }
});

test('visitor ids travel percent-encoded in the socket path', async () => {
  const { visitorSocket } = await import('./helpers.mjs');
  const visitor = 'odd/id with spaces?&=é';
  const page = await visitorSocket(relay, visitor);
  const producerId = newProducer();
  page.send(frame(visitor, [{ name: 'A' }], { producerId }));
  const ack = await page.next((m) => m.type === 'appended');
  assert.equal(ack.count, 1);
  page.close();
});
