// Wire bytes on the visitor socket as they leave the browser: our SDK in
// Chromium against the relay in workerd, through a TCP proxy that counts what
// the page sends after the socket's upgrade (WebSocket framing, and each
// message as the browser's permessage-deflate compressed it; DevTools only
// shows messages decompressed, so this is where their size on the wire is).
// The HTTP rows of the bench count frame bodies; this counts more (the
// framing and mask, 6 to 8 bytes a message), never less.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createServer, connect } from 'node:net';
import { startCollector, replayInChromium } from './replay.mjs';
import { DIST, REPLAY } from './eventstream.mjs';
import { startRelay, WRITE_KEY } from '../tests/support/relay.mjs';

const PAGE = (endpoint) => `<!doctype html><meta charset="utf-8"><title>eventstream socket bench</title>
<script type="module">
import { init } from '/sdk/index.js';
const es = await init({ writeKey: '${WRITE_KEY}', endpoint: '${endpoint}', autocapture: false });
${REPLAY}
// One visitor, one socket: reset() would open another for the next visitor.
window.__endVisit = () => {};
window.__finish = () => es.flush();
while (!es.stats().connected) await new Promise((r) => setTimeout(r, 20));
window.__ready = true;
</script>`;

/**
 * A proxy to `target` (host:port) that counts, per WebSocket connection, the
 * bytes the client sends after its upgrade request: `bytes` (all of them),
 * `messages` (data frames), `compressed` (those with RSV1, the
 * permessage-deflate bit) and `extensions` (what the server agreed to).
 */
async function countingProxy(target) {
  const stats = { bytes: 0, messages: 0, compressed: 0, extensions: new Set() };
  const server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    let head = Buffer.alloc(0);
    let ws = null; // after the upgrade request: the frame parser's state
    client.on('data', (d) => {
      upstream.write(d);
      if (!ws) {
        head = Buffer.concat([head, d]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!/^upgrade: *websocket/im.test(head.subarray(0, end).toString())) return (ws = false);
        ws = { buf: Buffer.alloc(0), skip: 0 };
        d = head.subarray(end + 4);
      }
      if (ws === false) return;
      stats.bytes += d.length;
      parseFrames(ws, d, stats);
    });
    let answer = Buffer.alloc(0);
    upstream.on('data', (d) => {
      client.write(d);
      if (answer.length < 4096 && !answer.includes('\r\n\r\n')) {
        answer = Buffer.concat([answer, d]);
        const m = /^sec-websocket-extensions: *(.*)$/im.exec(answer.toString());
        if (m) stats.extensions.add(m[1].trim());
      }
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${server.address().port}`, stats, close: () => new Promise((r) => server.close(r)) };
}

/** Counts the data frames in `d` (RFC 6455 section 5.2; client frames are masked). */
function parseFrames(ws, d, stats) {
  ws.buf = Buffer.concat([ws.buf, d]);
  for (;;) {
    if (ws.skip) {
      const n = Math.min(ws.skip, ws.buf.length);
      ws.skip -= n;
      ws.buf = ws.buf.subarray(n);
      if (ws.skip) return;
    }
    const b = ws.buf;
    if (b.length < 2) return;
    let len = b[1] & 0x7f;
    let at = 2;
    if (len === 126) {
      if (b.length < 4) return;
      len = b.readUInt16BE(2);
      at = 4;
    } else if (len === 127) {
      if (b.length < 10) return;
      len = Number(b.readBigUInt64BE(2));
      at = 10;
    }
    if (b[1] & 0x80) at += 4;
    if (b.length < at) return;
    const opcode = b[0] & 0x0f;
    if (opcode === 1 || opcode === 2) {
      stats.messages += 1;
      if (b[0] & 0x40) stats.compressed += 1;
    }
    ws.buf = b.subarray(at);
    ws.skip = len;
  }
}

/**
 * Replays `visits` through the SDK with its trigger socket open, as one
 * visitor on one socket: calls `paced` ms apart, visits `gap` ms apart (each
 * visit's calls back to back, `paced` 0, make a frame of their own).
 * Resolves with the socket's counts and the events the relay stored.
 */
export async function runSocketWire(visits, { paced = 0, gap = 0 } = {}) {
  const files = {};
  const page = await startCollector({}, files);
  const relay = await startRelay({ partitions: 1, origins: [page.url], vars: { RATE_LIMIT_PER_SEC: '0' } });
  const u = new URL(relay.url);
  const proxy = await countingProxy({ host: u.hostname, port: Number(u.port) });
  files['/'] = ['text/html', PAGE(proxy.url)];
  files['/sdk/index.js'] = ['text/javascript', await readFile(join(DIST, 'index.js'))];
  files['/sdk/eventstream.wasm'] = ['application/wasm', await readFile(join(DIST, 'eventstream.wasm'))];
  files['/sdk/socket.js'] = ['text/javascript', await readFile(join(DIST, 'socket.js'))];
  const total = visits.reduce((n, v) => n + v.length, 0);
  let events = 0;
  try {
    await replayInChromium(`${page.url}/`, visits, {
      paced,
      gap,
      settleMs: 15000,
      isDone: async () => (events = (await relay.readAll('events')).length) >= total,
    });
    return { ...proxy.stats, extensions: [...proxy.stats.extensions].join(', '), events, total };
  } finally {
    await proxy.close();
    await relay.stop();
    await page.close();
  }
}
