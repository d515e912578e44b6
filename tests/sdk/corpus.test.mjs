// The reference corpus (400 visits, 10,728 calls) replayed back to back
// through the public API against a relay that is healthy but slow: it
// answers each frame after 5 ms, then 50 ms. A frame waiting its turn is no
// reason to lose it: every event arrives exactly once, in order per visit,
// and nothing is dropped or reported.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { stage, browser, relay, site, open, until } from './harness.mjs';
import { loadVisits, replayInPage, expected } from './corpus.mjs';

stage();

const { calls, visits } = loadVisits();

for (const delay of [5, 50]) {
  test(`corpus back to back, relay answering each frame after ${delay} ms: every event once`, async () => {
    relay.reset();
    relay.delay = delay;
    const ctx = await browser.newContext();
    const page = await open(ctx, site, { autocapture: false, triggers: false });
    await page.evaluate(replayInPage);
    const anons = await page.evaluate((v) => window.replay(v), visits);
    await page.evaluate(() => window.es.flush());
    const stats = await page.evaluate(() => window.es.stats());
    assert.equal(stats.dropped, 0);
    assert.equal(stats.queued, 0);
    assert.deepEqual(await page.evaluate(() => window.errors), []);
    const events = relay.events();
    assert.equal(events.length, calls.length);
    const byVisitor = new Map(anons.map((a) => [a, []]));
    for (const e of events) byVisitor.get(e.context.anonymous_id).push(e);
    visits.forEach((visit, i) => {
      const got = byVisitor.get(anons[i]);
      assert.equal(got.length, visit.length, `visit ${i}: ${got.length} of ${visit.length} events`);
      visit.forEach((c, j) => {
        const [kind, name, props] = expected(c);
        const e = got[j];
        assert.deepEqual([e.kind, e.name], [kind, name], `visit ${i}, call ${j}`);
        // A page view also carries the page's own url, path and title.
        const have = kind == 'page' ? Object.fromEntries(Object.keys(props).map((k) => [k, e.properties[k]])) : e.properties;
        assert.deepEqual(have, props, `visit ${i}, call ${j}`);
      });
    });
    // Stored once each: no frame was accepted twice.
    assert.equal(new Set(relay.stored.map((r) => r.producer + ':' + r.sequence)).size, relay.stored.length);
    assert.ok(await until(async () => (await page.evaluate(() => Object.keys(localStorage).filter((k) => k.startsWith('es:f:')))).length == 0));
    await ctx.close();
  });
}
