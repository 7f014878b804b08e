// The outbox and the status applier on the aws backend's queues (moto): a task message over
// SQS's 256 KiB fails its job while the job behind it is sent; status events carry SQS's receive
// count, an event whose apply throws is released for redelivery and applied once the fault is
// gone, a poison or malformed event lands in the DLQ with its reason, and the events behind it
// are applied. The store is a real SQLite file; faults come from a store whose apply throws.
import { FaultyStore } from './helpers/faulty-store.js';
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { join } from 'node:path';
import { GetQueueAttributesCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { sqsClient } from '../src/adapters/aws/clients.js';
import { resolveQueueUrls, type QueueUrls } from '../src/adapters/aws/queues.js';
import { setupAws } from '../src/adapters/aws/setup.js';
import { REJECT_REASON_ATTRIBUTE, SqsJobQueue, VERSION_ATTRIBUTE } from '../src/adapters/aws/sqs-queue.js';
import { SqsStatusChannel } from '../src/adapters/aws/sqs-status.js';
import { openDatabase, type Db } from '../src/adapters/local/db.js';
import { createLogger } from '../src/log.js';
import { MESSAGE_VERSION, type StatusEvent, type TaskMessage } from '../src/messages.js';
import type { Store } from '../src/orchestrator/store/index.js';
import { Outbox } from '../src/orchestrator/outbox.js';
import { MAX_APPLY_ATTEMPTS, StatusApplier } from '../src/orchestrator/status-applier.js';
import { tempDir } from './helpers/media.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { statusEvent } from './helpers/store.js';

const log = createLogger('test', { level: 'silent' });
const dir = tempDir('nommer-outbox-aws-');

const started = (jobId: string, seq = 1): StatusEvent => statusEvent(jobId, seq, 'started', { phase: 'downloading' });

describe('outbox and status applier on SQS (moto)', () => {
  let moto: Moto;
  const sqs = () => sqsClient({ endpoint: moto.endpoint, maxAttempts: 1 });
  let urls: QueueUrls;
  const dbs: Db[] = [];
  let n = 0;

  before(async () => {
    moto = await startMoto();
  });
  after(async () => {
    await moto?.stop();
    for (const db of dbs) if (db.open) db.close();
    dir.cleanup();
  });
  beforeEach(async () => {
    await moto.reset();
    await setupAws(
      { endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 1 },
      { bucket: 'nommer-outbox-test', queuePrefix: 'ob' },
    );
    urls = await resolveQueueUrls(sqs(), 'ob');
  });

  function store(fault: (ev: StatusEvent, call: number) => Error | undefined = () => undefined): FaultyStore {
    const db = openDatabase(join(dir.path, `store-${++n}.db`));
    dbs.push(db);
    return new FaultyStore(db, fault);
  }
  const job = (s: Store, over: { params?: Record<string, unknown> } = {}) =>
    s.createJob({
      input: 's3://in/clip.mp4',
      outputs: [{ preset: { name: 'opus' }, uri: 's3://out/clip.opus' }],
      ...(over.params ? { tasks: [{ key: 'encode', type: 'encode', params: over.params }] } : {}),
    }).job.id;
  // Visibility far beyond the test's rounds: an event can only come back early through release().
  const channel = () =>
    new SqsStatusChannel({ client: sqs(), queueUrl: urls.status, dlqUrl: urls.dlq, visibilitySeconds: 60 });
  const visible = async (url: string) => {
    const out = await sqs().send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return (
      Number(out.Attributes?.ApproximateNumberOfMessages ?? 0) +
      Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
    );
  };
  const deadLetters = async () =>
    (
      await sqs().send(
        new ReceiveMessageCommand({
          QueueUrl: urls.dlq,
          MaxNumberOfMessages: 10,
          WaitTimeSeconds: 1,
          MessageAttributeNames: ['All'],
        }),
      )
    ).Messages ?? [];

  it('a task message over 256 KiB fails its job with MESSAGE_INVALID; the job submitted after it is sent', async () => {
    const s = store();
    const big = job(s, { params: { blob: 'x'.repeat(300_000) } });
    const small = job(s);
    const queue = new SqsJobQueue({ client: sqs(), queueUrl: urls.jobs, dlqUrl: urls.dlq });
    assert.equal(await new Outbox(s, queue, log).dispatchOnce(), 1);
    const failed = s.getJob(big)!;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error?.code, 'MESSAGE_INVALID');
    assert.match(failed.error!.message, /262144/);
    const lease = await queue.receive({ waitSeconds: 1, leaseSeconds: 5 });
    assert.equal((lease?.body as TaskMessage | undefined)?.jobId, small);
    await lease!.ack();
    assert.deepEqual(await queue.depth(), { waiting: 0, inFlight: 0 }, 'nothing else was sent');
    assert.deepEqual(s.listDispatchableTasks(), []);
  });

  it('each delivery of a status event carries its receive count; release() makes it visible again at once', async () => {
    const ch = channel();
    await ch.publish(started('j_x'));
    for (let i = 1; i <= 3; i++) {
      const [m] = await ch.receive({ max: 10, waitSeconds: 1 });
      assert.ok(m, `delivery ${i}`);
      assert.equal(m.receiveCount, i);
      await m.release(0);
    }
    const [m] = await ch.receive({ max: 10, waitSeconds: 1 });
    await m!.ack();
    assert.equal(await visible(urls.status), 0);
  });

  it('an event whose apply throws is not deleted: it is delivered again and applied once the fault is gone', async () => {
    const K = 2;
    const s = store((_ev, call) =>
      call <= K ? Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' }) : undefined,
    );
    const id = job(s);
    const ch = channel();
    await ch.publish(started(id));
    const applier = new StatusApplier(s, ch, log, { retryDelaySeconds: () => 0 });
    for (let round = 0; round < 20 && s.getJob(id)!.state !== 'running'; round++) await applier.consumeOnce(1);
    assert.equal(s.getJob(id)!.state, 'running');
    assert.equal(s.calls.get(`${id}#1`), K + 1);
    assert.equal(await visible(urls.status), 0, 'deleted once applied');
    assert.equal(await visible(urls.dlq), 0);
  });

  it(`a poison event is moved to the DLQ with its reason after ${MAX_APPLY_ATTEMPTS} receives; the events behind it are applied`, async () => {
    const s = store((ev) => (ev.seq === 7 ? new Error('a bug that throws for this event every time') : undefined));
    const poisoned = job(s);
    const other = job(s);
    const ch = channel();
    const poison = started(poisoned, 7);
    await ch.publish(poison);
    await ch.publish(started(other));
    const applier = new StatusApplier(s, ch, log, { retryDelaySeconds: () => 0 });
    for (let round = 0; round < 20 && (s.calls.get(`${poisoned}#7`) ?? 0) < MAX_APPLY_ATTEMPTS; round++)
      await applier.consumeOnce(1);
    assert.equal(s.getJob(other)!.state, 'running', 'the event behind the poison was applied');
    assert.equal(s.calls.get(`${poisoned}#7`), MAX_APPLY_ATTEMPTS);
    const dead = await deadLetters();
    assert.equal(dead.length, 1);
    assert.deepEqual(JSON.parse(dead[0]!.Body!), poison);
    const reason = dead[0]!.MessageAttributes?.[REJECT_REASON_ATTRIBUTE]?.StringValue ?? '';
    assert.match(reason, new RegExp(`not applied after ${MAX_APPLY_ATTEMPTS} receives.*a bug`));
    assert.equal(
      dead[0]!.MessageAttributes?.[VERSION_ATTRIBUTE]?.StringValue,
      String(MESSAGE_VERSION),
      "the sender's attributes are kept",
    );
    assert.equal(await visible(urls.status), 0);
    assert.equal(s.getJob(poisoned)!.state, 'queued');
  });

  it('a malformed status event is moved to the DLQ at once, not dropped', async () => {
    const s = store();
    const id = job(s);
    await sqs().send(new SendMessageCommand({ QueueUrl: urls.status, MessageBody: 'not json {' }));
    const ch = channel();
    await ch.publish(started(id));
    const applier = new StatusApplier(s, ch, log);
    for (let round = 0; round < 10 && (await visible(urls.status)) > 0; round++) await applier.consumeOnce(1);
    assert.equal(s.getJob(id)!.state, 'running');
    const dead = await deadLetters();
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.Body, 'not json {');
    assert.match(dead[0]!.MessageAttributes?.[REJECT_REASON_ATTRIBUTE]?.StringValue ?? '', /^malformed status event/);
  });
});
