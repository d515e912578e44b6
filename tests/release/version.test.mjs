// One version number for everything a user installs: the workspace's
// (Cargo.toml [workspace.package]) is the crates', the npm package's, what
// `eventstream --version` prints and what the relay's /health reports. (The
// SDK's frames say `eventstream-js/<version>`: tests/sdk/tarball.test.mjs.)
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { startRelay, ROOT } from '../support/relay.mjs';

const VERSION = /\[workspace\.package\][^[]*?\nversion\s*=\s*"([^"]+)"/.exec(readFileSync(join(ROOT, 'Cargo.toml'), 'utf8'))?.[1];
let relay;
after(() => relay?.stop());

test('the workspace has a version', () => {
  assert.match(VERSION ?? '', /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'Cargo.toml [workspace.package] version is semver');
});

test('every crate of the workspace carries it', () => {
  const meta = JSON.parse(execFileSync('cargo', ['metadata', '--no-deps', '--format-version', '1', '--offline'], { cwd: ROOT, encoding: 'utf8' }));
  const members = meta.packages.filter((p) => meta.workspace_members.includes(p.id));
  const names = members.map((p) => p.name);
  for (const n of ['broker-core', 'eventstream-cli', 'eventstream-relay', 'eventstream-sdk']) assert.ok(names.includes(n), `${n} in ${names}`);
  for (const p of members) assert.equal(p.version, VERSION, `${p.name} (${p.manifest_path})`);
});

test('the npm package carries it', () => {
  assert.equal(JSON.parse(readFileSync(join(ROOT, 'npm', 'package.json'), 'utf8')).version, VERSION, 'npm/package.json');
});

test('eventstream --version prints it', () => {
  const cli = join(ROOT, 'target', 'debug', 'eventstream');
  if (!existsSync(cli)) execFileSync('cargo', ['build', '-q', '-p', 'eventstream-cli'], { cwd: ROOT, stdio: 'inherit' });
  assert.equal(execFileSync(cli, ['--version'], { encoding: 'utf8' }), `eventstream ${VERSION}\n`);
});

test("the relay's /health reports it", async () => {
  relay = await startRelay({ partitions: 1 });
  const health = await relay.api('GET', '/health');
  assert.equal(health.status, 200);
  assert.equal(health.body.version, VERSION);
});

test('the changelog has a section for it, or for what is not released yet', () => {
  const changelog = readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8');
  assert.match(changelog, /^## \[Unreleased\]/m, 'CHANGELOG.md: an Unreleased section (Keep a Changelog)');
  const released = [...changelog.matchAll(/^## \[(\d[^\]]*)\]/gm)].map((m) => m[1]);
  if (released.length) assert.equal(released[0], VERSION, 'the newest released section is the workspace version');
});
