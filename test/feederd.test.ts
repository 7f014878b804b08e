// feederd on the embedded default, end to end: real feederd process, real SQLite, real worker
// processes, real ffmpeg.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, readdirSync, writeFileSync, existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import { isFinal, pidsMatching, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import type { CreateJobBody, PublicJob } from '../src/api/contract.js';
import { encoderPids, parentPid, until } from './helpers/faults.js';
import { pacedFfmpeg, type PacedFfmpeg } from './helpers/paced-ffmpeg.js';
import { FAST_VIDEO, noQuality } from './helpers/srv-cheap.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});

function partials(dir: string): string[] {
  return readdirSync(dir).filter((n) => n.includes('.nommer-part'));
}

async function create(f: RunningFeederd, body: CreateJobBody): Promise<PublicJob> {
  return (await f.client.createJob(body)).job;
}

/** A feederd in a temp dir of its own; no test here looks at quality figures, so none are measured. */
async function feederd(opts: Parameters<typeof startFeederd>[1] = {}): Promise<{ dir: string; f: RunningFeederd }> {
  const d = tempDir();
  dirs.push(d);
  const f = await startFeederd(d.path, { ...opts, config: noQuality(opts.config) });
  running.push(f);
  return { dir: d.path, f };
}

/**
 * One feederd (2 workers) for the tests that only submit jobs and read them back, each in a
 * directory of its own: a feederd start with its workers costs seconds of CPU. The tests that kill
 * or stop feederd start their own.
 */
let shared: Promise<{ dir: string; f: RunningFeederd }> | undefined;
const sharedFeederd = () => (shared ??= feederd({ workers: 2 }));

test('nommer submit with no feederd running starts one, encodes, and status lists the job succeeded', async () => {
  const d = tempDir();
  dirs.push(d);
  const clip = makeClip(join(d.path, 'clip.mov'), { seconds: 1, width: 160, height: 120 });
  const env = { NOMMER_HOME: join(d.path, 'home'), NOMMER_PORT: '0' };
  try {
    // What is tested is the start of feederd and the job's way through it, not the encode: the
    // fastest VP9 and no quality measuring.
    const r = await nommer(['submit', clip, '--preset', 'webm', '--set', FAST_VIDEO[0]!, '--no-quality'], {
      env,
      cwd: d.path,
    });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /started feederd in the background/);
    const out = join(d.path, 'clip.webm');
    assert.ok(existsSync(out));
    assert.deepEqual(
      probe(out)
        .streams.map((s) => s.codec_name)
        .sort(),
      ['opus', 'vp9'],
    );
    // `status` through the CLI's main() in this process: what it prints is the command's own; the
    // real binary's exit paths are shown by the two submits (a process start costs about a second).
    const s = await nommerInProcess(['status', '--json'], { env, cwd: d.path });
    assert.equal(s.code, 0, s.stderr);
    const data = JSON.parse(s.stdout) as { jobs: PublicJob[] };
    assert.equal(data.jobs.length, 1);
    assert.equal(data.jobs[0]!.state, 'succeeded');
    assert.equal(data.jobs[0]!.outputs[0]!.uri, out);
    const again = await nommer(['submit', clip], { env, cwd: d.path });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /output exists: .*clip\.webm/);
  } finally {
    await nommer(['feederd', 'stop'], { env, cwd: d.path });
  }
});

test('API: idempotency key, validation errors, unknown job, list filter', async () => {
  // First on the shared feederd: the list filter below sees only this test's job.
  const { f } = await sharedFeederd();
  const d = tempDir();
  dirs.push(d);
  const clip = makeClip(join(d.path, 'i.mp4'), { seconds: 1, width: 160, height: 120 });
  // No outputs named: the default preset (webm), at its fastest.
  const a = await f.client.createJob({ input: clip, idempotencyKey: 'k1', set: FAST_VIDEO });
  const b = await f.client.createJob({ input: clip, idempotencyKey: 'k1', set: FAST_VIDEO });
  assert.equal(a.created, true);
  assert.equal(b.created, false);
  assert.equal(a.job.id, b.job.id);
  await assert.rejects(f.client.createJob({ input: 'relative.mov' }), /absolute path/);
  await assert.rejects(f.client.createJob({ input: clip, outputs: [{ preset: 'nope' }] }), /unknown preset "nope"/);
  await assert.rejects(
    f.client.createJob({ input: clip, set: ['video.crf=30 -f lavfi'] }),
    (e: Error & { code?: string }) => e.code === 'OVERRIDE_INVALID',
  );
  await assert.rejects(f.client.call('POST', '/v1/jobs', { input: clip, extra: 1 }), /invalid job/);
  await assert.rejects(f.client.getJob('j_nope'), (e: Error & { code?: string }) => e.code === 'JOB_NOT_FOUND');
  await waitForJob(f.client, a.job.id, isFinal);
  const ok = await f.client.listJobs({ state: 'succeeded' });
  assert.deepEqual(
    ok.jobs.map((j) => j.id),
    [a.job.id],
  );
  const none = await f.client.listJobs({ state: 'failed' });
  assert.equal(none.jobs.length, 0);
});

test('several jobs at once, one with several outputs from one run, and a bad input failing with its code', async () => {
  const { f } = await sharedFeederd();
  const d = tempDir();
  dirs.push(d);
  const a = makeClip(join(d.path, 'a.mp4'), { seconds: 1, width: 160, height: 120 });
  const b = makeClip(join(d.path, 'b.mp4'), { seconds: 1, width: 160, height: 120, audioChannels: 0 });
  const bad = join(d.path, 'notes.mov');
  writeFileSync(bad, 'not a video\n'.repeat(100));
  const j1 = await create(f, { input: a, outputs: [{ preset: 'webm' }, { preset: 'poster' }, { preset: 'opus' }] });
  const j2 = await create(f, { input: b, outputs: [{ preset: 'webm-vp8' }], set: FAST_VIDEO });
  const j3 = await create(f, { input: bad, outputs: [{ preset: 'webm' }] });
  const [r1, r2, r3] = await Promise.all([j1, j2, j3].map((j) => waitForJob(f.client, j.id, isFinal)));
  assert.equal(r1!.state, 'succeeded');
  assert.deepEqual(
    r1!.outputs.map((o) => o.uri),
    [join(d.path, 'a.webm'), join(d.path, 'a.webp'), join(d.path, 'a.opus')],
  );
  for (const o of r1!.outputs) assert.ok((o.bytes ?? 0) > 0);
  assert.equal(probe(join(d.path, 'a.opus')).streams[0]!.codec_name, 'opus');
  assert.equal(probe(join(d.path, 'a.webp')).streams[0]!.codec_name, 'webp');
  assert.equal(r2!.state, 'succeeded');
  assert.deepEqual(
    probe(join(d.path, 'b.webm')).streams.map((s) => s.codec_name),
    ['vp8'],
  );
  assert.equal(r3!.state, 'failed');
  assert.equal(r3!.error!.code, 'INPUT_UNDECODABLE');
  assert.equal(r3!.attempt, 1, 'a permanent error is not retried');
  assert.deepEqual(partials(d.path), []);
  await f.stop(); // the last test on the shared feederd
});

/**
 * Wait until an ffmpeg whose command line has `needle` (a temp name's prefix) runs for job `id`
 * and has created that file — failing at once if the job ends first; its pid.
 */
async function encoding(f: RunningFeederd, id: string, needle: string): Promise<number> {
  const deadline = Date.now() + 60_000;
  const [dir, prefix] = [dirname(needle), basename(needle)];
  for (;;) {
    const pid = encoderPids(needle)[0];
    if (pid !== undefined && readdirSync(dir).some((n) => n.startsWith(prefix))) return pid;
    const j = (await f.client.getJob(id)).job;
    assert.ok(!isFinal(j), `job ${id} ended before its encode was seen: ${JSON.stringify(j)}`);
    assert.ok(Date.now() < deadline, `no ffmpeg for ${needle} within 60 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The input of the two tests that act mid-encode (8 s, 160x120, 12 fps: 96 frames to count), made
 * once; and their feederd (one worker), whose ffmpeg is held to real time while `paced` is held:
 * an encode of this clip lasts 8 s whatever the machine. The cancel test leaves the worker idle,
 * the kill test then holds the brake again; one feederd start instead of two.
 */
const LONG = { seconds: 8, width: 160, height: 120, fps: 12 };
let held: Promise<{ f: RunningFeederd; paced: PacedFfmpeg; clip: string }> | undefined;
const heldFeederd = () =>
  (held ??= (async () => {
    const paced = pacedFfmpeg({ held: true });
    const { dir, f } = await feederd({ env: paced.env });
    return { f, paced, clip: makeClip(join(dir, 'long-src.mp4'), LONG) };
  })());
function longClip(d: string, name: string, from: string): string {
  copyFileSync(from, join(d, name));
  return join(d, name);
}

test('cancel mid-encode stops ffmpeg and leaves no partial file', async () => {
  const d = tempDir();
  dirs.push(d);
  const { f, paced, clip: src } = await heldFeederd();
  paced.hold();
  const clip = longClip(d.path, 'long.mp4', src);
  const j = await create(f, { input: clip, outputs: [{ preset: 'webm' }] });
  // Mid-encode by construction: an ffmpeg is writing the job's temp file right now.
  await encoding(f, j.id, `${d.path}/.long.webm.`);
  assert.ok(partials(d.path).length > 0, 'ffmpeg is writing its temporary file');
  await f.client.cancelJob(j.id);
  const deadline = Date.now() + 15_000;
  while ((partials(d.path).length || pidsMatching(`${d.path}/.long.webm`).length) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(partials(d.path), [], 'no partial output');
  assert.equal(existsSync(join(d.path, 'long.webm')), false);
  assert.deepEqual(pidsMatching(`${d.path}/.long.webm`), [], 'ffmpeg stopped');
  assert.equal((await waitForJob(f.client, j.id, isFinal)).state, 'canceled');
});

test('a worker killed with SIGKILL mid-encode loses its lease; the job is retried and succeeds, with no orphan ffmpeg', async () => {
  const d = tempDir();
  dirs.push(d);
  // The first encode is held to real time (8 s, whatever the machine); the retry runs at full speed.
  const { f, paced, clip: src } = await heldFeederd();
  paced.hold();
  const clip = longClip(d.path, 'k.mp4', src);
  const j = await create(f, { input: clip, outputs: [{ preset: 'webm' }], set: FAST_VIDEO });
  const ffmpeg = await encoding(f, j.id, `${d.path}/.k.webm.`);
  paced.release();
  const busy = (await f.client.getJob(j.id)).job;
  // The worker is the encoding ffmpeg's parent (setpriv execs ffmpeg in its place).
  const workerPid = parentPid(ffmpeg)!;
  assert.ok(
    pidsMatching(`--id ${busy.worker}`).includes(workerPid),
    `ffmpeg ${ffmpeg} belongs to worker ${busy.worker}`,
  );
  process.kill(workerPid, 'SIGKILL');
  await until(
    () => pidsMatching(`${d.path}/.k.webm`).length === 0,
    5000,
    "the killed worker's ffmpeg to die with it (pdeathsig)",
  );
  const done = await waitForJob(f.client, j.id, isFinal, 120_000);
  assert.equal(done.state, 'succeeded');
  assert.notEqual(done.worker, busy.worker, 'another worker finished it');
  const detail = await f.client.getJob(j.id);
  assert.ok(
    detail.events.some((e) => e.type === 'restarted'),
    'the history shows the restart',
  );
  const p = probe(join(d.path, 'k.webm'), true);
  const frames = Number(p.streams.find((s) => s.codec_type === 'video')!.nb_read_frames);
  const all = LONG.seconds * LONG.fps;
  assert.ok(Math.abs(frames - all) <= 1, `all ${all} frames, got ${frames}`);
  assert.deepEqual(partials(d.path), []);
  await f.stop();
});

test('feederd killed with SIGKILL and restarted loses no job', async () => {
  const d = tempDir();
  dirs.push(d);
  let f = await startFeederd(d.path, { config: noQuality() });
  running.push(f);
  const ids: string[] = [];
  // Three inputs of their own (an output is named for its input), one clip made.
  const src = makeClip(join(d.path, 'r.mp4'), { seconds: 1, width: 160, height: 120 });
  for (let i = 0; i < 3; i++) {
    const clip = join(d.path, `r${i}.mp4`);
    copyFileSync(src, clip);
    ids.push((await create(f, { input: clip, outputs: [{ preset: 'webm' }], set: FAST_VIDEO })).id);
  }
  // Kill once work has begun (the first job may even be done already: that must not matter).
  await waitForJob(f.client, ids[0]!, (x) => x.state !== 'queued');
  await f.kill();
  f = await startFeederd(d.path, { workers: 2, config: noQuality() });
  running.push(f);
  for (const id of ids)
    assert.equal((await waitForJob(f.client, id, isFinal, 120_000)).state, 'succeeded', `job ${id}`);
  const list = await f.client.listJobs();
  assert.equal(list.jobs.length, 3);
  assert.deepEqual(partials(d.path), []);
  await f.stop();
});
