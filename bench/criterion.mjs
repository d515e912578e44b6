// Reads the figures criterion wrote under <target>/criterion (scripts/bench:
// target/shipped). The benches of broker-core are the single source of these
// numbers; nothing is timed twice.
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/** Every benchmark with an element throughput: [{id, nsPerIter, elements, perSecond}]. */
export async function criterionResults(targetDir) {
  const root = join(targetDir, 'criterion');
  const out = [];
  async function walk(dir) {
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      if (!e.isDirectory()) continue;
      const p = join(dir, e.name);
      if (e.name === 'new') {
        try {
          const bench = JSON.parse(await readFile(join(p, 'benchmark.json'), 'utf8'));
          const est = JSON.parse(await readFile(join(p, 'estimates.json'), 'utf8'));
          const ns = est.mean.point_estimate;
          const elements = bench.throughput?.Elements ?? null;
          const bytes = bench.throughput?.Bytes ?? null;
          out.push({
            id: bench.full_id,
            nsPerIter: ns,
            elements,
            perSecond: elements ? (elements * 1e9) / ns : null,
            bytesPerSecond: bytes ? (bytes * 1e9) / ns : null,
          });
        } catch {}
      } else if (e.name !== 'report' && e.name !== 'base' && e.name !== 'change') {
        await walk(p);
      }
    }
  }
  await walk(root);
  return out.sort((a, b) => a.id.localeCompare(b.id));
}
