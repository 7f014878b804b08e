// Fault injection on the aws backend (moto's S3 and SQS, real worker processes, real ffmpeg): a
// worker SIGKILLed while downloading its input from S3 and while uploading its output. A proxy in
// front of moto holds those requests back (standing for a slow network to S3) so the kill lands
// inside the stage. The message becomes visible again, another worker finishes the job, and no
// object, multipart upload or partial file is left half-made.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { isFinal, pidsMatching, startFeederd, waitForJob, writeConfig } from './helpers/feederd.js';
import { awsRig, startAwsWorker } from './helpers/aws-env.js';
import { ffmpegPids, partialFiles, slowProxy, until } from './helpers/faults.js';
import { s3Client } from '../src/adapters/aws/clients.js';
import { FAST_VIDEO, noQuality } from './helpers/srv-cheap.js';
import type { RunningFeederd } from './helpers/feederd.js';

const rig = awsRig({ maxAttempts: 2, leaseSeconds: 2 });
const { procs, feeders, dirs } = rig;

const stages = [
  { phase: 'downloading', slow: (m: string, u: string) => m === 'GET' && u.includes('/nommer-staging/inputs/') },
  { phase: 'uploading', slow: (m: string, u: string) => m === 'PUT' && u.includes('/nommer-staging/outputs/') },
] as const;

/**
 * One feederd for both stages (a start costs about 3 s of CPU): only the workers go through the
 * slow proxy, each test's own. No test here looks at quality figures: none are measured.
 */
let shared: Promise<RunningFeederd> | undefined;
function feederd(): Promise<RunningFeederd> {
  return (shared ??= (async () => {
    const d = tempDir('nommer-fault-aws-');
    dirs.push(d);
    const f = await startFeederd(d.path, { workers: 0, config: noQuality(rig.aws.config), env: rig.aws.env });
    feeders.push(f);
    return f;
  })());
}

for (const [i, stage] of stages.entries()) {
  test(`aws: a worker SIGKILLed while ${stage.phase}: the message comes back, another worker finishes, nothing half-made is left`, async (t) => {
    const d = tempDir('nommer-fault-aws-');
    dirs.push(d);
    const proxy = await slowProxy(rig.aws.moto.endpoint, stage.slow, 5000);
    t.after(() => proxy.close());
    const f = await feederd();
    // Workers live in their own directory, reaching S3 and SQS through the slow proxy.
    const wdir = join(d.path, 'workers');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(wdir);
    writeConfig(wdir, {
      ...rig.aws.config,
      aws: { ...(rig.aws.config.aws as Record<string, unknown>), endpoint: proxy.endpoint },
    });
    const id1 = `${stage.phase}-k1`,
      id2 = `${stage.phase}-k2`;
    const w1 = startAwsWorker(wdir, rig.aws.env, id1);
    procs.push(w1);
    const clip = makeClip(join(d.path, 'up.mp4'), { seconds: 1, width: 160, height: 120 });
    const { job } = await f.client.createJob({
      input: clip,
      outputs: [{ preset: 'webm' }],
      set: FAST_VIDEO,
    });
    await waitForJob(f.client, job.id, (j) => j.phase === stage.phase && proxy.slowed > 0, 60_000);
    w1.kill('SIGKILL');
    await until(() => w1.exitCode !== null || w1.signalCode !== null, 5000, 'the worker to die');
    const w2 = startAwsWorker(wdir, rig.aws.env, id2);
    procs.push(w2);
    const done = await waitForJob(f.client, job.id, isFinal, 120_000);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.worker, id2);
    const local = join(d.path, 'up.webm');
    await until(() => existsSync(local), 10_000, 'the output to be delivered');
    assert.deepEqual(
      probe(local)
        .streams.map((s) => s.codec_name)
        .sort(),
      ['opus', 'vp9'],
    );
    const s3 = s3Client({ endpoint: rig.aws.moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
    const mpu = await s3.send(new ListMultipartUploadsCommand({ Bucket: rig.aws.bucket }));
    assert.deepEqual(mpu.Uploads ?? [], [], 'no multipart upload left open');
    assert.deepEqual(
      [...partialFiles(d.path), ...partialFiles(f.home)].filter((p) => !p.includes(`/work/${id1}/`)),
      [],
      "no partial file (beyond the killed worker's own scratch), nor in feederd's data dir",
    );
    assert.deepEqual(pidsMatching(`--id ${id1}`), []);
    await until(() => ffmpegPids(wdir).length === 0, 5000, 'no ffmpeg left');
    w2.kill('SIGTERM');
    if (i === stages.length - 1) await f.stop();
  });
}
