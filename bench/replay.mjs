// Replays the reference corpus through a browser SDK in headless Chromium
// against a local collector, and measures what TARGETS.md compares: main-thread
// time per call, wire bytes per event as sent, and events delivered.
//
// Used by scripts/bench for our SDK and for @segment/analytics-next in the same
// run, so both are measured on the same machine, corpus and endpoint.
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { chromium } from 'playwright-core';

export const CHROMIUM_ARGS = [
  '--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** Loads the corpus as an array of visits, each an array of calls in order. */
export async function loadVisits(path) {
  const visits = new Map();
  for (const line of (await readFile(path, 'utf8')).split('\n')) {
    if (!line.trim()) continue;
    const call = JSON.parse(line);
    if (!visits.has(call.session)) visits.set(call.session, []);
    visits.get(call.session).push(call);
  }
  return [...visits.values()];
}

/**
 * A local collector that records every request body. `routes` maps a path to
 * a handler `(body: Buffer, req) => {status, json}`; every request is counted.
 */
export async function startCollector(routes, files) {
  const requests = [];
  const server = createServer(async (req, res) => {
    const url = new URL(req.url, 'http://x');
    const cors = {
      'access-control-allow-origin': req.headers.origin ?? '*',
      'access-control-allow-credentials': 'true',
      'access-control-allow-headers': 'content-type, authorization',
      'access-control-allow-methods': 'GET, POST, OPTIONS',
      vary: 'Origin',
    };
    if (req.method === 'OPTIONS') {
      res.writeHead(204, cors);
      return res.end();
    }
    if (files[url.pathname]) {
      const [type, body] = files[url.pathname];
      // Cross-origin isolation gives performance.now() 5 us resolution instead of 100 us.
      res.writeHead(200, {
        'content-type': type,
        'cache-control': 'no-store',
        'cross-origin-opener-policy': 'same-origin',
        'cross-origin-embedder-policy': 'require-corp',
      });
      return res.end(body);
    }
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const route = routes[url.pathname];
    if (!route) {
      res.writeHead(404, cors);
      return res.end('{"code":"not_found","message":"no such route"}');
    }
    requests.push({ path: url.pathname, bytes: body.length, body, at: Date.now() });
    const { status = 200, json = {} } = route(body, req) ?? {};
    res.writeHead(status, { ...cors, 'content-type': 'application/json' });
    res.end(JSON.stringify(json));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    requests,
    /** ms since the last recorded request (Infinity before the first). */
    quietFor: () => (requests.length ? Date.now() - requests.at(-1).at : Infinity),
    close: () => new Promise((r) => server.close(r)),
  };
}

/**
 * Opens `pageUrl` in Chromium, runs `setup` (returns when the SDK is ready),
 * then replays the visits in the page: calls `window.__replay(call)` per call,
 * `window.__endVisit()` after each visit, timing each call on the main thread.
 * `paced` > 0 waits that many ms between calls (the paced regime of TARGETS.md),
 * `gap` that many between visits.
 */
export async function replayInChromium(pageUrl, visits, { paced = 0, gap = 0, settleMs = 8000, isDone } = {}) {
  const browser = await chromium.launch({ executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium', args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(pageUrl);
    await page.waitForFunction(() => window.__ready === true, null, { timeout: 30000 });
    const times = await page.evaluate(async ({ visits, paced, gap }) => {
      const times = [];
      for (const visit of visits) {
        for (const call of visit) {
          const t0 = performance.now();
          window.__replay(call);
          times.push(performance.now() - t0);
          if (paced) await new Promise((r) => setTimeout(r, paced));
        }
        await window.__endVisit();
        // Let timers and deliveries run between visits, as between real page loads.
        await new Promise((r) => setTimeout(r, gap));
      }
      await window.__finish?.();
      return times;
    }, { visits, paced, gap });
    const deadline = Date.now() + settleMs;
    while (Date.now() < deadline && !(isDone && (await isDone()))) await new Promise((r) => setTimeout(r, 250));
    return { times };
  } finally {
    await browser.close();
  }
}

/** p-th percentile (0..100) of numbers. */
export function percentile(xs, p) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
}
