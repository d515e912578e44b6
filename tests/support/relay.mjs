// Starts the built relay (relay/build, made by relay/build.sh) in the real
// Workers runtime, workerd, through Miniflare: SQLite-backed Durable Objects,
// alarms and hibernating WebSockets as in production, listening on 127.0.0.1.
import { Miniflare } from 'miniflare';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'node:http';
import { tempDir } from './tmp.mjs';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Secrets and keys the tests use; the relay reads them as bindings. */
export const TEST_SECRETS = {
  ADMIN_TOKEN: 'test-admin-token',
  EDITOR_TOKEN: 'test-editor-token',
  VIEWER_TOKEN: 'test-viewer-token',
  SUBSCRIBER_TOKEN: 'test-subscriber-token',
  VISITOR_TOKEN_KEY: 'test-visitor-token-key-0123456789abcdef',
};
export const WRITE_KEY = 'test-write-key';

/**
 * POSTs `body` to `url` on a connection of its own, closed after the answer;
 * resolves to `{ status, body, headers }` as `relay.api` does. For bodies
 * the relay refuses before reading them (a Content-Length over the frame
 * limit is 413 at once): workerd then closes that connection, and fetch's
 * pool could send the test's next request on it, which fails with "fetch
 * failed" (seen in CI). Browsers retry such a request; undici does not
 * retry a POST.
 */
export function postAlone(url, body, headers = {}) {
  return new Promise((resolve, reject) => {
    let answered = false;
    const req = request(url, { method: 'POST', agent: false, headers: { ...headers, connection: 'close', 'content-length': body.length } }, (res) => {
      answered = true;
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString();
        let parsed = text;
        try {
          parsed = JSON.parse(text);
        } catch {}
        const headers = new Headers();
        for (const [k, v] of Object.entries(res.headers)) for (const x of [v].flat()) headers.append(k, x);
        resolve({ status: res.statusCode, body: parsed, headers });
      });
    });
    // Writing the rest of a refused body may fail once the answer is in.
    req.on('error', (e) => answered || reject(e));
    req.end(body);
  });
}

/**
 * CPU seconds (user + system) of the workerd processes this process started
 * (every relay it runs: benches run one at a time), from /proc; `null` where
 * there is no /proc or no such process. For figures, not tests.
 */
export function workerdCpu() {
  let ticks = 0;
  let found = false;
  let pids;
  try {
    pids = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
  } catch {
    return null;
  }
  for (const pid of pids) {
    let stat;
    try {
      stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // pid (comm) state ppid ... utime stime: fields 14 and 15, counted after the comm's ')'.
    const close = stat.lastIndexOf(')');
    const comm = stat.slice(stat.indexOf('(') + 1, close);
    const f = stat.slice(close + 2).split(' ');
    if (comm !== 'workerd' || Number(f[1]) !== process.pid) continue;
    found = true;
    ticks += Number(f[11]) + Number(f[12]);
  }
  return found ? ticks / 100 : null; // USER_HZ is 100 on Linux
}

/**
 * Starts the relay. `persist` is a directory for Durable Object storage
 * (a fresh temporary one by default); restarting over the same directory
 * keeps the state, as a redeploy or a runtime restart would.
 */
export async function startRelay({ persist, partitions = 4, origins = [], vars = {}, port = 0, r2Buckets = [], cf = false, inspectorPort } = {}) {
  const script = join(ROOT, 'relay', 'build', 'index.js');
  if (!existsSync(script)) throw new Error(`${script} is missing: run relay/build.sh first`);
  persist ??= tempDir('eventstream-relay-');
  const writeKeys = { [WRITE_KEY]: { origins } };
  const options = {
    modules: true,
    scriptPath: script,
    modulesRoot: join(ROOT, 'relay', 'build'),
    modulesRules: [{ type: 'CompiledWasm', include: ['**/*.wasm'], fallthrough: true }],
    compatibilityDate: '2026-04-01',
    durableObjects: {
      PARTITION: { className: 'Partition', useSQLite: true },
      CONTROL: { className: 'Control', useSQLite: true },
    },
    durableObjectsPersist: join(persist, 'do'),
    // R2 buckets by binding name (`ARCHIVE`), kept beside the objects.
    r2Buckets,
    r2Persist: join(persist, 'r2'),
    bindings: { PARTITIONS: String(partitions), ...TEST_SECRETS, WRITE_KEYS: JSON.stringify(writeKeys), ...vars },
    // Request properties (`request.cf`) the runtime gives the worker: none
    // by default, or the object given (geo, bot management) to test enrichment.
    cf,
    host: '127.0.0.1',
    port,
    // For CPU profiles of the worker and its objects (Chrome DevTools protocol).
    ...(inspectorPort ? { inspectorPort } : {}),
  };
  let mf = new Miniflare(options);
  let url = (await mf.ready).toString().replace(/\/$/, '');
  const relay = {
    get url() {
      return url;
    },
    persist,
    get mf() {
      return mf;
    },
    /** Stops the runtime; storage stays in `persist`. */
    async stop() {
      if (mf) await mf.dispose();
      mf = null;
    },
    /** Starts the runtime again over the same storage, on the same port. */
    async start() {
      const port = Number(new URL(url).port);
      mf = new Miniflare({ ...options, port });
      url = (await mf.ready).toString().replace(/\/$/, '');
    },
    async restart() {
      await relay.stop();
      await relay.start();
    },
    /** JSON request with a bearer token; returns {status, body, headers}. */
    async api(method, path, { token, body, headers = {} } = {}) {
      const res = await fetch(url + path, {
        method,
        headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: body === undefined ? undefined : typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body),
      });
      const text = await res.text();
      let parsed = text;
      try {
        parsed = JSON.parse(text);
      } catch {}
      return { status: res.status, body: parsed, headers: res.headers };
    },
    /** Uploads a trigger file (object or JSON text) with the admin token. */
    pushTriggers(file) {
      return relay.api('PUT', '/v1/admin/triggers', { token: TEST_SECRETS.ADMIN_TOKEN, body: typeof file === 'string' ? file : JSON.stringify(file) });
    },
    /** Every record of a stream across all partitions, read over HTTP from the earliest offset. */
    async readAll(stream = 'events') {
      const health = await relay.api('GET', '/health');
      const records = [];
      for (let p = 0; p < health.body.partitions; p++) {
        let from = 'earliest';
        for (;;) {
          const r = await relay.api('GET', `/v1/partitions/${p}/${stream}?from=${from}&limit=1000`, { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
          if (r.status !== 200) throw new Error(`read ${stream} p${p}: ${r.status} ${JSON.stringify(r.body)}`);
          records.push(...r.body.records);
          if (r.body.records.length === 0 || r.body.next_offset >= r.body.end) break;
          from = r.body.next_offset;
        }
      }
      return records;
    },
  };
  return relay;
}
