// Server-side backtest figures in local workerd: the reference corpus (and
// N copies of it, under other visitor ids) loaded through the ingest route,
// then POST /v1/admin/backtest with examples/triggers.json and with
// bench/triggers-50.json over everything retained, timed from the request
// to the result line, as the console's marketer waits for it.
//
// Prints one JSON line per run: events, the wall time, events per second
// overall, and per partition (its events over the time its progress line
// arrived: an upper bound on its replay, queueing included).
// Usage: node bench/backtest.mjs [--copies 1,10] [--partitions 4]
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { startRelay, TEST_SECRETS, ROOT } from '../tests/support/relay.mjs';
import { loadCorpus, readCorpus } from '../tests/support/corpus.mjs';
import { Api } from '../console/src/api.js';

const { values } = parseArgs({ options: { copies: { type: 'string', default: '1,10' }, partitions: { type: 'string', default: '4' } } });
const partitions = Number(values.partitions);
const files = {
  'examples/triggers.json': readFileSync(join(ROOT, 'examples', 'triggers.json'), 'utf8'),
  'bench/triggers-50.json': readFileSync(join(ROOT, 'bench', 'triggers-50.json'), 'utf8'),
};
const calls = readCorpus();

async function run(relay, name, file, events) {
  const t0 = performance.now();
  const arrivals = new Map();
  // The console's own client: the bench waits as the marketer's page does.
  const api = new Api(TEST_SECRETS.EDITOR_TOKEN, relay.url);
  const result = await api.backtest(file, 'all', (line) => {
    if (line.type === 'progress') arrivals.set(line.partition, { ms: performance.now() - t0, events: line.events });
  });
  const ms = performance.now() - t0;
  if (!result || result.events !== events) throw new Error(`backtest of ${name}: ${JSON.stringify(result)?.slice(0, 300)}`);
  const perPartition = [...arrivals.values()].map((a) => a.events / (a.ms / 1000));
  return {
    figure: 'relay_backtest',
    file: name,
    partitions,
    events,
    firings: result.triggers.reduce((n, t) => n + t.candidate.firings, 0),
    ms: Math.round(ms),
    events_per_sec: Math.round(events / (ms / 1000)),
    per_partition_events_per_sec_min: Math.round(Math.min(...perPartition)),
  };
}

for (const copies of values.copies.split(',').map(Number)) {
  const relay = await startRelay({ partitions, vars: { RATE_LIMIT_PER_SEC: '0' } });
  try {
    let events = 0;
    for (let c = 0; c < copies; c++) events += await loadCorpus(relay, { calls, suffix: c ? `-c${c}` : '' });
    const put = await relay.pushTriggers(files['examples/triggers.json']);
    if (put.status !== 200) throw new Error(JSON.stringify(put.body));
    // Warm-up (not counted): the wasm reaches its optimised tier after some work.
    await run(relay, 'examples/triggers.json', files['examples/triggers.json'], events);
    for (const [name, file] of Object.entries(files)) console.log(JSON.stringify({ copies, ...(await run(relay, name, file, events)) }));
  } finally {
    await relay.stop();
  }
}
