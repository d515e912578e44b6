// The archive in workerd (Miniflare's R2 simulation): the reference corpus
// ingested, the partitions' alarms write Parquet segments, DuckDB reads them
// back; exactly once across an injected failure; retention holds back what
// is not archived; the CLI's export writes the same files, twice the same.
// DuckDB comes from scripts/lib.sh's ensure_duckdb (DUCKDB_PYTHON), run here
// if it is not set.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, dirname, relative } from 'node:path';
import { startRelay, ROOT, TEST_SECRETS } from '../support/relay.mjs';
import { loadCorpus } from '../support/corpus.mjs';
import { codeBlocks } from '../support/readme.mjs';
import { encodeFrames, makeFrame, WRITE_KEY } from './helpers.mjs';
import { tempDir } from '../support/tmp.mjs';

const KEY_RE = /^(events|firings)\/v1\/dt=\d{4}-\d{2}-\d{2}\/hour=\d{2}\/part=\d{3}\/(\d{20})-(\d{20})\.parquet$/;

function duckdbPython() {
  if (process.env.DUCKDB_PYTHON) return process.env.DUCKDB_PYTHON;
  execFileSync('bash', ['-c', 'source scripts/lib.sh && ensure_duckdb >&2'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
  return join(ROOT, '.tools', 'duckdb-venv', 'bin', 'python');
}

/** Runs `sql` in DuckDB; rows as arrays of JSON-safe values. */
function duck(sql) {
  const py = 'import duckdb, json, sys\nrows = duckdb.sql(sys.argv[1]).fetchall()\nprint(json.dumps(rows, default=str))';
  return JSON.parse(execFileSync(duckdbPython(), ['-c', py, sql], { encoding: 'utf8', maxBuffer: 1 << 28 }));
}

async function stats(relay) {
  const r = await relay.api('GET', '/v1/partitions', { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return r.body.partitions ?? r.body;
}

/** Waits (bounded) until every partition's archive has written both streams to their end. */
async function archivedAll(relay, limitMs = 60_000) {
  const until = Date.now() + limitMs;
  for (;;) {
    const s = await stats(relay);
    if (s.every((p) => p.archive && p.archive.events.lag === 0 && p.archive.firings.lag === 0)) return s;
    if (Date.now() > until) throw new Error(`archive still behind: ${JSON.stringify(s.map((p) => p.archive))}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** Every object of the bucket, written under `dir` by key; returns the keys. */
async function download(relay, dir) {
  const bucket = await relay.mf.getR2Bucket('ARCHIVE');
  const keys = [];
  let cursor;
  do {
    const page = await bucket.list({ cursor, include: ['customMetadata'] });
    for (const o of page.objects) {
      keys.push(o.key);
      const body = await bucket.get(o.key);
      mkdirSync(dirname(join(dir, o.key)), { recursive: true });
      writeFileSync(join(dir, o.key), Buffer.from(await body.arrayBuffer()));
    }
    cursor = page.truncated ? page.cursor : undefined;
  } while (cursor);
  return keys.sort();
}

function filesUnder(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

function cli(args) {
  return execFileSync(join(ROOT, 'target', 'debug', 'eventstream'), args, {
    encoding: 'utf8',
    env: { ...process.env, EVENTSTREAM_SUBSCRIBER_TOKEN: TEST_SECRETS.SUBSCRIBER_TOKEN },
  });
}

async function send(relay, frames) {
  for (const body of encodeFrames(frames)) {
    const res = await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body });
    assert.equal(res.status, 200, await res.text());
  }
}

let relay;
let stored;
before(async () => {
  // With request properties, so that the relay's enrichment is archived too.
  const cf = { country: 'DE', region: 'Berlin', city: 'Berlin', continent: 'EU', timezone: 'Europe/Berlin', asn: 3320 };
  relay = await startRelay({ partitions: 4, r2Buckets: ['ARCHIVE'], cf, vars: { ARCHIVE_INTERVAL_MS: '1500', RATE_LIMIT_PER_SEC: '0' } });
  // The example triggers fire on the corpus: the firing stream is archived too.
  const triggers = await relay.pushTriggers(readFileSync(join(ROOT, 'examples', 'triggers.json'), 'utf8'));
  assert.equal(triggers.status, 200, JSON.stringify(triggers.body));
  stored = await loadCorpus(relay);
});
after(async () => relay?.stop());

test('create-only puts: a second put of a key is refused and changes nothing', async () => {
  const bucket = await relay.mf.getR2Bucket('ARCHIVE');
  const key = 'conditional-put-check/x';
  const first = await bucket.put(key, 'one', { onlyIf: { etagDoesNotMatch: '*' }, customMetadata: { n: '1' } });
  assert.ok(first, 'a new key is written');
  const second = await bucket.put(key, 'two', { onlyIf: { etagDoesNotMatch: '*' } });
  assert.equal(second, null, 'an existing key is refused');
  const got = await bucket.get(key);
  assert.equal(await got.text(), 'one');
  assert.deepEqual(got.customMetadata, { n: '1' });
  await bucket.delete(key);
});

test('every event lands once, in offset order, and DuckDB reads it back', async () => {
  const s = await archivedAll(relay);
  const ends = s.map((p) => p.events.end);
  assert.equal(ends.reduce((a, b) => a + b, 0), stored);
  const dir = tempDir('eventstream-archive-');
  const keys = await download(relay, dir);
  const eventKeys = keys.filter((k) => k.startsWith('events/'));
  for (const k of keys) assert.match(k, KEY_RE);
  // Keys chain per partition: each segment starts where the last ended.
  for (let p = 0; p < 4; p++) {
    const mine = eventKeys.filter((k) => k.includes(`/part=${String(p).padStart(3, '0')}/`)).map((k) => k.match(KEY_RE).slice(2).map(Number));
    mine.sort((a, b) => a[0] - b[0]);
    let next = 0;
    for (const [first, last] of mine) {
      assert.equal(first, next, `partition ${p}: no gap, no overlap`);
      next = last + 1;
    }
    assert.equal(next, ends[p], `partition ${p} archived to its end`);
  }
  const glob = `${dir}/events/**/*.parquet`;
  const [[rows, distinct, partitions]] = duck(
    `SELECT count(*), count(DISTINCT (partition, "offset")), count(DISTINCT part) FROM read_parquet('${glob}', hive_partitioning = true)`,
  );
  assert.deepEqual([rows, distinct, partitions], [stored, stored, 4]);
  const perPartition = duck(
    `SELECT partition, min("offset"), max("offset"), count(*) FROM read_parquet('${glob}', hive_partitioning = true) GROUP BY partition ORDER BY partition`,
  );
  for (const [p, min, max, n] of perPartition) {
    assert.deepEqual([min, max, n], [0, ends[p] - 1, ends[p]], `partition ${p} contiguous`);
  }
  // The same events as the relay serves, field for field where they overlap.
  const served = await relay.readAll('events');
  const archived = duck(
    `SELECT partition, "offset", kind, event_name, anonymous_id, epoch_ms(event_time), properties, producer_id::VARCHAR, "sequence", event_index,
            geo_country, geo_city, geo_asn, device_type, bot
     FROM read_parquet('${glob}') ORDER BY partition, "offset"`,
  );
  served.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  assert.equal(archived.length, served.length);
  for (let i = 0; i < served.length; i++) {
    const r = served[i];
    const a = archived[i];
    assert.deepEqual(
      [a[0], a[1], a[2], a[3], a[4], a[5], JSON.parse(a[6]), a[7], a[8], a[9], a[10], a[11], a[12], a[13], a[14]],
      [r.partition, r.offset, r.kind, r.name, r.visitor, r.time, r.properties, r.producer_id, r.sequence, r.index,
        r.context.geo?.country ?? null, r.context.geo?.city ?? null, r.context.geo?.asn ?? null, r.context.device?.type ?? null, r.context.bot ?? null],
    );
    assert.equal(a[10], 'DE', 'the enrichment is archived');
  }
  // The analyst's first query of the README runs, over these files.
  const query = codeBlocks().find((b) => b.lang === 'sql' && b.code.includes("read_parquet('archive/"));
  assert.ok(query, "README: the sql block over read_parquet('archive/...')");
  const top = duck(query.code.replace("'archive/", `'${dir}/`).replace(/;\s*$/, ''));
  const tracks = served.filter((r) => r.kind === 'track');
  const counts = {};
  for (const r of tracks) counts[r.name] = (counts[r.name] ?? 0) + 1;
  const best = Math.max(...Object.values(counts));
  assert.deepEqual([top[0][1], top.length], [best, Math.min(10, Object.keys(counts).length)]);
  // Firings: every record once, whole.
  const firingEnds = s.map((p) => p.firings.end);
  const firingsTotal = firingEnds.reduce((a, b) => a + b, 0);
  assert.ok(firingsTotal > 0, 'the example triggers fired');
  const [[firings, distinctFirings]] = duck(
    `SELECT count(*), count(DISTINCT (partition, "offset")) FROM read_parquet('${dir}/firings/**/*.parquet', hive_partitioning = true)`,
  );
  assert.deepEqual([firings, distinctFirings], [firingsTotal, firingsTotal]);
  const servedFirings = await relay.readAll('firings');
  const archivedFirings = duck(`SELECT record FROM read_parquet('${dir}/firings/**/*.parquet') ORDER BY partition, "offset"`).map((r) => JSON.parse(r[0]));
  servedFirings.sort((a, b) => a.partition - b.partition || a.offset - b.offset);
  assert.deepEqual(archivedFirings, servedFirings);
  // Metadata: offsets and row counts as the key says.
  const bucket = await relay.mf.getR2Bucket('ARCHIVE');
  const head = await bucket.head(eventKeys[0]);
  const [, first, last] = eventKeys[0].match(KEY_RE).slice(1).map(Number);
  assert.equal(Number(head.customMetadata.first_offset), first);
  assert.equal(Number(head.customMetadata.last_offset), last);
  assert.equal(Number(head.customMetadata.rows), last - first + 1);
  assert.match(head.customMetadata.sha256, /^[0-9a-f]{64}$/);
});

test('the CLI export writes the same files, and the same again', async () => {
  await archivedAll(relay);
  const fromR2 = tempDir('eventstream-r2-');
  await download(relay, fromR2);
  const a = tempDir('eventstream-export-');
  const b = tempDir('eventstream-export-');
  for (const out of [a, b]) {
    cli(['export', '--relay', relay.url, '--stream', 'events', '--from', 'earliest', '--out', out, '--interval-ms', '1500']);
  }
  const files = filesUnder(a);
  assert.deepEqual(files, filesUnder(b));
  assert.deepEqual(files, filesUnder(join(fromR2)).filter((k) => k.startsWith('events/')));
  for (const f of files) {
    assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(b, f))), `${f} twice the same`);
    assert.ok(readFileSync(join(a, f)).equals(readFileSync(join(fromR2, f))), `${f} as the relay wrote it`);
  }
  const nd = tempDir('eventstream-export-');
  cli(['export', '--relay', relay.url, '--stream', 'events', '--from', 'earliest', '--out', nd, '--format', 'ndjson', '--interval-ms', '1500']);
  const ndFiles = filesUnder(nd);
  assert.deepEqual(ndFiles, files.map((f) => f.replace(/\.parquet$/, '.ndjson')));
  const lines = ndFiles.flatMap((f) => readFileSync(join(nd, f), 'utf8').trim().split('\n'));
  assert.equal(lines.length, stored);
});

test('a failure between the put and the position ends with one object per segment and no gap', async () => {
  const r = await startRelay({ partitions: 1, r2Buckets: ['ARCHIVE'], vars: { ARCHIVE_INTERVAL_MS: '500', ARCHIVE_TEST_FAIL_AFTER_PUT: 'once' } });
  try {
    const events = Array.from({ length: 5 }, (_, i) => ({ kind: 'track', name: `e${i}`, time: Date.now(), properties: {} }));
    await send(r, [makeFrame({ visitor: 'v-fail', producerId: '77', sequence: 0, events })]);
    const [p] = await archivedAll(r);
    assert.equal(p.archive.injected_failures, 1, 'the failure was injected');
    assert.equal(p.archive.events.position, 5);
    const keys = await download(r, tempDir('eventstream-fail-'));
    assert.deepEqual(keys.filter((k) => k.startsWith('events/')).map((k) => k.match(KEY_RE).slice(2).map(Number)), [[0, 4]]);
    assert.equal(p.archive.error, null);
  } finally {
    await r.stop();
  }
});

test('retention never deletes a batch the archive has not written', async () => {
  const persist = tempDir('eventstream-retention-');
  const opts = { persist, partitions: 1, r2Buckets: ['ARCHIVE'] };
  // Every alarm runs retention over its size bound (1 byte) before it
  // archives; with every archive write failing, the object exists but the
  // position never moves, so the batch must stay.
  let r = await startRelay({ ...opts, vars: { RETENTION_BYTES: '1', ARCHIVE_INTERVAL_MS: '300', ARCHIVE_TEST_FAIL_AFTER_PUT: 'always' } });
  try {
    const events = [{ kind: 'track', name: 'kept', time: Date.now(), properties: {} }];
    await send(r, [makeFrame({ visitor: 'v-ret', producerId: '78', sequence: 0, events })]);
    const bucket = await r.mf.getR2Bucket('ARCHIVE');
    for (let i = 0; ; i++) {
      const [p] = await stats(r);
      if (p.archive.injected_failures >= 2) break;
      if (i > 300) throw new Error('no archive attempt: ' + JSON.stringify(p.archive));
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.equal((await bucket.list()).objects.length, 1, 'the object was written');
    let [p] = await stats(r);
    assert.deepEqual([p.events.earliest, p.events.end, p.archive.events.position], [0, 1, 0]);
    // Without the failure the position moves, and retention then deletes.
    await r.stop();
    r = await startRelay({ ...opts, vars: { RETENTION_BYTES: '1', ARCHIVE_INTERVAL_MS: '300' } });
    await send(r, [makeFrame({ visitor: 'v-ret', producerId: '78', sequence: 1, events })]);
    for (let i = 0; ; i++) {
      [p] = await stats(r);
      if (p.archive.events.position === 2 && p.events.earliest === 2) break;
      if (i > 300) throw new Error('not archived and deleted: ' + JSON.stringify(p));
      await new Promise((res) => setTimeout(res, 100));
    }
    const keys = (await (await r.mf.getR2Bucket('ARCHIVE')).list()).objects.map((o) => o.key.match(KEY_RE).slice(2).map(Number));
    assert.deepEqual(keys, [[0, 0], [1, 1]]);
  } finally {
    await r.stop();
  }
});

test('a key that holds other contents stops the archive of that partition, and is never overwritten', async () => {
  const interval = 5000;
  const r = await startRelay({ partitions: 1, r2Buckets: ['ARCHIVE'], vars: { ARCHIVE_INTERVAL_MS: String(interval) } });
  try {
    // Appended right after an interval starts, so that the test has the
    // whole interval to place its object first.
    await new Promise((res) => setTimeout(res, interval - (Date.now() % interval) + 20));
    const events = Array.from({ length: 3 }, (_, i) => ({ kind: 'track', name: `c${i}`, time: Date.now(), properties: {} }));
    await send(r, [makeFrame({ visitor: 'v-conflict', producerId: '79', sequence: 0, events })]);
    // The key the archive will write, from when the frame was appended.
    const [p] = await stats(r);
    const start = p.archive.events.oldest_unarchived_at - (p.archive.events.oldest_unarchived_at % interval);
    const iso = new Date(start).toISOString();
    const key = `events/v1/dt=${iso.slice(0, 10)}/hour=${iso.slice(11, 13)}/part=000/${'0'.repeat(20)}-${'2'.padStart(20, '0')}.parquet`;
    const bucket = await r.mf.getR2Bucket('ARCHIVE');
    const placed = await bucket.put(key, 'not ours', { onlyIf: { etagDoesNotMatch: '*' }, customMetadata: { rows: '3' } });
    assert.ok(placed, `placed before the interval ended (${JSON.stringify(p.archive)}, ${JSON.stringify((await bucket.list()).objects.map((o) => o.key))})`);
    let s;
    for (let i = 0; ; i++) {
      [s] = await stats(r);
      if (s.archive.error) break;
      if (i > 300) throw new Error('no archive error: ' + JSON.stringify(s.archive));
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.match(s.archive.error, /exists with other contents/);
    assert.ok(s.archive.error.includes(key), s.archive.error);
    assert.deepEqual([s.archive.events.position, s.archive.events.lag, s.events.earliest], [0, 3, 0], 'nothing moved, nothing deleted');
    assert.equal(await (await bucket.get(key)).text(), 'not ours', 'never overwritten');
  } finally {
    await r.stop();
  }
});
