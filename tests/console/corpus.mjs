// The reference corpus (examples/corpus/clickstream.jsonl) into a relay
// through its ingest route, as the SDK would send it: each visitor's calls
// in frames of 20 events, in sequence order, visitors in parallel.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../support/relay.mjs';
import { ORIGIN, encodeFrames, makeFrame, postFrame } from '../relay/helpers.mjs';

const EVENTS_PER_FRAME = 20;

/** The corpus README's mapping from a call to an event. */
function toEvent(c, time) {
  switch (c.call) {
    case 'page': return { kind: 'page', name: c.name ?? '', time, properties: c.properties ?? {} };
    case 'track': return { kind: 'track', name: c.event, time, properties: c.properties ?? {} };
    case 'identify': return { kind: 'identify', name: c.userId ?? '', time, properties: c.traits ?? {} };
    default: return { kind: c.call, name: '', time, properties: c.properties ?? {} };
  }
}

/**
 * Sends `rounds` copies of the corpus (round r's visitors are `<id>-r<r>`
 * from the second round on), stamped from `startMs` on (default: an hour
 * ago; the corpus spans 261 s). Resolves with the number of events the
 * relay accepted; throws on any refused frame.
 */
export async function loadCorpus(relay, { rounds = 1, startMs = Date.now() - 3_600_000 } = {}) {
  const calls = readFileSync(join(ROOT, 'examples', 'corpus', 'clickstream.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const lanes = [];
  let producer = BigInt(Date.now()) * 1000n;
  for (let r = 0; r < rounds; r++) {
    const byVisitor = new Map();
    for (const c of calls) {
      const visitor = r === 0 ? c.anonymousId : `${c.anonymousId}-r${r}`;
      if (!byVisitor.has(visitor)) byVisitor.set(visitor, []);
      byVisitor.get(visitor).push(toEvent(c, startMs + c.t));
    }
    const frames = [];
    const roundLanes = [];
    for (const [visitor, events] of byVisitor) {
      const producerId = String(producer++);
      const lane = [];
      for (let s = 0; s * EVENTS_PER_FRAME < events.length; s++) {
        lane.push(frames.length);
        frames.push(makeFrame({ visitor, producerId, sequence: s, events: events.slice(s * EVENTS_PER_FRAME, (s + 1) * EVENTS_PER_FRAME), origin: ORIGIN }));
      }
      roundLanes.push(lane);
    }
    const encoded = encodeFrames(frames);
    for (const lane of roundLanes) lanes.push(lane.map((i) => encoded[i]));
  }
  let count = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let lane = lanes.shift(); lane; lane = lanes.shift()) {
        for (const bytes of lane) {
          const res = await postFrame(relay, bytes);
          if (res.status !== 200) throw new Error(`ingest refused a frame: ${res.status} ${JSON.stringify(res.body)}`);
          count += res.body.count;
        }
      }
    }),
  );
  return count;
}
