// Our SDK (the built npm package, npm/dist) through the same replay harness
// and local collector as the peer: frames are recorded as sent (compressed
// when the SDK compresses) and decoded afterwards by the real codec to count
// the events that arrived.
import { readFile, writeFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';
import { startCollector, replayInChromium, CHROMIUM_ARGS } from './replay.mjs';
import { decodeFrames, splitBundle } from '../tests/support/frames.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const DIST = join(here, '..', 'npm', 'dist');

/**
 * A bench page's `window.__replay(call)` over the client `es` (page script
 * text): click and submit calls take the path auto-capture takes for a real
 * click or submit.
 */
export const REPLAY = `window.__replay = (c) => {
  switch (c.call) {
    case 'page': es.page(c.name, c.properties); break;
    case 'track': es.track(c.event, c.properties); break;
    case 'identify': es.identify(c.userId, c.traits); break;
    case 'click': es.push(3, '', c.properties, false); break;
    case 'submit': es.push(4, '', c.properties, false); break;
  }
};`;

const PAGE = `<!doctype html><meta charset="utf-8"><title>eventstream bench</title>
<script type="module">
import { init } from '/sdk/index.js';
const es = await init({ writeKey: 'bench', endpoint: location.origin, autocapture: false, triggers: false });
${REPLAY}
window.__endVisit = async () => { es.reset(); };
window.__finish = () => es.flush();
window.__ready = true;
</script>`;

/** Replays `visits` through our SDK; returns per-call times and wire figures. */
export async function runEventstream(visits, { paced = 0 } = {}) {
  let offset = 0;
  const collector = await startCollector(
    {
      '/v1/frames': () => {
        offset += 1;
        return { json: { partition: 0, base_offset: offset, count: 0, duplicate: false } };
      },
      '/v1/bundles': (body) => ({
        json: { results: splitBundle(body).map(() => ({ status: 200, partition: 0, base_offset: (offset += 1), count: 0, duplicate: false })) },
      }),
    },
    {
      '/': ['text/html', PAGE],
      '/sdk/index.js': ['text/javascript', await readFile(join(DIST, 'index.js'))],
      '/sdk/eventstream.wasm': ['application/wasm', await readFile(join(DIST, 'eventstream.wasm'))],
    },
  );
  const total = visits.reduce((n, v) => n + v.length, 0);
  try {
    const { times } = await replayInChromium(`${collector.url}/`, visits, { paced, settleMs: 15000, isDone: async () => collector.quietFor() > 3500 });
    // A request carries one frame, or several as a bundle.
    const sent = collector.requests.filter((r) => r.path === '/v1/frames' || r.path === '/v1/bundles');
    const frames = sent.flatMap((r) => (r.path === '/v1/bundles' ? splitBundle(r.body) : [r.body]));
    // BENCH_DUMP_FRAMES=FILE keeps the frames as sent, one hex line each
    // (`eventstream frame decode --hex FILE` reads them back; frames of a
    // bundle as they were in it).
    if (process.env.BENCH_DUMP_FRAMES && !paced) {
      await writeFile(process.env.BENCH_DUMP_FRAMES, frames.map((f) => Buffer.from(f).toString('hex') + '\n').join(''));
    }
    const decoded = decodeFrames(frames);
    const events = decoded.reduce((n, f) => n + (f.events?.length ?? 0), 0);
    const bytes = sent.reduce((n, r) => n + r.bytes, 0);
    const compressed = decoded.filter((f) => f.flags & 1).length;
    const bundles = sent.filter((r) => r.path === '/v1/bundles').length;
    return { times, events, total, bytes, requests: sent.length, frames: frames.length, bundles, compressed, bad: decoded.filter((f) => f.error).length };
  } finally {
    await collector.close();
  }
}

const START_PAGE = `<!doctype html><meta charset="utf-8"><title>eventstream start-up</title>
<script type="module">
import { init } from '/sdk/index.js';
// Defaults (auto-capture: the page view is the first event) but no trigger
// socket (this collector has none) and flushInterval 0, so the page view
// goes in the next task, as it does by default when the socket is on.
window.__start = async () => {
  const t0 = performance.now();
  await init({ writeKey: 'bench', endpoint: location.origin, triggers: false, flushInterval: 0 });
  return { t0, initMs: performance.now() - t0 };
};
window.__ready = true;
</script>`;

/**
 * Cold start-up in Chromium, `runs` times, each in a fresh browser context
 * (files are served no-store, storage is empty): the page has imported the
 * SDK as a site would; `window.__start()` calls init() and resolves with
 * its start time. Per run: `initMs`, init() called to resolved (wall);
 * `mainMs`, the main thread's busy time from that call until the bench
 * reads it back (Chrome's TaskDuration, less that of an empty evaluate),
 * which includes the page view's encoding and its send when it goes in the
 * next task, as ours does here and Segment's does at once; `firstSendMs`,
 * init() called to the first request of an event to the collector
 * (resource timing; paths matching `sendPath`).
 */
export async function coldStart(pageUrl, runs, sendPath) {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  const out = { initMs: [], mainMs: [], firstSendMs: [] };
  try {
    for (let i = 0; i < runs; i++) {
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      page.on('pageerror', (e) => console.error('page error:', e.message));
      const cdp = await ctx.newCDPSession(page);
      await cdp.send('Performance.enable');
      const busy = async () => (await cdp.send('Performance.getMetrics')).metrics.find((m) => m.name === 'TaskDuration').value * 1000;
      await page.goto(pageUrl);
      await page.waitForFunction(() => window.__ready === true, null, { timeout: 30000 });
      let b = await busy();
      await page.evaluate(() => 0);
      const empty = (await busy()) - b;
      b = await busy();
      const { t0, initMs } = await page.evaluate(() => window.__start());
      out.mainMs.push(Math.max(0, (await busy()) - b - empty));
      out.initMs.push(initMs);
      const sent = await page.waitForFunction(
        (re) => performance.getEntriesByType('resource').find((e) => new RegExp(re).test(new URL(e.name).pathname))?.startTime,
        sendPath.source,
        { timeout: 15000, polling: 50 },
      );
      out.firstSendMs.push((await sent.jsonValue()) - t0);
      await ctx.close();
    }
  } finally {
    await browser.close();
  }
  return out;
}

/** Our start-up figures (see `coldStart`). */
export async function startupEventstream(runs = 15) {
  const collector = await startCollector(
    { '/v1/frames': () => ({ json: { partition: 0, base_offset: 0, count: 0, duplicate: false } }) },
    {
      '/': ['text/html', START_PAGE],
      '/sdk/index.js': ['text/javascript', await readFile(join(DIST, 'index.js'))],
      '/sdk/eventstream.wasm': ['application/wasm', await readFile(join(DIST, 'eventstream.wasm'))],
    },
  );
  try {
    return await coldStart(`${collector.url}/`, runs, /^\/v1\/frames$/);
  } finally {
    await collector.close();
  }
}
