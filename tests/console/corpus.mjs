// The reference corpus into a relay through its ingest route, for the
// console's tests and figures: `rounds` copies (round r's visitors are
// `<id>-r<r>` from the second round on), stamped from `startMs` on (default:
// an hour ago; the corpus spans 261 s). The loading itself is the shared
// one (tests/support/corpus.mjs). Resolves with the events the relay took.
import { loadCorpus as load, readCorpus } from '../support/corpus.mjs';

export async function loadCorpus(relay, { rounds = 1, startMs = Date.now() - 3_600_000 } = {}) {
  const calls = readCorpus();
  const lastT = calls.reduce((m, c) => Math.max(m, c.t), 0);
  let count = 0;
  for (let r = 0; r < rounds; r++) {
    count += await load(relay, { calls, endsAgoMs: Date.now() - (startMs + lastT), suffix: r === 0 ? '' : `-r${r}`, concurrency: 16 });
  }
  return count;
}
