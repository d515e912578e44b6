// Where the SDK's wire bytes go, and what a change of compression would buy:
// the frames of the back-to-back replay (as the SDK sent them), re-encoded
// plain by the real codec, then deflated here (node's zlib, the same
// deflate-raw as the browser's CompressionStream) with parts of each frame
// left out, with a preset dictionary, and as the trigger socket's
// permessage-deflate compresses them (each visit on a socket of its own).
//
// Usage: node bench/wire.mjs [frames.hex]
// frames.hex: one hex frame per line, as `BENCH_DUMP_FRAMES=frames.hex
// scripts/bench` keeps them. Without it, the corpus is replayed in Chromium
// first (npm/dist built, as scripts/bench builds it).
import { readFileSync } from 'node:fs';
import { deflateRawSync, createDeflateRaw, constants } from 'node:zlib';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeFrames, encodeFrames } from '../tests/support/frames.mjs';

const here = dirname(fileURLToPath(import.meta.url));

async function sentFrames() {
  const file = process.argv[2];
  if (file) return readFileSync(file, 'utf8').trim().split('\n').map((h) => Buffer.from(h, 'hex'));
  const { loadVisits } = await import('./replay.mjs');
  const { runEventstream } = await import('./eventstream.mjs');
  const dump = join(here, '..', 'target', 'wire-frames.hex');
  process.env.BENCH_DUMP_FRAMES = dump;
  await runEventstream(await loadVisits(join(here, '..', 'examples', 'corpus', 'clickstream.jsonl')));
  return readFileSync(dump, 'utf8').trim().split('\n').map((h) => Buffer.from(h, 'hex'));
}

/** Bytes before the payload: version, flags, producer id, sequence varint. */
function headerLength(f) {
  let i = 10;
  while (f[i] & 0x80) i++;
  return i + 1;
}

/** A frame's size as sent when its payload is deflated (or plain, when smaller). */
function wireSize(plain, opts = {}) {
  const h = headerLength(plain);
  const payload = plain.subarray(h, plain.length - 4);
  const deflated = deflateRawSync(payload, { level: 6, ...opts }).length;
  return h + Math.min(deflated, payload.length) + 4;
}

const sent = await sentFrames();
const decoded = decodeFrames(sent);
const events = decoded.reduce((n, f) => n + f.events.length, 0);
const perEvent = (frames, opts) => encodeFrames(frames).reduce((n, f) => n + wireSize(Buffer.from(f), opts), 0) / events;
const variant = (fn) => perEvent(decoded.map((f) => fn(structuredClone(f))));

const rows = [];
const row = (name, v) => rows.push([name, v]);
row('as sent', sent.reduce((n, f) => n + f.length, 0) / events);
const all = perEvent(decoded);
row('re-encoded, deflated here', all);
row('  without properties', variant((f) => (f.events.forEach((e) => (e.properties = {})), f)));
const noContext = variant((f) => ((f.context = { anonymous_id: '' }), f));
row('  without the frame context', noContext);
row('  without events', variant((f) => ((f.events = []), f)));
row('  without events or context', variant((f) => ((f.events = []), (f.context = { anonymous_id: '' }), f)));

// A preset dictionary: the last N bytes of the plain payloads of the first
// half of the frames, applied to the second half (trained on past traffic,
// used on later traffic), with dynamic or fixed Huffman codes.
const plain = encodeFrames(decoded).map((f) => Buffer.from(f));
const half = plain.length >> 1;
const laterEvents = decoded.slice(half).reduce((n, f) => n + f.events.length, 0);
const laterPerEvent = (opts) => plain.slice(half).reduce((n, f) => n + wireSize(f, opts), 0) / laterEvents;
const history = Buffer.concat(plain.slice(0, half).map((f) => f.subarray(headerLength(f), f.length - 4)));
row('second half, no dictionary', laterPerEvent({ level: 9 }));
for (const size of [2048, 4096, 8192]) {
  const dictionary = history.subarray(history.length - size);
  row(`  dictionary of ${size} B, dynamic codes`, laterPerEvent({ level: 9, dictionary }));
  row(`  dictionary of ${size} B, fixed codes`, laterPerEvent({ level: 9, dictionary, strategy: constants.Z_FIXED }));
}

// The trigger socket: permessage-deflate with context takeover (RFC 7692)
// is one raw deflate stream per socket, each message flushed with
// Z_SYNC_FLUSH and its trailing 00 00 ff ff left out. Each visit's events in
// frames of n, one socket per visit; the frames plain (what the SDK sends on
// such a socket) or deflated by the SDK first (what it sent before).
async function socketBytes(messages) {
  const d = createDeflateRaw({ level: 6, windowBits: 15 });
  let total = 0;
  for (const m of messages) {
    let n = 0;
    const count = (c) => (n += c.length);
    d.on('data', count);
    d.write(m);
    await new Promise((r) => d.flush(constants.Z_SYNC_FLUSH, r));
    d.off('data', count);
    total += n - 4;
  }
  d.end();
  return total;
}
const sdkDeflated = (f) => {
  if (f.length < 400) return f;
  const h = headerLength(f);
  const z = Buffer.concat([f.subarray(0, h), deflateRawSync(f.subarray(h, f.length - 4)), f.subarray(f.length - 4)]);
  return z.length < f.length ? z : f;
};
for (const n of [1, 5]) {
  const split = decoded.map((f) => Array.from({ length: Math.ceil(f.events.length / n) }, (_, i) => ({ ...f, sequence: i, events: f.events.slice(i * n, i * n + n) })));
  const encoded = encodeFrames(split.flat()).map((f) => Buffer.from(f));
  let plainBytes = 0;
  let deflatedBytes = 0;
  let k = 0;
  for (const visit of split) {
    const frames = encoded.slice(k, (k += visit.length));
    plainBytes += await socketBytes(frames);
    deflatedBytes += await socketBytes(frames.map(sdkDeflated));
  }
  row(`socket, frames of ${n}, sent plain`, plainBytes / events);
  row(`socket, frames of ${n}, deflated by the SDK`, deflatedBytes / events);
}

console.log(`${sent.length} frames, ${events} events; bytes per event:`);
for (const [name, v] of rows) console.log(`  ${name.padEnd(42)} ${v.toFixed(2)}`);
