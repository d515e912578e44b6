// The firing round trip as a page sees it: `es.track()` in Chromium to the
// `onTrigger` handler being called, through the relay in workerd on loopback
// (frame over the visitor socket, append in the partition's Durable Object,
// trigger evaluation, firing pushed back).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startCollector, CHROMIUM_ARGS, percentile } from './replay.mjs';
import { DIST } from './eventstream.mjs';
import { startRelay, WRITE_KEY } from '../tests/support/relay.mjs';
import { chromium } from 'playwright-core';

const PAGE = (relay) => `<!doctype html><meta charset="utf-8"><title>rtt</title>
<script type="module">
import { init } from '/sdk/index.js';
const es = await init({ writeKey: '${WRITE_KEY}', endpoint: '${relay}', autocapture: false });
let waiting = null;
es.onTrigger('rtt', (f) => waiting?.(f));
window.__probe = (i) => new Promise((resolve) => {
  const t0 = performance.now();
  waiting = () => resolve(performance.now() - t0);
  es.track('RTT Probe', { i });
});
window.__connected = () => es.stats().connected;
window.__ready = true;
</script>`;

export async function runRtt({ probes = 200 } = {}) {
  // The page's origin must be allowed by the write key before the relay starts.
  const files = {};
  const page = await startCollector({}, files);
  const relay = await startRelay({ partitions: 1, origins: [page.url], vars: { RATE_LIMIT_PER_SEC: '0' } });
  files['/'] = ['text/html', PAGE(relay.url)];
  files['/sdk/index.js'] = ['text/javascript', await readFile(join(DIST, 'index.js'))];
  files['/sdk/eventstream.wasm'] = ['application/wasm', await readFile(join(DIST, 'eventstream.wasm'))];
  files['/sdk/socket.js'] = ['text/javascript', await readFile(join(DIST, 'socket.js'))];
  const pushed = await relay.pushTriggers({ version: 1, triggers: [{ id: 'rtt', when: { event: 'RTT Probe' }, action: { type: 'rtt' } }] });
  if (pushed.status !== 200) throw new Error(JSON.stringify(pushed.body));
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const tab = await browser.newPage();
    await tab.goto(page.url + '/');
    await tab.waitForFunction(() => window.__ready === true && window.__connected(), null, { timeout: 20000 });
    const times = await tab.evaluate(async (n) => {
      const out = [];
      for (let i = 0; i < n + 10; i++) out.push(await window.__probe(i));
      return out.slice(10); // the first few warm up the runtime and the socket
    }, probes);
    return { times, p50: percentile(times, 50), p99: percentile(times, 99), probes };
  } finally {
    await browser.close();
    await relay.stop();
    await page.close();
  }
}
