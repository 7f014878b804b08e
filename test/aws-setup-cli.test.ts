// `nommer setup aws` through the real binary against moto: idempotent, publishes the release
// EC2 workers install; and clear errors when the queues or bucket are missing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { readFileSync, writeFileSync } from 'node:fs';
import { startMoto, type Moto } from './helpers/moto.js';
import { nommer } from './helpers/cli.js';
import { tempDir } from './helpers/media.js';

let moto: Moto;
const d = tempDir();
before(async () => {
  moto = await startMoto();
});
after(async () => {
  await moto?.stop();
  d.cleanup();
});

const env = () => ({
  NOMMER_HOME: join(d.path, 'home'),
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
});
function config(prefix: string, bucket = 'setup-cli') {
  writeFileSync(
    join(d.path, 'nommer.config.json'),
    JSON.stringify({
      backend: 'aws',
      aws: { bucket, queuePrefix: prefix, endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' },
    }),
  );
}

interface Report {
  items: Array<{ kind: string; name: string; action: string }>;
  release: string | null;
  releaseSha256: string | null;
  policies: { orchestrator: unknown; worker: unknown };
}

test('setup aws run twice: the second run changes nothing', async () => {
  config('cli1');
  const dry = await nommer(['setup', 'aws', '--dry-run', '--json'], { env: env(), cwd: d.path });
  assert.equal(dry.code, 0, dry.stderr);
  assert.ok((JSON.parse(dry.stdout) as Report).items.every((i) => i.action === 'would-create'));
  const first = await nommer(['setup', 'aws', '--json'], { env: env(), cwd: d.path });
  assert.equal(first.code, 0, first.stderr);
  const r1 = JSON.parse(first.stdout) as Report;
  assert.deepEqual(
    r1.items.map((i) => i.action),
    ['created', 'created', 'created', 'created', 'created'],
  );
  assert.match(r1.release ?? '', /^s3:\/\/setup-cli\/nommer-releases\/media-nommer-\d+\.\d+\.\d+\.tgz$/);
  // The published tarball's SHA-256 is pinned in the data dir, and the user-data carries it.
  assert.match(r1.releaseSha256 ?? '', /^[0-9a-f]{64}$/);
  const pins = JSON.parse(readFileSync(join(d.path, 'home', 'releases.json'), 'utf8'));
  assert.equal(pins.releases[r1.release!].sha256, r1.releaseSha256);
  const ud = await nommer(['fleet', 'user-data'], { env: env(), cwd: d.path });
  assert.equal(ud.code, 0, ud.stderr);
  assert.match(ud.stdout, new RegExp(`^NOMMER_PACKAGE_SHA256=${r1.releaseSha256}$`, 'm'));
  const second = await nommer(['setup', 'aws', '--json', '--no-release'], { env: env(), cwd: d.path });
  assert.equal(second.code, 0, second.stderr);
  const r2 = JSON.parse(second.stdout) as Report;
  assert.ok(
    r2.items.every((i) => i.action === 'exists'),
    JSON.stringify(r2.items),
  );
  assert.equal(r2.release, null);
  const text = await nommer(['setup', 'aws', '--no-release'], { env: env(), cwd: d.path });
  assert.match(text.stdout, /IAM policy for workers/);
  assert.match(text.stdout, /IAM policy for running `nommer setup aws`/);
});

test('a worker pointed at queues that do not exist says to run setup, exit 1', async () => {
  config('missing');
  const r = await nommer(['worker', '--backend', 'aws', '--once'], { env: env(), cwd: d.path, timeoutMs: 60_000 });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /setup aws/);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
});

test('the aws backend without a bucket is a config error, exit 2', async () => {
  writeFileSync(join(d.path, 'nommer.config.json'), JSON.stringify({ backend: 'aws' }));
  const r = await nommer(['setup', 'aws'], { env: env(), cwd: d.path });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /aws\.bucket is not set/);
});
