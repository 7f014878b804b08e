// An adaptive-streaming package on the aws backend (moto): the input staged to S3, the rungs,
// audio and extras encoded by aws workers as separate tasks, the package written under the
// output prefix with each object's Content-Type, and the pieces removed from the staging prefix.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { s3Client } from '../src/adapters/aws/clients.js';
import { FAST_ABR, makeAbrClips, SMALL_ABR_PRESETS } from './helpers/abr.js';
import { awsRig, startAwsWorker } from './helpers/aws-env.js';
import { isFinal, startFeederd, waitForJob } from './helpers/feederd.js';
import { tempDir } from './helpers/media.js';

const rig = awsRig({ leaseSeconds: 4 });
const { procs, feeders } = rig;
const d = tempDir();
rig.dirs.push(d);

test('a package on S3: every file under the prefix with its Content-Type, staging left empty', async () => {
  const f = await startFeederd(d.path, {
    workers: 0,
    config: { ...rig.aws.config, presets: SMALL_ABR_PRESETS },
    env: rig.aws.env,
  });
  feeders.push(f);
  // One worker: it still takes every task from the queue and hands each piece to the next task
  // through the staging prefix on S3 (a worker keeps no piece between tasks), and a second one
  // would only cost its start and its polling.
  procs.push(startAwsWorker(d.path, rig.aws.env, 'aws-a1'));
  const [clip] = makeAbrClips(d.path, ['odd16x9']); // with its subtitle track
  const prefix = 'videos/talk/';
  const { job } = await f.client.createJob({
    input: clip.path,
    outputs: [{ preset: 'abr-small', uri: `s3://${rig.aws.bucket}/${prefix}` }],
    set: FAST_ABR,
  });
  const done = await waitForJob(f.client, job.id, isFinal, 240_000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  const detail = await f.client.getJob(job.id);
  assert.ok(
    detail.tasks.every((t) => t.worker === 'aws-a1'),
    detail.tasks.map((t) => `${t.id}: ${t.worker}`).join(', '),
  );

  const s3 = s3Client({ endpoint: rig.aws.moto.endpoint, forcePathStyle: true, region: 'us-east-1' });
  const keys = (
    (await s3.send(new ListObjectsV2Command({ Bucket: rig.aws.bucket, Prefix: prefix }))).Contents ?? []
  ).map((o) => o.Key!);
  const type = async (key: string) =>
    (await s3.send(new HeadObjectCommand({ Bucket: rig.aws.bucket, Key: key }))).ContentType;
  assert.equal(await type(`${prefix}manifest.mpd`), 'application/dash+xml');
  assert.equal(await type(`${prefix}master.m3u8`), 'application/vnd.apple.mpegurl');
  const expected: Array<[RegExp, string]> = [
    [/\.m4s$/, 'video/iso.segment'],
    [/\.m3u8$/, 'application/vnd.apple.mpegurl'],
    [/\.vtt$/, 'text/vtt'],
    [/\.webp$/, 'image/webp'],
  ];
  for (const [re, ct] of expected) {
    const some = keys.filter((k) => re.test(k));
    assert.ok(some.length > 0, `some ${re} in ${keys.join(', ')}`);
    for (const k of some) assert.equal(await type(k), ct, k);
  }
  assert.ok(
    keys.some((k) => /subtitles-0-en\.vtt$/.test(k)),
    'the subtitle track',
  );
  const out = done.outputs[0] as { package?: { renditions: Array<{ height: number }> } };
  assert.deepEqual(
    out.package?.renditions.map((r) => r.height),
    [144, 240],
  );
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
