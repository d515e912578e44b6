// The console's Data quality view in headless Chromium, against the built
// relay in workerd: an editor writes a tracking plan with a mistake and sees
// it marked at its path with the relay's message, pushes examples/plan.json
// as the first version, sees broken events (a price as a string, a cart line
// without cart or quantity) counted under Violations and kept in Quarantine
// with their reasons, then pushes a fixed plan (prices as strings) and
// presses Replay: the view is released to the event stream, the cart line
// kept; then reverts the plan to its first version. A viewer sees it
// all but cannot push or replay.
// Screenshots go to test-output/console/ (prefixed "quality-").
//
// Needs: relay/build.sh (which runs console/build.sh), the CLI (for frames).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, ROOT, TEST_SECRETS } from '../support/relay.mjs';
import { launchChromium } from '../support/browser.mjs';
import { ORIGIN, postFrame, frame } from '../relay/helpers.mjs';

const SHOTS = join(ROOT, 'test-output', 'console');
const PARTITIONS = 2;
const EDITOR = TEST_SECRETS.EDITOR_TOKEN;
const VIEWER = TEST_SECRETS.VIEWER_TOKEN;
const PLAN = readFileSync(join(ROOT, 'examples', 'plan.json'), 'utf8');
const PRICE = '"price": { "type": "number", "required": true, "minimum": 0, "maximum": 100000 }';
/** The 1-based line of `text` holding `needle`. */
const lineOf = (text, needle) => text.slice(0, text.indexOf(needle)).split('\n').length;
// The mistake: a type the plan language does not have, on Product Viewed's price.
const BROKEN = PLAN.replace(PRICE, PRICE.replace('"number"', '"money"'));
// The fix after the broken event: the shop sends prices as decimal strings.
const FIXED = PLAN.replace(PRICE, '"price": { "type": "string", "required": true, "pattern": "^[0-9]+(\\\\.[0-9]{1,2})?$" }');
const PRICE_PATH = 'events["Product Viewed"].properties.price.type';
const VISITOR = 'quality-visitor-1';
const OTHER = 'quality-visitor-2';
const REASON = 'expected number, got string "89.58"';

let relay;
let browser;
let page;
let tokenSeenInUrl = false;

const shot = (name, p = page) => p.screenshot({ path: join(SHOTS, `${name}.png`) });

/** Signs in on a fresh page of `context` and opens the Data quality view. */
async function openQuality(context, token) {
  const p = await context.newPage();
  p.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
  p.on('request', (r) => {
    if (r.url().includes(token)) tokenSeenInUrl = true;
  });
  await p.goto(`${relay.url}/console`);
  await p.fill('#token', token);
  await p.click('#signin-button');
  await p.waitForSelector('#views:not([hidden])');
  await p.click('#views button[data-view="quality-view"]');
  await p.waitForSelector('#plan-workspace:not([hidden]) .cm-content');
  return p;
}

/** Replaces the plan editor's whole text, as a developer pasting a file does. */
async function pastePlan(text) {
  await page.locator('#plan-editor .cm-content').click();
  await page.keyboard.press('Control+a');
  await page.keyboard.insertText(text);
}

/** The plan's problems list as [{line, path, message, severity}]. */
const problems = (p = page) =>
  p.$$eval('#plan-tab-problems .problem', (els) =>
    els.map((e) => ({ line: Number(e.dataset.line), path: e.dataset.path, message: e.querySelector('.msg').textContent, severity: e.classList.contains('is-error') ? 'error' : 'warning' })),
  );

/** Pushes the plan editor's text with `comment` through the Push dialog. */
async function push(comment) {
  await page.click('#plan-push');
  await page.fill('#push-comment', comment);
  await page.click('#push-confirm');
  await page.waitForSelector('#push-result .partitions');
  assert.equal(await page.locator('#push-result .partitions .ok').count(), PARTITIONS);
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  for (const f of readdirSync(SHOTS)) if (/^quality-/.test(f)) rmSync(join(SHOTS, f));
  relay = await startRelay({ partitions: PARTITIONS, origins: [ORIGIN], vars: { RATE_LIMIT_PER_SEC: '0' } });
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  page = await openQuality(context, EDITOR);
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

test('a plan with a mistake is marked at its path with the relay message, and cannot be pushed', async () => {
  await page.waitForSelector('#plan-file-state:has-text("No active plan yet")');
  await pastePlan(BROKEN);
  const line = lineOf(BROKEN, '"money"');
  await page.waitForSelector('#plan-tab-problems .problem');
  const [p] = await problems();
  // The relay refuses the same text with the same path and message.
  const refused = await relay.api('POST', '/v1/admin/plan/versions', { token: EDITOR, body: { file: BROKEN, comment: 'broken' } });
  assert.equal(refused.status, 400);
  assert.equal(refused.body.code, 'invalid_plan');
  assert.deepEqual(refused.body.errors.map((e) => e.path), [PRICE_PATH]);
  assert.deepEqual(p, { line, path: PRICE_PATH, message: refused.body.errors[0].message, severity: 'error' });
  // The problem shows its place; the mark sits on the value.
  await page.click('#plan-tab-problems .problem');
  await page.locator('#plan-editor .cm-lintRange-error', { hasText: '"money"' }).waitFor();
  assert.match(await page.locator('#plan-editor .cm-activeLine').textContent(), /"price": \{ "type": "money"/);
  assert.equal(await page.textContent('#plan-file-state'), 'Has errors');
  assert.ok(await page.isDisabled('#plan-push'));
  assert.match(await page.textContent('#plan-statusbar'), /1 error.*The relay would refuse this plan/);
  assert.equal((await relay.api('GET', '/v1/admin/plan', { token: EDITOR })).status, 404, 'nothing was pushed');
  await shot('quality-01-plan-mistake');
});

test('examples/plan.json pushed with a comment becomes version 1, active on every partition', async () => {
  await pastePlan(PLAN);
  await page.waitForFunction(() => document.querySelectorAll('#plan-editor .cm-lintRange-error').length === 0);
  // The relay's summary of the plan, shown as the trigger file's is.
  const validated = await relay.api('POST', '/v1/admin/plan/validate', { token: EDITOR, body: PLAN });
  assert.equal(validated.status, 200);
  await page.waitForSelector(`#plan-summary:has-text(${JSON.stringify(validated.body.summary)})`);
  await push('The demo shop plan');
  await shot('quality-02-plan-pushed');
  await page.click('#push-cancel');
  await page.waitForSelector('#plan-file-state:has-text("Version 1 · active")');
  assert.ok(await page.isDisabled('#plan-push'), 'nothing left to push');
  const versions = await relay.api('GET', '/v1/admin/plan/versions', { token: EDITOR });
  assert.equal(versions.body.active, 1);
  assert.equal(versions.body.versions[0].comment, 'The demo shop plan');
  assert.deepEqual((await relay.api('GET', '/v1/admin/plan', { token: EDITOR })).body, JSON.parse(PLAN));
  // The plan's Versions tab lists it.
  await page.click('#plan-versions-button');
  await page.waitForSelector('#plan-tab-versions .version.active[data-version="1"]');
  assert.match(await page.textContent('#plan-tab-versions .version .comment'), /The demo shop plan/);
  await shot('quality-03-plan-versions');
});

test('broken events are counted under Violations and kept in Quarantine with their reasons', async () => {
  const product = { product_id: 'p-0042', sku: 'SKU-SHO-00042', name: 'Trail shoe', category: 'shoes', price: '89.58', currency: 'EUR' };
  const sent = await postFrame(relay, frame(VISITOR, [{ name: 'Product Viewed', properties: product }]));
  assert.equal(sent.status, 200, JSON.stringify(sent.body));
  assert.deepEqual(sent.body.plan, { flagged: 0, quarantined: 1, violations: 1 });
  // Another shopper's cart line breaks the plan twice (no cart, no quantity): a fixed price will not release it.
  const line = { ...product, price: 89.58, quantity: 0 };
  const other = await postFrame(relay, frame(OTHER, [{ name: 'Product Added', properties: line, time: Date.now() + 1 }]));
  assert.deepEqual(other.body.plan, { flagged: 0, quarantined: 1, violations: 2 });

  await page.click('#quality-nav button[data-part="violations"]');
  const row = page.locator('#violation-rows tr[data-event="Product Viewed"][data-path="properties.price"]');
  await row.waitFor();
  const stats = (await relay.api('GET', '/v1/admin/plan/stats', { token: EDITOR })).body;
  // Every counter of the relay's, in its order (most violations first).
  assert.equal(stats.counters.length, 3, JSON.stringify(stats));
  const rows = await page.$$eval('#violation-rows tbody tr', (trs) => trs.map((tr) => [tr.dataset.event, tr.dataset.path]));
  assert.deepEqual(rows, stats.counters.map((c) => [c.event, c.path]));
  const c = stats.counters.find((x) => x.event === 'Product Viewed');
  const cells = await row.locator('td').allTextContents();
  assert.deepEqual(cells.slice(0, 7), ['Product Viewed', 'wrong type', 'properties.price', String(c.flagged), String(c.quarantined), String(c.allowed), String(c.total)]);
  assert.deepEqual([c.quarantined, c.total], [1, 1]);
  assert.equal(cells[8], REASON);
  assert.match(await page.textContent('#violations .view-head'), /3 violations \(0 on flagged events, 3 on quarantined ones, 0 allowed\)\. The quarantine holds 2 events\./);
  await shot('quality-04-violations');

  await page.click('#quality-nav button[data-part="quarantine"]');
  await page.waitForSelector(`#quarantine-rows tr[data-visitor="${VISITOR}"]`);
  // Newest first; each violation as `path: message`, as the relay stored it.
  const shown = await page.$$eval('#quarantine-rows tbody tr', (trs) => trs.map((tr) => [...tr.children].map((td) => td.textContent)));
  const stored = (await relay.readAll('quarantine')).sort((a, b) => b.time - a.time);
  assert.deepEqual(
    shown.map(([, , event, why, props]) => [event, why, JSON.parse(props)]),
    stored.map((r) => [r.name, r.violations.map((v) => `${v.path}: ${v.message}`).join(''), r.properties]),
  );
  assert.equal(stored[0].visitor, OTHER);
  assert.deepEqual(shown[1].slice(2, 4), ['Product Viewed', `properties.price: ${REASON}`]);
  assert.deepEqual(JSON.parse(shown[1][4]), product);
  assert.equal(await page.textContent('#quarantine-count'), '2');
  assert.ok(!(await page.isDisabled('#replay')));
  await shot('quality-05-quarantine');
});

test('a viewer sees the plan, the violations and the quarantine but cannot push or replay', async () => {
  const viewer = await openQuality(page.context(), VIEWER);
  await viewer.waitForSelector('#plan-file-state:has-text("Version 1 · active")');
  assert.ok(await viewer.isDisabled('#plan-push'));
  assert.match(await viewer.textContent('#plan-statusbar'), /Read only: your role can validate/);
  assert.equal(await viewer.getAttribute('#plan-editor .cm-content', 'contenteditable'), 'false');
  await viewer.click('#quality-nav button[data-part="quarantine"]');
  await viewer.waitForSelector(`#quarantine-rows tr[data-visitor="${VISITOR}"]`);
  assert.ok(await viewer.isDisabled('#replay'));
  assert.equal(await viewer.getAttribute('#replay', 'title'), 'Viewers cannot replay');
  await shot('quality-06-viewer', viewer);
  // The relay refuses a viewer's replay whatever the page shows.
  assert.equal((await relay.api('POST', '/v1/admin/quarantine/replay', { token: VIEWER })).status, 403);
  await viewer.close();
});

test('after a fixed plan is pushed, Replay releases what it now accepts and keeps the rest', async () => {
  await page.click('#quality-nav button[data-part="plan-workspace"]');
  await pastePlan(FIXED);
  await page.waitForSelector('#plan-file-state:has-text("Edited · based on version 1")');
  await page.waitForFunction(() => !document.querySelector('#plan-push').disabled);
  await push('Prices come as decimal strings');
  await page.click('#push-cancel');
  await page.waitForSelector('#plan-file-state:has-text("Version 2 · active")');

  await page.click('#quality-nav button[data-part="quarantine"]');
  await page.waitForSelector(`#quarantine-rows tr[data-visitor="${VISITOR}"]`);
  await page.click('#replay');
  await page.waitForSelector('#replay-result');
  assert.equal(await page.textContent('#replay-result'), 'Replayed with the active plan: 1 released to the event stream, 1 kept in quarantine (they still break it).');
  await page.waitForFunction(() => document.querySelectorAll('#quarantine-rows tbody tr').length === 1);
  assert.equal(await page.getAttribute('#quarantine-rows tbody tr', 'data-visitor'), OTHER, 'the cart line still breaks the plan');
  assert.equal(await page.textContent('#quarantine-count'), '1');
  await shot('quality-07-replayed');

  const events = await relay.readAll('events');
  const released = events.filter((e) => e.visitor === VISITOR);
  assert.equal(released.length, 1);
  assert.equal(released[0].name, 'Product Viewed');
  assert.equal(released[0].properties.price, '89.58');
  assert.deepEqual((await relay.readAll('quarantine')).map((q) => q.visitor), [OTHER]);
  // The new plan's counters start with its activation: the table is the stats route's.
  await page.click('#quality-nav button[data-part="violations"]');
  const stats = (await relay.api('GET', '/v1/admin/plan/stats', { token: EDITOR })).body;
  if (stats.counters.length) await page.waitForSelector('#violation-rows');
  else await page.waitForSelector('#violations:has-text("No violations counted.")');
  assert.equal(await page.locator('#violation-rows tbody tr').count(), stats.counters.length);
  assert.ok(!stats.counters.some((c) => c.event === 'Product Viewed'), 'a string price is no violation now');
});

test('the plan reverts to version 1 from its Versions tab, as a new version', async () => {
  await page.click('#quality-nav button[data-part="plan-workspace"]');
  await page.click('#plan-versions-button');
  const revert = page.locator('#plan-tab-versions .version[data-version="1"] button.revert');
  await revert.click();
  await page.waitForSelector('#plan-tab-versions .version[data-version="1"] button.revert:has-text("Revert to 1?")');
  await revert.click();
  await page.waitForSelector('#plan-file-state:has-text("Version 3 · active")');
  await page.waitForSelector('#plan-tab-versions .version.active[data-version="3"]');
  assert.match(await page.textContent('#plan-tab-versions .version[data-version="3"] .comment'), /Revert to version 1/);
  assert.deepEqual((await relay.api('GET', '/v1/admin/plan', { token: EDITOR })).body, JSON.parse(PLAN));
  await shot('quality-08-reverted');
});

test('no token ever appeared in a URL the console requested', () => {
  assert.equal(tokenSeenInUrl, false);
});
