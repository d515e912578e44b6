// Helpers for the relay's tests: WebSocket clients that queue messages,
// frames with sensible defaults, and small request wrappers.
import WebSocket from 'ws';
import { WRITE_KEY, TEST_SECRETS, postAlone } from '../support/relay.mjs';
import { encodeFrames, makeFrame } from '../support/frames.mjs';

export { WRITE_KEY, TEST_SECRETS, encodeFrames, makeFrame, postAlone };

export const ORIGIN = 'http://127.0.0.1:8788';

/**
 * Opens a WebSocket and collects what it receives. `next(pred)` resolves
 * with the first message (parsed JSON) matching `pred` not taken yet;
 * `closed` resolves with {code, reason}.
 */
export function openSocket(url, { origin = ORIGIN, headers = {} } = {}) {
  const ws = new WebSocket(url, { origin, headers });
  const queue = [];
  const waiters = [];
  let closeInfo = null;
  const closeWaiters = [];
  ws.on('message', (data, isBinary) => {
    const msg = isBinary ? data : JSON.parse(data.toString());
    queue.push(msg);
    for (const w of [...waiters]) w.check();
  });
  ws.on('close', (code, reason) => {
    closeInfo = { code, reason: reason.toString() };
    for (const w of closeWaiters) w(closeInfo);
    for (const w of [...waiters]) w.check();
  });
  const opened = new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return {
    ws,
    opened,
    messages: queue,
    /** The next message matching `pred` (removed from the queue). */
    next(pred = () => true, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const waiter = {
          check() {
            const i = queue.findIndex(pred);
            if (i >= 0) {
              cleanup();
              resolve(queue.splice(i, 1)[0]);
            } else if (closeInfo) {
              cleanup();
              reject(new Error(`socket closed (${closeInfo.code} ${closeInfo.reason}) before the message; got ${JSON.stringify(queue)}`));
            }
          },
        };
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`no matching message in ${timeoutMs} ms; got ${JSON.stringify(queue)}`));
        }, timeoutMs);
        const cleanup = () => {
          clearTimeout(timer);
          const i = waiters.indexOf(waiter);
          if (i >= 0) waiters.splice(i, 1);
        };
        waiters.push(waiter);
        waiter.check();
      });
    },
    closed: new Promise((resolve) => {
      if (closeInfo) resolve(closeInfo);
      else closeWaiters.push(resolve);
    }),
    send(data) {
      ws.send(typeof data === 'string' || data instanceof Uint8Array ? data : JSON.stringify(data));
    },
    close() {
      ws.close();
    },
  };
}

/** The ws:// URL of a relay path. */
export function wsUrl(relay, path) {
  return relay.url.replace(/^http/, 'ws') + path;
}

/** POSTs one frame with the test write key; returns {status, body, headers}. */
export function postFrame(relay, bytes, { key = WRITE_KEY, headers = {} } = {}) {
  return relay.api('POST', `/v1/frames?key=${encodeURIComponent(key)}`, { body: bytes, headers: { 'content-type': 'text/plain', ...headers } });
}

/** The visitor token from the relay. */
export async function visitorToken(relay, visitor) {
  const r = await relay.api('GET', `/v1/token?key=${WRITE_KEY}&visitor=${encodeURIComponent(visitor)}`);
  if (r.status !== 200) throw new Error(`token: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body;
}

/** Opens the visitor's WebSocket with a valid token. */
export async function visitorSocket(relay, visitor, { origin = ORIGIN } = {}) {
  const { token } = await visitorToken(relay, visitor);
  const s = openSocket(wsUrl(relay, `/v1/visitors/${encodeURIComponent(visitor)}/ws?key=${WRITE_KEY}&token=${token}`), { origin });
  await s.opened;
  return s;
}

let producer = 1000n;
/** A fresh producer id (decimal string). */
export function newProducer() {
  producer += 1n;
  return String(BigInt(Date.now()) * 1000n + producer);
}

/** One encoded frame of `events` for `visitor`. */
export function frame(visitor, events, { producerId = newProducer(), sequence = 0, userId = null } = {}) {
  return encodeFrames([makeFrame({ visitor, events, producerId, sequence, userId })])[0];
}

/** The partition of `visitor`, as the relay computes it. */
export async function partitionOf(relay, visitor) {
  return (await visitorToken(relay, visitor)).partition;
}
