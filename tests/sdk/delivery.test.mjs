// The SDK package in Chromium against the recording relay: the basic loop,
// batching limits, retries, unload, queue, tabs, consent.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { installPackage, startSite, startRelay, launch, open, until } from './harness.mjs';

let browser, relay, site;
before(async () => {
  const app = installPackage();
  relay = await startRelay();
  site = await startSite(app, relay.url);
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await site?.close();
  await relay?.close();
});

function reset() {
  relay.requests.length = 0;
  relay.stored.length = 0;
  relay.plan.length = 0;
  relay.down = false;
}

test('init, track, flush: one frame with the events arrives', async () => {
  reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  await page.evaluate(async () => {
    window.es.track('Product Viewed', { product_id: 'p-1', price: 89.58 });
    window.es.track('Product Added', { product_id: 'p-1', qty: 2 });
    await window.es.flush();
  });
  assert.equal(relay.stored.length, 1);
  const events = relay.events();
  assert.deepEqual(events.map((e) => [e.kind, e.name, e.properties]), [
    ['track', 'Product Viewed', { product_id: 'p-1', price: 89.58 }],
    ['track', 'Product Added', { product_id: 'p-1', qty: 2 }],
  ]);
  const anon = await page.evaluate(() => localStorage.getItem('es:id'));
  assert.equal(events[0].context.anonymous_id, anon);
  assert.equal(events[0].context.origin, site.url);
  assert.match(events[0].context.library, /^eventstream-js\/0\.1\.0$/);
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('a firing pushed on the socket reaches onTrigger once, acked', async () => {
  reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  await page.evaluate(() => {
    window.es.onTrigger('banner', (f) => window.firings.push(['banner', f.firing_id, f.action.payload.text]));
    window.es.onTrigger('*', (f) => window.firings.push(['*', f.firing_id]));
  });
  const anon = await page.evaluate(() => localStorage.getItem('es:id'));
  assert.ok(await until(() => page.evaluate(() => window.es.stats().connected)));
  const f = relay.fire(anon);
  assert.ok(await until(async () => (await page.evaluate(() => window.firings.length)) == 2));
  assert.deepEqual(await page.evaluate(() => window.firings), [
    ['banner', f.firing_id, 'Come back!'],
    ['*', f.firing_id],
  ]);
  assert.ok(await until(() => relay.acks.includes(0)));
  await ctx.close();
});
