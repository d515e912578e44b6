// The persistent queue in Chromium: a backlog survives a reload and is sent
// on the next visit, two tabs never both send it, a frame waiting its turn
// takes later events, the bound drops the oldest, and consent stops
// everything.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stage, browser, relay, site, open, until } from './harness.mjs';

stage();

const HTTP = { autocapture: false, triggers: false, flushInterval: 60000 };
const frameKeys = (page) => page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('es:f:')).sort());

test('reload with a queued backlog: the next visit sends it, each event once', async () => {
  relay.reset();
  relay.down = true;
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { ...HTTP, flushAt: 2 });
  const producer = await page.evaluate(async () => {
    for (let i = 0; i < 5; i++) window.es.track('Backlog', { i });
    await window.es.flush();
    return window.es.stats().producer;
  });
  // Frame 0 holds events 0-1; frame 1, waiting behind it, took 2-4.
  assert.deepEqual(await frameKeys(page), [0, 1].map((s) => `es:f:${producer}:${s}`));
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  const second = await page.evaluate(() => window.es.stats().producer);
  assert.notEqual(second, producer);
  relay.down = false;
  await page.evaluate(() => dispatchEvent(new Event('online')));
  assert.ok(await until(() => relay.stored.length == 2, 10000));
  // Both keep their producer and sequence: they went together (one bundle,
  // in order) before the reload and from storage after it.
  const frames = relay.decoded();
  const ids = frames.map((f) => [BigInt(f.producer_id).toString(16).padStart(16, '0'), f.sequence]);
  assert.deepEqual(ids, [[producer, 0], [producer, 1]]);
  assert.ok(relay.requests.every((r) => r.bundled));
  assert.deepEqual(relay.events().map((e) => e.properties.i).sort(), [0, 1, 2, 3, 4]);
  assert.ok(await until(async () => (await frameKeys(page)).length == 0));
  await ctx.close();
});

test('two tabs: an orphaned backlog is claimed and sent by exactly one of them', async () => {
  relay.reset();
  relay.down = true;
  const ctx = await browser.newContext();
  const a = await open(ctx, site, { ...HTTP, flushAt: 1 });
  await a.evaluate(async () => {
    for (let i = 0; i < 3; i++) window.es.track('Orphan', { i });
    await window.es.flush();
  });
  // Closing runs pagehide: the beacons fail (the relay is down), the frames stay queued.
  await a.close({ runBeforeUnload: true });
  const queued = relay.requests.length;
  relay.down = false;
  const [b, c] = await Promise.all([open(ctx, site, HTTP), open(ctx, site, HTTP)]);
  const tabs = await Promise.all([b, c].map((p) => p.evaluate(() => BigInt('0x' + window.es.stats().producer).toString())));
  await Promise.all([b, c].map((p, n) => p.evaluate((n) => { window.es.track('Tab', { n }); return window.es.flush(); }, n)));
  assert.ok(await until(() => relay.events().length == 5, 10000));
  await new Promise((r) => setTimeout(r, 500));
  assert.deepEqual(relay.events().map((e) => e.name + (e.properties.i ?? e.properties.n)).sort(), ['Orphan0', 'Orphan1', 'Orphan2', 'Tab0', 'Tab1']);
  // Every orphaned frame was fetched by one tab only (the other found its producer locked).
  const fetched = relay.requests.slice(queued).filter((r) => r.via == 'http' && !tabs.includes(r.producer)).map((r) => r.producer + ':' + r.sequence);
  assert.equal(fetched.length, new Set(fetched).size, 'no orphan frame fetched twice: ' + fetched);
  assert.deepEqual(await Promise.all([b, c].map((p) => p.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('es:f:'))))), [[], []]);
  await ctx.close();
});

test('a slow relay: frames waiting their turn take the later events, up to the relay limits', async () => {
  relay.reset();
  relay.delay = 300;
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { ...HTTP, flushAt: 1 });
  const producer = await page.evaluate(() => {
    for (let i = 0; i < 1500; i++) window.es.track('M', { i });
    return window.es.flush().then(() => BigInt('0x' + window.es.stats().producer).toString());
  });
  // Frame 0 went alone; frame 1 waited and took every later event up to the
  // relay's 1,000 events a frame; frame 2 the rest.
  const frames = relay.decoded();
  assert.deepEqual(frames.map((f) => [f.producer_id, f.sequence, f.events.length]), [[producer, 0, 1], [producer, 1, 1000], [producer, 2, 499]]);
  assert.deepEqual(frames.flatMap((f) => f.events.map((e) => e.properties.i)), [...Array(1500).keys()]);
  assert.equal(await page.evaluate(() => window.es.stats().dropped), 0);
  await ctx.close();
});

test('the queue is bounded by bytes: the oldest frames are dropped first and counted', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { ...HTTP, flushAt: 1, compress: false, queue: { maxBytes: 65536 } });
  await page.evaluate(() => { window.es.track('Q', { i: 0 }); return window.es.flush(); });
  assert.equal(relay.stored.length, 1);
  relay.down = true;
  // Frames of about 12 KB, one visitor each (so none can take another's
  // events): five fit in 64 KB.
  const stats = await page.evaluate(async () => {
    for (let i = 1; i <= 7; i++) {
      window.es.reset();
      window.es.track('Q', { i, a: String.fromCharCode(64 + i).repeat(6000), b: String.fromCharCode(96 + i).repeat(6000) });
    }
    await window.es.flush();
    return window.es.stats();
  });
  assert.equal(stats.queued, 5);
  assert.equal(stats.dropped, 2);
  assert.deepEqual(await page.evaluate(() => window.errors.map((e) => e.code)), ['queue_full', 'queue_full']);
  assert.equal(await page.evaluate(() => localStorage.getItem('es:dropped')), '2');
  relay.down = false;
  await page.evaluate(() => dispatchEvent(new Event('online')));
  assert.ok(await until(() => relay.stored.length == 6, 10000));
  // (Frames of different producers may arrive in any order.)
  assert.deepEqual(relay.events().map((e) => e.properties.i).sort(), [0, 3, 4, 5, 6, 7]);
  // Each visitor is a producer of its own, whose sequence goes on from the
  // page's: the dropped frames 1 and 2 leave no gap in any producer.
  const ids = relay.decoded().map((f) => [f.producer_id, f.sequence]);
  assert.deepEqual(ids.map(([, s]) => s).sort(), [0, 3, 4, 5, 6, 7]);
  assert.equal(new Set(ids.map(([p]) => p)).size, 6);
  assert.deepEqual(relay.requests.map((r) => r.answer.status), Array(relay.requests.length).fill(200));
  await page.evaluate(() => { window.es.track('Q', { i: 8 }); return window.es.flush(); });
  assert.deepEqual(relay.decoded().at(-1).producer_id, ids.find(([, s]) => s == 7)[0]);
  await ctx.close();
});

test('optOut: clears the queue and identity, then nothing is stored, queued or sent', async () => {
  relay.reset();
  relay.down = true;
  const ctx = await browser.newContext();
  const page = await open(ctx, site, HTTP);
  await page.evaluate(async () => {
    window.es.track('Before');
    await window.es.flush();
  });
  assert.equal((await frameKeys(page)).length, 1);
  await page.evaluate(async () => {
    window.es.optOut();
    window.es.track('After', { x: 1 });
    window.es.page();
    window.es.identify('u-1', { plan: 'pro' });
    await window.es.flush();
  });
  relay.down = false;
  await page.evaluate(() => dispatchEvent(new Event('online')));
  await new Promise((r) => setTimeout(r, 600));
  assert.deepEqual(relay.requests.map((r) => [r.via, r.sequence]), []);
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), ['es:optout']);
  assert.deepEqual(await page.evaluate(() => [window.es.isOptedOut(), window.es.stats().queued, window.es.stats().pending]), [true, 0, 0]);
  // The choice is remembered across visits.
  await page.reload();
  await page.waitForFunction(() => window.ready === true);
  assert.equal(await page.evaluate(() => window.es.isOptedOut()), true);
  await ctx.close();
});

test('optedOut option and Global Privacy Control: nothing stored until optIn', async () => {
  for (const [opts, gpc] of [[{ optedOut: true }, false], [{ honorGlobalPrivacyControl: true }, true]]) {
    relay.reset();
    const ctx = await browser.newContext();
    if (gpc) await ctx.addInitScript(() => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }));
    const page = await open(ctx, site, { ...HTTP, autocapture: true, ...opts });
    await page.evaluate(async () => {
      window.es.track('Hidden');
      document.querySelector('button').click();
      await window.es.flush();
    });
    await new Promise((r) => setTimeout(r, 300));
    assert.equal(relay.requests.length, 0);
    assert.deepEqual(await page.evaluate(() => Object.keys(localStorage)), []);
    await page.evaluate(async () => {
      window.es.optIn();
      window.es.track('Visible');
      await window.es.flush();
    });
    assert.deepEqual(relay.events().map((e) => e.name), ['Visible']);
    await ctx.close();
  }
});

test('a gap that never fills: after a few retries the frames move to a fresh producer', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, HTTP);
  await page.evaluate(() => { window.es.track('First'); return window.es.flush(); });
  // The relay keeps answering that an earlier frame is missing.
  for (let i = 0; i < 4; i++) relay.plan.push({ status: 409, code: 'sequence_gap' });
  await page.evaluate(() => { window.es.track('Second'); return window.es.flush(); });
  assert.ok(await until(() => relay.stored.length == 2, 8000));
  const [a, b] = relay.decoded();
  assert.deepEqual([a.events[0].name, b.events[0].name, b.sequence], ['First', 'Second', 1]);
  assert.notEqual(a.producer_id, b.producer_id);
  assert.equal(relay.requests.length, 6);
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});
