// Trigger firings over the visitor WebSocket, in Chromium.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stage, browser, relay, site, open, until } from './harness.mjs';
import { CLOSE_ORIGIN_NOT_ALLOWED } from '../../npm/src/generated.js';

stage();

const connected = (page) => until(() => page.evaluate(() => window.es.stats().connected));

test('firings reach their handlers once each, across a reconnect that resends them', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  await page.evaluate(() => {
    window.es.onTrigger('banner', (f) => window.firings.push('banner ' + f.firing_id));
    window.es.onTrigger('cart-rescue', (f) => window.firings.push('by name ' + f.firing_id));
    const off = window.es.onTrigger('*', (f) => window.firings.push('any ' + f.firing_id));
    window.offAny = off;
    window.es.onTrigger('*', () => { throw new Error('a broken handler of the page'); });
  });
  const anon = await page.evaluate(() => localStorage.getItem('es:id'));
  assert.ok(await connected(page));
  const f1 = relay.fire(anon);
  assert.ok(await until(() => relay.acks.includes(f1.offset)), 'acked: ' + relay.acks);
  // The relay restarts and, having lost the ack, resends f1 on the next connect.
  for (const f of relay.firings.get(anon)) f.acked = false;
  relay.dropSockets();
  assert.ok(await until(() => relay.connects == 2 && relay.sockets.size == 1, 10000), `connects ${relay.connects}, open ${relay.sockets.size}`);
  assert.ok(await connected(page));
  await page.evaluate(() => window.offAny());
  const f2 = relay.fire(anon, 'coupon', { type: 'coupon', payload: { code: 'SAVE10' } });
  assert.ok(await until(() => relay.acks.filter((o) => o == f2.offset).length == 1));
  await page.waitForTimeout(100);
  assert.deepEqual(await page.evaluate(() => window.firings), [`banner ${f1.firing_id}`, `by name ${f1.firing_id}`, `any ${f1.firing_id}`]);
  // The broken handler was reported, never thrown into the page.
  assert.deepEqual(await page.evaluate(() => [...new Set(window.errors.map((e) => e.message))]), ['a broken handler of the page']);
  // f1 was acked again after the resend (delivered: not resent on the next connect).
  assert.equal(relay.acks.filter((o) => o == f1.offset).length, 2);
  await ctx.close();
});

test('while connected, frames go over the socket within milliseconds', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  assert.ok(await connected(page));
  const t0 = Date.now();
  await page.evaluate(() => window.es.track('Cart Viewed', { total: 50 }));
  assert.ok(await until(() => relay.stored.length == 1, 10000));
  assert.ok(Date.now() - t0 < 500, 'sent after ' + (Date.now() - t0) + ' ms');
  assert.equal(relay.stored[0].via, 'ws');
  assert.deepEqual(relay.events().map((e) => e.name), ['Cart Viewed']);
  assert.equal(await page.evaluate(() => window.es.stats().queued), 0);
  await ctx.close();
});

test('a socket the relay refuses for its origin is not reopened; another close is', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  assert.ok(await connected(page));
  const n = relay.connects;
  relay.closeSockets(1011);
  assert.ok(await until(() => relay.connects == n + 1 && relay.sockets.size == 1), `connects ${relay.connects - n}`);
  assert.ok(await connected(page));
  // The close code comes from Rust (npm/src/generated.js); the relay's own
  // test checks that it closes a refused origin's socket with it.
  relay.closeSockets(CLOSE_ORIGIN_NOT_ALLOWED);
  assert.ok(await until(async () => !(await page.evaluate(() => window.es.stats().connected))));
  // Any other close reconnects after backoff(0), at most 500 ms
  // (sdk/src/policy.rs): four times that passes without a reconnect.
  await page.waitForTimeout(2000);
  assert.equal(relay.connects, n + 1);
  assert.equal(relay.sockets.size, 0);
  await ctx.close();
});

test('reset() reconnects as the new visitor', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  assert.ok(await connected(page));
  const before = [...relay.sockets].map((s) => s.visitor);
  await page.evaluate(() => window.es.reset());
  const anon = await page.evaluate(() => localStorage.getItem('es:id'));
  assert.ok(await until(() => [...relay.sockets].some((s) => s.visitor == anon), 10000));
  assert.notDeepEqual(before, [anon]);
  await ctx.close();
});

test('frames waiting on a socket that closes (reset) go again over HTTP, none lost', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false, flushAt: 3 });
  assert.ok(await connected(page));
  relay.wsDelay = 30; // answers lag, so reset() closes the socket under frames in flight
  await page.evaluate(async () => {
    for (let v = 0; v < 30; v++) {
      window.es.reset();
      for (let i = 0; i < 4; i++) window.es.track('V', { v, i });
      // Let the socket open and the frames go out on it; the next reset() closes it.
      await new Promise((r) => setTimeout(r, 40));
    }
    await window.es.flush();
  });
  // No backoff: an interrupted socket send is not a failed attempt.
  assert.ok(await until(async () => (await page.evaluate(() => window.es.stats().queued)) == 0, 10000));
  relay.wsDelay = 0;
  assert.equal(relay.events().length, 120);
  assert.equal(new Set(relay.events().map((e) => e.properties.v + ':' + e.properties.i)).size, 120);
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('a failure answered on the socket is treated as over HTTP: 500 retried, 400 reported', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  assert.ok(await connected(page));
  relay.plan.push({ status: 500, code: 'storage' }, { status: 500, code: 'storage' });
  await page.evaluate(() => window.es.track('Kept', { n: 1 }));
  assert.ok(await until(() => relay.stored.length == 1, 10000));
  assert.deepEqual(relay.requests.map((r) => [r.via, r.sequence]), [['ws', 0], ['ws', 0], ['ws', 0]]);
  assert.deepEqual(relay.events().map((e) => e.name), ['Kept']);
  relay.plan.push({ status: 400, code: 'checksum' });
  await page.evaluate(() => window.es.track('Refused'));
  assert.ok(await until(() => page.evaluate(() => window.errors.length == 1)));
  assert.deepEqual(await page.evaluate(() => window.errors), [{ code: 'checksum', message: 'the relay refused a frame', status: 400 }]);
  assert.equal(await page.evaluate(() => window.es.stats().queued), 0);
  await ctx.close();
});

test('the first seconds: the landing page view goes at once, and what waits goes when the socket opens', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  // A flush interval no test waits for: only the socket's timing can send.
  const page = await open(ctx, site, { autocapture: { clicks: false, forms: false }, flushInterval: 600000 });
  assert.ok(await until(() => relay.events().some((e) => e.kind == 'page'), 10000), 'the landing page view arrived');
  assert.ok(await connected(page));
  // The socket drops; while it reconnects, frames wait for it (HTTP interval).
  relay.dropSockets();
  await until(() => page.evaluate(() => !window.es.stats().connected));
  await page.evaluate(() => window.es.track('While Reconnecting'));
  assert.ok(await until(() => relay.stored.some((r) => r.via == 'ws' && relay.decoded().at(-1).events[0].name == 'While Reconnecting'), 10000));
  assert.equal(await page.evaluate(() => window.es.stats().queued), 0);
  await ctx.close();
});

test('socket.js loads only with triggers, beside the token request; when it cannot load: triggers_unavailable', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const seen = [];
  const log = []; // [what, path] of socket.js and the token, in order
  ctx.on('request', (r) => seen.push(new URL(r.url()).pathname));
  for (const what of ['request', 'requestfinished']) {
    ctx.on(what, (r) => /socket\.js$|\/v1\/token$/.test(new URL(r.url()).pathname) && log.push([what, new URL(r.url()).pathname]));
  }
  let page = await open(ctx, site, { autocapture: false, triggers: false });
  await page.evaluate(() => { window.es.track('E'); return window.es.flush(); });
  assert.equal(relay.stored.length, 1);
  assert.deepEqual(seen.filter((p) => p.endsWith('socket.js')), []);
  await page.close();

  page = await open(ctx, site, { autocapture: false });
  assert.ok(await connected(page));
  // Both requested before either answered: the file adds no round trip.
  assert.deepEqual(log.slice(0, 2).map(([what]) => what), ['request', 'request'], JSON.stringify(log));
  assert.deepEqual(log.slice(0, 2).map(([, path]) => path).sort(), ['/pkg/socket.js', '/v1/token']);
  await page.close();

  // A site that does not serve socket.js: events still go (by HTTP), and
  // onError hears why firings cannot come.
  await ctx.route('**/socket.js', (route) => route.fulfill({ status: 404, body: 'no' }));
  page = await open(ctx, site, { autocapture: false });
  assert.ok(await until(() => page.evaluate(() => window.errors.some((e) => e.code == 'triggers_unavailable'))));
  await page.evaluate(() => { window.es.track('Still sent'); return window.es.flush(); });
  assert.equal(relay.events().at(-1).name, 'Still sent');
  assert.equal(await page.evaluate(() => window.es.stats().connected), false);
  await ctx.close();
});
