// The console's Outcomes view and live debugger in headless Chromium,
// against the built relay in workerd holding the reference corpus (stamped
// an hour ago) and examples/triggers.json (goals, holdouts, the cap): a
// viewer sees a trigger's firings and conversions over time with the
// verdict on its lift, watches a new event and its firing arrive, filters
// by visitor, opens a row's JSON and the visitor's explain trace.
// Screenshots go to test-output/console/ (prefixed "outcomes-" and "debugger-").
//
// Needs: relay/build.sh (which runs console/build.sh).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, ROOT, TEST_SECRETS } from '../support/relay.mjs';
import { launchChromium } from '../support/browser.mjs';
import { ORIGIN, postFrame, frame } from '../relay/helpers.mjs';
import { loadCorpus } from './corpus.mjs';
import { verdict } from '../../console/src/lift.js';

const SHOTS = join(ROOT, 'test-output', 'console');
const VIEWER = TEST_SECRETS.VIEWER_TOKEN;
const FILE = JSON.parse(readFileSync(join(ROOT, 'examples', 'triggers.json'), 'utf8'));

let relay;
let browser;
let page;
let tokenSeenInUrl = false;
const reads = []; // the debugger's stream reads, by URL

/** The spec's holdout bucket: FNV-1a 64 of trigger id, a zero byte, visitor id, modulo 100. */
function holdoutBucket(trigger, visitor) {
  let x = 0xcbf29ce484222325n;
  for (const byte of [...Buffer.from(trigger), 0, ...Buffer.from(visitor)]) x = ((x ^ BigInt(byte)) * 0x100000001b3n) & 0xffffffffffffffffn;
  return Number(x % 100n);
}

const shot = (name) => page.screenshot({ path: join(SHOTS, `${name}.png`) });
const sum = (rows, key) => rows.reduce((a, r) => a + r[key], 0);

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // Only this file's screenshots of an earlier run (console.test.mjs owns the others).
  for (const f of readdirSync(SHOTS)) if (/^(outcomes|debugger)-/.test(f)) rmSync(join(SHOTS, f));
  relay = await startRelay({ partitions: 4, origins: [ORIGIN], vars: { RATE_LIMIT_PER_SEC: '0' } });
  const pushed = await relay.pushTriggers(FILE);
  assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
  assert.equal(await loadCorpus(relay), 10_728);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  page = await context.newPage();
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (r.url().includes(VIEWER)) tokenSeenInUrl = true;
    if (r.url().includes('/v1/partitions/')) reads.push(r.url());
  });
  await page.goto(`${relay.url}/console`);
  await page.fill('#token', VIEWER);
  await page.click('#signin-button');
  await page.waitForSelector('#views:not([hidden])');
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

test('Outcomes: a trigger with a goal and a holdout shows its firings, conversions and the verdict on its lift', async () => {
  // The relay's own totals over the last day, per trigger.
  const now = Date.now();
  const stats = await relay.api('GET', `/v1/admin/stats?from=${now - 86_400_000}&to=${now + 60_000}&bucket=hour`, { token: VIEWER });
  assert.equal(stats.status, 200);
  const of = (id) => stats.body.rows.filter((r) => r.trigger === id);
  // The goal-and-holdout trigger with the most conversions in the corpus.
  const candidates = FILE.triggers.filter((t) => t.goal && t.holdout).map((t) => ({ id: t.id, conv: sum(of(t.id), 'conversions') }));
  const pick = candidates.sort((a, b) => b.conv - a.conv)[0];
  assert.ok(pick.conv > 0, `the corpus converts some firing: ${JSON.stringify(candidates)}`);
  const rows = of(pick.id);
  const want = { fired: sum(rows, 'fired'), held_out: sum(rows, 'held_out'), conversions: sum(rows, 'conversions'), held_out_conversions: sum(rows, 'held_out_conversions') };
  assert.ok(want.fired > 0);

  await page.click('#views button[data-view="outcomes-view"]');
  await page.waitForSelector('#outcome-triggers tr[data-trigger]');
  // Every trigger of the file is listed, with the relay's delivered firings.
  const listed = await page.$$eval('#outcome-triggers tbody tr', (trs) => trs.map((tr) => [tr.dataset.trigger, tr.children[1].textContent]));
  assert.deepEqual(listed.map(([id]) => id), FILE.triggers.map((t) => t.id));
  for (const [id, fired] of listed) assert.equal(Number(fired.replace(/,/g, '')), sum(of(id), 'fired'), id);

  await page.click(`#outcome-triggers tr[data-trigger="${pick.id}"]`);
  await page.waitForSelector(`#outcome-detail h3:text-is("${pick.id}")`);
  const figure = async (name) => Number((await page.textContent(`.figure[data-figure="${name}"] .value`)).replace(/,/g, ''));
  assert.equal(await figure('delivered'), want.fired);
  assert.equal(await figure('held-out'), want.held_out);
  assert.equal(await figure('conversions'), want.conversions);
  // The verdict is lift.js's on the relay's counts (lift.js is tested on its own).
  const expected = verdict({ conversions: want.conversions, firings: want.fired }, { conversions: want.held_out_conversions, firings: want.held_out });
  assert.equal(await page.textContent('#verdict'), expected.text);
  assert.match(expected.text, /^(Lifts conversion by [\d.]+ points \(95% CI|Lowers conversion by|Not enough evidence yet)/);
  // The charts have bars, and their tooltips add up to the totals.
  const barSum = (chart, label) =>
    page.$$eval(`.chart-card[data-chart="${chart}"] g.bar title`, (ts, label) => ts.reduce((a, t) => a + Number((t.textContent.match(new RegExp(`^${label}: (\\d+)$`, 'm')) ?? [0, 0])[1]), 0), label);
  assert.equal(await barSum('fired', 'Delivered'), want.fired);
  assert.equal(await barSum('fired', 'Held out'), want.held_out);
  assert.equal(await barSum('conversions', 'Delivered, converted'), want.conversions);
  assert.match(await page.textContent('.help'), /Newcombe’s hybrid score 95% interval/);
  await shot('outcomes-24h');
  // Suppressions by reason: the chart's bars add up to the relay's counts.
  const suppressed = rows.reduce((a, r) => a + Object.values(r.suppressed).reduce((x, y) => x + y, 0), 0);
  assert.equal(await figure('suppressed'), suppressed);
  let shown = 0;
  for (const reason of ['audience', 'cooldown', 'max per user', 'global cap', 'cancelled by unless']) shown += await barSum('audience', reason);
  assert.equal(shown, suppressed);
  await page.locator('.chart-card[data-chart="audience"]').scrollIntoViewIfNeeded();
  await shot('outcomes-suppressed');

  // Another range: the hour buckets of a week hold the same corpus.
  await page.click('.segmented button[data-range="7d"]');
  await page.waitForSelector('.view-head .muted:has-text("The last 7 days, per hour")');
  assert.equal(await figure('delivered'), want.fired);
  await shot('outcomes-7d');

  // A trigger with a goal but no holdout says there is nothing to compare with.
  await page.click('#outcome-triggers tr[data-trigger="checkout-nudge"]');
  await page.waitForSelector('.lift-card .verdict:has-text("No holdout")');
  await page.click('.segmented button[data-range="24h"]');
});

test('Live debugger: a new event and its firing appear, newest first; filters, JSON, pause and explain', async () => {
  await page.click('#views button[data-view="debugger-view"]');
  await page.waitForSelector('#debug-state.live');
  await page.waitForSelector('.view-head .facts:has-text("4 partitions")');
  assert.match(await page.textContent('#debugger-view .help'), /Suppressed qualifications are counted, not written to the stream/);

  // A visitor identifies without the newsletter: newsletter-invite fires.
  const visitor = `debug-visitor-${Date.now()}`;
  const r = await postFrame(relay, frame(visitor, [{ kind: 'identify', properties: { newsletter: false } }]));
  assert.equal(r.status, 200);
  await page.waitForSelector(`tr.rec.firing:has(.visitor-link[title^="${visitor}"])`);
  await page.waitForSelector(`tr.rec.event:has(.visitor-link[title^="${visitor}"])`);
  const other = `debug-other-${Date.now()}`;
  assert.equal((await postFrame(relay, frame(other, [{ name: 'Product Viewed', properties: { category: 'shoes' } }]))).status, 200);
  await page.waitForSelector(`tr.rec.event:has(.visitor-link[title^="${other}"])`);
  // Newest first: the later event is above the first visitor's rows.
  const order = await page.$$eval('tr.rec .visitor-link', (ls) => ls.map((l) => l.title.split(':')[0]));
  assert.ok(order.indexOf(other) < order.indexOf(visitor), order.join(' '));
  await shot('debugger-live');

  // By visitor: only that visitor's event and firing.
  await page.fill('#filter-visitor', visitor);
  await page.waitForFunction(() => document.querySelectorAll('tr.rec').length === 2);
  const kinds = await page.$$eval('tr.rec', (trs) => trs.map((tr) => [tr.dataset.kind, tr.querySelector('.kind').textContent, tr.querySelector('.detail').textContent]));
  assert.deepEqual(kinds.map(([k, label]) => [k, label]).sort(), [['event', 'Event'], ['firing', 'Delivered firing']]);
  assert.match(kinds.find(([k]) => k === 'firing')[2], /^newsletter-invite · toast/);
  assert.match(kinds.find(([k]) => k === 'event')[2], /^\$identify \{"newsletter":false\}/);
  // By trigger: the firing only; by event name: the event only.
  await page.selectOption('#filter-trigger', 'newsletter-invite');
  await page.waitForFunction(() => [...document.querySelectorAll('tr.rec')].every((tr) => tr.dataset.kind === 'firing'));
  await page.selectOption('#filter-trigger', '');
  await page.fill('#filter-event', '$identify');
  await page.waitForFunction(() => [...document.querySelectorAll('tr.rec')].every((tr) => tr.dataset.kind === 'event'));
  await page.fill('#filter-event', '');

  // A row opens to its JSON.
  await page.click('tr.rec.firing');
  const json = JSON.parse(await page.textContent('tr.json pre'));
  assert.equal(json.type, 'firing');
  assert.equal(json.trigger, 'newsletter-invite');
  assert.equal(json.visitor, visitor);
  await shot('debugger-filtered-json');

  // Paused: nothing is read; resumed: what came meanwhile appears.
  await page.click('#debug-pause');
  await page.waitForSelector('#debug-state.paused');
  const readsBefore = reads.length;
  assert.equal((await postFrame(relay, frame(visitor, [{ name: 'Product Viewed', properties: { category: 'bags' } }]))).status, 200);
  await page.waitForTimeout(2500); // two poll intervals
  assert.equal(reads.length, readsBefore, 'no stream read while paused');
  assert.equal(await page.locator('tr.rec.event:has-text("Product Viewed")').count(), 0);
  await page.click('#debug-pause');
  await page.waitForSelector('tr.rec.event:has-text("Product Viewed")');

  // Held out and converted: shoe-searcher holds out 20% of visitors (by the
  // spec's FNV-1a hash); a shoe search then a pair of shoes fires it, adding
  // shoes to the cart converts it.
  await page.fill('#filter-visitor', 'debug-shoes-');
  const stamp = Date.now();
  const shoppers = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29].map((i) => `debug-shoes-${stamp}-${i}`);
  const held = shoppers.find((v) => holdoutBucket('shoe-searcher', v) < 20);
  const treated = shoppers.find((v) => holdoutBucket('shoe-searcher', v) >= 20);
  for (const v of [held, treated]) {
    const shop = [
      { name: 'Products Searched', properties: { query: 'running shoes' } },
      { name: 'Product Viewed', properties: { category: 'shoes' } },
      { name: 'Product Added', properties: { category: 'shoes' } },
    ];
    // One frame per event: each a moment after the one before.
    for (const e of shop) assert.equal((await postFrame(relay, frame(v, [{ ...e, time: Date.now() }]))).status, 200);
  }
  const rowOf = (v, kind) => page.waitForSelector(`tr.rec.${kind}:has(.visitor-link[title^="${v}:"])`);
  assert.equal(await (await rowOf(held, 'held')).$eval('.kind', (e) => e.textContent), 'Held out');
  assert.equal(await (await rowOf(held, 'conversion')).$eval('.kind', (e) => e.textContent), 'Conversion (held out)');
  assert.equal(await (await rowOf(treated, 'firing')).$eval('.kind', (e) => e.textContent), 'Delivered firing');
  assert.equal(await (await rowOf(treated, 'conversion')).$eval('.kind', (e) => e.textContent), 'Conversion');
  await shot('debugger-held-out-and-conversions');
  await page.fill('#filter-visitor', visitor);

  // The visitor opens explain, on the firing's trigger.
  await page.click('tr.rec.firing .visitor-link');
  await page.waitForSelector('#explain-verdict');
  assert.equal(await page.inputValue('#explain-trigger'), 'newsletter-invite');
  assert.equal(await page.textContent('#explain-verdict'), 'Fired 1 time(s) (1 delivered, 0 held out).');
  const steps = await page.$$eval('.trace-event', (els) => els.map((e) => [e.dataset.outcome, e.querySelector('.trace-head strong').textContent]));
  assert.deepEqual(steps, [['fired', '$identify']]);
  assert.match(await page.textContent('.trace-event ul.conds'), /✓newsletter eq false · the event had false/);
  await shot('debugger-explain');

  // Another trigger for the same visitor: why it did not fire.
  await page.selectOption('#explain-trigger', 'shoe-searcher');
  await page.waitForSelector('#explain-verdict:has-text("never qualified"), #explain-verdict:has-text("no event")');
  await shot('debugger-explain-other');
  await page.click('#explain-close');
});

test('no token ever appeared in a URL the console requested', () => {
  assert.ok(reads.length > 0);
  assert.equal(tokenSeenInUrl, false);
});
