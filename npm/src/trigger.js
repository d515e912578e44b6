// Loads the trigger socket (socket.js) when a visitor first connects. It is
// a file of its own: a page with `triggers: false` never downloads it, and
// a page with triggers fetches it in parallel with the visitor's token,
// which the socket waits for anyway, so it adds no round trip.
import { outcome } from './wasm.js';
import { noop, error, safe, report } from './util.js';

/** The status of a frame whose socket closed before the answer: not an attempt, it goes again. */
export const SOCKET_CLOSED = -1;

let loading; // the import of socket.js, once started
/** socket.js once loaded (a frame goes on the socket only while one is open). */
export let sock;

/** Opens the socket of the current visitor, with a token from the relay. */
export function connect(c) {
  if (c.off || c.dead || c.ws) return;
  const anon = c.anon;
  const marker = (c.ws = {}); // reserves the slot while the token and socket.js load
  const token = fetch(c.base + '/v1/token?key=' + c.q + '&visitor=' + encodeURIComponent(anon), { credentials: 'omit' });
  token.catch(noop); // socket.js sees the failure
  (loading ||= import('./socket.js').then((m) => {
    m.setup({ outcome, error, safe, report, connect, SOCKET_CLOSED });
    return (sock = m);
  })).then(
    (m) => m.open(c, marker, anon, token),
    (e) => {
      // Not retried before the next visitor (or page): the file is missing
      // or the network is down, and a firing cannot arrive either way.
      loading = null;
      if (c.ws == marker) c.ws = null;
      report(c, error('triggers_unavailable', 'could not load the trigger socket (socket.js next to index.js): ' + e.message));
    },
  );
}

/** Closes the socket on purpose (new visitor, opt-out, destroy). */
export function closeSocket(c) {
  if (sock) sock.closeSocket(c);
  // socket.js is loading: giving up the slot makes its open() do nothing.
  else c.ws = null;
}
