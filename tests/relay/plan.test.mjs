// The tracking plan at ingest, in workerd with SQLite-backed Durable
// Objects: pushed and versioned like trigger files; every event of every
// frame judged in the append's commit, in each mode (allow, flag,
// quarantine); nothing lost (each event in exactly one of events or
// quarantine); triggers blind to the quarantine; counters merged across
// partitions; the quarantine replayed after the plan is fixed.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay } from '../support/relay.mjs';
import { ORIGIN, TEST_SECRETS, WRITE_KEY, encodeFrames, makeFrame, openSocket, visitorToken, wsUrl } from './helpers.mjs';

const ADMIN = TEST_SECRETS.ADMIN_TOKEN;
const VIEWER = TEST_SECRETS.VIEWER_TOKEN;

/** A plan: `Product Viewed` needs a numeric `price`, in `mode`. */
function plan(mode, priceType = 'number') {
  return {
    version: 1,
    on_unplanned: 'allow',
    on_violation: mode,
    events: {
      $page: { properties: { path: { type: 'string', required: true } } },
      'Product Viewed': { properties: { price: { type: priceType, required: true }, sku: { type: 'string' } } },
    },
  };
}

let relay;
before(async () => {
  relay = await startRelay({ partitions: 2, origins: [ORIGIN] });
});
after(async () => {
  await relay?.stop();
});

async function pushPlan(p, comment) {
  const r = await relay.api('POST', '/v1/admin/plan/versions', { token: ADMIN, body: { file: JSON.stringify(p), comment } });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.version;
}

async function send(frames) {
  const acks = [];
  for (const bytes of encodeFrames(frames)) {
    const res = await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body: bytes });
    assert.equal(res.status, 200);
    acks.push(await res.json());
  }
  return acks;
}

const key = (r) => `${r.producer_id}/${r.sequence}/${r.index}`;

test('a plan with mistakes is refused whole, every error with its path', async () => {
  const bad = { version: 1, on_violation: 'drop', events: { 'Product Viewed': { properties: { price: { type: 'money' } } } }, extra: 1 };
  const r = await relay.api('PUT', '/v1/admin/plan', { token: ADMIN, body: bad });
  assert.equal(r.status, 400);
  assert.equal(r.body.code, 'invalid_plan');
  const paths = r.body.errors.map((e) => e.path).sort();
  assert.deepEqual(paths, ['events["Product Viewed"].properties.price.type', 'extra', 'on_violation'], JSON.stringify(r.body.errors));
  assert.equal((await relay.api('GET', '/v1/admin/plan', { token: VIEWER })).status, 404);
  // A viewer reads but may not push.
  const viewer = await relay.api('PUT', '/v1/admin/plan', { token: VIEWER, body: plan('flag') });
  assert.equal(viewer.status, 403);
});

test('each mode at ingest: allow counts, flag marks, quarantine keeps apart; nothing lost or doubled', async () => {
  const triggers = { version: 1, triggers: [{ id: 'viewer', when: { event: 'Product Viewed' }, action: { type: 'banner', payload: {} } }] };
  assert.equal((await relay.pushTriggers(triggers)).status, 200);
  const sent = new Set();
  let round = 0;
  for (const mode of ['allow', 'flag', 'quarantine']) {
    await pushPlan(plan(mode), `mode ${mode}`);
    round++;
    const frames = [];
    for (let v = 0; v < 6; v++) {
      const visitor = `v-${mode}-${v}`;
      frames.push(
        makeFrame({
          visitor,
          sequence: 0,
          events: [
            { kind: 'page', name: 'Product', properties: { path: '/p' } },
            { name: 'Product Viewed', properties: { price: '89.58' } },
            { name: 'Product Viewed', properties: { price: 89.58 } },
          ],
        }),
      );
    }
    const acks = await send(frames);
    for (const [i, f] of frames.entries()) for (let j = 0; j < f.events.length; j++) sent.add(`${f.producer_id}/0/${j}`);
    for (const ack of acks) {
      if (mode === 'allow') assert.equal(ack.plan?.violations, 1, JSON.stringify(ack));
      if (mode === 'flag') assert.deepEqual(ack.plan, { flagged: 1, quarantined: 0, violations: 1 });
      if (mode === 'quarantine') {
        assert.deepEqual(ack.plan, { flagged: 0, quarantined: 1, violations: 1 });
        assert.equal(ack.count, 2);
      }
    }
    // The same frames again (lost acks): duplicates, stored once.
    const again = await send(frames.slice(0, 2));
    assert.ok(again.every((a) => a.duplicate));
  }
  const events = await relay.readAll('events');
  const quarantine = await relay.readAll('quarantine');
  const inEvents = new Set(events.map(key));
  const inQuarantine = new Set(quarantine.map(key));
  assert.equal(inEvents.size, events.length, 'no event twice');
  assert.equal(inQuarantine.size, quarantine.length);
  for (const k of inQuarantine) assert.ok(!inEvents.has(k), `${k} in both streams`);
  assert.deepEqual(new Set([...inEvents, ...inQuarantine]), sent, 'every event of every frame, once');

  const flagged = events.filter((e) => e.visitor.startsWith('v-flag-') && e.violations);
  assert.equal(flagged.length, 6);
  assert.deepEqual(flagged[0].violations, [{ kind: 'wrong_type', code: 2, path: 'properties.price', message: 'expected number, got string "89.58"' }]);
  assert.ok(!events.some((e) => e.visitor.startsWith('v-allow-') && e.violations), 'allow marks nothing');
  assert.equal(quarantine.length, 6);
  const q = quarantine[0];
  assert.equal(q.properties.price, '89.58');
  assert.equal(q.index, 1);
  assert.equal(q.violations[0].message, 'expected number, got string "89.58"');
  // Its frame's other two events went to the event stream, at these offsets.
  const siblings = events.filter((e) => e.partition === q.partition && e.producer_id === q.producer_id);
  assert.deepEqual(siblings.map((e) => e.offset), [q.frame_events.base_offset, q.frame_events.base_offset + 1]);
  assert.equal(q.frame_events.count, 2);

  // Triggers never saw a quarantined event: per quarantine-mode visitor,
  // one firing (the good view), where allow and flag visitors fired on
  // the first (the broken) view they sent.
  const firings = await relay.readAll('firings');
  for (const f of firings.filter((f) => f.visitor.startsWith('v-quarantine-'))) {
    const good = events.find((e) => e.visitor === f.visitor && e.name === 'Product Viewed');
    assert.equal(good.properties.price, 89.58);
  }
  assert.equal(firings.filter((f) => f.visitor.startsWith('v-quarantine-')).length, 6);

  // The counters of the active plan (the quarantine one), both partitions merged.
  const stats = await relay.api('GET', '/v1/admin/plan/stats', { token: VIEWER });
  assert.equal(stats.status, 200, JSON.stringify(stats.body));
  assert.equal(stats.body.partitions, 2);
  assert.equal(stats.body.quarantine.events, 6);
  assert.deepEqual(stats.body.totals, { allowed: 0, flagged: 0, quarantined: 6 });
  const [c] = stats.body.counters;
  assert.deepEqual([c.event, c.kind, c.path, c.quarantined, c.total], ['Product Viewed', 'wrong_type', 'properties.price', 6, 6]);

  // Versions: three, the last active on both partitions; a diff between two.
  const versions = await relay.api('GET', '/v1/admin/plan/versions', { token: VIEWER });
  assert.equal(versions.body.versions.length, 3);
  assert.equal(versions.body.active, 3);
  assert.deepEqual(versions.body.versions[0].partitions.active_on, [0, 1]);
  const diff = await relay.api('GET', '/v1/admin/plan/diff?from=2&to=3', { token: VIEWER });
  assert.match(diff.body.diff, /-\s*"on_violation": ?"flag"|-.*flag/);
  const active = await relay.api('GET', '/v1/admin/plan', { token: VIEWER });
  assert.equal(active.body.on_violation, 'quarantine');
  // The trigger file kept its own numbering.
  const tv = await relay.api('GET', '/v1/admin/triggers/versions', { token: VIEWER });
  assert.equal(tv.body.versions.length, 1);
});

test('the quarantine is readable live over the stream socket and the socket acks carry the verdict', async () => {
  const sub = openSocket(wsUrl(relay, `/v1/partitions/0/stream?stream=quarantine&from=latest&token=${TEST_SECRETS.SUBSCRIBER_TOKEN}`));
  await sub.opened;
  // A visitor of partition 0 sending over its page socket.
  let visitor;
  for (let i = 0; ; i++) {
    visitor = `v-live-${i}`;
    if ((await partitionOf(visitor)) === 0) break;
  }
  const { token } = await visitorToken(relay, visitor);
  const page = openSocket(wsUrl(relay, `/v1/visitors/${visitor}/ws?key=${WRITE_KEY}&token=${token}`));
  await page.opened;
  const [bytes] = encodeFrames([makeFrame({ visitor, events: [{ name: 'Product Viewed', properties: { price: false } }] })]);
  page.ws.send(bytes);
  const ack = await page.next((m) => m.type === 'appended' || m.type === 'error');
  assert.deepEqual(ack.plan, { flagged: 0, quarantined: 1, violations: 1 }, JSON.stringify(ack));
  const msg = await sub.next((m) => m.type === 'record');
  assert.equal(msg.record.visitor, visitor);
  assert.equal(msg.record.violations[0].message, 'expected number, got boolean false');
  page.close();
  sub.close();
});

async function partitionOf(visitor) {
  // The relay's partitioner, read back: a frame's ack names its partition.
  const [bytes] = encodeFrames([makeFrame({ visitor, events: [] })]);
  const res = await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body: bytes });
  return (await res.json()).partition;
}

test('after the plan is fixed, a replay moves what it now lets through to the event stream', async () => {
  const before = await relay.readAll('events');
  const quarantined = await relay.readAll('quarantine');
  assert.ok(quarantined.length >= 6);
  // Still quarantined after the fix: a view with no price at all.
  await send([makeFrame({ visitor: 'v-missing', events: [{ name: 'Product Viewed', properties: {} }] })]);
  // The site sends prices as strings: the plan says so now.
  await pushPlan(plan('quarantine', 'string'), 'prices are strings');
  const viewer = await relay.api('POST', '/v1/admin/quarantine/replay', { token: VIEWER });
  assert.equal(viewer.status, 403);
  const r = await relay.api('POST', '/v1/admin/quarantine/replay', { token: ADMIN });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  const released = quarantined.filter((q) => typeof q.properties.price === 'string').length;
  assert.equal(r.body.released, released);
  assert.equal(r.body.kept, quarantined.length - released + 1);
  assert.ok(r.body.complete);
  const after = await relay.readAll('events');
  assert.equal(after.length, before.length + released);
  const back = after.filter((e) => !before.some((b) => b.partition === e.partition && b.offset === e.offset));
  for (const e of back) {
    const was = quarantined.find((q) => key(q) === key(e));
    assert.ok(was, `released ${key(e)} was quarantined`);
    assert.equal(e.received_at, was.received_at, 'first receipt kept');
    assert.equal(e.violations, undefined);
  }
  const left = await relay.readAll('quarantine');
  assert.deepEqual(left.map((q) => q.visitor).sort(), quarantined.filter((q) => typeof q.properties.price !== 'string').map((q) => q.visitor).concat('v-missing').sort());
  assert.equal(left.find((q) => q.visitor === 'v-missing').violations[0].kind, 'missing_required');
});
