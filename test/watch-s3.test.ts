// Watched S3 prefixes (issue 28) on moto with IAM enforcement on (as test/aws-iam.test.ts): setup
// runs under the printed setup policy, feederd under the orchestrator's, the worker under the
// worker's, so what watching a prefix needs is proven to be in them. A fourth user, with every
// S3 and SQS right, stands for whoever uploads (and for S3 itself when the test repeats an event).
//
// Phases are caught by construction, never by a timer: moto puts an upload's event on the ingest
// queue before PutObject answers, and feederd deletes a message only once it has acted on it, so
// "the ingest queue holds nothing, visible or in flight" means every event so far is settled.
// Where moto differs from S3 (see AWS-EMULATION.md): its events carry no versionId (feederd asks
// HeadObject, as it does anyway), it encodes '/' in keys as %2F (both decode alike), it does not
// check the queue policy when S3 sends, and it ignores IAM conditions.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { spawn, type ChildProcess } from 'node:child_process';
import {
  GetBucketNotificationConfigurationCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutBucketNotificationConfigurationCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  SendMessageCommand,
  SQSClient,
} from '@aws-sdk/client-sqs';
import { iamPolicies, setupAws } from '../src/adapters/aws/setup.js';
import { queueDeadLetterLimit } from '../src/jobs/deliveries.js';
import { parseBucketEvent } from '../src/adapters/aws/bucket-events.js';
import { watchAnswer, type CreateWatchBody, type PublicJob } from '../src/api/contract.js';
import { NommerError } from '../src/errors.js';
import { NOMMER_BIN, nommer } from './helpers/cli.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { clientConfigOf, envOf, iamUsers, UNCHECKED_PER_USER, type Creds } from './helpers/iam.js';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { startMoto, type Moto } from './helpers/moto.js';

const BUCKET = 'nommer-watch';
/** A bucket jobs may use (aws.allowedPrefixes) that does not exist. */
const GONE = 'nommer-gone';
const PREFIX = 'ws3';
const REGION = 'us-east-1';
const INGEST = `${PREFIX}-ingest`;

type Role = 'setup' | 'orchestrator' | 'worker' | 'tester';
const ALLOWED = [`s3://${BUCKET}/`, `s3://${GONE}/`];
/** What `nommer setup aws` passes for this config. */
const SETUP = {
  bucket: BUCKET,
  queuePrefix: PREFIX,
  eventBuckets: [BUCKET, GONE],
  maxReceiveCount: queueDeadLetterLimit(2),
};

let moto: Moto;
const creds = {} as Record<Role, Creds>;
const d = tempDir('nommer-watch-s3-');
const procs: ChildProcess[] = [];
let f: RunningFeederd | undefined;
let s3: S3Client;
let sqs: SQSClient;
let ingestUrl = '';
let watchId = '';

const config = {
  backend: 'aws',
  jobs: { leaseSeconds: 4, maxAttempts: 2 },
  watch: { rescanSeconds: 1 },
  aws: {
    bucket: BUCKET,
    queuePrefix: PREFIX,
    region: REGION,
    forcePathStyle: true,
    endpoint: '',
    allowedPrefixes: ALLOWED,
  },
};
const env = (role: Role) => envOf(creds[role], REGION);
const clientConfig = (role: Role) => clientConfigOf(moto.endpoint, REGION, creds[role]);

before(async () => {
  moto = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: String(4 * UNCHECKED_PER_USER) } });
  config.aws.endpoint = moto.endpoint;
  const printed = iamPolicies(
    { region: REGION },
    {
      bucket: BUCKET,
      queuePrefix: PREFIX,
      allowedPrefixes: ALLOWED,
      clusterTag: { key: 'nommer:cluster', value: PREFIX },
    },
  );
  const everything = {
    Version: '2012-10-17' as const,
    Statement: [{ Sid: 'Everything', Effect: 'Allow' as const, Action: ['s3:*', 'sqs:*'], Resource: '*' }],
  };
  Object.assign(creds, await iamUsers(moto.endpoint, REGION, { ...printed, tester: everything }));
  s3 = new S3Client(clientConfig('tester'));
  sqs = new SQSClient(clientConfig('tester'));
});

after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await f?.kill().catch(() => undefined);
  s3?.destroy();
  sqs?.destroy();
  await moto?.stop();
  d.cleanup();
});

function startWorker(id: string): void {
  const w = spawn(process.execPath, [NOMMER_BIN, 'worker', '--backend', 'aws', '--id', id], {
    cwd: d.path,
    env: { ...process.env, ...env('worker'), NOMMER_HOME: join(d.path, `home-${id}`), NOMMER_LOG_LEVEL: 'warn' },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  procs.push(w);
}

const cliOpts = () => ({ cwd: d.path, env: { ...env('orchestrator'), NOMMER_HOME: join(d.path, 'home') } });
const cli = (args: string[]) => nommer(args, cliOpts());
/**
 * The CLI's main() in this process, for the commands whose exit path a real `nommer` run here
 * already shows (`watch add`, refused and accepted): what they print is the same, without a
 * process start (about a second of CPU).
 */
const cliInProcess = (args: string[]) => nommerInProcess(args, cliOpts());

async function upload(key: string, body: Buffer | string): Promise<void> {
  await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body }));
}

/** Every event so far settled by feederd: nothing on the ingest queue, visible or in flight (bounded). */
async function drained(): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (f && f.proc.exitCode !== null) throw new Error(`feederd exited (${f.proc.exitCode})`);
    const a = (
      await sqs.send(
        new GetQueueAttributesCommand({
          QueueUrl: ingestUrl,
          AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
        }),
      )
    ).Attributes!;
    if (a.ApproximateNumberOfMessages === '0' && a.ApproximateNumberOfMessagesNotVisible === '0') return;
    if (Date.now() > deadline) throw new Error(`the ingest queue was never drained: ${JSON.stringify(a)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** `watch add` with this body is refused: the reason and a hint, nothing stored. */
async function refused(body: CreateWatchBody, message: RegExp, hint: RegExp): Promise<void> {
  await assert.rejects(f!.client.addWatch(body), (e: unknown) => {
    assert.ok(e instanceof NommerError, String(e));
    assert.ok(['USAGE', 'PRESET_UNKNOWN'].includes(e.code), `${e.code}: ${e.message}`);
    assert.match(e.message, message);
    assert.match(e.hint ?? '', hint);
    return true;
  });
}

async function jobs(): Promise<PublicJob[]> {
  return (await f!.client.listJobs({ limit: 100 })).jobs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
}

/** The event S3 would send again for an object (at-least-once), sent by the test. */
async function repeatEvent(key: string, etag?: string): Promise<void> {
  const head = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: key }));
  const body = {
    Records: [
      {
        eventVersion: '2.1',
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        s3: {
          configurationId: `nommer-${watchId}`,
          bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
          object: {
            key: encodeURIComponent(key).replace(/%20/g, '+'),
            size: head.ContentLength,
            eTag: etag ?? head.ETag!.replace(/"/g, ''),
          },
        },
      },
    ],
  };
  await sqs.send(new SendMessageCommand({ QueueUrl: ingestUrl, MessageBody: JSON.stringify(body) }));
}

test('an event body: keys decoded (+ is a space), the test event and other events carry no object', () => {
  const created = parseBucketEvent(
    JSON.stringify({
      Records: [
        {
          eventName: 'ObjectCreated:CompleteMultipartUpload',
          s3: {
            configurationId: 'nommer-w_1',
            bucket: { name: 'b' },
            object: { key: 'in%2Fa+b%2Bc.mov', size: 5, eTag: '"abc"', versionId: 'v1' },
          },
        },
        { eventName: 'ObjectRemoved:Delete', s3: { bucket: { name: 'b' }, object: { key: 'in/x' } } },
      ],
    }),
  );
  assert.deepEqual(created.objects, [
    { routeId: 'nommer-w_1', bucket: 'b', key: 'in/a b+c.mov', size: 5, etag: 'abc', versionId: 'v1' },
  ]);
  assert.equal(parseBucketEvent('{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"b"}').note, 's3:TestEvent');
  assert.equal(
    parseBucketEvent(
      '{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"k"}}}]}',
    ).objects.length,
    0,
  );
  assert.equal(parseBucketEvent('not json').note, 'not JSON');
});

test('setup, under the setup policy, makes the ingest queue with a policy that lets the job buckets send to it', async () => {
  const setupClients = { s3: new S3Client(clientConfig('setup')), sqs: new SQSClient(clientConfig('setup')) };
  try {
    const report = await setupAws({ region: REGION }, { ...SETUP, clients: setupClients });
    assert.deepEqual(Object.fromEntries(report.items.map((i) => [i.name, i.action])), {
      [BUCKET]: 'created',
      [`${PREFIX}-dlq`]: 'created',
      [`${PREFIX}-jobs`]: 'created',
      [`${PREFIX}-status`]: 'created',
      [INGEST]: 'created',
    });
    const again = await setupAws({ region: REGION }, { ...SETUP, clients: setupClients });
    assert.ok(
      again.items.every((i) => i.action === 'exists'),
      JSON.stringify(again.items),
    );
  } finally {
    setupClients.s3.destroy();
    setupClients.sqs.destroy();
  }
  ingestUrl = (await sqs.send(new GetQueueUrlCommand({ QueueName: INGEST }))).QueueUrl!;
  const attrs = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: ingestUrl, AttributeNames: ['All'] })))
    .Attributes!;
  const policy = JSON.parse(attrs.Policy!);
  assert.deepEqual(policy.Statement[0].Principal, { Service: 's3.amazonaws.com' });
  assert.deepEqual(policy.Statement[0].Condition.ArnLike['aws:SourceArn'], [
    `arn:aws:s3:::${BUCKET}`,
    `arn:aws:s3:::${GONE}`,
  ]);
  assert.equal(policy.Statement[0].Condition.StringEquals['aws:SourceAccount'], '123456789012');
  assert.equal(attrs.RedrivePolicy, undefined, 'events are not dead-lettered among task messages');
});

test('watch add refuses, under the orchestrator policy, a missing bucket, a prefix jobs may not use, outputs inside the source or not on S3, an unknown preset', async () => {
  // The bucket's owner routes other events elsewhere: nommer must keep that.
  const own = (await sqs.send(new CreateQueueCommand({ QueueName: 'owners-queue' }))).QueueUrl!;
  const ownArn = (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: own, AttributeNames: ['QueueArn'] })))
    .Attributes!.QueueArn!;
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: BUCKET,
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Id: 'owners-route',
            QueueArn: ownArn,
            Events: ['s3:ObjectRemoved:*'],
            Filter: { Key: { FilterRules: [{ Name: 'prefix', Value: 'logs/' }] } },
          },
        ],
      },
    }),
  );
  f = await startFeederd(d.path, { workers: 0, config, env: env('orchestrator') });
  // At the CLI: exit 2, the reason and a hint, no stack trace.
  const gone = await cli(['watch', 'add', `s3://${GONE}/in/`, '-p', 'opus', '-o', `s3://${GONE}/out/`]);
  assert.equal(gone.code, 2, gone.stderr);
  assert.match(gone.stderr, /bucket missing: s3:\/\/nommer-gone\//);
  assert.match(gone.stderr, /create the bucket/);
  assert.doesNotMatch(gone.stderr, /\n\s+at /, 'no stack trace');
  for (const [source, dest, message, hint, preset] of [
    ['s3://elsewhere/in/', `s3://${BUCKET}/out/`, /outside the S3 locations/, /allowedPrefixes/],
    [`s3://${BUCKET}/in/`, `s3://${BUCKET}/in/out/`, /would be watched themselves/, /outside the watched one/],
    [`s3://${BUCKET}/in/`, join(d.path, 'out'), /go to S3/, /-o s3:\/\//],
    [`s3://${BUCKET}/in/`, `s3://${BUCKET}/out/`, /no-such-preset/, /presets/, 'no-such-preset'],
  ] as const)
    await refused({ source, dest, presets: [preset ?? 'opus'] }, message, hint);
  assert.deepEqual((await f.client.listWatches()).watches, [], 'nothing refused was stored');
});

test('watch add s3://…, under the orchestrator policy: the prefix routed to the ingest queue, the owner’s own route kept; an overlapping prefix refused', async () => {
  const added = await cli(['watch', 'add', `s3://${BUCKET}/in`, '-p', 'opus', '-o', `s3://${BUCKET}/out/`, '--json']);
  assert.equal(added.code, 0, added.stderr);
  const { watch } = watchAnswer().parse(JSON.parse(added.stdout));
  watchId = watch.id;
  assert.equal(watch.source, `s3://${BUCKET}/in/`, 'a prefix is a folder');
  await refused(
    { source: `s3://${BUCKET}/in/sub/`, presets: ['opus'], dest: `s3://${BUCKET}/out2/` },
    new RegExp(`overlaps watch ${watch.id}`),
    /remove/,
  );
  const routes = (await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: BUCKET })))
    .QueueConfigurations!;
  assert.deepEqual(
    routes.map((r) => [r.Id, r.QueueArn!.split(':').pop(), r.Events, r.Filter?.Key?.FilterRules?.[0]?.Value]),
    [
      ['owners-route', 'owners-queue', ['s3:ObjectRemoved:*'], 'logs/'],
      [`nommer-${watch.id}`, INGEST, ['s3:ObjectCreated:*'], 'in/'],
    ],
  );
  const listed = await cliInProcess(['watch', 'list']);
  assert.match(
    listed.stdout,
    new RegExp(`^${watch.id}  s3://${BUCKET}/in/  opus -> s3://${BUCKET}/out/  ok  0 files$`, 'm'),
  );
});

test('an upload under the prefix is one job whose output lands under the output prefix; a repeated event, temp, hidden and deeper keys make none', async () => {
  startWorker('ws3-w1');
  const clip = readFileSync(makeClip(join(d.path, 'talk.m4a'), { seconds: 1, noVideo: true }));
  await upload('in/talk show.m4a', clip);
  await upload('in/.hidden.m4a', clip);
  await upload('in/copy.m4a.part', clip);
  await upload('in/deeper/talk.m4a', clip); // not --recursive
  await upload('elsewhere/talk.m4a', clip);
  await drained();
  const [job, ...more] = await jobs();
  assert.deepEqual(more, []);
  assert.equal(job!.input, `s3://${BUCKET}/in/talk show.m4a`);
  assert.deepEqual(
    job!.outputs.map((o) => o.uri),
    [`s3://${BUCKET}/out/talk show.opus`],
  );
  await repeatEvent('in/talk show.m4a');
  await drained();
  assert.equal((await jobs()).length, 1, 'a repeated event makes no second job');
  const done = await waitForJob(f!.client, job!.id, isFinal, 60_000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: 'out/talk show.opus' }));
  const local = join(d.path, 'got.opus');
  writeFileSync(local, Buffer.from(await out.Body!.transformToByteArray()));
  assert.equal(probe(local).streams[0]!.codec_name, 'opus');
  assert.equal((await f!.client.listWatches()).watches[0]!.files, 1);
});

test('an undecodable upload is one failed job and the watch goes on; a new version of a key is a new job, its old event none', async () => {
  await upload('in/broken.m4a', 'this is not media at all'.repeat(50));
  await drained();
  const broken = (await jobs()).find((j) => j.input.endsWith('broken.m4a'))!;
  const failed = await waitForJob(f!.client, broken.id, isFinal, 60_000);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error?.code, 'INPUT_UNDECODABLE');

  await s3.send(new PutBucketVersioningCommand({ Bucket: BUCKET, VersioningConfiguration: { Status: 'Enabled' } }));
  const v1 = readFileSync(makeClip(join(d.path, 'take1.m4a'), { seconds: 1, noVideo: true }));
  await upload('in/take.m4a', v1);
  await drained();
  const v1etag = (await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: 'in/take.m4a' }))).ETag!.replace(/"/g, '');
  const first = (await jobs()).filter((j) => j.input.endsWith('take.m4a'));
  assert.equal(first.length, 1);
  assert.equal((await waitForJob(f!.client, first[0]!.id, isFinal, 60_000)).state, 'succeeded');
  await upload('in/take.m4a', readFileSync(makeClip(join(d.path, 'take2.m4a'), { seconds: 2, noVideo: true })));
  await drained();
  await repeatEvent('in/take.m4a', v1etag); // the first version's event, late: that content is gone
  await drained();
  const takes = (await jobs()).filter((j) => j.input.endsWith('take.m4a'));
  assert.equal(takes.length, 2, 'one job per version');
  const second = await waitForJob(f!.client, takes[1]!.id, isFinal, 60_000);
  assert.equal(second.state, 'succeeded', JSON.stringify(second.error));
});

test('a feederd restart makes no duplicate: events repeated while it was down make none, a new upload one', async () => {
  const before = (await jobs()).length;
  await f!.stop();
  await repeatEvent('in/talk show.m4a');
  await repeatEvent('in/broken.m4a');
  await upload('in/later.m4a', readFileSync(makeClip(join(d.path, 'later.m4a'), { seconds: 1, noVideo: true })));
  f = await startFeederd(d.path, { workers: 0, config, env: env('orchestrator'), keepToken: true });
  await drained();
  const now = await jobs();
  assert.equal(now.length, before + 1, JSON.stringify(now.map((j) => j.input)));
  assert.equal(now.at(-1)!.input, `s3://${BUCKET}/in/later.m4a`);
  assert.deepEqual(
    (await f.client.listWatches()).watches.map((w) => [w.state, w.files]),
    [['ok', 5]],
  );
});

test('a route the bucket lost (its notifications overwritten) is made again by feederd', async () => {
  const current = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: BUCKET }));
  const owners = current.QueueConfigurations!.filter((r) => r.Id === 'owners-route');
  await s3.send(
    new PutBucketNotificationConfigurationCommand({
      Bucket: BUCKET,
      NotificationConfiguration: { QueueConfigurations: owners },
    }),
  );
  const deadline = Date.now() + 30_000;
  let ids: string[] = [];
  while (!ids.includes(`nommer-${watchId}`)) {
    assert.equal(f!.proc.exitCode, null, 'feederd exited');
    assert.ok(Date.now() < deadline, `the route was never made again: ${ids.join(', ')}`);
    await new Promise((r) => setTimeout(r, 100));
    const now = await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: BUCKET }));
    ids = (now.QueueConfigurations ?? []).map((r) => r.Id!);
  }
  assert.deepEqual(ids, ['owners-route', `nommer-${watchId}`]);
  await upload('in/after-repair.m4a', readFileSync(join(d.path, 'later.m4a')));
  await drained();
  assert.equal((await jobs()).at(-1)!.input, `s3://${BUCKET}/in/after-repair.m4a`);
});

test('watch remove takes the route away and keeps the owner’s', async () => {
  const r = await cliInProcess(['watch', 'remove', watchId, '--json']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(watchAnswer().parse(JSON.parse(r.stdout)).watch.id, watchId);
  const routes = (await s3.send(new GetBucketNotificationConfigurationCommand({ Bucket: BUCKET })))
    .QueueConfigurations!;
  assert.deepEqual(
    routes.map((x) => x.Id),
    ['owners-route'],
  );
  await f!.stop();
});
