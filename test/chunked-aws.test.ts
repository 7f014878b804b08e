// Chunked encoding on the aws backend (moto): the input staged to S3, chunks encoded by two
// aws workers with their pieces under the staging prefix, assembled, delivered back, and the
// intermediates removed from the bucket.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { makeClip, tempDir } from './helpers/media.js';
import { assertThereAtSuccess, isFinal, startFeederd, waitForJob } from './helpers/feederd.js';
import { awsRig, startAwsWorker } from './helpers/aws-env.js';
import { decodedTiming, segmentLayout } from './helpers/chunked.js';
import { s3Client } from '../src/adapters/aws/clients.js';
import { CHEAP_WEBM } from './helpers/srv-cheap.js';

const rig = awsRig({ leaseSeconds: 4 });
const { procs, feeders } = rig;
const d = tempDir();
rig.dirs.push(d);

test('a chunked job on the aws backend: chunks in S3 under the staging prefix, assembled, delivered, cleaned up', async () => {
  // Workers are started by the test (rig.aws.ec2.maxInstances 0: feederd launches no instances).
  const config = { ...rig.aws.config, chunking: { enabled: true, thresholdSeconds: 5, chunkSeconds: 4 } };
  const f = await startFeederd(d.path, { workers: 0, config, env: rig.aws.env });
  feeders.push(f);
  for (const id of ['aws-c1', 'aws-c2']) procs.push(startAwsWorker(d.path, rig.aws.env, id));
  // The smallest input that is still cut into chunks (over the 5 s threshold): what is checked is
  // where the pieces go, not the picture (a 10 s 320x240 clip cost four times the encoding). At
  // 12 fps, half the frames of 25 to encode and count, and the clip aws-e2e and aws-iam use (the
  // clip cache makes it once a run); a keyframe every 2 s still starts every 4 s chunk.
  const clip = makeClip(join(d.path, 'film.mp4'), { seconds: 8, width: 160, height: 120, fps: 12 });
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }],
    set: CHEAP_WEBM,
    chunked: true,
  });
  const detail = await f.client.getJob(job.id);
  const chunkTasks = detail.tasks.filter((t) => /\.chunk-\d+$/.test(t.id));
  assert.ok(chunkTasks.length >= 2, `planned ${chunkTasks.length} chunks`);
  const done = await waitForJob(f.client, job.id, isFinal, 240_000, { pollMs: 500 });
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const out = join(d.path, 'film.webm');
  assertThereAtSuccess(out);
  const t = decodedTiming(out);
  assert.equal(t.frames, 8 * 12);
  assert.ok(t.clean, t.errors);
  assert.ok(segmentLayout(out).indexOf('Cues') < segmentLayout(out).indexOf('Cluster'), 'Cues in front');
  const after = await f.client.getJob(job.id);
  assert.ok(
    after.tasks.filter((t) => /\.chunk-\d+$/.test(t.id)).every((t) => t.worker === 'aws-c1' || t.worker === 'aws-c2'),
  );
  // Intermediates (chunks, manifests) and the staged input/output are gone from the bucket.
  const s3 = s3Client({ endpoint: rig.aws.moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
  let left: string[] = [];
  for (let i = 0; i < 50; i++) {
    left = (
      (await s3.send(new ListObjectsV2Command({ Bucket: rig.aws.bucket, Prefix: 'nommer-staging/' }))).Contents ?? []
    ).map((o) => o.Key!);
    if (left.length === 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.deepEqual(left, [], 'nothing left under the staging prefix');
  await f.stop();
});
