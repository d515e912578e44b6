// Landing page view to its firing shown, on cold loads of the demo shop in
// Chromium against the relay in workerd, on loopback: each load a fresh
// browser profile (no cache, no stored visitor) landing on /category/hats,
// which the e2e trigger landing-hats answers. The shop marks
// `eventstream:init` when init() resolves (the landing page view is recorded
// in it) and `eventstream:firing` when it shows a firing (User Timing).
// A figure script, not a test; scripts/bench prints the same through
// `landingFigures`. Usage: node tests/e2e/figures.mjs [--loads=20]
import { fileURLToPath } from 'node:url';
import { startLoop } from './harness.mjs';

/**
 * `loads` cold loads of the landing page; per load, in ms: `fromPageView`
 * (init resolved to the firing shown), `fromNavigation` (navigation start
 * to the firing shown) and `init` (navigation start to init resolved).
 */
export async function landingFigures(loads = 20) {
  const loop = await startLoop();
  const rows = [];
  try {
    for (let i = 0; i < loads; i++) {
      const context = await loop.browser.newContext();
      const page = await context.newPage();
      await page.goto(`${loop.shopOrigin}/category/hats`);
      await page.waitForFunction(() => performance.getEntriesByName('eventstream:firing').some((m) => m.detail === 'landing-hats'), null, { timeout: 15000 });
      rows.push(await page.evaluate(() => {
        const at = (name) => performance.getEntriesByName(name).find((m) => name != 'eventstream:firing' || m.detail === 'landing-hats').startTime;
        return { fromPageView: at('eventstream:firing') - at('eventstream:init'), fromNavigation: at('eventstream:firing'), init: at('eventstream:init') };
      }));
      await context.close();
    }
  } finally {
    await loop.stop();
  }
  return rows;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const LOADS = Number((process.argv.find((a) => a.startsWith('--loads=')) || '=20').split('=')[1]);
  const rows = await landingFigures(LOADS);
  const q = (k, p) => {
    const a = rows.map((r) => r[k]).sort((x, y) => x - y);
    return a[Math.min(a.length - 1, Math.floor(p * a.length))].toFixed(1);
  };
  console.log(`${LOADS} cold loads of the demo shop (Chromium, relay in workerd, loopback), landing on /category/hats:`);
  console.log(`  landing page view (init resolved) to firing shown: p50 ${q('fromPageView', 0.5)} ms, p99 ${q('fromPageView', 0.99)} ms`);
  console.log(`  navigation start to firing shown:                  p50 ${q('fromNavigation', 0.5)} ms, p99 ${q('fromNavigation', 0.99)} ms`);
  console.log(`  navigation start to init resolved:                 p50 ${q('init', 0.5)} ms, p99 ${q('init', 0.99)} ms`);
  console.log(JSON.stringify(rows));
}
