// Faults during a visit, each followed by the check that every event the page
// produced is in the log exactly once. Delivery faults use `?notriggers` so
// frames travel over HTTP (fetch, retries, sendBeacon), not the trigger socket.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLoop, countsByN } from './harness.mjs';

let loop;
before(async () => {
  loop = await startLoop();
});
after(() => loop?.stop());

/** Tracks `count` numbered events from the page, each a separate call. */
async function trackNumbered(page, name, from, count) {
  await page.evaluate(({ name, from, count }) => {
    for (let n = from; n < from + count; n++) window.es.track(name, { n });
  }, { name, from, count });
}

async function assertExactlyOnce(visitor, name, count, timeoutMs = 40000) {
  const events = await loop.waitForEvents(visitor, (es) => countsByN(es, name).size === count, timeoutMs);
  const counts = countsByN(events, name);
  for (let n = 0; n < count; n++) assert.equal(counts.get(n), 1, `${name} #${n} exactly once`);
  const offsets = events.map((e) => e.offset);
  assert.equal(new Set(offsets).size, offsets.length);
  return events;
}

test('the relay stopped while the visitor clicks, then started again', async () => {
  const { page, visitor, context } = await loop.visit('/?notriggers');
  await trackNumbered(page, 'Before Outage', 0, 3);
  await assertExactlyOnce(visitor, 'Before Outage', 3);
  await loop.relay.stop();
  await trackNumbered(page, 'During Outage', 0, 10);
  await page.click('nav a[href="/category/bags"]');
  await page.evaluate(() => window.es.flush().catch(() => {}));
  await page.waitForTimeout(1500);
  await loop.relay.start();
  const events = await assertExactlyOnce(visitor, 'During Outage', 10);
  assert.ok(events.some((e) => e.kind === 'page' && e.properties.path === '/category/bags'));
  await context.close();
});

test('the tab closed right after a click (unload delivery)', async () => {
  const { page, visitor, context } = await loop.visit('/?notriggers');
  await trackNumbered(page, 'Before Close', 0, 5);
  await page.click('nav a[href="/category/hats"]');
  await page.close({ runBeforeUnload: true });
  const events = await assertExactlyOnce(visitor, 'Before Close', 5, 15000);
  assert.ok(events.some((e) => e.kind === 'click' && e.properties.href?.endsWith('/category/hats')), 'the last click arrived');
  await context.close();
});

test('the network offline for a while', async () => {
  const { page, visitor, context } = await loop.visit('/?notriggers');
  await context.setOffline(true);
  await trackNumbered(page, 'Offline', 0, 8);
  await page.evaluate(() => window.es.flush().catch(() => {}));
  await page.waitForTimeout(2000);
  const during = (await loop.eventsOf(visitor)).filter((e) => e.name === 'Offline');
  assert.equal(during.length, 0, 'nothing can arrive while offline');
  await context.setOffline(false);
  await assertExactlyOnce(visitor, 'Offline', 8);
  await context.close();
});

test('responses that fail with 500 and 429 (with Retry-After)', async () => {
  const context = await loop.browser.newContext();
  const answers = [];
  let n = 0;
  // Frames go alone or in bundles: both fail alike.
  await context.route((url) => url.origin === loop.relay.url && /^\/v1\/(frames|bundles)$/.test(url.pathname), async (route) => {
    n += 1;
    if (n <= 2) {
      answers.push(500);
      return route.fulfill({ status: 500, contentType: 'application/json', body: '{"code":"internal","message":"injected"}', headers: { 'access-control-allow-origin': loop.shopOrigin } });
    }
    if (n === 3) {
      answers.push(429);
      return route.fulfill({ status: 429, contentType: 'application/json', body: '{"code":"rate_limited","message":"injected"}', headers: { 'retry-after': '1', 'access-control-allow-origin': loop.shopOrigin, 'access-control-expose-headers': 'retry-after' } });
    }
    answers.push('relay');
    return route.continue();
  });
  const page = await context.newPage();
  await page.goto(`${loop.shopOrigin}/?notriggers`);
  await page.waitForFunction(() => window.es !== undefined);
  const visitor = await page.evaluate(() => localStorage.getItem('es:id'));
  await trackNumbered(page, 'Flaky', 0, 6);
  await page.evaluate(() => window.es.flush().catch(() => {}));
  await assertExactlyOnce(visitor, 'Flaky', 6);
  assert.deepEqual(answers.slice(0, 3), [500, 500, 429], 'the faults were injected and retried');
  await context.close();
});

test('the runtime restarted mid-visit: state and the pending delayed firing survive', async () => {
  const { page, visitor, context } = await loop.visit('/product/p-0002');
  await page.click('#add-to-cart');
  await page.click('#add-to-cart');
  await loop.waitForEvents(visitor, (es) => es.filter((e) => e.name === 'Product Added').length === 2);
  await loop.relay.restart();
  await page.waitForSelector('#banner:not([hidden])', { timeout: 20000 });
  await trackNumbered(page, 'After Restart', 0, 4);
  await assertExactlyOnce(visitor, 'After Restart', 4);
  const events = await loop.eventsOf(visitor);
  assert.equal(events.filter((e) => e.name === 'Product Added').length, 2, 'nothing stored twice across the restart');
  const firings = await loop.firingsOf(visitor);
  assert.equal(firings.filter((f) => f.trigger === 'cart-rescue').length, 1);
  await context.close();
});

test('visitors one after the other on one page (reset): each event once, no frame refused', async () => {
  // Each visitor is a producer of its own, so that the frames of a producer
  // all land in one partition: with one producer for the page, a visitor
  // whose partition an earlier one had used met a sequence gap there.
  const { page, context } = await loop.visit('/?notriggers');
  const answers = [];
  page.on('response', async (r) => {
    if (/\/v1\/(frames|bundles)\?/.test(r.url())) answers.push(...((await r.json().catch(() => null))?.results ?? [{ status: r.status() }]));
  });
  const visitors = await page.evaluate(async () => {
    const vs = [];
    for (let n = 0; n < 8; n++) {
      vs.push(localStorage.getItem('es:id'));
      window.es.track('Next Visitor', { n });
      await window.es.flush();
      window.es.reset();
    }
    return vs;
  });
  assert.equal(new Set(visitors).size, 8);
  for (const [n, v] of visitors.entries()) {
    const events = await loop.waitForEvents(v, (es) => es.some((e) => e.name === 'Next Visitor'), 20000);
    assert.deepEqual(events.filter((e) => e.name === 'Next Visitor').map((e) => e.properties.n), [n]);
  }
  assert.ok(answers.length >= 8);
  assert.deepEqual(answers.filter((a) => a.status !== 200), [], 'no frame refused (no sequence gap)');
  await context.close();
});

test('visitors one after the other with the trigger socket: no frame goes on another visitor\'s socket', async () => {
  // The socket is the current visitor's: its object is that visitor's
  // partition, which refuses (421) a frame of a visitor it does not hold.
  // Frames of the visitors before go by HTTP, even once the new socket is open.
  const { page, context } = await loop.visit('/');
  // HTTP failing for a while keeps frames of earlier visitors waiting (backing off) while the next
  // visitor's socket opens.
  let failing = 3;
  await context.route((url) => url.origin === loop.relay.url && url.pathname === '/v1/bundles', async (route) => {
    if (failing-- > 0) return route.fulfill({ status: 503, contentType: 'application/json', body: '{"code":"internal","message":"injected"}', headers: { 'access-control-allow-origin': loop.shopOrigin } });
    await route.continue();
  });
  const refused = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => typeof f.payload === 'string' && f.payload.includes('"type":"error"') && refused.push(f.payload)));
  await page.waitForFunction(() => window.es.stats().connected, null, { timeout: 15000 });
  const visitors = await page.evaluate(async () => {
    const vs = [];
    for (let n = 0; n < 8; n++) {
      vs.push(localStorage.getItem('es:id'));
      // Tracked and the visitor changed in one task: the frame goes by HTTP, the socket being the next visitor's.
      window.es.track('Socket Visitor', { n });
      window.es.reset();
      await new Promise((r) => setTimeout(r, 250));
    }
    await window.es.flush();
    return vs;
  });
  for (const [n, v] of visitors.entries()) {
    const events = await loop.waitForEvents(v, (es) => es.some((e) => e.name === 'Socket Visitor'), 20000);
    assert.deepEqual(events.filter((e) => e.name === 'Socket Visitor').map((e) => e.properties.n), [n]);
  }
  assert.deepEqual(refused, []);
  await context.close();
});
