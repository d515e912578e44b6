// Test harness for the SDK in Chromium: installs the built package into a
// throwaway project, serves pages from one origin and a recording stand-in
// for the relay from another (CORS like the real one), with fault injection,
// and decodes recorded frames with the `eventstream` CLI.
import { createServer } from 'node:http';
import { execFileSync, execSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, existsSync, readdirSync } from 'node:fs';
import { join, dirname, extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { before, after } from 'node:test';
import { WebSocketServer } from 'ws';
import { chromium } from 'playwright-core';
import { splitBundle } from '../support/frames.mjs';
import { tempDir } from '../support/tmp.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');
const DIST = join(ROOT, 'npm/dist');
const CLI = join(ROOT, 'target/debug/eventstream');

/** Builds the package if it is not built yet (scripts/test builds it first). */
export function ensureBuilt() {
  if (!existsSync(join(DIST, 'eventstream.wasm'))) execFileSync(join(ROOT, 'npm/build.sh'), { stdio: 'inherit' });
  if (!existsSync(CLI)) execFileSync('cargo', ['build', '--quiet', '-p', 'eventstream-cli'], { cwd: ROOT, stdio: 'inherit' });
}

let installed;
/** `npm pack` + `npm install` of the package into a fresh project; returns its directory. */
export function installPackage() {
  if (installed) return installed;
  ensureBuilt();
  const dir = tempDir('es-sdk-app-');
  // A cache of its own: test files run in parallel processes, and npm's
  // shared cache does not like concurrent writers.
  const cache = join(dir, '.npm-cache');
  const tgz = execFileSync('npm', ['pack', DIST, '--pack-destination', dir, '--silent', '--cache', cache], { encoding: 'utf8' }).trim().split('\n').pop();
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'throwaway-app', private: true, type: 'module' }));
  execSync(`npm install --offline --no-audit --no-fund --silent --cache ${cache} ./${tgz}`, { cwd: dir, stdio: 'inherit' });
  installed = dir;
  return dir;
}

const TYPES = { '.js': 'text/javascript', '.mjs': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html', '.json': 'application/json' };

/**
 * Serves `/pkg/*` from the installed package and `/page.html` (the SDK
 * started with `window.ES_OPTIONS` merged into the defaults). Returns
 * { url, close }.
 */
export async function startSite(appDir, relayUrl, { isolated = false } = {}) {
  // Cross-origin isolation gives performance.now() 5 us resolution instead of 100 us.
  const iso = isolated ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
  const pkg = join(appDir, 'node_modules/@eventstream/sdk');
  const server = createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (u.pathname.startsWith('/pkg/')) {
      const file = join(pkg, u.pathname.slice(5));
      if (!file.startsWith(pkg) || !existsSync(file)) return res.writeHead(404).end();
      res.writeHead(200, { 'Content-Type': TYPES[extname(file)] || 'application/octet-stream', ...iso });
      return res.end(readFileSync(file));
    }
    // Any other path is the app (SPA routes land here too).
    res.writeHead(200, { 'Content-Type': 'text/html', ...iso });
    res.end(page(relayUrl, u.searchParams.get('opts') || '{}'));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, close: () => new Promise((r) => server.close(r)) };
}

function page(relayUrl, opts) {
  return `<!doctype html><html><head><title>Shop</title></head><body>
<nav><a id="home" href="/">Home</a> <a href="/products/p-1" class="product">Product <b>one</b></a></nav>
<button data-track="add-to-cart">Add to cart</button>
<div><button>Plain</button><button>Second</button></div>
<form id="checkout" name="checkout" action="/done"><input name="email" value="secret@example.com">
<input name="card" value="4111111111111111"><select name="c"><option>x</option></select>
<input type="hidden" name="h" value="1"><button type="submit">Pay</button></form>
<script type="module">
import { init } from '/pkg/index.js';
window.errors = [];
window.firings = [];
const opts = Object.assign({ writeKey: 'wk_test', endpoint: ${JSON.stringify(relayUrl)},
  onError: (e) => window.errors.push({ code: e.code, message: e.message, status: e.status }) }, ${opts}, window.ES_OPTIONS || {});
try { window.es = await init(opts); } catch (e) { window.initError = { code: e.code, message: e.message }; }
window.ready = true;
</script></body></html>`;
}

/** Reads the fixed header: producer id (decimal string) and sequence. */
export function peek(buf) {
  const producer = buf.readBigUInt64LE(2).toString();
  let seq = 0n;
  let shift = 0n;
  for (let i = 10; i < buf.length; i++) {
    seq |= BigInt(buf[i] & 0x7f) << shift;
    if (!(buf[i] & 0x80)) break;
    shift += 7n;
  }
  return { producer, sequence: Number(seq), flags: buf[1] };
}

/**
 * The recording relay. `plan` is a list of faults consumed one per frame
 * (in a bundle, each of its frames): { status, code, retryAfter } answers
 * with that error (429 answers a whole bundle, as the relay's rate limit
 * does), 'drop' destroys the connection (a network error). Bundles
 * (POST /v1/bundles) are split and each frame answered as if sent alone;
 * `noBundles = true` answers them 404, as a relay before bundles. `down = true` refuses
 * everything with a network error. `delay` (ms) holds every frame's answer,
 * over HTTP and the socket, as a slow but healthy relay would. `verdicts`
 * ({ flagged, quarantined, violations }) goes into every ack as `plan`, as
 * the relay's tracking plan reports them. `wsDeflate = true` agrees to
 * permessage-deflate on the sockets opened from then on (`wsExtensions`:
 * what the last one negotiated). Dedup on (producer, sequence) like the
 * real relay; a first-seen producer is accepted at any sequence.
 */
export async function startRelay() {
  const r = {
    requests: [], // every frame received: { producer, sequence, bytes, via, bundled, answer }
    bundles: [], // every bundle request: { bytes, deflated, via }
    noBundles: false, // answer POST /v1/bundles 404, as a relay before bundles
    stored: [], // frames the relay kept, once each
    plan: [],
    down: false,
    next: new Map(), // producer -> next sequence
    sockets: new Set(),
    firings: new Map(), // visitor -> [{ offset, firing, acked }]
    acks: [],
    offset: 0,
    connects: 0,
  };
  const cors = (req) => ({ 'Access-Control-Allow-Origin': req.headers.origin || '*', Vary: 'Origin', 'Access-Control-Expose-Headers': 'Retry-After' });
  const json = (res, req, status, body, extra) => {
    res.writeHead(status, { 'Content-Type': 'application/json', ...cors(req), ...extra });
    res.end(JSON.stringify(body));
  };
  r.receive = (bytes, via, bundled = false) => {
    const h = peek(bytes);
    const rec = { ...h, bytes, via, bundled, t: Date.now() };
    r.requests.push(rec);
    const fault = r.plan.shift();
    if (fault === 'drop') return (rec.answer = 'drop');
    if (fault) return (rec.answer = { status: fault.status, body: { code: fault.code || 'internal', message: 'injected' }, retryAfter: fault.retryAfter });
    const next = r.next.get(h.producer);
    if (next !== undefined && h.sequence < next) return (rec.answer = { status: 409, body: { code: 'stale_sequence', message: 'stored before' } });
    if (next !== undefined && h.sequence > next) return (rec.answer = { status: 409, body: { code: 'sequence_gap', message: 'gap' } });
    r.next.set(h.producer, h.sequence + 1);
    r.stored.push(rec);
    // `verdicts`: the tracking-plan counts the relay adds to an ack when it has a plan.
    return (rec.answer = { status: 200, body: { partition: 0, base_offset: r.stored.length, count: 1, duplicate: false, ...(r.verdicts && { plan: r.verdicts }) } });
  };
  const server = createServer((req, res) => {
    const u = new URL(req.url, 'http://x');
    if (req.method == 'OPTIONS') {
      res.writeHead(204, { ...cors(req), 'Access-Control-Allow-Methods': 'GET, POST', 'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '86400' });
      return res.end();
    }
    if (r.down) return req.socket.destroy();
    if (u.pathname == '/v1/token') {
      const v = u.searchParams.get('visitor');
      return json(res, req, 200, { visitor: v, token: 'tok-' + v, partition: 0 });
    }
    if (u.pathname == '/v1/bundles' && req.method == 'POST' && !r.noBundles) {
      // As the relay: each frame of the bundle appended as if sent alone, one
      // result each; a dropped frame drops the connection.
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (u.searchParams.get('key') != 'wk_test') return json(res, req, 401, { code: 'unknown_write_key', message: 'no' });
        const body = Buffer.concat(chunks);
        const via = req.headers['sec-fetch-mode'] == 'no-cors' ? 'beacon' : 'http';
        r.bundles.push({ bytes: body.length, deflated: body[1] == 1, via });
        const frames = splitBundle(body).map((f) => Buffer.from(f));
        // The rate limit answers for the whole bundle, as the relay's does.
        if (r.plan[0]?.status == 429) {
          const { retryAfter } = r.plan.shift();
          for (const f of frames) r.requests.push({ ...peek(f), bytes: f, via, bundled: true, t: Date.now(), answer: { status: 429 } });
          return json(res, req, 429, { code: 'rate_limited', message: 'injected' }, retryAfter ? { 'Retry-After': String(retryAfter) } : {});
        }
        const answers = frames.map((f) => r.receive(f, via, true));
        if (answers.includes('drop')) return req.socket.destroy();
        const answer = () => json(res, req, 200, { results: answers.map((a) => ({ status: a.status, ...a.body })) });
        if (r.delay) setTimeout(answer, r.delay);
        else answer();
      });
      return;
    }
    if (u.pathname == '/v1/frames' && req.method == 'POST') {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => {
        if (u.searchParams.get('key') != 'wk_test') return json(res, req, 401, { code: 'unknown_write_key', message: 'no' });
        const a = r.receive(Buffer.concat(chunks), req.headers['sec-fetch-mode'] == 'no-cors' ? 'beacon' : 'http');
        if (a == 'drop') return req.socket.destroy();
        const answer = () => json(res, req, a.status, a.body, a.retryAfter ? { 'Retry-After': String(a.retryAfter) } : {});
        if (r.delay) setTimeout(answer, r.delay);
        else answer();
      });
      return;
    }
    json(res, req, 404, { code: 'not_found', message: 'no route' });
  });
  // `ws` agrees to permessage-deflate only when told; `wsDeflate` makes
  // this relay agree, as workerd and Cloudflare's edge do.
  const wss = new WebSocketServer({ noServer: true });
  const wssDeflate = new WebSocketServer({ noServer: true, perMessageDeflate: true });
  server.on('upgrade', (req, sock, head) => {
    const u = new URL(req.url, 'http://x');
    const m = /^\/v1\/visitors\/([^/]+)\/ws$/.exec(u.pathname);
    if (r.down || !m) return sock.destroy();
    const visitor = decodeURIComponent(m[1]);
    (r.wsDeflate ? wssDeflate : wss).handleUpgrade(req, sock, head, (ws) => {
      if (u.searchParams.get('token') != 'tok-' + visitor) return ws.close(4401, 'bad token');
      r.connects++;
      r.wsExtensions = ws.extensions;
      ws.visitor = visitor;
      r.sockets.add(ws);
      ws.on('close', () => r.sockets.delete(ws));
      ws.on('message', (data, binary) => {
        if (binary) {
          const a = r.receive(Buffer.from(data), 'ws');
          const h = peek(Buffer.from(data));
          if (a == 'drop') return ws.terminate();
          const wait = r.wsDelay || r.delay;
          const send = (m) => (wait ? setTimeout(() => ws.readyState == 1 && ws.send(m), wait) : ws.send(m));
          if (a.status == 200 && r.echoFiring) setImmediate(() => r.fire(visitor));
          if (a.status == 200) send(JSON.stringify({ type: 'appended', producer_id: h.producer, sequence: h.sequence, base_offset: a.body.base_offset, count: 1, duplicate: false, plan: a.body.plan }));
          // As the relay answers: the status the same failure has over HTTP.
          else send(JSON.stringify({ type: 'error', producer_id: h.producer, sequence: h.sequence, code: a.body.code, status: a.status, message: 'x' }));
          return;
        }
        const msg = JSON.parse(String(data));
        if (msg.type == 'ack') {
          r.acks.push(...msg.offsets);
          for (const f of r.firings.get(visitor) || []) if (msg.offsets.includes(f.offset)) f.acked = true;
        }
      });
      for (const f of r.firings.get(visitor) || []) if (!f.acked) ws.send(JSON.stringify({ type: 'firing', offset: f.offset, firing: f.firing }));
    });
  });
  /** Stores a firing for the visitor and pushes it to its open sockets. */
  r.fire = (visitor, trigger = 'cart-rescue', action = { type: 'banner', payload: { text: 'Come back!' } }) => {
    const offset = r.offset++;
    const firing = { firing_id: 'f-' + offset, trigger, visitor, time: Date.now(), action };
    if (!r.firings.has(visitor)) r.firings.set(visitor, []);
    r.firings.get(visitor).push({ offset, firing, acked: false });
    for (const ws of r.sockets) if (ws.visitor == visitor) ws.send(JSON.stringify({ type: 'firing', offset, firing }));
    return { offset, ...firing };
  };
  /** Closes every visitor socket from the server side (a relay restart). */
  r.dropSockets = () => {
    for (const ws of r.sockets) ws.terminate();
  };
  /** Closes every visitor socket with a close code, as the relay refuses one. */
  r.closeSockets = (code) => {
    for (const ws of r.sockets) ws.close(code, 'refused');
  };
  await new Promise((res) => server.listen(0, '127.0.0.1', res));
  r.url = `http://127.0.0.1:${server.address().port}`;
  r.close = () => {
    for (const ws of r.sockets) ws.terminate();
    return new Promise((res) => server.close(res));
  };
  /** Forgets everything recorded and every fault (not the dedup state). */
  r.reset = () => {
    r.requests.length = 0;
    r.bundles.length = 0;
    r.noBundles = false;
    r.stored.length = 0;
    r.plan.length = 0;
    r.acks.length = 0;
    r.down = false;
    r.wsDelay = 0;
    r.delay = 0;
    r.echoFiring = false;
    r.verdicts = undefined;
    r.wsDeflate = false;
  };
  /** Decoded frames the relay stored (via the CLI), in arrival order. */
  r.decoded = () => decode(r.stored.map((x) => x.bytes));
  r.events = () => r.decoded().flatMap((f) => f.events.map((e) => ({ ...e, context: f.context })));
  return r;
}

/** Decodes frames with `eventstream frame decode --hex`. */
export function decode(frames) {
  if (!frames.length) return [];
  const input = frames.map((b) => b.toString('hex')).join('\n') + '\n';
  let out;
  try {
    out = execFileSync(CLI, ['frame', 'decode', '--hex'], { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], maxBuffer: 1 << 30 });
  } catch (e) {
    throw new Error('eventstream frame decode failed: ' + e.stderr + '\n' + input);
  }
  return out.trim().split('\n').map((l) => JSON.parse(l));
}

export const FLAGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];

/** Chromium from Debian, never a downloaded one. */
export function launch() {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: FLAGS });
}

/** The stage of a test file (see `stage`): live bindings, set before its tests run. */
export let browser, relay, site;

/**
 * Sets the stage for the test file that calls it: the package installed, a
 * recording relay, the site and Chromium before its tests, all closed after
 * them. Tests read them through `browser`, `relay` and `site` above.
 */
export function stage() {
  before(async () => {
    const app = installPackage();
    relay = await startRelay();
    site = await startSite(app, relay.url);
    browser = await launch();
  });
  after(async () => {
    await browser?.close();
    await site?.close();
    await relay?.close();
  });
}

/** Opens the test page with SDK options and waits for init. */
export async function open(context, site, opts = {}, path = '/') {
  const p = await context.newPage();
  await p.goto(site.url + path + (path.includes('?') ? '&' : '?') + 'opts=' + encodeURIComponent(JSON.stringify(opts)));
  await p.waitForFunction(() => window.ready === true);
  return p;
}

/** Polls `fn` until it returns truthy or `ms` pass; returns its last value. */
export async function until(fn, ms = 10000) {
  const end = Date.now() + ms;
  let v;
  while (!(v = await fn()) && Date.now() < end) await new Promise((r) => setTimeout(r, 25));
  return v;
}


