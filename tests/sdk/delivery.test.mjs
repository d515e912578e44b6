// The SDK package in Chromium against the recording relay: the basic loop,
// batching limits, retries with backoff, offline, unload.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stage, browser, relay, site, open, until } from './harness.mjs';

stage();

// Over HTTP only (no trigger socket), nothing automatic, no timer flush.
const HTTP = { autocapture: false, triggers: false, flushInterval: 60000 };

test('init, track, flush: one frame with the events arrives', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  // Frames go over the trigger socket once it is open, by HTTP before: wait
  // for it, as the assertions on the socket below need (it opens a few ms
  // after init, which raced the flush: 2 failures in 11 runs without this).
  assert.ok(await until(() => page.evaluate(() => window.es.stats().connected)));
  await page.evaluate(async () => {
    window.es.track('Product Viewed', { product_id: 'p-1', price: 89.58 });
    window.es.track('Product Added', { product_id: 'p-1', qty: 2, tags: ['a', 'b'], nested: { ok: true, none: null } });
    await window.es.flush();
  });
  assert.equal(relay.stored.length, 1);
  const events = relay.events();
  assert.deepEqual(events.map((e) => [e.kind, e.name, e.properties]), [
    ['track', 'Product Viewed', { product_id: 'p-1', price: 89.58 }],
    ['track', 'Product Added', { product_id: 'p-1', qty: 2, tags: ['a', 'b'], nested: { ok: true, none: null } }],
  ]);
  const anon = await page.evaluate(() => localStorage.getItem('es:id'));
  assert.match(anon, /^[0-9a-f-]{36}$/);
  assert.equal(events[0].context.anonymous_id, anon);
  assert.equal(events[0].context.origin, site.url);
  assert.equal(events[0].context.library, 'eventstream-js/0.1.0');
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  // On the socket frames go as they are (flag bit 0 clear): compressing
  // is the browser's (permessage-deflate, the next test).
  assert.equal(relay.stored[0].via, 'ws');
  assert.equal(relay.stored[0].flags, 0);
  await page.evaluate(async () => {
    for (let i = 0; i < 30; i++) window.es.track('Product Viewed', { product_id: 'p-' + i, price: 10 + i / 100, currency: 'EUR' });
    await window.es.flush();
  });
  assert.equal(relay.stored.length, 2);
  assert.deepEqual(relay.stored.map((f) => [f.via, f.flags]), [['ws', 0], ['ws', 0]]);
  assert.deepEqual(relay.decoded()[1].events.map((e) => e.properties.price), Array.from({ length: 30 }, (_, i) => 10 + i / 100));
  // Acknowledged frames leave the persistent queue.
  assert.deepEqual(await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('es:f:'))), []);
  await ctx.close();
});

test('on a socket with permessage-deflate, frames go plain: the browser deflates them with the earlier ones', async () => {
  relay.reset();
  relay.wsDeflate = true;
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  assert.ok(await until(() => page.evaluate(() => window.es.stats().connected)));
  assert.match(relay.wsExtensions, /permessage-deflate/);
  for (let round = 0; round < 2; round++) {
    await page.evaluate(async (round) => {
      for (let i = 0; i < 30; i++) window.es.track('Product Viewed', { product_id: 'p-' + i, price: 10 + i / 100, round });
      await window.es.flush();
    }, round);
  }
  // Frames of over 400 bytes arrive plain (flag bit 0 clear): the browser
  // compressed them on the wire.
  assert.equal(relay.stored.length, 2);
  assert.deepEqual(relay.stored.map((f) => [f.via, f.flags, f.bytes.length > 400]), [['ws', 0, true], ['ws', 0, true]]);
  assert.equal(relay.events().length, 60);
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('a frame that went plain on a compressing socket is deflated when it falls back to HTTP', async () => {
  relay.reset();
  relay.wsDeflate = true;
  relay.wsDelay = 60000; // the socket's answer never comes: the frame stays in flight
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false });
  assert.ok(await until(() => page.evaluate(() => window.es.stats().connected)));
  await page.evaluate(() => {
    for (let i = 0; i < 30; i++) window.es.track('Product Viewed', { product_id: 'p-' + i, price: 10 + i / 100 });
  });
  assert.ok(await until(() => relay.requests.length == 1));
  // The socket drops with the frame unanswered: it goes again by HTTP,
  // deflated this time, in a bundle deflated as a whole (the relay already
  // has it: a duplicate, acknowledged).
  relay.dropSockets();
  assert.ok(await until(() => relay.requests.length == 2));
  assert.deepEqual(relay.requests.map((r) => [r.via, r.sequence, r.flags, r.bundled]), [['ws', 0, 0, false], ['http', 0, 0, true]]);
  assert.equal(relay.bundles.length, 1);
  assert.ok(relay.bundles[0].deflated);
  assert.ok(relay.bundles[0].bytes < relay.requests[0].bytes.length, `${relay.bundles[0].bytes} bytes deflated`);
  assert.ok(await until(async () => (await page.evaluate(() => window.es.stats().queued)) == 0));
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('batching: a frame is sealed at flushAt events, at flushBytes, and after flushInterval', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  let page = await open(ctx, site, { ...HTTP, flushAt: 5 });
  // Each full frame goes out on its own; the last two events wait. (Each
  // batch waits for the previous frame's answer: a frame still waiting
  // behind another would take the next events, see queue.test.mjs.)
  for (const [from, to] of [[0, 5], [5, 10], [10, 12]]) {
    await page.evaluate(([from, to]) => {
      for (let i = from; i < to; i++) window.es.track('E', { i });
    }, [from, to]);
    if (to - from == 5) assert.ok(await until(() => relay.stored.length == to / 5));
  }
  assert.equal(relay.stored.length, 2);
  assert.equal(await page.evaluate(() => window.es.stats().pending), 2);
  await page.evaluate(() => window.es.flush());
  assert.deepEqual(relay.decoded().map((f) => f.events.map((e) => e.properties.i)), [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9], [10, 11]]);
  assert.deepEqual(relay.decoded().map((f) => f.sequence), [0, 1, 2]);
  await page.close();

  relay.reset();
  page = await open(ctx, site, { ...HTTP, flushBytes: 2048, compress: false });
  await page.evaluate(async () => {
    for (let i = 0; i < 40; i++) {
      window.es.track('Big', { i, text: 'x'.repeat(200) + i });
      // A sealed frame goes before the next event (one waiting would take it).
      while (window.es.stats().queued) await new Promise((r) => setTimeout(r, 5));
    }
    await window.es.flush();
  });
  const sizes = relay.stored.map((r) => r.bytes.length);
  assert.ok(sizes.length >= 4, 'split into several frames: ' + sizes);
  // A threshold, passed by at most the last event (~215 bytes here).
  for (const n of sizes) assert.ok(n <= 2048 + 230, 'frame of ' + n + ' bytes');
  assert.deepEqual(relay.events().map((e) => e.properties.i), [...Array(40).keys()]);
  await page.close();

  relay.reset();
  page = await open(ctx, site, { ...HTTP, flushInterval: 300 });
  const t0 = Date.now();
  await page.evaluate(() => window.es.track('Timed'));
  assert.ok(await until(() => relay.stored.length == 1));
  assert.ok(Date.now() - t0 >= 250, 'sent after the interval, not at once');
  await ctx.close();
});

test('a frame never exceeds 64 KB: an event too large throws event_too_large', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { ...HTTP, flushBytes: 1e9 });
  const err = await page.evaluate(() => {
    try {
      window.es.track('Huge', { a: 'y'.repeat(8000), b: 'z'.repeat(8000), c: 'w'.repeat(8000), d: 'v'.repeat(8000), e: 'u'.repeat(8000), f: 'q'.repeat(8000), g: 'r'.repeat(8000), h: 's'.repeat(8000), i: 't'.repeat(8000) });
    } catch (e) {
      return [e instanceof Error, e.code];
    }
  });
  assert.deepEqual(err, [true, 'event_too_large']);
  await ctx.close();
});

test('retries 500 and 429 with backoff, honouring Retry-After; the frame is stored once', async () => {
  relay.reset();
  relay.plan.push({ status: 503 }, { status: 500 }, { status: 429, code: 'rate_limited', retryAfter: 2 }, 'drop');
  const ctx = await browser.newContext();
  const page = await open(ctx, site, HTTP);
  await page.evaluate(() => {
    window.es.track('Checkout Started', { total: 120 });
    window.es.flush();
  });
  assert.ok(await until(() => relay.stored.length == 1, 15000));
  const reqs = relay.requests;
  assert.equal(reqs.length, 5);
  // Same producer and sequence on every attempt: the relay can dedup.
  assert.equal(new Set(reqs.map((r) => r.producer + ':' + r.sequence)).size, 1);
  const gaps = reqs.slice(1).map((r, i) => r.t - reqs[i].t);
  assert.ok(gaps[0] >= 240 && gaps[0] < 1000, 'first backoff 250-500 ms: ' + gaps);
  assert.ok(gaps[1] >= 490 && gaps[1] < 1500, 'second backoff 500-1000 ms: ' + gaps);
  assert.ok(gaps[2] >= 1990, 'Retry-After: 2 honoured: ' + gaps);
  assert.deepEqual(relay.events().map((e) => e.name), ['Checkout Started']);
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('frames queued behind one in flight go together in one bundle, each answered on its own', async () => {
  relay.reset();
  relay.delay = 400; // the first frame's answer takes a while
  // Frame 0 acknowledged; then a bundle of 1, 2, 3: 1 acknowledged, 2 a
  // storage failure (retried), 3 refused (reported, dropped).
  relay.plan.push(null, null, { status: 500 }, { status: 400, code: 'checksum' });
  const ctx = await browser.newContext();
  const page = await open(ctx, site, HTTP);
  // Frames of three visitors queue behind the first (a frame waiting behind
  // another takes later events of its own visitor only).
  await page.evaluate(async () => {
    window.es.track('V0');
    window.es.flush();
    for (const name of ['V1', 'V2', 'V3']) {
      window.es.reset();
      window.es.track(name);
    }
    await window.es.flush();
  });
  assert.ok(await until(() => relay.stored.length == 3, 10000));
  const seen = relay.requests.map((r) => [r.sequence, r.bundled, r.answer.status]);
  assert.deepEqual(seen.slice(0, 4), [[0, true, 200], [1, true, 200], [2, true, 500], [3, true, 400]]);
  // The three queued frames went in one request, deflated as a whole; frame 2 again after a backoff.
  assert.equal(relay.bundles[1].deflated, true);
  assert.deepEqual(seen.slice(4), [[2, true, 200]]);
  assert.deepEqual(relay.events().map((e) => e.name), ['V0', 'V1', 'V2']);
  assert.equal(new Set(relay.events().map((e) => e.context.anonymous_id)).size, 3);
  const errors = await page.evaluate(() => window.errors);
  assert.deepEqual(errors.map((e) => [e.code, e.status]), [['checksum', 400]]);
  assert.ok(await until(async () => (await page.evaluate(() => window.es.stats().queued)) == 0));
  await ctx.close();
});

// A visitor change (reset, or identify with another user) seals the open
// frame: a frame holds one visitor. The sealed frame goes at the deadline
// its events had, in one request with the events batched after it;
// identify() gives it no task of its own (the flush timer's cut queues and
// persists it). A page leaving first sends both, once: it fires
// visibilitychange and then pagehide.
test('a frame sealed because the visitor changed goes with the next flush, in one request', async () => {
  const changes = {
    reset: ['Before', 'After'],
    identify: [['Before', null], ['u-9', 'u-9'], ['After', 'u-9']],
  };
  for (const [change, expected] of Object.entries(changes)) {
    for (const leave of change == 'identify' ? [false, true] : [false]) {
      relay.reset();
      const ctx = await browser.newContext();
      const page = await open(ctx, site, { ...HTTP, flushInterval: 700 });
      const t0 = Date.now();
      await page.evaluate((change) => {
        window.es.track('Before');
        if (change == 'reset') window.es.reset();
        else window.es.identify('u-9', { plan: 'pro' });
        window.es.track('After');
      }, change);
      if (leave) await page.goto('about:blank');
      const run = `${change}${leave ? ', then the page leaves' : ''}`;
      assert.ok(await until(() => relay.stored.length == 2, 5000), `${run}: ${relay.stored.length} frames`);
      // Not at the change: at the deadline of the first event, both together.
      if (!leave) assert.ok(relay.requests[0].t - t0 >= 600, `${run}: sent after ${relay.requests[0].t - t0} ms`);
      assert.equal(relay.bundles.length, 1, `${run}: one request (a bundle) for both frames`);
      const events = relay.events();
      if (change == 'reset') assert.deepEqual(events.map((e) => e.name), expected);
      else assert.deepEqual(events.map((e) => [e.name || e.kind, e.context.user_id ?? null]), expected, run);
      await ctx.close();
    }
  }
});

test('a relay without bundles (404): frames go alone, none lost, no error', async () => {
  relay.reset();
  relay.noBundles = true;
  const ctx = await browser.newContext();
  const page = await open(ctx, site, HTTP);
  await page.evaluate(async () => {
    for (const name of ['A', 'B', 'C']) {
      window.es.track(name);
      window.es.reset();
    }
    await window.es.flush();
  });
  assert.ok(await until(() => relay.stored.length == 3, 5000));
  assert.deepEqual(relay.stored.map((r) => [r.via, r.bundled]), [['http', false], ['http', false], ['http', false]]);
  assert.deepEqual(relay.events().map((e) => e.name), ['A', 'B', 'C']);
  assert.deepEqual(await page.evaluate(() => window.errors), []);
  await ctx.close();
});

test('other 4xx: no retry, the error callback gets the relay code', async () => {
  relay.reset();
  relay.plan.push({ status: 400, code: 'checksum' });
  const ctx = await browser.newContext();
  const page = await open(ctx, site, HTTP);
  await page.evaluate(async () => {
    window.es.track('Bad');
    await window.es.flush();
  });
  await new Promise((r) => setTimeout(r, 700));
  assert.equal(relay.requests.length, 1);
  assert.deepEqual(await page.evaluate(() => window.errors), [{ code: 'checksum', message: 'the relay refused a frame', status: 400 }]);
  assert.equal(await page.evaluate(() => window.es.stats().queued), 0);
  await ctx.close();
});

test('offline, then online: the queued frame goes out once, as soon as the page is back online', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, HTTP);
  await ctx.setOffline(true);
  await page.evaluate(async () => {
    window.es.track('Offline 1');
    window.es.track('Offline 2');
    await window.es.flush();
  });
  assert.equal(relay.requests.length, 0);
  assert.equal(await page.evaluate(() => window.es.stats().queued), 1);
  await ctx.setOffline(false);
  assert.ok(await until(() => relay.stored.length == 1, 10000));
  assert.deepEqual(relay.events().map((e) => e.name), ['Offline 1', 'Offline 2']);
  assert.equal(relay.requests.length, 1);
  await ctx.close();
});

test('unload: events still batched when the page goes away are delivered (beacon)', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const page = await open(ctx, site, HTTP);
  await page.evaluate(() => {
    window.es.track('Before Unload', { n: 1 });
    window.es.track('Before Unload', { n: 2 });
  });
  assert.equal(relay.requests.length, 0);
  await page.goto('about:blank');
  assert.ok(await until(() => relay.stored.length == 1, 10000));
  assert.deepEqual(relay.events().map((e) => e.properties.n), [1, 2]);
  await ctx.close();
});

test('debug: the tracking-plan verdict counts the relay puts in an ack are logged, over HTTP and the socket', async () => {
  relay.reset();
  const ctx = await browser.newContext();
  const logs = [];
  const watch = (page) => page.on('console', (m) => m.type() == 'debug' && logs.push(m.text()));
  // Nothing to report: no log line.
  relay.verdicts = { flagged: 0, quarantined: 0, violations: 0 };
  let page = await open(ctx, site, { ...HTTP, debug: true });
  watch(page);
  await page.evaluate(async () => {
    window.es.track('E', { i: 0 });
    await window.es.flush();
  });
  relay.verdicts = { flagged: 2, quarantined: 1, violations: 3 };
  await page.evaluate(async () => {
    window.es.track('E', { i: 1 });
    await window.es.flush();
  });
  const producer = await page.evaluate(() => window.es.stats().producer);
  assert.deepEqual(logs.filter((l) => l.includes(' plan ')), [`[eventstream] plan ${producer} 1 flagged 2 quarantined 1 violations 3`]);
  await page.close();

  logs.length = 0;
  page = await open(ctx, site, { autocapture: false, debug: true });
  watch(page);
  assert.ok(await until(() => page.evaluate(() => window.es.stats().connected)));
  await page.evaluate(async () => {
    window.es.track('E', { i: 2 });
    await window.es.flush();
  });
  assert.equal(relay.stored.at(-1).via, 'ws');
  assert.equal(logs.filter((l) => /\] plan [0-9a-f]{16} 0 flagged 2 quarantined 1 violations 3$/.test(l)).length, 1, logs.join('\n'));
  await ctx.close();
});
