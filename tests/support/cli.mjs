// The built `eventstream` binary, run as a user would, for the tests of its
// relay commands: no token from the environment of whoever runs the tests
// (each test says which it gives), and files written to a scratch folder.
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './relay.mjs';
import { tempDir } from './tmp.mjs';

export const CLI = join(ROOT, 'target', 'debug', 'eventstream');

export const NO_TOKENS = {
  EVENTSTREAM_ADMIN_TOKEN: '',
  EVENTSTREAM_EDITOR_TOKEN: '',
  EVENTSTREAM_VIEWER_TOKEN: '',
  EVENTSTREAM_SUBSCRIBER_TOKEN: '',
};

/** Runs the CLI with `args`, the tokens in `env` only, `input` on stdin; resolves {code, stdout, stderr}. */
export function runCli(args, env = {}, input) {
  return new Promise((resolve) => {
    const child = execFile(CLI, args, { env: { ...process.env, ...NO_TOKENS, ...env }, timeout: 60000, maxBuffer: 1 << 26 },
      (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
    if (input !== undefined) child.stdin.end(input);
  });
}

/** A scratch folder; the function it returns writes a file there (JSON for an object) and gives its path. */
export function scratch(prefix) {
  const dir = tempDir(prefix);
  return (name, content) => {
    const path = join(dir, name);
    writeFileSync(path, typeof content === 'string' ? content : JSON.stringify(content, null, 2) + '\n');
    return path;
  };
}
