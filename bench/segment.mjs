// @segment/analytics-next 1.84.3 replayed through the same harness as our SDK,
// with batching on (10 events / 5 s, as in TARGETS.md), pointed at the local
// collector with its settings passed in, so nothing leaves the machine.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { startCollector, replayInChromium } from './replay.mjs';
import { coldStart } from './eventstream.mjs';

const here = dirname(fileURLToPath(import.meta.url));

const PAGE = `<!doctype html><meta charset="utf-8"><title>segment bench</title>
<script type="module">
import '/segment.js';
const analytics = await window.makeSegment(location.host + '/v1');
window.__replay = (c) => {
  switch (c.call) {
    case 'page': analytics.page(c.name, c.properties); break;
    case 'track': analytics.track(c.event, c.properties); break;
    case 'identify': analytics.identify(c.userId, c.traits); break;
    case 'click': analytics.track('Element Clicked', c.properties); break;
    case 'submit': analytics.track('Form Submitted', c.properties); break;
  }
};
window.__endVisit = async () => { analytics.reset(); };
window.__ready = true;
</script>`;

const ENTRY = `import { AnalyticsBrowser } from '@segment/analytics-next';
const strategy = { strategy: 'batching', config: { size: 10, timeout: 5000 } };
// batching false: Segment's default delivery, one request per event at once.
window.makeSegment = async (apiHost, batching = true) => {
  const seg = { apiKey: 'bench', apiHost, protocol: 'http', ...(batching && { deliveryStrategy: strategy }) };
  const [analytics] = await AnalyticsBrowser.load(
    { writeKey: 'bench', cdnSettings: { integrations: { 'Segment.io': seg } } },
    { integrations: { 'Segment.io': seg } },
  );
  return analytics;
};`;

/** Bundles analytics-next with esbuild (minified, as a site would ship it). */
export async function bundleSegment() {
  const out = await build({
    stdin: { contents: ENTRY, resolveDir: here, loader: 'js' },
    bundle: true, minify: true, format: 'esm', write: false, logLevel: 'silent',
    nodePaths: [join(here, 'node_modules')],
  });
  return out.outputFiles[0].contents;
}

/** Replays `visits` through Segment; returns per-call times and wire figures. */
export async function runSegment(visits, { paced = 0 } = {}) {
  const bundle = await bundleSegment();
  let events = 0;
  const collector = await startCollector(
    {
      // analytics-next's batching strategy posts {batch:[...]} to /b.
      '/v1/b': (body) => {
        events += JSON.parse(body.toString()).batch.length;
        return { json: { success: true } };
      },
    },
    {
      '/': ['text/html', PAGE],
      '/segment.js': ['text/javascript', bundle],
    },
  );
  const total = visits.reduce((n, v) => n + v.length, 0);
  try {
    const { times } = await replayInChromium(`${collector.url}/`, visits, { paced, settleMs: 12000, isDone: async () => events >= total });
    const bytes = collector.requests.reduce((n, r) => n + r.bytes, 0);
    return { times, events, total, bytes, requests: collector.requests.length, bundleBytes: bundle.length };
  } finally {
    await collector.close();
  }
}

const START_PAGE = `<!doctype html><meta charset="utf-8"><title>segment start-up</title>
<script type="module">
import '/segment.js';
// Settings passed in (no CDN request), default delivery (the page view is
// sent at once), and the page view a site's snippet sends after load.
window.__start = async () => {
  const t0 = performance.now();
  const analytics = await window.makeSegment(location.host + '/v1', false);
  const initMs = performance.now() - t0;
  analytics.page();
  return { t0, initMs };
};
window.__ready = true;
</script>`;

/** Segment's start-up figures, measured as ours (see `coldStart` in eventstream.mjs). */
export async function startupSegment(runs = 15) {
  const collector = await startCollector(
    { '/v1/p': () => ({ json: { success: true } }), '/v1/b': () => ({ json: { success: true } }) },
    { '/': ['text/html', START_PAGE], '/segment.js': ['text/javascript', await bundleSegment()] },
  );
  try {
    return await coldStart(`${collector.url}/`, runs, /^\/v1\/[pb]$/);
  } finally {
    await collector.close();
  }
}
