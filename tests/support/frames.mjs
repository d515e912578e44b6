// Frames for tests, made and read by the real codec through the CLI
// (`eventstream frame encode|decode --hex`), so tests never re-implement it
// (bundles, two bytes and varint lengths around frames, are split here).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { inflateRawSync, deflateRawSync } from 'node:zlib';
import { ROOT } from './relay.mjs';

const CLI = join(ROOT, 'target', 'debug', 'eventstream');

function cli(args, input) {
  if (!existsSync(CLI)) execFileSync('cargo', ['build', '-q', '-p', 'eventstream-cli'], { cwd: ROOT, stdio: 'inherit' });
  return execFileSync(CLI, args, { input, maxBuffer: 1 << 28 }).toString();
}

/** Encodes frames given in the CLI's JSON shape; returns one Uint8Array per frame. */
export function encodeFrames(frames) {
  const hex = cli(['frame', 'encode', '--hex'], frames.map((f) => JSON.stringify(f)).join('\n') + '\n');
  return hex.trim().split('\n').map((h) => new Uint8Array(Buffer.from(h, 'hex')));
}

/** Decodes frames (Uint8Array or Buffer each) to the CLI's JSON shape ({error} for a bad one). */
export function decodeFrames(frames) {
  if (frames.length === 0) return [];
  let out;
  try {
    out = cli(['frame', 'decode', '--hex'], frames.map((f) => Buffer.from(f).toString('hex')).join('\n') + '\n');
  } catch (e) {
    out = e.stdout.toString(); // exit 1 when some frame is bad; its line says why
  }
  return out.trim().split('\n').map((l) => JSON.parse(l));
}

let seq = 0n;
/** A frame in the CLI's JSON shape: one visitor's events, sensible context. */
export function makeFrame({ visitor, events, producerId, sequence = 0, userId = null, origin = 'http://127.0.0.1' }) {
  const now = Date.now();
  return {
    producer_id: String(producerId ?? BigInt(Date.now()) * 1000n + seq++),
    sequence,
    sent_at: now,
    context: { anonymous_id: visitor, user_id: userId, session_id: 1, origin, referrer: '', locale: 'en-US', screen_width: 1440, screen_height: 900, timezone: 'Europe/Berlin', library: 'eventstream-tests/0', campaign: {} },
    events: events.map((e, i) => ({ kind: e.kind ?? 'track', name: e.name ?? '', time: e.time ?? now - (events.length - i), properties: e.properties ?? {} })),
  };
}

/**
 * The frames of a bundle (`POST /v1/bundles`, broker-core's FORMAT.md
 * "Bundles"): version 1, flags (1: the rest is deflate-raw), then each frame
 * after its varint length. Throws on a malformed bundle.
 */
export function splitBundle(bytes) {
  const b = Buffer.from(bytes);
  if (b[0] !== 1 || b.length < 2 || b[1] > 1) throw new Error(`not a bundle: ${b.subarray(0, 2).toString('hex')}`);
  const rest = b[1] & 1 ? inflateRawSync(b.subarray(2)) : b.subarray(2);
  const frames = [];
  for (let at = 0; at < rest.length; ) {
    let len = 0;
    for (let shift = 0; ; shift += 7) {
      const x = rest[at++];
      len += (x & 0x7f) * 2 ** shift;
      if (!(x & 0x80)) break;
    }
    if (!len || at + len > rest.length) throw new Error(`bad frame length ${len} in a bundle`);
    frames.push(rest.subarray(at, at + len));
    at += len;
  }
  return frames;
}

/** A bundle of `frames` (see `splitBundle`), the rest deflated with `deflate`. */
export function makeBundle(frames, { deflate = false } = {}) {
  const parts = [];
  for (const f of frames) {
    const len = [];
    let n = f.length;
    for (; n > 127; n >>>= 7) len.push((n & 127) | 128);
    len.push(n);
    parts.push(Buffer.from(len), Buffer.from(f));
  }
  const rest = Buffer.concat(parts);
  return new Uint8Array(Buffer.concat([Buffer.from([1, deflate ? 1 : 0]), deflate ? deflateRawSync(rest) : rest]));
}
