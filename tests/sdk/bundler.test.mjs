// The package through a bundler: a Vite production build of a small app that
// imports it (Vite follows `new URL('./eventstream.wasm', import.meta.url)`
// and emits the wasm as a hashed asset), served and run in Chromium.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, writeFileSync, readFileSync, readdirSync, existsSync } from 'node:fs';
import { join, extname } from 'node:path';
import { installPackage, startRelay, launch, ROOT } from './harness.mjs';

const VITE = join(ROOT, 'node_modules/.bin/vite');
let browser, relay, server, url, dist;

before(async () => {
  const app = join(installPackage(), 'vite-app');
  mkdirSync(app, { recursive: true });
  writeFileSync(join(app, 'index.html'), '<!doctype html><html><body><script type="module" src="./main.js"></script></body></html>');
  writeFileSync(join(app, 'main.js'), `import { init } from '@eventstream/sdk';
const opts = JSON.parse(new URLSearchParams(location.search).get('opts') || '{}');
init({ writeKey: 'wk_test', autocapture: false, triggers: false, ...opts }).then((es) => { window.es = es; window.ready = true; });
`);
  execFileSync(VITE, ['build', '--outDir', 'dist', '--logLevel', 'warn'], { cwd: app, stdio: 'inherit' });
  dist = join(app, 'dist');
  const types = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };
  server = createServer((req, res) => {
    const p = new URL(req.url, 'http://x').pathname;
    const file = join(dist, p == '/' ? 'index.html' : p);
    if (!file.startsWith(dist) || !existsSync(file)) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': types[extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${server.address().port}/`;
  relay = await startRelay();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await relay?.close();
  await new Promise((r) => (server ? server.close(r) : r()));
});

test('a Vite build emits the wasm as an asset and the SDK runs from it', async () => {
  assert.equal(readdirSync(join(dist, 'assets')).filter((f) => /^eventstream-.*\.wasm$/.test(f)).length, 1);
  const page = await browser.newPage();
  await page.goto(url + '?opts=' + encodeURIComponent(JSON.stringify({ endpoint: relay.url })));
  await page.waitForFunction(() => window.ready === true);
  await page.evaluate(() => { window.es.track('Bundled', { via: 'vite' }); return window.es.flush(); });
  assert.deepEqual(relay.events().map((e) => [e.name, e.properties]), [['Bundled', { via: 'vite' }]]);
  await page.close();
});
