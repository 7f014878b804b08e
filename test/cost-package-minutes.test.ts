// A package's cost per output minute: the package task reports its media (the package's length,
// at its top rendition's height) as the assemble task does, so a job that makes an adaptive-
// streaming package gets output minutes and $ per output minute. A real feederd, two workers.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { PublicJob } from '../src/orchestrator/api.js';
import { FAST_ABR } from './helpers/abr.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { makeClip, probe, tempDir } from './helpers/media.js';

const d = tempDir('nommer-cost-package-');
let f: RunningFeederd | undefined;
after(async () => {
  await f?.kill().catch(() => undefined);
  d.cleanup();
});

type Costed = PublicJob & {
  cost: { usd: number; outputMinutes: number | null; hdOutputMinutes: number | null; perOutputMinute: number | null };
  outputs: Array<{ package?: { duration: number; renditions: Array<{ height: number; file?: string }> } }>;
};

test("a package job's output minutes are the package's length, and its $ per output minute follows", async () => {
  f = await startFeederd(d.path, { workers: 2, config: { local: { costPerHour: 36 }, quality: { measure: false } } });
  const clip = makeClip(join(d.path, 'wide.mp4'), { seconds: 3, width: 640, height: 360 });
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
  await f.stop();
});
