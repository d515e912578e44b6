// The package as a front-end developer gets it: installed from the packed
// tarball, typed (a usage file compiled with tsc), harmless on a server, and
// within its size budgets (tests/sdk/size.mjs: what a page loads at init and
// with the trigger socket).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { installPackage, ROOT } from './harness.mjs';
import { measure, BUDGET_GZIP, TARGET_GZIP } from './size.mjs';

test('package.json: ESM exports with types, files, no side effects', () => {
  const dir = join(installPackage(), 'node_modules/@eventstream/sdk');
  const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8'));
  assert.equal(pkg.name, '@eventstream/sdk');
  assert.equal(pkg.type, 'module');
  assert.equal(pkg.sideEffects, false);
  assert.deepEqual(pkg.exports['.'], { types: './index.d.ts', import: './index.js', default: './index.js' });
  assert.deepEqual(execFileSync('ls', [dir], { encoding: 'utf8' }).trim().split('\n').sort(), ['LICENSE', 'README.md', 'eventstream.wasm', 'index.d.ts', 'index.js', 'package.json', 'socket.js']);
});

test('the .d.ts types accept the documented usage and refuse misuse (tsc --strict)', () => {
  const app = installPackage();
  writeFileSync(join(app, 'usage.ts'), `
import { init, type Client, type Firing, type EventstreamError } from '@eventstream/sdk';
export async function main(): Promise<void> {
  const es: Client = await init({ writeKey: 'wk', endpoint: 'https://relay.example', debug: true,
    autocapture: { clicks: false }, queue: { maxBytes: 100000 }, honorGlobalPrivacyControl: true,
    onError: (e: EventstreamError) => console.log(e.code, e.status) });
  es.track('Product Added', { product_id: 'p-1', price: 89.58, tags: ['a'], meta: { ok: true, none: null } });
  es.page();
  es.page('Home', { section: 'top' });
  es.identify('u-1', { plan: 'pro' });
  es.reset();
  const off: () => void = es.onTrigger('banner', (f: Firing) => console.log(f.action.payload, f.firing_id.length));
  off();
  es.optOut();
  es.optIn();
  const out: boolean = es.isOptedOut();
  const n: number = es.stats().queued;
  await es.flush();
  es.destroy();
  // @ts-expect-error: the write key is required
  await init({ endpoint: 'https://relay.example' });
  // @ts-expect-error: properties are an object, not a string
  es.track('x', 'props');
  // @ts-expect-error: functions are not JSON
  es.track('x', { f: () => 1 });
  // @ts-expect-error: firing handlers get a Firing
  es.onTrigger('banner', (f: number) => f);
  console.log(out, n);
}
`);
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, noEmit: true, target: 'es2022', module: 'esnext', moduleResolution: 'bundler', lib: ['es2022', 'dom'], skipLibCheck: false },
    files: ['usage.ts'],
  }));
  execFileSync(join(ROOT, 'node_modules/.bin/tsc'), ['-p', app], { encoding: 'utf8' });
});

test('importing on a server (SSR) is harmless: init resolves to an inert client', () => {
  const app = installPackage();
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', `
    const { init } = await import('@eventstream/sdk');
    const es = await init({ writeKey: 'wk', endpoint: 'https://relay.example' });
    es.track('x', { a: 1 }); es.page(); es.identify('u'); es.reset(); await es.flush(); es.onTrigger('*', () => {})();
    let code; try { await init({ endpoint: 'nope' }); } catch (e) { code = e.code; }
    console.log(JSON.stringify([es.isOptedOut(), es.stats().queued, code]));
  `], { cwd: app, encoding: 'utf8' });
  assert.equal(out.trim(), '[true,0,"invalid_argument"]');
});

test('what a page loads (wasm + JS) stays within the size budgets (gzip)', () => {
  const rows = measure(join(installPackage(), 'node_modules/@eventstream/sdk'));
  const kb = (n) => (n / 1024).toFixed(2) + ' KB';
  for (const r of rows) console.log(`size ${r.file}: ${kb(r.raw)} raw, ${kb(r.gzip)} gzip, ${kb(r.brotli)} brotli`);
  const [init, triggers] = rows.slice(-2);
  for (const [what, r] of [['init', init], ['triggers', triggers]]) {
    const budget = BUDGET_GZIP[what];
    console.log(`size ${what}: ${r.gzip} bytes gzip; budget ${budget}, target ${TARGET_GZIP}${r.gzip <= TARGET_GZIP ? '' : ' (missed)'}`);
    assert.ok(r.gzip <= budget, `what a page loads (${r.file}) grew past its budget: ${r.gzip} > ${budget} bytes gzip (see tests/sdk/size.mjs)`);
  }
});

test('the wasm carries no text that only a trap reaches (npm/dead-data.mjs ran)', () => {
  // The panic handler traps without a message; npm/build.sh zeroes the
  // messages, source paths and digit table the Rust library still links.
  const wasm = readFileSync(join(ROOT, 'npm/dist/eventstream.wasm')).toString('latin1');
  for (const text of ['capacity overflow', 'memory allocation of', '/rustc/', 'src/batch.rs', '0001020304050607']) {
    assert.ok(!wasm.includes(text), `eventstream.wasm still holds ${JSON.stringify(text)}`);
  }
  // What the module does use is still there.
  assert.ok(wasm.includes('eventstream-js/'), 'the library name frames carry');
});

test('the JS takes the numbers it shares with Rust from generated.js', () => {
  // npm/src/generated.js is written from Rust and checked against it by the
  // SDK's unit tests (sdk/src/js_constants.rs); the other modules must not
  // repeat those numbers by hand.
  const src = join(ROOT, 'npm/src');
  for (const f of readdirSync(src).filter((f) => f.endsWith('.js') && f != 'generated.js')) {
    const code = readFileSync(join(src, f), 'utf8').replace(/\/\/.*$/gm, '');
    for (const [what, re] of [
      ['the SEALED result', /(?:[=!]=|[<>]=?)\s*25[56]\b/],
      ['a close code', /\b44\d\d\b/],
      ['an outcome sentinel', /(?:[=!]=|[<>]=?)\s*-[12]\b/],
      ['a core code table', /event_too_large/],
      ['an event kind', /\.push\(\s*[0-4]\s*,/],
    ]) assert.doesNotMatch(code, re, `npm/src/${f} repeats ${what}; import it from ./generated.js`);
  }
});
