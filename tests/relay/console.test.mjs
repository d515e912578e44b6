// The trigger console's routes against the built relay in workerd: roles,
// versions (push, list, diff, revert, what runs where), validation with the
// log's warnings, the catalog, and the server-side backtest, which must give
// exactly the firings the CLI's local backtest gives over the same events
// exported with `eventstream tail`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, TEST_SECRETS, ROOT } from '../support/relay.mjs';
import { loadCorpus } from '../support/corpus.mjs';
import { tempDir } from '../support/tmp.mjs';

const { ADMIN_TOKEN, EDITOR_TOKEN, VIEWER_TOKEN, SUBSCRIBER_TOKEN } = TEST_SECRETS;
const CLI = join(ROOT, 'target', 'debug', 'eventstream');
const EXAMPLES = readFileSync(join(ROOT, 'examples', 'triggers.json'), 'utf8');

let relay;
let stored;

before(async () => {
  if (!existsSync(CLI)) execFileSync('cargo', ['build', '-q', '-p', 'eventstream-cli'], { cwd: ROOT, stdio: 'inherit' });
  relay = await startRelay({ partitions: 4, vars: { RATE_LIMIT_PER_SEC: '0' } });
  stored = await loadCorpus(relay);
});

after(async () => {
  await relay?.stop();
});

/** POST /v1/admin/backtest; the NDJSON lines, parsed. */
async function backtest(body, token = EDITOR_TOKEN) {
  const res = await fetch(`${relay.url}/v1/admin/backtest`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (res.status !== 200) return { status: res.status, body: JSON.parse(text) };
  assert.equal(res.headers.get('content-type'), 'application/x-ndjson');
  const lines = text.trim().split('\n').map((l) => JSON.parse(l));
  return { status: 200, lines, result: lines.at(-1) };
}

function candidate() {
  // The examples with a trigger added at the end, written the way the file
  // is (so that a diff shows only the addition).
  const added = {
    id: 'second-product',
    when: { event: 'Product Viewed' },
    count: { at_least: 2, within: '30m' },
    cooldown: '1h',
    action: { type: 'banner', payload: { text: 'Still looking?' } },
  };
  const end = EXAMPLES.lastIndexOf('\n  ]');
  return `${EXAMPLES.slice(0, end)},\n    ${JSON.stringify(added)}${EXAMPLES.slice(end)}`;
}

test('roles: each token is what it says, a viewer cannot push, a missing token is 401', async () => {
  for (const [token, role] of [[ADMIN_TOKEN, 'admin'], [EDITOR_TOKEN, 'editor'], [VIEWER_TOKEN, 'viewer']]) {
    const r = await relay.api('GET', '/v1/admin/whoami', { token });
    assert.deepEqual([r.status, r.body], [200, { role }]);
  }
  for (const token of [undefined, SUBSCRIBER_TOKEN, 'nope']) {
    const r = await relay.api('GET', '/v1/admin/triggers/versions', { token });
    assert.equal(r.status, 401);
    assert.equal(r.body.code, 'unauthorized');
  }
  // A token in the URL is not taken by the console's routes.
  const inUrl = await relay.api('GET', `/v1/admin/whoami?token=${ADMIN_TOKEN}`);
  assert.equal(inUrl.status, 401);
  for (const [method, path, body] of [
    ['PUT', '/v1/admin/triggers', EXAMPLES],
    ['POST', '/v1/admin/triggers/versions', { file: EXAMPLES }],
    ['POST', '/v1/admin/triggers/versions/1/revert', {}],
    ['POST', '/v1/admin/triggers/versions/1/activate', {}],
  ]) {
    const r = await relay.api(method, path, { token: VIEWER_TOKEN, body });
    assert.equal(r.status, 403, `${method} ${path}`);
    assert.equal(r.body.code, 'forbidden');
    assert.match(r.body.message, /viewer/);
  }
  const v = await relay.api('POST', '/v1/admin/triggers/validate', { token: VIEWER_TOKEN, body: EXAMPLES });
  assert.equal(v.status, 200);
  // The console's roles read the log (its live debugger), header only.
  const read = await relay.api('GET', '/v1/partitions/0/events?limit=1', { token: VIEWER_TOKEN });
  assert.deepEqual([read.status, read.body.records.length], [200, 1]);
  const inQuery = await relay.api('GET', `/v1/partitions/0/events?limit=1&token=${VIEWER_TOKEN}`);
  assert.equal(inQuery.status, 401, 'a console token is never taken from the URL');
});

test('versions: every push is a version; diff, revert and what runs where', async () => {
  const first = await relay.api('POST', '/v1/admin/triggers/versions', { token: EDITOR_TOKEN, body: { file: EXAMPLES, author: 'ana', comment: 'the examples' } });
  assert.equal(first.status, 200, JSON.stringify(first.body));
  assert.equal(first.body.complete, true);
  assert.deepEqual(first.body.partitions.map((p) => p.ok), [true, true, true, true]);
  const v1 = first.body.version;
  const second = await relay.api('POST', '/v1/admin/triggers/versions', { token: ADMIN_TOKEN, body: { file: candidate(), comment: 'second-product' } });
  assert.equal(second.status, 200);
  const v2 = second.body.version;
  assert.equal(v2, v1 + 1);

  const list = await relay.api('GET', '/v1/admin/triggers/versions', { token: VIEWER_TOKEN });
  assert.equal(list.status, 200);
  assert.equal(list.body.active, v2);
  const [newest, older] = list.body.versions;
  assert.deepEqual([newest.version, newest.author, newest.role, newest.comment], [v2, 'admin', 'admin', 'second-product']);
  assert.deepEqual([older.version, older.author, older.role, older.comment], [v1, 'ana', 'editor', 'the examples']);
  assert.deepEqual(newest.partitions, { active_on: [0, 1, 2, 3], pending: [] });
  assert.deepEqual(older.partitions.active_on, []);
  assert.equal(older.bytes, Buffer.byteLength(EXAMPLES));

  const text = await relay.api('GET', `/v1/admin/triggers/versions/${v1}`, { token: VIEWER_TOKEN });
  assert.deepEqual(text.body, JSON.parse(EXAMPLES));
  assert.equal(text.headers.get('x-eventstream-version'), String(v1));
  const diff = await relay.api('GET', `/v1/admin/triggers/diff?from=${v1}&to=${v2}`, { token: VIEWER_TOKEN });
  assert.equal(diff.status, 200);
  assert.match(diff.body.diff, /^--- version \d+\n\+\+\+ version \d+\n@@ /);
  assert.match(diff.body.diff, /^\+.*"second-product"/m);
  const removed = diff.body.diff.split('\n').filter((l) => l.startsWith('-') && !l.startsWith('---'));
  assert.deepEqual(removed, ['-    }'], 'the last trigger gained a comma, nothing else went');

  // An old version cannot be activated again: a revert makes it new.
  const stale = await relay.api('POST', `/v1/admin/triggers/versions/${v1}/activate`, { token: EDITOR_TOKEN });
  assert.equal(stale.status, 409);
  assert.equal(stale.body.code, 'stale_version');
  const again = await relay.api('POST', `/v1/admin/triggers/versions/${v2}/activate`, { token: EDITOR_TOKEN });
  assert.deepEqual([again.status, again.body.complete], [200, true], 'activating the active version again is harmless');

  const revert = await relay.api('POST', `/v1/admin/triggers/versions/${v1}/revert`, { token: EDITOR_TOKEN, body: { author: 'ana' } });
  assert.equal(revert.status, 200);
  const v3 = revert.body.version;
  assert.equal(v3, v2 + 1);
  const active = await relay.api('GET', '/v1/admin/triggers', { token: VIEWER_TOKEN });
  assert.deepEqual(active.body, JSON.parse(EXAMPLES));
  assert.equal(active.headers.get('x-eventstream-version'), String(v3));
  const after = await relay.api('GET', '/v1/admin/triggers/versions', { token: VIEWER_TOKEN });
  assert.deepEqual([after.body.versions[0].reverts, after.body.versions[0].comment], [v1, `revert to version ${v1}`]);
  const stats = await relay.api('GET', '/v1/partitions', { token: ADMIN_TOKEN });
  assert.deepEqual(stats.body.partitions.map((p) => p.triggers_version), [v3, v3, v3, v3]);

  const missing = await relay.api('GET', '/v1/admin/triggers/versions/999', { token: VIEWER_TOKEN });
  assert.deepEqual([missing.status, missing.body.code], [404, 'no_such_version']);
  const bad = await relay.api('POST', '/v1/admin/triggers/versions', { token: EDITOR_TOKEN, body: { file: '{"version": 1, "triggers": [{"id": "x", "wehn": {}}]}' } });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'invalid_triggers');
  assert.equal(bad.body.errors[0].kind, 'unknown_key');
  const extra = await relay.api('POST', '/v1/admin/triggers/versions', { token: EDITOR_TOKEN, body: { file: EXAMPLES, coment: 'typo' } });
  assert.equal(extra.status, 400, 'unknown keys in the body are refused');
});

test('the catalog and the warnings come from the log', async () => {
  const c = await relay.api('GET', '/v1/admin/catalog', { token: VIEWER_TOKEN });
  assert.equal(c.status, 200);
  assert.equal(c.body.scanned, stored);
  assert.equal(c.body.complete, true);
  const added = c.body.events.find((e) => e.name === 'Product Added');
  assert.ok(added && added.count > 0 && added.properties.includes('price'), JSON.stringify(added));
  assert.ok(c.body.events.some((e) => e.name === '$page'));

  const typo = JSON.parse(EXAMPLES);
  typo.triggers[0].when = { event: 'Prodcut Added' };
  const r = await relay.api('POST', '/v1/admin/triggers/validate', { token: VIEWER_TOKEN, body: JSON.stringify(typo) });
  assert.equal(r.status, 200);
  assert.ok(
    r.body.warnings.some((w) => w.path === 'triggers[0].when.event' && w.message.includes('did you mean "Product Added"?')),
    JSON.stringify(r.body.warnings),
  );
});

test('the server-side backtest gives exactly the firings of the CLI over the tail export', async () => {
  const firingsBefore = (await relay.readAll('firings')).length;
  const b = await backtest({ file: candidate(), since: 'all', firings: true });
  assert.equal(b.status, 200, JSON.stringify(b.body));
  const { lines, result } = b;
  assert.equal(lines[0].type, 'started');
  assert.equal(lines.filter((l) => l.type === 'progress').length, 4);
  assert.equal(result.type, 'result');
  assert.equal(result.events, stored);
  assert.equal(result.visitors, 400);
  assert.equal(result.stopped_early, false);
  assert.deepEqual(result.partitions.map((p) => [p.partition, p.complete]), [[0, true], [1, true], [2, true], [3, true]]);

  const dir = tempDir('eventstream-backtest-');
  const exported = execFileSync(CLI, ['tail', '--relay', relay.url, '--stream', 'events', '--partition', 'all', '--from', 'earliest', '--until-end'], {
    env: { ...process.env, EVENTSTREAM_SUBSCRIBER_TOKEN: SUBSCRIBER_TOKEN },
    maxBuffer: 1 << 28,
  }).toString();
  assert.equal(exported.trim().split('\n').length, stored);
  writeFileSync(join(dir, 'events.jsonl'), exported);
  writeFileSync(join(dir, 'candidate.json'), candidate());
  const local = execFileSync(CLI, ['triggers', 'backtest', join(dir, 'candidate.json'), join(dir, 'events.jsonl')], { maxBuffer: 1 << 28, stdio: ['ignore', 'pipe', 'ignore'] })
    .toString()
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    // The CLI prints every firing-stream record; the route lists firings
    // (delivered and held out) and counts conversions.
    .filter((l) => l.type !== 'conversion');
  assert.ok(local.length > 50, `the corpus fires the candidate ${local.length} times`);
  const key = (f) => `${f.firing_id} ${f.trigger} ${f.visitor} ${f.time}`;
  assert.deepEqual(result.firings.map(key).sort(), local.map(key).sort());
  for (const t of result.triggers) {
    const delivered = local.filter((f) => f.trigger === t.id && f.type === 'firing');
    assert.equal(t.candidate.firings, delivered.length, t.id);
    assert.equal(t.candidate.held_out, local.filter((f) => f.trigger === t.id && f.type === 'held_out').length, t.id);
    assert.equal(t.candidate.visitors, new Set(delivered.map((f) => f.visitor)).size, t.id);
    assert.ok(t.sample.length <= 20);
  }
  // The active file (version 3, the examples) over the same events: the
  // new trigger has no active figures, the others agree where unchanged.
  const added = result.triggers.find((t) => t.id === 'second-product');
  assert.equal(added.active, null);
  assert.ok(added.candidate.firings > 0 && added.candidate.per_visitor.max >= 1);
  // The file's cap (limits) is shared by every trigger: where the added
  // trigger took a visitor's place, the cap stopped more of another.
  for (const t of result.triggers.filter((t) => t.id !== 'second-product')) {
    if (t.active.suppressed.global_cap === t.candidate.suppressed.global_cap) assert.deepEqual(t.active, t.candidate, t.id);
    else assert.ok(t.candidate.suppressed.global_cap > t.active.suppressed.global_cap && t.candidate.firings <= t.active.firings, t.id);
  }
  // Nothing was stored or pushed.
  assert.equal((await relay.readAll('firings')).length, firingsBefore);
});

test('a backtest past its bound stops early and says so; two roles run theirs at once', async () => {
  const [a, b] = await Promise.all([
    backtest({ file: EXAMPLES, since: 'all', max_events_per_partition: 100 }),
    backtest({ file: EXAMPLES, since: 'all', max_events_per_partition: 100 }, ADMIN_TOKEN),
  ]);
  for (const r of [a, b]) {
    assert.equal(r.status, 200);
    assert.equal(r.result.stopped_early, true);
    for (const p of r.result.partitions) {
      assert.equal(p.complete, false);
      assert.equal(p.stopped, 'events');
      assert.equal(p.events, 100, 'exactly the bound');
    }
  }
  const bad = await backtest({ file: '{"version": 1}', since: 'all' });
  assert.equal(bad.status, 400);
  assert.equal(bad.body.code, 'invalid_triggers');
  const since = await backtest({ file: EXAMPLES, since: 'yesterday' });
  assert.equal(since.status, 400);
  assert.match(since.body.message, /since/);
  // Events are stamped about 20 minutes ago and earlier: none in the last minute.
  const recent = await backtest({ file: EXAMPLES, since: '60s' });
  assert.equal(recent.result.events, 0);
});

test('a visitor\'s events, newest last', async () => {
  const some = (await relay.readAll('events')).find((r) => r.name === 'Product Added');
  const r = await relay.api('GET', `/v1/admin/visitors/${encodeURIComponent(some.visitor)}/events?limit=5`, { token: VIEWER_TOKEN });
  assert.equal(r.status, 200);
  assert.ok(r.body.records.length > 0 && r.body.records.length <= 5);
  assert.ok(r.body.records.every((e) => e.visitor === some.visitor));
  const offsets = r.body.records.map((e) => e.offset);
  assert.deepEqual(offsets, [...offsets].sort((x, y) => x - y));
});
