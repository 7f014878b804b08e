// Faults of chunked jobs on the local backend, with a real feederd, two real workers and real
// ffmpeg: a chunk that fails for good while another chunk is mid-encode fails the job and stops
// every other chunk (no ffmpeg left, no piece lands in the job's scratch dir, no temp file
// anywhere); a retry of that failed job re-queues the chunks whose pieces cleanup removed, so
// the fleet encodes them again as chunk tasks (not the assembler repairing them one by one), and
// the output is whole.
//
// How a chunk is made to fail for good, deterministically: once the first chunk's ffmpeg runs,
// the test freezes it (SIGSTOP: that chunk is now surely mid-encode, and its worker heartbeats
// on) and replaces the input with garbage by a rename. ffmpegs that already opened the input read
// the old file; every task that opens it from then on finds garbage (INPUT_UNDECODABLE, not
// retriable). The frozen ffmpeg must be stopped by its worker when the fence arrives (SIGTERM
// stays pending on a stopped process, so only the runner's SIGKILL after its grace ends it).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { openDatabase } from '../src/adapters/local/db.js';
import type { PublicJob } from '../src/orchestrator/api.js';
import { probeDecoded } from './helpers/chunk-probe.js';
import { makeClip, tempDir } from './helpers/media.js';
import { pidsMatching, startFeederd, type RunningFeederd } from './helpers/feederd.js';
import { ffmpegPids, parentPid, partialFiles, sleep, storeState, until, workersOf } from './helpers/faults.js';
import { pacedFfmpeg } from './helpers/paced-ffmpeg.js';
import { sharedOnce } from './helpers/shared-once.js';
import { CHUNKED_WEBM } from './helpers/srv-cheap.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
const frozen = new Set<number>();
after(async () => {
  for (const pid of frozen) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  // A failed test leaves feederd up: stop it (its workers stop with it), and let the workers of a
  // feederd a test killed finish, so nothing of this file runs on after it.
  for (const f of running)
    if (f.proc.exitCode === null && f.proc.signalCode === null)
      await Promise.race([f.stop(), sleep(15_000)]).catch(() => undefined);
  for (const f of running) await f.kill().catch(() => undefined);
  await until(
    () => running.every((f) => workersOf(f.proc.pid!).length === 0),
    30_000,
    'every worker of this file to exit',
  ).catch(() => undefined);
  for (const d of dirs) d.cleanup();
});

// The fastest libvpx speed and no quality record: these tests are about faults and cleanup, not the picture.
const SET = CHUNKED_WEBM;
// 8 s at 2 s a chunk, two workers: four video chunks (two full waves) + audio -> assemble. Half
// the frames of 16 s in 4 s chunks, the same tasks; held encodes read at half real time (below),
// so a held chunk's ffmpeg still runs at least 4 s. The clip chunked-aws and chunked.test.ts use.
const CONFIG = { chunking: { enabled: true, thresholdSeconds: 5, chunkSeconds: 2 } };
const CLIP = { seconds: 8, width: 160, height: 120 };
/** Held encodes read their input at this times real time: a 2 s chunk lasts 4 s or more. */
const HELD_RATE = 0.5;

/**
 * One feederd with two workers for the file's tests (each start costs about 5 s of CPU with its
 * workers): they run one after another, each job in a folder of its own under the feederd's,
 * each waiting until nothing of its job runs before it ends. Its ffmpeg is the paced wrapper,
 * held only inside failMidEncode. The last test SIGKILLs it and starts another in its place.
 */
const shared = sharedOnce(async () => {
  const t = tempDir('nommer-chunk-fault-');
  dirs.push(t);
  const paced = pacedFfmpeg();
  const f = await startFeederd(t.path, { workers: 2, config: CONFIG, env: paced.env });
  running.push(f);
  return { f, root: t.path, paced };
});

/** A folder for one test's input and output, under the shared feederd's. */
const jobDir = (root: string) => mkdtempSync(join(root, 'job-'));
const FRAMES = CLIP.seconds * 25;

interface TaskView {
  id: string;
  type: string;
  state: string;
  attempt: number;
  worker: string | null;
  progress: number;
  error: { code: string } | null;
}
interface Detail {
  job: PublicJob;
  tasks: TaskView[];
  events: Array<{ type: string; attempt: number; data: Record<string, unknown> | null }>;
}
const detail = (f: RunningFeederd, id: string) => f.client.getJob(id);
const isFinalState = (s: string) => s === 'succeeded' || s === 'failed' || s === 'canceled';

async function pollJob(
  f: RunningFeederd,
  id: string,
  pred: (d: Detail) => boolean,
  timeoutMs: number,
  what: string,
  /** 500 where only the end is awaited (each request costs feederd and the test CPU); 100 where the test acts on what it sees. */
  everyMs = 100,
): Promise<Detail> {
  const deadline = Date.now() + timeoutMs;
  let last: Detail | undefined;
  while (Date.now() < deadline) {
    last = await detail(f, id);
    if (pred(last)) return last;
    await sleep(everyMs);
  }
  throw new Error(
    `timed out after ${timeoutMs} ms waiting for ${what}; last: ${JSON.stringify(last?.job)} ${JSON.stringify(last?.tasks)}`,
  );
}

function argvOf(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** ffmpeg encoders (exec'd already, not the setpriv wrapper, not ffprobe) reading `input`. */
function encodersOf(input: string): number[] {
  return pidsMatching(input).filter((pid) => {
    const argv = argvOf(pid);
    return !!argv && /(^|\/)ffmpeg$/.test(argv[0] ?? '') && argv.some((a) => a.includes(input));
  });
}

/** The state letter of /proc/<pid>/stat (R, S, T, Z...), or undefined once it is gone. */
function procState(pid: number): string | undefined {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).split(' ')[0];
  } catch {
    return undefined;
  }
}
const alive = (pid: number) => {
  const s = procState(pid);
  return s !== undefined && s !== 'Z';
};

/** The assemble task's params (scratch prefix) and, once it ran, its result, from the store. */
function assembleRow(
  home: string,
  jobId: string,
): { scratch: string; result: { frames?: number; repaired?: unknown[] } | null } {
  const db = openDatabase(join(home, 'nommer.db'), { readonly: true });
  try {
    const r = db.prepare("SELECT params, result FROM tasks WHERE job_id = ? AND type = 'assemble'").get(jobId) as {
      params: string;
      result: string | null;
    };
    return {
      scratch: (JSON.parse(r.params) as { scratch: string }).scratch,
      result: r.result ? JSON.parse(r.result) : null,
    };
  } finally {
    db.close();
  }
}

/** Tasks started (by a worker's first event) after the job's last retry, from the store's history. */
function startsAfterRetry(home: string, jobId: string): string[] {
  const db = openDatabase(join(home, 'nommer.db'), { readonly: true });
  try {
    return (
      db
        .prepare(`SELECT task_id FROM job_events WHERE job_id = ? AND type IN ('started', 'task_started')
      AND id > (SELECT max(id) FROM job_events WHERE job_id = ? AND type = 'retried')`)
        .all(jobId, jobId) as Array<{ task_id: string }>
    ).map((r) => r.task_id);
  } finally {
    db.close();
  }
}

const filesIn = (dir: string): string[] => {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
};

interface Failed {
  f: RunningFeederd;
  /** The shared feederd's folder (its data dir and every test's folder under it). */
  d: string;
  /** This test's folder: its input and output. */
  work: string;
  /** Failed jobs in the store before this one. */
  failedBefore: number;
  home: string;
  clip: string;
  original: string;
  job: PublicJob;
  failed: Detail;
  scratch: string;
  frozenPid: number | null;
  frozenTask: TaskView | null;
}

/**
 * On the shared two-worker feederd, submit a chunked job, wait until `before` chunk tasks succeeded,
 * then (when `freeze`) freeze the next chunk ffmpeg seen, and replace the input with garbage.
 * Resolves once the job is failed. The original input is kept at `original`. Until the garbage
 * is in place every encode is held to half real time (helpers/paced-ffmpeg.ts): a chunk's ffmpeg runs
 * 4 s on any machine, so the one to freeze is not missed, and a task still to start (the audio,
 * after the second wave of chunks) opens the garbage; what runs after that runs at full speed.
 */
async function failMidEncode(opts: { before: number; freeze: boolean }): Promise<Failed> {
  const { f, root: d, paced } = await shared();
  const work = jobDir(d);
  const failedBefore = storeState(f.home).byState.failed ?? 0;
  paced.hold(HELD_RATE);
  const clip = makeClip(join(work, 'film.mp4'), CLIP);
  const original = join(work, 'film.original.mp4');
  copyFileSync(clip, original);
  const job = (
    await f.client.createJob({
      input: clip,
      outputs: [{ preset: 'webm', uri: join(work, 'out', 'film.webm') }],
      set: SET,
      chunked: true,
    })
  ).job;
  const { scratch } = assembleRow(f.home, job.id);
  assert.ok(scratch.startsWith(join(f.home, 'chunks')), `scratch ${scratch} is under the data dir's chunks/`);
  const first = await detail(f, job.id);
  assert.equal(
    first.tasks.filter((x) => x.type === 'chunk' || x.type === 'audio').length,
    5,
    'four video chunks and the audio',
  );

  if (opts.before > 0) {
    await pollJob(
      f,
      job.id,
      (x) =>
        x.tasks.filter((k) => k.type === 'chunk' && k.state === 'succeeded').length >= opts.before ||
        isFinalState(x.job.state),
      120_000,
      `${opts.before} chunks to succeed`,
    );
  }
  let frozenPid: number | null = null;
  let frozenTask: TaskView | null = null;
  if (opts.freeze) {
    // A tight poll: a chunk's ffmpeg runs for 4 s (held), so it is not missed.
    const deadline = Date.now() + 60_000;
    while (frozenPid === null) {
      assert.ok(Date.now() < deadline, 'no chunk ffmpeg seen within 60 s');
      for (const pid of encodersOf(clip)) {
        try {
          process.kill(pid, 'SIGSTOP');
        } catch {
          continue;
        }
        frozen.add(pid);
        await until(() => procState(pid) !== 'R', 2000, `ffmpeg ${pid} to stop`);
        if (procState(pid) === 'T') {
          frozenPid = pid;
          break;
        }
        // It finished between the look and the signal: try the next one.
        frozen.delete(pid);
      }
      if (frozenPid === null) await sleep(20);
    }
    // Which task it encodes: the running chunk task of the worker that is its parent.
    const worker = argvOf(parentPid(frozenPid)!)
      ?.join(' ')
      .match(/ --id (\S+)/)?.[1];
    assert.ok(worker, 'the frozen ffmpeg belongs to a worker');
    const seen = await pollJob(
      f,
      job.id,
      (x) =>
        x.tasks.some((k) => (k.type === 'chunk' || k.type === 'audio') && k.state === 'running' && k.worker === worker),
      10_000,
      `the frozen ffmpeg's task on ${worker}`,
    );
    frozenTask = seen.tasks.find(
      (k) => (k.type === 'chunk' || k.type === 'audio') && k.state === 'running' && k.worker === worker,
    )!;
  }
  // Garbage, put in place atomically: what already runs reads the old file.
  writeFileSync(join(work, 'garbage.tmp'), randomBytes(256 * 1024));
  renameSync(join(work, 'garbage.tmp'), clip);
  paced.release();
  const failed = await pollJob(f, job.id, (x) => isFinalState(x.job.state), 120_000, 'the job to fail', 500);
  return {
    f,
    d,
    work,
    failedBefore,
    home: f.home,
    clip,
    original,
    job,
    failed,
    scratch: scratch.replace(/\/$/, ''),
    frozenPid,
    frozenTask,
  };
}

test('a chunk that fails for good while another is mid-encode: the job fails with its code, every other chunk stops, no piece lands, nothing partial', async () => {
  const s = await failMidEncode({ before: 0, freeze: true });
  const { f, d, failed } = s;
  const failedAt = Date.now();
  assert.equal(failed.job.state, 'failed', JSON.stringify(failed.job));
  assert.equal(failed.job.error?.code, 'INPUT_UNDECODABLE', JSON.stringify(failed.job.error));
  assert.match(failed.job.error!.message, /film\.mp4|decode/);
  // The frozen chunk was mid-encode when the job failed: it is canceled, not succeeded.
  const frozenNow = failed.tasks.find((k) => k.id === s.frozenTask!.id)!;
  assert.equal(
    frozenNow.state,
    'canceled',
    `the frozen chunk was stopped by the failure: ${JSON.stringify(frozenNow)}`,
  );
  assert.ok(alive(s.frozenPid!), 'its ffmpeg was still there (frozen) when the job failed');
  const failures = failed.tasks.filter((k) => k.state === 'failed');
  assert.equal(failures.length, 1, `one task failed, the rest were canceled: ${JSON.stringify(failed.tasks)}`);
  assert.equal(failures[0]!.error?.code, 'INPUT_UNDECODABLE');

  // Watch the scratch dir from now on: once the failure's sweep emptied it, nothing may land in it.
  let emptied = false;
  const landed: string[] = [];
  const watch = setInterval(() => {
    const names = filesIn(s.scratch);
    if (names.length === 0) emptied = true;
    else if (emptied) landed.push(...names.filter((n) => !landed.includes(n)));
  }, 25);
  try {
    // The worker of the frozen chunk sees the fence within a heartbeat and kills its ffmpeg
    // (SIGTERM waits on a stopped process; the runner's SIGKILL follows after 3 s).
    await until(() => !alive(s.frozenPid!), 15_000, "the frozen chunk's ffmpeg to be killed by its worker");
    frozen.delete(s.frozenPid!);
    await until(() => ffmpegPids(d).length === 0, 10_000, 'no ffmpeg or ffprobe left for the job');
    const stoppedMs = Date.now() - failedAt;
    await until(() => emptied, 10_000, "the failure's sweep to empty the scratch dir");
    await until(
      () => {
        const st = storeState(f.home);
        return st.runningTasks === 0 && st.leased === 0;
      },
      15_000,
      'no running task and no leased message',
    );
    // Past the second sweep (3 leases after the failure), so a late piece would have had its chance.
    const resweep = failedAt + 3 * 4000 + 1000;
    while (Date.now() < resweep) await sleep(100);
    assert.deepEqual(landed, [], `pieces written into the scratch dir after the job failed: ${landed.join(', ')}`);
    console.log(`# other chunks stopped ${stoppedMs} ms after the failure`);
  } finally {
    clearInterval(watch);
  }
  assert.deepEqual(filesIn(s.scratch), [], 'scratch dir gone or empty');
  assert.deepEqual(filesIn(join(s.home, 'chunks')), [], 'nothing left under chunks/');
  assert.deepEqual(partialFiles(d), [], 'no .nommer-part anywhere');
  assert.equal(existsSync(join(s.work, 'out', 'film.webm')), false, 'no output for a failed job');
  const st = storeState(f.home);
  assert.equal(st.queued, 0, 'no task message left in the queue');
  assert.equal(st.byState.failed, s.failedBefore + 1);
  // The job failed once: the canceled chunk's late word changed nothing.
  const again = await detail(f, s.job.id);
  assert.equal(again.events.filter((e) => e.type === 'failed').length, 1);
  assert.equal(again.job.state, 'failed');
});

test('retry of a failed chunked job re-queues the chunks whose pieces cleanup removed: the fleet encodes them again as chunk tasks, the assembler repairs nothing, the output is whole', async () => {
  const s = await failMidEncode({ before: 2, freeze: false });
  const { f, d, failed } = s;
  assert.equal(failed.job.state, 'failed', JSON.stringify(failed.job));
  assert.equal(failed.job.error?.code, 'INPUT_UNDECODABLE', JSON.stringify(failed.job.error));
  const doneBefore = failed.tasks.filter((k) => k.type === 'chunk' && k.state === 'succeeded');
  assert.ok(doneBefore.length >= 2, `at least two chunks had succeeded: ${JSON.stringify(failed.tasks)}`);
  // Settle: every fenced chunk stopped, the sweep removed every piece.
  await until(() => ffmpegPids(d).length === 0, 15_000, 'no ffmpeg left');
  await until(
    () => {
      const st = storeState(f.home);
      return st.runningTasks === 0 && st.leased === 0;
    },
    15_000,
    'no running task and no leased message',
  );
  await until(() => filesIn(s.scratch).length === 0, 10_000, 'the sweep to remove the pieces');
  renameSync(s.original, s.clip);

  const before = await detail(f, s.job.id);
  const attemptOf = new Map(before.tasks.map((k) => [k.id, k.attempt]));
  const r = await f.client.retryJob(s.job.id);
  assert.equal(r.job.state, 'queued');
  const requeued = await detail(f, s.job.id);
  for (const k of doneBefore) {
    const now = requeued.tasks.find((x) => x.id === k.id)!;
    assert.notEqual(
      now.state,
      'succeeded',
      `chunk ${k.id} (piece removed) is queued again, not kept as succeeded: ${JSON.stringify(now)}`,
    );
  }
  const done = await pollJob(f, s.job.id, (x) => isFinalState(x.job.state), 180_000, 'the retried job to finish', 500);
  assert.equal(done.job.state, 'succeeded', JSON.stringify(done.job.error));
  const chunks = done.tasks.filter((k) => k.type === 'chunk');
  for (const k of chunks) {
    assert.equal(k.state, 'succeeded');
    assert.ok(
      k.attempt > attemptOf.get(k.id)!,
      `chunk task ${k.id} ran again (attempt ${attemptOf.get(k.id)} -> ${k.attempt})`,
    );
    assert.ok(k.worker, `chunk task ${k.id} says which worker ran it`);
  }
  // The retry's chunk tasks were started by workers as chunk tasks, in parallel on both workers.
  // (The API's events do not name their task: read the store's history.)
  const startedAfter = new Set(startsAfterRetry(f.home, s.job.id));
  for (const k of doneBefore) assert.ok(startedAfter.has(k.id), `chunk ${k.id} was started again after the retry`);
  assert.equal(
    new Set(chunks.map((k) => k.worker)).size,
    2,
    `both workers encoded chunks after the retry: ${JSON.stringify(chunks.map((k) => k.worker))}`,
  );
  const asm = assembleRow(f.home, s.job.id);
  assert.ok(asm.result, 'the assemble task reported a result');
  assert.deepEqual(asm.result!.repaired, [], `the assembler repaired nothing: ${JSON.stringify(asm.result)}`);
  const out = join(s.work, 'out', 'film.webm');
  const p = probeDecoded(out);
  const v = p.streams.find((x) => x.codec_type === 'video')!;
  assert.equal(v.codec_name, 'vp9');
  assert.equal(Number(v.nb_read_frames), FRAMES, 'every frame of the source');
  assert.equal(p.streams.find((x) => x.codec_type === 'audio')?.codec_name, 'opus');
  assert.ok(Math.abs(Number(p.format.duration) - CLIP.seconds) < 0.2, `duration ${p.format.duration}`);
  assert.ok(p.clean, p.errors);
  await until(
    () => filesIn(join(s.home, 'chunks')).length === 0,
    10_000,
    'the intermediates to be removed after assembly',
  );
  assert.deepEqual(partialFiles(d), []);
});

// Last in the file: it SIGKILLs the shared feederd.
test("feederd SIGKILLed right after a chunked job is canceled: once it is restarted, the job's intermediates are removed", async () => {
  const { root: d, paced } = await shared();
  let { f } = await shared();
  paced.release();
  const work = jobDir(d);
  const clip = makeClip(join(work, 'film.mp4'), CLIP);
  const job = (
    await f.client.createJob({
      input: clip,
      outputs: [{ preset: 'webm', uri: join(work, 'out', 'film.webm') }],
      set: SET,
      chunked: true,
    })
  ).job;
  const { scratch } = assembleRow(f.home, job.id);
  await pollJob(
    f,
    job.id,
    (x) =>
      x.tasks.filter((k) => k.type === 'chunk' && k.state === 'succeeded').length >= 2 || isFinalState(x.job.state),
    120_000,
    'two chunks to succeed',
  );
  await f.client.cancelJob(job.id);
  // Killed as soon as the cancel is answered: the sweep it started may not have run to the end.
  await f.kill();
  const leftAtKill = filesIn(scratch);
  console.log(
    `# pieces in the scratch dir when feederd died: ${leftAtKill.length ? leftAtKill.join(', ') : 'none (its sweep was done)'}`,
  );
  // No workers: the sweep is feederd's own, and the job has nothing left to run.
  f = await startFeederd(d, { workers: 0, config: CONFIG });
  running.push(f);
  assert.equal((await detail(f, job.id)).job.state, 'canceled');
  // Within its resweep delay (3 leases) and then some.
  const deadline = Date.now() + 3 * 4000 + 8000;
  while (filesIn(scratch).length > 0 && Date.now() < deadline) await sleep(200);
  assert.deepEqual(
    filesIn(scratch),
    [],
    `a canceled job's intermediates outlive a feederd restart: ${filesIn(scratch).join(', ')} in ${scratch}`,
  );
  await until(() => ffmpegPids(d).length === 0, 10_000, 'no ffmpeg left');
  assert.deepEqual(partialFiles(d), []);
  await f.stop();
});
