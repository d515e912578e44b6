// Back-office subscribers: a partition's events or firings over a
// WebSocket, replayed from an offset and then live, with committed
// consumer positions; reads below retention say so.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../support/relay.mjs';
import { ORIGIN, TEST_SECRETS, encodeFrames, frame, makeFrame, newProducer, openSocket, partitionOf, postFrame, wsUrl } from './helpers.mjs';

let relay;
before(async () => {
  // The long replay below sends 300 frames at once: no rate limit here.
  relay = await startRelay({ origins: [ORIGIN], vars: { RATE_LIMIT_PER_SEC: '0' } });
});
after(async () => {
  await relay?.stop();
});

const streamUrl = (p, query) => wsUrl(relay, `/v1/partitions/${p}/stream?token=${TEST_SECRETS.SUBSCRIBER_TOKEN}&${query}`);

async function take(sock, n, timeoutMs = 10_000) {
  const out = [];
  for (let i = 0; i < n; i++) out.push((await sock.next((m) => m.type === 'record', timeoutMs)).record);
  return out;
}

test('a subscriber gets the replay from offset 0, then live records, with no gap', async () => {
  const visitor = 'stream-visitor-1';
  const p = await partitionOf(relay, visitor);
  const producerId = newProducer();
  for (let s = 0; s < 3; s++) {
    const r = await postFrame(relay, frame(visitor, [{ name: `R${s}a` }, { name: `R${s}b` }], { producerId, sequence: s }));
    assert.equal(r.status, 200);
  }
  const sub = openSocket(streamUrl(p, 'stream=events&from=0'));
  await sub.opened;
  const replay = await take(sub, 6);
  assert.deepEqual(replay.map((r) => [r.offset, r.name]), [[0, 'R0a'], [1, 'R0b'], [2, 'R1a'], [3, 'R1b'], [4, 'R2a'], [5, 'R2b']]);
  assert.ok(replay.every((r) => r.partition === p && r.visitor === visitor && r.kind === 'track'));
  await postFrame(relay, frame(visitor, [{ name: 'live' }], { producerId, sequence: 3 }));
  const [live] = await take(sub, 1);
  assert.deepEqual([live.offset, live.name], [6, 'live']);
  assert.equal(sub.messages.length, 0);
  const stats = await relay.api('GET', '/v1/partitions', { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
  assert.equal(stats.body.partitions[p].subscribers, 1);
  sub.close();

  const tail = openSocket(streamUrl(p, 'stream=events&from=latest'));
  await tail.opened;
  await postFrame(relay, frame(visitor, [{ name: 'after' }], { producerId, sequence: 4 }));
  const [next] = await take(tail, 1);
  assert.deepEqual([next.offset, next.name], [7, 'after']);
  tail.close();
});

test('a long replay arrives whole and in order', async () => {
  const visitor = 'stream-visitor-long';
  const p = await partitionOf(relay, visitor);
  const start = (await relay.api('GET', `/v1/partitions/${p}/events?from=latest`, { token: TEST_SECRETS.SUBSCRIBER_TOKEN })).body.end;
  const producerId = newProducer();
  const frames = encodeFrames(Array.from({ length: 300 }, (_, s) =>
    makeFrame({ visitor, producerId, sequence: s, events: Array.from({ length: 20 }, (_, i) => ({ name: `E${s * 20 + i}` })) })));
  for (const f of frames) assert.equal((await postFrame(relay, f)).status, 200);
  const sub = openSocket(streamUrl(p, `stream=events&from=${start}`));
  const got = await take(sub, 6000, 20_000);
  assert.deepEqual(got.map((r) => r.offset), Array.from({ length: 6000 }, (_, i) => start + i));
  assert.equal(got[5999].name, 'E5999');
  sub.close();
});

test('committed consumer positions: commit, reconnect with from=committed', async () => {
  const visitor = 'stream-visitor-1';
  const p = await partitionOf(relay, visitor);
  const a = openSocket(streamUrl(p, 'stream=events&from=earliest&consumer=warehouse'));
  const first = await take(a, 4);
  assert.deepEqual(first.map((r) => r.offset), [0, 1, 2, 3]);
  a.send({ type: 'commit', offset: 4 });
  const ack = await a.next((m) => m.type === 'committed');
  assert.equal(ack.offset, 4);
  a.close();
  await a.closed;
  const b = openSocket(streamUrl(p, 'stream=events&from=committed&consumer=warehouse'));
  const [resumed] = await take(b, 1);
  assert.equal(resumed.offset, 4);
  // Committing past the end is refused; the socket stays open.
  b.send({ type: 'commit', offset: 1e9 });
  const err = await b.next((m) => m.type === 'error');
  assert.equal(err.code, 'offset_out_of_range');
  b.send({ type: 'ack', offsets: [1] });
  assert.equal((await b.closed).code, 4400);
  const stats = await relay.api('GET', '/v1/partitions', { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
  assert.deepEqual(stats.body.partitions[p].consumers, [{ stream: 'events', name: 'warehouse', offset: 4 }]);
  // A consumer never seen starts from the earliest offset.
  const c = openSocket(streamUrl(p, 'stream=events&from=committed&consumer=new-one'));
  const [fresh] = await take(c, 1);
  assert.equal(fresh.offset, 0);
  c.close();
});

test('the firings stream replays and tails firings', async () => {
  const r = await relay.pushTriggers({ version: 1, triggers: [{ id: 'any-buy', when: { event: 'Order Completed' }, action: { type: 'thanks', payload: { n: 1 } } }] });
  assert.equal(r.status, 200);
  const visitor = 'stream-visitor-firings';
  const p = await partitionOf(relay, visitor);
  await postFrame(relay, frame(visitor, [{ name: 'Order Completed' }]));
  const sub = openSocket(streamUrl(p, 'stream=firings&from=earliest'));
  const [f0] = await take(sub, 1);
  assert.equal(f0.trigger, 'any-buy');
  assert.equal(f0.visitor, visitor);
  assert.equal(f0.partition, p);
  assert.deepEqual(f0.action, { type: 'thanks', payload: { n: 1 } });
  await postFrame(relay, frame(visitor, [{ name: 'Order Completed' }]));
  const [f1] = await take(sub, 1);
  assert.equal(f1.offset, f0.offset + 1);
  const http = await relay.api('GET', `/v1/partitions/${p}/firings?from=earliest`, { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
  assert.deepEqual(http.body.records.map((x) => x.firing_id), [f0.firing_id, f1.firing_id]);
  sub.close();
});

test('reading below retention is 416 with the earliest offset, never a silent skip', async () => {
  const small = await startRelay({ origins: [ORIGIN], partitions: 1, vars: { RETENTION_BYTES: '300' } });
  try {
    const producerId = newProducer();
    for (let s = 0; s < 10; s++) {
      const r = await postFrame(small, frame('retention-visitor', [{ name: 'X'.repeat(40), properties: { pad: 'y'.repeat(40) } }], { producerId, sequence: s }));
      assert.equal(r.status, 200);
    }
    // Retention runs from the alarm, a bounded amount per run, soon after
    // the appends; it is done once the stream holds no more than 300 bytes.
    let stats;
    for (let i = 0; i < 100; i++) {
      stats = (await small.api('GET', '/v1/partitions', { token: TEST_SECRETS.SUBSCRIBER_TOKEN })).body.partitions[0];
      if (stats.events.bytes <= 300) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok(stats.events.bytes <= 300, JSON.stringify(stats));
    const body = (await small.api('GET', '/v1/partitions/0/events?from=latest', { token: TEST_SECRETS.SUBSCRIBER_TOKEN })).body;
    assert.ok(body.earliest > 0, JSON.stringify(body));
    assert.equal(body.earliest, stats.events.earliest);
    assert.equal(body.end, 10);
    const r = await small.api('GET', '/v1/partitions/0/events?from=0', { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
    assert.equal(r.status, 416);
    assert.equal(r.body.code, 'offset_out_of_range');
    assert.equal(r.body.earliest, body.earliest);
    assert.equal(r.body.end, 10);
    const ok = await small.api('GET', `/v1/partitions/0/events?from=earliest`, { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
    assert.equal(ok.body.records[0].offset, body.earliest);
    const sub = openSocket(wsUrl(small, `/v1/partitions/0/stream?token=${TEST_SECRETS.SUBSCRIBER_TOKEN}&from=0`));
    const err = await sub.next((m) => m.type === 'error');
    assert.equal(err.code, 'offset_out_of_range');
    assert.equal(err.earliest, body.earliest);
    assert.equal((await sub.closed).code, 4400);
  } finally {
    await small.stop();
  }
});
