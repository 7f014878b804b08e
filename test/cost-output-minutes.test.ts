// Output minutes, and so the cost per output minute, of the jobs whose output is made in pieces:
// a chunked job's come from the assembled file (the assembler measures it), a package's from the
// package task, which reports its media (the package's length, at its top rendition's height) as
// the assemble task does. One real feederd with two local workers runs both jobs (chunking on
// from 5 s: the 8 s clip is chunked, the 3 s package is a task per rung).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { PublicJob } from '../src/orchestrator/api.js';
import { FAST_ABR } from './helpers/abr.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { FAST_VIDEO } from './helpers/srv-cheap.js';

const d = tempDir('nommer-cost-minutes-');
let f: RunningFeederd;
before(async () => {
  f = await startFeederd(d.path, {
    workers: 2,
    config: {
      chunking: { enabled: true, thresholdSeconds: 5, chunkSeconds: 4 },
      local: { costPerHour: 36 },
      quality: { measure: false },
    },
  });
});
after(async () => {
  await f?.stop().catch(() => f?.kill().catch(() => undefined));
  d.cleanup();
});

type Costed = PublicJob & {
  cost: { usd: number; outputMinutes: number | null; hdOutputMinutes: number | null; perOutputMinute: number | null };
  outputs: Array<{ package?: { duration: number; renditions: Array<{ height: number; file?: string }> } }>;
};

test('a chunked job records the assembled output minutes and its $ per output minute', async () => {
  const clip = makeClip(join(d.path, 'film.mp4'), { seconds: 8, width: 160, height: 120, fps: 12 });
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }],
    set: [...FAST_VIDEO, 'video.crf=40'],
  });
  const done = (await waitForJob(f.client, job.id, isFinal, 180_000)) as Costed;
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const detail = await f.client.getJob(job.id);
  assert.ok(
    detail.tasks.some((t) => t.type === 'assemble'),
    'it ran chunked',
  );
  const cost = done.cost;
  const seconds = Number(probe(join(d.path, 'film.webm')).format.duration);
  assert.ok(seconds > 7, `${seconds} s of output from an 8 s clip`);
  assert.ok(cost.outputMinutes !== null, 'output minutes known');
  assert.ok(Math.abs(cost.outputMinutes * 60 - seconds) < 0.001, `${cost.outputMinutes} min vs ${seconds} s`);
  assert.ok(cost.usd > 0);
  assert.equal(cost.perOutputMinute, cost.usd / cost.outputMinutes);
});

test("a package job's output minutes are the package's length, and its $ per output minute follows", async () => {
  const clip = makeClip(join(d.path, 'wide.mp4'), { seconds: 3, width: 640, height: 360, fps: 12 });
  const dir = join(d.path, 'pkg');
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'abr', uri: dir }],
    set: FAST_ABR,
  });
  const done = (await waitForJob(f.client, job.id, isFinal, 240_000)) as Costed;
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const pkg = done.outputs[0]!.package!;
  const top = Math.max(...pkg.renditions.map((r) => r.height));
  assert.equal(top, 360, 'the source is 360p: its top rung');
  assert.ok(pkg.duration > 2.9, `${pkg.duration} s of package from a 3 s clip`);
  // The package's length as the worker measured its renditions; the audio (Opus) agrees within a frame.
  const audio = probe(join(d.path, 'wide.mp4')).format.duration;
  assert.ok(Math.abs(pkg.duration - Number(audio)) < 0.1, `${pkg.duration} vs the source's ${audio}`);
  assert.ok(done.cost.outputMinutes !== null, 'output minutes known');
  assert.ok(Math.abs(done.cost.outputMinutes! * 60 - pkg.duration) < 1e-9);
  assert.equal(done.cost.hdOutputMinutes, 0, '360p is SD');
  assert.ok(done.cost.usd > 0);
  assert.equal(done.cost.perOutputMinute, done.cost.usd / done.cost.outputMinutes!);
});
