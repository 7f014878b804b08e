// The IAM policies `nommer setup aws` prints, proven on moto with IAM enforcement on
// (INITIAL_NO_AUTH_ACTION_COUNT: the first requests make three IAM users, one per printed policy;
// every request after them is checked against the caller's policy). Setup runs under the setup
// policy, feederd under the orchestrator's, workers under the workers': a staged job with a
// cancel and a retry, an S3 output and a chunked job all succeed and leave nothing in staging;
// what the policies forbid (a worker writing the release or the fences, feederd taking jobs)
// is denied.
//
// Where moto's checking differs from IAM's, the test says so and adapts the policy only there:
// - moto names two S3 actions its own way: HEAD on a bucket is `s3:HeadBucket` (IAM:
//   s3:ListBucket) and the public access block is `s3:PutPublicAccessBlock` (IAM:
//   s3:PutBucketPublicAccessBlock); the same grant is added under moto's name.
// - moto checks CreateQueue and GetQueueUrl against resource `*` (it finds the queue only from a
//   QueueUrl parameter, and these two name it by QueueName; IAM checks the queue's ARN), so a
//   policy that grants them on its queues gets them on `*` under moto.
// - moto answers a denied SQS JSON request with an XML body, which the SDK cannot parse (real
//   SQS answers JSON): a 403 that fails to parse counts as AccessDenied here.
// - moto's signature check fails on a query value with a '/' (ListObjectsV2 Prefix 'a/'); the test
//   lists with prefixes that end before the slash (nommer itself never lists the bucket).
// - moto ignores Condition blocks (it passes no context keys), so conditions are not proven here.
// - moto checks EC2 actions against resource `*`, not the instance's ARN: EC2 grants on instance
//   ARNs are granted on `*` under moto (so which tag keys and instances the drain right covers is
//   checked on the printed policy in aws-setup.test.ts; here, who holds it at all).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { GetQueueUrlCommand, ListQueuesCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { iamPolicies } from '../src/adapters/aws/setup.js';
import { CreateTagsCommand, DeleteTagsCommand, DescribeInstancesCommand, EC2Client } from '@aws-sdk/client-ec2';
import { EC2Fleet } from '../src/adapters/aws/ec2-fleet.js';
import { DRAIN_TAG } from '../src/fleet/drain.js';
import { RELEASE_PREFIX } from '../src/fleet/release.js';
import { NOMMER_BIN, nommer } from './helpers/cli.js';
import {
  assertThereAtSuccess,
  isFinal,
  startFeederd,
  waitForJob,
  writeConfig,
  type RunningFeederd,
} from './helpers/feederd.js';
import { decodesCleanly, makeClip, probe, tempDir } from './helpers/media.js';
import { FAST_VIDEO, NO_QUALITY } from './helpers/srv-cheap.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { clientConfigOf, envOf, iamUsers, UNCHECKED_PER_USER, type Creds } from './helpers/iam.js';
import { spawn } from 'node:child_process';

const BUCKET = 'nommer-iam';
const PREFIX = 'iam';
const REGION = 'us-east-1';
/** Requests made before enforcement starts: 3 users x (CreateUser, PutUserPolicy, CreateAccessKey). */
const UNCHECKED_REQUESTS = 3 * UNCHECKED_PER_USER;

type Role = 'setup' | 'orchestrator' | 'worker';

let moto: Moto;
const creds = {} as Record<Role, Creds>;
const d = tempDir();
const procs: ChildProcess[] = [];
let f: RunningFeederd | undefined;

const config = {
  backend: 'aws',
  jobs: { leaseSeconds: 4, maxAttempts: 2 },
  chunking: { enabled: true, thresholdSeconds: 5, chunkSeconds: 4 },
  // What is tested is who may do what, not the encodes: no quality measuring (one ffmpeg run per
  // output less), small pictures, libvpx's fastest speed.
  ...NO_QUALITY,
  aws: { bucket: BUCKET, queuePrefix: PREFIX, region: REGION, forcePathStyle: true, endpoint: '' },
};

const env = (role: Role) => envOf(creds[role], REGION);
const clientConfig = (role: Role) => clientConfigOf(moto.endpoint, REGION, creds[role]);

before(async () => {
  moto = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: String(UNCHECKED_REQUESTS) } });
  config.aws.endpoint = moto.endpoint;
  const printed = iamPolicies(
    { region: REGION },
    { bucket: BUCKET, queuePrefix: PREFIX, clusterTag: { key: 'nommer:cluster', value: PREFIX } },
  );
  Object.assign(creds, await iamUsers(moto.endpoint, REGION, printed));
  writeConfig(d.path, config);
});

after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await f?.kill().catch(() => undefined);
  await moto?.stop();
  d.cleanup();
});

/** An aws error's name, or 'ok'. */
async function outcome(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    const e = err as { name?: string; $response?: { statusCode?: number } };
    if (e.name === 'SyntaxError' && e.$response?.statusCode === 403) return 'AccessDenied';
    return e.name ?? String(err);
  }
}

function worker(id: string): ChildProcess {
  const w = spawn(process.execPath, [NOMMER_BIN, 'worker', '--backend', 'aws', '--id', id], {
    cwd: d.path,
    env: { ...process.env, ...env('worker'), NOMMER_HOME: join(d.path, `home-${id}`), NOMMER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  procs.push(w);
  return w;
}

async function stagingKeys(): Promise<string[]> {
  const s3 = new S3Client(clientConfig('orchestrator'));
  try {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'nommer-staging' }));
    return (out.Contents ?? []).map((o) => o.Key!);
  } finally {
    s3.destroy();
  }
}

/** Staging is emptied after a job ends (cleanup runs just after the final state): poll, bounded. */
async function stagingEmptied(): Promise<string[]> {
  let left: string[] = [];
  for (let i = 0; i < 100; i++) {
    left = await stagingKeys();
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return left;
}

test('enforcement is on: the emulator refuses a caller IAM does not know', async () => {
  const sqs = new SQSClient({
    endpoint: moto.endpoint,
    region: REGION,
    maxAttempts: 1,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
  });
  assert.notEqual(await outcome(sqs.send(new ListQueuesCommand({}))), 'ok');
  sqs.destroy();
});

test('`nommer setup aws` works under the setup policy: bucket, queues, lifecycle, release published and pinned', async () => {
  const r = await nommer(['setup', 'aws', '--json'], {
    cwd: d.path,
    env: { ...env('setup'), NOMMER_HOME: join(d.path, 'home') },
    timeoutMs: 120_000,
  });
  assert.equal(r.code, 0, r.stderr);
  const report = JSON.parse(r.stdout) as { items: Array<{ action: string }>; release: string; releaseSha256: string };
  assert.deepEqual(
    report.items.map((i) => i.action),
    ['created', 'created', 'created', 'created', 'created'],
  );
  assert.match(report.releaseSha256, /^[0-9a-f]{64}$/);
  // The setup user cannot do feederd's or the workers' work.
  const sqs = new SQSClient(clientConfig('setup'));
  const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: `${PREFIX}-jobs` }))).QueueUrl!;
  assert.equal(
    await outcome(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }))),
    'AccessDenied',
  );
  sqs.destroy();
});

test('feederd and workers under their policies: a staged job canceled, retried and delivered; an S3 output; a chunked job; staging cleaned', async () => {
  f = await startFeederd(d.path, { workers: 0, config, env: env('orchestrator') });
  const clip = makeClip(join(d.path, 'talk.mp4'), { seconds: 1, width: 160, height: 120 });
  const s3out = `s3://${BUCKET}/results/talk.webp`;
  // No worker yet: the job waits in the queue, and is canceled there (a fence in the control prefix).
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }, { preset: 'poster', uri: s3out }],
  });
  assert.match(job.input, /^s3:\/\/nommer-iam\/nommer-staging\/inputs\//, 'input staged under the orchestrator policy');
  await f.client.cancelJob(job.id);
  assert.equal((await waitForJob(f.client, job.id, isFinal, 30_000)).state, 'canceled');
  await f.client.retryJob(job.id);
  // One worker: every worker holds the same policy, so a second proves nothing more about it.
  worker('iam-w1');
  const done = await waitForJob(f.client, job.id, isFinal, 120_000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const local = join(d.path, 'talk.webm');
  assertThereAtSuccess(local);
  assert.deepEqual(
    probe(local)
      .streams.map((s) => s.codec_name)
      .sort(),
    ['opus', 'vp9'],
  );
  const s3 = new S3Client(clientConfig('worker'));
  const listed = await s3.send(new ListObjectsV2Command({ Bucket: BUCKET, Prefix: 'results' }));
  assert.deepEqual(
    (listed.Contents ?? []).map((o) => o.Key),
    ['results/talk.webp'],
  );
  assert.deepEqual(await stagingEmptied(), [], 'staged input and output removed under the orchestrator policy');

  // 8 s with a keyframe every 2 s: two 4 s chunks, at 12 fps (the clip aws-e2e makes, so a run
  // makes it once); what is proven is who may write and remove the pieces, not the picture.
  const film = makeClip(join(d.path, 'film.mp4'), { seconds: 8, width: 160, height: 120, fps: 12 });
  const chunked = (
    await f.client.createJob({
      input: film,
      outputs: [{ preset: 'webm' }],
      set: FAST_VIDEO,
      chunked: true,
    })
  ).job;
  const cdone = await waitForJob(f.client, chunked.id, isFinal, 240_000);
  assert.equal(cdone.state, 'succeeded', JSON.stringify(cdone.error));
  const filmOut = join(d.path, 'film.webm');
  assertThereAtSuccess(filmOut);
  assert.ok(decodesCleanly(filmOut).ok);
  assert.deepEqual(await stagingEmptied(), [], 'chunk pieces, staged input and output removed');
  s3.destroy();
});

test('what the policies forbid is denied: workers never write the release or the fences; feederd never takes jobs or writes releases', async () => {
  const body = 'replacement';
  const worker = new S3Client(clientConfig('worker'));
  const orchestrator = new S3Client(clientConfig('orchestrator'));
  const release = `${RELEASE_PREFIX}media-nommer-0.1.0.tgz`;
  try {
    for (const Key of [release, 'nommer-control/fences/anything.json']) {
      assert.equal(
        await outcome(worker.send(new PutObjectCommand({ Bucket: BUCKET, Key, Body: body }))),
        'AccessDenied',
        `worker PutObject ${Key}`,
      );
      assert.equal(
        await outcome(worker.send(new DeleteObjectCommand({ Bucket: BUCKET, Key }))),
        'AccessDenied',
        `worker DeleteObject ${Key}`,
      );
    }
    // Allowed elsewhere in the bucket, so the denials above are the Deny, not a broken key.
    assert.equal(await outcome(worker.send(new PutObjectCommand({ Bucket: BUCKET, Key: 'out/x', Body: body }))), 'ok');
    assert.equal(
      await outcome(orchestrator.send(new PutObjectCommand({ Bucket: BUCKET, Key: release, Body: body }))),
      'AccessDenied',
    );
  } finally {
    worker.destroy();
    orchestrator.destroy();
  }
  const sqs = new SQSClient(clientConfig('orchestrator'));
  const url = (await sqs.send(new GetQueueUrlCommand({ QueueName: `${PREFIX}-jobs` }))).QueueUrl!;
  assert.equal(
    await outcome(sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0 }))),
    'AccessDenied',
  );
  sqs.destroy();
  await f?.stop();
});

test('draining: feederd tags and untags its worker under its policy; a worker may neither drain nor call back', async () => {
  const ec2 = (role: Role) => new EC2Client(clientConfig(role));
  const orchestrator = ec2('orchestrator');
  const worker = ec2('worker');
  const fleet = new EC2Fleet({
    client: orchestrator,
    cluster: PREFIX,
    ami: 'ami-12345678',
    instanceTypes: ['c7a.large'],
    spot: false,
    userData: () => '#!/bin/sh\n',
  });
  // Real EC2 answers a denial with UnauthorizedOperation; moto with AccessDenied.
  const denied = /^(UnauthorizedOperation|AccessDenied)$/;
  const drainTag = async (id: string) => {
    const r = await orchestrator.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    return r.Reservations?.[0]?.Instances?.[0]?.Tags?.find((t) => t.Key === DRAIN_TAG)?.Value;
  };
  try {
    const [node] = await fleet.launch(1);
    const id = node!.id;
    await fleet.drain([id], true);
    assert.equal(await drainTag(id), '1', 'feederd drained it');
    const tags = [{ Key: DRAIN_TAG }];
    assert.match(await outcome(worker.send(new DeleteTagsCommand({ Resources: [id], Tags: tags }))), denied);
    assert.equal(await drainTag(id), '1', 'a worker cannot lift its drain');
    await fleet.drain([id], false);
    assert.equal(await drainTag(id), undefined, 'feederd called it back');
    assert.match(
      await outcome(worker.send(new CreateTagsCommand({ Resources: [id], Tags: [{ Key: DRAIN_TAG, Value: '1' }] }))),
      denied,
    );
    assert.equal(await drainTag(id), undefined);
  } finally {
    orchestrator.destroy();
    worker.destroy();
  }
});
