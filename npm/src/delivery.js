// Delivery: each producer's frames go in sequence order, one request at a
// time, on the visitor socket when it is open and by fetch otherwise (the
// frames queued behind the head in the same request, as a bundle); the core
// says what an answer means and when to try again (sdk/src/policy.rs).
// Compression: a bundle is deflated as a whole by the browser
// (CompressionStream); on the socket the browser deflates each message with
// the earlier ones (permessage-deflate); a single frame to a relay without
// bundles goes plain. At unload what is left goes by beacon.
//
// Client fields this module keeps: idle (flush() promises), soon,
// inflightKeepalive, noBundles (the relay has no POST /v1/bundles).
import { outcome, coreSetProducer } from './wasm.js';
import { ACKED, REJECTED } from './generated.js';
import { error, store, safe, report } from './util.js';
import { drain, save, rehome, finishOrphan } from './queue.js';
import { sock, SOCKET_CLOSED } from './trigger.js';

const BUNDLES = '/v1/bundles';

/**
 * Queues and persists what waits and, in a task of its own, starts sending;
 * except over HTTP a frame sealed because the visitor changed (`linger`,
 * see index.js), which goes with the next flush of the events batching:
 * one request for both (a bundle), at the deadline its own events had.
 */
export function later(c) {
  c.soon ||= setTimeout(() => safe(c, () => {
    c.soon = 0;
    if (c.dead) return;
    drain(c, true);
    save(c);
    if (!c.linger || !c.timer || (c.wsOpen && c.ws)) kick(c);
  }));
}

/** Back online: waiting out a backoff would only delay delivery. */
export function retryNow(c) {
  for (const p of c.producers.values()) {
    clearTimeout(p.timer);
    p.timer = 0;
  }
  kick(c);
}

/** Sends what is ready, on every producer. */
export function kick(c) {
  for (const p of c.producers.values()) pump(c, p);
  settle(c);
}

/** Resolves flush() promises once nothing is ready to send right now. */
export function settle(c) {
  if (!c.idle.length) return;
  for (const p of c.producers.values()) if (p.busy || (p.frames.length && !p.timer && !c.off)) return;
  const done = c.idle;
  c.idle = [];
  for (const r of done) r();
}

/** Nothing of `p` in the air or waiting out a backoff, and something to send. */
const idle = (c, p) => !p.busy && !p.timer && p.frames.length && !c.dead && !c.off;

/**
 * Sends producers' frames, each producer's in sequence order and one
 * request at a time: on the socket the current producer's head frame; by
 * HTTP `p`'s frames with those of every other producer with nothing in the
 * air (but the current one while the socket is open), as one bundle (POST /v1/bundles: the relay appends each producer's frames in
 * order and answers each; deflated as a whole, they compress against each
 * other). Each frame's answer is handled as if it had gone alone.
 */
async function pump(c, p) {
  if (!idle(c, p)) return;
  // The socket is the current visitor's, whose frames are the current
  // producer's (a producer per visitor): its object refuses (421) a frame
  // of a visitor of another partition. Other producers' frames go by HTTP.
  const open = c.wsOpen && c.ws;
  const socket = open && p.hex == c.producerHex;
  const single = socket || c.noBundles;
  // Events may still be joining the current producer's newest frame (never
  // one that went out): once it is the head of its queue, whichever
  // producer this request is for, seal it with them before anything goes.
  if (c.reopened && c.producers.get(c.producerHex)?.frames[0] == c.reopened) c.cut(true);
  // Up to the relay's 100 frames, within one keepalive budget (a larger
  // frame goes alone); never the frame events are joining (it goes once
  // sealed, in a later request).
  const parts = [];
  const all = [];
  let size = 0;
  for (const q of c.producers.values()) {
    if (!idle(c, q) || (single ? q != p : open && q.hex == c.producerHex)) continue;
    const fs = [];
    for (const g of q.frames) {
      size += g.bytes.length + 3;
      if (all.length && (single || g == c.reopened || all.length == 100 || size > 60000)) break;
      fs.push(g);
      all.push(g);
    }
    if (!fs.length) break;
    q.busy = true;
    parts.push([q, fs]);
  }
  let answers = [];
  try {
    if (single) {
      const f = all[0];
      f.sent = true;
      answers = [await (socket ? sock.sendSocket(c, p, f) : post(c, '/v1/frames', f.bytes, all))];
    } else answers = await sendBundle(c, all);
  } catch (e) {
    c.say('network error', e && e.message);
  }
  let at = 0;
  for (const [q, fs] of parts) {
    answer(c, q, fs, answers.slice(at, (at += fs.length)));
    pump(c, q);
  }
  settle(c);
}

/** Handles the answers to `p`'s frames `fs`, each as if it had gone alone. */
function answer(c, p, fs, answers) {
  p.busy = false;
  if (c.off || c.dead || p.frames[0] != fs[0]) return;
  let wait = -1;
  for (const [i, g] of fs.entries()) {
    const [status = 0, code = '', after = 0, plan] = answers[i] || [];
    // The socket closed before the answer: not an attempt, it goes again.
    if (status == SOCKET_CLOSED) break;
    // Dropped meanwhile by the queue's bound.
    if (!p.frames.includes(g)) continue;
    if (status == 409 && code == 'sequence_gap' && g == p.frames[0] && (p.lost || g.attempt >= 3)) {
      // An earlier frame of this producer is not stored and this queue does
      // not hold it: dropped when the queue was full, or lost with a page.
      // A late copy (a dying page's keepalive or beacon) gets some seconds
      // of backoff to arrive; after that the gap never fills. The relay just
      // said p's frames are not stored, so they can move to a new producer.
      const q = rehome(c, p, p.frames.slice());
      if (p.hex == c.producerHex) {
        coreSetProducer(c.core, q.lo, q.hi);
        c.producerHex = q.hex;
      }
      return pump(c, q);
    }
    // ACKED and REJECTED are negative (a Rust test says so), waits are not.
    const d = outcome(status, code, g.attempt, after, Math.random());
    c.say('sent', p.hex, g.seq, 'status', status, code, d < 0 ? (d == ACKED ? 'acked' : 'rejected') : 'retry in ' + Math.round(d) + ' ms');
    // The relay's tracking-plan verdicts on this frame's events (debug only;
    // the field is absent without a plan or with nothing to report).
    if (plan && (plan.flagged || plan.quarantined || plan.violations)) {
      c.say('plan', p.hex, g.seq, 'flagged', plan.flagged, 'quarantined', plan.quarantined, 'violations', plan.violations);
    }
    if (d < 0) {
      p.frames.splice(p.frames.indexOf(g), 1);
      store.del(g.key);
      if (d == REJECTED) report(c, error(code || 'http_' + status, 'the relay refused a frame', { status, producer: p.hex, sequence: g.seq }));
    } else {
      g.attempt++;
      // The first frame left sets the wait before the next request.
      if (wait < 0) wait = d;
    }
  }
  if (!p.frames.length && p.hex != c.producerHex) finishOrphan(c, p);
  if (wait >= 0) {
    p.timer = setTimeout(() => {
      p.timer = 0;
      pump(c, p);
    }, wait);
  }
}

/**
 * POSTs `body` (the frames `fs`: one frame, or a bundle) to `path`;
 * resolves to [status, error code, Retry-After in ms, plan, the answer's
 * JSON]. keepalive requests share a 64 KB budget per page.
 */
async function post(c, path, body, fs) {
  const keepalive = c.inflightKeepalive + body.length <= 60000;
  if (keepalive) c.inflightKeepalive += body.length;
  for (const f of fs) f.keepalive = keepalive;
  try {
    const res = await fetch(c.base + path + '?key=' + c.q, { method: 'POST', body, keepalive, credentials: 'omit' });
    const status = res.status;
    // A frame's acknowledgement only matters to debug logging (the relay's
    // tracking-plan counts): not read otherwise.
    const j = (status >= 400 || c.o.debug || path == BUNDLES) && ((await res.json().catch(() => null)) || {});
    return [status, (status >= 400 && j.code) || '', (Number(res.headers.get('Retry-After')) || 0) * 1000, j.plan, j];
  } finally {
    for (const f of fs) f.keepalive = false;
    if (keepalive) c.inflightKeepalive -= body.length;
  }
}

/** The frames `fs` as one plain bundle: version 1, flags 0, each frame after its varint length. */
function bundleOf(fs) {
  const b = new Uint8Array(fs.reduce((n, f) => n + f.bytes.length + 3, 2));
  b[0] = 1;
  let at = 2;
  for (const f of fs) {
    f.sent = true;
    let n = f.bytes.length;
    for (; n > 127; n >>>= 7) b[at++] = (n & 127) | 128;
    b[at++] = n;
    b.set(f.bytes, at);
    at += f.bytes.length;
  }
  return b.subarray(0, at);
}

/**
 * Sends frames as one bundle, deflated after its flags byte when that is
 * smaller (relay/README.md, POST /v1/bundles). Resolves to each frame's
 * answer. A relay without bundles (404, 405) is not asked again: the
 * frames go again, alone.
 */
async function sendBundle(c, fs) {
  let bytes = bundleOf(fs);
  if (c.o.compress !== false && typeof CompressionStream != 'undefined') {
    const z = new Uint8Array(await new Response(new Blob([bytes.subarray(2)]).stream().pipeThrough(new CompressionStream('deflate-raw'))).arrayBuffer());
    if (z.length + 2 < bytes.length) {
      bytes = new Uint8Array(z.length + 2);
      bytes.set([1, 1]);
      bytes.set(z, 2);
    }
  }
  const a = await post(c, BUNDLES, bytes, fs);
  if (a[0] == 404 || a[0] == 405) {
    c.noBundles = true;
    a[0] = SOCKET_CLOSED;
  }
  const results = a[0] == 200 && a[4].results;
  return results && results.length == fs.length ? results.map((r) => [r.status, r.code, 0, r.plan]) : fs.map(() => a);
}

/** Page going away: seal everything and hand it to sendBeacon. */
export function unload(c) {
  if (c.off || c.dead) return;
  c.cut(true);
  save(c);
  if (!navigator.sendBeacon) return;
  for (const p of [...c.producers.values()]) {
    // A producer's frames must reach the relay in order: all in one beacon
    // (a bundle) when nothing of its producer is in the air; else those
    // that never went out, under a fresh producer id, so that they cannot
    // overtake what is in the air. (A relay without bundles gets them when
    // a later page claims them from storage.) A frame goes in one beacon at
    // most: a page leaving fires visibilitychange and then pagehide, and
    // each used to send the same frames again.
    let fs = p.frames.filter((f) => !f.beacon && !(p.busy ? f.sent : f.keepalive));
    if (!fs.length) continue;
    if (p.busy) rehome(c, p, fs);
    const sent = navigator.sendBeacon(c.base + BUNDLES + '?key=' + c.q, bundleOf(fs));
    if (sent) for (const f of fs) f.beacon = 1;
    c.say('beacon', fs.length, sent);
  }
}
