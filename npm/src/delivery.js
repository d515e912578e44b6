// Delivery: each producer's frames go one at a time, in sequence order, on
// the visitor socket when it is open and by fetch otherwise; the core says
// what an answer means and when to try again (sdk/src/policy.rs). Payloads
// are deflated once by the browser; at unload what is left goes by beacon.
//
// Client fields this module keeps: idle (flush() promises), soon,
// inflightKeepalive.
import { payload, seal, outcome } from './wasm.js';
import { ACKED, REJECTED } from './generated.js';
import { error, store, b64, safe, report } from './util.js';
import { drain, save, rehome, finishOrphan } from './queue.js';
import { sock, SOCKET_CLOSED } from './trigger.js';

/** Queues and persists what waits and starts sending, in a task of its own. */
export function later(c) {
  c.soon ||= setTimeout(() => safe(c, () => {
    c.soon = 0;
    if (c.dead) return;
    drain(c, true);
    save(c);
    kick(c);
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

/** Sends one producer's frames one at a time, in sequence order. */
async function pump(c, p) {
  if (p.busy || p.timer || !p.frames.length || c.dead || c.off) return;
  p.busy = true;
  const f = p.frames[0];
  let status = 0;
  let code = '';
  let after = 0;
  let plan;
  // Events may still be joining it: seal it with them before it goes.
  if (f == c.reopened) c.cut(true);
  try {
    if (!f.packed) await compress(c, f, p);
    f.sent = true;
    if (c.open && c.ws) {
      [status, code, after, plan] = await sock.sendSocket(c, p, f);
    } else {
      // keepalive requests share a 64 KB budget per page.
      const keepalive = c.inflightKeepalive + f.bytes.length <= 60000;
      if (keepalive) c.inflightKeepalive += f.bytes.length;
      f.keepalive = keepalive;
      try {
        const res = await fetch(c.url + '/v1/frames?key=' + c.q, { method: 'POST', body: f.bytes, keepalive, credentials: 'omit' });
        status = res.status;
        after = (Number(res.headers.get('Retry-After')) || 0) * 1000;
        // The body of an acknowledgement only matters to debug logging
        // (the relay's tracking-plan counts): not read otherwise.
        if (status >= 400 || c.o.debug) {
          const body = (await res.json().catch(() => null)) || {};
          if (status >= 400) code = body.code || '';
          plan = body.plan;
        }
      } finally {
        f.keepalive = false;
        if (keepalive) c.inflightKeepalive -= f.bytes.length;
      }
    }
  } catch (e) {
    c.log('network error', e && e.message);
  }
  p.busy = false;
  if (c.off || c.dead || p.frames[0] != f) return settle(c);
  if (status == SOCKET_CLOSED) return pump(c, p);
  if (status == 409 && code == 'sequence_gap' && (p.dropped || f.attempt >= 3)) {
    // An earlier frame of this producer is not stored and this queue does
    // not hold it: dropped when the queue was full, or lost with a page.
    // A late copy (a dying page's keepalive or beacon) gets some seconds
    // of backoff to arrive; after that the gap never fills. The relay just
    // said p's frames are not stored, so they can move to a new producer.
    const q = rehome(c, p, p.frames.slice());
    if (p.hex == c.producer) {
      c.core.set_producer(q.lo, q.hi);
      c.producer = q.hex;
    }
    pump(c, q);
    return settle(c);
  }
  // ACKED and REJECTED are negative (a Rust test says so), waits are not.
  const d = outcome(status, code, f.attempt, after, Math.random());
  c.log('sent', p.hex, f.seq, 'status', status, code, d < 0 ? (d == ACKED ? 'acked' : 'rejected') : 'retry in ' + Math.round(d) + ' ms');
  // The relay's tracking-plan verdicts on this frame's events (debug only;
  // the field is absent without a plan or with nothing to report).
  if (plan && (plan.flagged || plan.quarantined || plan.violations)) {
    c.log('plan', p.hex, f.seq, 'flagged', plan.flagged, 'quarantined', plan.quarantined, 'violations', plan.violations);
  }
  if (d < 0) {
    p.frames.shift();
    store.del(f.key);
    if (d == REJECTED) report(c, error(code || 'http_' + status, 'the relay refused a frame', { status, producer: p.hex, sequence: f.seq }));
    if (!p.frames.length && p.hex != c.producer) finishOrphan(c, p);
  } else {
    f.attempt++;
    p.timer = setTimeout(() => {
      p.timer = 0;
      pump(c, p);
    }, d);
  }
  pump(c, p);
  settle(c);
}

/** Deflates a frame's payload once, when the browser can and it pays off. */
async function compress(c, f, p) {
  // On the socket, frames go plain when the browser deflates the messages
  // (permessage-deflate, which workerd and Cloudflare's edge agree to) with
  // the socket's earlier messages as the window: the context, keys and URLs
  // that every frame repeats then cost almost nothing, where a frame
  // deflated here is bytes that window cannot match (frames of 5 events of
  // the reference corpus: 36 B/event on the wire sent plain, 64 deflated
  // here). Without it, below ~400 bytes, deflate saves a few bytes and
  // costs a millisecond or more (the stream is async): firings should come
  // back fast. Decided again at each attempt: one that falls back to HTTP
  // (the socket dropped) deflates it then.
  if (c.open && (c.wsDeflate || f.bytes.length < 400)) return;
  f.packed = true;
  if (c.o.compress === false || typeof CompressionStream == 'undefined') return;
  const plain = f.bytes;
  const body = new Blob([payload(plain)]).stream().pipeThrough(new CompressionStream('deflate-raw'));
  const z = seal(plain, new Uint8Array(await new Response(body).arrayBuffer()));
  // The frame may have been rehomed meanwhile: its bytes are then newer.
  if (z && z.length < plain.length && f.bytes == plain) {
    f.bytes = z;
    if (!c.off && !f.dirty && p.frames.includes(f)) store.set(f.key, b64(z));
  }
}

/** Page going away: seal everything and hand it to sendBeacon. */
export function unload(c) {
  if (c.off || c.dead) return;
  c.cut(true);
  save(c);
  if (!navigator.sendBeacon) return;
  for (const p of [...c.producers.values()]) {
    for (const [i, f] of p.frames.slice().entries()) {
      // On a keepalive fetch: that request outlives the page.
      if (f.keepalive) continue;
      // A producer's frames must reach the relay in order, one at a time:
      // the head goes as is when nothing of its producer is in the air.
      if (i == 0 && !p.busy) beacon(c, f);
      // Later frames that never went out can take a fresh producer id of
      // their own, so they cannot overtake their old producer's head.
      else if (!f.sent) beacon(c, rehome(c, p, [f]).frames[0]);
    }
  }
}

function beacon(c, f) {
  f.sent = true;
  c.log('beacon', f.key, navigator.sendBeacon(c.url + '/v1/frames?key=' + c.q, f.bytes));
}
