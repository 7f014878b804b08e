// Scene-cut chunking on the aws backend (moto), from an input already in S3 (`s3://`, the fleet's
// case): feederd cannot read it, so the scene task, on an aws worker that fetches it, lists its
// frames, finds its cuts and plans every chunk; feederd swaps that plan in, and the output has the
// source's frames and audio, cut at every cut, at the whole-file encode's quality (issue 27, "the
// same on the aws backend"; its size is printed, see below). A local input staged to S3 is planned
// by feederd first, as on the local backend (scenes-e2e).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { s3Client } from '../src/adapters/aws/clients.js';
import { tempDir } from './helpers/media.js';
import { assertThereAtSuccess, isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { startAwsEnv, startAwsWorker, type AwsEnv } from './helpers/aws-env.js';
import { decodedTiming, videoKeyframes } from './helpers/chunked.js';
import { againstWholeFile, makeCutTitle, planStarts } from './helpers/scenes.js';
import { CHUNKED_WEBM } from './helpers/srv-cheap.js';

let aws: AwsEnv;
const procs: ChildProcess[] = [];
const feeders: RunningFeederd[] = [];
const d = tempDir();
before(async () => {
  aws = await startAwsEnv({ leaseSeconds: 4 });
});
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  for (const f of feeders) await f.kill().catch(() => undefined);
  await aws?.moto.stop();
  d.cleanup();
});

// The fastest libvpx speed, and no quality record (the product's own measuring pass, covered by the
// quality tests): what these tests compare is chunked against unchunked at the same settings, themselves.
const SET = CHUNKED_WEBM;

test('aws, an s3:// input: the scene task on a worker plans every chunk, and every cut within the allowed lengths is a boundary to the frame', async () => {
  const chunking = { enabled: true, thresholdSeconds: 5, chunkSeconds: 2, minChunkSeconds: 1, maxChunkSeconds: 3 };
  const f = await startFeederd(d.path, { workers: 0, config: { ...aws.config, chunking }, env: aws.env });
  feeders.push(f);
  // Shots of 1.6, 2, 1.2, 1.8 and 1.4 s (cuts at frames 40, 90, 120, 165); keyframes every 2 s.
  const title = makeCutTitle(join(d.path, 'title.mp4'), [1.6, 2, 1.2, 1.8, 1.4], { audio: true });
  assert.deepEqual(
    videoKeyframes(title.path).map((t) => Math.round(t * 25)),
    [0, 50, 100, 150],
    'the source keyframes ignore the cuts',
  );
  const s3 = s3Client({ endpoint: aws.moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
  await s3.send(new PutObjectCommand({ Bucket: aws.bucket, Key: 'media/title.mp4', Body: readFileSync(title.path) }));
  const out = join(d.path, 'title.webm');
  const input = `s3://${aws.bucket}/media/title.mp4`;
  const { job } = await f.client.createJob({ input, outputs: [{ preset: 'webm', uri: out }], set: SET });
  const planned = await f.client.getJob(job.id);
  // Before any worker runs: feederd, which cannot read the input, holds a placeholder chunk and
  // the audio for the scene task.
  assert.deepEqual(planned.tasks.map((t) => `${t.id.slice(job.id.length + 1)} ${t.state}`).sort(), [
    'assemble waiting',
    'audio waiting',
    'chunk-000 waiting',
    'scenes queued',
  ]);
  // One aws worker runs the scene task, the chunks it planned, the audio and the join: what is
  // checked here is who plans (a worker, from S3) and that the plan holds; chunks shared out over
  // two workers are chunked-feederd's and chunked-aws's, and a second node worker polling moto
  // cost CPU for nothing this test asserts.
  procs.push(startAwsWorker(d.path, aws.env, 'aws-s1'));
  const done = await waitForJob(f.client, job.id, isFinal, 240_000, { pollMs: 500 });
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));

  const detail = await f.client.getJob(job.id);
  const scenes = detail.tasks.find((t) => t.id.endsWith('.scenes'));
  assert.equal(scenes?.state, 'succeeded');
  assert.equal(scenes.worker, 'aws-s1', 'detected on the aws worker');
  const { chunks, starts } = planStarts(await f.client.getJob(job.id));
  assert.deepEqual(starts, [0, ...title.cuts], 'a boundary at every cut, to the frame');
  assert.deepEqual(
    chunks.map((c) => c.sceneCut),
    [false, true, true, true, true],
  );
  assertThereAtSuccess(out);
  await f.stop();

  const t = decodedTiming(out);
  assert.equal(t.frames, title.frames, "exactly the source's frames");
  assert.ok(t.clean, t.errors);
  assert.ok(t.audio !== null, 'the audio the worker found is in the output');
  const keys = new Set(videoKeyframes(out).map((t) => Math.round(t * 25)));
  for (const c of title.cuts) assert.ok(keys.has(c), `a keyframe at cut ${c}`);
  const cmp = await againstWholeFile(title, out, SET);
  console.log(cmp.line);
  assert.ok(cmp.chunked.all >= cmp.whole.all - 0.002, `SSIM ${cmp.chunked.all} against ${cmp.whole.all}`);
  // Size is reported, not held to the 1.01×: on these synthetic shots the chunks come to
  // 1.03-1.04× under the presets' constrained quality (-crf with -b:v/-minrate/-maxrate), whose
  // one-pass rate control starts afresh in every chunk (the same shots in pure CRF: 0.995-1.013×).
  assert.ok(cmp.ratio > 0, 'sizes measured');
});
