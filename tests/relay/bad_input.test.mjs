// Every kind of bad input gets its documented status (or close code) and a
// JSON error {code, message}, and nothing of it is stored.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../support/relay.mjs';
import { ORIGIN, TEST_SECRETS, WRITE_KEY, frame, newProducer, openSocket, postAlone, postFrame, wsUrl } from './helpers.mjs';

let relay;
before(async () => {
  relay = await startRelay({ origins: [ORIGIN], vars: { MAX_EVENTS: '5' } });
});
after(async () => {
  await relay?.stop();
});

function assertError(r, status, code) {
  assert.equal(r.status, status, JSON.stringify(r.body));
  assert.equal(r.body.code, code, JSON.stringify(r.body));
  assert.equal(typeof r.body.message, 'string');
  assert.ok(r.body.message.length > 0);
  assert.match(r.headers.get('content-type'), /application\/json/);
}

test('malformed, corrupted, truncated and empty frames are 400 with the codec error name', async () => {
  const good = frame('bad-visitor', [{ name: 'A', properties: { x: 1 } }]);
  const corrupted = good.slice();
  corrupted[Math.floor(corrupted.length / 2)] ^= 0x55;
  assertError(await postFrame(relay, corrupted), 400, 'checksum');

  const truncated = good.slice(0, good.length - 7);
  const t = await postFrame(relay, truncated);
  assert.equal(t.status, 400);
  assert.ok(['truncated', 'checksum', 'length_past_end'].includes(t.body.code), t.body.code);

  assertError(await postFrame(relay, new Uint8Array(0)), 400, 'truncated');

  const version = good.slice();
  version[0] = 99;
  assertError(await postFrame(relay, version), 400, 'unknown_version');

  const garbage = new TextEncoder().encode('{"event":"not a frame"}');
  const g = await postFrame(relay, garbage);
  assert.equal(g.status, 400);
  assert.notEqual(g.body.code, 'internal');
});

test('an oversized frame is 413 frame_too_large; too many events is 413 too_many_events', async () => {
  // On a connection of its own: the relay answers before reading the body.
  const big = await postAlone(`${relay.url}/v1/frames?key=${WRITE_KEY}`, new Uint8Array(70_000), { 'content-type': 'text/plain' });
  assertError(big, 413, 'frame_too_large');
  const six = frame('bad-visitor', [1, 2, 3, 4, 5, 6].map((i) => ({ name: `E${i}` })));
  assertError(await postFrame(relay, six), 413, 'too_many_events');
});

test('events stamped outside the accepted skew are 400 timestamp_out_of_range, the whole frame refused', async () => {
  const now = Date.now();
  const past = frame('bad-visitor', [{ name: 'ok', time: now }, { name: 'old', time: now - 25 * 3600_000 }]);
  assertError(await postFrame(relay, past), 400, 'timestamp_out_of_range');
  const future = frame('bad-visitor', [{ name: 'soon', time: now + 10 * 60_000 }]);
  assertError(await postFrame(relay, future), 400, 'timestamp_out_of_range');
});

test('unknown write key is 401, wrong origin is 403', async () => {
  const f = frame('bad-visitor', [{ name: 'A' }]);
  assertError(await postFrame(relay, f, { key: 'wrong-key' }), 401, 'unknown_write_key');
  assertError(await relay.api('POST', '/v1/frames', { body: f }), 401, 'unknown_write_key');
  const evil = await postFrame(relay, f, { headers: { origin: 'https://evil.example' } });
  assertError(evil, 403, 'origin_not_allowed');
  assert.equal(evil.headers.get('access-control-allow-origin'), null);
  assertError(await relay.api('GET', `/v1/token?key=nope&visitor=a`), 401, 'unknown_write_key');
  assertError(await relay.api('GET', `/v1/token?key=${WRITE_KEY}`), 400, 'bad_request');
});

test('back-office routes refuse missing or wrong tokens', async () => {
  assertError(await relay.api('GET', '/v1/partitions/0/events?from=0'), 401, 'unauthorized');
  assertError(await relay.api('GET', '/v1/partitions/0/events?from=0', { token: 'nope' }), 401, 'unauthorized');
  // The console's tokens read the log from the Authorization header only.
  assertError(await relay.api('GET', `/v1/partitions/0/firings?token=${TEST_SECRETS.ADMIN_TOKEN}`), 401, 'unauthorized');
  assert.equal((await relay.api('GET', '/v1/partitions/0/firings', { token: TEST_SECRETS.ADMIN_TOKEN })).status, 200);
  assertError(await relay.api('PUT', '/v1/admin/triggers', { token: TEST_SECRETS.SUBSCRIBER_TOKEN, body: '{}' }), 401, 'unauthorized');
  const s = openSocket(wsUrl(relay, '/v1/partitions/0/stream?stream=events&from=0&token=nope'));
  const err = await s.next((m) => m.type === 'error');
  assert.equal(err.code, 'unauthorized');
  assert.equal((await s.closed).code, 4401);
});

test('unknown routes are 404, wrong methods 405, bad parameters 400', async () => {
  assertError(await relay.api('GET', '/nope'), 404, 'not_found');
  assertError(await relay.api('GET', '/v1/frames/extra'), 404, 'not_found');
  assertError(await relay.api('GET', '/v1/frames'), 405, 'method_not_allowed');
  assertError(await relay.api('DELETE', '/v1/admin/triggers', { token: TEST_SECRETS.ADMIN_TOKEN }), 405, 'method_not_allowed');
  const sub = { token: TEST_SECRETS.SUBSCRIBER_TOKEN };
  assertError(await relay.api('GET', '/v1/partitions/4/events', sub), 404, 'unknown_partition');
  assertError(await relay.api('GET', '/v1/partitions/x/events', sub), 404, 'unknown_partition');
  assertError(await relay.api('GET', '/v1/partitions/0/events?from=soon', sub), 400, 'bad_request');
  assertError(await relay.api('GET', '/v1/partitions/0/events?limit=-1', sub), 400, 'bad_request');
  assertError(await relay.api('GET', '/v1/partitions/0/events?from=committed', sub), 400, 'bad_request');
  assertError(await relay.api('GET', '/v1/partitions/0/stream?from=0', sub), 426, 'upgrade_required');
  assertError(await relay.api('GET', `/v1/visitors/a/ws?key=${WRITE_KEY}`), 426, 'upgrade_required');
  const s = openSocket(wsUrl(relay, `/v1/partitions/0/stream?stream=nope&token=${TEST_SECRETS.SUBSCRIBER_TOKEN}`));
  assert.equal((await s.closed).code, 4400);
});

test('nothing of the refused input was stored', async () => {
  const r = await relay.api('GET', '/v1/partitions', { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
  assert.deepEqual(r.body.partitions.map((p) => [p.events.end, p.firings.end, p.producers]), [[0, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]]);
});

test('a write key and client address over the rate limit get 429 with Retry-After', async () => {
  const limited = await startRelay({ origins: [ORIGIN], vars: { RATE_LIMIT_PER_SEC: '1', RATE_LIMIT_BURST: '3' } });
  try {
    const producerId = newProducer();
    const statuses = [];
    let last;
    for (let s = 0; s < 5; s++) {
      last = await postFrame(limited, frame('rate-visitor', [{ name: 'A' }], { producerId, sequence: s }), { headers: { origin: ORIGIN } });
      statuses.push(last.status);
    }
    assert.deepEqual(statuses, [200, 200, 200, 429, 429]);
    assertError(last, 429, 'rate_limited');
    assert.equal(last.headers.get('retry-after'), '1');
    assert.equal(last.body.retry_after, 1);
    // Readable by the page: CORS headers and Retry-After exposed.
    assert.equal(last.headers.get('access-control-allow-origin'), ORIGIN);
    assert.match(last.headers.get('access-control-expose-headers'), /retry-after/i);
    await new Promise((r) => setTimeout(r, 1100));
    const after = await postFrame(limited, frame('rate-visitor', [{ name: 'A' }], { producerId, sequence: 3 }));
    assert.equal(after.status, 200);
  } finally {
    await limited.stop();
  }
});
