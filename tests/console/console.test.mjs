// The trigger console in headless Chromium, against the built relay in
// workerd (Miniflare) holding the reference corpus: a marketer signs in,
// makes a typo and sees it marked at its place with the engine's message,
// fixes it, adds a trigger, backtests (the page's figures are the relay's),
// pushes (a visitor then receives a firing of the new trigger), compares
// versions, reverts; a viewer can read and backtest but not push. A
// screenshot of every step goes to test-output/console/.
//
// Needs: relay/build.sh (which runs console/build.sh), the CLI (for frames).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, ROOT, TEST_SECRETS } from '../support/relay.mjs';
import { launchChromium } from '../support/browser.mjs';
import { ORIGIN, postFrame, visitorSocket, frame } from '../relay/helpers.mjs';
import { loadCorpus } from './corpus.mjs';

const SHOTS = join(ROOT, 'test-output', 'console');
const PARTITIONS = 4;
const EDITOR = TEST_SECRETS.EDITOR_TOKEN;
const VIEWER = TEST_SECRETS.VIEWER_TOKEN;
// A copy of examples/triggers.json kept here, so the lines the test points at stay put.
const EXAMPLES = readFileSync(join(ROOT, 'tests', 'console', 'triggers.json'), 'utf8');
/** The 1-based line of `text` holding `needle`. */
const lineOf = (text, needle) => text.slice(0, text.indexOf(needle)).split('\n').length;
// cart-rescue's `"when": { "event": "Product Added", ...` line.
const WHEN = lineOf(EXAMPLES, '"when": { "event": "Product Added"');
const NEW_TRIGGER = 'console-hello';
const NEW_EVENT = 'Console Hello';

let relay;
let browser;
let page;
let tokenSeenInUrl = false;

async function shot(name) {
  await page.screenshot({ path: join(SHOTS, `${name}.png`) });
}

/** Opens the console and signs in with `token`. */
async function signIn(p, token) {
  await p.goto(`${relay.url}/console`);
  await p.fill('#token', token);
  await p.click('#signin-button');
}

/** The problems list as [{line, path, message, severity}]. */
function problems(p = page) {
  return p.$$eval('.problem', (els) =>
    els.map((e) => ({ line: Number(e.dataset.line), path: e.dataset.path, message: e.querySelector('.msg').textContent, severity: e.classList.contains('is-error') ? 'error' : 'warning' })),
  );
}

/**
 * Replaces the text inside the quoted token `"inner"` on editor line `n`
 * (1-based) with `text`, as a user does: click before it, select it with
 * the keyboard, type.
 */
async function retype(n, inner, text, { closeCompletion = true } = {}) {
  const token = page.locator('.cm-line').nth(n - 1).getByText(`"${inner}"`, { exact: true }).first();
  const box = await token.boundingBox();
  await page.mouse.click(box.x + 1, box.y + box.height / 2);
  await page.keyboard.press('ArrowRight');
  for (let i = 0; i < inner.length; i++) await page.keyboard.press('Shift+ArrowRight');
  await page.keyboard.type(text);
  if (closeCompletion) await page.keyboard.press('Escape');
}

/**
 * The editor's whole text, as a user gets it: select all, copy, read the
 * clipboard (CodeMirror renders only the lines near the viewport).
 */
async function editorText(p = page) {
  await p.locator('.cm-content').click();
  await p.keyboard.press('Control+a');
  await p.keyboard.press('Control+c');
  const text = await p.evaluate(() => navigator.clipboard.readText());
  await p.keyboard.press('Control+Home');
  return text;
}

before(async () => {
  mkdirSync(SHOTS, { recursive: true });
  // Only this run's screenshots (outcomes.test.mjs owns the others).
  for (const f of readdirSync(SHOTS)) if (/^\d\d-/.test(f)) rmSync(join(SHOTS, f));
  relay = await startRelay({ partitions: PARTITIONS, origins: [ORIGIN], vars: { RATE_LIMIT_PER_SEC: '0' } });
  const pushed = await relay.pushTriggers(EXAMPLES);
  assert.equal(pushed.status, 200, JSON.stringify(pushed.body));
  assert.equal(await loadCorpus(relay), 10_728);
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, permissions: ['clipboard-read', 'clipboard-write'] });
  page = await context.newPage();
  page.on('pageerror', (e) => assert.fail(`page error: ${e.message}`));
  page.on('request', (r) => {
    if (r.url().includes(EDITOR) || r.url().includes(VIEWER)) tokenSeenInUrl = true;
  });
});

after(async () => {
  await browser?.close();
  await relay?.stop();
});

test('a wrong token is refused in plain words; the right one signs in with its role', async () => {
  await signIn(page, 'not-a-token');
  await page.waitForSelector('#signin-error:not(:empty)');
  assert.match(await page.textContent('#signin-error'), /did not accept this token/);
  await shot('01-sign-in-refused');

  await signIn(page, EDITOR);
  await page.waitForSelector('#workspace:not([hidden]) .cm-content');
  assert.equal(await page.textContent('#role'), 'editor');
  await page.waitForSelector('#file-state:has-text("Version 1 · active")');
  // The editor holds the active file; the catalog came from the log.
  assert.equal(JSON.parse(await editorText()).triggers.length, JSON.parse(EXAMPLES).triggers.length);
  await page.waitForSelector('.note:has-text("10,728 events")');
  assert.equal(await page.evaluate(() => sessionStorage.length), 1, 'the token is kept for the tab only');
  await shot('02-signed-in');
});

test('a typo is marked at its line with the engine message; fixing it clears the mark', async () => {
  const whenLine = page.locator('.cm-line').nth(WHEN - 1);
  assert.match(await whenLine.textContent(), /"when": \{ "event": "Product Added"/);

  await retype(WHEN, 'Product Added', 'Prodcut Added');
  await whenLine.locator('.cm-lintRange-warning', { hasText: '"Prodcut Added"' }).waitFor();
  let ps = await problems();
  assert.deepEqual(
    ps.find((p) => p.path === 'triggers[0].when.event'),
    { line: WHEN, path: 'triggers[0].when.event', message: '"Prodcut Added" was never seen; did you mean "Product Added"?', severity: 'warning' },
  );

  await retype(WHEN, 'when', 'wehn');
  await whenLine.locator('.cm-lintRange-error', { hasText: '"wehn"' }).waitFor();
  ps = await problems();
  const unknown = ps.find((p) => p.path === 'triggers[0].wehn');
  assert.equal(unknown.line, WHEN);
  assert.equal(unknown.severity, 'error');
  assert.match(unknown.message, /^unknown key "wehn" \(expected one of: .*\) in trigger "cart-rescue"$/);
  assert.equal(await page.textContent('#file-state'), 'Has errors');
  assert.ok(await page.isDisabled('#push'));
  await whenLine.locator('.cm-lintRange-error').hover();
  await page.waitForSelector('.cm-tooltip-lint');
  await shot('03-typo-marked');

  await retype(WHEN, 'wehn', 'when');
  await retype(WHEN, 'Prodcut Added', 'Product Added');
  await page.waitForFunction(() => document.querySelectorAll('.cm-lintRange-error').length === 0);
  await page.waitForFunction(() => ![...document.querySelectorAll('.problem')].some((p) => p.dataset.path === 'triggers[0].when.event'));
  assert.equal(await whenLine.locator('.cm-lintRange-warning, .cm-lintRange-error').count(), 0);
  assert.equal(await page.textContent('#file-state'), 'Version 1 · active');
  await shot('04-typo-fixed');
});

test('completion offers the property paths the log has seen on the step event', async () => {
  await retype(WHEN, 'price', 'pri', { closeCompletion: false });
  const options = page.locator('.cm-tooltip-autocomplete li');
  await options.first().waitFor();
  const labels = await options.allTextContents();
  assert.ok(labels.some((l) => l.startsWith('price')), labels.join(' | '));
  assert.ok(labels.every((l) => l.includes('on Product Added')), 'paths of this step event only');
  await shot('05-completion');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#file-state:has-text("Version 1 · active")');
  assert.match(await page.locator('.cm-line').nth(WHEN - 1).textContent(), /"prop": "price"/);
});

test('a new trigger, then Backtest: per-trigger figures are the relay backtest figures', async () => {
  // Insert a trigger at the top of the list, after `"triggers": [`.
  const list = lineOf(EXAMPLES, '"triggers": [');
  await page.locator('.cm-line').nth(list - 1).click();
  await page.keyboard.press('End');
  await page.keyboard.insertText(`\n    { "id": "${NEW_TRIGGER}", "when": { "event": "${NEW_EVENT}" }, "max_per_user": 1, "action": { "type": "banner", "payload": { "text": "Hello from the console" } } },`);
  // Never seen in the log: a warning, not an error.
  await page.locator('.cm-line').nth(list).locator('.cm-lintRange-warning', { hasText: `"${NEW_EVENT}"` }).waitFor();
  await page.waitForSelector('#file-state:has-text("Edited · based on version 1")');

  await page.click('#backtest');
  await page.waitForSelector('.trigger-card');
  const shown = await page.$$eval('.trigger-card', (cards) => cards.map((c) => ({ id: c.dataset.trigger, firings: Number(c.dataset.firings), active: c.dataset.active === '' ? null : Number(c.dataset.active) })));
  await shot('06-backtest');

  const text = await editorText();
  const res = await fetch(`${relay.url}/v1/admin/backtest`, { method: 'POST', headers: { authorization: `Bearer ${EDITOR}`, 'content-type': 'application/json' }, body: JSON.stringify({ file: text, since: '24h' }) });
  assert.equal(res.status, 200);
  const result = (await res.text()).trim().split('\n').map((l) => JSON.parse(l)).find((l) => l.type === 'result');
  assert.deepEqual(shown, result.triggers.map((t) => ({ id: t.id, firings: t.candidate.firings, active: t.active ? t.active.firings : null })));
  assert.equal(shown[0].id, NEW_TRIGGER);
  assert.equal(shown[0].active, null, 'not in the active file');
  assert.ok(shown.slice(1).every((t) => t.firings === t.active), 'unchanged triggers fire as the active file does');
  assert.ok(shown.some((t) => t.firings > 0), 'the corpus makes some trigger fire');

  // A sample's visitor link shows that visitor's events.
  const withSample = page.locator('.trigger-card:has(details)').first();
  await withSample.locator('summary').click();
  await withSample.locator('.visitor-link').first().click();
  await page.waitForSelector('#visitor-dialog .events tbody tr');
  await shot('07-visitor-events');
  await page.click('#visitor-close');
});

test('push creates a version active on every partition, and a visitor receives the new trigger', async () => {
  await page.click('#push');
  await page.fill('#push-comment', 'Say hello to console visitors');
  await page.fill('#push-author', 'Console test');
  await page.click('#push-confirm');
  await page.waitForSelector('#push-result .partitions');
  assert.equal(await page.locator('#push-result .partitions .ok').count(), PARTITIONS);
  await shot('08-pushed');
  await page.click('#push-cancel');

  const versions = await relay.api('GET', '/v1/admin/triggers/versions', { token: EDITOR });
  assert.equal(versions.body.active, 2);
  assert.equal(versions.body.versions[0].comment, 'Say hello to console visitors');
  assert.equal(versions.body.versions[0].author, 'Console test');
  const active = await relay.api('GET', '/v1/admin/triggers', { token: EDITOR });
  assert.equal(active.headers.get('x-eventstream-version'), '2');
  assert.equal(JSON.parse(await editorText()).triggers[0].id, NEW_TRIGGER);
  assert.deepEqual(active.body, JSON.parse(await editorText()));
  await page.waitForSelector('#file-state:has-text("Version 2 · active")');

  const visitor = `console-visitor-${Date.now()}`;
  const socket = await visitorSocket(relay, visitor);
  const r = await postFrame(relay, frame(visitor, [{ kind: 'track', name: NEW_EVENT, properties: {} }]));
  assert.equal(r.status, 200);
  const m = await socket.next((m) => m.type === 'firing', 10000);
  assert.equal(m.firing.trigger, NEW_TRIGGER);
  assert.deepEqual(m.firing.action, { type: 'banner', payload: { text: 'Hello from the console' } });
  socket.ws.close();
});

test('versions: diff between two, and revert restores the previous content', async () => {
  await page.click('#versions-button');
  await page.waitForSelector('.version[data-version="2"]');
  await page.locator('.version[data-version="1"] input[type=checkbox]').check();
  await page.locator('.version[data-version="2"] input[type=checkbox]').check();
  await page.click('#compare');
  await page.waitForSelector('.diff .add');
  assert.match(await page.textContent('.diff .add'), new RegExp(NEW_TRIGGER));
  await shot('09-versions-diff');

  const revert = page.locator('.version[data-version="1"] button.revert');
  await revert.click(); // arms
  await revert.click(); // confirms
  await page.waitForSelector('.version[data-version="3"].active');
  const active = await relay.api('GET', '/v1/admin/triggers', { token: EDITOR });
  assert.equal(active.headers.get('x-eventstream-version'), '3');
  assert.deepEqual(active.body, JSON.parse(EXAMPLES), 'version 3 has version 1 content');
  await page.waitForSelector('#file-state:has-text("Version 3 · active")');
  await page.waitForSelector(`#summary:has-text("${JSON.parse(EXAMPLES).triggers.length} triggers")`);
  assert.deepEqual(JSON.parse(await editorText()), JSON.parse(EXAMPLES), 'the editor shows it');
  await shot('10-reverted');
});

test('a partition that does not take a push is named, and Retry activates it', async () => {
  await retype(lineOf(EXAMPLES, '"cooldown": "24h"'), '24h', '12h');
  await page.waitForSelector('#file-state:has-text("Edited")');
  // The relay cannot be made to fail one partition on demand: the push goes
  // to it for real, and its answer is rewritten as a 503 naming partition 1.
  const pushRoute = `${relay.url}/v1/admin/triggers/versions`;
  await page.route(pushRoute, async (route) => {
    if (route.request().method() !== 'POST') return route.continue(); // the versions list
    const real = await route.fetch();
    const body = await real.json();
    body.partitions[1] = { partition: 1, ok: false, error: 'the partition did not answer (injected by the test)' };
    await route.fulfill({ status: 503, json: { code: 'activation_incomplete', message: 'a partition did not take the version', ...body, ok: false, complete: false } });
  });
  await page.click('#push');
  await page.fill('#push-comment', 'Shorter cooldown');
  await page.click('#push-confirm');
  await page.waitForSelector('#push-result .partitions .fail');
  assert.match(await page.textContent('#push-result .partitions li[data-partition="1"]'), /Partition 1: not activated \(the partition did not answer/);
  assert.equal(await page.locator('#push-result .partitions .ok').count(), PARTITIONS - 1);
  assert.match(await page.textContent('#push-result .banner'), /Version 4 is stored but 1 partition has not taken it yet/);
  await shot('11-push-partition-failed');
  await page.unroute(pushRoute);

  await page.click('#push-result button.retry');
  await page.waitForSelector('#push-result .banner.ok');
  assert.match(await page.textContent('#push-result .banner'), /Version 4 is active on every partition/);
  assert.equal(await page.locator('#push-result .partitions .ok').count(), PARTITIONS);
  await page.click('#push-cancel');
  const versions = await relay.api('GET', '/v1/admin/triggers/versions', { token: EDITOR });
  assert.equal(versions.body.active, 4);
  assert.deepEqual(versions.body.versions[0].partitions.active_on, [...Array(PARTITIONS).keys()]);
});

test('a viewer reads and backtests but cannot push or revert', async () => {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const viewer = await context.newPage();
  viewer.on('request', (r) => {
    if (r.url().includes(VIEWER)) tokenSeenInUrl = true;
  });
  await signIn(viewer, VIEWER);
  await viewer.waitForSelector('#workspace:not([hidden]) .cm-content');
  assert.equal(await viewer.textContent('#role'), 'viewer');
  assert.ok(await viewer.isDisabled('#push'));
  assert.equal(await viewer.getAttribute('.cm-content', 'contenteditable'), 'false');
  const before = await viewer.textContent('.cm-content');
  await viewer.locator('.cm-line').nth(1).click();
  await viewer.keyboard.type('typing does nothing');
  assert.equal(await viewer.textContent('.cm-content'), before);
  await viewer.keyboard.press('Control+Home'); // the keys scrolled the read-only editor
  await viewer.click('#versions-button');
  await viewer.waitForSelector('.version[data-version="1"]');
  assert.ok(await viewer.isDisabled('.version[data-version="1"] button.revert'));
  await viewer.click('#backtest');
  await viewer.waitForSelector('.trigger-card');
  await viewer.click('#versions-button');
  await viewer.screenshot({ path: join(SHOTS, '12-viewer.png') });
  // The relay refuses a viewer's push whatever the page shows.
  const refused = await relay.api('POST', '/v1/admin/triggers/versions', { token: VIEWER, body: { file: EXAMPLES, comment: 'viewer' } });
  assert.equal(refused.status, 403);
  assert.equal(refused.body.code, 'forbidden');
  await context.close();
});

test('no token ever appeared in a URL the console requested', () => {
  assert.equal(tokenSeenInUrl, false);
});
