// How many events per second one tab can hand the SDK, with the relay
// answering each frame after 5, 50 and 500 ms, before anything is dropped:
// the highest rate the SDK keeps up with (every event delivered, nothing
// dropped, the backlog gone within a second and two round trips after the
// page stops) over a run of RUN_MS, found by bisection. A figure script, not
// a test. Frames go over HTTP (the recording relay, tests/sdk/harness.mjs);
// events are corpus-like `Product Viewed` tracks of about 100 bytes of JSON.
// Usage: node tests/sdk/throughput.mjs [--run=10000] [--latency=5,50,500]
import { installPackage, startSite, startRelay, launch, open } from './harness.mjs';

const arg = (name, d) => (process.argv.find((a) => a.startsWith(`--${name}=`)) || '').split('=')[1] || d;
const RUN_MS = Number(arg('run', 10000));
const LATENCIES = arg('latency', '5,50,500').split(',').map(Number);

const app = installPackage();
const relay = await startRelay();
const site = await startSite(app, relay.url);
const browser = await launch();

/** Runs in the page: hands the SDK `rate` events/s for `ms`, in 10 ms ticks. */
function driver() {
  window.drive = (rate, ms) => new Promise((res) => {
    const t0 = performance.now();
    let sent = 0;
    const tick = () => {
      const el = performance.now() - t0;
      const due = Math.floor((rate * Math.min(el, ms)) / 1000);
      for (; sent < due; sent++) window.es.track('Product Viewed', { product_id: 'p-' + (sent % 500), sku: 'SKU-' + (sent % 500), category: 'sunglasses', price: 10 + (sent % 90), currency: 'EUR', i: sent });
      if (el < ms) setTimeout(tick, 10);
      else {
        // The page stops: what waits for the flush interval goes now.
        window.es.flush();
        res(sent);
      }
    };
    tick();
  });
}

/** One run at `rate`: { ok, sent, delivered, dropped, frames, drainMs }. */
async function run(latency, rate) {
  relay.reset();
  relay.delay = latency;
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false, triggers: false });
  await page.evaluate(driver);
  const sent = await page.evaluate(([r, ms]) => window.drive(r, ms), [rate, RUN_MS]);
  const t = Date.now();
  const limit = 1000 + 2 * latency;
  let s;
  do {
    await new Promise((r) => setTimeout(r, 20));
    s = await page.evaluate(() => window.es.stats());
  } while ((s.queued || s.pending) && Date.now() - t < limit);
  const drainMs = Date.now() - t;
  await ctx.close();
  const delivered = relay.decoded().reduce((n, f) => n + f.events.length, 0);
  const ok = !s.queued && !s.pending && s.dropped == 0 && delivered == sent;
  return { ok, sent, delivered, dropped: s.dropped, frames: relay.stored.length, drainMs };
}

const results = [];
for (const latency of LATENCIES) {
  let lo = 0;
  let hi = 200;
  let best = null;
  // Double until it fails, then bisect to within 5%.
  for (;;) {
    const r = await run(latency, hi);
    console.error(`  ${latency} ms: ${hi} ev/s -> ${JSON.stringify(r)}`);
    if (!r.ok) break;
    lo = hi;
    best = r;
    hi *= 2;
    if (hi > 200000) break;
  }
  while (hi - lo > lo * 0.05 && hi <= 200000) {
    const mid = Math.round((lo + hi) / 2);
    const r = await run(latency, mid);
    console.error(`  ${latency} ms: ${mid} ev/s -> ${JSON.stringify(r)}`);
    if (r.ok) {
      lo = mid;
      best = r;
    } else hi = mid;
  }
  results.push({ latency, rate: lo, events_per_frame: best ? Math.round(best.delivered / best.frames) : 0 });
}
await browser.close();
await site.close();
await relay.close();
console.log(`events per second one tab hands the SDK without a drop (${RUN_MS / 1000} s runs, HTTP, Chromium):`);
for (const r of results) console.log(`  relay answering after ${String(r.latency).padStart(3)} ms: ${r.rate} events/s (${r.events_per_frame} events per frame)`);
console.log(JSON.stringify(results));
