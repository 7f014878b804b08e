// A chunked job's output minutes come from the assembled file (the assembler measures it), so
// its cost per output minute is known like a plain encode's: a real feederd, two local workers.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { PublicJob } from '../src/orchestrator/api.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { makeClip, probe, tempDir } from './helpers/media.js';

const d = tempDir('nommer-cost-chunked-');
let f: RunningFeederd | undefined;
after(async () => {
  await f?.kill().catch(() => undefined);
  d.cleanup();
});

test('a chunked job records the assembled output minutes and its $ per output minute', async () => {
  f = await startFeederd(d.path, {
    workers: 2,
    config: {
      chunking: { enabled: true, thresholdSeconds: 5, chunkSeconds: 4 },
      local: { costPerHour: 36 },
      quality: { measure: false },
    },
  });
  const clip = makeClip(join(d.path, 'film.mp4'), { seconds: 8, width: 160, height: 120 });
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }],
    set: ['video.speed=8', 'video.crf=40'],
  });
  const done = await waitForJob(f.client, job.id, isFinal, 180_000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const detail = await f.client.getJob(job.id);
  assert.ok(
    detail.tasks.some((t) => t.type === 'assemble'),
    'it ran chunked',
  );
  const cost = (done as PublicJob & { cost: { usd: number; outputMinutes: number; perOutputMinute: number } }).cost;
  const seconds = Number(probe(join(d.path, 'film.webm')).format.duration);
  assert.ok(seconds > 7, `${seconds} s of output from an 8 s clip`);
  assert.ok(Math.abs(cost.outputMinutes * 60 - seconds) < 0.001, `${cost.outputMinutes} min vs ${seconds} s`);
  assert.ok(cost.usd > 0);
  assert.equal(cost.perOutputMinute, cost.usd / cost.outputMinutes);
  await f.stop();
});
