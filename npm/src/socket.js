// Triggers: the visitor's WebSocket to the relay. Firings come in (each
// handed to the page's handlers once, then acknowledged); while it is open,
// frames go out on it and their answers come back on it.
//
// A file of its own (npm/build.sh), loaded by trigger.js the first time a
// visitor connects, in parallel with the request for the visitor's token:
// a page with `triggers: false` never downloads it. So that it shares the
// SDK's state rather than bundling a second copy, it imports nothing but
// constants; the rest comes from trigger.js through setup().
//
// Client fields this module keeps: ws (null, a marker object while the token
// loads, or the socket), wsOpen, wsDeflate, wsAttempt, wsTimer, sent
// ('producerDec:seq' -> resolve, for frames sent on the socket), seen.
import { CLOSE_ORIGIN_NOT_ALLOWED } from './generated.js';

// { outcome, error, safe, report, connect, SOCKET_CLOSED } of the SDK.
let k;

/** Hands this module the SDK's functions (once, before anything else). */
export function setup(kit) {
  k = kit;
}

/**
 * Opens the socket of visitor `anon` with the token that `pending` (the
 * token request trigger.js started when it reserved the slot with `marker`)
 * brings, unless the slot was given up meanwhile.
 */
export async function open(c, marker, anon, pending) {
  if (c.ws != marker) return;
  try {
    const res = await pending;
    if (res.status >= 400 && res.status < 500 && res.status != 429) {
      const body = await res.json().catch(() => ({}));
      if (c.ws == marker) c.ws = null;
      return k.report(c, k.error(body.code || 'http_' + res.status, 'the relay refused a visitor token', { status: res.status }));
    }
    const { token } = await res.json();
    if (c.ws != marker || c.anon != anon) return;
    const ws = new WebSocket(c.base.replace(/^http/, 'ws') + '/v1/visitors/' + encodeURIComponent(anon) + '/ws?key=' + c.q + '&token=' + encodeURIComponent(token));
    ws.binaryType = 'arraybuffer';
    c.ws = ws;
    ws.onopen = () => {
      c.wsOpen = true;
      c.say('socket open', ws.extensions);
      c.wsAttempt = 0;
      // What waits for the HTTP flush interval goes now, on the socket.
      c.cut();
    };
    ws.onmessage = (m) => k.safe(c, () => message(c, m.data));
    ws.onclose = (ev) => k.safe(c, () => closed(c, ws, ev.code));
  } catch (e) {
    if (c.ws == marker) c.ws = null;
    closed(c, null, 0);
  }
}

/** The socket closed (or never opened): reconnect with backoff unless refused for good. */
function closed(c, ws, code) {
  if (ws && ws != c.ws) return;
  c.say('socket closed', code);
  c.ws = null;
  c.wsOpen = false;
  for (const r of c.sent.values()) r([k.SOCKET_CLOSED, '']);
  c.sent.clear();
  if (c.off || c.dead || code == CLOSE_ORIGIN_NOT_ALLOWED) return;
  const d = k.outcome(0, '', c.wsAttempt++, 0, Math.random());
  clearTimeout(c.wsTimer);
  c.wsTimer = setTimeout(() => k.connect(c), d);
}

/** Closes the socket on purpose (new visitor, opt-out, destroy). */
export function closeSocket(c) {
  clearTimeout(c.wsTimer);
  const ws = c.ws;
  c.ws = null;
  c.wsOpen = false;
  if (ws && ws.close) {
    ws.onclose = null;
    ws.close(1000);
  }
  // Frames waiting for the socket's answer go again over HTTP, at once.
  for (const r of c.sent.values()) r([k.SOCKET_CLOSED, '']);
  c.sent.clear();
}

function message(c, data) {
  if (typeof data != 'string') return;
  const m = JSON.parse(data);
  if (m.type == 'firing' && m.firing) {
    const f = m.firing;
    const id = String(f.firing_id);
    if (!c.seen.has(id)) {
      c.seen.add(id);
      if (c.seen.size > 512) c.seen.delete(c.seen.values().next().value);
      c.say('firing', f.trigger, f.firing_id);
      const type = f.action && f.action.type;
      for (const key of new Set([type, f.trigger, '*'])) {
        for (const h of (c.handlers.get(key) || []).slice()) {
          try { h(f); } catch (e) { k.report(c, e); }
        }
      }
    }
    if (c.ws && c.wsOpen) c.ws.send(JSON.stringify({ type: 'ack', offsets: [m.offset] }));
  } else if (m.type == 'appended' || m.type == 'error') {
    const key = m.producer_id + ':' + m.sequence;
    const r = c.sent.get(key);
    if (r) {
      c.sent.delete(key);
      // The relay's error carries the HTTP status the same failure would
      // have had (a storage failure: 500, retried like over HTTP).
      r(m.type == 'appended' ? [200, '', 0, m.plan] : [m.status || 400, m.code || '', (m.retry_after || 0) * 1000]);
    }
  }
}

/** One frame over the socket; resolves to [status, code, retryAfterMs, plan] like fetch would. */
export function sendSocket(c, p, f) {
  return new Promise((res) => {
    const key = p.dec + ':' + f.seq;
    const t = setTimeout(() => {
      c.sent.delete(key);
      res([0, '']);
    }, 5000);
    c.sent.set(key, (v) => {
      clearTimeout(t);
      res(v);
    });
    c.ws.send(f.bytes);
  });
}
