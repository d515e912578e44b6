// Triggers: the visitor's WebSocket to the relay. Firings come in (each
// handed to the page's handlers once, then acknowledged); while it is open,
// frames go out on it and their answers come back on it.
//
// Client fields this module keeps: ws (null, a marker object while the token
// loads, or the socket), open, wsAttempt, wsTimer, sent ('producerDec:seq' ->
// resolve, for frames sent on the socket), seen.
import { outcome } from './wasm.js';
import { CLOSE_ORIGIN_NOT_ALLOWED } from './generated.js';
import { error, safe, report } from './util.js';
import { kick } from './delivery.js';

/** The status of a frame whose socket closed before the answer: not an attempt, it goes again. */
export const SOCKET_CLOSED = -1;

/** Opens the socket of the current visitor, with a token from the relay. */
export async function connect(c) {
  if (c.off || c.dead || c.ws) return;
  const anon = c.anon;
  const marker = (c.ws = {}); // reserves the slot while the token loads
  try {
    const res = await fetch(c.url + '/v1/token?key=' + c.q + '&visitor=' + encodeURIComponent(anon), { credentials: 'omit' });
    if (res.status >= 400 && res.status < 500 && res.status != 429) {
      const body = await res.json().catch(() => ({}));
      c.ws = null;
      return report(c, error(body.code || 'http_' + res.status, 'the relay refused a visitor token', { status: res.status }));
    }
    const { token } = await res.json();
    if (c.ws != marker || c.anon != anon) return;
    const ws = new WebSocket(c.url.replace(/^http/, 'ws') + '/v1/visitors/' + encodeURIComponent(anon) + '/ws?key=' + c.q + '&token=' + encodeURIComponent(token));
    ws.binaryType = 'arraybuffer';
    c.ws = ws;
    ws.onopen = () => {
      c.log('socket open');
      c.open = true;
      c.wsAttempt = 0;
      // What waits for the HTTP flush interval goes now, on the socket.
      c.cut();
    };
    ws.onmessage = (m) => safe(c, () => message(c, m.data));
    ws.onclose = (ev) => safe(c, () => closed(c, ws, ev.code));
  } catch (e) {
    if (c.ws == marker) c.ws = null;
    closed(c, null, 0);
  }
}

/** The socket closed (or never opened): reconnect with backoff unless refused for good. */
function closed(c, ws, code) {
  if (ws && ws != c.ws) return;
  c.log('socket closed', code);
  c.ws = null;
  c.open = false;
  for (const r of c.sent.values()) r([SOCKET_CLOSED, '']);
  c.sent.clear();
  if (c.off || c.dead || code == CLOSE_ORIGIN_NOT_ALLOWED) return;
  const d = outcome(0, '', c.wsAttempt++, 0, Math.random());
  clearTimeout(c.wsTimer);
  c.wsTimer = setTimeout(() => connect(c), d);
}

/** Closes the socket on purpose (new visitor, opt-out, destroy). */
export function closeSocket(c) {
  clearTimeout(c.wsTimer);
  const ws = c.ws;
  c.ws = null;
  c.open = false;
  if (ws && ws.close) {
    ws.onclose = null;
    ws.close(1000);
  }
  // Frames waiting for the socket's answer go again over HTTP, at once.
  for (const r of c.sent.values()) r([SOCKET_CLOSED, '']);
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
      c.log('firing', f.trigger, f.firing_id);
      const type = f.action && f.action.type;
      for (const key of new Set([type, f.trigger, '*'])) {
        for (const h of (c.handlers.get(key) || []).slice()) {
          try { h(f); } catch (e) { report(c, e); }
        }
      }
    }
    if (c.ws && c.open) c.ws.send(JSON.stringify({ type: 'ack', offsets: [m.offset] }));
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
