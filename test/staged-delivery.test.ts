// Staged delivery on the aws backend (moto): a local output comes back from the staging prefix
// without clobbering anything. An existing destination is refused at submission unless --force;
// a file that appears at the destination while the job runs is kept, and so is the staged output;
// the download never lands on a guessable sibling name; and a feederd that stopped between a
// job's success and its delivery finishes the delivery when it starts again.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { S3Storage } from '../src/adapters/aws/s3-storage.js';
import { s3Client } from '../src/adapters/aws/clients.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { awsRig, rigFeederd, sharedRigFeederd, startAwsWorker } from './helpers/aws-env.js';
import { isFinal, startFeederd, waitForJob } from './helpers/feederd.js';
import { makeClip, probe } from './helpers/media.js';
import { FAST_VIDEO, noQuality } from './helpers/srv-cheap.js';

const rig = awsRig({ maxAttempts: 1 });
const { procs, feeders } = rig;

function storage(): S3Storage {
  return new S3Storage({
    client: s3Client({ endpoint: rig.aws.moto.endpoint, forcePathStyle: true, region: 'us-east-1' }),
  });
}

/** No test here looks at quality figures: none are measured (one ffmpeg run less per output). */
const CONFIG = () => noQuality(rig.aws.config);

const setup = () => rigFeederd(rig, CONFIG());

/**
 * The first two tests share one feederd, each with a directory of its own for its media; the
 * second stops it to read its store. The third starts (and restarts) its own.
 */
const sharedSetup = sharedRigFeederd(rig, CONFIG);

function worker(t: { after(fn: () => void): void }, dir: string, id: string): void {
  const w = startAwsWorker(dir, rig.aws.env, id);
  procs.push(w);
  t.after(() => {
    w.kill('SIGKILL');
  });
}

/**
 * The delivery's recorded outcome, read from feederd's store while it runs (WAL: readers don't
 * block it). It is written in the transaction that ends the job (store/end-delivery.ts), so once
 * the job is final it is there.
 */
function outcomeOf(home: string, jobId: string): { error: string | null } {
  const store = openStore(join(home, 'nommer.db'));
  try {
    const rec = store.deliveryOf(jobId);
    assert.ok(rec, `a delivery outcome recorded for ${jobId}`);
    return rec;
  } finally {
    store.close();
  }
}

const isWebm = (path: string) => existsSync(path) && readFileSync(path).subarray(0, 4).toString('hex') === '1a45dfa3';

test('an existing local destination is refused at submission (nothing uploaded) unless --force, which replaces it', async (t) => {
  const { dir, f } = await sharedSetup();
  const clip = makeClip(join(dir, 'talk.mp4'), { seconds: 1, width: 160, height: 120 });
  const dest = join(dir, 'talk.webm');
  writeFileSync(dest, 'the user’s own file');
  await assert.rejects(
    f.client.createJob({ input: clip, outputs: [{ preset: 'webm' }] }),
    (e: Error & { code?: string; hint?: string }) =>
      e.code === 'OUTPUT_EXISTS' && e.message.includes(dest) && /--force/.test(e.hint ?? ''),
  );
  assert.equal(readFileSync(dest, 'utf8'), 'the user’s own file');
  assert.equal((await f.client.listJobs()).jobs.length, 0);
  // A bystander file with the name the old delivery downloaded to (`<i>-<name>` beside it).
  const sibling = join(dir, '0-talk.webm');
  writeFileSync(sibling, 'a bystander');
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }],
    force: true,
    set: FAST_VIDEO,
  });
  worker(t, f.dir, 'sd-w1');
  assert.equal((await waitForJob(f.client, job.id, isFinal, 90_000)).state, 'succeeded');
  // The success is held (phase `delivering`) until the output is at its path: no wait here.
  assert.ok(isWebm(dest), `${dest} is there when the job succeeds`);
  assert.deepEqual(
    probe(dest)
      .streams.map((s) => s.codec_name)
      .sort(),
    ['opus', 'vp9'],
  );
  assert.equal(readFileSync(sibling, 'utf8'), 'a bystander', 'the sibling name is untouched');
  outcomeOf(f.home, job.id);
  const detail = await f.client.getJob(job.id);
  assert.deepEqual(detail.delivery, { ...detail.delivery, state: 'delivered', to: [dest] });
  assert.deepEqual(
    readdirSync(dir).filter((n) => n.startsWith('.')),
    [],
    'no temp file or delivery directory left',
  );
});

test('a file that appears at the destination while the job runs is kept, and so is the staged output', async (t) => {
  const { dir, f } = await sharedSetup();
  const clip = makeClip(join(dir, 'race.mp4'), { seconds: 1, width: 160, height: 120 });
  const dest = join(dir, 'race.webm');
  // No worker yet: the job waits, and the user writes the destination meanwhile.
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }],
    set: FAST_VIDEO,
  });
  writeFileSync(dest, 'written while the job waited');
  worker(t, f.dir, 'sd-w2');
  // The delivery is part of the job's end: the job fails DELIVERY_FAILED.
  const ended = await waitForJob(f.client, job.id, isFinal, 90_000);
  assert.equal(ended.state, 'failed');
  assert.equal(ended.error?.code, 'DELIVERY_FAILED');
  const rec = outcomeOf(f.home, job.id);
  const detail = await f.client.getJob(job.id);
  assert.equal(detail.delivery?.state, 'failed');
  assert.match(detail.delivery?.error ?? '', /^DELIVERY_FAILED: OUTPUT_EXISTS: .*the outputs stay in s3:/);
  await f.stop();
  const store = openStore(join(f.home, 'nommer.db'));
  try {
    assert.match(
      rec.error ?? '',
      /^DELIVERY_FAILED: OUTPUT_EXISTS: .*race\.webm.*; the outputs stay in s3:\/\/nommer-test\/nommer-staging\/outputs\//,
    );
    const from = store.getJob(job.id)!.options.deliver![0]!.from;
    assert.equal(await storage().exists(from), true, 'the staged output is kept');
  } finally {
    store.close();
  }
  assert.equal(readFileSync(dest, 'utf8'), 'written while the job waited');
});

test('a feederd that stopped between the success and the delivery delivers when it starts again', async (t) => {
  const { dir, f } = await setup();
  const clip = makeClip(join(dir, 'late.mp4'), { seconds: 1, width: 160, height: 120 });
  const dest = join(dir, 'late.webm');
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'webm' }],
    set: FAST_VIDEO,
  });
  worker(t, dir, 'sd-w3');
  const ended = await waitForJob(f.client, job.id, isFinal, 90_000);
  assert.equal(ended.state, 'succeeded', JSON.stringify(ended.error));
  // The success is held (phase `delivering`) until the output is at its path: no wait here.
  assert.ok(isWebm(dest), `${dest} is there when the job succeeds`);
  assert.equal(outcomeOf(f.home, job.id).error, null);
  await f.stop();
  // Put back the state such a stop leaves: the tasks done, the job waiting in `delivering`, no
  // delivery recorded, the staged objects still in the bucket, nothing at the destination.
  const store = openStore(join(f.home, 'nommer.db'));
  const { deliver, cleanup } = store.getJob(job.id)!.options;
  store.db.prepare('DELETE FROM job_deliveries WHERE job_id = ?').run(job.id);
  store.db.prepare("UPDATE jobs SET state = 'running', delivering = 1, finished_at = NULL WHERE id = ?").run(job.id);
  store.close();
  await storage().store(dest, deliver![0]!.from, { overwrite: true });
  rmSync(dest);
  assert.equal(await storage().exists(cleanup![0]!), false, 'the staged input was cleaned the first time');

  const again = await startFeederd(dir, { workers: 0, config: CONFIG(), env: rig.aws.env, keepToken: true });
  feeders.push(again);
  // The job waits in `delivering` until the restarted feederd has the output back, then succeeds.
  const delivered = await waitForJob(again.client, job.id, isFinal, 90_000);
  assert.equal(delivered.state, 'succeeded', JSON.stringify(delivered.error));
  assert.ok(isWebm(dest), `${dest} is there when the job succeeds`);
  for (let i = 0; i < 100 && (await storage().exists(deliver![0]!.from)); i++)
    await new Promise((r) => setTimeout(r, 100));
  assert.equal(await storage().exists(deliver![0]!.from), false, 'staging cleaned after the delivery');
  await again.stop();
  const after = openStore(join(again.home, 'nommer.db'));
  assert.deepEqual(after.deliveryOf(job.id)?.error, null);
  assert.equal(after.getJob(job.id)?.state, 'succeeded');
  assert.deepEqual(after.pendingDeliveries(), []);
  after.close();
});
