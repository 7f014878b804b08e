// aws staged delivery is part of the job's end (issue 23, item 2), through the CLI on moto:
// `nommer submit -o` returns once the file is at the path asked for (a new directory included)
// and prints that path; when the delivery fails for good the job fails DELIVERY_FAILED (status,
// --json), submit exits 1 and the staged copy is kept.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { S3Storage } from '../src/adapters/aws/s3-storage.js';
import { s3Client } from '../src/adapters/aws/clients.js';
import { createLogger } from '../src/log.js';
import type { PublicJob } from '../src/orchestrator/api.js';
import { attachDelivery, Staging } from '../src/orchestrator/staging.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { awsRig, sharedRigFeederd, startAwsWorker } from './helpers/aws-env.js';
import { nommer } from './helpers/cli.js';
import { isFinal, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { makeClip, tempDir } from './helpers/media.js';
import { statusEvent } from './helpers/store.js';
import { FAST_VIDEO } from './helpers/srv-cheap.js';
import { nommerInProcess } from './helpers/srv-inproc.js';

const rig = awsRig({ maxAttempts: 1 });
const { procs, dirs } = rig;

/**
 * The two submit tests share one feederd, each with a directory of its own, and find their job by
 * its destination.
 */
const sharedSetup = sharedRigFeederd(rig, () => rig.aws.config);
const jobTo = async (f: RunningFeederd, dest: string) =>
  (await f.client.listJobs()).jobs.find((j) => j.outputs[0]?.uri === dest);

function worker(dir: string, id: string): void {
  procs.push(startAwsWorker(dir, rig.aws.env, id));
}

const isWebm = (path: string) => existsSync(path) && readFileSync(path).subarray(0, 4).toString('hex') === '1a45dfa3';

test('submit -o into a new directory returns once the file is there, and prints that path', async () => {
  const { dir, f } = await sharedSetup();
  const clip = makeClip(join(dir, 'in.mp4'), { seconds: 1, width: 160, height: 120 });
  const dest = join(dir, 'newdir', 'sub', 'out.webm');
  worker(f.dir, 'de-w1');
  const r = await nommer(
    ['submit', clip, '-o', dest, '--no-quality', '--set', FAST_VIDEO[0]!, '--api', f.client.endpoint.url],
    {
      cwd: dir,
      env: f.env,
    },
  );
  // Checked the moment submit exits: no polling, the file is there or the test fails.
  assert.ok(isWebm(dest), `${dest} is delivered when submit exits (stderr: ${r.stderr})`);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`^${dest.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\b`, 'm'));
  assert.doesNotMatch(r.stdout, /s3:\/\//, 'the staging URI is not what the user asked for');
  const job = await jobTo(f, dest);
  assert.ok(job, `a job writes ${dest}`);
  assert.equal(job.state, 'succeeded');
});

test('a delivery that fails for good fails the job DELIVERY_FAILED: submit exits 1, status says so, the staged copy stays', async () => {
  const { dir, f } = await sharedSetup();
  const clip = makeClip(join(dir, 'race.mp4'), { seconds: 1, width: 160, height: 120 });
  const dest = join(dir, 'race.webm');
  // No worker yet: the job waits queued while the user writes the destination.
  const submit = nommer(
    ['submit', clip, '-o', dest, '--no-quality', '--set', FAST_VIDEO[0]!, '--json', '--api', f.client.endpoint.url],
    {
      cwd: dir,
      env: f.env,
    },
  );
  let queued: PublicJob | undefined;
  for (let i = 0; i < 600 && !queued; i++) {
    queued = await jobTo(f, dest);
    if (!queued) await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(queued, 'submit created the job');
  writeFileSync(dest, 'written while the job waited');
  worker(f.dir, 'de-w2');
  const r = await submit;
  assert.equal(r.code, 1, `submit exits 1 (stdout: ${r.stdout}, stderr: ${r.stderr})`);
  const last = JSON.parse(r.stdout.trim().split('\n').pop()!) as { jobs: PublicJob[] };
  assert.equal(last.jobs[0]!.state, 'failed');
  assert.equal(last.jobs[0]!.error?.code, 'DELIVERY_FAILED');
  assert.match(last.jobs[0]!.error?.message ?? '', /^OUTPUT_EXISTS: .*race\.webm.*the outputs stay in s3:\/\//);
  assert.equal(readFileSync(dest, 'utf8'), 'written while the job waited');

  // status and retry in this process: a `nommer` start costs about a second of CPU, and what is
  // tested is what they say and do (submit above ran the real binary).
  const inProcess = { cwd: dir, env: { NOMMER_HOME: f.home } };
  const st = await nommerInProcess(['status', queued.id, '--api', f.client.endpoint.url], inProcess);
  assert.match(st.stdout, /failed/);
  assert.match(st.stdout, /DELIVERY_FAILED/);
  const detail = JSON.parse(
    (await nommerInProcess(['status', queued.id, '--json', '--api', f.client.endpoint.url], inProcess)).stdout,
  ) as { job: PublicJob; delivery?: { state: string } };
  assert.equal(detail.job.error?.code, 'DELIVERY_FAILED');
  assert.equal(detail.delivery?.state, 'failed');
  const s3 = new S3Storage({
    client: s3Client({ endpoint: rig.aws.moto.endpoint, forcePathStyle: true, region: 'us-east-1' }),
  });
  const staged = /the outputs stay in (s3:\/\/\S+?)[ ;]/.exec(last.jobs[0]!.error!.message)?.[1];
  assert.ok(staged && (await s3.exists(staged)), `the staged copy is kept: ${staged}`);

  // Once the way is clear, `nommer retry` delivers again from the kept copy.
  rmSync(dest);
  const again = await nommerInProcess(['retry', queued.id, '--api', f.client.endpoint.url], inProcess);
  assert.equal(again.code, 0, again.stderr);
  assert.equal((await waitForJob(f.client, queued.id, isFinal, 60_000)).state, 'succeeded');
  assert.ok(isWebm(dest), 'delivered after the retry');
  await f.stop();
});

test('a delivery that fails for a passing reason (S3 throttling) is tried again, and the job succeeds', async () => {
  const d = tempDir();
  dirs.push(d);
  const store = openStore(join(d.path, 'nommer.db'));
  const client = s3Client({
    endpoint: rig.aws.moto.endpoint,
    forcePathStyle: true,
    region: 'us-east-1',
    maxAttempts: 1,
  });
  // The first download of the staged output is throttled, as S3 does under load.
  let throttled = 0;
  client.middlewareStack.add(
    (next, context) => async (args) => {
      if (context.commandName === 'GetObjectCommand' && throttled++ === 0)
        throw Object.assign(new Error('Please reduce your request rate.'), {
          name: 'SlowDown',
          $metadata: { httpStatusCode: 503 },
        });
      return next(args);
    },
    { step: 'initialize', name: 'testThrottleOnce' },
  );
  const s3 = new S3Storage({ client });
  const staged = `s3://${rig.aws.bucket}/nommer-staging/outputs/retry-test/0-out.webm`;
  const made = join(d.path, 'made.webm');
  writeFileSync(made, randomBytes(50_000));
  await s3.store(made, staged, { overwrite: true });
  const dest = join(d.path, 'deep', 'out.webm');
  const log = createLogger('test', { level: 'silent' });
  const delivery = attachDelivery(store, new Staging(s3, rig.aws.bucket, 'nommer-staging/', log), log);
  delivery.start();
  try {
    const { job } = store.createJob({
      input: 'file:///in.mp4',
      outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: staged }],
      options: { deliver: [{ from: staged, to: dest }], cleanup: [staged] },
    });
    const ev = (seq: number, type: 'started' | 'succeeded') =>
      store.applyStatusEvent(
        statusEvent(job.id, seq, type, type === 'succeeded' ? { outputs: [{ uri: staged, bytes: 1 }] } : {}),
      );
    ev(1, 'started');
    ev(2, 'succeeded');
    assert.equal(store.getJob(job.id)?.phase, 'delivering', 'the job waits for its delivery');
    let now = store.getJob(job.id)!;
    for (let i = 0; i < 200 && now.state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      now = store.getJob(job.id)!;
    }
    assert.equal(now.state, 'succeeded', JSON.stringify(now.error));
    assert.ok(throttled >= 2, 'the download was tried again');
    assert.deepEqual(readFileSync(dest), readFileSync(made));
    // The job's end is recorded before its staging is cleaned: stopping waits for the delivery's last step.
    await delivery.stop();
    assert.equal(await s3.exists(staged), false, 'staging cleaned once delivered');
  } finally {
    await delivery.stop();
    store.close();
  }
});
