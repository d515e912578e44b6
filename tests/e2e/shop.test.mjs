// A scripted visit to the demo shop in Chromium against the relay in workerd:
// events land in the log in order with the right fields, the sequence trigger
// fires once, and the cart-rescue banner appears after its `unless` delay.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { startLoop, TEST_SECRETS } from './harness.mjs';
import { CLI } from '../support/cli.mjs';

let loop;
before(async () => {
  loop = await startLoop();
});
after(() => loop?.stop());

test('a visit: page views, clicks, commerce events in order; firings shown once on the page', async () => {
  const { page, visitor, errors } = await loop.visit('/');
  await page.click('nav a[href="/category/sunglasses"]');
  await page.waitForSelector('h1:text("sunglasses")');
  await page.click('a.card[href="/product/p-0002"]');
  await page.waitForSelector('#add-to-cart');
  // The sequence (list viewed, then a sunglasses product viewed) fires at once.
  await page.waitForSelector('#recommendations:not([hidden])', { timeout: 10000 });
  await page.click('#add-to-cart');
  await page.click('#add-to-cart');
  // cart-rescue qualifies on the second add and fires 3 s later by the relay's alarm.
  const t0 = Date.now();
  await page.waitForSelector('#banner:not([hidden])', { timeout: 15000 });
  assert.ok(Date.now() - t0 >= 2000, 'the banner waits for the unless window');
  assert.equal(await page.textContent('#banner-text'), 'Free shipping today');
  assert.equal(await page.textContent('#banner-code'), 'SHIP50');

  const events = await loop.waitForEvents(visitor, (es) => es.filter((e) => e.name === 'Product Added').length === 2);
  const offsets = events.map((e) => e.offset);
  assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b));
  assert.equal(new Set(offsets).size, offsets.length, 'no offset twice');

  const first = events[0];
  assert.equal(first.kind, 'page');
  assert.equal(first.properties.path, '/');

  const names = events.map((e) => (e.kind === 'track' ? e.name : `$${e.kind}`));
  const order = ['Product List Viewed', 'Product Viewed', 'Product Added'].map((n) => names.indexOf(n));
  assert.ok(order.every((i) => i >= 0) && order[0] < order[1] && order[1] < order[2], `order: ${names.join(', ')}`);
  assert.equal(names.filter((n) => n === '$page').length, 3, 'the load and two SPA navigations');

  const viewed = events.find((e) => e.name === 'Product Viewed');
  assert.equal(viewed.properties.product_id, 'p-0002');
  assert.equal(viewed.properties.category, 'sunglasses');
  assert.equal(viewed.properties.price, 66.99);
  const spaPage = events.filter((e) => e.kind === 'page')[2];
  assert.equal(spaPage.properties.path, '/product/p-0002');

  const clicks = events.filter((e) => e.kind === 'click');
  const cardClick = clicks.find((c) => c.properties.href?.endsWith('/product/p-0002'));
  assert.ok(cardClick, `a click on the product card: ${JSON.stringify(clicks.map((c) => c.properties))}`);
  assert.match(cardClick.properties.selector, /a/);
  assert.match(cardClick.properties.text, /sunglass/);
  const addClick = clicks.find((c) => /add-to-cart/.test(c.properties.selector ?? ''));
  assert.ok(addClick, 'the add-to-cart button click, with a stable selector');
  assert.equal(addClick.properties.text, 'Add to cart');

  const firings = await loop.firingsOf(visitor);
  assert.deepEqual(firings.map((f) => f.trigger).sort(), ['browse-then-view', 'cart-rescue']);
  const rescue = firings.find((f) => f.trigger === 'cart-rescue');
  const secondAdd = events.filter((e) => e.name === 'Product Added')[1];
  assert.equal(rescue.time, secondAdd.time + 3000, 'fires at qualifying time + the unless window');
  // The page showed each firing once.
  const shown = await page.$$eval('#firings li', (lis) => lis.map((li) => li.dataset.firingId));
  assert.deepEqual(shown.sort(), firings.map((f) => f.firing_id).sort());
  assert.deepEqual(errors, []);
});

test('checking out inside the window cancels the delayed banner', async () => {
  const { page, visitor } = await loop.visit('/product/p-0002');
  await page.click('#add-to-cart');
  await page.click('#add-to-cart');
  await page.click('#cart-link');
  await page.click('a[href="/checkout"] button');
  await loop.waitForEvents(visitor, (es) => es.some((e) => e.name === 'Checkout Started'));
  await page.waitForTimeout(4500);
  assert.equal(await page.isHidden('#banner'), true);
  assert.deepEqual((await loop.firingsOf(visitor)).filter((f) => f.trigger === 'cart-rescue'), []);
});

test('the live stream view shows events and firings as they arrive', async () => {
  const context = await loop.browser.newContext();
  const stream = await context.newPage();
  await stream.goto(`${loop.shopOrigin}/stream`);
  await stream.waitForFunction(() => /subscribed to 4 streams/.test(document.getElementById('status').textContent), null, { timeout: 10000 });
  const { page, visitor } = await loop.visit('/category/sunglasses');
  await page.click('a.card[href="/product/p-0002"]');
  const short = visitor.slice(0, 8);
  await stream.waitForFunction((v) => [...document.querySelectorAll('#rows tr')].some((tr) => tr.textContent.includes(v) && tr.textContent.includes('Product Viewed')), short, { timeout: 10000 });
  await stream.waitForFunction((v) => [...document.querySelectorAll('#rows tr.firing')].some((tr) => tr.textContent.includes(v) && tr.textContent.includes('browse-then-view')), short, { timeout: 10000 });
  await context.close();
});

test('the first seconds: the landing page view fires and shows without waiting for the flush interval', async () => {
  // A flush interval no test waits for: only sending at once can show it.
  const { page, visitor, context } = await loop.visit('/category/hats?flush=600000');
  await page.waitForFunction(() => [...document.querySelectorAll('#firings li')].some((li) => li.textContent.includes('landing-hats')), null, { timeout: 10000 });
  assert.equal(await page.textContent('#toast-text'), 'Hats: two for one');
  const firings = (await loop.firingsOf(visitor)).filter((f) => f.trigger === 'landing-hats');
  assert.equal(firings.length, 1);
  await context.close();
});

// The SDK sends the landing URL's utm_* parameters in every frame's context,
// as Segment does (not as page properties); the demo's trigger reads
// `context: campaign.name`.
test('a landing from a campaign (utm_*) fires the demo\'s campaign-welcome', async () => {
  const { page, visitor, context } = await loop.visit('/?utm_source=news&utm_medium=email&utm_campaign=winter-sale');
  try {
    await page.waitForFunction(() => [...document.querySelectorAll('#firings li')].some((li) => li.textContent.includes('campaign-welcome')), null, { timeout: 8000 });
    assert.equal((await loop.firingsOf(visitor)).filter((f) => f.trigger === 'campaign-welcome').length, 1);
  } finally {
    await context.close();
  }
});

// The gift card's page sends its price as a string (examples/shop/app.js);
// the shop's plan (examples/plan.json) quarantines it. The visitor sees the
// page as ever; the event waits in the quarantine with its reason, where
// `eventstream tail --stream quarantine` shows it; with `debug`, the SDK logs
// the relay's verdict.
test('the gift card\'s broken view lands in quarantine with its reason, never in the event stream', async () => {
  const { page, visitor, context } = await loop.visit('/?debug');
  const logs = [];
  page.on('console', (m) => logs.push(m.text()));
  try {
    await page.click('#gift-card-link');
    await page.waitForSelector('h1:text("Gift card")');
    const tail = () => {
      const out = execFileSync(CLI, ['tail', '--relay', loop.relay.url, '--stream', 'quarantine', '--from', 'earliest', '--until-end'], {
        env: { ...process.env, EVENTSTREAM_SUBSCRIBER_TOKEN: TEST_SECRETS.SUBSCRIBER_TOKEN },
      });
      return out.toString().trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.visitor === visitor);
    };
    let quarantined = [];
    for (let i = 0; i < 40 && quarantined.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 250));
      quarantined = tail();
    }
    assert.equal(quarantined.length, 1, 'the broken view, once');
    const [q] = quarantined;
    assert.equal(q.name, 'Product Viewed');
    assert.equal(q.properties.price, '25.00');
    assert.deepEqual(q.violations, [{ kind: 'wrong_type', code: 2, path: 'properties.price', message: 'expected number, got string "25.00"' }]);
    // Its frame's other events (the page view) are in the event stream; the
    // broken view is not.
    const events = await loop.waitForEvents(visitor, (es) => es.some((e) => e.properties.path === '/product/p-0031'));
    assert.ok(!events.some((e) => e.name === 'Product Viewed'), 'the quarantined view is not in the event stream');
    const verdict = (l) => /\[eventstream\] plan .*quarantined 1/.test(l);
    for (let i = 0; i < 20 && !logs.some(verdict); i++) await new Promise((r) => setTimeout(r, 250));
    assert.ok(logs.some(verdict), `the SDK's debug log names the verdict: ${logs.join(' | ')}`);
  } finally {
    await context.close();
  }
});
