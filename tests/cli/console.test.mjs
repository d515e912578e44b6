// The CLI's side of the trigger console, through the built binary against the
// relay in workerd: versions, diff, revert, push --comment, roles, and the
// server-side backtest (`triggers backtest FILE --relay URL`) against the
// local one over the same events exported with `tail`.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startRelay, TEST_SECRETS, WRITE_KEY } from '../support/relay.mjs';
import { runCli, scratch } from '../support/cli.mjs';
import { encodeFrames, makeFrame } from '../support/frames.mjs';

const ORIGIN = 'http://127.0.0.1:8788';
const file = scratch('eventstream-cli-console-');
const run = runCli;
let relay;

const EDITOR = { EVENTSTREAM_EDITOR_TOKEN: TEST_SECRETS.EDITOR_TOKEN };
const VIEWER = { EVENTSTREAM_VIEWER_TOKEN: TEST_SECRETS.VIEWER_TOKEN };

before(async () => {
  encodeFrames([]); // builds the CLI if needed
  relay = await startRelay({ partitions: 2, origins: [ORIGIN] });
});
after(() => relay?.stop());

const welcome = (text) => ({
  version: 1,
  triggers: [{ id: 'welcome', when: { event: 'Signed Up' }, action: { type: 'banner', payload: { text } } }],
});

test('push --comment makes versions; versions lists them, diff compares, revert restores', async () => {
  const v1 = file('v1.json', welcome('hello'));
  const v2 = file('v2.json', welcome('hello again'));
  const first = await run(['triggers', 'push', v1, '--relay', relay.url, '--comment', 'first'], EDITOR);
  assert.equal(first.code, 0, first.stderr);
  const n1 = Number(/^activated version (\d+): 1 triggers from .* on 2 of 2 partitions$/m.exec(first.stdout)?.[1]);
  assert.ok(n1 >= 1, first.stdout);
  const second = await run(['triggers', 'push', v2, '--relay', relay.url, '--comment', 'second'], EDITOR);
  assert.equal(second.code, 0, second.stderr);
  const n2 = n1 + 1;
  assert.match(second.stdout, new RegExp(`^activated version ${n2}: `));

  // A viewer reads the list; the newest first, the active one marked.
  const listed = await run(['triggers', 'versions', '--relay', relay.url, '--json'], VIEWER);
  assert.equal(listed.code, 0, listed.stderr);
  const list = JSON.parse(listed.stdout);
  assert.equal(list.active, n2);
  assert.deepEqual(list.versions.slice(0, 2).map((v) => [v.version, v.comment]), [[n2, 'second'], [n1, 'first']]);
  const table = await run(['triggers', 'versions', '--relay', relay.url], VIEWER);
  assert.equal(table.code, 0, table.stderr);
  const rows = table.stdout.trimEnd().split('\n');
  assert.match(rows[0], /^ {2}version +time +author +partitions +comment$/);
  assert.match(rows[1], new RegExp(`^\\* ${n2} +\\d{4}-\\d\\d-\\d\\dT[\\d:.]+Z +\\S+ +2 of 2 +second$`));
  assert.match(rows[2], new RegExp(`^ {2}${n1} .* 0 of 2 +first$`));

  const diff = await run(['triggers', 'diff', String(n1), String(n2), '--relay', relay.url], VIEWER);
  assert.equal(diff.code, 0, diff.stderr);
  assert.match(diff.stdout, /^-.*"text": "hello"$/m);
  assert.match(diff.stdout, /^\+.*"text": "hello again"$/m);

  const reverted = await run(['triggers', 'revert', String(n1), '--relay', relay.url, '--comment', 'back to hello'], EDITOR);
  assert.equal(reverted.code, 0, reverted.stderr);
  assert.match(reverted.stdout, new RegExp(`^activated version ${n2 + 1}: the content of version ${n1} on 2 of 2 partitions$`, 'm'));
  const shown = await run(['triggers', 'show', '--relay', relay.url], VIEWER);
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual(JSON.parse(shown.stdout), welcome('hello'));
  const after = JSON.parse((await run(['triggers', 'versions', '--relay', relay.url, '--json'], VIEWER)).stdout);
  assert.deepEqual([after.active, after.versions[0].comment], [n2 + 1, 'back to hello']);
  const same = await run(['triggers', 'diff', String(n1), String(n2 + 1), '--relay', relay.url], VIEWER);
  assert.equal(same.stdout, '', 'a revert has the old content exactly');
});

test('roles and mistakes: a viewer cannot push or revert; bad versions are refused clearly', async () => {
  const v = file('viewer.json', welcome('from a viewer'));
  const pushed = await run(['triggers', 'push', v, '--relay', relay.url, '--token', TEST_SECRETS.VIEWER_TOKEN]);
  assert.equal(pushed.code, 1);
  assert.match(pushed.stderr, /^eventstream: relay answered 403 forbidden: /);
  const reverted = await run(['triggers', 'revert', '1', '--relay', relay.url, '--token', TEST_SECRETS.VIEWER_TOKEN]);
  assert.equal(reverted.code, 1);
  assert.match(reverted.stderr, /^eventstream: relay answered 403 forbidden: /);
  // A viewer's token is not looked for where an editor's is needed.
  const noToken = await run(['triggers', 'push', v, '--relay', relay.url], VIEWER);
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /^eventstream triggers push: no token: pass --token or set EVENTSTREAM_ADMIN_TOKEN or EVENTSTREAM_EDITOR_TOKEN\n/);
  const wrong = await run(['triggers', 'versions', '--relay', relay.url, '--token', 'nope']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^eventstream: relay answered 401 /);

  const missing = await run(['triggers', 'diff', '1', '999', '--relay', relay.url], VIEWER);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^eventstream: relay answered 404 /);
  const bad = await run(['triggers', 'diff', '1', 'x', '--relay', relay.url], VIEWER);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /^eventstream triggers diff: versions are whole numbers from 1\n/);
});

// Events for the backtest: visitors adding products, some checking out.
const MINUTE = 60_000;
const CANDIDATE = {
  version: 1,
  triggers: [
    { id: 'adds', when: { event: 'Product Added' }, count: { at_least: 2, within: '10m' }, cooldown: '5m', action: { type: 'banner', payload: { n: 2 } } },
    { id: 'big', when: { event: 'Product Added', where: [{ prop: 'price', op: 'gte', value: 50 }] }, action: { type: 'toast' } },
    { id: 'checkout', when: { event: 'Checkout Started' }, max_per_user: 1, action: { type: 'toast' } },
  ],
};
const ACTIVE = {
  version: 1,
  triggers: [
    { id: 'adds', when: { event: 'Product Added' }, count: { at_least: 3, within: '10m' }, action: { type: 'banner' } },
  ],
};

async function ingest(t0) {
  const sent = [];
  for (let v = 0; v < 12; v++) {
    const events = [];
    for (let i = 0; i < 2 + (v % 5); i++) {
      events.push({ name: 'Product Added', time: t0 + v * 1000 + i * MINUTE, properties: { price: 10 + 15 * ((v + i) % 6) } });
    }
    if (v % 3 === 0) {
      events.push({ name: 'Checkout Started', time: t0 + v * 1000 + 8 * MINUTE, properties: {} });
      events.push({ name: 'Checkout Started', time: t0 + v * 1000 + 9 * MINUTE, properties: {} });
    }
    const [bytes] = encodeFrames([makeFrame({ visitor: `bt-${v}`, events, producerId: String(7000 + v), origin: ORIGIN })]);
    const res = await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body: bytes, headers: { origin: ORIGIN } });
    assert.equal(res.status, 200, await res.text());
    sent.push(...events);
  }
  return sent.length;
}

/** Per trigger id: firings and distinct visitors, from firing lines. */
function figures(lines) {
  const out = {};
  for (const f of lines.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l))) {
    out[f.trigger] ??= { firings: 0, visitors: new Set() };
    out[f.trigger].firings += 1;
    out[f.trigger].visitors.add(f.visitor);
  }
  return Object.fromEntries(Object.entries(out).map(([id, x]) => [id, { firings: x.firings, visitors: x.visitors.size }]));
}

test('backtest --relay gives the figures of the local backtest over the same events, beside the active file', async () => {
  const active = file('active.json', ACTIVE);
  const pushed = await run(['triggers', 'push', active, '--relay', relay.url], EDITOR);
  assert.equal(pushed.code, 0, pushed.stderr);
  const count = await ingest(Date.now() - 2 * 60 * MINUTE);

  // The same events, as the relay exports them, through the local engine.
  const tail = await run(['tail', '--relay', relay.url, '--from', 'earliest', '--until-end'], { EVENTSTREAM_SUBSCRIBER_TOKEN: TEST_SECRETS.SUBSCRIBER_TOKEN });
  assert.equal(tail.code, 0, tail.stderr);
  const events = tail.stdout.split('\n').filter((l) => l.includes('"bt-')).join('\n') + '\n';
  assert.equal(events.trim().split('\n').length, count);
  const candidate = file('candidate.json', CANDIDATE);
  const local = await run(['triggers', 'backtest', candidate, '-'], {}, events);
  assert.equal(local.code, 0, local.stderr);
  const localActive = await run(['triggers', 'backtest', active, '-'], {}, events);

  const remote = await run(['triggers', 'backtest', candidate, '--relay', relay.url, '--since', '24h', '--json'], VIEWER);
  assert.equal(remote.code, 0, remote.stderr);
  const result = JSON.parse(remote.stdout);
  assert.equal(result.type, 'result');
  assert.equal(result.stopped_early, false);
  assert.equal(result.partitions.length, 2);
  const want = figures(local.stdout);
  const wantActive = figures(localActive.stdout);
  assert.deepEqual(result.triggers.map((t) => t.id), ['adds', 'big', 'checkout']);
  for (const t of result.triggers) {
    const w = want[t.id] ?? { firings: 0, visitors: 0 };
    assert.deepEqual({ firings: t.candidate.firings, visitors: t.candidate.visitors }, w, t.id);
  }
  assert.ok(want.adds.firings > 0 && want.big.firings > 0 && want.checkout.firings > 0, JSON.stringify(want));
  const adds = result.triggers[0];
  assert.deepEqual({ firings: adds.active.firings, visitors: adds.active.visitors }, wantActive.adds);
  assert.equal(result.triggers[1].active, null, 'the active file has no trigger "big"');
  // checkout: max_per_user 1, and four visitors check out twice.
  assert.equal(result.triggers[2].candidate.suppressed.max_per_user, 4);

  // The same as a table for people.
  const shown = await run(['triggers', 'backtest', candidate, '--relay', relay.url], VIEWER);
  assert.equal(shown.code, 0, shown.stderr);
  const rows = shown.stdout.trim().split('\n');
  assert.match(rows[0], /^\d+ events from \d+ visitors on 2 partitions, since \d{4}-/);
  assert.match(rows[1], /^trigger +file +firings +visitors +share +median +p90 +max +audience +cooldown +max_per_user +global_cap +cancelled$/);
  assert.match(rows[2], new RegExp(`^adds +candidate +${want.adds.firings} +${want.adds.visitors} +[\\d.]+% `));
  assert.match(rows[3], new RegExp(`^ +active +${wantActive.adds.firings} +${wantActive.adds.visitors} `));
  assert.match(rows[5], /^ +active +\(no trigger of this id\)$/);

  // Bounded: a partition with more events than the bound stops early and says so.
  const bounded = await run(['triggers', 'backtest', candidate, '--relay', relay.url, '--since', 'all', '--max-events', '3', '--json'], VIEWER);
  assert.equal(bounded.code, 0, bounded.stderr);
  const partial = JSON.parse(bounded.stdout);
  assert.equal(partial.stopped_early, true);
  assert.ok(partial.partitions.every((p) => p.complete === false && p.stopped === 'events'), JSON.stringify(partial.partitions));
  assert.match(bounded.stderr, /^partition 0: stopped at the bound of events per partition after \d+ events; its figures are partial$/m);

  // An invalid candidate never leaves this machine.
  const invalid = file('invalid.json', { version: 1, triggers: [{ id: 'x', action: { type: 't' } }] });
  const refused = await run(['triggers', 'backtest', invalid, '--relay', relay.url], VIEWER);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /^triggers\[0\]: needs "when"/);
});
