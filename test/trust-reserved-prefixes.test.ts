// Issue 23 item 11: the prefixes nommer keeps for itself in the bucket (staging, fences, the
// release) are path segments: a package written to `s3://bucket/nommer-staging` (no trailing
// slash) puts its files under `nommer-staging/`, so it is refused like `nommer-staging/pkg/`;
// and a neighbour such as `nommer-staging-old/` is not staging. Through `nommer submit
// --dry-run` and the API against feederd (aws backend) on moto.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { makeClip, tempDir } from './helpers/media.js';
import { startFeederd, type RunningFeederd } from './helpers/feederd.js';
import { nommer } from './helpers/cli.js';
import { startAwsEnv, type AwsEnv } from './helpers/aws-env.js';

let aws: AwsEnv;
let f: RunningFeederd;
const dir = tempDir('nommer-trust-reserved-');
before(async () => {
  aws = await startAwsEnv();
  f = await startFeederd(dir.path, { workers: 0, config: aws.config, env: aws.env });
});
after(async () => {
  await f?.stop();
  await aws?.moto.stop();
  dir.cleanup();
});

test('a package into a reserved prefix is refused with or without its trailing slash', async () => {
  const clip = makeClip(join(dir.path, 'c.mp4'), { seconds: 1, width: 160, height: 120 });
  const env = { ...f.env, ...aws.env };
  for (const prefix of ['nommer-staging', 'nommer-control', 'nommer-releases']) {
    for (const uri of [`s3://${aws.bucket}/${prefix}`, `s3://${aws.bucket}/${prefix}/`]) {
      await assert.rejects(
        f.client.dryRun({ input: clip, outputs: [{ preset: 'abr', uri }] }),
        (e: Error & { code?: string }) => e.code === 'USAGE' && /nommer keeps for itself/.test(e.message),
        uri,
      );
    }
  }
  // The CLI says so in one line, exit 2.
  const uri = `s3://${aws.bucket}/nommer-releases`;
  const r = await nommer(['submit', clip, '-p', 'abr', '-o', uri, '--dry-run'], { env, cwd: dir.path });
  assert.equal(r.code, 2, `${uri}: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, /^nommer: .* nommer keeps for itself/);
  // A prefix that only starts with the same letters is the user's own.
  const own = `s3://${aws.bucket}/nommer-staging-old`;
  const ok = await f.client.dryRun({ input: clip, outputs: [{ preset: 'abr', uri: own }] });
  assert.equal(ok.dryRun, true);
  const list = await f.client.listJobs();
  assert.equal(list.jobs.length, 0, 'no job was created');
});
