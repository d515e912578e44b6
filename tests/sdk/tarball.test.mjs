// The npm package as it would be published: `npm pack` of npm/dist gives one
// tarball; it holds the ESM, its types, the wasm, README and LICENSE at the
// workspace's version, passes publint and arethetypeswrong, and, installed
// from that tarball (not linked from the folder), runs the README's own
// snippet in Chromium twice: built by Vite with its defaults, and as a plain
// `<script type="module">` page with an import map. Events arrive at the
// recording collector (tests/sdk/harness.mjs) and a firing reaches the
// snippet's handler.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:http';
import { mkdirSync, writeFileSync, readFileSync, existsSync, lstatSync } from 'node:fs';
import { join, extname, resolve, sep } from 'node:path';
import { ensureBuilt, startRelay, launch, until, ROOT } from './harness.mjs';
import { codeBlocks, README } from '../support/readme.mjs';
import { tempDir } from '../support/tmp.mjs';

const DIST = join(ROOT, 'npm', 'dist');
const BIN = join(ROOT, 'node_modules', '.bin');
const FILES = ['LICENSE', 'README.md', 'eventstream.wasm', 'index.d.ts', 'index.js', 'package.json', 'socket.js'];
const VERSION = /\[workspace\.package\][^[]*?\nversion\s*=\s*"([^"]+)"/.exec(readFileSync(join(ROOT, 'Cargo.toml'), 'utf8'))[1];

let dir, pack, tgz, app, relay, browser;
const servers = [];

/** The SDK snippet of a README (the repository's, or the package's own). */
function snippet(path) {
  const block = codeBlocks(path).find((b) => b.lang === 'js' && b.code.includes("from '@eventstream/sdk'"));
  assert.ok(block, `${path} has the SDK snippet`);
  return block.code;
}

/** The README's SDK snippet as it is, pointed at the collector; the page brings showBanner. */
function readmeSnippet(endpoint) {
  const code = snippet(README);
  assert.match(code, /'YOUR_WRITE_KEY'/);
  assert.match(code, /'https:\/\/relay\.example\.workers\.dev'/);
  return code.replace("'YOUR_WRITE_KEY'", "'wk_test'").replace("'https://relay.example.workers.dev'", JSON.stringify(endpoint)) + '\n';
}
const BANNERS = '<script>window.banners = []; window.showBanner = (payload) => window.banners.push(payload);</script>';

const TYPES = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };
/** A static file server over `root` on 127.0.0.1; returns its URL. */
async function serve(root) {
  const server = createServer((req, res) => {
    const p = decodeURIComponent(new URL(req.url, 'http://x').pathname);
    const file = resolve(root, '.' + (p === '/' ? '/index.html' : p));
    if (!file.startsWith(root + sep) || !existsSync(file) || !lstatSync(file).isFile()) return res.writeHead(404).end();
    res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return `http://127.0.0.1:${server.address().port}`;
}

before(async () => {
  ensureBuilt();
  dir = tempDir('es-tarball-');
  // A cache of its own: npm's shared cache does not like concurrent writers.
  const cache = join(dir, '.npm-cache');
  [pack] = JSON.parse(execFileSync('npm', ['pack', DIST, '--pack-destination', dir, '--json', '--cache', cache], { encoding: 'utf8' }));
  tgz = join(dir, pack.filename);
  mkdirSync(join(dir, 'unpacked'));
  execFileSync('tar', ['-xzf', tgz, '-C', join(dir, 'unpacked')]);

  app = join(dir, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'throwaway-app', private: true, type: 'module' }));
  execFileSync('npm', ['install', '--offline', '--no-audit', '--no-fund', '--silent', '--cache', cache, tgz], { cwd: app, stdio: 'inherit' });
  relay = await startRelay();
  browser = await launch();
});
after(async () => {
  await browser?.close();
  await relay?.close();
  for (const s of servers) await new Promise((r) => s.close(r));
});

test('the tarball holds the ESM, its types, the wasm, README and LICENSE at the workspace version', (t) => {
  t.diagnostic(`${pack.filename}: ${pack.size} bytes packed, ${pack.unpackedSize} unpacked; ${pack.files.map((f) => `${f.path} ${f.size}`).join(', ')}`);
  assert.deepEqual(pack.files.map((f) => f.path).sort(), FILES);
  assert.equal(pack.name, '@eventstream/sdk');
  assert.equal(pack.version, VERSION, 'the package carries the workspace version (Cargo.toml)');
  const unpacked = join(dir, 'unpacked', 'package');
  const file = (f) => readFileSync(join(unpacked, f));
  assert.ok(file('LICENSE').equals(readFileSync(join(ROOT, 'LICENSE'))), 'the repository LICENSE');
  assert.match(file('LICENSE').toString(), /Apache License\s+Version 2\.0/);
  assert.ok(file('README.md').equals(readFileSync(join(ROOT, 'npm', 'README.md'))), 'npm/README.md (a stale npm/dist? run npm/build.sh)');
  assert.equal(snippet(join(unpacked, 'README.md')), snippet(README), "the package's README shows the snippet the repository's README shows (and this test runs)");
  assert.deepEqual([...file('eventstream.wasm').subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d], 'a wasm module');
  const js = file('index.js').toString();
  assert.match(js, /\bexport\s*\{/, 'ES module exports');
  assert.doesNotMatch(js, /\brequire\(|module\.exports/, 'no CommonJS');
  assert.match(file('index.d.ts').toString(), /export (declare )?function init\(/);
  const pkg = JSON.parse(file('package.json'));
  assert.equal(pkg.license, 'Apache-2.0');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.exports['.'].types, './index.d.ts');
});

test('publint (strict) and arethetypeswrong pass on the tarball', () => {
  execFileSync(join(BIN, 'publint'), ['run', tgz, '--strict'], { stdio: 'pipe' });
  // ESM only by design (CommonJS consumers use import()); the wasm subpath is
  // an asset for `new URL(..., import.meta.url)`, not a module with types.
  execFileSync(join(BIN, 'attw'), [tgz, '--profile', 'esm-only', '--exclude-entrypoints', './eventstream.wasm', '--format', 'ascii'], { stdio: 'pipe' });
});

test('installed from the tarball, not linked from the folder', () => {
  const manifest = JSON.parse(readFileSync(join(app, 'package.json'), 'utf8'));
  assert.match(manifest.dependencies['@eventstream/sdk'], /^file:.*\.tgz$/);
  const installed = join(app, 'node_modules', '@eventstream', 'sdk');
  assert.ok(!lstatSync(installed).isSymbolicLink(), 'a copy, not a link');
  assert.deepEqual(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8')).version, VERSION);
});

/** Opens `url` in a fresh context, checks the snippet's events arrive and a firing reaches showBanner. */
async function runsTheSnippet(url) {
  relay.reset();
  const context = await browser.newContext();
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  // The snippet keeps its client to itself: wait for its batch to arrive.
  let events = [];
  let decoded = 0;
  const arrived = await until(() => {
    if (relay.stored.length !== decoded) [decoded, events] = [relay.stored.length, relay.events()];
    return events.some((e) => e.name === 'Product Added') && events.some((e) => e.kind === 'identify');
  }, 30_000);
  assert.ok(arrived, `the snippet's events arrived (got ${events.map((e) => e.name)}; page errors: ${errors})`);
  const added = events.find((e) => e.name === 'Product Added');
  assert.deepEqual(added.properties, { product_id: 'p-0191', price: 89.58 });
  const identify = events.find((e) => e.kind === 'identify');
  assert.deepEqual(identify?.properties, { plan: 'free' }, 'identify carries the traits');
  assert.equal(added.context.library, `eventstream-js/${VERSION}`, 'the SDK reports the workspace version');
  const visitor = added.context.anonymous_id;
  assert.ok(await until(() => [...relay.sockets].some((s) => s.visitor === visitor), 15_000), 'the trigger socket opened');
  relay.fire(visitor, 'readme', { type: 'banner', payload: { text: 'Free shipping' } });
  await page.waitForFunction(() => window.banners.length === 1, null, { timeout: 15_000 });
  assert.deepEqual(await page.evaluate(() => window.banners), [{ text: 'Free shipping' }]);
  assert.deepEqual(errors, []);
  await context.close();
}

test("Vite (default settings) builds the README snippet from the installed package and it runs", async () => {
  const site = join(app, 'vite-site');
  mkdirSync(site);
  writeFileSync(join(site, 'index.html'), `<!doctype html><html><body>${BANNERS}<script type="module" src="./main.js"></script></body></html>`);
  writeFileSync(join(site, 'main.js'), readmeSnippet(relay.url));
  execFileSync(join(BIN, 'vite'), ['build', '--outDir', 'dist', '--logLevel', 'warn'], { cwd: site, stdio: 'inherit' });
  await runsTheSnippet(await serve(join(site, 'dist')));
});

test('a plain <script type="module"> page runs the README snippet from node_modules', async () => {
  writeFileSync(join(app, 'index.html'), `<!doctype html><html><head>
<script type="importmap">{"imports": {"@eventstream/sdk": "/node_modules/@eventstream/sdk/index.js"}}</script>
</head><body>${BANNERS}<script type="module">
${readmeSnippet(relay.url)}</script></body></html>`);
  await runsTheSnippet(await serve(app));
});
