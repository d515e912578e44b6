// The persistent queue: sealed frames per producer, in memory and in
// localStorage (a page that closes or crashes leaves them for the next),
// within the maxBytes bound. This page's newest frame, while it waits behind
// another, takes the next events (Core.reopen) instead of new frames being
// queued: a slow relay then gets bigger frames, not a longer queue. Frames
// are dropped only when the bound or the storage quota is reached, which a
// relay that answers does not let happen at the rates in the README. Frames
// of pages that are gone (orphans) are claimed under a Web Lock; frames that
// can no longer be stored under their producer move to a fresh one (rehome).
//
// Client fields this module keeps: producers (producer hex -> { hex, dec,
// frames: [{ seq, key, bytes, attempt, dirty, sent, keepalive }],
// busy, timer, lost (it dropped a frame), lo, hi, release }), droppedCount,
// reopened, uidDirty.
import { P, FRAME, noop, error, store, b64, unb64, newProducer, report } from './util.js';
import { kick, later } from './delivery.js';
import { coreTake, coreTakenSequence, coreReopen } from './wasm.js';

/** Moves sealed frames from the core into the queue and, unless quiet, sends. */
export function drain(c, quiet) {
  let b;
  while ((b = coreTake(c.core))) {
    const seq = coreTakenSequence(c.core);
    const t = c.reopened;
    if (t && t.seq == seq) {
      // The reopened frame, sealed again with the later events.
      c.reopened = 0;
      t.bytes = b;
      dirty(c, t);
      bound(c);
    } else enqueue(c, c.producerHex, seq, b);
  }
  if (!quiet) kick(c);
}

/**
 * Before the first event of a new frame: if this page's newest frame waits
 * behind another and has never gone out (a bundle takes the frames behind
 * its head too), the event joins it instead.
 */
export function reopen(c) {
  const f = c.producers.get(c.producerHex)?.frames;
  const t = f?.[1] && f.at(-1);
  if (t && !t.sent && coreReopen(c.core, t.seq)) c.reopened = t;
}

/** The queue of producer `hex`, made on first use. */
export function queueOf(c, hex) {
  let p = c.producers.get(hex);
  if (!p) c.producers.set(hex, (p = { hex, dec: BigInt('0x' + hex).toString(), frames: [], busy: false, timer: 0 }));
  return p;
}

/** Queues a frame; `key` is given for a frame already in storage. */
function enqueue(c, hex, seq, bytes, key) {
  const p = queueOf(c, hex);
  const f = { seq, bytes, attempt: 0, key: key || FRAME + hex + ':' + seq };
  p.frames.push(f);
  c.say('frame', hex, seq, bytes.length + ' bytes');
  bound(c);
  if (!key) dirty(c, f);
}

function dirty(c, f) {
  // Written in the next task, before sending starts (localStorage costs
  // ~100 us a frame), and synchronously at unload: only a crash in between
  // loses it.
  f.dirty = true;
  later(c);
}

/** Writes the user id and the frames not persisted yet. */
export function save(c) {
  if (c.off) return;
  if (c.uidDirty) {
    c.uidDirty = false;
    if (c.userId) store.set(P + 'uid', c.userId);
  }
  for (const p of c.producers.values()) {
    for (const f of p.frames) {
      if (f.dirty) {
        f.dirty = false;
        persist(c, f);
      }
    }
  }
}

function persist(c, f) {
  // Quota exceeded: make room from the oldest frames and try once more.
  if (!store.set(f.key, b64(f.bytes))) {
    dropOldest(c);
    store.set(f.key, b64(f.bytes));
  }
}

/** Keeps the queue within maxBytes, dropping the oldest frames. */
function bound(c) {
  for (;;) {
    let bytes = 0;
    for (const p of c.producers.values()) for (const f of p.frames) bytes += f.bytes.length;
    if (bytes <= c.queueBytes || !dropOldest(c)) return;
  }
}

function dropOldest(c) {
  // Orphans (claimed first, older) before this page's own frames; never a
  // frame in flight.
  for (const p of c.producers.values()) {
    const i = p.busy ? 1 : 0;
    if (p.frames.length > i) {
      const [f] = p.frames.splice(i, 1);
      if (f == c.reopened) c.reopened = 0;
      p.lost = true;
      store.del(f.key);
      store.set(P + 'dropped', String(++c.droppedCount));
      report(c, error('queue_full', 'persistent queue full: dropped the oldest frame', { dropped: c.droppedCount }));
      return true;
    }
  }
  return false;
}

/** Forgets every queued frame (opt-out). */
export function clear(c) {
  c.reopened = 0;
  for (const [hex, p] of c.producers) {
    clearTimeout(p.timer);
    for (const f of p.frames) store.del(f.key);
    c.producers.delete(hex);
  }
}

/** CRC-32 (IEEE, as a frame's last 4 bytes) of `b`. */
function crc32(b) {
  let c = -1;
  for (const x of b) {
    c ^= x;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return ~c >>> 0;
}

/**
 * `bytes`, a frame, under the producer id `hi << 32 | lo` (bytes 2-9, little
 * endian) with its CRC made again: nothing else moves. Null unless it is a
 * version 1 frame whose CRC holds, so that damage in storage is never sealed
 * over. (broker-core's frame::rehome, done here: about 600 bytes less wasm.)
 */
export function rehomeFrame(bytes, lo, hi) {
  const n = bytes.length - 4;
  const v = (b) => new DataView(b.buffer, b.byteOffset, b.length);
  if (bytes[0] != 1 || n < 11 || v(bytes).getUint32(n, true) != crc32(bytes.subarray(0, n))) return null;
  const out = bytes.slice();
  const w = v(out);
  w.setUint32(2, lo, true);
  w.setUint32(6, hi, true);
  w.setUint32(n, crc32(out.subarray(0, n)), true);
  return out;
}

/**
 * Moves frames of `p` that cannot be stored yet to a fresh producer (see
 * `rehome` in broker-core's frame module), persisted under their new keys
 * and locked like any producer of a live page. Returns the new producer's
 * queue.
 */
export function rehome(c, p, frames) {
  const { lo, hi, hex } = newProducer();
  const q = queueOf(c, hex);
  q.lo = lo;
  q.hi = hi;
  lock(c, hex, q);
  for (const f of frames) {
    const b = rehomeFrame(f.bytes, lo, hi);
    if (!b) continue;
    p.frames.splice(p.frames.indexOf(f), 1);
    store.del(f.key);
    Object.assign(f, { bytes: b, key: FRAME + hex + ':' + f.seq, attempt: 0, sent: false });
    q.frames.push(f);
    persist(c, f);
  }
  c.say('rehomed', frames.length, 'frames', p.hex, '->', hex);
  return q;
}

/**
 * Holds the Web Lock of producer `hex` (the page's own, or a rehomed
 * queue's) until `holder.release()`: other tabs claim only the frames of
 * producers whose page is gone.
 */
export function lock(c, hex, holder) {
  if (c.lockManager) c.lockManager.request(P + 'p:' + hex, () => new Promise((res) => (holder.release = res))).catch(noop);
}

/** Frames left by pages that are gone: claim each producer under its lock. */
export function claimOrphans(c) {
  const byProducer = new Map();
  for (const key of store.keys(FRAME)) {
    const [hex, seq] = key.slice(FRAME.length).split(':');
    if (hex == c.producerHex || !/^[0-9a-f]{16}$/.test(hex)) continue;
    if (!byProducer.has(hex)) byProducer.set(hex, []);
    byProducer.get(hex).push({ key, seq: Number(seq) });
  }
  for (const [hex, list] of byProducer) {
    const take = () => {
      list.sort((a, b) => a.seq - b.seq);
      for (const { key, seq } of list) {
        const v = store.get(key);
        if (v) enqueue(c, hex, seq, unb64(v), key);
      }
      c.say('claimed', hex, list.length + ' frames');
      kick(c);
    };
    if (!c.lockManager) { take(); continue; }
    c.lockManager.request(P + 'p:' + hex, { ifAvailable: true }, (lock) => {
      if (!lock || c.dead) return;
      take();
      // Hold the producer's lock until its frames are delivered.
      return new Promise((res) => (queueOf(c, hex).release = res));
    }).catch(noop);
  }
}

/** An orphan's last frame is delivered: its queue and lock go. */
export function finishOrphan(c, p) {
  c.producers.delete(p.hex);
  if (p.release) p.release();
}
