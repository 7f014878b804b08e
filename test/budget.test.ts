// Estimates and budgets: `dryRun` answers what a job will take and cost (media length × the
// speed of past jobs of that preset and height, or the default table); a job whose estimate is
// above its --max-cost is refused (BUDGET_EXCEEDED, nothing queued); a running job whose cost
// passes its limit is stopped with BUDGET_EXCEEDED.
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { DEFAULT_SPEED, estimateJob, heightClass } from '../src/cost/estimate.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { createJobFrom } from '../src/orchestrator/submit-job.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { makeClip, tempDir } from './helpers/media.js';

const d = tempDir('nommer-budget-');
let f: RunningFeederd;
let clip: string;
before(async () => {
  // $36/h per slot: $0.01 a worker-second.
  f = await startFeederd(d.path, { workers: 1, config: { local: { costPerHour: 36 } } });
  clip = makeClip(join(d.path, 'talk.mp4'), { seconds: 2, width: 320, height: 180 });
});
after(async () => {
  await f?.stop();
  d.cleanup();
});

test('the estimate: the default table scaled by pixels before there is history, then the median of past jobs', () => {
  const media = { seconds: 60, height: 360 };
  const outputs = [{ preset: 'webm', family: 'vp9' }];
  const first = estimateJob({ media, outputs, history: [], usdPerSlotHour: 36, parallelism: 1 });
  const rate = DEFAULT_SPEED.slotSecondsPerMediaSecond.vp9!;
  assert.equal(first.workerSeconds, Math.round(rate * 60 * 10) / 10);
  assert.equal(first.usd, Math.round(first.workerSeconds * 0.01 * 1e6) / 1e6);
  assert.match(first.basis, /default speed table .*0 past job/);
  const tall = estimateJob({
    media: { seconds: 60, height: 720 },
    outputs,
    history: [],
    usdPerSlotHour: 36,
    parallelism: 1,
  });
  assert.ok(
    Math.abs(tall.workerSeconds / first.workerSeconds - 4) < 0.01,
    'four times the pixels, four times the work',
  );
  const history = [3, 4, 5, 100].map((k) => ({ preset: 'webm', height: 352, mediaSeconds: 10, workerSeconds: 10 * k }));
  const learned = estimateJob({ media, outputs, history, usdPerSlotHour: 36, parallelism: 4 });
  assert.equal(learned.workerSeconds, 60 * 4.5, 'median of 3, 4, 5, 100 slot-s per media s');
  assert.equal(learned.seconds, (60 * 4.5) / 4, 'four slots share it');
  assert.match(learned.basis, /median speed of 4 past jobs/);
  assert.equal(heightClass(null), 'audio');
});

test('dryRun answers the estimate; an estimate above --max-cost is refused with BUDGET_EXCEEDED and queues nothing', async () => {
  const { estimate } = await f.client.dryRun({ input: clip, outputs: [{ preset: 'webm' }] });
  assert.ok(estimate && estimate.usd !== null, 'a local clip at a set price has an estimate in dollars');
  assert.ok(estimate.workerSeconds > 0);
  assert.equal(estimate.usd, Math.round(estimate.workerSeconds * 0.01 * 1e6) / 1e6);
  await assert.rejects(
    f.client.createJob({
      input: clip,
      outputs: [{ preset: 'webm', uri: join(d.path, 'too-dear.webm') }],
      maxCostUsd: estimate.usd / 2,
    }),
    (e: Error & { code?: string; hint?: string }) =>
      e.code === 'BUDGET_EXCEEDED' &&
      /estimated at \$[\d.]+ .*above its limit/.test(e.message) &&
      /--max-cost/.test(e.hint ?? ''),
  );
  assert.equal((await f.client.listJobs()).jobs.length, 0);
  // Within budget it runs, and its cost stays within the limit.
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm', uri: join(d.path, 'fits.webm') }],
    maxCostUsd: 1000,
  });
  assert.equal((await waitForJob(f.client, job.id, isFinal, 90_000)).state, 'succeeded');
});

test('a running job whose cost passes its limit is stopped with BUDGET_EXCEEDED', async () => {
  // An input that never finishes arriving: the job is running (downloading) for as long as the
  // server holds it, so its cost grows past the limit by construction, not by a race.
  let release = () => {};
  const server: Server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': String(10 * 1024 * 1024) });
    res.write(Buffer.alloc(1024));
    release = () => res.destroy();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  try {
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/held.mp4`;
    const { job } = await f.client.createJob({
      input: url,
      outputs: [{ preset: 'webm', uri: join(d.path, 'held.webm') }],
      maxCostUsd: 0.02, // two worker-seconds at $0.01
    });
    const done = await waitForJob(f.client, job.id, isFinal, 60_000);
    assert.equal(done.state, 'failed');
    assert.equal(done.error?.code, 'BUDGET_EXCEEDED');
    assert.match(done.error?.message ?? '', /past its limit of \$0\.02/);
    // A retry would pass the same limit at once: refused, with what to do instead.
    await assert.rejects(
      f.client.retryJob(job.id),
      (e: Error & { code?: string; hint?: string }) => e.code === 'JOB_STATE' && /higher --max-cost/.test(e.hint ?? ''),
    );
  } finally {
    release();
    server.close();
  }
});

test('a cost limit without a price for worker time is refused, not ignored', async () => {
  const store = openStore(join(d.path, 'no-price.db'));
  try {
    await assert.rejects(
      createJobFrom(
        {
          store,
          userPresets: {},
          defaultPreset: 'webm',
          maxAttempts: 1,
          onWork: () => {},
          pricing: { usdPerSlotHour: 0, basis: 'local.costPerHour is 0' },
        },
        { input: clip, outputs: [{ preset: 'webm' }], maxCostUsd: 1 },
      ),
      (e: Error & { code?: string; hint?: string }) => e.code === 'USAGE' && /local\.costPerHour/.test(e.hint ?? ''),
    );
  } finally {
    store.close();
  }
});
