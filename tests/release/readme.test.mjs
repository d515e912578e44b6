// Runs every command the README shows, as a reader would: the CLI installed
// with the README's own `cargo install` line, the relay in workerd with the
// local secrets scripts/dev uses (relay/.dev.vars.example), and the commands
// taken from the README's shell blocks, in order, from a folder where the
// repository's `examples/` is at hand (files they write land there, not in the
// working tree). A block that cannot run here must say why
// (tests/support/readme.mjs); any other command is run and must succeed, and
// the ones whose output can be known are checked against it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, ROOT } from '../support/relay.mjs';
import { encodeFrames, makeFrame } from '../support/frames.mjs';
import { codeBlocks, shellCommands, README } from '../support/readme.mjs';
import { tempDir } from '../support/tmp.mjs';

// Where the README's relay listens (scripts/dev); the test's relay has another port.
const README_RELAY = 'http://127.0.0.1:8787';
const ORIGIN = 'http://127.0.0.1:8788'; // the demo shop's, allowed by .dev.vars.example
const VISITS = 40; // of the reference corpus, replayed into the relay before the commands run
const INSTALL = join(ROOT, 'target', 'readme-install');
const TRIGGERS = JSON.parse(readFileSync(join(ROOT, 'examples', 'triggers.json'), 'utf8'));

let relay, work, devVars, sentEvents, firingsOnP0;

/** KEY="value" / KEY='value' lines of a .dev.vars file. */
function parseDevVars(text) {
  const vars = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (!m) continue;
    let v = m[2].trim();
    if (/^(['"]).*\1$/.test(v)) v = v.slice(1, -1);
    vars[m[1]] = v;
  }
  return vars;
}

/** The corpus README's mapping from an SDK call to an event, at `time`. */
function toEvent(c, time) {
  switch (c.call) {
    case 'page': return { kind: 'page', name: c.name ?? '', time, properties: c.properties ?? {} };
    case 'track': return { kind: 'track', name: c.event, time, properties: c.properties ?? {} };
    case 'identify': return { kind: 'identify', name: c.userId ?? '', time, properties: c.traits ?? {} };
    default: return { kind: c.call, name: '', time, properties: c.properties ?? {} };
  }
}

before(async () => {
  // The README's install line, into a folder of our own (the build itself is
  // cargo's usual release build in target/, so a second run only relinks).
  const install = readFileSync(README, 'utf8').match(/`(cargo install [^`]*--path cli[^`]*)`/);
  assert.ok(install, 'the README says how to install the CLI (`cargo install ... --path cli`)');
  const args = install[1].split(/\s+/).slice(1);
  execFileSync('cargo', [...args, '--root', INSTALL, '--quiet'], { cwd: ROOT, stdio: 'inherit' });

  devVars = parseDevVars(readFileSync(join(ROOT, 'relay', '.dev.vars.example'), 'utf8'));
  const partitions = /^PARTITIONS\s*=\s*"(\d+)"/m.exec(readFileSync(join(ROOT, 'relay', 'wrangler.toml'), 'utf8'))[1];
  relay = await startRelay({ partitions: Number(partitions), vars: devVars });
  const [writeKey] = Object.keys(JSON.parse(devVars.WRITE_KEYS));

  const put = await relay.api('PUT', '/v1/admin/triggers', { token: devVars.ADMIN_TOKEN, body: JSON.stringify(TRIGGERS) });
  assert.equal(put.status, 200, JSON.stringify(put.body));

  // Some visits of the corpus, moved to now (the relay refuses old timestamps).
  const calls = readFileSync(join(ROOT, 'examples', 'corpus', 'clickstream.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  const visits = new Map(); // the corpus is grouped by visit
  for (const c of calls) {
    if (!visits.has(c.session)) {
      if (visits.size === VISITS) break;
      visits.set(c.session, []);
    }
    visits.get(c.session).push(c);
  }
  const now = Date.now();
  sentEvents = 0;
  for (const [session, visit] of visits) {
    const shift = now - 1000 - visit.at(-1).t;
    const events = visit.map((c) => toEvent(c, c.t + shift));
    const [bytes] = encodeFrames([makeFrame({ visitor: visit[0].anonymousId, events, producerId: String(7000 + session), origin: ORIGIN })]);
    const res = await fetch(`${relay.url}/v1/frames?key=${writeKey}`, { method: 'POST', body: bytes, headers: { origin: ORIGIN } });
    assert.equal(res.status, 200, await res.text());
    sentEvents += events.length;
  }
  const p0 = await relay.api('GET', '/v1/partitions/0/firings?from=earliest&limit=1000', { token: devVars.SUBSCRIBER_TOKEN });
  firingsOnP0 = p0.body.records.length;
  assert.ok(firingsOnP0 > 0, 'the replayed visits fire something on partition 0 (the README tails it)');

  work = tempDir('eventstream-readme-');
  symlinkSync(join(ROOT, 'examples'), join(work, 'examples'));
});
after(() => relay?.stop());

/** The environment a reader has: the installed CLI first on PATH, none of our EVENTSTREAM_* settings. */
function readerEnv(exported) {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('EVENTSTREAM_')));
  return { ...env, PATH: `${join(INSTALL, 'bin')}:${env.PATH}`, ...exported };
}

function sh(cmd, env) {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', cmd], { cwd: work, env });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

/** A command that follows live until Ctrl-C: runs until it printed `lines` lines (or 60 s), then gets SIGINT. */
function follow(cmd, env, lines) {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', `exec ${cmd}`], { cwd: work, env });
    let stdout = '', stderr = '';
    const stop = () => child.kill('SIGINT');
    const timer = setTimeout(stop, 60_000);
    child.stdout.on('data', (d) => {
      stdout += d;
      if (stdout.split('\n').length - 1 >= lines) stop();
    });
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

const jsonLines = (text) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

/** What is known about a command's output; `r.out` is its stdout, or the file it wrote with `> FILE`. */
const CHECKS = [
  [/^eventstream triggers check /, (r) => assert.match(r.stdout, /\S/, 'a summary')],
  [/^eventstream triggers backtest \S+ examples\/corpus\/\S+ --summary$/, (r) => {
    assert.equal(r.stdout, '', '--summary prints only the table');
    for (const t of TRIGGERS.triggers) assert.match(r.stderr, new RegExp(t.id), `the table has a row for ${t.id}`);
  }],
  [/^eventstream triggers push /, (r) => assert.match(r.stdout, /^activated /)],
  [/^eventstream triggers show /, (r) => assert.deepEqual(JSON.parse(r.stdout), TRIGGERS)],
  [/^eventstream tail .*--stream events .*--until-end/, (r) => {
    const records = jsonLines(r.out);
    assert.equal(records.length, sentEvents, 'every event replayed into the relay, once');
  }],
  [/^eventstream triggers backtest \S+ events\.jsonl .*--trigger cart-rescue/, (r) => {
    for (const f of jsonLines(r.stdout)) assert.equal(f.trigger, 'cart-rescue');
  }],
  [/^eventstream tail .*--stream firings /, (r) => {
    const firings = jsonLines(r.stdout);
    assert.equal(firings.length, firingsOnP0, 'every firing of partition 0, from the earliest (a new consumer)');
  }],
  [/\| eventstream frame encode --hex/, (r) => assert.match(r.out, /^[0-9a-f]+\n$/, 'one frame as a hex line')],
  [/^eventstream frame decode --hex /, (r, block) => {
    const input = JSON.parse(/echo '([^']*)'/.exec(block.code)[1]);
    const [frame] = jsonLines(r.stdout);
    assert.equal(String(frame.producer_id), String(input.producer_id));
    assert.deepEqual(frame.events.map((e) => [e.kind, e.name, e.time]), input.events.map((e) => [e.kind, e.name, e.time]));
  }],
];

test('every shell block of the README runs, or says why it cannot', async (t) => {
  const blocks = codeBlocks().filter((b) => b.lang === 'sh' || b.lang === 'bash' || b.lang === 'shell');
  assert.ok(blocks.length > 0);
  const exported = {};
  const checked = new Set();
  let ran = 0;
  for (const block of blocks) {
    if (block.notRun) {
      t.diagnostic(`README.md:${block.line}: not run (${block.notRun})`);
      continue;
    }
    for (const { cmd, line } of shellCommands(block)) {
      const where = `README.md:${line}: ${cmd}`;
      const exp = /^export ([A-Z_][A-Z0-9_]*)=(\S+)$/.exec(cmd);
      if (exp) {
        exported[exp[1]] = exp[2].replace(/^(['"])(.*)\1$/, '$2');
        continue;
      }
      assert.match(cmd, /^(eventstream |echo '[^']*' \| eventstream )/, `${where}\n  only eventstream commands can run here; mark the block <!-- not run by the tests: why --> otherwise`);
      const local = cmd.replaceAll(README_RELAY, relay.url);
      const follows = /^eventstream tail /.test(cmd) && !cmd.includes('--until-end');
      const r = follows ? await follow(local, readerEnv(exported), firingsOnP0) : await sh(local, readerEnv(exported));
      if (follows) assert.equal(r.signal, 'SIGINT', `${where}\n  follows until Ctrl-C; it ended by itself: ${r.stderr}`);
      else assert.equal(r.code, 0, `${where}\n  exit ${r.code}: ${r.stderr}`);
      const redirect = /> (\S+)$/.exec(cmd);
      r.out = redirect ? readFileSync(join(work, redirect[1]), 'utf8') : r.stdout;
      for (const [re, check] of CHECKS) {
        if (!re.test(cmd)) continue;
        check(r, block);
        checked.add(re);
      }
      ran++;
    }
  }
  t.diagnostic(`${ran} README commands ran`);
  // Both ways: a README command the checks expect and no longer find is drift too.
  for (const [re] of CHECKS) assert.ok(checked.has(re), `no README command matches ${re}: update the README or this test`);
});

test('the CLI installed as the README says reports the workspace version', () => {
  const version = /\[workspace\.package\][^[]*?\nversion\s*=\s*"([^"]+)"/.exec(readFileSync(join(ROOT, 'Cargo.toml'), 'utf8'))[1];
  assert.equal(execFileSync(join(INSTALL, 'bin', 'eventstream'), ['--version'], { encoding: 'utf8' }), `eventstream ${version}\n`);
});

test('the README names the local secrets that scripts/dev starts the relay with', () => {
  const text = readFileSync(README, 'utf8');
  for (const [name, key] of [['EVENTSTREAM_ADMIN_TOKEN', 'ADMIN_TOKEN'], ['EVENTSTREAM_SUBSCRIBER_TOKEN', 'SUBSCRIBER_TOKEN']]) {
    assert.ok(text.includes(`export ${name}=${devVars[key]}\n`), `README: export ${name}=${devVars[key]} (relay/.dev.vars.example)`);
  }
});

test('the README\'s other code blocks are the SDK snippet (run by tests/sdk/tarball.test.mjs), diagrams, or say why not', () => {
  for (const b of codeBlocks()) {
    if (['sh', 'bash', 'shell', 'text', ''].includes(b.lang) || b.notRun) continue;
    if (b.lang === 'js') assert.match(b.code, /from '@eventstream\/sdk'/, `README.md:${b.line}`);
    else assert.fail(`README.md:${b.line}: a \`${b.lang}\` block no test runs; mark it <!-- not run by the tests: why -->`);
  }
});
