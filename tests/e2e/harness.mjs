// The whole loop for end-to-end tests: the relay in workerd (Miniflare, SQLite
// Durable Objects, persisted so it can be stopped and restarted), the demo shop
// served as a user's site would serve it, and Chromium visiting it.
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { existsSync, readFileSync } from 'node:fs';
import { startRelay, ROOT, WRITE_KEY, TEST_SECRETS } from '../support/relay.mjs';
import { launchChromium } from '../support/browser.mjs';

export { WRITE_KEY, TEST_SECRETS };

/**
 * The demo's own campaign trigger (examples/triggers.json) as shipped, but
 * for its holdout (a tenth of visitors would see nothing: a flaky test).
 */
const { holdout, ...CAMPAIGN_WELCOME } = JSON.parse(readFileSync(join(ROOT, 'examples/triggers.json'), 'utf8')).triggers.find((t) => t.id === 'campaign-welcome');

/** Short windows, so the tests see delayed firings in seconds, not minutes. */
export const E2E_TRIGGERS = {
  version: 1,
  triggers: [
    {
      id: 'cart-rescue',
      description: 'Two adds of 50 EUR or more and no checkout within 3 s',
      when: { event: 'Product Added', where: [{ prop: 'price', op: 'gte', value: 50 }] },
      count: { at_least: 2, within: '30m' },
      unless: { event: 'Checkout Started', within: '3s' },
      action: { type: 'banner', payload: { text: 'Free shipping today', code: 'SHIP50' } },
    },
    {
      id: 'browse-then-view',
      sequence: [{ event: 'Product List Viewed' }, { event: 'Product Viewed', where: [{ prop: 'category', op: 'eq', value: 'sunglasses' }] }],
      within: '5m',
      action: { type: 'recommendation', payload: { list: 'sunglasses-bestsellers' } },
    },
    {
      id: 'landing-hats',
      description: 'A landing on the hats page (the first-seconds test and figures)',
      when: { event: '$page', where: [{ prop: 'path', op: 'eq', value: '/category/hats' }] },
      action: { type: 'toast', payload: { text: 'Hats: two for one' } },
    },
  ],
};

export async function freePort() {
  const srv = createServer();
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address();
  await new Promise((r) => srv.close(r));
  return port;
}

/** `vars`: extra relay bindings (TEST_FAULTS, say). */
export async function startLoop({ vars = {} } = {}) {
  if (!existsSync(join(ROOT, 'examples/shop/node_modules/@eventstream/sdk/index.js'))) {
    throw new Error('the demo shop has no SDK installed: run npm/build.sh and npm install in examples/shop (scripts/test does)');
  }
  const shopPort = await freePort();
  const shopOrigin = `http://127.0.0.1:${shopPort}`;
  const relay = await startRelay({ partitions: 2, origins: [shopOrigin], vars });
  // With the demo's campaign trigger as shipped (it reads the frame's context).
  const pushed = await relay.pushTriggers({ ...E2E_TRIGGERS, triggers: [...E2E_TRIGGERS.triggers, CAMPAIGN_WELCOME] });
  if (pushed.status !== 200) throw new Error(`trigger upload failed: ${JSON.stringify(pushed.body)}`);
  // The demo shop runs with its tracking plan, as scripts/dev starts it.
  const plan = await relay.api('PUT', '/v1/admin/plan', { token: TEST_SECRETS.ADMIN_TOKEN, body: readFileSync(join(ROOT, 'examples/plan.json'), 'utf8') });
  if (plan.status !== 200) throw new Error(`plan upload failed: ${JSON.stringify(plan.body)}`);
  const shop = spawn(process.execPath, [join(ROOT, 'examples/serve.mjs'), '--port', String(shopPort), '--relay', relay.url, '--write-key', WRITE_KEY, '--subscriber-token', TEST_SECRETS.SUBSCRIBER_TOKEN], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    shop.stdout.once('data', resolve);
    shop.once('exit', (code) => reject(new Error(`demo server exited ${code}`)));
  });
  const browser = await launchChromium();
  return {
    relay,
    shopOrigin,
    browser,
    /** A new visitor: a fresh browser profile on the shop. */
    async visit(path = '/') {
      const context = await browser.newContext();
      const page = await context.newPage();
      const errors = [];
      page.on('pageerror', (e) => errors.push(e));
      await page.goto(shopOrigin + path);
      await page.waitForFunction(() => window.es !== undefined, null, { timeout: 30000 });
      const visitor = await page.evaluate(() => localStorage.getItem('es:id'));
      return { context, page, visitor, errors };
    },
    /** This visitor's events in the log, in offset order. */
    async eventsOf(visitor) {
      return (await relay.readAll('events')).filter((r) => r.visitor === visitor).sort((a, b) => a.offset - b.offset);
    },
    async firingsOf(visitor) {
      return (await relay.readAll('firings')).filter((r) => r.visitor === visitor);
    },
    /** Polls until `pred(events)` holds for the visitor's events (or times out with what it saw). */
    async waitForEvents(visitor, pred, timeoutMs = 30000) {
      const deadline = Date.now() + timeoutMs;
      let events = [];
      while (Date.now() < deadline) {
        try {
          events = await this.eventsOf(visitor);
          if (pred(events)) return events;
        } catch {
          // the relay may be down in a fault test: try again
        }
        await new Promise((r) => setTimeout(r, 250));
      }
      throw new Error(`timed out; the log holds for ${visitor}: ${JSON.stringify(events.map((e) => [e.name || e.kind, e.properties]))}`);
    },
    async stop() {
      await browser.close().catch(() => {});
      shop.kill();
      await relay.stop();
    },
  };
}

/** Asserts each of `ns` appears exactly once among the visitor's `name` events (by properties.n). */
export function countsByN(events, name) {
  const counts = new Map();
  for (const e of events) if (e.name === name) counts.set(e.properties.n, (counts.get(e.properties.n) ?? 0) + 1);
  return counts;
}
