// Scratch directories for tests and benches, removed when the process
// exits. A run of the test command used to leave about 500 MB behind in the
// system's temp directory (each relay's Durable Object and R2 files, the
// SDK's throwaway apps), run after run.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const made = [];

function removeAll() {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}

/**
 * A fresh directory in the system's temp directory, named `prefix` and six
 * random characters; it and what it holds are removed when the process
 * exits normally (a killed process leaves it).
 */
export function tempDir(prefix) {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  if (made.push(dir) === 1) process.once('exit', removeAll);
  return dir;
}
