// The relay's console routes (the HTTP contract is in console/README.md).
// The token travels only in the Authorization header, never in a URL, and is
// kept in sessionStorage so that it dies with the tab.

const TOKEN_KEY = 'eventstream-console-token';

export function savedToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An error from the relay (or from reaching it), with a plain-words message. */
export class RelayError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

// What each error code means to a marketer; the relay's own message follows
// where it adds something.
const PLAIN = {
  unauthorized: 'The relay did not accept your token. Sign in again with a valid one.',
  forbidden: 'Your role cannot do this: viewers can read, validate and backtest, but not push, revert or replay.',
  backtest_busy: 'A backtest is already running for your token. Wait for it to finish, then try again.',
  no_triggers: 'The relay has no trigger file yet.',
  invalid_triggers: 'The relay refused the file: it has mistakes, marked in the editor.',
  invalid_plan: 'The relay refused the plan: it has mistakes, marked in the editor.',
  not_found: 'The relay does not know this address.',
};

function plain(status, code, message) {
  if (PLAIN[code]) return PLAIN[code];
  if (status === 404) return 'Not found on the relay' + (message ? `: ${message}` : '.');
  if (status >= 500) return `The relay failed (${status})` + (message ? `: ${message}` : '.');
  return message || `The relay answered ${status}.`;
}

export class Api {
  constructor(token, base = '') {
    this.token = token;
    this.base = base;
  }

  /** fetch with the token; throws RelayError for a failed request or a non-2xx answer. */
  async request(method, path, { body, json } = {}) {
    const headers = { authorization: `Bearer ${this.token}` };
    if (json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(json);
    }
    let res;
    try {
      res = await fetch(this.base + path, { method, headers, body, cache: 'no-store' });
    } catch (e) {
      throw new RelayError(0, 'network', `The relay could not be reached (${e.message}). Check your connection and try again.`);
    }
    if (!res.ok) {
      let parsed = null;
      const text = await res.text();
      try {
        parsed = JSON.parse(text);
      } catch {
        // Not JSON: a proxy's page or a plain-text error.
      }
      const code = parsed?.code ?? `http_${res.status}`;
      throw new RelayError(res.status, code, plain(res.status, code, parsed?.message ?? text.slice(0, 200)), parsed);
    }
    return res;
  }

  async json(method, path, opts) {
    return (await this.request(method, path, opts)).json();
  }

  whoami() {
    return this.json('GET', '/v1/admin/whoami');
  }

  /**
   * The active document (`triggers` or `plan`): {text, version}, or null
   * when there is none. The relay's routes are the same for both.
   */
  async activeFile(doc = 'triggers') {
    try {
      const res = await this.request('GET', `/v1/admin/${doc}`);
      return { text: await res.text(), version: Number(res.headers.get('x-eventstream-version')) || null };
    } catch (e) {
      if (e.code === `no_${doc}`) return null;
      throw e;
    }
  }

  /** The catalog's JSON text (handed to the wasm lint as it is) and its parsed form. */
  async catalog() {
    const text = await (await this.request('GET', '/v1/admin/catalog')).text();
    return { text, value: JSON.parse(text) };
  }

  versions(doc) {
    return this.json('GET', `/v1/admin/${doc}/versions`);
  }

  async versionText(doc, n) {
    return (await this.request('GET', `/v1/admin/${doc}/versions/${n}`)).text();
  }

  diff(doc, from, to) {
    return this.json('GET', `/v1/admin/${doc}/diff?from=${from}&to=${to}`);
  }

  /** `{ok, summary, warnings}`; a document with mistakes throws `invalid_<doc>` with `body.errors`. */
  validate(doc, text) {
    return this.json('POST', `/v1/admin/${doc}/validate`, { body: text });
  }

  /**
   * A push, revert or retry: the answer lists each partition's activation.
   * When a partition failed the relay answers 503 `activation_incomplete`
   * with the same body: the version exists, so that is an answer to show
   * (with Retry), not an error.
   */
  async activation(path, json) {
    try {
      return await this.json('POST', path, { json });
    } catch (e) {
      if (Array.isArray(e.body?.partitions) && e.body.version !== undefined) return { ...e.body, complete: false };
      throw e;
    }
  }

  push(doc, file, comment, author) {
    return this.activation(`/v1/admin/${doc}/versions`, { file, comment: comment || null, author: author || null });
  }

  activate(doc, n) {
    return this.activation(`/v1/admin/${doc}/versions/${n}/activate`, {});
  }

  revert(doc, n, comment, author) {
    return this.activation(`/v1/admin/${doc}/versions/${n}/revert`, { comment: comment || null, author: author || null });
  }

  /** The plan's violation counters, every partition merged. */
  planStats() {
    return this.json('GET', '/v1/admin/plan/stats');
  }

  /** Judges every quarantined event again with the active plan: {released, kept, complete, partitions}. */
  replay() {
    return this.json('POST', '/v1/admin/quarantine/replay');
  }

  /** Trigger counters of every partition merged: `GET /v1/admin/stats`. */
  stats(from, to, bucket, trigger) {
    const q = new URLSearchParams({ from: String(from), to: String(to), bucket });
    if (trigger) q.set('trigger', trigger);
    return this.json('GET', `/v1/admin/stats?${q}`);
  }

  /** Why `trigger` did or did not fire for `visitor`, event by event. */
  explain(visitor, trigger) {
    return this.json('GET', `/v1/admin/explain?${new URLSearchParams({ visitor, trigger })}`);
  }

  /** The partition count (`GET /health`, open to all). */
  async partitions() {
    return (await this.json('GET', '/health')).partitions;
  }

  /** A range of one partition's `events`, `firings` or `quarantine` stream: {records, next_offset, end, earliest}. */
  read(partition, stream, from, limit) {
    return this.json('GET', `/v1/partitions/${partition}/${stream}?from=${from}&limit=${limit}`);
  }

  visitorEvents(id) {
    return this.json('GET', `/v1/admin/visitors/${encodeURIComponent(id)}/events?limit=200`);
  }

  /**
   * Runs a backtest; `onLine` gets every NDJSON object as it arrives.
   * Resolves with the final `result` object.
   */
  async backtest(file, since, onLine) {
    const res = await this.request('POST', '/v1/admin/backtest', { json: { file, since } });
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let result = null;
    const take = (line) => {
      if (!line.trim()) return;
      const obj = JSON.parse(line);
      if (obj.type === 'result') result = obj;
      if (obj.type === 'error') throw new RelayError(200, obj.code ?? 'backtest_failed', obj.message ?? 'The backtest failed.', obj);
      onLine(obj);
    };
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let nl;
      while ((nl = buf.indexOf('\n')) >= 0) {
        take(buf.slice(0, nl));
        buf = buf.slice(nl + 1);
      }
    }
    take(buf + decoder.decode());
    if (!result) throw new RelayError(200, 'backtest_incomplete', 'The backtest ended without a result (the relay stopped answering). Try again.');
    return result;
  }
}
