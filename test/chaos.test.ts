// One bounded chaos run on the local backend, with real processes: a batch of small jobs (webm,
// opus and poster outputs, and one chunked webm) on two workers, while a seeded random schedule
// SIGKILLs workers mid-encode, SIGKILLs feederd and restarts it on the same data dir, cancels
// jobs and retries them, and holds SQLite's write lock on the store (a short hold that stalls
// everyone, and one past the busy timeout, so workers' status publishes, heartbeats and feederd's
// own writes fail with SQLITE_BUSY). Then every job the chaos left canceled or failed is retried,
// and the end state is what a user relies on: every job succeeded with a whole output (right
// codec, duration of its source), nothing partial, no orphan ffmpeg or worker, no leased message,
// no running task, no chunk intermediates.
//
// The schedule is driven by what the test observes (act when an ffmpeg of this test runs, wait
// for the killed worker's replacement), every wait is bounded, and nothing that decides pass or
// fail depends on how fast the machine is. The seed is printed; NOMMER_CHAOS_SEED=<n> replays
// the same schedule (the same actions in the same order on the same kinds of targets).
import { mulberry32 } from '../bench/sim-core.js';
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { NommerError } from '../src/errors.js';
import { makeClip, probe, tempDir } from './helpers/media.js';
import { pidsMatching, startFeederd, type RunningFeederd } from './helpers/feederd.js';
import { ffmpegPids, parentPid, partialFiles, sleep, storeState, until, workersOf } from './helpers/faults.js';
import { CHEAP_WEBM } from './helpers/srv-cheap.js';

const SEED = process.env.NOMMER_CHAOS_SEED
  ? Number(process.env.NOMMER_CHAOS_SEED) >>> 0
  : (Date.now() ^ (process.pid << 8)) >>> 0;

const feederds: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  // A failed run leaves feederd up: stop it (its workers stop with it), and let the workers of
  // the feederds the chaos killed finish, so nothing of this test runs on after it.
  for (const f of feederds)
    if (f.proc.exitCode === null && f.proc.signalCode === null)
      await Promise.race([f.stop(), sleep(15_000)]).catch(() => undefined);
  for (const f of feederds) await f.kill().catch(() => undefined);
  await until(
    () => feederds.every((f) => workersOf(f.proc.pid!).length === 0),
    30_000,
    'every worker of this test to exit',
  ).catch(() => undefined);
  // NOMMER_CHAOS_KEEP=1 keeps the data dir (store, workers.log) to look at after a failure.
  if (!process.env.NOMMER_CHAOS_KEEP) for (const d of dirs) d.cleanup();
});

/** A seeded PRNG (mulberry32, shared with the benchmarks), so a run can be replayed. */
const prng = mulberry32;

const argvOf = (pid: number): string[] | undefined => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
};
const gone = (pid: number): boolean => {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return s.slice(s.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
};

/** Running ffmpeg encoders (exec'd, not ffprobe) under `dir`, with the worker (pid, id) running each. */
function encoders(dir: string): Array<{ ffmpeg: number; worker: number; workerId: string; target: string }> {
  const out = [];
  for (const pid of pidsMatching(dir)) {
    const argv = argvOf(pid);
    if (!argv || !/(^|\/)ffmpeg$/.test(argv[0] ?? '')) continue;
    const worker = parentPid(pid);
    const wargv = worker === undefined ? undefined : argvOf(worker);
    const i = wargv?.indexOf('--id') ?? -1;
    if (!wargv || i < 0) continue;
    out.push({ ffmpeg: pid, worker: worker!, workerId: wargv[i + 1]!, target: argv.filter(Boolean).pop()! });
  }
  return out;
}

/** Poll `look` every 20 ms until it returns something, for at most timeoutMs; null when it never did. */
async function watchFor<T>(look: () => T | undefined | null, timeoutMs: number): Promise<T | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = look();
    if (v !== undefined && v !== null) return v;
    if (Date.now() > deadline) return null;
    await sleep(20);
  }
}

interface Spec {
  name: string;
  clip: 'a' | 'b' | 'c';
  preset: 'webm' | 'opus' | 'poster';
  chunked?: boolean;
}
// Ten jobs: four webm, three opus, two posters, one chunked webm.
const SPECS: Spec[] = [
  { name: 'w1', clip: 'a', preset: 'webm' },
  { name: 'o1', clip: 'a', preset: 'opus' },
  { name: 'p1', clip: 'b', preset: 'poster' },
  { name: 'w2', clip: 'b', preset: 'webm' },
  { name: 'k1', clip: 'c', preset: 'webm', chunked: true },
  { name: 'o2', clip: 'b', preset: 'opus' },
  { name: 'w3', clip: 'a', preset: 'webm' },
  { name: 'p2', clip: 'a', preset: 'poster' },
  { name: 'o3', clip: 'c', preset: 'opus' },
  { name: 'w4', clip: 'c', preset: 'webm' },
];
const CLIPS = {
  a: { seconds: 2, width: 320, height: 240 },
  b: { seconds: 1, width: 160, height: 120 },
  // The chunked job's source: 4 s with a keyframe every second, cut into 1 s chunks.
  c: { seconds: 4, width: 320, height: 240, extra: ['-g', '25'] },
};
const CONFIG = {
  jobs: { leaseSeconds: 4, maxAttempts: 3 },
  chunking: { enabled: false, thresholdSeconds: 600, chunkSeconds: 1 },
};

type Action = 'kill-worker' | 'kill-feederd' | 'cancel-retry' | 'lock-short' | 'lock-long';

test('chaos: worker and feederd SIGKILLs, cancels and retries, a locked store; every job ends succeeded and whole, nothing left behind', {
  timeout: 180_000,
}, async () => {
  console.log(`# chaos seed ${SEED} (replay with NOMMER_CHAOS_SEED=${SEED})`);
  const rand = prng(SEED);
  const t0 = Date.now();
  const log = (s: string) => console.log(`# [${((Date.now() - t0) / 1000).toFixed(1)} s] ${s}`);

  const t = tempDir('nommer-chaos-');
  dirs.push(t);
  const d = t.path;
  mkdirSync(join(d, 'out'));
  log(`data dir ${d}`);
  const clips = Object.fromEntries(
    Object.entries(CLIPS).map(([k, o]) => [k, makeClip(join(d, `${k}.mp4`), o)]),
  ) as Record<Spec['clip'], string>;
  let f = await startFeederd(d, { workers: 2, config: CONFIG });
  feederds.push(f);
  const deadFeederds: number[] = [];

  const ext = { webm: 'webm', opus: 'opus', poster: 'webp' } as const;
  const jobs: Array<{ spec: Spec; id: string; out: string }> = [];
  const submit = async (spec: Spec) => {
    const out = join(d, 'out', `${spec.name}.${ext[spec.preset]}`);
    const r = await f.client.createJob({
      input: clips[spec.clip],
      outputs: [{ preset: spec.preset, uri: out }],
      // The fastest libvpx speed and no quality record: the chaos is about faults and recovery, not the picture.
      ...(spec.preset === 'webm' ? { set: CHEAP_WEBM } : {}),
      ...(spec.chunked ? { chunked: true } : {}),
    });
    jobs.push({ spec, id: r.job.id, out });
  };
  // A feederd that cannot be reached says how it ended and what it last wrote (seen once: gone
  // during the settle, with nothing else to go on).
  const listJobs = async () => {
    try {
      return (await f.client.listJobs({ limit: 1000 })).jobs;
    } catch (err) {
      throw new Error(`${(err as Error).message}; ${f.describe()}`);
    }
  };

  // The schedule: every kind of fault at least once, in a seeded order.
  const actions: Action[] = [
    'kill-worker',
    'kill-worker',
    'kill-worker',
    'kill-feederd',
    'kill-feederd',
    'cancel-retry',
    'cancel-retry',
    'cancel-retry',
    'lock-short',
    'lock-long',
  ];
  for (let i = actions.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [actions[i], actions[j]] = [actions[j]!, actions[i]!];
  }
  log(`schedule: ${actions.join(', ')}`);

  const canceledByTest = new Set<string>();
  const deferredRetry: string[] = [];
  const retry = async (id: string, why: string) => {
    try {
      await f.client.retryJob(id);
      log(`retried ${id} (${why})`);
      return true;
    } catch (err) {
      if (err instanceof NommerError && err.code === 'JOB_STATE') return false;
      throw err;
    }
  };
  const stats: Record<string, number> = {};
  const count = (k: string) => {
    stats[k] = (stats[k] ?? 0) + 1;
  };
  let next = 0;
  // Waits for "something is encoding" below are bounded: a miss (the batch is between jobs, or
  // done) makes the action act on what there is, or skip; it never decides the outcome.
  const ENCODER_WAIT_MS = 8000;

  for (const action of actions) {
    // This step's random numbers, drawn up front: what happens to be observed (how many jobs run,
    // whether a cancel lost the race) must not shift the sequence, or a seed would not replay.
    const [rWave, rTarget, rHold, rWhen] = [rand(), rand(), rand(), rand()];
    const choose = <T>(xs: readonly T[]): T | undefined => xs[Math.floor(rTarget * xs.length)];
    // Feed the batch in waves, so there is work to disturb at every step.
    for (let k = next === 0 ? 3 : 1 + Math.floor(rWave * 2); k > 0 && next < SPECS.length; k--)
      await submit(SPECS[next++]!);
    switch (action) {
      case 'kill-worker': {
        // Only this feederd's workers: it removes a dead child's scratch and temp outputs.
        const hit = await watchFor(() => {
          const mine = new Set(workersOf(f.proc.pid!));
          return choose(encoders(d).filter((e) => mine.has(e.worker)));
        }, ENCODER_WAIT_MS);
        if (!hit) {
          log('kill-worker: nothing encoding; skipped');
          count('skipped');
          break;
        }
        process.kill(hit.worker, 'SIGKILL');
        log(`SIGKILLed worker ${hit.workerId} mid-encode (ffmpeg ${hit.ffmpeg} writing ${hit.target.replace(d, '')})`);
        count(action);
        // Its replacement comes up (feederd removed its scratch and temp outputs on its exit).
        await until(
          () => gone(hit.worker) && workersOf(f.proc.pid!).length >= 2,
          15_000,
          'the killed worker to be replaced',
        );
        break;
      }
      case 'kill-feederd': {
        const hit = await watchFor(() => encoders(d)[0], ENCODER_WAIT_MS);
        const pid = f.proc.pid!;
        await f.kill();
        deadFeederds.push(pid);
        log(
          `SIGKILLed feederd ${pid}${hit ? ` while ${hit.workerId} was encoding ${hit.target.replace(d, '')}` : ''}; restarting it on the same data dir`,
        );
        count(action);
        f = await startFeederd(d, { workers: 2, config: CONFIG });
        feederds.push(f);
        break;
      }
      case 'cancel-retry': {
        // Deferred retries of earlier cancels are done now, before a new cancel.
        while (deferredRetry.length) await retry(deferredRetry.shift()!, 'deferred after its cancel');
        const live = (await listJobs()).filter((j) => j.state === 'running' || j.state === 'queued');
        const running = live.filter((j) => j.state === 'running');
        const victim = choose(running.length ? running : live);
        if (!victim) {
          log('cancel-retry: no live job; skipped');
          count('skipped');
          break;
        }
        try {
          await f.client.cancelJob(victim.id);
        } catch (err) {
          if (err instanceof NommerError && err.code === 'JOB_STATE') {
            log(`cancel of ${victim.id}: it finished first`);
            break;
          }
          throw err;
        }
        canceledByTest.add(victim.id);
        count(action);
        const now = rWhen < 0.5;
        log(
          `canceled ${victim.id} (${jobs.find((j) => j.id === victim.id)?.spec.name}, ${victim.state}/${victim.phase ?? '-'}); retry ${now ? 'at once' : 'later'}`,
        );
        if (now) await retry(victim.id, 'right after its cancel');
        else deferredRetry.push(victim.id);
        break;
      }
      case 'lock-short':
      case 'lock-long': {
        const hit = await watchFor(() => encoders(d)[0], ENCODER_WAIT_MS);
        // Past the busy timeout (5 s), publishes, heartbeats and claims fail with SQLITE_BUSY.
        const holdMs = action === 'lock-long' ? 6500 : 300 + Math.floor(rHold * 600);
        const db = new Database(join(f.home, 'nommer.db'), { timeout: 10_000 });
        try {
          db.exec('BEGIN EXCLUSIVE');
          log(
            `holding the store's write lock for ${holdMs} ms${hit ? ` while ${hit.workerId} encodes ${hit.target.replace(d, '')}` : ''}`,
          );
          await sleep(holdMs);
          db.exec('COMMIT');
        } finally {
          db.close();
        }
        count(action);
        break;
      }
    }
  }
  while (next < SPECS.length) await submit(SPECS[next++]!);
  for (const id of deferredRetry.splice(0)) await retry(id, 'deferred after its cancel');
  log(`chaos over: ${JSON.stringify(stats)}`);

  // Settle: every job final; retry what the chaos left canceled or failed (a job the test canceled
  // is retried whatever happened to it since), until every job succeeded. Bounded by rounds.
  const retries = new Map<string, number>();
  const settleDeadline = Date.now() + 120_000;
  for (;;) {
    const all = await listJobs();
    assert.equal(all.length, jobs.length, 'no job lost, none invented');
    if (all.every((j) => j.state === 'succeeded')) break;
    if (Date.now() >= settleDeadline) {
      // Each job left with its tasks, so a stuck graph says where it stopped.
      const left = all.filter((j) => j.state !== 'succeeded');
      const detail = await Promise.all(left.map((j) => f.client.getJob(j.id)));
      assert.fail(
        `jobs not all succeeded in time: ${JSON.stringify(
          detail.map((d) => ({
            id: d.job.id,
            state: d.job.state,
            error: d.job.error,
            tasks: d.tasks.map((t) => `${t.id.split('.').pop()}:${t.state}#${t.attempt}`),
          })),
        )}`,
      );
    }
    for (const j of all) {
      if (j.state !== 'failed' && j.state !== 'canceled') continue;
      const n = retries.get(j.id) ?? 0;
      const spec = jobs.find((x) => x.id === j.id)!;
      // A cancel that lands after the worker committed the output, before feederd applied its
      // success, leaves the job canceled with its whole output in place; every retry then fails.
      if (j.error?.code === 'OUTPUT_EXISTS' && canceledByTest.has(j.id)) {
        const events = (await f.client.getJob(j.id)).events;
        const canceledAt = events.filter((e) => e.type === 'canceled').map((e) => Date.parse(e.at));
        const written = existsSync(spec.out) ? statSync(spec.out).mtimeMs : NaN;
        assert.fail(
          `job ${j.id} (${spec.spec.name}) was canceled by the test and its retry fails OUTPUT_EXISTS on its own output (${spec.out}, last written ${Math.round(written)}; canceled at ${canceledAt.join(', ')}): the canceled attempt committed it before the cancel reached its worker (see test/cancel-race.test.ts)`,
        );
      }
      assert.ok(
        n < 3,
        `job ${j.id} (${spec.spec.name}) still ${j.state} after ${n} retries: ${JSON.stringify(j.error)}`,
      );
      if (j.state === 'canceled') assert.ok(canceledByTest.has(j.id), `job ${j.id} was canceled, but not by the test`);
      retries.set(j.id, n + 1);
      await retry(
        j.id,
        j.state === 'failed' ? `failed by the chaos: ${j.error?.code}: ${j.error?.message}` : 'left canceled',
      );
    }
    await sleep(200);
  }
  log(`all ${jobs.length} jobs succeeded; settle retries: ${JSON.stringify(Object.fromEntries(retries))}`);

  // Whole outputs: the right codec, the source's duration.
  for (const j of jobs) {
    // One probe per output: a webm's frames are counted in the same run that reads its codecs.
    const p = probe(j.out, j.spec.preset === 'webm');
    const src = CLIPS[j.spec.clip].seconds;
    const codecs = p.streams.map((s) => s.codec_name).sort();
    if (j.spec.preset === 'webm') {
      assert.deepEqual(codecs, ['opus', 'vp9'], `${j.spec.name}: ${j.out}`);
      const frames = Number(p.streams.find((s) => s.codec_type === 'video')!.nb_read_frames);
      assert.equal(frames, src * 25, `${j.spec.name}: every frame`);
    } else if (j.spec.preset === 'opus') {
      assert.deepEqual(codecs, ['opus'], `${j.spec.name}: ${j.out}`);
    } else {
      assert.deepEqual(codecs, ['webp'], `${j.spec.name}: ${j.out}`);
      continue;
    }
    assert.ok(
      Math.abs(Number(p.format.duration) - src) < 0.15,
      `${j.spec.name}: duration ${p.format.duration}, source ${src} s`,
    );
  }
  assert.deepEqual(
    readdirSync(join(d, 'out')).sort(),
    jobs.map((j) => j.out.slice(join(d, 'out').length + 1)).sort(),
    'exactly the outputs, nothing else in the output dir',
  );

  // Nothing left behind.
  await until(
    () => {
      const s = storeState(f.home);
      return s.runningTasks === 0 && s.leased === 0 && s.queued === 0;
    },
    20_000,
    'no running task, no leased or queued message',
  );
  const s = storeState(f.home);
  assert.equal(s.byState.succeeded, jobs.length);
  assert.equal(s.leased, 0, 'no leased message');
  assert.equal(s.runningTasks, 0, 'no running task');
  await until(
    () => deadFeederds.every((pid) => workersOf(pid).length === 0),
    30_000,
    "the killed feederds' workers to stop",
  );
  await until(() => ffmpegPids(d).length === 0, 10_000, 'no ffmpeg left');
  assert.deepEqual(partialFiles(d), [], 'no partial file anywhere (outputs, scratch, downloads)');
  const chunks = join(f.home, 'chunks');
  await until(() => !existsSync(chunks) || readdirSync(chunks).length === 0, 15_000, 'no chunk intermediates left');
  const busy = (readFileSync(join(f.home, 'workers.log'), 'utf8').match(/SQLITE_BUSY|database is locked/g) ?? [])
    .length;
  log(`done in ${((Date.now() - t0) / 1000).toFixed(1)} s; workers logged ${busy} busy-store errors`);
  await f.stop();
});
