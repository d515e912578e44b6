// The JS half of @eventstream/sdk: everything that touches the browser
// (listeners, storage, fetch, sendBeacon, WebSocket, timers, compression).
// State, batching, frame encoding and the retry schedule live in the Rust
// core (sdk/ in the repository), which this file drives.
import { load, Core, payload, seal, outcome, rehome } from './wasm.js';

const P = 'es:'; // localStorage prefix
const FRAME = P + 'f:'; // FRAME + producerHex + ':' + sequence = base64 frame
const CORE_CODES = { 1: 'invalid_argument', 2: 'invalid_argument', 3: 'invalid_argument', 4: 'invalid_argument', 10: 'event_too_large', 11: 'invalid_argument' };
const CAMPAIGN = ['utm_source', 'utm_medium', 'utm_campaign', 'utm_term', 'utm_content', 'gclid', 'fbclid'];
const CLICKABLE = 'a,button,[data-track],[role=button],input[type=submit],input[type=button]';
const noop = () => {};

/** An Error with a stable `code` (and optional extra fields). */
function error(code, message, extra) {
  const e = new Error(message);
  e.code = code;
  return Object.assign(e, extra);
}

let wasmReady;

/**
 * Starts the SDK. Resolves to a client; on a server (no `window`) to a client
 * whose methods do nothing.
 */
export async function init(options) {
  const o = options || {};
  if (typeof o.writeKey != 'string' || !o.writeKey) throw error('invalid_argument', 'writeKey must be a non-empty string');
  if (typeof o.endpoint != 'string' || !/^https?:\/\//.test(o.endpoint)) throw error('invalid_argument', 'endpoint must be an http(s) URL');
  if (typeof window == 'undefined' || typeof document == 'undefined') return inert();
  await (wasmReady ||= load(o.wasmUrl).catch((e) => {
    wasmReady = null;
    throw error('wasm_load_failed', 'could not load the WebAssembly module: ' + e.message);
  }));
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

/** localStorage that never throws (private mode, sandboxed iframes, quota). */
const store = {
  get(k) {
    try { return localStorage.getItem(k); } catch { return null; }
  },
  set(k, v) {
    try { localStorage.setItem(k, v); return true; } catch { return false; }
  },
  del(k) {
    try { localStorage.removeItem(k); } catch { /* unavailable: nothing stored */ }
  },
  keys(prefix) {
    const out = [];
    try {
      for (let i = 0; i < localStorage.length; i++) {
        const k = localStorage.key(i);
        if (k && k.startsWith(prefix)) out.push(k);
      }
    } catch { /* unavailable */ }
    return out;
  },
};

function b64(bytes) {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
  return btoa(s);
}

function unb64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** A random producer id: its u32 halves for the core and its 16 hex digits. */
function newProducer() {
  const [lo, hi] = crypto.getRandomValues(new Uint32Array(2));
  const h = (x) => x.toString(16).padStart(8, '0');
  return { lo, hi, hex: h(hi) + h(lo) };
}

function uuid() {
  if (crypto.randomUUID) return crypto.randomUUID();
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 15) | 64;
  b[8] = (b[8] & 63) | 128;
  const h = Array.from(b, (x) => (x + 256).toString(16).slice(1)).join('');
  return h.slice(0, 8) + '-' + h.slice(8, 12) + '-' + h.slice(12, 16) + '-' + h.slice(16, 20) + '-' + h.slice(20);
}

/** A short, stable CSS selector: id, data-track, or a tag path with nth-of-type. */
function selector(el) {
  const parts = [];
  for (let e = el, depth = 0; e && e.nodeType == 1 && depth < 5; e = e.parentElement, depth++) {
    const tag = e.localName;
    if (e.id) { parts.unshift(tag + '#' + CSS.escape(e.id)); break; }
    const t = e.getAttribute('data-track');
    if (t) { parts.unshift(tag + '[data-track="' + t.replace(/["\\]/g, '\\$&') + '"]'); break; }
    const p = e.parentElement;
    let part = tag;
    if (p) {
      const same = Array.prototype.filter.call(p.children, (c) => c.localName == tag);
      if (same.length > 1) part += ':nth-of-type(' + (same.indexOf(e) + 1) + ')';
    }
    parts.unshift(part);
    if (tag == 'body') break;
  }
  return parts.join('>');
}

/** The visible label of a clickable element, never an input's value. */
function label(el) {
  const text = el.localName == 'input' ? '' : (el.innerText || el.textContent || '');
  return (el.getAttribute('aria-label') || text.replace(/\s+/g, ' ').trim()).slice(0, 100);
}

class Client {
  constructor(o) {
    this.o = o;
    this.url = o.endpoint.replace(/\/+$/, '');
    this.q = encodeURIComponent(o.writeKey);
    this.maxEvents = o.flushAt || 50;
    this.interval = o.flushInterval ?? 3000;
    this.socketInterval = o.socketFlushInterval ?? 0;
    this.maxFrames = o.queue?.maxFrames || 200;
    this.maxBytes = o.queue?.maxBytes || 1000000;
    this.log = o.debug ? (...a) => console.debug('[eventstream]', ...a) : noop;
    this.handlers = new Map();
    this.producers = new Map(); // producerHex -> { frames: [{seq, key, bytes, attempt, packed}], busy, timer }
    this.dropped = Number(store.get(P + 'dropped')) || 0;
    this.abort = new AbortController();
    this.idle = [];
    this.inflightKeepalive = 0;
    this.wsAttempt = 0;
    this.sent = new Map(); // 'producerDec:seq' -> resolve, for frames sent on the socket
    // Firing ids already handed to the page, oldest first (a Set keeps
    // insertion order): the relay resends undelivered firings on every
    // connect, and may resend one whose ack crossed a disconnect.
    this.seen = new Set();
    const id = newProducer();
    this.core = new Core(id.lo, id.hi, this.maxEvents, o.flushBytes || 16384);
    this.producer = id.hex;
    this.log('producer', this.producer);

    const consent = store.get(P + 'optout');
    const gpc = o.honorGlobalPrivacyControl && navigator.globalPrivacyControl === true;
    this.off = consent == '1' || (consent == null && (!!o.optedOut || gpc));

    // Web Locks: this page's producer stays locked while the page lives, so
    // other tabs only ever claim producers whose page is gone.
    this.locks = typeof navigator != 'undefined' && navigator.locks;
    if (this.locks) {
      this.locks.request(P + 'p:' + this.producer, () => new Promise((res) => (this.release = res))).catch(noop);
    }

    const params = new URLSearchParams(location.search);
    const campaign = {};
    for (const k of CAMPAIGN) if (params.has(k)) campaign[k] = params.get(k);
    this.campaign = campaign;
    const ses = (store.get(P + 'ses') || '').split(',');
    this.core.restore_session(Number(ses[0]) || 0, Number(ses[1]) || 0);
    if (!this.off) this.visitor();

    const on = (target, type, fn, capture) =>
      target.addEventListener(type, (e) => this.safe(() => fn(e)), { capture, signal: this.abort.signal });
    on(window, 'pagehide', () => this.unload());
    on(document, 'visibilitychange', () => document.visibilityState == 'hidden' && this.unload());
    on(window, 'online', () => this.retryNow());
    const auto = o.autocapture === false ? {} : { pageviews: true, clicks: true, forms: true, ...o.autocapture };
    if (auto.clicks) on(document, 'click', (e) => this.click(e), true);
    if (auto.forms) on(document, 'submit', (e) => this.submitted(e), true);
    if (auto.pageviews) {
      this.lastUrl = location.href;
      const nav = () => {
        if (location.href != this.lastUrl) {
          const from = this.lastUrl;
          this.lastUrl = location.href;
          this.page(undefined, { referrer: from });
        }
      };
      // SPA navigation: wrap the history API (restored by destroy()).
      const h = history;
      this.history = [h.pushState, h.replaceState];
      const wrap = (orig) => function () {
        const r = orig.apply(this, arguments);
        try { nav(); } catch { /* never break the page's navigation */ }
        return r;
      };
      h.pushState = wrap(this.history[0]);
      h.replaceState = wrap(this.history[1]);
      on(window, 'popstate', nav);
      on(window, 'hashchange', nav);
      this.page();
    }
    if (!this.off) this.claimOrphans();
  }

  // ---- public API -------------------------------------------------------

  track(name, props) {
    if (typeof name != 'string' || !name) throw error('invalid_argument', 'track(name): name must be a non-empty string');
    this.push(0, name, props, true);
  }

  page(name, props) {
    if (name != null && typeof name != 'string') throw error('invalid_argument', 'page(name): name must be a string');
    const auto = { url: location.href, path: location.pathname, title: document.title };
    this.push(1, name || '', props ? { ...auto, ...props } : auto, props !== undefined);
  }

  identify(userId, traits) {
    if (typeof userId != 'string' || !userId) throw error('invalid_argument', 'identify(userId): userId must be a non-empty string');
    if (this.off) return;
    this.userId = userId;
    store.set(P + 'uid', userId);
    this.visitor();
    this.push(2, userId, traits, true);
  }

  reset() {
    store.del(P + 'id');
    store.del(P + 'uid');
    store.del(P + 'ses');
    this.core.end_session();
    if (this.off) return;
    this.visitor();
  }

  flush() {
    if (this.off) return Promise.resolve();
    this.cut();
    return new Promise((res) => {
      this.idle.push(res);
      this.kick();
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
    this.log('opt out');
    this.off = true;
    store.set(P + 'optout', '1');
    for (const k of ['id', 'uid', 'ses']) store.del(P + k);
    this.core.cut(Date.now());
    while (this.core.take());
    for (const [hex, p] of this.producers) {
      clearTimeout(p.timer);
      for (const f of p.frames) store.del(f.key);
      this.producers.delete(hex);
    }
    clearTimeout(this.timer);
    this.timer = 0;
    this.closeSocket();
    this.settle();
  }

  optIn() {
    this.log('opt in');
    store.set(P + 'optout', '0');
    if (!this.off) return;
    this.off = false;
    this.visitor();
    this.claimOrphans();
  }

  isOptedOut() {
    return this.off;
  }

  stats() {
    let queued = 0;
    for (const p of this.producers.values()) queued += p.frames.length;
    return { producer: this.producer, queued, dropped: this.dropped, pending: this.core.pending(), connected: !!this.open };
  }

  destroy() {
    if (this.dead) return;
    this.unload();
    this.dead = true;
    this.abort.abort();
    if (this.history) [history.pushState, history.replaceState] = this.history;
    clearTimeout(this.timer);
    for (const p of this.producers.values()) clearTimeout(p.timer);
    this.closeSocket();
    if (this.release) this.release();
    this.settle();
    this.core.free();
  }

  // ---- capture ----------------------------------------------------------

  /** Runs what the SDK does on its own: reports, never throws into the page. */
  safe(fn) {
    try {
      fn();
    } catch (e) {
      this.report(e);
    }
  }

  report(e) {
    this.log('error', e);
    if (this.o.onError) try { this.o.onError(e); } catch { /* the page's own handler failed */ }
  }

  push(kind, name, props, explicit) {
    if (this.off || this.dead) return;
    let json = '';
    if (props !== undefined && props !== null) {
      if (typeof props != 'object' || Array.isArray(props)) {
        if (explicit) throw error('invalid_argument', 'properties must be a plain object');
        return;
      }
      try {
        json = JSON.stringify(props);
      } catch (e) {
        if (explicit) throw error('invalid_argument', 'properties cannot be serialised: ' + e.message);
        return;
      }
    }
    const r = this.core.push(kind, name, json, Date.now());
    if (r > 255) {
      // The sealed frame is persisted now (a crash loses nothing); sending
      // starts in a task of its own, keeping the caller's call short.
      this.drain(true);
      this.later();
    }
    else if (r) {
      const e = error(CORE_CODES[r] || 'invalid_argument', 'event refused by the encoder (core code ' + r + ')', { coreCode: r });
      if (explicit) throw e;
      return this.report(e);
    }
    if (this.core.pending() && !this.timer) {
      this.timer = setTimeout(() => this.safe(() => this.cut()), this.open ? this.socketInterval : this.interval);
    }
  }

  click(e) {
    const el = e.target && e.target.closest && e.target.closest(CLICKABLE);
    if (!el) return;
    const p = { selector: selector(el), tag: el.localName, text: label(el) };
    const href = el.getAttribute('href');
    if (href != null) p.href = el.href || href;
    const t = el.getAttribute('data-track');
    if (t) p.track = t;
    this.push(3, '', p, false);
  }

  submitted(e) {
    const f = e.target;
    if (!f || f.localName != 'form') return;
    let fields = 0;
    for (const el of f.elements) if (/^(input|select|textarea)$/.test(el.localName) && !/^(submit|button|reset|image|hidden)$/.test(el.type)) fields++;
    const p = { form_id: f.id, fields, selector: selector(f) };
    if (f.name) p.form_name = f.name;
    this.push(4, '', p, false);
  }

  // ---- identity ---------------------------------------------------------

  /** (Re)reads the visitor and refreshes the frame context. */
  visitor() {
    let id = store.get(P + 'id');
    if (!id) {
      id = uuid();
      store.set(P + 'id', id);
    }
    this.userId = store.get(P + 'uid') || undefined;
    const changed = id != this.anon;
    this.anon = id;
    const s = screen;
    // resolvedOptions() costs ~200 us: once per page.
    if (this.tz == null) {
      this.tz = '';
      try { this.tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ''; } catch { /* old engines */ }
    }
    this.core.context(JSON.stringify({
      anonymous_id: id, user_id: this.userId, origin: location.origin, referrer: document.referrer,
      locale: navigator.language, screen_width: s.width, screen_height: s.height, timezone: this.tz, campaign: this.campaign,
    }), Date.now());
    this.drain(true);
    this.later();
    if (changed) {
      this.log('visitor', id);
      this.closeSocket();
      if (this.o.triggers !== false) this.connect();
    }
  }

  // ---- batching and the queue -------------------------------------------

  cut(quiet) {
    clearTimeout(this.timer);
    this.timer = 0;
    if (this.off || this.dead) return;
    this.core.cut(Date.now());
    this.drain(quiet);
    store.set(P + 'ses', this.core.session_id() + ',' + this.core.session_last());
  }

  /** Moves sealed frames from the core into the persistent queue and sends. */
  drain(quiet) {
    let f;
    while ((f = this.core.take())) this.enqueue(this.producer, this.core.taken_sequence(), f);
    if (!quiet) this.kick();
  }

  queueOf(hex) {
    let p = this.producers.get(hex);
    if (!p) this.producers.set(hex, (p = { hex, dec: BigInt('0x' + hex).toString(), frames: [], busy: false, timer: 0 }));
    return p;
  }

  enqueue(hex, seq, bytes, key) {
    const p = this.queueOf(hex);
    const f = { seq, bytes, attempt: 0, key: key || FRAME + hex + ':' + seq };
    p.frames.push(f);
    this.log('frame', hex, seq, bytes.length + ' bytes');
    this.bound();
    if (!key) {
      // Written in a task of its own (localStorage costs ~100 us a frame),
      // and synchronously at unload: only a crash in between loses it.
      f.dirty = true;
      this.saving ||= setTimeout(() => this.safe(() => this.save()));
    }
  }

  /** Starts sending in a task of its own. */
  later() {
    this.soon ||= setTimeout(() => this.safe(() => {
      this.soon = 0;
      this.kick();
    }));
  }

  /** Writes frames not persisted yet. */
  save() {
    this.saving = 0;
    if (this.off) return;
    for (const p of this.producers.values()) {
      for (const f of p.frames) {
        if (f.dirty) {
          f.dirty = false;
          this.persist(f);
        }
      }
    }
  }

  persist(f) {
    // Quota exceeded: make room from the oldest frames and try once more.
    if (!store.set(f.key, b64(f.bytes))) {
      this.dropOldest();
      store.set(f.key, b64(f.bytes));
    }
  }

  /** Keeps the queue within maxFrames / maxBytes, dropping the oldest frames. */
  bound() {
    for (;;) {
      let n = 0;
      let bytes = 0;
      for (const p of this.producers.values()) for (const f of p.frames) { n++; bytes += f.bytes.length; }
      if (n <= this.maxFrames && bytes <= this.maxBytes) return;
      if (!this.dropOldest()) return;
    }
  }

  dropOldest() {
    // Orphans (claimed first, older) before this page's own frames; never a
    // frame in flight.
    for (const p of this.producers.values()) {
      const i = p.busy ? 1 : 0;
      if (p.frames.length > i) {
        const [f] = p.frames.splice(i, 1);
        p.dropped = true;
        store.del(f.key);
        store.set(P + 'dropped', String(++this.dropped));
        this.report(error('queue_full', 'persistent queue full: dropped the oldest frame', { dropped: this.dropped }));
        return true;
      }
    }
    return false;
  }

  /** Back online: waiting out a backoff would only delay delivery. */
  retryNow() {
    for (const p of this.producers.values()) {
      clearTimeout(p.timer);
      p.timer = 0;
    }
    this.kick();
  }

  kick() {
    for (const p of this.producers.values()) this.pump(p);
    this.settle();
  }

  /** Resolves flush() promises once nothing is ready to send right now. */
  settle() {
    if (!this.idle.length) return;
    for (const p of this.producers.values()) if (p.busy || (p.frames.length && !p.timer && !this.off)) return;
    const done = this.idle;
    this.idle = [];
    for (const r of done) r();
  }

  /** Sends one producer's frames one at a time, in sequence order. */
  async pump(p) {
    if (p.busy || p.timer || !p.frames.length || this.dead || this.off) return;
    p.busy = true;
    const f = p.frames[0];
    let status = 0;
    let code = '';
    let after = 0;
    try {
      if (!f.packed) await this.compress(f, p);
      f.sent = true;
      if (this.open && this.ws) {
        [status, code] = await this.sendSocket(p, f);
      } else {
        // keepalive requests share a 64 KB budget per page.
        const keepalive = this.inflightKeepalive + f.bytes.length <= 60000;
        if (keepalive) this.inflightKeepalive += f.bytes.length;
        f.keepalive = keepalive;
        try {
          const res = await fetch(this.url + '/v1/frames?key=' + this.q, { method: 'POST', body: f.bytes, keepalive, credentials: 'omit' });
          status = res.status;
          after = (Number(res.headers.get('Retry-After')) || 0) * 1000;
          if (status >= 400) code = ((await res.json().catch(() => null)) || {}).code || '';
        } finally {
          f.keepalive = false;
          if (keepalive) this.inflightKeepalive -= f.bytes.length;
        }
      }
    } catch (e) {
      this.log('network error', e && e.message);
    }
    p.busy = false;
    if (this.off || this.dead || p.frames[0] != f) return this.settle();
    if (status < 0) return this.pump(p); // the socket closed under it: not an attempt
    if (status == 409 && code == 'sequence_gap' && (p.dropped || f.attempt >= 3)) {
      // An earlier frame of this producer is not stored and this queue does
      // not hold it: dropped when the queue was full, or lost with a page.
      // A late copy (a dying page's keepalive or beacon) gets some seconds
      // of backoff to arrive; after that the gap never fills. The relay just
      // said p's frames are not stored, so they can move to a new producer.
      const q = this.rehome(p, p.frames.slice());
      if (p.hex == this.producer) {
        this.core.set_producer(q.lo, q.hi);
        this.producer = q.hex;
      }
      this.pump(q);
      return this.settle();
    }
    const d = outcome(status, code, f.attempt, after, Math.random());
    this.log('sent', p.hex, f.seq, 'status', status, code, d < 0 ? (d == -1 ? 'acked' : 'rejected') : 'retry in ' + Math.round(d) + ' ms');
    if (d < 0) {
      p.frames.shift();
      store.del(f.key);
      if (d == -2) this.report(error(code || 'http_' + status, 'the relay refused a frame', { status, producer: p.hex, sequence: f.seq }));
      if (!p.frames.length && p.hex != this.producer) this.finishOrphan(p);
    } else {
      f.attempt++;
      p.timer = setTimeout(() => {
        p.timer = 0;
        this.pump(p);
      }, d);
    }
    this.pump(p);
    this.settle();
  }

  /** Deflates a frame's payload once, when the browser can and it pays off. */
  async compress(f, p) {
    f.packed = true;
    // On the socket, below ~400 bytes, deflate saves a few bytes and costs a
    // millisecond or more (the stream is async): firings should come back fast.
    if (this.o.compress === false || (this.open && f.bytes.length < 400) || typeof CompressionStream == 'undefined') return;
    const plain = f.bytes;
    const body = new Blob([payload(plain)]).stream().pipeThrough(new CompressionStream('deflate-raw'));
    const z = seal(plain, new Uint8Array(await new Response(body).arrayBuffer()));
    // The frame may have been rehomed meanwhile: its bytes are then newer.
    if (z && z.length < plain.length && f.bytes == plain) {
      f.bytes = z;
      if (!this.off && !f.dirty && p.frames.includes(f)) store.set(f.key, b64(z));
    }
  }

  /** Page going away: seal everything and hand it to sendBeacon. */
  unload() {
    if (this.off || this.dead) return;
    this.cut(true);
    this.save();
    if (!navigator.sendBeacon) return;
    for (const p of [...this.producers.values()]) {
      for (const [i, f] of p.frames.slice().entries()) {
        // On a keepalive fetch: that request outlives the page.
        if (f.keepalive) continue;
        // A producer's frames must reach the relay in order, one at a time:
        // the head goes as is when nothing of its producer is in the air.
        if (i == 0 && !p.busy) this.beacon(f);
        // Later frames that never went out can take a fresh producer id of
        // their own, so they cannot overtake their old producer's head.
        else if (!f.sent) this.beacon(this.rehome(p, [f]).frames[0]);
      }
    }
  }

  beacon(f) {
    f.sent = true;
    this.log('beacon', f.key, navigator.sendBeacon(this.url + '/v1/frames?key=' + this.q, f.bytes));
  }

  /**
   * Moves frames of `p` that cannot be stored yet to a fresh producer (see
   * sdk/src/rehome.rs), persisted under their new keys and locked like any
   * producer of a live page. Returns the new producer's queue.
   */
  rehome(p, frames) {
    const { lo, hi, hex } = newProducer();
    const q = this.queueOf(hex);
    q.lo = lo;
    q.hi = hi;
    if (this.locks) this.locks.request(P + 'p:' + hex, () => new Promise((res) => (q.release = res))).catch(noop);
    for (const f of frames) {
      const b = rehome(f.bytes, lo, hi);
      if (!b) continue;
      p.frames.splice(p.frames.indexOf(f), 1);
      store.del(f.key);
      Object.assign(f, { bytes: b, key: FRAME + hex + ':' + f.seq, attempt: 0, sent: false });
      q.frames.push(f);
      this.persist(f);
    }
    this.log('rehomed', frames.length, 'frames', p.hex, '->', hex);
    return q;
  }

  /** Frames left by pages that are gone: claim each producer under its lock. */
  claimOrphans() {
    const byProducer = new Map();
    for (const key of store.keys(FRAME)) {
      const [hex, seq] = key.slice(FRAME.length).split(':');
      if (hex == this.producer || !/^[0-9a-f]{16}$/.test(hex)) continue;
      if (!byProducer.has(hex)) byProducer.set(hex, []);
      byProducer.get(hex).push({ key, seq: Number(seq) });
    }
    for (const [hex, list] of byProducer) {
      const take = () => {
        list.sort((a, b) => a.seq - b.seq);
        for (const { key, seq } of list) {
          const v = store.get(key);
          if (v) this.enqueue(hex, seq, unb64(v), key);
        }
        this.log('claimed', hex, list.length + ' frames');
        this.kick();
      };
      if (!this.locks) { take(); continue; }
      this.locks.request(P + 'p:' + hex, { ifAvailable: true }, (lock) => {
        if (!lock || this.dead) return;
        take();
        // Hold the producer's lock until its frames are delivered.
        return new Promise((res) => (this.queueOf(hex).release = res));
      }).catch(noop);
    }
  }

  finishOrphan(p) {
    this.producers.delete(p.hex);
    if (p.release) p.release();
  }

  // ---- triggers: the visitor WebSocket ------------------------------------

  async connect() {
    if (this.off || this.dead || this.ws) return;
    const anon = this.anon;
    const marker = (this.ws = {}); // reserves the slot while the token loads
    try {
      const res = await fetch(this.url + '/v1/token?key=' + this.q + '&visitor=' + encodeURIComponent(anon), { credentials: 'omit' });
      if (res.status >= 400 && res.status < 500 && res.status != 429) {
        const body = await res.json().catch(() => ({}));
        this.ws = null;
        return this.report(error(body.code || 'http_' + res.status, 'the relay refused a visitor token', { status: res.status }));
      }
      const { token } = await res.json();
      if (this.ws != marker || this.anon != anon) return;
      const ws = new WebSocket(this.url.replace(/^http/, 'ws') + '/v1/visitors/' + encodeURIComponent(anon) + '/ws?key=' + this.q + '&token=' + encodeURIComponent(token));
      ws.binaryType = 'arraybuffer';
      this.ws = ws;
      ws.onopen = () => {
        this.log('socket open');
        this.open = true;
        this.wsAttempt = 0;
        this.kick();
      };
      ws.onmessage = (m) => this.safe(() => this.message(m.data));
      ws.onclose = (ev) => this.safe(() => this.closed(ws, ev.code));
    } catch (e) {
      if (this.ws == marker) this.ws = null;
      this.closed(null, 0);
    }
  }

  closed(ws, code) {
    if (ws && ws != this.ws) return;
    this.log('socket closed', code);
    this.ws = null;
    this.open = false;
    for (const r of this.sent.values()) r([-1, '']);
    this.sent.clear();
    if (this.off || this.dead || code == 4403) return;
    const d = outcome(0, '', this.wsAttempt++, 0, Math.random());
    clearTimeout(this.wsTimer);
    this.wsTimer = setTimeout(() => this.connect(), d);
  }

  closeSocket() {
    clearTimeout(this.wsTimer);
    const ws = this.ws;
    this.ws = null;
    this.open = false;
    if (ws && ws.close) {
      ws.onclose = null;
      ws.close(1000);
    }
    // Frames waiting for the socket's answer go again over HTTP, at once.
    for (const r of this.sent.values()) r([-1, '']);
    this.sent.clear();
  }

  message(data) {
    if (typeof data != 'string') return;
    const m = JSON.parse(data);
    if (m.type == 'firing' && m.firing) {
      const f = m.firing;
      const id = String(f.firing_id);
      if (!this.seen.has(id)) {
        this.seen.add(id);
        if (this.seen.size > 512) this.seen.delete(this.seen.values().next().value);
        this.log('firing', f.trigger, f.firing_id);
        const type = f.action && f.action.type;
        for (const key of new Set([type, f.trigger, '*'])) {
          for (const h of (this.handlers.get(key) || []).slice()) {
            try { h(f); } catch (e) { this.report(e); }
          }
        }
      }
      if (this.ws && this.open) this.ws.send(JSON.stringify({ type: 'ack', offsets: [m.offset] }));
    } else if (m.type == 'appended' || m.type == 'error') {
      const key = m.producer_id + ':' + m.sequence;
      const r = this.sent.get(key);
      if (r) {
        this.sent.delete(key);
        r(m.type == 'appended' ? [200, ''] : [m.code == 'stale_sequence' || m.code == 'sequence_gap' ? 409 : m.code == 'rate_limited' ? 429 : 400, m.code || '']);
      }
    }
  }

  /** One frame over the socket; resolves to [status, code] like fetch would. */
  sendSocket(p, f) {
    return new Promise((res) => {
      const key = p.dec + ':' + f.seq;
      const t = setTimeout(() => {
        this.sent.delete(key);
        res([0, '']);
      }, 5000);
      this.sent.set(key, (v) => {
        clearTimeout(t);
        res(v);
      });
      this.ws.send(f.bytes);
    });
  }
}
