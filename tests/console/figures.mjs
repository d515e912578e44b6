#!/usr/bin/env node
// Figures of the trigger console in Chromium against the built relay in
// workerd (Miniflare) holding the reference corpus (x --rounds):
//   - page weight as served (each asset's bytes over the wire);
//   - cold load: a fresh browser context (empty cache) to the sign-in form
//     (DOMContentLoaded), and, with a token already in the tab, to the active
//     file shown and validated by the wasm validator (the page's
//     `console:validated` User Timing mark): its time to interactive;
//   - Backtest: from the click to the table (the page's `console:backtest`
//     measure), over every event of the corpus.
// Not a test (no assertions on speed): prints one JSON line per figure.
//
// Usage: relay/build.sh && node tests/console/figures.mjs [--rounds 1] [--loads 5] [--backtests 3] [--partitions 4]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, ROOT, TEST_SECRETS } from '../support/relay.mjs';
import { launchChromium } from '../support/browser.mjs';
import { ORIGIN } from '../relay/helpers.mjs';
import { loadCorpus } from './corpus.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const ROUNDS = Number(args.rounds ?? 1);
const LOADS = Number(args.loads ?? 5);
const BACKTESTS = Number(args.backtests ?? 3);
const PARTITIONS = Number(args.partitions ?? 4);
const TOKEN = TEST_SECRETS.EDITOR_TOKEN;

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor((xs.length - 1) / 2)];
const round1 = (x) => Math.round(x * 10) / 10;

const relay = await startRelay({ partitions: PARTITIONS, origins: [ORIGIN], vars: { RATE_LIMIT_PER_SEC: '0' } });
const browser = await launchChromium();
try {
  const pushed = await relay.pushTriggers(readFileSync(join(ROOT, 'examples', 'triggers.json'), 'utf8'));
  if (pushed.status !== 200) throw new Error(`examples/triggers.json refused: ${JSON.stringify(pushed.body)}`);
  const events = await loadCorpus(relay, { rounds: ROUNDS });

  // Page weight as served: the transfer of every asset of one load.
  {
    const context = await browser.newContext();
    const page = await context.newPage();
    const sizes = {};
    page.on('response', async (r) => {
      const name = new URL(r.url()).pathname.split('/').pop() || 'index.html';
      if (r.url().includes('/console')) sizes[name === 'console' ? 'index.html' : name] = (await r.body()).length;
    });
    await page.goto(`${relay.url}/console`, { waitUntil: 'networkidle' });
    console.log(JSON.stringify({ figure: 'console_assets_bytes', ...sizes, note: 'uncompressed as served by workerd; gzip figures: console/build.sh' }));
    await context.close();
  }

  const signIn = [];
  const interactive = [];
  for (let i = 0; i < LOADS; i++) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const page = await context.newPage();
    await page.goto(`${relay.url}/console`);
    await page.waitForSelector('#signin:not([hidden]) #token');
    signIn.push(await page.evaluate(() => performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd));
    await context.close();

    const withToken = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await withToken.addInitScript((t) => sessionStorage.setItem('eventstream-console-token', t), TOKEN);
    const p2 = await withToken.newPage();
    await p2.goto(`${relay.url}/console`);
    await p2.waitForFunction(() => performance.getEntriesByName('console:validated').length > 0, null, { timeout: 30000 });
    interactive.push(await p2.evaluate(() => performance.getEntriesByName('console:validated')[0].startTime));
    await withToken.close();
  }
  console.log(JSON.stringify({ figure: 'console_cold_load_to_sign_in_ms', loads: LOADS, median: round1(median(signIn)), all: signIn.map(round1) }));
  console.log(JSON.stringify({ figure: 'console_cold_load_to_validated_file_ms', loads: LOADS, median: round1(median(interactive)), all: interactive.map(round1), note: 'token already in the tab: whoami, file, wasm validator, first validation' }));

  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  await context.addInitScript((t) => sessionStorage.setItem('eventstream-console-token', t), TOKEN);
  const page = await context.newPage();
  await page.goto(`${relay.url}/console`);
  await page.waitForSelector('#file-state:has-text("active")');
  const waits = [];
  for (let i = 0; i < BACKTESTS; i++) {
    await page.evaluate(() => performance.clearMeasures('console:backtest'));
    await page.click('#backtest');
    await page.waitForFunction(() => performance.getEntriesByName('console:backtest').length > 0, null, { timeout: 120000 });
    waits.push(await page.evaluate(() => performance.getEntriesByName('console:backtest')[0].duration));
  }
  // What the backtest covered, as the page says it (a partition may stop at its bound).
  const covered = Number((await page.textContent('.run-head h3')).match(/over ([\d,]+) events/)[1].replace(/,/g, ''));
  const stoppedEarly = (await page.locator('#tab-backtest .banner.warn').count()) > 0;
  console.log(JSON.stringify({ figure: 'console_backtest_click_to_table_ms', events_loaded: events, events_backtested: covered, stopped_early: stoppedEarly, partitions: PARTITIONS, runs: BACKTESTS, median: round1(median(waits)), all: waits.map(round1) }));
  await context.close();
} finally {
  await browser.close();
  await relay.stop();
}
