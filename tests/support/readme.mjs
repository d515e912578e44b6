// The README's fenced code blocks, for the tests that run them
// (tests/release/readme.test.mjs runs the shell blocks, tests/sdk/tarball.test.mjs
// the SDK snippet), so that the README cannot drift from what works.
//
// A block the tests cannot run says why in an HTML comment on the line right
// before its fence, `<!-- not run by the tests: REASON -->`; the README's
// prose beside it tells the reader the same.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from './relay.mjs';

export const README = join(ROOT, 'README.md');
const NOT_RUN = /^<!--\s*not run by the tests:\s*(.+?)\s*-->$/;

/**
 * Every fenced block of a Markdown file: { lang, code, line (1-based, of the
 * opening fence), notRun (the reason, or null) }.
 */
export function codeBlocks(path = README) {
  const lines = readFileSync(path, 'utf8').split('\n');
  const blocks = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```(\S*)\s*$/.exec(lines[i]);
    if (!open) continue;
    const start = i;
    const body = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]); i++) body.push(lines[i]);
    if (i === lines.length) throw new Error(`${path}:${start + 1}: code block never closed`);
    const before = lines[start - 1]?.trim() ?? '';
    blocks.push({ lang: open[1], code: body.join('\n'), line: start + 1, notRun: NOT_RUN.exec(before)?.[1] ?? null });
  }
  return blocks;
}

/**
 * The commands of a shell block, one per line after joining backslash
 * continuations; `# comments` outside quotes and blank lines dropped.
 * Returns [{ cmd, line }].
 */
export function shellCommands(block) {
  const out = [];
  const lines = block.code.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = block.line + 1 + i;
    let cmd = lines[i];
    while (cmd.endsWith('\\') && i + 1 < lines.length) cmd = cmd.slice(0, -1).trimEnd() + ' ' + lines[++i].trim();
    cmd = stripComment(cmd).trim();
    if (cmd) out.push({ cmd, line });
  }
  return out;
}

/** Drops a `# comment` that is outside single and double quotes. */
function stripComment(s) {
  let quote = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(s[i - 1]))) return s.slice(0, i);
  }
  return s;
}
