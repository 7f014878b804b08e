// The aws backend end to end on moto: feederd (aws) -> SQS -> real worker processes -> S3 ->
// status back through SQS -> outputs delivered. Workers never talk to feederd.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import {
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
} from '@aws-sdk/client-sqs';
import { makeClip, probe, tempDir } from './helpers/media.js';
import {
  assertThereAtSuccess,
  isFinal,
  pidsMatching,
  startFeederd,
  waitForJob,
  type RunningFeederd,
} from './helpers/feederd.js';
import { awsRig, startAwsWorker } from './helpers/aws-env.js';
import { pacedFfmpeg } from './helpers/paced-ffmpeg.js';
import { encoderPids, until } from './helpers/faults.js';
import { FAST_VIDEO } from './helpers/srv-cheap.js';
import { S3Storage } from '../src/adapters/aws/s3-storage.js';
import { MESSAGE_VERSION } from '../src/messages.js';
import { s3Client, sqsClient } from '../src/adapters/aws/clients.js';

const rig = awsRig({ maxAttempts: 1 });
const { procs, feeders, dirs } = rig;

/** Workers of one test are killed when it ends: they share the queues with the next test. */
function worker(
  t: { after(fn: () => void): void },
  dir: string,
  id: string,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
): ChildProcess {
  const w = startAwsWorker(dir, { ...rig.aws.env, ...env }, id, extra);
  procs.push(w);
  t.after(() => {
    w.kill('SIGKILL');
  });
  return w;
}

async function setup(): Promise<{ dir: string; f: RunningFeederd }> {
  const d = tempDir();
  dirs.push(d);
  const f = await startFeederd(d.path, { workers: 1, config: rig.aws.config, env: rig.aws.env });
  feeders.push(f);
  return { dir: d.path, f };
}

test('a local file submitted to the aws backend is staged in S3, encoded by a worker over SQS, and delivered back', async (t) => {
  const { dir, f } = await setup();
  worker(t, dir, 'aws-w1');
  const clip = makeClip(join(dir, 'talk.mp4'), { seconds: 2 });
  const s3out = `s3://${rig.aws.bucket}/results/talk.webp`;
  // What is tested is the way through S3 and SQS, not the picture: libvpx at its fastest speed.
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }, { preset: 'poster', uri: s3out }],
    set: FAST_VIDEO,
  });
  assert.match(job.input, /^s3:\/\/nommer-test\/nommer-staging\/inputs\//, 'input staged in the bucket');
  const done = await waitForJob(f.client, job.id, isFinal, 90_000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.worker, 'aws-w1');
  // local destination: downloaded back by feederd after success
  const local = join(dir, 'talk.webm');
  assertThereAtSuccess(local);
  assert.deepEqual(
    probe(local)
      .streams.map((s) => s.codec_name)
      .sort(),
    ['opus', 'vp9'],
  );
  // s3 destination: in the bucket
  const storage = new S3Storage({
    client: s3Client({ endpoint: rig.aws.moto.endpoint, forcePathStyle: true, region: 'us-east-1' }),
  });
  assert.equal(await storage.exists(s3out), true);
  const got = await storage.fetch(s3out, dir);
  assert.equal(probe(got).streams[0]!.codec_name, 'webp');
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.includes('.part')),
    [],
  );
  await f.stop();
});

test('a worker killed mid-job: the message becomes visible again and another worker completes it', async (t) => {
  const { dir, f } = await setup();
  // w1's encode is held to real time (8 s on any machine); w2's, after the release, runs at full speed.
  const paced = pacedFfmpeg({ held: true });
  const w1 = worker(t, dir, 'aws-k1', [], paced.env);
  // 8 s at 12 fps: 96 frames to count, each encoded again by w2 at libvpx's fastest speed (the
  // test is about the message coming back, not the picture).
  const clip = makeClip(join(dir, 'long.mp4'), { seconds: 8, width: 160, height: 120, fps: 12 });
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }],
    set: FAST_VIDEO,
  });
  // Mid-encode by construction: w1's ffmpeg is running (its scratch dir is named for it).
  await until(
    async () => encoderPids('/work/aws-k1/').length > 0 || isFinal((await f.client.getJob(job.id)).job),
    60_000,
    'w1 to be encoding',
  );
  assert.ok(encoderPids('/work/aws-k1/').length > 0, 'w1 is encoding (the job did not end first)');
  paced.release();
  w1.kill('SIGKILL');
  worker(t, dir, 'aws-k2', [], paced.env);
  const done = await waitForJob(f.client, job.id, isFinal, 120_000);
  assert.equal(done.state, 'succeeded');
  assert.equal(done.worker, 'aws-k2');
  const local = join(dir, 'long.webm');
  assertThereAtSuccess(local);
  const frames = Number(probe(local, true).streams.find((s) => s.codec_type === 'video')!.nb_read_frames);
  assert.ok(Math.abs(frames - 8 * 12) <= 1, `frames ${frames}`);
  assert.deepEqual(pidsMatching('aws-k1'), []);
  await f.stop();
});

test('a poison task that kills every worker ends in the DLQ and the job fails with WORKER_LOST', async (t) => {
  const { dir, f } = await setup();
  // Every encode is held to real time: each worker is killed while its encode surely runs.
  const paced = pacedFfmpeg({ held: true });
  // Each held encode costs CPU for every frame it gets to before its worker dies: few, cheap frames.
  const clip = makeClip(join(dir, 'p.mp4'), { seconds: 8, width: 160, height: 120, fps: 12 });
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }],
    set: FAST_VIDEO,
  });
  // maxAttempts 1: deliveries 1 and 2 are worked on (and their workers die); the 3rd is failed by the worker.
  for (let i = 0; i < 3; i++) {
    const w = worker(t, dir, `aws-p${i}`, [], paced.env);
    const j = await waitForJob(
      f.client,
      job.id,
      (x) => isFinal(x) || (x.worker === `aws-p${i}` && x.state === 'running'),
      60_000,
    );
    if (isFinal(j)) break;
    if (i < 2) {
      await waitForJob(f.client, job.id, (x) => x.phase === 'encoding' || isFinal(x), 60_000);
      w.kill('SIGKILL');
    }
  }
  const done = await waitForJob(f.client, job.id, isFinal, 60_000);
  assert.equal(done.state, 'failed');
  assert.equal(done.error!.code, 'WORKER_LOST');
  // feederd's watchdog reads the DLQ too, and a dead letter it cannot apply (this job has already
  // failed) stays there, hidden from other readers for a while: stop it, then count hidden ones too.
  await f.stop();
  const sqs = sqsClient({ endpoint: rig.aws.moto.endpoint, region: 'us-east-1' });
  const dlq = (await sqs.send(new GetQueueUrlCommand({ QueueName: `${rig.aws.prefix}-dlq` }))).QueueUrl!;
  const got = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: dlq,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageAttributeNames: ['All'],
    }),
  );
  const bodies = (got.Messages ?? []).map((m) => JSON.parse(m.Body!) as { jobId?: string });
  if (!bodies.some((b) => b.jobId === job.id)) {
    const attrs = (
      await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: dlq, AttributeNames: ['ApproximateNumberOfMessagesNotVisible'] }),
      )
    ).Attributes;
    assert.ok(
      Number(attrs?.ApproximateNumberOfMessagesNotVisible) >= 1,
      'the task message is in the DLQ (held by the watchdog)',
    );
  }
});

test('a malformed message is moved to the DLQ with a reason and the worker keeps going', async (t) => {
  const d = tempDir();
  dirs.push(d);
  const { writeConfig } = await import('./helpers/feederd.js');
  writeConfig(d.path, rig.aws.config);
  const sqs = sqsClient({ endpoint: rig.aws.moto.endpoint, region: 'us-east-1' });
  const jobsUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: `${rig.aws.prefix}-jobs` }))).QueueUrl!;
  const dlq = (await sqs.send(new GetQueueUrlCommand({ QueueName: `${rig.aws.prefix}-dlq` }))).QueueUrl!;
  // Of the version this worker speaks (a message of another version is returned untouched, for
  // a worker that speaks it), but malformed: the worker rejects it to the DLQ.
  await sqs.send(
    new SendMessageCommand({ QueueUrl: jobsUrl, MessageBody: `{"v":${MESSAGE_VERSION},"kind":"task","jobId":42}` }),
  );
  const w = worker(t, d.path, 'aws-m1', ['--idle-exit', '3']);
  const code = await new Promise<number | null>((r) => w.once('exit', (c) => r(c)));
  assert.equal(code, 0, 'the worker idled out normally');
  const got = await sqs.send(
    new ReceiveMessageCommand({
      QueueUrl: dlq,
      MaxNumberOfMessages: 10,
      WaitTimeSeconds: 1,
      MessageAttributeNames: ['All'],
    }),
  );
  const m = (got.Messages ?? []).find((x) => x.Body?.includes('"jobId":42'));
  assert.ok(m, 'malformed message in the DLQ');
  assert.match(m!.MessageAttributes?.['nommer-reject-reason']?.StringValue ?? '', /malformed task message/);
});

test('no job may write where nommer keeps its own things: the release every instance installs, fences, staging', async () => {
  const { dir, f } = await setup();
  const clip = makeClip(join(dir, 'r.mp4'), { seconds: 1, width: 160, height: 120 });
  for (const key of [
    'nommer-releases/media-nommer-0.1.0.tgz',
    'nommer-control/fence/j_x.json',
    'nommer-staging/inputs/x.webm',
  ]) {
    await assert.rejects(
      f.client.createJob({
        input: clip,
        outputs: [{ preset: 'webm', uri: `s3://${rig.aws.bucket}/${key}` }],
        force: true,
      }),
      (e: Error & { code?: string }) => e.code === 'USAGE' && /nommer keeps for itself/.test(e.message),
      key,
    );
  }
  // Nor read there: staged media belongs to other jobs.
  await assert.rejects(
    f.client.createJob({
      input: `s3://${rig.aws.bucket}/nommer-staging/inputs/0b7c/other-users.mov`,
      outputs: [{ preset: 'webm', uri: `s3://${rig.aws.bucket}/out/x.webm` }],
    }),
    (e: Error & { code?: string }) => e.code === 'USAGE' && /nommer keeps for itself/.test(e.message),
  );
  // Outside the allowed locations (by default: this bucket), and keys with dot segments.
  for (const [input, uri, pattern] of [
    [clip, 's3://someone-elses-bucket/x.webm', /outside the S3 locations jobs may use: s3:\/\/nommer-test\//],
    [
      's3://someone-elses-bucket/in.mov',
      `s3://${rig.aws.bucket}/out/x.webm`,
      /input s3:\/\/someone-elses-bucket\/in\.mov is outside/,
    ],
    [clip, `s3://${rig.aws.bucket}/out/../nommer-releases/x.tgz`, /"\." or "\.\." segments/],
  ] as const) {
    await assert.rejects(
      f.client.dryRun({ input, outputs: [{ preset: 'webm', uri }] }),
      (e: Error & { code?: string; hint?: string }) => e.code === 'USAGE' && pattern.test(e.message),
      uri,
    );
  }
  const list = await f.client.listJobs();
  assert.equal(list.jobs.length, 0, 'no job was created');
  await f.stop();
});

test('aws.allowedPrefixes: jobs read and write only under the configured locations', async () => {
  const d = tempDir();
  dirs.push(d);
  const config = {
    ...rig.aws.config,
    aws: { ...(rig.aws.config.aws as object), allowedPrefixes: [`s3://${rig.aws.bucket}/media/`] },
  };
  const f = await startFeederd(d.path, { workers: 0, config, env: rig.aws.env });
  feeders.push(f);
  const ok = await f.client.dryRun({
    input: `s3://${rig.aws.bucket}/media/in/talk.mov`,
    outputs: [{ preset: 'webm', uri: `s3://${rig.aws.bucket}/media/out/talk.webm` }],
  });
  assert.equal(ok.outputs[0]!.uri, `s3://${rig.aws.bucket}/media/out/talk.webm`);
  for (const [input, uri] of [
    [`s3://${rig.aws.bucket}/media/in/talk.mov`, `s3://${rig.aws.bucket}/results/talk.webm`],
    [`s3://${rig.aws.bucket}/private/talk.mov`, `s3://${rig.aws.bucket}/media/out/talk.webm`],
  ]) {
    await assert.rejects(
      f.client.dryRun({ input, outputs: [{ preset: 'webm', uri }] }),
      (e: Error & { code?: string; hint?: string }) =>
        e.code === 'USAGE' && /outside the S3 locations jobs may use: s3:\/\/nommer-test\/media\//.test(e.message),
    );
  }
  await f.stop();
});
