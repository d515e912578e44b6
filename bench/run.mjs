// Prints every figure that matters, each beside its target and the peer, and
// writes them to bench-results/latest.json. Run through scripts/bench, which
// builds what this needs first. Usage: node bench/run.mjs [corpus.jsonl]
// (BENCH_ONLY=<regex of section titles> runs only those sections.)
import { writeFile, mkdir, readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { loadVisits, percentile } from './replay.mjs';
import { runSegment, startupSegment } from './segment.mjs';
import { runEventstream, startupEventstream, DIST } from './eventstream.mjs';
import { runRtt } from './rtt.mjs';
import { runSocketWire } from './socket-wire.mjs';
import { criterionResults } from './criterion.mjs';
import { measure as packageSize } from '../tests/sdk/size.mjs';
import { measure as consoleSize } from '../console/size.mjs';
import { landingFigures } from '../tests/e2e/figures.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const ROOT = join(here, '..');
const STARTUP_RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 15);

/**
 * Cold start-up, ours beside Segment's in the same run: init() called to
 * resolved, the main thread's busy time from init() until the page view is
 * on its way, and init() called to the first event's request (see
 * `coldStart` in eventstream.mjs). Both SDKs take the page's time zone from
 * Intl, whose first use costs 10-25 ms of that main-thread time cold.
 */
async function startup(figure) {
  const p50 = (xs) => percentile(xs, 50);
  const p90 = (xs) => percentile(xs, 90).toFixed(1);
  for (const [name, r] of [['SDK', await startupEventstream(STARTUP_RUNS)], ['Segment', await startupSegment(STARTUP_RUNS)]]) {
    const note = (xs) => `p90 ${p90(xs)}, ${STARTUP_RUNS} cold loads`;
    figure(`${name} start-up: init() to resolved, p50`, p50(r.initMs), 'ms', '', note(r.initMs));
    figure(`${name} start-up: init() + page view, main thread, p50`, p50(r.mainMs), 'ms', '', note(r.mainMs));
    figure(`${name} start-up: init() to first event sent, p50`, p50(r.firstSendMs), 'ms', '', note(r.firstSendMs));
  }
}

// `node bench/run.mjs --startup`: only the start-up figures (npm/build.sh
// first, and `npm ci` in bench/ for Segment).
if (process.argv[2] === '--startup') {
  const print = (name, v, unit, target, note) => console.log(`${name}: ${v.toFixed(1)} ${unit} (${note})`);
  await startup(print);
  process.exit(0);
}
const corpusPath = process.argv[2] ?? process.env.EVENTSTREAM_CORPUS ?? join(ROOT, 'examples', 'corpus', 'clickstream.jsonl');
const PACED_CALLS = Number(process.env.BENCH_PACED_CALLS ?? 30);
const PACED_MS = 2000;

const figures = [];
function figure(name, value, unit, target, note = '') {
  figures.push({ name, value, unit, target, note });
  const v = typeof value === 'number' ? (Math.abs(value) >= 100 ? Math.round(value).toLocaleString('en-US') : value.toFixed(2)) : String(value);
  console.error(`  ${name}: ${v} ${unit}${note ? ` (${note})` : ''}`);
}

// BENCH_ONLY=<regex>: only the sections whose title matches run, and the
// figures go to bench-results/partial.json, never to latest.json.
const ONLY = process.env.BENCH_ONLY ? new RegExp(process.env.BENCH_ONLY, 'i') : null;

async function section(title, fn) {
  if (ONLY && !ONLY.test(title)) return;
  console.error(`\n-- ${title}`);
  try {
    await fn();
  } catch (e) {
    figure(title, 'failed', '', '', e.message.split('\n')[0]);
  }
}

const visits = await loadVisits(corpusPath);
const calls = visits.reduce((n, v) => n + v.length, 0);
const pacedVisits = [visits.flat().slice(0, PACED_CALLS)];

await section('broker-core (criterion, one core)', async () => {
  // scripts/bench builds the core's benches as the shipped binaries are (panic = "abort"), in target/shipped.
  const results = await criterionResults(join(ROOT, 'target', 'shipped'));
  const pick = (id) => results.find((r) => r.id === id);
  const row = (id, name, target) => {
    const r = pick(id);
    if (r) figure(name, r.perSecond, 'events/s', target);
  };
  row('append/decode+append', 'core decode + append', '>= 2,000,000');
  row('append/decode+log-append (no idempotence)', 'core decode + append, no idempotence check', '');
  row('append/decode+append+50 triggers', 'core decode + append + 50 triggers', '>= 2,000,000');
  row('append/decode+append+50 triggers+outcomes', 'core decode + append + 50 triggers with outcomes', '');
  // TARGETS.md: outcomes on (a goal and a holdout on each trigger, a cap)
  // no more than 15% slower than the same triggers without them.
  const [without, withOutcomes] = [pick('append/decode+append+50 triggers'), pick('append/decode+append+50 triggers+outcomes')];
  if (without && withOutcomes) {
    figure('core outcomes on, 50 triggers: throughput lost', (1 - withOutcomes.perSecond / without.perSecond) * 100, '%', '<= 15', 'a goal and a 10% holdout on each trigger and a cap of 20 an hour, against the two rows above');
  }
  row('append/decode+append+examples', 'core decode + append + examples/triggers.json', '');
  // TARGETS.md: the tracking plan and the relay's enrichment under 200 ns
  // per event at ingest (the ingest bench: bench/plan-corpus.json judging
  // every event, the enrichment stored in front of each frame).
  const [plain, judged] = [pick('append/plain'), pick('append/enriched + plan')];
  if (plain && judged) {
    figure('core tracking plan + enrichment at ingest, added per event', (1 / judged.perSecond - 1 / plain.perSecond) * 1e9, 'ns', '< 200', 'bench/plan-corpus.json on every event, against an append without either');
  }
  row('triggers/decode+eval/50 mixed', 'core decode + 50 triggers, engine alone (no append)', '');
  row('triggers/decode+eval/examples', 'core decode + examples/triggers.json, engine alone', '');
  row('read/events, 1000 at a time', 'core read', '');
  row('frame/decode/20', 'frame decode (frames of 20)', '');
  row('frame/encode/20', 'frame encode (frames of 20)', '');
});

await section('CLI backtest (release build; input lines parsed on a second thread)', async () => {
  // The CLI times its own replay (parse every line, run the engine, fire
  // what is due at the end) and prints events/s; the median of RUNS runs
  // (a run is 10-20 ms, and on a 2-core VM one in several is much slower).
  const RUNS = 21;
  const cli = join(ROOT, 'target', 'release', 'eventstream');
  for (const [name, file, target] of [['50 mixed triggers', 'bench/triggers-50.json', '>= 1,000,000'], ['examples/triggers.json', 'examples/triggers.json', '']]) {
    const rates = [];
    for (let i = 0; i < RUNS; i++) {
      // The summary goes to stdout, the closing line with the rate to stderr.
      const out = spawnSync(cli, ['triggers', 'backtest', join(ROOT, file), corpusPath, '--summary'], { encoding: 'utf8' }).stderr ?? '';
      const m = / \((\d+) events\/s\)/.exec(out);
      if (!m) throw new Error(`no events/s in the backtest's output: ${out.slice(-200)}`);
      rates.push(Number(m[1]));
    }
    figure(`CLI backtest, ${name}`, percentile(rates, 50), 'events/s', target, `median of ${RUNS}, ${Math.min(...rates).toLocaleString('en-US')}-${Math.max(...rates).toLocaleString('en-US')}`);
  }
});

await section('SDK package', async () => {
  // At init: index.js + wasm (all a page with triggers: false loads); with
  // triggers: + socket.js, fetched when the visitor first connects.
  const [init, triggers] = packageSize(DIST).slice(-2);
  figure('SDK loaded at init (wasm + JS), raw', init.raw / 1024, 'KB', '');
  figure('SDK loaded at init (wasm + JS), gzip', init.gzip / 1024, 'KB', '<= 15', 'peers: Snowplow 17.6, Segment 31.4');
  figure('SDK loaded at init (wasm + JS), brotli', init.brotli / 1024, 'KB', '');
  figure('SDK loaded with the trigger socket, gzip', triggers.gzip / 1024, 'KB', '<= 15', 'socket.js on first connect, beside the token request');
});

await section('trigger console page (console/dist, as the relay serves it)', async () => {
  const m = consoleSize();
  figure('console page weight (HTML + JS + CSS + wasm), gzip', m.gzip / 1024, 'KB', '<= 250', m.files.map((f) => `${f.file} ${(f.gzip / 1024).toFixed(1)}`).join(', '));
});

let ours;
await section(`SDK replay in Chromium, ${calls} calls back to back`, async () => {
  ours = await runEventstream(visits);
  figure('SDK main thread per call, p50', percentile(ours.times, 50) * 1000, 'us', '<= 10', 'performance.now() resolution 5 us');
  figure('SDK main thread per call, p99', percentile(ours.times, 99) * 1000, 'us', '<= 200');
  figure('SDK main thread per call, mean', (ours.times.reduce((a, b) => a + b, 0) / ours.times.length) * 1000, 'us', '');
  // identify() apart (TARGETS.md: <= 50 us; Snowplow's ~80): the times are
  // in call order, as visits.flat() is.
  const kinds = visits.flat().map((c) => c.call);
  const identify = ours.times.filter((_, i) => kinds[i] === 'identify');
  if (identify.length) {
    figure('SDK identify() main thread per call, p50', percentile(identify, 50) * 1000, 'us', '<= 50', `${identify.length} calls; Snowplow ~80`);
    figure('SDK identify() main thread per call, p99', percentile(identify, 99) * 1000, 'us', '');
  }
  figure('SDK wire bytes per event, back to back', ours.bytes / ours.events, 'B', '<= 24', `${ours.requests} requests (${ours.bundles} bundles) for ${ours.frames} frames`);
  figure('SDK events delivered', `${ours.events}/${ours.total}`, '', 'all');
});

await section(`@segment/analytics-next 1.84.3, same calls, same endpoint`, async () => {
  const seg = await runSegment(visits);
  figure('Segment main thread per call, p50', percentile(seg.times, 50) * 1000, 'us', '');
  figure('Segment main thread per call, p99', percentile(seg.times, 99) * 1000, 'us', '');
  figure('Segment wire bytes per event', seg.bytes / seg.events, 'B', '', `batching 10 / 5 s, ${seg.requests} requests`);
  figure('Segment events delivered', `${seg.events}/${seg.total}`, '', '');
  if (ours) figure('our bytes per event / Segment', ours.bytes / ours.events / (seg.bytes / seg.events), 'x', '<= 0.1');
});

await section(`start-up, cold load in Chromium, ours beside Segment`, () => startup(figure));

await section(`paced: ${PACED_CALLS} calls ${PACED_MS / 1000} s apart`, async () => {
  const [o, s] = [await runEventstream(pacedVisits, { paced: PACED_MS }), await runSegment(pacedVisits, { paced: PACED_MS })];
  figure('SDK wire bytes per event, paced', o.bytes / o.events, 'B', '<= 24', `${o.requests} requests for ${o.frames} frames, HTTP (triggers: false)`);
  figure('Segment wire bytes per event, paced', s.bytes / s.events, 'B', '', `${s.requests} requests`);
});

// Over the trigger socket (the default when the relay has triggers), in
// workerd: bytes on the wire after the browser's permessage-deflate, which
// compresses each frame with the socket's earlier ones (bench/socket-wire.mjs).
await section('trigger socket in workerd, one visitor: bytes as they leave the browser', async () => {
  const note = (r) => `${r.messages} messages, ${r.compressed} compressed by the browser; framing included`;
  const paced = await runSocketWire(pacedVisits, { paced: PACED_MS });
  figure('SDK wire bytes per event, paced, trigger socket', paced.bytes / paced.events, 'B', '<= 24', note(paced));
  const bursts = await runSocketWire(visits.slice(0, 20), { gap: 300 });
  figure('SDK wire bytes per event, bursts, trigger socket', bursts.bytes / bursts.events, 'B', '<= 24', `the calls of 20 visits, each back to back, 300 ms apart; ${note(bursts)}`);
});

/**
 * The figures (JSON lines) the node script `script` (from the repository's
 * root) prints with `args`; `env` adds to its environment.
 */
async function scriptFigures(script, args, env = {}) {
  const lines = await new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [join(ROOT, script), ...args], { stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, ...env } });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.on('exit', (code) => (code === 0 ? resolve(out.trim().split('\n')) : reject(new Error(`${script} ${args.join(' ')} exited ${code}`))));
  });
  return lines.flatMap((l) => {
    try {
      return [JSON.parse(l)];
    } catch {
      return [];
    }
  });
}

const loadFigures = (args, env) => scriptFigures('tests/relay/load.mjs', args, env);

await section('relay in local workerd (tests/relay/load.mjs)', async () => {
  for (const f of await loadFigures(['--seconds', '5', '--probes', '200'])) {
    if (f.figure === 'relay_ingest') figure(`relay ingest over HTTP, ${f.partitions} partition(s)`, f.events_per_sec, 'events/s', '', `frames of ${f.events_per_frame}, ${f.concurrency} requests in flight`);
    if (f.figure === 'relay_ingest_socket') figure(`relay ingest over a visitor socket, ${f.partitions ?? 1} partition`, f.events_per_sec, 'events/s', '>= 20,000', `frames of ${f.events_per_frame}, pipelined`);
    if (f.figure === 'relay_firing_latency') figure(`relay frame-to-firing (${f.via}), p50 / p99`, `${f.ms_p50} / ${f.ms_p99}`, 'ms', 'p50 <= 10');
  }
  // The socket ingest again with the Durable Objects' SQLite files in memory
  // (a tmpfs): workerd writes each append's pages to its files (about 75 KB
  // per frame of 20 events, the WAL and its checkpoints), so on a VM the row
  // above moves with the disk; this one measures the relay without it.
  if (existsSync('/dev/shm')) {
    for (const f of await loadFigures(['--seconds', '5', '--ingest-only', '1'], { TMPDIR: '/dev/shm' })) {
      if (f.figure === 'relay_ingest_socket') figure('relay ingest over a visitor socket, 1 partition, storage on a tmpfs', f.events_per_sec, 'events/s', '', `frames of ${f.events_per_frame}, pipelined; the Durable Objects' files in /dev/shm`);
    }
  }
  // The same ingest with the 50 triggers of the core benches: what the
  // storage statements of each append cost in the runtime.
  const fifty = ['--seconds', '5', '--ingest-only', '1', '--triggers', join(ROOT, 'bench/triggers-50.json')];
  for (const f of await loadFigures(fifty)) {
    const how = `frames of ${f.events_per_frame}, bench/triggers-50.json`;
    if (f.figure === 'relay_ingest') figure('relay ingest over HTTP, 1 partition, 50 triggers', f.events_per_sec, 'events/s', '', `${how}, ${f.concurrency} requests in flight`);
    if (f.figure === 'relay_ingest_socket') figure('relay ingest over a visitor socket, 1 partition, 50 triggers', f.events_per_sec, 'events/s', '', `${how}, pipelined`);
  }
});

// TARGETS.md: the archive keeps up with 20,000 events/s per partition and
// adds under 10% of CPU per event. The socket ingest, without the archive and
// then with a segment written every second, in turns: workerd's CPU time per
// event, until every event is in R2 (tests/relay/load.mjs --archive).
await section('archive to Parquet in local workerd (Miniflare R2)', async () => {
  const runs = await loadFigures(['--seconds', '5', '--archive', '1000']);
  const [plain, archived] = ['relay_ingest_socket', 'relay_ingest_socket_archive'].map((n) => runs.find((f) => f.figure === n));
  if (!plain || !archived) throw new Error('tests/relay/load.mjs --archive printed no ingest figures');
  figure('relay ingest over a visitor socket with the archive, 1 partition', archived.events_per_sec, 'events/s', '>= 20,000', `a segment every second, timed until all is in R2; ${plain.events_per_sec.toLocaleString('en-US')} without`);
  if (plain.cpu_us_per_event && archived.cpu_us_per_event) {
    figure('archive: CPU added per event', (archived.cpu_us_per_event / plain.cpu_us_per_event - 1) * 100, '%', '< 10', `workerd's CPU time: ${archived.cpu_us_per_event} us per event with it, ${plain.cpu_us_per_event} without`);
  }
});

// TARGETS.md: the server-side backtest >= 250,000 events/s per partition, and
// 100,000 events to the table in under 2 s (bench/backtest.mjs: 10 copies of
// the corpus, the console's own client, timed to the result line).
await section('server-side backtest in local workerd, 10 corpus copies', async () => {
  for (const partitions of [1, 4]) {
    for (const f of await scriptFigures('bench/backtest.mjs', ['--copies', '10', '--partitions', String(partitions)])) {
      if (f.figure !== 'relay_backtest') continue;
      if (partitions === 1) figure(`relay backtest, 1 partition, ${f.file}`, f.events_per_sec, 'events/s', '>= 250,000', `${f.events.toLocaleString('en-US')} events, ${f.firings.toLocaleString('en-US')} firings`);
      else figure(`relay backtest to the table, 4 partitions, ${f.file}`, f.ms, 'ms', f.events >= 100_000 ? '< 2,000' : '', `${f.events.toLocaleString('en-US')} events`);
    }
  }
});

// TARGETS.md: the landing page view to its firing shown, p50 <= 150 ms.
await section('landing page to firing, cold loads of the demo shop in Chromium', async () => {
  const loads = Number(process.env.BENCH_LANDING_LOADS ?? 20);
  const rows = await landingFigures(loads);
  const at = (k, p) => percentile(rows.map((r) => r[k]), p);
  figure('landing page view to its firing shown, p50', at('fromPageView', 50), 'ms', '<= 150', `p90 ${at('fromPageView', 90).toFixed(1)}, ${loads} cold loads, relay in workerd`);
  figure('navigation start to that firing shown, p50', at('fromNavigation', 50), 'ms', '', `p90 ${at('fromNavigation', 90).toFixed(1)}; init() resolved at ${at('init', 50).toFixed(1)}`);
});

await section('firing round trip in Chromium, track() to handler', async () => {
  const r = await runRtt({ probes: 200 });
  figure('firing round trip, p50', r.p50, 'ms', '<= 25');
  figure('firing round trip, p99', r.p99, 'ms', '<= 100');
});

const versions = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? '',
  node: process.version,
  chromium: execFileSync('/usr/bin/chromium', ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim(),
  rustc: execFileSync('rustc', ['--version']).toString().trim(),
  workerd: JSON.parse(await readFile(join(ROOT, 'node_modules/workerd/package.json'), 'utf8').catch(() => '{}')).version ?? JSON.parse(await readFile(join(ROOT, 'node_modules/miniflare/package.json'), 'utf8')).version,
  segment: '1.84.3',
  corpus: corpusPath,
  calls,
};
const date = new Date().toISOString();

const w = [44, 16, 8, 14];
const line = (cells) => cells.map((c, i) => String(c).padEnd(w[i] ?? 0)).join(' ').trimEnd();
console.log(`\nEventstream figures, ${date}, ${versions.cores} cores (${versions.cpu}), ${versions.chromium}, ${versions.rustc}, node ${versions.node}`);
console.log(line(['figure', 'value', 'unit', 'target', 'note']));
console.log(line(['-'.repeat(w[0]), '-'.repeat(w[1]), '-'.repeat(w[2]), '-'.repeat(w[3]), '----']));
for (const f of figures) {
  const v = typeof f.value === 'number' ? (Math.abs(f.value) >= 100 ? Math.round(f.value).toLocaleString('en-US') : f.value.toFixed(2)) : f.value;
  console.log(line([f.name, v, f.unit, f.target, f.note]));
}
await mkdir(join(ROOT, 'bench-results'), { recursive: true });
const out = JSON.stringify({ date, versions, figures, ...(ONLY ? { only: process.env.BENCH_ONLY } : {}) }, null, 2);
if (ONLY) {
  await writeFile(join(ROOT, 'bench-results', 'partial.json'), out);
  console.log(`\nwritten to bench-results/partial.json (BENCH_ONLY: not a whole run)`);
} else {
  await writeFile(join(ROOT, 'bench-results', 'latest.json'), out);
  await writeFile(join(ROOT, 'bench-results', `${date.replace(/[:.]/g, '-')}.json`), out);
  console.log(`\nwritten to bench-results/latest.json`);
}
