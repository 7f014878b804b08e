// A cancel that lands after the worker committed the job's output but before feederd applied the
// worker's success (the event is in the status channel for up to a poll interval): the store
// accepts the cancel (the job is still running there), fences the attempt, and refuses the late
// success (the job is final). The canceled job keeps its whole output, and a retry — what a user
// does after a cancel — fails OUTPUT_EXISTS on the job's own output, every time.
//
// Found by the chaos test (test/chaos.test.ts); this one hits the window on purpose: watch for
// the output to appear at its destination and cancel at once. A cancel that comes too late (the
// success was applied first) is refused with JOB_STATE, and the test tries the next job.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { PublicJob } from '../src/orchestrator/api.js';
import { NommerError } from '../src/errors.js';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { startFeederd, type RunningFeederd } from './helpers/feederd.js';
import { sleep, storeState, until } from './helpers/faults.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});

const final = (s: string) => s === 'succeeded' || s === 'failed' || s === 'canceled';

async function settle(f: RunningFeederd, id: string, timeoutMs: number): Promise<PublicJob> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const j = (await f.client.getJob(id)).job;
    if (final(j.state)) return j;
    assert.ok(Date.now() < deadline, `job ${id} not final after ${timeoutMs} ms: ${JSON.stringify(j)}`);
    await sleep(100);
  }
}

test('a cancel that overtakes the success of a committed output: the retried job succeeds (today: OUTPUT_EXISTS on its own output)', async () => {
  const t = tempDir('nommer-cancel-race-');
  dirs.push(t);
  const d = t.path;
  mkdirSync(join(d, 'out'));
  const f = await startFeederd(d, { workers: 1 });
  running.push(f);
  const clip = makeClip(join(d, 'a.mp4'), { seconds: 2 });
  let hit: { job: PublicJob; out: string } | undefined;
  for (let i = 0; i < 5 && !hit; i++) {
    const out = join(d, 'out', `a${i}.opus`);
    const job = (
      await f.client.createJob({
        input: clip,
        outputs: [{ preset: 'opus', uri: out }],
      })
    ).job;
    const deadline = Date.now() + 30_000;
    while (!existsSync(out)) {
      assert.ok(Date.now() < deadline, `job ${job.id}'s output never appeared`);
      await sleep(2);
    }
    try {
      await f.client.cancelJob(job.id);
      hit = { job, out };
    } catch (err) {
      // The success was applied first: not the window; the next job tries again.
      if (!(err instanceof NommerError && err.code === 'JOB_STATE')) throw err;
      assert.equal((await settle(f, job.id, 10_000)).state, 'succeeded');
    }
  }
  if (!hit) {
    console.log('# every cancel came after the success was applied; the window was not hit');
    await f.stop();
    return;
  }
  const canceled = await settle(f, hit.job.id, 10_000);
  assert.equal(canceled.state, 'canceled');
  await until(
    () => {
      const s = storeState(f.home);
      return s.runningTasks === 0 && s.leased === 0;
    },
    10_000,
    'the worker to settle its delivery',
  );
  console.log(
    `# canceled job ${hit.job.id}: its output ${existsSync(hit.out) ? 'is in place (committed before the cancel reached the worker)' : 'was taken back'}`,
  );

  await f.client.retryJob(hit.job.id);
  const again = await settle(f, hit.job.id, 60_000);
  assert.equal(
    again.state,
    'succeeded',
    `the retry of a job canceled after its output was committed: ${JSON.stringify(again.error)}`,
  );
  assert.deepEqual(
    probe(hit.out).streams.map((s) => s.codec_name),
    ['opus'],
  );
  await f.stop();
});
