// Our SDK (the built npm package, npm/dist) through the same replay harness
// and local collector as the peer: frames are recorded as sent (compressed
// when the SDK compresses) and decoded afterwards by the real codec to count
// the events that arrived.
import { readFile } from 'node:fs/promises';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCollector, replayInChromium } from './replay.mjs';
import { decodeFrames } from '../tests/support/frames.mjs';

const here = dirname(fileURLToPath(import.meta.url));
export const DIST = join(here, '..', 'npm', 'dist');

const PAGE = `<!doctype html><meta charset="utf-8"><title>eventstream bench</title>
<script type="module">
import { init } from '/sdk/index.js';
const es = await init({ writeKey: 'bench', endpoint: location.origin, autocapture: false, triggers: false });
// click and submit calls take the path auto-capture takes for a real click or submit.
window.__replay = (c) => {
  switch (c.call) {
    case 'page': es.page(c.name, c.properties); break;
    case 'track': es.track(c.event, c.properties); break;
    case 'identify': es.identify(c.userId, c.traits); break;
    case 'click': es.push(3, '', c.properties, false); break;
    case 'submit': es.push(4, '', c.properties, false); break;
  }
};
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
    const frames = collector.requests.filter((r) => r.path === '/v1/frames');
    const decoded = decodeFrames(frames.map((r) => r.body));
    const events = decoded.reduce((n, f) => n + (f.events?.length ?? 0), 0);
    const bytes = frames.reduce((n, r) => n + r.bytes, 0);
    const compressed = decoded.filter((f) => f.flags & 1).length;
    return { times, events, total, bytes, requests: frames.length, compressed, bad: decoded.filter((f) => f.error).length };
  } finally {
    await collector.close();
  }
}
