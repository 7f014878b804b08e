// A forged `succeeded` event must not make feederd delete what the event names (issue 22 item 4,
// issue 23 item 6; reliability review §6). Anyone who can send a status event can forge one:
// here a "worker" fails nothing, its job is canceled, and it then reports a success "committing"
// the release tarball every instance installs and another job's fence. feederd refuses the
// success (the job is final) and takes back late work from its own record only: both survive.
// The late attempt's own output is still taken back; a file that is not what the late attempt
// left (replaced since, another size, a later job's destination) is kept.
//
// Both backends, each through its own status channel and storage: local (the SQLite status
// channel, files), aws (SQS and S3 on moto with IAM enforcement: the forger sends under the
// workers' policy, feederd applies under the orchestrator's, as `nommer setup aws` prints them).
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { CreateQueueCommand, SQSClient } from '@aws-sdk/client-sqs';
import { openDatabase } from '../src/adapters/local/db.js';
import { FsStorage, StorageRouter } from '../src/adapters/local/fs-storage.js';
import { SqliteStatusChannel } from '../src/adapters/local/sqlite-status.js';
import { S3Control } from '../src/adapters/aws/s3-control.js';
import { S3Storage } from '../src/adapters/aws/s3-storage.js';
import { iamPolicies } from '../src/adapters/aws/setup.js';
import { SqsStatusChannel } from '../src/adapters/aws/sqs-status.js';
import { RELEASE_PREFIX } from '../src/fleet/release.js';
import { createLogger } from '../src/log.js';
import type { StatusEvent } from '../src/messages.js';
import { takeBackLateWork } from '../src/orchestrator/late-outputs.js';
import { StatusApplier } from '../src/orchestrator/status-applier.js';
import { openStore, type Store } from '../src/orchestrator/store/index.js';
import type { StatusChannel } from '../src/ports/status.js';
import type { Storage } from '../src/ports/storage.js';
import { getPreset } from '../src/presets/registry.js';
import { iamUsers, UNCHECKED_PER_USER, type Creds } from './helpers/iam.js';
import { tempDir } from './helpers/media.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { statusEvent } from './helpers/store.js';

const log = createLogger('test', { level: 'silent' });
const OPUS = getPreset('opus');

/** One backend as feederd and a (forging) worker see it. */
interface Rig {
  store: Store;
  /** feederd's storage (its rights). */
  storage: Storage;
  /** feederd's side of the status channel. */
  status: StatusChannel;
  /** A worker's side: where a forged event is sent from. */
  workerStatus: StatusChannel;
  /** A destination URI for a job's output. */
  dest(name: string): string;
  /** Write an object as a worker would (its rights). */
  put(uri: string, body: string): Promise<void>;
  /** The object's content, or null when it is gone. */
  read(uri: string): Promise<string | null>;
}

let seq = 0;
function event(jobId: string, taskId: string, over: Partial<StatusEvent>): StatusEvent {
  return statusEvent(jobId, ++seq, 'started', { taskId, worker: 'w-forger', ...over });
}

/** A job whose attempt 1 was handed out and started, then canceled: a success now is late. */
async function canceledJob(rig: Rig, applier: StatusApplier, uri: string): Promise<{ jobId: string; taskId: string }> {
  const { job } = rig.store.createJob({ input: '/media/in.mp4', outputs: [{ preset: OPUS, uri }] });
  const taskId = job.tasks[0]!.id;
  rig.store.markTaskDispatched(taskId, 1);
  await rig.workerStatus.publish(event(job.id, taskId, { type: 'started' }));
  assert.equal(await applier.consumeOnce(0), 1);
  assert.equal(rig.store.getJob(job.id)!.state, 'running');
  rig.store.cancelJob(job.id);
  return { jobId: job.id, taskId };
}

/** Send a late success through the channel and let feederd apply (refuse) it and take back. */
async function lateSuccess(rig: Rig, applier: StatusApplier, ev: StatusEvent): Promise<void> {
  await rig.workerStatus.publish(ev);
  assert.equal(await applier.consumeOnce(0), 1);
}

function applierOf(rig: Rig): StatusApplier {
  return new StatusApplier(rig.store, rig.status, log, {
    onRefused: takeBackLateWork(rig.store, rig.storage, log),
    retryDelaySeconds: () => 0,
  });
}

/** The checks both backends run; `protectedUris` are what a forged event must never delete. */
function takeBackTests(rig: () => Rig, protectedUris: () => Record<string, string>) {
  test('a forged success naming the release and another job’s fence deletes neither', async () => {
    const r = rig();
    const applier = applierOf(r);
    const victims = protectedUris();
    const before = new Map<string, string | null>();
    for (const [what, uri] of Object.entries(victims)) {
      before.set(uri, await r.read(uri));
      assert.notEqual(before.get(uri), null, `${what} is there to begin with`);
    }
    const { jobId, taskId } = await canceledJob(r, applier, r.dest('forged/own.webm'));
    const outputs = Object.values(victims).map((uri) => ({ uri, bytes: Buffer.byteLength(before.get(uri)!) }));
    await lateSuccess(r, applier, event(jobId, taskId, { type: 'succeeded', outputs }));
    for (const [what, uri] of Object.entries(victims))
      assert.equal(await r.read(uri), before.get(uri), `${what} (${uri}) survives the forged event`);
    assert.equal(r.store.getJob(jobId)!.state, 'canceled');
  });

  test('the late attempt’s own output is taken back; a file that is not what it left is kept', async () => {
    const r = rig();
    const applier = applierOf(r);
    const late = 'the late attempt committed this\n';
    // Its own output, committed before it reported: taken back.
    const own = r.dest('late/own.webm');
    const a = await canceledJob(r, applier, own);
    await r.put(own, late);
    await lateSuccess(
      r,
      applier,
      event(a.jobId, a.taskId, { type: 'succeeded', outputs: [{ uri: own, bytes: late.length }] }),
    );
    assert.equal(await r.read(own), null, 'the late output is taken back');

    // Written after the success was reported (the event was delivered a minute late): kept.
    const replaced = r.dest('late/replaced.webm');
    const b = await canceledJob(r, applier, replaced);
    const reportedAt = Date.now() - 60_000;
    await r.put(replaced, late);
    await lateSuccess(
      r,
      applier,
      event(b.jobId, b.taskId, { type: 'succeeded', at: reportedAt, outputs: [{ uri: replaced, bytes: late.length }] }),
    );
    assert.equal(await r.read(replaced), late, 'a file modified after the success was reported is kept');

    // Not the size the attempt reported: kept.
    const other = r.dest('late/other-size.webm');
    const c = await canceledJob(r, applier, other);
    await r.put(other, late);
    await lateSuccess(r, applier, event(c.jobId, c.taskId, { type: 'succeeded', outputs: [{ uri: other, bytes: 3 }] }));
    assert.equal(await r.read(other), late, 'a file of another size is kept');

    // A later job writes the same destination (it may have put the file there): kept.
    const shared = r.dest('late/shared.webm');
    const d = await canceledJob(r, applier, shared);
    r.store.createJob({ input: '/media/in2.mp4', outputs: [{ preset: OPUS, uri: shared }] });
    await r.put(shared, late);
    await lateSuccess(
      r,
      applier,
      event(d.jobId, d.taskId, { type: 'succeeded', outputs: [{ uri: shared, bytes: late.length }] }),
    );
    assert.equal(await r.read(shared), late, 'a later job’s destination is kept');
  });
}

describe('local backend: SQLite status channel, files', () => {
  const d = tempDir('nommer-forged-');
  let r: Rig;
  const paths = {
    release: join(d.path, 'releases', `media-nommer-0.1.0.tgz`),
    otherOutput: join(d.path, 'out', 'other-job.webm'),
    outside: join(d.path, 'home', 'feederd.json'),
  };
  before(() => {
    for (const p of Object.values(paths)) {
      mkdirSync(join(p, '..'), { recursive: true });
      writeFileSync(p, `${p}\n`);
    }
    const dbPath = join(d.path, 'home', 'nommer.db');
    const store = openStore(dbPath);
    // Another job, with its output in place (its fence is a row of the same database).
    store.createJob({ input: '/media/other.mp4', outputs: [{ preset: OPUS, uri: paths.otherOutput }] });
    r = {
      store,
      storage: new StorageRouter([new FsStorage()]),
      status: new SqliteStatusChannel(store.db, { pollMs: 20 }),
      workerStatus: new SqliteStatusChannel(openDatabase(dbPath)),
      dest: (name) => join(d.path, 'out', name),
      put: async (uri, body) => {
        mkdirSync(join(uri, '..'), { recursive: true });
        writeFileSync(uri, body);
      },
      read: async (uri) => (existsSync(uri) ? readFileSync(uri, 'utf8') : null),
    };
  });
  after(() => {
    r?.store.close();
    d.cleanup();
  });
  takeBackTests(
    () => r,
    () => ({
      'the release tarball': paths.release,
      'the database holding the fences': join(d.path, 'home', 'nommer.db'),
      'another job’s output': paths.otherOutput,
      'a file outside the job’s destination': paths.outside,
    }),
  );
});

describe('aws backend: SQS and S3 on moto, IAM enforced', () => {
  const BUCKET = 'nommer-forged';
  const PREFIX = 'forged';
  const REGION = 'us-east-1';
  const RELEASE = `${RELEASE_PREFIX}media-nommer-0.1.0.tgz`;
  const d = tempDir('nommer-forged-aws-');
  let moto: Moto;
  let creds: Record<'setup' | 'orchestrator' | 'worker', Creds>;
  let r: Rig;
  let otherJob = '';
  const clients: Array<{ destroy(): void }> = [];
  const s3As = (role: keyof typeof creds) => {
    const c = new S3Client({ ...clientConfig(role), forcePathStyle: true });
    clients.push(c);
    return c;
  };
  const sqsAs = (role: keyof typeof creds) => {
    const c = new SQSClient(clientConfig(role));
    clients.push(c);
    return c;
  };
  const clientConfig = (role: keyof typeof creds) => ({
    endpoint: moto.endpoint,
    region: REGION,
    maxAttempts: 1,
    credentials: { accessKeyId: creds[role].AWS_ACCESS_KEY_ID, secretAccessKey: creds[role].AWS_SECRET_ACCESS_KEY },
  });
  const key = (uri: string) => uri.slice(`s3://${BUCKET}/`.length);

  before(async () => {
    moto = await startMoto({ env: { INITIAL_NO_AUTH_ACTION_COUNT: String(3 * UNCHECKED_PER_USER) } });
    creds = await iamUsers(
      moto.endpoint,
      REGION,
      iamPolicies({ region: REGION }, { bucket: BUCKET, queuePrefix: PREFIX }),
    );
    // What `nommer setup aws` makes, under the setup policy: the bucket, the queue, the release.
    const setupS3 = s3As('setup');
    await setupS3.send(new CreateBucketCommand({ Bucket: BUCKET }));
    await setupS3.send(
      new PutObjectCommand({ Bucket: BUCKET, Key: RELEASE, Body: 'the release every instance installs' }),
    );
    const queueUrl = (await sqsAs('setup').send(new CreateQueueCommand({ QueueName: `${PREFIX}-status` }))).QueueUrl!;
    const feederdS3 = s3As('orchestrator');
    const store = openStore(join(d.path, 'nommer.db'));
    // Another job, canceled: feederd raised its fence.
    otherJob = store.createJob({
      input: `s3://${BUCKET}/in/other.mp4`,
      outputs: [{ preset: OPUS, uri: `s3://${BUCKET}/out/other.webm` }],
    }).job.id;
    store.cancelJob(otherJob);
    await new S3Control(feederdS3, BUCKET, 'nommer-control/').fence(otherJob, 1);
    const workerS3 = s3As('worker');
    r = {
      store,
      storage: new S3Storage({ client: feederdS3 }),
      status: new SqsStatusChannel({ client: sqsAs('orchestrator'), queueUrl, visibilitySeconds: 2 }),
      workerStatus: new SqsStatusChannel({ client: sqsAs('worker'), queueUrl }),
      dest: (name) => `s3://${BUCKET}/out/${name}`,
      put: async (uri, body) => {
        await workerS3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key(uri), Body: body }));
      },
      // Under the workers' policy, which reads the whole bucket (fences and the release included).
      read: async (uri) => {
        try {
          const out = await workerS3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key(uri) }));
          return await out.Body!.transformToString();
        } catch (err) {
          if ((err as { name?: string }).name === 'NoSuchKey') return null;
          throw err;
        }
      },
    };
  });
  after(async () => {
    r?.store.close();
    for (const c of clients) c.destroy();
    await moto?.stop();
    d.cleanup();
  });

  takeBackTests(
    () => r,
    () => ({
      'the release tarball': `s3://${BUCKET}/${RELEASE}`,
      'another job’s fence': `s3://${BUCKET}/nommer-control/fence/${encodeURIComponent(otherJob)}.json`,
    }),
  );

  test('feederd’s own rights never delete the release or a fence, whatever its code is made to do', async () => {
    const feederd = s3As('orchestrator');
    for (const Key of [RELEASE, `nommer-control/fence/${encodeURIComponent(otherJob)}.json`]) {
      const err = await feederd.send(new DeleteObjectCommand({ Bucket: BUCKET, Key })).then(
        () => null,
        (e: { name?: string }) => e,
      );
      assert.equal(err?.name, 'AccessDenied', `feederd DeleteObject ${Key}`);
      assert.notEqual(await r.read(`s3://${BUCKET}/${Key}`), null);
    }
    // Allowed elsewhere, so the denials above are the Deny, not a broken key.
    await r.put(r.dest('deletable.webm'), 'x');
    await feederd.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: 'out/deletable.webm' }));
    assert.equal(await r.read(r.dest('deletable.webm')), null);
  });
});
