// The JS half of @eventstream/sdk: everything that touches the browser
// (listeners, storage, fetch, sendBeacon, WebSocket, timers, compression).
// State, batching, frame encoding and the retry schedule live in the Rust
// core (sdk/ in the repository), which this code drives; the numbers both
// halves know come from Rust through generated.js.
//
// This module is the API and the client's state; the client's work is in
// modules of functions over that state: capture.js (auto-capture),
// queue.js (the persistent queue), delivery.js (sending and retries),
// trigger.js and socket.js (the triggers socket, a file loaded on first
// use). Plain functions rather than methods:
// the minifier renames functions, never methods, which keeps the package
// small (its size is a product figure: tests/sdk/size.mjs).
import { load, coreNew, coreFree, coreSetProducer, coreRestoreSession, coreSessionId, coreSessionLast, coreEndSession, corePending, coreCut, coreContext, corePush, coreTake } from './wasm.js';
import { encodeProps } from './props.js';
import { TRACK, PAGE, IDENTIFY, SEALED, CORE_CODES } from './generated.js';
import { P, noop, error, store, newProducer, uuid, safe, report } from './util.js';
import { autoCapture } from './capture.js';
import { drain, reopen, clear, claimOrphans, queueOf, finishOrphan, lock } from './queue.js';
import { later, kick, retryNow, settle, unload } from './delivery.js';
import { connect, closeSocket } from './trigger.js';

const CAMPAIGN = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'gclid', 'fbclid'];

let wasmReady;
let tz;

/** The page's IANA time zone, once per page. */
function timeZone() {
  if (tz == null) {
    tz = '';
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { /* old engines */ }
  }
  return tz;
}

/**
 * Starts the SDK. Resolves to a client; on a server (no `window`) to a client
 * whose methods do nothing.
 */
export async function init(options) {
  const o = options || {};
  if (typeof o.writeKey != 'string' || !o.writeKey) throw error('invalid_argument', 'writeKey must be a non-empty string');
  if (typeof o.endpoint != 'string' || !/^https?:\/\//.test(o.endpoint)) throw error('invalid_argument', 'endpoint must be an http(s) URL');
  if (typeof window == 'undefined' || typeof document == 'undefined') return inert();
  const ready = (wasmReady ||= load(o.wasmUrl).catch((e) => {
    wasmReady = null;
    throw error('wasm_load_failed', 'could not load the WebAssembly module: ' + e.message);
  }));
  // While the module loads: Intl's first use costs 10-25 ms of main thread
  // on a cold page, which then overlaps the fetch instead of following it.
  timeZone();
  await ready;
  return new Client(o);
}

/** The server-side client: every method exists and does nothing. */
function inert() {
  const c = {};
  for (const m of ['track', 'page', 'identify', 'reset', 'optOut', 'optIn', 'destroy']) c[m] = noop;
  c.flush = () => Promise.resolve();
  c.onTrigger = () => noop;
  c.isOptedOut = () => true;
  c.stats = () => ({ producer: '', queued: 0, dropped: 0, pending: 0, connected: false });
  return c;
}

class Client {
  constructor(o) {
    this.o = o;
    this.base = o.endpoint.replace(/\/+$/, '');
    this.q = encodeURIComponent(o.writeKey);
    this.interval = o.flushInterval ?? 3000;
    this.socketInterval = o.socketFlushInterval ?? 0;
    const max = (this.queueBytes = o.queue?.maxBytes ?? 2e6);
    if (!(max >= 65536)) throw error('invalid_argument', 'queue.maxBytes must be at least 65536');
    this.say = o.debug ? (...a) => console.debug('[eventstream]', ...a) : noop;
    this.handlers = new Map();
    this.producers = new Map(); // see queue.js
    this.droppedCount = Number(store.get(P + 'dropped')) || 0;
    this.aborter = new AbortController();
    this.idle = [];
    this.inflightKeepalive = 0;
    this.wsAttempt = 0;
    this.sent = new Map(); // see socket.js
    // Firing ids already handed to the page, oldest first (a Set keeps
    // insertion order): the relay resends undelivered firings on every
    // connect, and may resend one whose ack crossed a disconnect.
    this.seen = new Set();
    const id = newProducer();
    this.core = coreNew(id.lo, id.hi, o.flushAt || 50, o.flushBytes || 16384);
    this.producerHex = id.hex;
    this.say('producer', this.producerHex);

    const consent = store.get(P + 'optout');
    const gpc = o.honorGlobalPrivacyControl && navigator.globalPrivacyControl === true;
    this.off = consent == '1' || (consent == null && (!!o.optedOut || gpc));

    // Web Locks: this page's producer stays locked while the page lives, so
    // other tabs only ever claim producers whose page is gone.
    this.lockManager = typeof navigator != 'undefined' && navigator.locks;
    lock(this, this.producerHex, this);

    const params = new URLSearchParams(location.search);
    const campaign = {};
    for (const k of CAMPAIGN) if (params.has(k)) campaign[k] = params.get(k);
    this.campaign = campaign;
    const ses = (store.get(P + 'ses') || '').split(',');
    coreRestoreSession(this.core, Number(ses[0]) || 0, Number(ses[1]) || 0);
    if (!this.off) this.visitor();

    const on = (target, type, fn, capture) =>
      target.addEventListener(type, (e) => safe(this, () => fn(e)), { capture, signal: this.aborter.signal });
    on(window, 'pagehide', () => unload(this));
    on(document, 'visibilitychange', () => document.visibilityState == 'hidden' && unload(this));
    on(window, 'online', () => retryNow(this));
    autoCapture(this, on);
    if (!this.off) claimOrphans(this);
  }

  // ---- public API -------------------------------------------------------

  track(name, props) {
    if (typeof name != 'string' || !name) throw error('invalid_argument', 'track(name): name must be a non-empty string');
    this.push(TRACK, name, props, true);
  }

  page(name, props) {
    if (name != null && typeof name != 'string') throw error('invalid_argument', 'page(name): name must be a string');
    const auto = { url: location.href, path: location.pathname, title: document.title };
    this.push(PAGE, name || '', props ? { ...auto, ...props } : auto, props !== undefined);
  }

  identify(userId, traits) {
    if (typeof userId != 'string' || !userId) throw error('invalid_argument', 'identify(userId): userId must be a non-empty string');
    if (this.off) return;
    // The page's own call: no storage read or write here (the id is
    // written in the next task, see queue.js save).
    if (userId != this.userId) {
      this.userId = userId;
      this.uidDirty = true;
      this.context();
    }
    this.push(IDENTIFY, userId, traits, true);
  }

  reset() {
    store.del(P + 'id');
    store.del(P + 'uid');
    this.uidDirty = false;
    store.del(P + 'ses');
    coreEndSession(this.core);
    if (this.off) return;
    this.visitor();
  }

  flush() {
    if (this.off) return Promise.resolve();
    this.cut();
    return new Promise((res) => {
      this.idle.push(res);
      kick(this);
    });
  }

  onTrigger(type, handler) {
    if (typeof type != 'string' || !type) throw error('invalid_argument', "onTrigger(type, handler): type must be an action type, a trigger name or '*'");
    if (typeof handler != 'function') throw error('invalid_argument', 'onTrigger(type, handler): handler must be a function');
    const list = this.handlers.get(type) || [];
    list.push(handler);
    this.handlers.set(type, list);
    return () => list.splice(list.indexOf(handler) >>> 0, 1);
  }

  optOut() {
    this.say('opt out');
    this.off = true;
    store.set(P + 'optout', '1');
    for (const k of ['id', 'uid', 'ses']) store.del(P + k);
    coreCut(this.core, Date.now());
    while (coreTake(this.core));
    clear(this);
    clearTimeout(this.timer);
    this.timer = 0;
    closeSocket(this);
    settle(this);
  }

  optIn() {
    this.say('opt in');
    store.set(P + 'optout', '0');
    if (!this.off) return;
    this.off = false;
    this.visitor();
    claimOrphans(this);
  }

  isOptedOut() {
    return this.off;
  }

  stats() {
    let queued = 0;
    for (const p of this.producers.values()) queued += p.frames.length;
    return { producer: this.producerHex, queued, dropped: this.droppedCount, pending: corePending(this.core), connected: !!this.wsOpen };
  }

  destroy() {
    if (this.dead) return;
    unload(this);
    this.dead = true;
    this.aborter.abort();
    if (this.history) [history.pushState, history.replaceState] = this.history;
    clearTimeout(this.timer);
    for (const p of this.producers.values()) clearTimeout(p.timer);
    closeSocket(this);
    if (this.release) this.release();
    settle(this);
    coreFree(this.core);
  }

  // ---- for the modules --------------------------------------------------

  /** Batches one event of `kind`; `explicit`: the page's own call, which may throw. */
  push(kind, name, props, explicit) {
    if (this.off || this.dead) return;
    let bytes;
    if (props != null && (typeof props != 'object' || Array.isArray(props))) {
      if (explicit) throw error('invalid_argument', 'properties must be a plain object');
      return;
    }
    try {
      bytes = encodeProps(props);
    } catch (e) {
      if (explicit) throw error('invalid_argument', 'properties cannot be serialised: ' + e.message);
      return;
    }
    if (!corePending(this.core)) reopen(this);
    const r = corePush(this.core, kind, name, bytes, Date.now());
    if (r == SEALED) {
      // The sealed frame is persisted now (a crash loses nothing); sending
      // starts in a task of its own, keeping the caller's call short.
      this.linger = false;
      drain(this, true);
      later(this);
    }
    else if (r) {
      const e = error(CORE_CODES[r] || 'invalid_argument', 'event refused by the encoder (core code ' + r + ')', { coreCode: r });
      if (explicit) throw e;
      return report(this, e);
    }
    if (corePending(this.core) && !this.timer) {
      // The socket's short interval also while it first connects: the
      // landing page view goes at once by HTTP instead of waiting for the
      // socket (its firing waits at the relay and comes with the connect).
      // Reconnecting (wsAttempt > 0) keeps the HTTP interval.
      this.timer = setTimeout(() => safe(this, () => this.cut()), this.ws && !this.wsAttempt ? this.socketInterval : this.interval);
    }
  }

  /** (Re)reads the visitor and refreshes the frame context. */
  visitor() {
    let id = store.get(P + 'id');
    if (!id) {
      id = uuid();
      store.set(P + 'id', id);
    }
    this.userId = store.get(P + 'uid') || undefined;
    const old = this.anon;
    this.anon = id;
    this.context();
    if (id != old) {
      this.say('visitor', id);
      if (old) {
        // A producer per visitor: a visitor's frames all go to its
        // partition, where the producer's sequence then has no holes. The
        // old producer's queue delivers what it holds, then lets go.
        drain(this, true);
        const q = queueOf(this, this.producerHex);
        q.release = this.release;
        if (!q.frames.length) finishOrphan(this, q);
        const n = newProducer();
        coreSetProducer(this.core, n.lo, n.hi);
        this.producerHex = n.hex;
        lock(this, this.producerHex, this);
      }
      closeSocket(this);
      if (this.o.triggers !== false) connect(this);
    }
  }

  /** Hands the visitor's frame context to the core. */
  context() {
    // The page's part once per page: reading it (screen, referrer,
    // resolvedOptions() at ~200 us) cost identify() most of its time.
    if (!this.page0) {
      // origin, referrer, locale, time zone; the campaign's bytes (a copy:
      // encodeProps reuses its buffer).
      this.page0 = [location.origin, document.referrer, navigator.language || '', timeZone()];
      this.page1 = encodeProps(this.campaign).slice();
    }
    // A frame this seals (the visitor changed) goes with the next flush.
    // While the flush timer runs, its cut queues and persists that frame
    // too, as it does the open frame's events, which the sealed frame held
    // until now; else it is queued in the next task (later), off the page's
    // call. A timer of its own cost identify() 15-20 us of its 50.
    this.linger = true;
    coreContext(this.core, [this.anon, this.userId || '', ...this.page0], screen.width, screen.height, this.page1, Date.now());
    if (!this.timer) later(this);
  }

  /** Seals the open frame and queues it; `quiet`: do not start sending. */
  cut(quiet) {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.off || this.dead) return;
    coreCut(this.core, Date.now());
    drain(this, quiet);
    store.set(P + 'ses', coreSessionId(this.core) + ',' + coreSessionLast(this.core));
  }
}
