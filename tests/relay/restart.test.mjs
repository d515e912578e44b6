// State survives a restart of the runtime over the same persisted storage:
// the log, producer state (retries still recognised), consumer positions,
// the active trigger file, undelivered firings and a pending delayed
// firing, whose alarm fires after the restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../support/relay.mjs';
import { ORIGIN, TEST_SECRETS, frame, newProducer, openSocket, partitionOf, postFrame, visitorSocket, wsUrl } from './helpers.mjs';

const TRIGGERS = {
  version: 1,
  triggers: [
    { id: 'big-order', when: { event: 'Order Completed', where: [{ prop: 'total', op: 'gt', value: 100 }] }, action: { type: 'thanks', payload: { vip: true } } },
    { id: 'cart-rescue', when: { event: 'Cart Viewed' }, unless: { event: 'Checkout Started', within: '3s' }, action: { type: 'coupon', payload: { code: 'BACK' } } },
  ],
};

test('everything durable survives a restart of the runtime', async () => {
  const relay = await startRelay({ origins: [ORIGIN] });
  try {
    assert.equal((await relay.pushTriggers(TRIGGERS)).status, 200);
    const visitor = 'restart-visitor';
    const p = await partitionOf(relay, visitor);
    const producerId = newProducer();
    const f0 = frame(visitor, [{ name: 'Product Viewed' }, { name: 'Order Completed', properties: { total: 250 } }], { producerId, sequence: 0 });
    const f1 = frame(visitor, [{ name: 'Product Viewed', properties: { sku: 'B' } }], { producerId, sequence: 1 });
    const a0 = await postFrame(relay, f0);
    const a1 = await postFrame(relay, f1);
    assert.deepEqual([a0.body.base_offset, a1.body.base_offset], [0, 2]);
    const cartAt = Date.now();
    const a2 = await postFrame(relay, frame(visitor, [{ name: 'Cart Viewed', time: cartAt }], { producerId, sequence: 2 }));
    assert.equal(a2.body.base_offset, 3);
    const sub = openSocket(wsUrl(relay, `/v1/partitions/${p}/stream?token=${TEST_SECRETS.SUBSCRIBER_TOKEN}&from=0&consumer=restart-consumer`));
    for (let i = 0; i < 2; i++) await sub.next((m) => m.type === 'record');
    sub.send({ type: 'commit', offset: 2 });
    await sub.next((m) => m.type === 'committed');
    sub.close();
    const before = await relay.api('GET', `/v1/partitions/${p}/events?from=0`, { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
    assert.equal(before.body.records.length, 4);

    await relay.restart();

    const after = await relay.api('GET', `/v1/partitions/${p}/events?from=0`, { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
    assert.deepEqual(after.body, before.body);
    const active = await relay.api('GET', '/v1/admin/triggers', { token: TEST_SECRETS.ADMIN_TOKEN });
    assert.deepEqual(active.body, TRIGGERS);
    // A retry from before the restart is still a duplicate with its offsets.
    const retry = await postFrame(relay, f1);
    assert.deepEqual(retry.body, { partition: p, base_offset: 2, count: 1, duplicate: true });
    // The page connects after the restart: the firing made before it (no
    // page was open) arrives on connect, the delayed one when it is due.
    const page = await visitorSocket(relay, visitor);
    const immediate = await page.next((m) => m.type === 'firing' && m.firing.trigger === 'big-order');
    assert.deepEqual(immediate.firing.action, { type: 'thanks', payload: { vip: true } });
    const delayed = await page.next((m) => m.type === 'firing' && m.firing.trigger === 'cart-rescue', 10_000);
    assert.equal(delayed.firing.time, cartAt + 3000);
    assert.ok(Date.now() >= cartAt + 3000);
    page.close();
    // The producer carries on where it was; the consumer resumes.
    const a3 = await postFrame(relay, frame(visitor, [{ name: 'Next' }], { producerId, sequence: 3 }));
    assert.deepEqual(a3.body, { partition: p, base_offset: 4, count: 1, duplicate: false });
    const resumed = openSocket(wsUrl(relay, `/v1/partitions/${p}/stream?token=${TEST_SECRETS.SUBSCRIBER_TOKEN}&from=committed&consumer=restart-consumer`));
    const first = await resumed.next((m) => m.type === 'record');
    assert.equal(first.record.offset, 2);
    resumed.close();
    const firings = await relay.api('GET', `/v1/partitions/${p}/firings?from=0`, { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
    assert.deepEqual(firings.body.records.map((f) => f.trigger), ['big-order', 'cart-rescue']);
  } finally {
    await relay.stop();
  }
});
