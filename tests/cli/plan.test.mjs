// The CLI's tracking-plan commands through the built binary against the relay
// in workerd: push (refused locally and by role, then versions), show,
// versions, diff, stats over events the plan judged, `tail --stream
// quarantine`, and replay after a fixed plan.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, TEST_SECRETS, WRITE_KEY, ROOT } from '../support/relay.mjs';
import { runCli, scratch } from '../support/cli.mjs';
import { encodeFrames, makeFrame } from '../support/frames.mjs';

const file = scratch('eventstream-cli-plan-');
const run = runCli;
const EDITOR = { EVENTSTREAM_EDITOR_TOKEN: TEST_SECRETS.EDITOR_TOKEN };
const VIEWER = { EVENTSTREAM_VIEWER_TOKEN: TEST_SECRETS.VIEWER_TOKEN };
const SUBSCRIBER = { EVENTSTREAM_SUBSCRIBER_TOKEN: TEST_SECRETS.SUBSCRIBER_TOKEN };
let relay;

before(async () => {
  encodeFrames([]); // builds the CLI if needed
  relay = await startRelay({ partitions: 2 });
});
after(() => relay?.stop());

const SHOP_PLAN = readFileSync(join(ROOT, 'examples', 'plan.json'), 'utf8');

test('plan push: refused locally with every error, refused for a viewer, then versions, show and diff', async () => {
  const bad = file('bad.json', { version: 1, on_violation: 'drop', events: { X: { properties: { n: { type: 'money' } } } } });
  const refused = await run(['plan', 'push', bad, '--relay', relay.url], EDITOR);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^on_violation: .*drop/m);
  assert.match(refused.stderr, /^events\.X\.properties\.n\.type: /m);
  assert.match(refused.stderr, /rejected locally, 2 error\(s\); nothing was sent/);

  const shop = file('shop.json', SHOP_PLAN);
  const viewer = await run(['plan', 'push', shop, '--relay', relay.url, '--token', TEST_SECRETS.VIEWER_TOKEN]);
  assert.equal(viewer.code, 1, viewer.stderr);
  assert.match(viewer.stderr, /forbidden|may not/);

  const pushed = await run(['plan', 'push', shop, '--relay', relay.url, '--comment', 'the shop'], EDITOR);
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stdout, /^activated version 1: the tracking plan \(10 events, 60 properties .*\) from .*shop\.json on 2 of 2 partitions$/m);
  const lenient = file('lenient.json', SHOP_PLAN.replace('"on_violation": "quarantine"', '"on_violation": "flag"'));
  assert.equal((await run(['plan', 'push', lenient, '--relay', relay.url, '--comment', 'flag only'], EDITOR)).code, 0);

  const versions = await run(['plan', 'versions', '--relay', relay.url], VIEWER);
  assert.equal(versions.code, 0, versions.stderr);
  assert.match(versions.stdout, /^\* 2 .* flag only$/m);
  assert.match(versions.stdout, /^  1 .* the shop$/m);
  const show = await run(['plan', 'show', '--relay', relay.url], VIEWER);
  assert.equal(JSON.parse(show.stdout).on_violation, 'flag');
  const diff = await run(['plan', 'diff', '1', '2', '--relay', relay.url], VIEWER);
  assert.match(diff.stdout, /^-.*"on_violation": "quarantine"/m);
  assert.match(diff.stdout, /^\+.*"on_violation": "flag"/m);
  // Back to the shop's plan, as a new version.
  assert.equal((await run(['plan', 'revert', '1', '--relay', relay.url], EDITOR)).code, 0);
});

test('stats, tail --stream quarantine and replay after a fixed plan', async () => {
  const now = Date.now();
  const view = (price, sku) => ({
    name: 'Product Viewed',
    properties: { product_id: 'p-0031', sku, name: 'Gift card', category: 'gift-cards', price, currency: 'EUR' },
  });
  const frames = encodeFrames([
    makeFrame({ visitor: 'v-gift', events: [{ kind: 'page', name: 'Gift card', properties: { path: '/product/p-0031', url: 'http://127.0.0.1/product/p-0031', title: 'Gift card' }, time: now - 2 }, { ...view('25.00', 'SKU-GIF-00031'), time: now - 1 }] }),
    makeFrame({ visitor: 'v-gift-2', events: [{ ...view(25, 'gift-31'), time: now }] }),
  ]);
  for (const body of frames) {
    const res = await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body });
    assert.equal(res.status, 200);
  }
  const stats = await run(['plan', 'stats', '--relay', relay.url], VIEWER);
  assert.equal(stats.code, 0, stats.stderr);
  assert.match(stats.stdout, /: 0 allowed, 0 flagged, 2 quarantined; the quarantine holds 2 events$/m);
  assert.match(stats.stdout, /^ +0 +0 +1 +Product Viewed \/ properties\.price \(wrong_type\): expected number, got string "25\.00"$/m);
  assert.match(stats.stdout, /^ +0 +0 +1 +Product Viewed \/ properties\.sku \(pattern_mismatch\): /m);
  const json = JSON.parse((await run(['plan', 'stats', '--relay', relay.url, '--json'], VIEWER)).stdout);
  assert.equal(json.totals.quarantined, 2);

  const tail = await run(['tail', '--relay', relay.url, '--stream', 'quarantine', '--from', 'earliest', '--until-end'], SUBSCRIBER);
  assert.equal(tail.code, 0, tail.stderr);
  const records = tail.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const gift = records.find((r) => r.visitor === 'v-gift');
  assert.deepEqual(gift.violations.map((v) => `${v.path}: ${v.message}`), ['properties.price: expected number, got string "25.00"']);
  assert.deepEqual(gift.frame_events.count, 1);

  // The site's SKUs and string prices are right after all: the plan says so now.
  const fixed = JSON.parse(SHOP_PLAN);
  fixed.events['Product Viewed'].properties.price.type = 'string';
  delete fixed.events['Product Viewed'].properties.price.minimum;
  delete fixed.events['Product Viewed'].properties.price.maximum;
  const pushed = await run(['plan', 'push', file('fixed.json', fixed), '--relay', relay.url], EDITOR);
  assert.equal(pushed.code, 0, pushed.stderr);
  const viewer = await run(['plan', 'replay', '--relay', relay.url], VIEWER);
  assert.equal(viewer.code, 2, 'a viewer has no editor token to send');
  const replay = await run(['plan', 'replay', '--relay', relay.url], EDITOR);
  assert.equal(replay.code, 0, replay.stderr);
  assert.equal(replay.stdout, 'released 1 event to the event stream; 1 event stays in quarantine\n');
  const left = await run(['tail', '--relay', relay.url, '--stream', 'quarantine', '--from', 'earliest', '--until-end'], SUBSCRIBER);
  const still = left.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.deepEqual(still.map((r) => r.visitor), ['v-gift-2']);
  assert.deepEqual(still[0].violations.map((v) => v.kind), ['wrong_type', 'pattern_mismatch']);
});
