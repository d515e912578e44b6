// Archive figures in local workerd (Miniflare's R2): how fast one partition
// writes its log to Parquet, against how fast it ingests, and bytes per event
// in Parquet against NDJSON gzip for the reference corpus.
//
// 1. COPIES copies of the reference corpus are ingested into one partition
//    with an interval the archive never reaches (it writes nothing).
// 2. The relay restarts with a 1 s interval over the same storage and one more
//    frame wakes the partition: every segment is closed, and the time until
//    the archive's lag is 0 gives the archive rate (read from SQLite, decode,
//    encode to Parquet, put to R2, move the position), one alarm after another.
//    Compare it with the ingest figures of tests/relay/load.mjs (relay/README,
//    "Figures"): the archive runs on the same object's thread as ingest.
// 3. Bytes: the archived Parquet files over the events, against every file's
//    records as NDJSON (as the relay serves them) gzipped (level 6), file by file.
// What archiving adds to each event's CPU time while the partition ingests is
// measured by `node tests/relay/load.mjs --archive 1000` (scripts/bench prints it).
// Usage: node bench/archive.mjs [--copies 5]
import { gzipSync } from 'node:zlib';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRelay, TEST_SECRETS, WRITE_KEY } from '../tests/support/relay.mjs';
import { loadCorpus, readCorpus } from '../tests/support/corpus.mjs';
import { encodeFrames, makeFrame } from '../tests/support/frames.mjs';
import { tempDir } from '../tests/support/tmp.mjs';

const { values } = parseArgs({ options: { copies: { type: 'string', default: '5' } } });
const copies = Number(values.copies);
const persist = tempDir('eventstream-archive-bench-');
const opts = { persist, partitions: 1, r2Buckets: ['ARCHIVE'] };
const noLimit = { RATE_LIMIT_PER_SEC: '0' };

async function stats(relay) {
  const r = await relay.api('GET', '/v1/partitions', { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
  return (r.body.partitions ?? r.body)[0];
}

let relay = await startRelay({ ...opts, vars: { ...noLimit, ARCHIVE_INTERVAL_MS: String(1e13) } });
const calls = readCorpus();
let events = 0;
const t0 = performance.now();
for (let c = 0; c < copies; c++) events += await loadCorpus(relay, { calls, suffix: `-${c}` });
const ingestS = (performance.now() - t0) / 1000;
await relay.stop();

relay = await startRelay({ ...opts, vars: { ...noLimit, ARCHIVE_INTERVAL_MS: '1000' } });
const t1 = performance.now();
const [nudge] = encodeFrames([makeFrame({ visitor: 'bench-nudge', events: [{ kind: 'track', name: 'nudge' }] })]);
await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body: nudge });
events += 1;
let s;
for (;;) {
  s = await stats(relay);
  if (s.archive.events.lag === 0) break;
  if (performance.now() - t1 > 600_000) throw new Error('archive did not catch up in 10 min: ' + JSON.stringify(s.archive));
  await new Promise((r) => setTimeout(r, 50));
}
const archiveS = (performance.now() - t1) / 1000;

const bucket = await relay.mf.getR2Bucket('ARCHIVE');
let parquetBytes = 0;
let files = 0;
let cursor;
do {
  const page = await bucket.list({ prefix: 'events/', cursor });
  for (const o of page.objects) {
    parquetBytes += o.size;
    files += 1;
  }
  cursor = page.truncated ? page.cursor : undefined;
} while (cursor);
// The same segments as NDJSON gzip: the records as served, cut at the same offsets.
let ndjsonGzip = 0;
const keys = [];
cursor = undefined;
do {
  const page = await bucket.list({ prefix: 'events/', cursor, include: ['customMetadata'] });
  keys.push(...page.objects.map((o) => [Number(o.customMetadata.first_offset), Number(o.customMetadata.last_offset)]));
  cursor = page.truncated ? page.cursor : undefined;
} while (cursor);
const records = await relay.readAll('events');
for (const [first, last] of keys) {
  const lines = records.slice(first, last + 1).map((r) => JSON.stringify(r)).join('\n') + '\n';
  ndjsonGzip += gzipSync(lines).length;
}
await relay.stop();

console.log(
  JSON.stringify({
    events,
    files,
    // Frame encoding (the CLI) included: not the relay's ingest rate.
    load_seconds: +ingestS.toFixed(1),
    archive_events_per_s: Math.round(events / archiveS),
    parquet_bytes_per_event: +(parquetBytes / events).toFixed(1),
    ndjson_gzip_bytes_per_event: +(ndjsonGzip / events).toFixed(1),
  }),
);
