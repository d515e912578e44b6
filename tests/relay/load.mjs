#!/usr/bin/env node
// Load figures for the relay in the local runtime (workerd via Miniflare):
//   1. ingest events per second through one partition, and through several,
//      in frames of 20 events made from the reference corpus, with the
//      example trigger file active (every event is evaluated);
//   2. the time from sending a frame to the firing message arriving on the
//      visitor's WebSocket (p50, p99), for frames POSTed over HTTP and for
//      frames sent over the visitor's own socket.
// With --bundle N, ingest sends bundles (POST /v1/bundles) of the frames of N
// visitors at a time instead of one frame per request (the SDK's way when
// frames wait: several visitors' frames in one request).
// With --plan FILE, that tracking plan judges every event at ingest (issue
// 16's "relay ingest with a plan on, against off": run once with, once without).
// With --triggers FILE, that trigger file is active instead of the example's
// (bench/triggers-50.json: the 50 triggers of the broker-core benches).
// With --ingest-only 1, only the two one-partition ingest figures run.
// With --archive MS, only the socket ingest runs, twice in turns: without the
// archive, then with the ARCHIVE bucket (Miniflare's R2) and a segment closed
// every MS of receive time, timed until every event is archived; each with
// workerd's CPU time per event, and what the archive adds to it.
// Not a test (no assertions on speed): prints figures, one JSON line each.
//
// With --profile FILE, only the socket ingest runs, under V8's sampling
// profiler (workerd's inspector): FILE gets the .cpuprofile (Chrome
// DevTools opens it) and the functions with the most samples are printed
// (with --archive MS, the ingest with the archive).
//
// Usage: relay/build.sh && node tests/relay/load.mjs [--seconds 5] [--concurrency 32] [--partitions 4] [--probes 200] [--bundle N] [--plan bench/plan-corpus.json] [--triggers bench/triggers-50.json] [--ingest-only 1] [--archive MS] [--profile FILE]
import { readFileSync, writeFileSync } from 'node:fs';
import { CORPUS_PATH, callToEvent as toEvent, readCorpus } from '../support/corpus.mjs';
import { join } from 'node:path';
import { startRelay, workerdCpu, ROOT } from '../support/relay.mjs';
import { makeBundle } from '../support/frames.mjs';
import { ORIGIN, TEST_SECRETS, encodeFrames, makeFrame, openSocket, postFrame, visitorToken, wsUrl, WRITE_KEY } from './helpers.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).reduce((acc, a, i, all) => (a.startsWith('--') ? [...acc, [a.slice(2), all[i + 1]]] : acc), []),
);
const SECONDS = Number(args.seconds ?? 5);
const CONCURRENCY = Number(args.concurrency ?? 32);
const PARTITIONS = Number(args.partitions ?? 4);
const PROBES = Number(args.probes ?? 200);
const EVENTS_PER_FRAME = 20;
const PLAN = args.plan;
const TRIGGERS = args.triggers ?? join(ROOT, 'examples', 'triggers.json');
const PROFILE = args.profile;
const BUNDLE = Number(args.bundle ?? 0);
const ARCHIVE_MS = args.archive === undefined ? 0 : Number(args.archive);
const INSPECTOR_PORT = 9339;

/**
 * V8's sampling profiler on the relay's worker (its objects run in the
 * same isolate), through workerd's inspector.
 */
async function profiler() {
  const { default: WebSocket } = await import('ws');
  const ws = new WebSocket(`ws://127.0.0.1:${INSPECTOR_PORT}/core:user:`);
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let id = 0;
  const pending = new Map();
  ws.on('message', (d) => {
    const m = JSON.parse(d.toString());
    pending.get(m.id)?.(m);
    pending.delete(m.id);
  });
  const call = (method, params = {}) =>
    new Promise((resolve) => {
      pending.set(++id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  await call('Profiler.enable');
  await call('Profiler.setSamplingInterval', { interval: 200 });
  return {
    start: () => call('Profiler.start'),
    async stop() {
      const m = await call('Profiler.stop');
      ws.close();
      return m.result.profile;
    },
  };
}

/** Self samples per function (name, or wasm function index), most first. */
function topFunctions(profile, n = 30) {
  const self = new Map();
  let total = 0;
  for (const node of profile.nodes) {
    const f = node.callFrame;
    const name = `${f.functionName || '(anonymous)'} ${f.url ? f.url.split('/').pop() : ''}`.trim();
    self.set(name, (self.get(name) ?? 0) + (node.hitCount ?? 0));
    total += node.hitCount ?? 0;
  }
  return [...self].sort((a, b) => b[1] - a[1]).slice(0, n).map(([name, hits]) => ({ name, share: +((100 * hits) / total).toFixed(1) }));
}

/** The example triggers (or --triggers), and the plan given with --plan, active on `relay`. */
async function activate(relay) {
  const t = await relay.pushTriggers(readFileSync(TRIGGERS, 'utf8'));
  if (t.status !== 200) throw new Error(`${TRIGGERS} refused: ${JSON.stringify(t.body)}`);
  if (!PLAN) return;
  const p = await relay.api('PUT', '/v1/admin/plan', { token: TEST_SECRETS.ADMIN_TOKEN, body: readFileSync(PLAN, 'utf8') });
  if (p.status !== 200) throw new Error(`${PLAN} refused: ${JSON.stringify(p.body)}`);
}

const corpus = readCorpus(process.env.CORPUS ?? CORPUS_PATH);

const byVisitor = new Map();
for (const c of corpus) {
  if (!byVisitor.has(c.anonymousId)) byVisitor.set(c.anonymousId, []);
  byVisitor.get(c.anonymousId).push(c);
}

/**
 * One round of the corpus as frames of exactly 20 events: each visitor's
 * calls in order, cycled until a multiple of 20, under a visitor id and a
 * producer unique to the round. Returns lanes: one visitor's frames each,
 * to be sent in sequence order.
 */
function round(r) {
  const base = Date.now() - 300_000 - 260_785 * 3;
  const lanes = [];
  let n = 0;
  for (const [visitor, calls] of byVisitor) {
    const span = calls[calls.length - 1].t - calls[0].t + 1;
    const need = Math.ceil(calls.length / EVENTS_PER_FRAME) * EVENTS_PER_FRAME;
    const events = [];
    for (let i = 0; i < need; i++) {
      const c = calls[i % calls.length];
      events.push(toEvent(c, base + c.t + Math.floor(i / calls.length) * span));
    }
    const producerId = String(BigInt(Date.now()) * 100000n + BigInt(r) * 1000n + BigInt(n++));
    const frames = [];
    for (let s = 0; s * EVENTS_PER_FRAME < events.length; s++) {
      frames.push(makeFrame({ visitor: `${visitor}-r${r}`, producerId, sequence: s, events: events.slice(s * EVENTS_PER_FRAME, (s + 1) * EVENTS_PER_FRAME), origin: ORIGIN }));
    }
    lanes.push(frames);
  }
  const encoded = encodeFrames(lanes.flat());
  let i = 0;
  return lanes.map((l) => l.map(() => encoded[i++]));
}

async function ingest(partitions) {
  // Frames are made first: the CLI blocks this process while it encodes,
  // and an idle keep-alive connection may be closed under it meanwhile.
  const perRound = [...byVisitor.values()].reduce((n, c) => n + Math.ceil(c.length / EVENTS_PER_FRAME) * EVENTS_PER_FRAME, 0);
  const rounds = Math.max(1, Math.ceil((SECONDS * 30_000) / perRound));
  const lanes = [];
  for (let r = 0; r < rounds; r++) lanes.push(...round(r));
  const relay = await startRelay({ partitions, origins: [ORIGIN], vars: { RATE_LIMIT_PER_SEC: '0' } });
  try {
    await activate(relay);
    // Warm-up, not counted: the wasm module reaches its optimised tier
    // only after some work.
    await Promise.all(lanes.splice(0, 16).map(async (lane) => {
      for (const f of lane) await postFrame(relay, f);
    }));
    let events = 0;
    let frames = 0;
    let failures = 0;
    const lat = [];
    let next = 0;
    const start = performance.now();
    const deadline = start + SECONDS * 1000;
    async function bundles() {
      // N visitors' lanes at a time: their k-th frames in one bundle.
      while (next < lanes.length && performance.now() < deadline) {
        const group = lanes.slice(next, (next += BUNDLE));
        for (let k = 0; k < Math.max(...group.map((l) => l.length)); k++) {
          const fs = group.map((l) => l[k]).filter(Boolean);
          const t0 = performance.now();
          const r = await relay.api('POST', `/v1/bundles?key=${WRITE_KEY}`, { body: makeBundle(fs) });
          lat.push(performance.now() - t0);
          for (const x of r.status === 200 ? r.body.results : fs.map(() => ({ status: r.status }))) {
            if (x.status === 200) {
              events += x.count;
              frames++;
            } else failures++;
          }
        }
      }
    }
    async function worker() {
      if (BUNDLE) return bundles();
      while (next < lanes.length && performance.now() < deadline) {
        const lane = lanes[next++];
        for (const f of lane) {
          const t0 = performance.now();
          const r = await postFrame(relay, f);
          lat.push(performance.now() - t0);
          if (r.status === 200) {
            events += r.body.count;
            frames++;
          } else failures++;
        }
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    const elapsed = (performance.now() - start) / 1000;
    lat.sort((a, b) => a - b);
    const out = {
      figure: 'relay_ingest',
      plan: PLAN ?? null,
      partitions,
      concurrency: CONCURRENCY,
      events_per_frame: EVENTS_PER_FRAME,
      frames_per_request: BUNDLE || 1,
      seconds: +elapsed.toFixed(2),
      frames,
      events,
      failures,
      events_per_sec: Math.round(events / elapsed),
      frames_per_sec: Math.round(frames / elapsed),
      ack_ms_p50: +pct(lat, 0.5).toFixed(2),
      ack_ms_p99: +pct(lat, 0.99).toFixed(2),
    };
    console.log(JSON.stringify(out));
    return out;
  } finally {
    await relay.stop();
  }
}

/**
 * Ingest through one partition over one visitor WebSocket, frames
 * pipelined (up to WINDOW unacknowledged): the partition's own capacity,
 * without an HTTP request per frame.
 */
async function ingestSocket({ archiveMs = 0 } = {}) {
  const WINDOW = 64;
  const perRound = [...byVisitor.values()].reduce((n, c) => n + Math.ceil(c.length / EVENTS_PER_FRAME) * EVENTS_PER_FRAME, 0);
  const rounds = Math.max(1, Math.ceil((SECONDS * 40_000) / perRound));
  const frames = [];
  for (let r = 0; r < rounds; r++) frames.push(...round(100 + r).flat());
  const relay = await startRelay({
    partitions: 1,
    origins: [ORIGIN],
    vars: { RATE_LIMIT_PER_SEC: '0', ...(archiveMs ? { ARCHIVE_INTERVAL_MS: String(archiveMs) } : {}) },
    r2Buckets: archiveMs ? ['ARCHIVE'] : [],
    inspectorPort: PROFILE ? INSPECTOR_PORT : undefined,
  });
  // With the archive: waits until every event appended is in R2. A
  // partition's figures cost workerd about 6 ms of CPU each, counted in the
  // run's: asked for every 250 ms, that is under 0.5 us per event.
  const archived = async () => {
    for (;;) {
      await new Promise((res) => setTimeout(res, 250));
      const r = await relay.api('GET', '/v1/partitions', { token: TEST_SECRETS.SUBSCRIBER_TOKEN });
      const a = (r.body.partitions ?? r.body)[0].archive;
      if (a.error) throw new Error(`the archive stopped: ${a.error}`);
      if (a.events.lag === 0) return a.events.position;
    }
  };
  try {
    await activate(relay);
    const prof = PROFILE ? await profiler() : null;
    const { token } = await visitorToken(relay, 'load-socket');
    const page = openSocket(wsUrl(relay, `/v1/visitors/load-socket/ws?key=${WRITE_KEY}&token=${token}`));
    await page.opened;
    const warm = frames.splice(0, 200);
    let events = 0;
    let acked = 0;
    let failures = 0;
    let done;
    let target = 0;
    let finished = new Promise((r) => (done = r));
    page.ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const m = JSON.parse(data.toString());
      if (m.type === 'appended') {
        acked++;
        events += m.count;
      } else if (m.type === 'error') {
        acked++;
        failures++;
      } else return;
      pump();
      if (acked === target) done();
    });
    let sent = 0;
    let list = warm;
    function pump() {
      while (sent < list.length && sent - acked < WINDOW) page.ws.send(list[sent++]);
    }
    target = warm.length;
    pump();
    await finished;
    // The archive's code runs (and is compiled) once before the timing.
    if (archiveMs) await archived();
    const start = performance.now();
    const cpu0 = workerdCpu();
    ({ events, acked, failures, sent } = { events: 0, acked: 0, failures, sent: 0 });
    list = frames;
    target = frames.length;
    finished = new Promise((r) => (done = r));
    await prof?.start();
    pump();
    await finished;
    const position = archiveMs ? await archived() : null;
    const elapsed = (performance.now() - start) / 1000;
    const cpu = cpu0 === null ? null : workerdCpu() - cpu0;
    if (prof) {
      const profile = await prof.stop();
      writeFileSync(PROFILE, JSON.stringify(profile));
      for (const f of topFunctions(profile)) console.log(JSON.stringify({ figure: 'relay_profile', ...f }));
    }
    const out = {
      figure: archiveMs ? 'relay_ingest_socket_archive' : 'relay_ingest_socket',
      plan: PLAN ?? null,
      partitions: 1,
      ...(archiveMs ? { archive_interval_ms: archiveMs, archived: position } : {}),
      window: WINDOW,
      events_per_frame: EVENTS_PER_FRAME,
      seconds: +elapsed.toFixed(2),
      frames: acked - failures,
      events,
      failures,
      events_per_sec: Math.round(events / elapsed),
      frames_per_sec: Math.round((acked - failures) / elapsed),
      // workerd's CPU time per event (/proc; null elsewhere), microseconds.
      cpu_us_per_event: cpu === null ? null : +((cpu / events) * 1e6).toFixed(2),
    };
    console.log(JSON.stringify(out));
    page.close();
    return out;
  } finally {
    await relay.stop();
  }
}

function pct(sorted, q) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

async function firingLatency() {
  const relay = await startRelay({ partitions: PARTITIONS, origins: [ORIGIN], vars: { RATE_LIMIT_PER_SEC: '0' } });
  try {
    const file = JSON.parse(readFileSync(join(ROOT, 'examples', 'triggers.json'), 'utf8'));
    file.triggers.push({ id: 'latency-probe', when: { event: 'Latency Probe' }, action: { type: 'probe', payload: {} } });
    // The example's cap on firings per visitor (4 an hour) would stop the
    // probes after four: each probe must fire.
    delete file.limits;
    const t = await relay.pushTriggers(file);
    if (t.status !== 200) throw new Error(`trigger file refused: ${JSON.stringify(t.body)}`);
    const visitor = 'latency-visitor';
    const { token } = await visitorToken(relay, visitor);
    const page = openSocket(wsUrl(relay, `/v1/visitors/${visitor}/ws?key=${WRITE_KEY}&token=${token}`));
    await page.opened;
    const producerId = String(BigInt(Date.now()) * 1000n + 7n);
    // Frames of 20 events: 19 corpus events of one visit, then the probe.
    const calls = [...byVisitor.values()][0];
    const specs = [];
    for (let s = 0; s < 2 * (PROBES + 10); s++) {
      const now = Date.now();
      const events = calls.slice(0, EVENTS_PER_FRAME - 1).map((c, i) => toEvent(c, now - 1000 + i));
      events.push({ kind: 'track', name: 'Latency Probe', time: now, properties: { n: s } });
      specs.push(makeFrame({ visitor, producerId, sequence: s, events, origin: ORIGIN }));
    }
    const frames = encodeFrames(specs);
    const results = {};
    let seq = 0;
    for (const via of ['http', 'websocket']) {
      const samples = [];
      for (let i = 0; i < PROBES + 10; i++) {
        const f = frames[seq++];
        const t0 = performance.now();
        if (via === 'http') {
          const [, m] = await Promise.all([postFrame(relay, f), page.next((m) => m.type === 'firing')]);
          page.send({ type: 'ack', offsets: [m.offset] });
        } else {
          page.send(f);
          const m = await page.next((m) => m.type === 'firing');
          page.send({ type: 'ack', offsets: [m.offset] });
        }
        const dt = performance.now() - t0;
        if (i >= 10) samples.push(dt); // the first ten warm up
        if (via === 'websocket') await page.next((m) => m.type === 'appended');
      }
      samples.sort((a, b) => a - b);
      results[via] = samples;
      console.log(JSON.stringify({
        figure: 'relay_firing_latency',
        via,
        probes: samples.length,
        events_per_frame: EVENTS_PER_FRAME,
        ms_p50: +pct(samples, 0.5).toFixed(2),
        ms_p99: +pct(samples, 0.99).toFixed(2),
        ms_max: +samples[samples.length - 1].toFixed(2),
      }));
    }
    page.close();
    return results;
  } finally {
    await relay.stop();
  }
}

if (PROFILE) {
  await ingestSocket({ archiveMs: ARCHIVE_MS });
} else if (ARCHIVE_MS) {
  const without = await ingestSocket();
  const withArchive = await ingestSocket({ archiveMs: ARCHIVE_MS });
  if (without.cpu_us_per_event && withArchive.cpu_us_per_event) {
    console.log(JSON.stringify({ figure: 'relay_archive_cpu_added', archive_interval_ms: ARCHIVE_MS, cpu_added_pct: +((withArchive.cpu_us_per_event / without.cpu_us_per_event - 1) * 100).toFixed(1) }));
  }
} else if (args['ingest-only'] !== undefined) {
  await ingest(1);
  await ingestSocket();
} else {
  await ingest(1);
  await ingest(PARTITIONS);
  await ingestSocket();
  await firingLatency();
}
