// Bad input from outside the SDK while a visitor's page is open: refused with
// the documented code, nothing stored, and the visitor's own stream unaffected.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';
import { startLoop, WRITE_KEY } from './harness.mjs';
import { postAlone } from '../support/relay.mjs';
import { encodeFrames, makeFrame } from '../support/frames.mjs';

let loop;
before(async () => {
  loop = await startLoop();
});
after(() => loop?.stop());

async function post(body, { key = WRITE_KEY, origin = loop.shopOrigin } = {}) {
  const res = await fetch(`${loop.relay.url}/v1/frames?key=${encodeURIComponent(key)}`, { method: 'POST', body, headers: { origin, 'content-type': 'text/plain' } });
  return { status: res.status, body: await res.json() };
}

function wsClose(url, origin) {
  return new Promise((resolve) => {
    const ws = new WebSocket(url, { origin });
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    ws.on('error', () => {});
  });
}

test('wrong write key, corrupted frame, oversized frame, another visitor\'s subscription', async () => {
  const { page, visitor } = await loop.visit('/');
  await loop.waitForEvents(visitor, (es) => es.length >= 1);
  const before = (await loop.relay.readAll('events')).length;

  const [good] = encodeFrames([makeFrame({ visitor: 'attacker', events: [{ name: 'Injected' }], origin: loop.shopOrigin })]);

  const wrongKey = await post(good, { key: 'not-a-key' });
  assert.equal(wrongKey.status, 401);
  assert.equal(wrongKey.body.code, 'unknown_write_key');

  const corrupted = Uint8Array.from(good);
  corrupted[Math.floor(corrupted.length / 2)] ^= 0x5a;
  const bad = await post(corrupted);
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'checksum');

  const huge = new Uint8Array(70 * 1024).fill(7);
  // On a connection of its own: the relay answers before reading the body.
  const big = await postAlone(`${loop.relay.url}/v1/frames?key=${WRITE_KEY}`, huge, { origin: loop.shopOrigin, 'content-type': 'text/plain' });
  assert.equal(big.status, 413);
  assert.equal(big.body.code, 'frame_too_large');

  const wrongOrigin = await post(good, { origin: 'https://evil.example' });
  assert.equal(wrongOrigin.status, 403);
  assert.equal(wrongOrigin.body.code, 'origin_not_allowed');

  // The page's own token does not open another visitor's firings.
  const tokenRes = await fetch(`${loop.relay.url}/v1/token?key=${WRITE_KEY}&visitor=${visitor}`, { headers: { origin: loop.shopOrigin } });
  const { token } = await tokenRes.json();
  const other = await wsClose(`${loop.relay.url.replace('http', 'ws')}/v1/visitors/someone-else/ws?key=${WRITE_KEY}&token=${encodeURIComponent(token)}`, loop.shopOrigin);
  assert.equal(other.code, 4401);

  const after = await loop.relay.readAll('events');
  assert.equal(after.length, before, 'nothing stored by any of them');
  assert.equal(after.filter((e) => e.name === 'Injected').length, 0);

  // The visitor's own stream still works: events arrive and a firing comes back.
  await page.goto(`${loop.shopOrigin}/product/p-0002`);
  await page.waitForFunction(() => window.es !== undefined);
  await page.click('#add-to-cart');
  await page.click('#add-to-cart');
  await page.waitForSelector('#banner:not([hidden])', { timeout: 15000 });
  const mine = await loop.eventsOf(visitor);
  assert.equal(mine.filter((e) => e.name === 'Product Added').length, 2);
});
