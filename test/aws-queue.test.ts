// The SQS JobQueue and StatusChannel against moto: leases are visibility timeouts, redrive moves
// a message nobody acks to the DLQ, reject puts it there with a reason.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { sqsClient } from '../src/adapters/aws/clients.js';
import { resolveQueueUrls, type QueueUrls } from '../src/adapters/aws/queues.js';
import { setupAws } from '../src/adapters/aws/setup.js';
import { REJECT_REASON_ATTRIBUTE, SqsJobQueue, VERSION_ATTRIBUTE } from '../src/adapters/aws/sqs-queue.js';
import { SqsStatusChannel } from '../src/adapters/aws/sqs-status.js';
import { NommerError } from '../src/errors.js';
import { MESSAGE_VERSION, type StatusEvent, type TaskMessage } from '../src/messages.js';
import { startMoto, type Moto } from './helpers/moto.js';
import { statusEvent } from './helpers/store.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function task(n: number): TaskMessage {
  return {
    v: MESSAGE_VERSION,
    kind: 'task',
    jobId: `job-${n}`,
    taskId: `task-${n}`,
    attempt: 1,
    type: 'encode',
    input: 's3://in/clip.mp4',
    outputs: [{ preset: { name: 'webm' }, uri: 's3://out/clip.webm' }],
    force: false,
  };
}

describe('SQS job queue (moto)', () => {
  let moto: Moto;
  const sqs = () => sqsClient({ endpoint: moto.endpoint, maxAttempts: 1 });
  let urls: QueueUrls;
  let queue: SqsJobQueue;

  before(async () => {
    moto = await startMoto();
  });
  after(async () => {
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    const settings = { endpoint: moto.endpoint, forcePathStyle: true, maxAttempts: 1 };
    await setupAws(settings, { bucket: 'nommer-queue-test', queuePrefix: 'qt', maxReceiveCount: 2 });
    urls = await resolveQueueUrls(sqs(), 'qt');
    queue = new SqsJobQueue({ client: sqs(), queueUrl: urls.jobs, dlqUrl: urls.dlq });
  });

  it('a sent task is received once with its body, version attribute and receive count 1', async () => {
    await queue.send(task(1));
    const lease = await queue.receive({ waitSeconds: 1, leaseSeconds: 2 });
    assert.ok(lease);
    assert.deepEqual(lease.body, task(1));
    assert.equal(lease.receiveCount, 1);
    // While leased, nobody else gets it.
    assert.equal(await queue.receive({ waitSeconds: 0, leaseSeconds: 2 }), null);
    assert.deepEqual(await queue.depth(), { waiting: 0, inFlight: 1 });
    await lease.ack();
    assert.deepEqual(await queue.depth(), { waiting: 0, inFlight: 0 });
  });

  it('an empty queue answers null after the long poll', async () => {
    const started = Date.now();
    assert.equal(await queue.receive({ waitSeconds: 1, leaseSeconds: 1 }), null);
    assert.ok(Date.now() - started >= 900, 'long poll waited');
  });

  it('an aborted long poll resolves null at once', async () => {
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const started = Date.now();
    // Without the abort the long poll lasts 20 s (SQS's longest); half of that tells them apart under load.
    assert.equal(await queue.receive({ waitSeconds: 20, leaseSeconds: 1, signal: ac.signal }), null);
    assert.ok(Date.now() - started < 10_000);
  });

  it('extending a lease keeps the message hidden; when the lease runs out it comes back with receive count 2', async () => {
    await queue.send(task(2));
    const lease = await queue.receive({ waitSeconds: 1, leaseSeconds: 1 });
    assert.ok(lease);
    await lease.extend(3);
    await sleep(1500); // past the original 1 s lease
    assert.equal(await queue.receive({ waitSeconds: 0, leaseSeconds: 1 }), null, 'still leased after extend');
    await sleep(2000); // past the extended lease
    const again = await queue.receive({ waitSeconds: 1, leaseSeconds: 2 });
    assert.ok(again, 'visible again after the lease expired');
    assert.equal(again.receiveCount, 2);
    assert.deepEqual(again.body, task(2));
    await again.ack();
  });

  it('a released message is visible again after the delay', async () => {
    await queue.send(task(3));
    const lease = await queue.receive({ waitSeconds: 1, leaseSeconds: 30 });
    assert.ok(lease);
    await lease.release(1);
    assert.equal(await queue.receive({ waitSeconds: 0, leaseSeconds: 2 }), null, 'hidden during the delay');
    await sleep(1200);
    const again = await queue.receive({ waitSeconds: 1, leaseSeconds: 2 });
    assert.ok(again);
    assert.equal(again.receiveCount, 2);
    await again.ack();

    // (A fresh message: this queue's maxReceiveCount is 2, so a third delivery would be redriven.)
    await queue.send(task(33));
    const first = await queue.receive({ waitSeconds: 1, leaseSeconds: 30 });
    assert.ok(first);
    await first.release(); // default: at once
    const second = await queue.receive({ waitSeconds: 0, leaseSeconds: 2 });
    assert.ok(second, 'release() without a delay makes it visible at once');
    assert.equal((second.body as TaskMessage).taskId, 'task-33');
    await second.ack();
  });

  it('a rejected message lands in the DLQ with the reason and leaves the jobs queue', async () => {
    await queue.send(task(4));
    const lease = await queue.receive({ waitSeconds: 1, leaseSeconds: 2 });
    assert.ok(lease);
    await lease.reject('outputs.0.uri: Required');
    await lease.extend(10); // a heartbeat racing the reject is harmless
    const dead = await sqs().send(
      new ReceiveMessageCommand({ QueueUrl: urls.dlq, WaitTimeSeconds: 1, MessageAttributeNames: ['All'] }),
    );
    assert.equal(dead.Messages?.length, 1);
    assert.deepEqual(JSON.parse(dead.Messages![0]!.Body!), task(4));
    assert.equal(
      dead.Messages![0]!.MessageAttributes?.[REJECT_REASON_ATTRIBUTE]?.StringValue,
      'outputs.0.uri: Required',
    );
    assert.equal(
      dead.Messages![0]!.MessageAttributes?.[VERSION_ATTRIBUTE]?.StringValue,
      String(MESSAGE_VERSION),
      'sender attributes kept',
    );
    assert.deepEqual(await queue.depth(), { waiting: 0, inFlight: 0 });
  });

  it('a message received maxReceiveCount times without an ack is moved to the DLQ by redrive', async () => {
    await queue.send(task(5));
    for (let i = 1; i <= 2; i++) {
      const lease = await queue.receive({ waitSeconds: 1, leaseSeconds: 1 });
      assert.ok(lease, `delivery ${i}`);
      assert.equal(lease.receiveCount, i);
      await sleep(1200); // the worker "dies": the lease runs out
    }
    assert.equal(await queue.receive({ waitSeconds: 1, leaseSeconds: 1 }), null, 'not delivered a third time');
    const dead = await sqs().send(new ReceiveMessageCommand({ QueueUrl: urls.dlq, WaitTimeSeconds: 1 }));
    assert.equal(dead.Messages?.length, 1);
    assert.deepEqual(JSON.parse(dead.Messages![0]!.Body!), task(5));
  });

  it('a body that is not JSON is handed over as the raw string, to be rejected by the consumer', async () => {
    await sqs().send(new SendMessageCommand({ QueueUrl: urls.jobs, MessageBody: 'not json {' }));
    const lease = await queue.receive({ waitSeconds: 1, leaseSeconds: 2 });
    assert.equal(lease?.body, 'not json {');
    await lease!.ack();
  });

  it('a task larger than SQS allows is refused before sending, with MESSAGE_INVALID', async () => {
    const big = { ...task(6), params: { blob: 'x'.repeat(300_000) } };
    await assert.rejects(
      queue.send(big),
      (err: NommerError) => err.code === 'MESSAGE_INVALID' && /262144/.test(err.message),
    );
  });

  it('a queue that does not exist is QUEUE_FAILED with the hint to run setup', async () => {
    await assert.rejects(
      resolveQueueUrls(sqs(), 'missing'),
      (err: NommerError) =>
        err instanceof NommerError &&
        err.code === 'QUEUE_FAILED' &&
        !err.retriable &&
        /nommer setup aws/.test(err.hint ?? ''),
    );
  });

  it('clients find the endpoint in AWS_ENDPOINT_URL_SQS when no endpoint is configured', async () => {
    const saved = process.env.AWS_ENDPOINT_URL_SQS;
    process.env.AWS_ENDPOINT_URL_SQS = moto.endpoint;
    try {
      const fromEnv = new SqsJobQueue({ client: sqsClient({ maxAttempts: 1 }), queueUrl: urls.jobs, dlqUrl: urls.dlq });
      assert.deepEqual(await fromEnv.depth(), { waiting: 0, inFlight: 0 });
    } finally {
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_SQS;
      else process.env.AWS_ENDPOINT_URL_SQS = saved;
    }
  });

  it('status events are published and received in batches, and acked events are gone', async () => {
    const channel = new SqsStatusChannel({ client: sqs(), queueUrl: urls.status, visibilitySeconds: 1 });
    const events: StatusEvent[] = Array.from({ length: 12 }, (_, i) =>
      statusEvent('job-7', i, 'progress', { taskId: 'task-7', progress: { fraction: i / 12 } }),
    );
    for (const e of events) await channel.publish(e);
    const seen = new Set<number>();
    for (let round = 0; round < 10 && seen.size < 12; round++) {
      const batch = await channel.receive({ max: 50, waitSeconds: 1 });
      assert.ok(batch.length <= 10, 'never more than SQS batch limit');
      for (const r of batch) {
        seen.add((r.body as StatusEvent).seq);
        await r.ack();
      }
    }
    assert.equal(seen.size, 12);
    await sleep(1100); // past the visibility timeout: acked events must not come back
    assert.deepEqual(await channel.receive({ max: 10, waitSeconds: 0 }), []);
  });
});
