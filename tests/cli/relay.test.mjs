// The `eventstream` CLI's relay commands (triggers push/show, tail) through
// the built binary against the relay in workerd.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, TEST_SECRETS, WRITE_KEY, ROOT } from '../support/relay.mjs';
import { encodeFrames, makeFrame } from '../support/frames.mjs';
import { tempDir } from '../support/tmp.mjs';

const CLI = join(ROOT, 'target', 'debug', 'eventstream');
const ORIGIN = 'http://127.0.0.1:8788';
let relay;
const dir = tempDir('eventstream-cli-');

function run(args, env = {}) {
  return new Promise((resolve) => {
    execFile(CLI, args, { env: { ...process.env, ...env }, timeout: 30000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

before(async () => {
  encodeFrames([]); // builds the CLI if needed
  relay = await startRelay({ partitions: 2, origins: [ORIGIN] });
});
after(() => relay?.stop());

const GOOD = {
  version: 1,
  triggers: [{ id: 'welcome', when: { event: 'Signed Up' }, action: { type: 'banner', payload: { text: 'hi' } } }],
};

test('triggers push activates a valid file and show prints it back', async () => {
  const file = join(dir, 'good.json');
  writeFileSync(file, JSON.stringify(GOOD));
  const pushed = await run(['triggers', 'push', file, '--relay', relay.url], { EVENTSTREAM_ADMIN_TOKEN: TEST_SECRETS.ADMIN_TOKEN });
  assert.equal(pushed.code, 0, pushed.stderr);
  assert.match(pushed.stdout, /^activated /);
  const shown = await run(['triggers', 'show', '--relay', relay.url, '--token', TEST_SECRETS.ADMIN_TOKEN]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.deepEqual(JSON.parse(shown.stdout), GOOD);
});

test('triggers push of an invalid file prints path-precise errors and changes nothing', async () => {
  const file = join(dir, 'bad.json');
  const bad = structuredClone(GOOD);
  bad.triggers[0].when.where = [{ prop: 'plan', op: 'gte ', value: 1 }];
  writeFileSync(file, JSON.stringify(bad));
  const pushed = await run(['triggers', 'push', file, '--relay', relay.url, '--token', TEST_SECRETS.ADMIN_TOKEN]);
  assert.equal(pushed.code, 1);
  assert.match(pushed.stderr, /^triggers\[0\]\.when\.where\[0\]\.op: unknown operator "gte " \(did you mean "gte"\?\)/m);
  const shown = await run(['triggers', 'show', '--relay', relay.url, '--token', TEST_SECRETS.ADMIN_TOKEN]);
  assert.deepEqual(JSON.parse(shown.stdout), GOOD, 'the active file is unchanged');
});

test('a wrong token or an unreachable relay is one clear line, exit 2 or 1, never a panic', async () => {
  const wrong = await run(['triggers', 'show', '--relay', relay.url, '--token', 'nope']);
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^eventstream: relay answered 401 /);
  assert.equal(wrong.stderr.trim().split('\n').length, 1);
  const down = await run(['triggers', 'show', '--relay', 'http://127.0.0.1:9', '--token', 'x']);
  assert.equal(down.code, 2);
  assert.match(down.stderr, /^eventstream: cannot reach the relay: /);
  const noToken = await run(['tail', '--relay', relay.url], { EVENTSTREAM_SUBSCRIBER_TOKEN: '' });
  assert.equal(noToken.code, 0 + 2);
});

test('tail --from earliest --until-end prints every appended event exactly once', async () => {
  const visitors = ['v-alpha', 'v-beta', 'v-gamma', 'v-delta'];
  const sent = [];
  for (const [i, visitor] of visitors.entries()) {
    const events = Array.from({ length: 5 }, (_, n) => ({ name: 'Tail Test', properties: { visitor_index: i, n } }));
    const [bytes] = encodeFrames([makeFrame({ visitor, events, producerId: String(1000 + i), origin: ORIGIN })]);
    const res = await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body: bytes, headers: { origin: ORIGIN } });
    assert.equal(res.status, 200, await res.text());
    sent.push(...events.map((e) => `${visitor}/${e.properties.n}`));
  }
  const tail = await run(['tail', '--relay', relay.url, '--from', 'earliest', '--until-end'], { EVENTSTREAM_SUBSCRIBER_TOKEN: TEST_SECRETS.SUBSCRIBER_TOKEN });
  assert.equal(tail.code, 0, tail.stderr);
  const records = tail.stdout.trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.name === 'Tail Test');
  const got = records.map((r) => `${r.visitor}/${r.properties.n}`);
  assert.deepEqual([...got].sort(), [...sent].sort(), 'every event once');
  for (const p of [0, 1]) {
    const offsets = records.filter((r) => r.partition === p).map((r) => r.offset);
    assert.deepEqual(offsets, [...offsets].sort((a, b) => a - b), `partition ${p} in offset order`);
  }
});

test('tail with a consumer commits its position and resumes after it', async () => {
  const env = { EVENTSTREAM_SUBSCRIBER_TOKEN: TEST_SECRETS.SUBSCRIBER_TOKEN };
  const send = async (name, producerId) => {
    const [bytes] = encodeFrames([makeFrame({ visitor: 'v-consumer', events: [{ name }], producerId, origin: ORIGIN })]);
    const res = await fetch(`${relay.url}/v1/frames?key=${WRITE_KEY}`, { method: 'POST', body: bytes, headers: { origin: ORIGIN } });
    assert.equal(res.status, 200);
    return (await res.json()).partition;
  };
  const p = await send('Before Commit', '5000');
  const tail = (extra) => run(['tail', '--relay', relay.url, '--partition', String(p), '--consumer', 'cli-test', '--until-end', ...extra], env);
  const first = await tail(['--from', 'earliest']);
  assert.equal(first.code, 0, first.stderr);
  const firstNames = first.stdout.trim().split('\n').map((l) => JSON.parse(l).name);
  assert.equal(firstNames.at(-1), 'Before Commit');
  await send('After Commit', '5001');
  const second = await tail([]);
  assert.equal(second.code, 0, second.stderr);
  const names = second.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l).name);
  assert.deepEqual(names, ['After Commit'], 'resumed right after the committed position');
});
