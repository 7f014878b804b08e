// Fault injection on the local backend, with real processes, real SQLite and real ffmpeg: a
// worker SIGKILLed while downloading and while encoding, feederd SIGKILLed mid-dispatch and
// restarted, a full output disk (tmpfs), a read-only store, slow and dead webhook receivers, 200
// concurrent submissions from several clients, and the shutdown paths (SIGTERM with a grace, a
// second signal, `nommer feederd stop`, SIGTERM to one worker). Each scenario ends by checking
// what a user relies on: every job succeeded or failed with a clear code, no partial outputs, no
// lost jobs, no stuck leases, no orphan ffmpeg or worker processes.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import {
  commandLine,
  dribbleServer,
  encoderPids,
  ffmpegPids,
  mountTmpfs,
  parentPid,
  partialFiles,
  sleep,
  storeState,
  until,
  workersOf,
} from './helpers/faults.js';
import { pacedFfmpeg, type PacedFfmpeg } from './helpers/paced-ffmpeg.js';
import { FAST_VIDEO, noQuality } from './helpers/srv-cheap.js';
import { ApiClient } from '../src/client/api-client.js';
import { openDatabase } from '../src/adapters/local/db.js';
import { taskMessage } from '../src/messages.js';
import type { CreateJobBody, PublicJob } from '../src/api/contract.js';
import { assertWholeWebp } from './helpers/webp.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
const mounts: Array<{ unmount(): void }> = [];
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  for (const m of mounts) m.unmount();
  for (const d of dirs) d.cleanup();
});

function dir(): string {
  const d = tempDir('nommer-fault-');
  dirs.push(d);
  return d.path;
}

/**
 * feederd as the helper starts it, without measuring the quality of video outputs: no test here
 * looks at quality figures, and measuring is one more ffmpeg run over source and output per output.
 */
function feederd(d: string, opts: Parameters<typeof startFeederd>[1] = {}): Promise<RunningFeederd> {
  return startFeederd(d, { ...opts, config: noQuality(opts.config) });
}

async function create(f: RunningFeederd, body: CreateJobBody): Promise<PublicJob> {
  return (await f.client.createJob(body)).job;
}

/** The end state every scenario must reach. */
async function assertClean(f: RunningFeederd, d: string, opts: { jobs?: number } = {}): Promise<void> {
  // Workers report asynchronously: give the last events a moment to land.
  await until(
    () => {
      const s = storeState(f.home);
      return s.runningTasks === 0 && s.leased === 0;
    },
    15_000,
    'no running tasks and no leased messages',
  );
  const s = storeState(f.home);
  const final = (s.byState.succeeded ?? 0) + (s.byState.failed ?? 0) + (s.byState.canceled ?? 0);
  assert.equal(final, s.jobs, `every job is final: ${JSON.stringify(s.byState)}`);
  if (opts.jobs !== undefined) assert.equal(s.jobs, opts.jobs, 'no job lost, none invented');
  assert.equal(s.queued, 0, 'no task message left in the queue');
  assert.equal(s.leased, 0, 'no stuck lease');
  assert.deepEqual(partialFiles(d), [], 'no partial file anywhere (outputs, scratch)');
  await until(() => ffmpegPids(d).length === 0, 10_000, 'no ffmpeg left');
  const failed = await f.client.listJobs({ state: 'failed', limit: 1000 });
  for (const j of failed.jobs) assert.match(j.error?.code ?? '', /^[A-Z_]+$/, `failed job ${j.id} has a code`);
}

/**
 * The input of the tests that act mid-encode. Their feederd's ffmpeg is held to real time
 * (helpers/paced-ffmpeg.ts) until the test has acted, so the first encode lasts 8 s on any
 * machine, by construction, at next to no CPU; the test then releases it, and the encode after
 * the fault runs at full speed (96 frames of 160x120: 12 fps is enough to count frames by, and each
frame of the retry's encode costs CPU). Made once per file and copied into each
 * test's directory (the needles below are that directory).
 */
const LONG_CLIP = { seconds: 8, width: 160, height: 120, fps: 12 };
const LONG_CLIP_FRAMES = LONG_CLIP.seconds * LONG_CLIP.fps;
let longClipMade: string | undefined;
function longClip(d: string, name: string): string {
  if (!longClipMade) longClipMade = makeClip(join(dir(), 'long.mp4'), LONG_CLIP);
  const path = join(d, name);
  copyFileSync(longClipMade, path);
  return path;
}

/** A feederd for a test that acts mid-encode: its encodes are held to real time until `paced.release()`. */
async function startHeld(
  d: string,
  opts: Parameters<typeof startFeederd>[1] = {},
): Promise<{ f: RunningFeederd; paced: PacedFfmpeg }> {
  const paced = pacedFfmpeg({ held: true });
  const f = await feederd(d, { ...opts, env: { ...opts.env, ...paced.env } });
  running.push(f);
  return { f, paced };
}

interface Encoding {
  job: PublicJob;
  ffmpeg: number;
  workerPid: number;
  workerId: string;
}

/**
 * Wait until job `id` is mid-encode BY CONSTRUCTION rather than by timing: an ffmpeg whose command
 * line mentions `needle` (the output's hidden temp name, or the input for a two-pass preset)
 * runs, and the job is not final (waitForJob fails at once if it is). Returns that ffmpeg and
 * the worker running it (its parent process).
 */
async function waitForEncoder(f: RunningFeederd, id: string, needle: string): Promise<Encoding> {
  let ffmpeg: number | undefined;
  const job = await waitForJob(f.client, id, () => (ffmpeg = encoderPids(needle)[0]) !== undefined, 60_000);
  const worker = parentPid(ffmpeg!);
  const cmd = worker === undefined ? undefined : commandLine(worker);
  const workerId = cmd?.match(/ --id (\S+)/)?.[1];
  assert.ok(
    worker && workerId && cmd?.includes(`--parent-pid ${f.proc.pid} `),
    `ffmpeg ${ffmpeg} for ${needle} is run by one of this feederd's workers (parent ${worker}: ${cmd})`,
  );
  return { job, ffmpeg: ffmpeg!, workerPid: worker, workerId };
}

function workerPid(worker: string | null): number {
  assert.ok(worker, 'the job has a worker');
  const pids = readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .map(Number)
    .filter((pid) => {
      try {
        return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').includes(`--id ${worker}`);
      } catch {
        return false;
      }
    });
  assert.equal(pids.length, 1, `one process for worker ${worker}`);
  return pids[0]!;
}

test('a worker SIGKILLed mid-download: the download is cut, the task is delivered again and succeeds; no partial download is left', async () => {
  const d = dir();
  const clip = readFileSync(makeClip(join(d, 'src.mp4'), { seconds: 2 }));
  // ~2 KiB every 150 ms: several seconds for the first try; later tries are served at once.
  const srv = await dribbleServer({ 'remote clip.mp4': clip }, { chunk: 2048, tickMs: 150, fastAfter: 1 });
  // One worker: the one feederd starts in the killed one's place takes the task again (a second
  // worker idling beside it would show nothing more, and costs a node process).
  const f = await feederd(d, { workers: 1 });
  running.push(f);
  try {
    const out = join(d, 'remote.webm');
    const j = await create(f, {
      input: srv.url('remote clip.mp4'),
      outputs: [{ preset: 'webm', uri: out }],
      set: FAST_VIDEO,
    });
    const busy = await waitForJob(
      f.client,
      j.id,
      (x) => x.phase === 'downloading' && (srv.sent[0] ?? 0) > 4096,
      30_000,
    );
    process.kill(workerPid(busy.worker), 'SIGKILL');
    const done = await waitForJob(f.client, j.id, isFinal, 90_000);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.notEqual(done.worker, busy.worker);
    assert.ok(srv.sent[0]! < clip.length, 'the first download was cut off');
    assert.ok(srv.sent.length >= 2, 'the input was downloaded again');
    assert.deepEqual(
      probe(out)
        .streams.map((s) => s.codec_name)
        .sort(),
      ['opus', 'vp9'],
    );
    // feederd removes a dead worker's scratch dir (its partial download) when it exits.
    await until(() => !existsSync(join(f.home, 'work', busy.worker!)), 10_000, "the dead worker's scratch dir to go");
    await assertClean(f, d, { jobs: 1 });
  } finally {
    await srv.close();
  }
  await f.stop();
});

test('a worker SIGKILLed mid-encode: its ffmpeg dies with it, another worker finishes the job, no partial output', async () => {
  const d = dir();
  // One worker: the other worker is the one feederd starts in the killed one's place.
  const { f, paced } = await startHeld(d, { workers: 1 });
  const clip = longClip(d, 'k.mp4');
  const j = await create(f, { input: clip, outputs: [{ preset: 'webm' }, { preset: 'opus' }] });
  const busy = await waitForEncoder(f, j.id, `${d}/.k.webm.`);
  paced.release();
  process.kill(busy.workerPid, 'SIGKILL');
  await until(() => ffmpegPids(`${d}/.k.webm`).length === 0, 5000, "the killed worker's ffmpeg to die (pdeathsig)");
  const done = await waitForJob(f.client, j.id, isFinal, 240_000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  assert.notEqual(done.worker, busy.workerId, 'the other worker finished it');
  const frames = Number(probe(join(d, 'k.webm'), true).streams.find((s) => s.codec_type === 'video')!.nb_read_frames);
  assert.ok(Math.abs(frames - LONG_CLIP_FRAMES) <= 1, `all ${LONG_CLIP_FRAMES} frames, got ${frames}`);
  assert.equal(probe(join(d, 'k.opus')).streams[0]!.codec_name, 'opus');
  await assertClean(f, d, { jobs: 1 });
  await f.stop();
});

test('feederd SIGKILLed mid-dispatch and restarted: every submitted job runs exactly to the end; its orphaned workers stop', async () => {
  const d = dir();
  const clip = makeClip(join(d, 'p.mp4'), { seconds: 1, width: 160, height: 120 });
  let f = await feederd(d, { workers: 1 });
  running.push(f);
  const oldPid = f.proc.pid!;
  // 16 submissions at once: the dispatcher is sending them while feederd is killed (it was 40;
  // each poster job costs about 1 s of CPU, and 16 make the same point).
  const JOBS = 16;
  const jobs = await Promise.all(
    Array.from({ length: JOBS }, (_, i) =>
      create(f, { input: clip, outputs: [{ preset: 'poster', uri: join(d, `p${i}.webp`) }] }),
    ),
  );
  await f.kill();
  // The workers of the dead feederd notice (parent watch) and stop after their task.
  // A hang guard only (it returns once they are gone): a worker stops after its task, and on a
  // machine loaded to 20 on 2 cores that took over 20 s.
  await until(() => workersOf(oldPid).length === 0, 60_000, "the dead feederd's workers to stop");
  f = await feederd(d, { workers: 2 });
  running.push(f);
  for (const j of jobs)
    assert.equal((await waitForJob(f.client, j.id, isFinal, 120_000)).state, 'succeeded', `job ${j.id}`);
  // Each output is a whole WebP file (its worker ffprobed it before calling the job done): the
  // RIFF header's size is the file's, read here rather than by 16 more ffprobe starts; one is
  // probed as a user would.
  for (let i = 0; i < JOBS; i++) assertWholeWebp(join(d, `p${i}.webp`));
  assert.equal(probe(join(d, 'p0.webp')).streams[0]!.codec_name, 'webp');
  const list = await f.client.listJobs({ limit: 1000 });
  assert.equal(list.jobs.length, JOBS);
  await assertClean(f, d, { jobs: JOBS });
  await f.stop();
});

test('a full output disk: the job fails with DISK_FULL after its attempts, leaves nothing on the disk, and succeeds on retry once space is freed', async (t) => {
  const d = dir();
  const outDir = join(d, 'small');
  const m = mountTmpfs(outDir, '512k');
  if (!m) {
    t.skip('needs root to mount a tmpfs (CI runs as root)');
    return;
  }
  mounts.push(m);
  // Leave 8 KiB free: a 1 s noise clip encodes to far more (about 50 KB at 160x120, which still
  // fits the empty disk on retry; 640x360 noise cost 15 s of CPU per attempt here, 3 s of 160x120
  // 1.5 s, and the job encodes it three times).
  writeFileSync(join(outDir, 'filler'), Buffer.alloc(512 * 1024 - 8 * 1024));
  const f = await feederd(d, { workers: 1, config: { jobs: { leaseSeconds: 3, maxAttempts: 2 } } });
  running.push(f);
  const clip = makeClip(join(d, 'noise.mp4'), { seconds: 1, width: 160, height: 120, source: 'noise' });
  const out = join(outDir, 'noise.webm');
  const j = await create(f, { input: clip, outputs: [{ preset: 'webm', uri: out }], set: FAST_VIDEO });
  const done = await waitForJob(f.client, j.id, isFinal, 120_000);
  assert.equal(done.state, 'failed');
  assert.equal(done.error!.code, 'DISK_FULL', JSON.stringify(done.error));
  assert.equal(done.attempt, 2, 'DISK_FULL is retriable: both attempts were used');
  assert.deepEqual(readdirSync(outDir), ['filler'], 'no partial output on the full disk');
  await assertClean(f, d, { jobs: 1 });
  rmSync(join(outDir, 'filler'));
  await f.client.retryJob(j.id);
  const again = await waitForJob(f.client, j.id, isFinal, 120_000);
  assert.equal(again.state, 'succeeded', JSON.stringify(again.error));
  assert.deepEqual(readdirSync(outDir), ['noise.webm']);
  await f.stop();
});

test('a read-only store: feederd refuses to start with one clear line; submit and status say what is wrong', async (t) => {
  const d = dir();
  const home = join(d, 'home');
  const m = mountTmpfs(home, '16m');
  if (!m) {
    t.skip('needs root to mount a tmpfs (CI runs as root)');
    return;
  }
  mounts.push(m);
  // The store as feederd makes it (its openDatabase, migrations and all), made here rather than
  // by starting and stopping a feederd (a node process and its start-up, about 3 s of CPU).
  openDatabase(join(home, 'nommer.db')).close();
  const clip = makeClip(join(d, 'ro.mp4'), { seconds: 1 });
  m.remount('ro');
  const env = { NOMMER_HOME: home, NOMMER_PORT: '0' };
  const fd = await nommer(['feederd', '--workers', '0'], { env, cwd: d, timeoutMs: 30_000 });
  assert.equal(fd.code, 2, fd.stderr);
  assert.match(fd.stderr, /cannot open the job store .*nommer\.db for writing/);
  assert.match(fd.stderr, /data dir must be writable/);
  assert.doesNotMatch(fd.stderr, /\n\s+at /, 'no stack trace');
  const sub = await nommer(['submit', clip, '--detach'], { env, cwd: d, timeoutMs: 30_000 });
  assert.equal(sub.code, 2, sub.stderr);
  assert.match(sub.stderr, /data dir .* is not writable \(EROFS\)/);
  const st = await nommer(['status'], { env, cwd: d, timeoutMs: 30_000 });
  assert.equal(st.code, 1);
  assert.match(st.stderr, /feederd is not running .*\[API_UNREACHABLE\]/);
  m.remount('rw');
});

test('slow and dead webhook receivers never hold jobs up, and feederd still stops within its bound', async () => {
  const d = dir();
  let hung = 0;
  const slow: Server = createServer((req) => {
    hung++;
    req.resume(); /* never answers */
  });
  await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
  const dead: Server = createServer();
  await new Promise<void>((r) => dead.listen(0, '127.0.0.1', r));
  const deadPort = (dead.address() as { port: number }).port;
  await new Promise<void>((r) => dead.close(() => r()));
  try {
    const f = await feederd(d, {
      workers: 1,
      config: { jobs: { leaseSeconds: 3, maxAttempts: 3 }, webhooks: { timeoutMs: 500, maxAttempts: 10 } },
    });
    running.push(f);
    const clip = makeClip(join(d, 'w.mp4'), { seconds: 1 });
    const a = await create(f, {
      input: clip,
      outputs: [{ preset: 'opus', uri: join(d, 'a.opus') }],
      notifyUrl: `http://127.0.0.1:${(slow.address() as { port: number }).port}/hook`,
    });
    const b = await create(f, {
      input: clip,
      outputs: [{ preset: 'opus', uri: join(d, 'b.opus') }],
      notifyUrl: `http://127.0.0.1:${deadPort}/hook`,
    });
    const t0 = Date.now();
    assert.equal((await waitForJob(f.client, a.id, isFinal, 60_000)).state, 'succeeded');
    assert.equal((await waitForJob(f.client, b.id, isFinal, 60_000)).state, 'succeeded');
    assert.ok(Date.now() - t0 < 30_000, 'jobs finished without waiting on the receivers');
    assert.ok(hung > 0, 'the slow receiver was called');
    // Deliveries are still retrying (10 attempts with backoff); shutdown must not wait for them all.
    const s0 = Date.now();
    await f.stop();
    assert.ok(Date.now() - s0 < 15_000, `feederd stopped in ${Date.now() - s0} ms`);
    assert.equal(f.proc.exitCode, 0);
  } finally {
    slow.closeAllConnections();
    slow.close();
  }
});

// The API under concurrent creates: what could go wrong is in the store (lost, doubled or mixed-up
// jobs, outbox entries, task messages), so the test reads the queue feederd fills, with no worker
// taking messages away; running 184 identical encodes after that would test encoding, which the
// tests above and the encode tests do. (It did: 184 poster jobs cost about 1 s of CPU each.)
test('200 concurrent submissions from four clients: all accepted once, idempotency keys honoured, each job queued once with its own outputs', async (t) => {
  const d = dir();
  const f = await startFeederd(d, { workers: 0 });
  running.push(f);
  const clip = makeClip(join(d, 'tiny.mp4'), { seconds: 0.5, width: 96, height: 64, audioChannels: 0 });
  const clients = Array.from({ length: 4 }, () => new ApiClient(f.client.endpoint));
  // 180 distinct jobs, and 20 submissions sharing 4 idempotency keys across the clients.
  const uri = (i: number) => join(d, 'out', i < 180 ? `j${i}.webp` : `k${i % 4}.webp`);
  const bodies = Array.from({ length: 200 }, (_, i) => ({
    input: clip,
    outputs: [{ preset: 'poster', uri: uri(i) }],
    ...(i < 180 ? {} : { idempotencyKey: `key-${i % 4}` }),
  }));
  const t0 = Date.now();
  const answers = await Promise.all(bodies.map((b, i) => clients[i % 4]!.createJob(b)));
  t.diagnostic(`200 submissions took ${Date.now() - t0} ms`);
  const ids = new Set(answers.map((a) => a.job.id));
  assert.equal(ids.size, 184, '180 jobs plus one per idempotency key');
  assert.equal(answers.filter((a) => a.created).length, 184);
  for (let k = 0; k < 4; k++)
    assert.equal(
      new Set(
        answers
          .slice(180)
          .filter((_, i) => i % 4 === k)
          .map((a) => a.job.id),
      ).size,
      1,
      `key-${k} made one job`,
    );
  // Every job as its own request asked, read back from the API.
  const listed = await f.client.listJobs({ limit: 1000 });
  assert.equal(listed.jobs.length, 184);
  for (const [i, a] of answers.entries())
    assert.equal(a.job.outputs[0]!.uri, uri(i), `answer ${i} is the job it asked for`);
  // The outbox turns each job into exactly one task message, naming that job's own output.
  await until(() => storeState(f.home).queued >= 184, 60_000, 'the outbox to send every task');
  const messages = queuedTasks(f.home);
  assert.equal(messages.length, 184, 'one task message per job, none doubled');
  const byJob = new Map(answers.map((a, i) => [a.job.id, uri(i)]));
  assert.deepEqual(new Set(messages.map((m) => m.jobId)), ids, 'every job has its message');
  for (const m of messages) assert.deepEqual(m.outputs, [byJob.get(m.jobId)], `job ${m.jobId}'s own output`);
  const s = storeState(f.home);
  assert.deepEqual(s.byState, { queued: 184 });
  assert.equal(s.leased, 0);
  await f.stop();
});

/** The task messages waiting in the local queue: job id and output URIs. */
function queuedTasks(home: string): Array<{ jobId: string; outputs: string[] }> {
  const db = openDatabase(join(home, 'nommer.db'), { readonly: true });
  try {
    const rows = db.prepare("SELECT body FROM queue_messages WHERE queue = 'tasks'").all() as Array<{ body: string }>;
    return rows.map((r) => {
      const m = taskMessage().parse(JSON.parse(r.body));
      return { jobId: m.jobId, outputs: m.outputs.map((o) => o.uri) };
    });
  } finally {
    db.close();
  }
}

test('SIGTERM with no grace: the worker releases its task, feederd exits within its bound; after a restart the job finishes', async () => {
  const d = dir();
  const held = await startHeld(d, { workers: 1, extraArgs: ['--shutdown-grace', '0'] });
  let f = held.f;
  const clip = longClip(d, 'g.mp4');
  const j = await create(f, { input: clip, outputs: [{ preset: 'webm' }], set: FAST_VIDEO });
  await waitForEncoder(f, j.id, `${d}/.g.webm.`);
  held.paced.release();
  const pid = f.proc.pid!;
  const t0 = Date.now();
  await f.stop();
  assert.ok(Date.now() - t0 < 15_000, `stopped in ${Date.now() - t0} ms`);
  assert.equal(f.proc.exitCode, 0);
  assert.deepEqual(workersOf(pid), [], 'its workers are gone');
  await until(() => ffmpegPids(d).length === 0, 5000, 'ffmpeg to stop');
  assert.deepEqual(partialFiles(d), []);
  assert.equal(storeState(f.home).byState.queued, 1, 'the released job is queued again');
  assert.equal(storeState(f.home).leased, 0);
  f = await feederd(d, { workers: 1, env: held.paced.env });
  running.push(f);
  assert.equal((await waitForJob(f.client, j.id, isFinal, 240_000)).state, 'succeeded');
  await assertClean(f, d, { jobs: 1 });
  await f.stop();
});

test('a second SIGTERM forces: work is released at once instead of waiting out a long grace', async () => {
  const d = dir();
  const { f } = await startHeld(d, { workers: 1, extraArgs: ['--shutdown-grace', '120'] });
  const clip = longClip(d, 's.mp4');
  const j = await create(f, { input: clip, outputs: [{ preset: 'webm-2pass' }] });
  // Pass 1 writes no file, so look for the input in ffmpeg's arguments (ffprobe does not count).
  await waitForEncoder(f, j.id, clip);
  const t0 = Date.now();
  f.proc.kill('SIGTERM');
  await sleep(1000);
  f.proc.kill('SIGTERM');
  await f.stop();
  assert.ok(Date.now() - t0 < 15_000, `stopped in ${Date.now() - t0} ms (grace was 120 s)`);
  await until(() => ffmpegPids(d).length === 0, 5000, 'ffmpeg to stop');
  assert.deepEqual(partialFiles(d), []);
  const s = storeState(f.home);
  assert.equal(s.byState.queued, 1, `the job was released, not left running: ${JSON.stringify(s.byState)}`);
  assert.equal(s.leased, 0, 'no stuck lease');
});

test('`nommer feederd stop` returns only when feederd and its workers are gone', async () => {
  const d = dir();
  const { f } = await startHeld(d, { workers: 1 });
  const clip = longClip(d, 'n.mp4');
  const j = await create(f, { input: clip, outputs: [{ preset: 'webm' }] });
  await waitForEncoder(f, j.id, `${d}/.n.webm.`);
  const pid = f.proc.pid!;
  const r = await nommer(['feederd', 'stop'], { env: { NOMMER_HOME: f.home }, cwd: d, timeoutMs: 60_000 });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, new RegExp(`feederd \\(pid ${pid}\\) stopped`));
  assert.throws(() => process.kill(pid, 0), 'feederd has exited when stop returns');
  assert.deepEqual(workersOf(pid), []);
  assert.equal(existsSync(join(f.home, 'feederd.pid')), false);
  assert.deepEqual(partialFiles(d), []);
  assert.equal(storeState(f.home).leased, 0);
});

test('SIGTERM to one worker: it finishes or releases within its grace and exits; feederd replaces it and the job succeeds', async () => {
  const d = dir();
  const { f, paced } = await startHeld(d, { workers: 1 });
  const clip = longClip(d, 'w.mp4');
  const j = await create(f, { input: clip, outputs: [{ preset: 'webm' }], set: FAST_VIDEO });
  const pid = (await waitForEncoder(f, j.id, `${d}/.w.webm.`)).workerPid;
  // Held, the encode cannot end within the worker's 2 s grace: it is released, and done again at full speed.
  paced.release();
  const t0 = Date.now();
  process.kill(pid, 'SIGTERM');
  await until(
    () => {
      try {
        process.kill(pid, 0);
        return false;
      } catch {
        return true;
      }
    },
    15_000,
    'the worker to exit',
  );
  assert.ok(Date.now() - t0 < 15_000, 'within grace (2 s) plus reporting');
  const done = await waitForJob(f.client, j.id, isFinal, 240_000);
  assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
  await assertClean(f, d, { jobs: 1 });
  await f.stop();
});
