// Figures of the SDK in Chromium, replaying the reference corpus
// (examples/corpus/clickstream.jsonl, 10,728 calls of 400 visits; EVENTSTREAM_CORPUS
// or CORPUS names another file) against
// the recording relay: main-thread time per call (p50, p99, mean) and wire
// bytes per event as the SDK sends them (frames as received, after deflate).
// Regimes: back to back (each visit's calls in a tight loop, a reset() between
// visits), with and without the trigger socket; and paced by the corpus's own
// timestamps on a fake clock (frames then seal on the 3 s timer as in real
// life). Also the firing round trip through the SDK and the stub relay.
// Usage: node tests/sdk/figures.mjs [--quick] [--only=http|socket|paced|rtt]
import { installPackage, startSite, startRelay, launch, open, until } from './harness.mjs';
import { CORPUS, loadVisits, replayInPage } from './corpus.mjs';

const quick = process.argv.includes('--quick');
const { calls, visits } = loadVisits(quick ? 1000 : Infinity);

const app = installPackage();
const relay = await startRelay();
const site = await startSite(app, relay.url, { isolated: true });
const browser = await launch();

// Runs in the page: each call of a visit through the public API
// (corpus.mjs's window.call), timed.
function timedFn() {
  window.timed = (visit) => {
    const out = [];
    for (const c of visit) {
      const t = performance.now();
      window.call(c);
      out.push(performance.now() - t);
    }
    return out;
  };
}

async function run(name, opts, paced) {
  relay.reset();
  const ctx = await browser.newContext();
  if (paced) await ctx.clock.install({ time: 1764000000000 });
  const page = await open(ctx, site, { autocapture: false, ...opts });
  await page.evaluate(replayInPage);
  await page.evaluate(timedFn);
  const isolated = await page.evaluate(() => crossOriginIsolated);
  const times = [];
  const t0 = Date.now();
  for (const visit of visits) {
    await page.evaluate(() => window.es.reset());
    if (!paced) times.push(...(await page.evaluate((v) => window.timed(v), visit)));
    else {
      for (let i = 0; i < visit.length; i++) {
        times.push(...(await page.evaluate((c) => window.timed([c]), visit[i])));
        if (i + 1 < visit.length) await page.clock.runFor(Math.max(0, visit[i + 1].t - visit[i].t));
      }
      await page.clock.runFor(30_000); // the visitor leaves; the timer seals the last frame
    }
  }
  await page.evaluate(() => window.es.flush());
  const events = calls.length;
  await until(async () => (await page.evaluate(() => window.es.stats().queued)) == 0, 60_000);
  const stored = relay.decoded().reduce((n, f) => n + f.events.length, 0);
  const bytes = relay.stored.reduce((n, r) => n + r.bytes.length, 0);
  const errors = await page.evaluate(() => window.errors.length);
  await ctx.close();
  // identify() apart (times are in call order, as visits.flat() is).
  const kinds = visits.flat().map((c) => c.call);
  const ident = times.filter((_, i) => kinds[i] == 'identify').sort((a, b) => a - b);
  times.sort((a, b) => a - b);
  const at = (list, p) => list[Math.min(list.length - 1, Math.floor(p * list.length))] * 1000;
  const q = (p) => at(times, p);
  const mean = (times.reduce((a, b) => a + b, 0) / times.length) * 1000;
  const identify = ident.length ? { calls: ident.length, p50: at(ident, 0.5), p99: at(ident, 0.99) } : null;
  return { name, calls: times.length, delivered: stored, frames: relay.stored.length, bytes, perEvent: bytes / stored, p50: q(0.5), p99: q(0.99), mean, identify, isolated, errors, seconds: (Date.now() - t0) / 1000, events };
}

const only = (process.argv.find((a) => a.startsWith('--only=')) || '').slice(7);
const rows = [];
if (!only || only == 'http') rows.push(await run('back to back, HTTP', { triggers: false }));
if (!only || only == 'socket') rows.push(await run('back to back, socket open', { triggers: true }));
if (!only || only == 'paced') rows.push(await run('paced by corpus time, HTTP', { triggers: false }, true));
if (!only || only == 'paced') rows.push(await run('paced, flushInterval 10 s', { triggers: false, flushInterval: 10000 }, true));
// Firing round trip through this SDK and the stub relay (which fires as soon
// as a frame arrives on the socket): track() to the onTrigger handler.
let rtt = null;
if (!only || only == 'rtt') {
  relay.reset();
  relay.echoFiring = true;
  const ctx = await browser.newContext();
  const page = await open(ctx, site, { autocapture: false, compress: process.env.RTT_COMPRESS != '0' });
  await until(() => page.evaluate(() => window.es.stats().connected));
  const ms = await page.evaluate(async () => {
    const out = [];
    let done;
    window.es.onTrigger('*', () => done && done());
    for (let i = 0; i < 200; i++) {
      const t = performance.now();
      await new Promise((r) => { done = r; window.es.track('Cart Viewed', { i }); });
      out.push(performance.now() - t);
      await new Promise((r) => setTimeout(r, 5));
    }
    return out.sort((a, b) => a - b);
  });
  rtt = { p50: ms[100], p99: ms[198] };
  await ctx.close();
}
await browser.close();
await site.close();
await relay.close();

console.log(`corpus ${CORPUS}: ${calls.length} calls, ${visits.length} visits (Chromium ${quick ? ', quick' : ''})`);
console.log('regime'.padEnd(30) + 'delivered'.padStart(10) + 'frames'.padStart(8) + 'B/event'.padStart(9) + 'p50 us'.padStart(8) + 'p99 us'.padStart(8) + 'mean us'.padStart(9));
for (const r of rows) {
  console.log(r.name.padEnd(30) + `${r.delivered}/${r.events}`.padStart(10) + String(r.frames).padStart(8) + r.perEvent.toFixed(1).padStart(9) + r.p50.toFixed(0).padStart(8) + r.p99.toFixed(0).padStart(8) + r.mean.toFixed(1).padStart(9));
}
for (const r of rows) if (r.identify) console.log(`identify() alone, ${r.name}: ${r.identify.calls} calls, p50 ${r.identify.p50.toFixed(0)} us, p99 ${r.identify.p99.toFixed(0)} us`);
if (rows.length) console.log('(timer resolution: ' + (rows[0].isolated ? '5 us, cross-origin isolated' : '100 us') + '; errors reported: ' + rows.map((r) => r.errors).join('/') + ')');
if (rtt) console.log(`firing round trip (track() to handler, stub relay on loopback): p50 ${rtt.p50.toFixed(1)} ms, p99 ${rtt.p99.toFixed(1)} ms`);
console.log(JSON.stringify(rows));
