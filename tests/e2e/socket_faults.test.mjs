// A relay-side failure over the visitor socket: the relay (TEST_FAULTS, a
// test-only switch) fails the first appends of frames that arrive on the
// socket as a storage failure would. The page keeps each frame and sends it
// again, as it does after a 500 over HTTP: every event arrives once after
// the fault clears.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startLoop, countsByN } from './harness.mjs';

const FAILS = 3;
let loop;
before(async () => {
  loop = await startLoop({ vars: { TEST_FAULTS: `fail_socket_appends=${FAILS}` } });
});
after(() => loop?.stop());

test('appends that fail on the socket are retried, not deleted: every event once', async () => {
  const context = await loop.browser.newContext();
  const page = await context.newPage();
  // What the relay answers on the socket.
  const answers = [];
  page.on('websocket', (ws) => ws.on('framereceived', (f) => {
    const m = typeof f.payload === 'string' ? JSON.parse(f.payload) : {};
    if (m.type === 'error' || m.type === 'appended') answers.push(m.type === 'error' ? [m.code, m.status, m.retriable] : 'appended');
  }));
  // ?flush: frames go only by the socket (the HTTP interval never passes).
  await page.goto(`${loop.shopOrigin}/?flush=600000`);
  await page.waitForFunction(() => window.es?.stats().connected, null, { timeout: 15000 });
  const visitor = await page.evaluate(() => localStorage.getItem('es:id'));
  for (let n = 0; n < 8; n++) {
    // One frame per task on the socket.
    await page.evaluate((n) => window.es.track('Over Socket', { n }), n);
  }
  const events = await loop.waitForEvents(visitor, (es) => countsByN(es, 'Over Socket').size === 8, 40000);
  const counts = countsByN(events, 'Over Socket');
  for (let n = 0; n < 8; n++) assert.equal(counts.get(n), 1, `event ${n} exactly once`);
  const offsets = events.map((e) => e.offset);
  assert.equal(new Set(offsets).size, offsets.length);
  // The faults happened on the socket, and said what HTTP would have said.
  const errors = answers.filter((a) => a !== 'appended');
  assert.deepEqual(errors, Array(FAILS).fill(['storage', 500, true]));
  assert.deepEqual(await page.evaluate(() => [window.es.stats().queued, window.es.stats().dropped]), [0, 0]);
  await context.close();
});
