// The reference corpus (examples/corpus/clickstream.jsonl; EVENTSTREAM_CORPUS
// or CORPUS names another file) as visits, and the page side of replaying it
// through the SDK, for the corpus test and the figure scripts.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './harness.mjs';

export const CORPUS = process.env.EVENTSTREAM_CORPUS || process.env.CORPUS || join(ROOT, 'examples', 'corpus', 'clickstream.jsonl');

/** The corpus's calls grouped by visit, in order (the first `limit` calls). */
export function loadVisits(limit = Infinity) {
  const calls = readFileSync(CORPUS, 'utf8').trim().split('\n').slice(0, limit).map((l) => JSON.parse(l));
  const visits = [];
  for (const c of calls) {
    if (!visits.length || visits.at(-1)[0].session !== c.session) visits.push([]);
    visits.at(-1).push(c);
  }
  return { calls, visits };
}

/**
 * Runs in the page (page.evaluate): defines `window.call(c)`, one corpus
 * call through the public API (clicks and submits, which the SDK captures
 * from the DOM, go through the entry point its DOM listeners use), and
 * `window.replay(visits)`, every visit back to back with a reset() before
 * each, returning each visit's anonymous id.
 */
export function replayInPage() {
  const KIND = { click: 3, submit: 4 };
  window.call = (c) => {
    const es = window.es;
    switch (c.call) {
      case 'track': return es.track(c.event, c.properties);
      case 'page': return es.page(c.name, c.properties);
      case 'identify': return es.identify(c.userId, c.traits);
      default: return es.push(KIND[c.call], '', c.properties || {}, true);
    }
  };
  window.replay = (visits) => visits.map((visit) => {
    window.es.reset();
    for (const c of visit) window.call(c);
    return localStorage.getItem('es:id');
  });
}

/** What the relay should hold for a corpus call: [kind, name, properties]. */
export function expected(c) {
  switch (c.call) {
    case 'track': return ['track', c.event, c.properties ?? {}];
    case 'page': return ['page', c.name ?? '', c.properties ?? {}];
    case 'identify': return ['identify', c.userId, c.traits ?? {}];
    default: return [c.call, '', c.properties ?? {}];
  }
}
