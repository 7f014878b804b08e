// Chunked jobs end to end on the local backend: a real feederd with two worker processes plans
// the job at creation, the chunks run as ordinary tasks, the assembler joins them; a worker
// killed mid-chunk costs that chunk alone another run, and the picture comes out the same.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../src/adapters/local/db.js';
import { getPreset } from '../src/presets/registry.js';
import { applyOverrides } from '../src/presets/overrides.js';
import type { PublicJob } from '../src/orchestrator/api.js';
import { FFMPEG, makeClip, tempDir } from './helpers/media.js';
import { isFinal, pidsMatching, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { chunkedRun, decodedTiming, runAll, segmentLayout, ssim, timing } from './helpers/chunked.js';
import { nommer } from './helpers/cli.js';
import { pacedFfmpeg } from './helpers/paced-ffmpeg.js';
import { CHUNKED_WEBM } from './helpers/srv-cheap.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});

// The fastest libvpx speed, and no quality record (the product's own measuring pass, covered by the
// quality tests): what these tests compare is chunked against unchunked at the same settings, themselves.
const SET = CHUNKED_WEBM;
// Keyframe chunks of a fixed length (the counts below): no scene task.
const CONFIG = { chunking: { enabled: true, thresholdSeconds: 5, chunkSeconds: 3, scenes: false } };

interface Detail {
  job: PublicJob;
  tasks: Array<{ id: string; type: string; state: string; attempt: number; worker: string | null; progress: number }>;
}
const detail = (f: RunningFeederd, id: string) => f.client.getJob(id);
/** Waiting for a job to end: a request every 500 ms, not 100 (each costs feederd and the test CPU). */
const UNTIL_FINAL = { pollMs: 500 };

/** MD5 of the decoded video: the same picture, whatever the container's random ids. */
function pictureMd5(path: string): string {
  return execFileSync(FFMPEG, ['-v', 'error', '-i', path, '-map', '0:v', '-f', 'md5', '-'], {
    encoding: 'utf8',
  }).trim();
}

test('a long input is planned as chunks + audio -> assemble, runs as one job on two workers, and comes out whole', async () => {
  const d = tempDir();
  dirs.push(d);
  const f = await startFeederd(d.path, { workers: 2, config: CONFIG });
  running.push(f);
  // 8 s with a keyframe every 2 s (the clip chunked.test.ts compares): 3 s chunks still need a
  // fourth chunk to fill the second wave, and every chunk starts on a keyframe of its own.
  const clip = makeClip(join(d.path, 'film.mp4'), { seconds: 8 });
  // Below the threshold: only how it is planned is checked, so the smallest clip will do (the
  // one api-security and aws-e2e share): 1 s of 160x120.
  const short = makeClip(join(d.path, 'short.mp4'), { seconds: 1, width: 160, height: 120 });
  const j = (
    await f.client.createJob({
      input: clip,
      outputs: [{ preset: 'webm' }],
      set: SET,
    })
  ).job;
  const s = (
    await f.client.createJob({
      input: short,
      outputs: [{ preset: 'webm' }],
      set: SET,
    })
  ).job;
  const off = (
    await f.client.createJob({
      input: clip,
      outputs: [{ preset: 'webm', uri: join(d.path, 'off.webm') }],
      set: SET,
      chunked: false,
    })
  ).job;
  const done = await waitForJob(f.client, j.id, isFinal, 180_000, UNTIL_FINAL);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.equal(done.progress, 1);
  const t = await detail(f, j.id);
  const chunks = t.tasks.filter((x) => /\.chunk-\d+$/.test(x.id));
  assert.equal(chunks.length, 4, 'three chunks of 3 s, raised to two full waves of two workers');
  assert.deepEqual(t.tasks.map((x) => x.id.split('.').pop()).slice(-2), ['audio', 'assemble']);
  assert.ok(t.tasks.every((x) => x.state === 'succeeded' && x.attempt === 1));
  assert.equal(new Set(chunks.map((c) => c.worker)).size, 2, 'both workers encoded chunks');
  const out = join(d.path, 'film.webm');
  const o = decodedTiming(out);
  assert.equal(o.frames, 200);
  assert.ok(o.clean, o.errors);
  assert.ok(segmentLayout(out).indexOf('Cues') < segmentLayout(out).indexOf('Cluster'));
  assert.deepEqual(readdirSync(join(f.home, 'chunks')), [], 'intermediates removed after assembly');
  // Below the threshold, and with chunked: false, jobs are ordinary single-task encodes.
  for (const id of [s.id, off.id]) {
    assert.equal((await waitForJob(f.client, id, isFinal, 120_000, UNTIL_FINAL)).state, 'succeeded');
    assert.deepEqual(
      (await detail(f, id)).tasks.map((x) => x.type),
      ['encode'],
    );
  }
  const sim = ssim(out, join(d.path, 'off.webm'));
  assert.ok(sim.all >= 0.99, `SSIM ${sim.all} against the unchunked job`);
  await f.stop();
});

test('a worker killed mid-chunk: that chunk alone runs again, and the picture is the same as an undisturbed chunked encode', async () => {
  const d = tempDir();
  dirs.push(d);
  // Chunks are encoded at real time until the victim is killed (helpers/paced-ffmpeg.ts): a chunk
  // seen 10% done has over a second left on any machine. 4 s in 2 s chunks: two chunks (one on
  // each worker) and the audio: the victim's siblings run beside it or after it, and none of them
  // may run again (a third and fourth chunk would show nothing more, and each chunk task starts
  // four ffmpeg/ffprobe processes, in feederd's run and again in the calm one). The picture is
  // compared decoded frame by frame (MD5) with an undisturbed chunked encode, not by a quality
  // bound, so the clip can be small; how close a chunked output comes to an unchunked one is the
  // first test's (and chunked.test.ts's) claim.
  const paced = pacedFfmpeg({ held: true });
  const config = { chunking: { ...CONFIG.chunking, thresholdSeconds: 3, chunkSeconds: 2 } };
  const f = await startFeederd(d.path, { workers: 2, config, env: paced.env });
  running.push(f);
  const clip = makeClip(join(d.path, 'film.mp4'), { seconds: 4, width: 160, height: 120 });
  const j = (
    await f.client.createJob({
      input: clip,
      outputs: [{ preset: 'webm' }],
      set: SET,
    })
  ).job;
  let victim: Detail['tasks'][number] | undefined;
  const deadline = Date.now() + 60_000;
  while (!victim && Date.now() < deadline) {
    victim = (await detail(f, j.id)).tasks.find(
      (x) => x.type === 'chunk' && /\.chunk-\d+$/.test(x.id) && x.state === 'running' && x.progress > 0.1 && x.worker,
    );
    if (!victim) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(victim, 'a chunk was seen encoding');
  const pids = pidsMatching(`--id ${victim.worker}`);
  assert.equal(pids.length, 1);
  paced.release();
  process.kill(pids[0]!, 'SIGKILL');
  const done = await waitForJob(f.client, j.id, isFinal, 240_000, UNTIL_FINAL);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  // Who started over, from the store's own history.
  const db = openDatabase(join(f.home, 'nommer.db'));
  const redone = db
    .prepare(
      `SELECT DISTINCT task_id FROM job_events WHERE job_id = ? AND type IN ('restarted', 'worker_lost', 'retrying')`,
    )
    .all(j.id) as Array<{ task_id: string }>;
  db.close();
  assert.deepEqual(
    redone.map((r) => r.task_id),
    [victim.id],
    'only the killed chunk ran again',
  );
  const out = join(d.path, 'film.webm');
  assert.equal(timing(out).frames, 100);
  assert.ok(!existsSync(join(f.home, 'chunks')) || readdirSync(join(f.home, 'chunks')).length === 0);
  await f.stop();
  // The same job, chunked the same way in-process with nobody killed: the same picture.
  const preset = applyOverrides(getPreset('webm', {}), SET) as unknown as Record<string, unknown> & { name: string };
  const calm = join(d.path, 'calm.webm');
  await runAll(await chunkedRun(clip, calm, preset, d.path, { chunkSeconds: 2, workers: 2 }), 2);
  assert.equal(pictureMd5(out), pictureMd5(calm));
});

test('nommer submit --chunked / --no-chunked choose per job, whatever the config says', async () => {
  const d = tempDir();
  dirs.push(d);
  const f = await startFeederd(d.path, {
    workers: 0,
    config: { chunking: { enabled: false, thresholdSeconds: 600, chunkSeconds: 2 } },
  });
  running.push(f);
  const clip = makeClip(join(d.path, 'c.mp4'), { seconds: 8 });
  const submit = async (flag: string) => {
    const r = await nommer(['submit', clip, flag, '--detach', '--json', '--force', '--api', f.client.endpoint.url], {
      cwd: d.path,
      env: f.env,
    });
    assert.equal(r.code, 0, r.stderr);
    const id = (JSON.parse(r.stdout) as { jobs: PublicJob[] }).jobs[0]!.id;
    return (await detail(f, id)).tasks.map((t) => t.id.split('.').pop()!);
  };
  const on = await submit('--chunked');
  assert.ok(on.filter((k) => k.startsWith('chunk-')).length >= 2, `chunk tasks: ${on.join(',')}`);
  assert.ok(on.includes('assemble'));
  assert.deepEqual(await submit('--no-chunked'), ['encode']);
  await f.stop();
});
