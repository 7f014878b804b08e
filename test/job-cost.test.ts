// What a job cost: the worker-seconds its tasks held a slot (every attempt counted, from its
// start to its end) and those seconds priced at what a slot cost when the job was made.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { StatusEvent } from '../src/messages.js';
import type { PublicJob } from '../src/orchestrator/api.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { isFinal, startFeederd, waitForJob } from './helpers/feederd.js';
import { makeClip, tempDir } from './helpers/media.js';

const d = tempDir('nommer-cost-');
after(() => d.cleanup());

const T0 = 1_700_000_000_000;
function ev(jobId: string, attempt: number, seq: number, type: StatusEvent['type'], at: number): StatusEvent {
  return { v: 1, kind: 'status', jobId, taskId: `${jobId}.encode`, attempt, seq, worker: 'w1', at, type };
}

test('every attempt adds the time it held its slot: a released attempt, then a retry that succeeds', () => {
  const store = openStore(join(d.path, 'store.db'));
  try {
    const { job } = store.createJob(
      {
        input: 'file:///media/in.mp4',
        outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: 'file:///media/out.webm' }],
        options: { pricing: { usdPerSlotHour: 3.6, basis: 'test: $3.60/h per slot' } },
      },
      T0,
    );
    assert.deepEqual(job.cost, { workerSeconds: 0, usd: 0, perOutputMinute: null, basis: 'test: $3.60/h per slot' });
    assert.ok(store.applyStatusEvent(ev(job.id, 1, 1, 'started', T0 + 1000), T0 + 1000).applied);
    // The worker gives it back after 5 s (shutting down): 5 s held.
    assert.ok(store.applyStatusEvent(ev(job.id, 1, 2, 'released', T0 + 6000), T0 + 6000).applied);
    const again = store.getJob(job.id)!;
    assert.equal(again.workerMs, 5000);
    const attempt = again.tasks[0]!.attempt;
    assert.ok(store.applyStatusEvent(ev(job.id, attempt, 1001, 'started', T0 + 10_000), T0 + 10_000).applied);
    assert.ok(
      store.applyStatusEvent(
        {
          ...ev(job.id, attempt, 1002, 'succeeded', T0 + 13_500),
          outputs: [{ uri: 'file:///media/out.webm', bytes: 1 }],
        },
        T0 + 13_500,
      ).applied,
    );
    const done = store.getJob(job.id)!;
    assert.equal(done.state, 'succeeded');
    assert.equal(done.workerMs, 8500);
    assert.deepEqual(done.cost, {
      workerSeconds: 8.5,
      usd: 0.0085,
      perOutputMinute: null,
      basis: 'test: $3.60/h per slot',
    });
  } finally {
    store.close();
  }
});

test('a local job at local.costPerHour records worker-seconds close to its run time, and the matching dollars', async () => {
  // quality.measure off in feederd's own config: a job posted to the API is not measured either.
  const f = await startFeederd(d.path, {
    workers: 1,
    config: { local: { costPerHour: 36 }, quality: { measure: false } },
  });
  try {
    const clip = makeClip(join(d.path, 'c.mp4'), { seconds: 2, width: 160, height: 120 });
    const { job } = await f.client.request<{ job: PublicJob }>('POST', '/v1/jobs', {
      input: clip,
      outputs: [{ preset: 'webm' }],
    });
    const done = await waitForJob(f.client, job.id, isFinal, 90_000);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    const cost = (done as PublicJob & { cost?: { workerSeconds: number; usd: number; basis: string } }).cost;
    assert.ok(cost, 'the record has a cost');
    const run = (Date.parse(done.finishedAt!) - Date.parse(done.startedAt!)) / 1000;
    assert.ok(cost.workerSeconds > 0);
    assert.ok(
      Math.abs(cost.workerSeconds - run) <= Math.max(0.05 * run, 0.05),
      `${cost.workerSeconds} s vs run ${run} s`,
    );
    assert.equal(cost.usd, Math.round(cost.workerSeconds * 0.01 * 1e6) / 1e6, '$36/h is $0.01 a second');
    assert.match(cost.basis, /local\.costPerHour: \$36\/h per local worker slot/);
    const quality = (done.outputs[0] as { quality?: { ssim?: number; skipped?: string } }).quality;
    assert.equal(quality?.ssim, undefined, 'not measured');
    assert.match(quality?.skipped ?? '', /./, 'the record says why not');
  } finally {
    await f.stop();
  }
});
