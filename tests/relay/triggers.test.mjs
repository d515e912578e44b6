// Triggers through the relay: upload (errors and a good file), firings
// pushed over the visitor WebSocket (immediate, and delayed `unless`
// firings driven by the Durable Object's alarm), acknowledgements,
// delivery on connect, visitor token enforcement, frames over the socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../support/relay.mjs';
import { ORIGIN, TEST_SECRETS, WRITE_KEY, frame, openSocket, postFrame, visitorSocket, visitorToken, wsUrl, newProducer } from './helpers.mjs';
// The SDK stops reconnecting on this close code (from Rust, via the SDK's generated constants).
import { CLOSE_ORIGIN_NOT_ALLOWED } from '../../npm/src/generated.js';

export const TRIGGERS = {
  version: 1,
  triggers: [
    {
      id: 'big-add',
      when: { event: 'Product Added', where: [{ prop: 'price', op: 'gte', value: 50 }] },
      action: { type: 'banner', payload: { text: 'Free shipping', code: 'SHIP50' } },
    },
    {
      id: 'cart-rescue',
      when: { event: 'Cart Viewed' },
      unless: { event: 'Checkout Started', within: '2s' },
      action: { type: 'coupon', payload: { code: 'COME-BACK' } },
    },
  ],
};

let relay;
before(async () => {
  relay = await startRelay({ origins: [ORIGIN] });
});
after(async () => {
  await relay?.stop();
});

test('a trigger file with mistakes is refused whole, with path-precise errors', async () => {
  const bad = {
    version: 1,
    triggers: [
      { id: 'ok-one', when: { event: 'A' }, action: { type: 'x' } },
      { id: 'bad', when: { event: 'B', where: [{ prop: 'price', op: 'gte ', value: 1 }] }, action: { type: 'x' } },
    ],
  };
  const r = await relay.pushTriggers(bad);
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'invalid_triggers');
  assert.ok(Array.isArray(r.body.errors) && r.body.errors.length >= 1, JSON.stringify(r.body));
  assert.equal(r.body.errors[0].path, 'triggers[1].when.where[0].op');
  assert.match(r.body.errors[0].message, /gte/);
  // Nothing was activated.
  const active = await relay.api('GET', '/v1/admin/triggers', { token: TEST_SECRETS.ADMIN_TOKEN });
  assert.equal(active.status, 404);
  assert.equal(active.body.code, 'no_triggers');

  const notJson = await relay.pushTriggers('{"version": 1, "triggers": [');
  assert.equal(notJson.status, 400);
  assert.equal(notJson.body.code, 'invalid_triggers');
});

test('admin routes need the admin token', async () => {
  const none = await relay.api('PUT', '/v1/admin/triggers', { body: JSON.stringify(TRIGGERS) });
  assert.equal(none.status, 401);
  assert.equal(none.body.code, 'unauthorized');
  const subscriber = await relay.api('GET', '/v1/admin/triggers', { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
  assert.equal(subscriber.status, 401);
});

test('validate is a dry run; a good file activates on every partition', async () => {
  const dry = await relay.api('POST', '/v1/admin/triggers/validate', { token: TEST_SECRETS.ADMIN_TOKEN, body: JSON.stringify(TRIGGERS) });
  assert.equal(dry.status, 200);
  assert.equal(dry.body.ok, true);
  assert.deepEqual(dry.body.warnings, [], 'no log yet: nothing to warn about');
  assert.equal(dry.body.summary.total, TRIGGERS.triggers.length);
  const still = await relay.api('GET', '/v1/admin/triggers', { token: TEST_SECRETS.ADMIN_TOKEN });
  assert.equal(still.status, 404);
  const badDry = await relay.api('POST', '/v1/admin/triggers/validate', { token: TEST_SECRETS.ADMIN_TOKEN, body: '{"version":2,"triggers":[]}' });
  assert.equal(badDry.status, 400);
  assert.equal(badDry.body.code, 'invalid_triggers');

  const r = await relay.pushTriggers(TRIGGERS);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  assert.deepEqual(r.body, {
    ok: true,
    version: 1,
    complete: true,
    partitions: [0, 1, 2, 3].map((partition) => ({ partition, ok: true })),
  });
  const active = await relay.api('GET', '/v1/admin/triggers', { token: TEST_SECRETS.ADMIN_TOKEN });
  assert.equal(active.status, 200);
  assert.deepEqual(active.body, TRIGGERS);
  const stats = await relay.api('GET', '/v1/partitions', { token: TEST_SECRETS.ADMIN_TOKEN });
  assert.deepEqual(stats.body.partitions.map((p) => p.triggers_active), [true, true, true, true]);
  assert.deepEqual(stats.body.partitions.map((p) => p.triggers_error), [null, null, null, null]);
  assert.deepEqual(stats.body.partitions.map((p) => p.triggers_version), [1, 1, 1, 1]);
});

test('a firing reaches every open page of the visitor, and only that visitor', async () => {
  const visitor = 'visitor-firing-1';
  const page1 = await visitorSocket(relay, visitor);
  const page2 = await visitorSocket(relay, visitor);
  const other = await visitorSocket(relay, 'visitor-someone-else');
  const r = await postFrame(relay, frame(visitor, [{ name: 'Product Viewed' }, { name: 'Product Added', properties: { price: 89.5 } }]));
  assert.equal(r.status, 200);
  for (const page of [page1, page2]) {
    const m = await page.next((m) => m.type === 'firing');
    assert.equal(m.offset >= 0, true);
    assert.equal(m.firing.trigger, 'big-add');
    assert.equal(m.firing.visitor, visitor);
    assert.deepEqual(m.firing.action, { type: 'banner', payload: { text: 'Free shipping', code: 'SHIP50' } });
    assert.equal(typeof m.firing.firing_id, 'string');
  }
  // A cheap item fires nothing.
  await postFrame(relay, frame(visitor, [{ name: 'Product Added', properties: { price: 5 } }]));
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(page1.messages.length, 0);
  assert.equal(other.messages.length, 0);
  for (const s of [page1, page2, other]) s.close();
});

test('unacknowledged firings are delivered on the next connect; acknowledged ones are not', async () => {
  const visitor = 'visitor-offline-1';
  // No page open while it fires.
  const r = await postFrame(relay, frame(visitor, [{ name: 'Product Added', properties: { price: 120 } }]));
  assert.equal(r.status, 200);
  const page = await visitorSocket(relay, visitor);
  const m = await page.next((m) => m.type === 'firing');
  assert.equal(m.firing.trigger, 'big-add');
  page.send({ type: 'ack', offsets: [m.offset] });
  await new Promise((r) => setTimeout(r, 100));
  page.close();
  await page.closed;
  const again = await visitorSocket(relay, visitor);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(again.messages, []);
  again.close();
});

test('a delayed (unless) firing is pushed by the alarm when no further event arrives', async () => {
  const visitor = 'visitor-delayed-1';
  const page = await visitorSocket(relay, visitor);
  const sentAt = Date.now();
  const r = await postFrame(relay, frame(visitor, [{ name: 'Cart Viewed', time: sentAt }]));
  assert.equal(r.status, 200);
  const m = await page.next((m) => m.type === 'firing', 8000);
  const arrived = Date.now();
  assert.equal(m.firing.trigger, 'cart-rescue');
  assert.equal(m.firing.time, sentAt + 2000);
  assert.deepEqual(m.firing.action, { type: 'coupon', payload: { code: 'COME-BACK' } });
  assert.ok(arrived >= sentAt + 2000, `fired ${arrived - sentAt} ms after the event`);
  page.close();
});

test('a delayed firing scheduled in a burst of appends still fires on time', async () => {
  const visitor = 'visitor-delayed-burst';
  const page = await visitorSocket(relay, visitor);
  const producerId = newProducer();
  const frames = [0, 1, 2, 3].map((s) => frame(visitor, [{ name: s === 3 ? 'Cart Viewed' : 'Product Viewed', time: Date.now() }], { producerId, sequence: s }));
  // Back to back: the later appends fall in the alarm's coalescing window.
  let cartAt;
  for (const [i, f] of frames.entries()) {
    if (i === 3) cartAt = Date.now();
    assert.equal((await postFrame(relay, f)).status, 200);
  }
  const m = await page.next((m) => m.type === 'firing', 8000);
  assert.equal(m.firing.trigger, 'cart-rescue');
  const arrived = Date.now();
  assert.ok(arrived >= m.firing.time, 'not before its time');
  assert.ok(arrived - m.firing.time < 1000, `${arrived - m.firing.time} ms late`);
  assert.ok(Math.abs(m.firing.time - (cartAt + 2000)) < 1000);
  page.close();
});

test('the unless event in time cancels the delayed firing', async () => {
  const visitor = 'visitor-delayed-2';
  const page = await visitorSocket(relay, visitor);
  const t = Date.now();
  const producerId = newProducer();
  await postFrame(relay, frame(visitor, [{ name: 'Cart Viewed', time: t }], { producerId, sequence: 0 }));
  await postFrame(relay, frame(visitor, [{ name: 'Checkout Started', time: t + 500 }], { producerId, sequence: 1 }));
  await new Promise((r) => setTimeout(r, 3000));
  assert.deepEqual(page.messages, []);
  page.close();
});

test('frames sent over the visitor socket are appended and acknowledged with offsets', async () => {
  const visitor = 'visitor-ws-frames';
  const page = await visitorSocket(relay, visitor);
  // The runtime agrees to permessage-deflate with context takeover (the
  // client here offers it, as browsers do): the SDK sends its frames plain
  // on such a socket and counts on this (README "Visitor socket").
  assert.match(page.ws.extensions, /^permessage-deflate/);
  assert.doesNotMatch(page.ws.extensions, /no_context_takeover/);
  const producerId = newProducer();
  page.send(frame(visitor, [{ name: 'A' }, { name: 'B' }], { producerId, sequence: 0 }));
  const ack = await page.next((m) => m.type === 'appended');
  assert.equal(ack.producer_id, producerId);
  assert.equal(ack.sequence, 0);
  assert.equal(ack.count, 2);
  assert.equal(ack.duplicate, false);
  // The same frame again is a duplicate with the same offsets.
  page.send(frame(visitor, [{ name: 'A' }, { name: 'B' }], { producerId, sequence: 0 }));
  const dup = await page.next((m) => m.type === 'appended');
  assert.equal(dup.duplicate, true);
  assert.equal(dup.base_offset, ack.base_offset);
  // A corrupted frame is answered with an error; the socket stays open.
  const bad = frame(visitor, [{ name: 'C' }], { producerId, sequence: 1 });
  bad[bad.length - 1] ^= 0xff;
  page.send(bad);
  const err = await page.next((m) => m.type === 'error');
  assert.equal(err.code, 'checksum');
  // A frame of a visitor of another partition belongs on that partition.
  const mine = (await visitorToken(relay, visitor)).partition;
  let stranger = 'stranger-0';
  for (let i = 1; (await visitorToken(relay, stranger)).partition === mine; i++) stranger = `stranger-${i}`;
  page.send(frame(stranger, [{ name: 'X' }]));
  const misrouted = await page.next((m) => m.type === 'error');
  assert.equal(misrouted.code, 'wrong_partition');
  // A frame that fires pushes the firing on the same socket.
  page.send(frame(visitor, [{ name: 'Product Added', properties: { price: 60 } }], { producerId, sequence: 1 }));
  const ok = await page.next((m) => m.type === 'appended');
  assert.equal(ok.base_offset, ack.base_offset + 2);
  const firing = await page.next((m) => m.type === 'firing');
  assert.equal(firing.firing.trigger, 'big-add');
  page.close();
});

test('a page cannot subscribe to another visitor: bad or foreign tokens close with 4401', async () => {
  const mine = await visitorToken(relay, 'visitor-a');
  for (const [visitor, token] of [
    ['visitor-b', mine.token],
    ['visitor-a', 'not-a-token'],
    ['visitor-a', ''],
    ['visitor-a', mine.token.slice(0, -2) + (mine.token.endsWith('AA') ? 'BB' : 'AA')],
  ]) {
    const s = openSocket(wsUrl(relay, `/v1/visitors/${visitor}/ws?key=${WRITE_KEY}&token=${encodeURIComponent(token)}`));
    const err = await s.next((m) => m.type === 'error');
    assert.equal(err.code, 'bad_token');
    const closed = await s.closed;
    assert.equal(closed.code, 4401);
  }
  const s = openSocket(wsUrl(relay, `/v1/visitors/visitor-a/ws?key=${WRITE_KEY}&token=${mine.token}`), { origin: 'https://evil.example' });
  assert.equal((await s.closed).code, CLOSE_ORIGIN_NOT_ALLOWED);
  const k = openSocket(wsUrl(relay, `/v1/visitors/visitor-a/ws?key=nope&token=${mine.token}`));
  assert.equal((await k.closed).code, 4401);
  // The token is the documented HMAC: base64url(HMAC-SHA256(VISITOR_TOKEN_KEY, visitor)).
  const { createHmac } = await import('node:crypto');
  const expected = createHmac('sha256', TEST_SECRETS.VISITOR_TOKEN_KEY).update('visitor-a').digest('base64url');
  assert.equal(mine.token, expected);
});

test('a text message that is not a known JSON message closes the page with 4400', async () => {
  const page = await visitorSocket(relay, 'visitor-malformed');
  page.send('hello');
  const err = await page.next((m) => m.type === 'error');
  assert.equal(err.code, 'bad_request');
  assert.equal((await page.closed).code, 4400);
  const page2 = await visitorSocket(relay, 'visitor-malformed');
  page2.send({ type: 'nope' });
  assert.equal((await page2.closed).code, 4400);
});
