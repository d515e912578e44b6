// The relay deploys: `wrangler deploy --dry-run --outdir` runs what a real
// deploy runs before the upload, without an account: wrangler's reading of
// relay/wrangler.toml (bindings, migrations, vars), its bundling and checks.
// The [build] command of wrangler.toml is relay/build.sh, which the test
// command has just run (this test runs it when relay/build is missing); the
// dry run reads wrangler.toml as it is but for that one table, so that the
// release build (a minute of wasm-opt on two cores) is not done twice. The
// bundle must fit the platform's limit; its size is printed (the README
// quotes it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ROOT } from '../support/relay.mjs';
import { tempDir } from '../support/tmp.mjs';

const RELAY = join(ROOT, 'relay');
// Workers' script size limit: 64 MiB uncompressed (10 MB gzip before 2026-09).
const LIMIT_RAW = 64 * 1024 * 1024;
const MiB = (n) => (n / 1024 / 1024).toFixed(2) + ' MiB';

function files(dir) {
  return readdirSync(dir, { recursive: true }).map((f) => join(dir, f)).filter((f) => statSync(f).isFile());
}

test('wrangler deploy --dry-run bundles the relay, wrangler.toml as it is, within the platform limit', (t) => {
  const toml = readFileSync(join(RELAY, 'wrangler.toml'), 'utf8');
  assert.match(toml, /^\[build\]\ncommand = "\.\/build\.sh"\n/m, 'wrangler.toml builds with relay/build.sh');
  const main = /^main = "([^"]+)"$/m.exec(toml)[1];
  if (!existsSync(join(RELAY, main))) execFileSync(join(RELAY, 'build.sh'), { stdio: 'inherit' });

  const tmp = tempDir('eventstream-deploy-');
  const out = join(tmp, 'bundle');
  const config = join(tmp, 'wrangler.toml');
  writeFileSync(config, toml.replace(/^\[build\]\ncommand = .*\n/m, '').replace(/^main = .*$/m, `main = ${JSON.stringify(join(RELAY, main))}`));
  let log;
  try {
    log = execFileSync(join(ROOT, 'node_modules', '.bin', 'wrangler'), ['deploy', '--dry-run', '--outdir', out, '--config', config], {
      cwd: RELAY,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false', NO_COLOR: '1', FORCE_COLOR: '0' },
    });
  } catch (e) {
    assert.fail(`wrangler deploy --dry-run failed (exit ${e.status}):\n${e.stdout}\n${e.stderr}`);
  }
  assert.match(log, /--dry-run: exiting now/, log);

  // Every Durable Object binding of wrangler.toml made it into the bundle's bindings.
  const bindings = [...toml.matchAll(/\[\[durable_objects\.bindings\]\]\s*\nname\s*=\s*"([^"]+)"\s*\nclass_name\s*=\s*"([^"]+)"/g)];
  assert.ok(bindings.length > 0, 'wrangler.toml binds a Durable Object');
  for (const [, name, cls] of bindings) assert.match(log, new RegExp(`env\\.${name}\\s+\\(${cls}\\)`), `binding ${name} (${cls}) in:\n${log}`);
  // And every R2 bucket (a deploy fails when one does not exist: the README says to create it).
  for (const [, name, bucket] of toml.matchAll(/\[\[r2_buckets\]\]\s*\nbinding\s*=\s*"([^"]+)"\s*\nbucket_name\s*=\s*"([^"]+)"/g)) {
    assert.match(log, new RegExp(`env\\.${name}\\s+\\(${bucket}\\)\\s+R2 Bucket`), `R2 binding ${name} (${bucket}) in:\n${log}`);
  }

  // What is uploaded: the modules (wrangler also writes a source map and a README beside them).
  const bundle = files(out).filter((f) => /\.(m?js|wasm)$/.test(f));
  assert.ok(bundle.some((f) => f.endsWith('.js')) && bundle.some((f) => f.endsWith('.wasm')), `a module and its wasm: ${bundle}`);
  const bytes = bundle.map((f) => readFileSync(f));
  const raw = bytes.reduce((n, b) => n + b.length, 0);
  const gzip = bytes.reduce((n, b) => n + gzipSync(b, { level: 9 }).length, 0);
  const upload = /Total Upload:\s*([\d.]+ KiB) \/ gzip:\s*([\d.]+ KiB)/.exec(log);
  t.diagnostic(`relay bundle: ${bundle.length} files, ${MiB(raw)} raw, ${MiB(gzip)} gzip (limit ${MiB(LIMIT_RAW)} uncompressed)` +
    (upload ? `; wrangler: Total Upload ${upload[1]} / gzip ${upload[2]}` : ''));
  assert.ok(raw < LIMIT_RAW, `the bundle (${MiB(raw)}) fits the ${MiB(LIMIT_RAW)} limit`);
});
