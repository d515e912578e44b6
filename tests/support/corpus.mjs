// The reference corpus (examples/corpus/clickstream.jsonl) loaded into a
// running relay through its ingest route, the way pages would send it:
// each visit's calls in order, as frames of up to 20 events under one
// producer per visit, with the corpus README's mapping from a call to an
// event and its time shifted so that the last call lies `endsAgoMs` before
// now (the relay refuses events stamped more than 24 hours ago).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, WRITE_KEY } from './relay.mjs';
import { encodeFrames, makeFrame } from './frames.mjs';

export const CORPUS_PATH = process.env.EVENTSTREAM_CORPUS ?? join(ROOT, 'examples', 'corpus', 'clickstream.jsonl');

/** The corpus's calls, in file order. */
export function readCorpus(path = CORPUS_PATH) {
  return readFileSync(path, 'utf8').trim().split('\n').map((l) => JSON.parse(l));
}

/** The corpus README's mapping from a call to an event at `time`. */
export function callToEvent(c, time) {
  switch (c.call) {
    case 'page': return { kind: 'page', name: c.name ?? '', time, properties: c.properties ?? {} };
    case 'track': return { kind: 'track', name: c.event, time, properties: c.properties ?? {} };
    case 'identify': return { kind: 'identify', name: c.userId ?? '', time, properties: c.traits ?? {} };
    default: return { kind: c.call, name: '', time, properties: c.properties ?? {} };
  }
}

/** A corpus campaign (`{name, source, medium, ...}`) as the SDK sends it. */
function utm(campaign) {
  const names = { name: 'utm_campaign', source: 'utm_source', medium: 'utm_medium', term: 'utm_term', content: 'utm_content' };
  return Object.fromEntries(Object.entries(campaign).map(([k, v]) => [names[k] ?? k, String(v)]));
}

/**
 * Sends every call of `calls` to `relay` (at most `concurrency` visits at
 * once); `suffix` makes the visitor ids of one copy distinct from another's.
 * Resolves with the number of events stored.
 */
export async function loadCorpus(relay, { calls = readCorpus(), endsAgoMs = 20 * 60_000, suffix = '', concurrency = 8, eventsPerFrame = 20 } = {}) {
  const lastT = calls.reduce((m, c) => Math.max(m, c.t), 0);
  const base = Date.now() - endsAgoMs - lastT;
  const visits = new Map();
  for (const c of calls) {
    if (!visits.has(c.anonymousId)) visits.set(c.anonymousId, []);
    visits.get(c.anonymousId).push(c);
  }
  const lanes = [];
  let n = 0;
  for (const [visitor, list] of visits) {
    const producerId = String(BigInt(Date.now()) * 1000n + BigInt(n++));
    // Frames of up to `eventsPerFrame` calls, cut where the visit's campaign
    // starts or changes: the corpus README's context rule (a page call's
    // campaign is the campaign of it and every later call of the visit),
    // sent the way the SDK sends it, as the frame context's utm parameters.
    const frames = [];
    let campaign = {};
    let chunk = [];
    const flush = () => {
      if (chunk.length === 0) return;
      const frame = makeFrame({ visitor: visitor + suffix, producerId, sequence: frames.length, events: chunk });
      frame.context.campaign = campaign;
      frames.push(frame);
      chunk = [];
    };
    for (const c of list) {
      const next = c.call === 'page' && c.properties?.campaign ? utm(c.properties.campaign) : campaign;
      if (next !== campaign || chunk.length === eventsPerFrame) {
        flush();
        campaign = next;
      }
      chunk.push(callToEvent(c, base + c.t));
    }
    flush();
    lanes.push(frames);
  }
  const encoded = encodeFrames(lanes.flat());
  let i = 0;
  const queue = lanes.map((l) => l.map(() => encoded[i++]));
  let stored = 0;
  async function worker() {
    for (let lane = queue.shift(); lane; lane = queue.shift()) {
      for (const frame of lane) {
        const res = await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body: frame });
        const body = await res.json();
        if (res.status !== 200) throw new Error(`ingest refused a corpus frame: ${res.status} ${JSON.stringify(body)}`);
        stored += body.count;
      }
    }
  }
  await Promise.all(Array.from({ length: concurrency }, worker));
  return stored;
}
