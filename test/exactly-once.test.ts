// Effects happen once although delivery is at-least-once, on the local backend with real parts: a
// real SQLite file (the store, and the queue, status and control tables on it, the worker side
// on its own connection as a worker process has), real Worker objects, real ffmpeg on tiny
// lavfi clips, the real Outbox / StatusApplier / Watchdog / fencing between them. Faults come
// from wrappers around real ports (a status channel that throws, storage that puts a file in the
// way); interleavings are made by construction (a worker held on a promise the test resolves),
// and the tests wait for conditions, never for time.
import { mulberry32 } from '../bench/sim-core.js';
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeClip, tempDir } from './helpers/media.js';
import { probeDecoded } from './helpers/chunk-probe.js';
import { openDatabase, type Db } from '../src/adapters/local/db.js';
import { FsStorage, StorageRouter } from '../src/adapters/local/fs-storage.js';
import { SqliteControl } from '../src/adapters/local/sqlite-control.js';
import { SqliteJobQueue } from '../src/adapters/local/sqlite-queue.js';
import { SqliteStatusChannel } from '../src/adapters/local/sqlite-status.js';
import { NommerError } from '../src/errors.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { queueDeadLetterLimit, workerDeliveryLimit } from '../src/jobs/deliveries.js';
import { createLogger } from '../src/log.js';
import type { StatusEvent, TaskMessage } from '../src/messages.js';
import { attachFencing } from '../src/orchestrator/fencing.js';
import { Outbox } from '../src/orchestrator/outbox.js';
import { StatusApplier } from '../src/orchestrator/status-applier.js';
import { openStore, type JobDetail, type Store } from '../src/orchestrator/store/index.js';
import { Watchdog } from '../src/orchestrator/watchdog.js';
import type { Lease } from '../src/ports/queue.js';
import type { ReceivedStatus, StatusChannel } from '../src/ports/status.js';
import type { PreparedOutput, PrepareOptions, Storage } from '../src/ports/storage.js';
import { getPreset } from '../src/presets/registry.js';
import { Worker, type WorkerDeps } from '../src/worker/worker.js';

const root = tempDir('nommer-exactly-once-');
const dbs: Db[] = [];
const stores: Store[] = [];
const detach: Array<() => void> = [];
after(() => {
  for (const d of detach) d();
  for (const db of dbs) if (db.open) db.close();
  for (const s of stores) if (s.db.open) s.close();
  root.cleanup();
});
const log = createLogger('test', { level: 'silent' });
const ffmpeg = locateFfmpeg();
const MAX_ATTEMPTS = 3;
const OPUS = getPreset('opus') as unknown as { name: string };
const POSTER = getPreset('poster') as unknown as { name: string };
const TERMINAL = new Set(['succeeded', 'failed', 'released']);

let clip: string;
before(() => {
  clip = makeClip(join(root.path, 'in.mp4'), { seconds: 1, width: 160, height: 120, audioChannels: 2 });
});

// ---------------------------------------------------------------------------------------------
// Small tools

/** Poll `pred` until true; the bound only keeps a broken run from hanging (pass/fail is the condition). */
async function waitFor(pred: () => boolean | Promise<boolean>, what: string, boundMs = 60_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

/** nommer's temp names (and overwrite backups) in a directory. */
const partials = (dir: string) => readdirSync(dir).filter((n) => /\.nommer-(part|old)$/.test(n));

/** Timers keeping the process alive. */
const liveTimers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

// One ffprobe per output reads its streams and decodes every frame (helpers/chunk-probe.ts).
function assertWholeOpus(path: string): void {
  const p = probeDecoded(path);
  assert.deepEqual(
    p.streams.map((s) => s.codec_name),
    ['opus'],
    path,
  );
  assert.ok(Math.abs(Number(p.format.duration) - 1) < 0.15, `${path} lasts ${p.format.duration} s, not ~1 s`);
  assert.ok(p.clean, `${path} does not decode cleanly: ${p.errors}`);
}

function assertWholePoster(path: string): void {
  const p = probeDecoded(path);
  assert.equal(p.streams[0]?.codec_name, 'webp', path);
  assert.equal(p.streams[0]?.width, 160);
  assert.ok(p.clean, `${path} does not decode cleanly: ${p.errors}`);
}

/** Nothing in the job's history says OUTPUT_EXISTS (the retried attempt was not blocked by an earlier one's file). */
function assertNoOutputExists(store: Store, id: string): void {
  const hits = store
    .listJobEvents(id)
    .filter((e) => /OUTPUT_EXISTS/.test(e.message) || JSON.stringify(e.data ?? {}).includes('OUTPUT_EXISTS'));
  assert.deepEqual(
    hits.map((e) => e.message),
    [],
    `job ${id}`,
  );
}

const taskOf = (lease: Lease) => lease.body as TaskMessage;

/** A lease that records when it is acked, released or rejected. */
function recorded(lease: Lease, trail: string[]): Lease {
  return {
    body: lease.body,
    receiveCount: lease.receiveCount,
    unfinished: lease.unfinished,
    extend: (s) => lease.extend(s),
    ack: async () => {
      await lease.ack();
      trail.push('ack');
    },
    release: async (d) => {
      await lease.release(d);
      trail.push('release');
    },
    reject: async (r) => {
      await lease.reject(r);
      trail.push('reject');
    },
  };
}

/** The real status channel, with a hook that runs before each publish (it may throw, or hold the worker). */
class HookedStatus implements StatusChannel {
  constructor(
    private readonly real: StatusChannel,
    private readonly hook: (ev: StatusEvent) => void | Promise<void>,
    private readonly published?: (ev: StatusEvent) => void,
  ) {}
  async publish(ev: StatusEvent): Promise<void> {
    await this.hook(ev);
    await this.real.publish(ev);
    this.published?.(ev);
  }
  receive(opts: { max: number; waitSeconds: number; signal?: AbortSignal }): Promise<ReceivedStatus[]> {
    return this.real.receive(opts);
  }
}

/** The real storage, with hooks after an output is prepared and right before each commit. */
class HookedStorage implements Storage {
  constructor(
    private readonly real: Storage,
    private readonly hooks: {
      afterPrepare?: (p: PreparedOutput, opts: PrepareOptions) => void | Promise<void>;
      beforeCommit?: (p: PreparedOutput) => void | Promise<void>;
    },
  ) {}
  handles(uri: string) {
    return this.real.handles(uri);
  }
  fetch(uri: string, destDir: string, opts?: Parameters<Storage['fetch']>[2]) {
    return this.real.fetch(uri, destDir, opts);
  }
  store(localFile: string, uri: string, opts?: Parameters<Storage['store']>[2]) {
    return this.real.store(localFile, uri, opts);
  }
  checkOutput(uri: string, opts: { overwrite: boolean }) {
    return this.real.checkOutput(uri, opts);
  }
  exists(uri: string) {
    return this.real.exists(uri);
  }
  remove(uri: string) {
    return this.real.remove(uri);
  }
  async prepareOutput(uri: string, opts: PrepareOptions): Promise<PreparedOutput> {
    const p = await this.real.prepareOutput(uri, opts);
    await this.hooks.afterPrepare?.(p, opts);
    return {
      uri: p.uri,
      path: p.path,
      commit: async (o) => {
        await this.hooks.beforeCommit?.(p);
        return p.commit(o);
      },
      discard: () => p.discard(),
    };
  }
}

/** A seeded PRNG (mulberry32, shared with the benchmarks), so a run can be replayed. */
const prng = mulberry32;

// ---------------------------------------------------------------------------------------------
// One local backend: feederd's side on the store's connection, the workers' on their own.

let n = 0;
function backend() {
  const dir = join(root.path, `b${++n}`);
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  const dbPath = join(dir, 'nommer.db');
  const store = openStore(dbPath);
  stores.push(store);
  const queue = new SqliteJobQueue(store.db, { maxReceives: queueDeadLetterLimit(MAX_ATTEMPTS) });
  const status = new SqliteStatusChannel(store.db, { pollMs: 20 });
  const control = new SqliteControl(store.db);
  detach.push(attachFencing(store, control, log));
  const outbox = new Outbox(store, queue, log);
  const applier = new StatusApplier(store, status, log, { retryDelaySeconds: () => 0 });

  const wdb = openDatabase(dbPath);
  dbs.push(wdb);
  const w = {
    queue: new SqliteJobQueue(wdb, { maxReceives: queueDeadLetterLimit(MAX_ATTEMPTS), pollMs: 20 }),
    status: new SqliteStatusChannel(wdb),
    control: new SqliteControl(wdb),
    storage: new StorageRouter([new FsStorage()]) as Storage,
  };
  let workers = 0;
  // The outbox is one loop in feederd: sends never overlap.
  let sending: Promise<unknown> = Promise.resolve();
  return {
    dir,
    out,
    store,
    queue,
    control,
    outbox,
    applier,
    w,
    worker(over: Partial<WorkerDeps> = {}): Worker {
      const id = over.id ?? `w${++workers}`;
      return new Worker({
        id,
        queue: w.queue,
        status: w.status,
        control: w.control,
        storage: w.storage,
        ffmpeg,
        workDir: join(dir, 'work', id),
        log,
        leaseSeconds: 30,
        maxDeliveries: workerDeliveryLimit(MAX_ATTEMPTS),
        controlIntervalMs: 25,
        progressIntervalMs: 50,
        terminalBackoffMs: [5, 10, 20],
        ...over,
      });
    },
    submit(outputs: Array<{ preset: { name: string }; uri: string }>): string {
      return store.createJob({ input: clip, outputs, maxAttempts: MAX_ATTEMPTS }).job.id;
    },
    dispatch(): Promise<number> {
      const p = sending.then(() => outbox.dispatchOnce());
      sending = p.catch(() => undefined);
      return p;
    },
    /** Apply every status event waiting (bounded by rounds). */
    async applyAll(): Promise<void> {
      for (let i = 0; i < 200; i++) if ((await applier.consumeOnce(0)) === 0) return;
      throw new Error('status events kept coming');
    },
    job(id: string): JobDetail {
      return store.getJob(id)!;
    },
    async receive(leaseSeconds = 30): Promise<Lease> {
      const l = await w.queue.receive({ waitSeconds: 10, leaseSeconds });
      assert.ok(l, 'a task message was in the queue');
      return l;
    },
  };
}

// ---------------------------------------------------------------------------------------------
// 0. A preset the worker cannot read

test('a task whose preset the worker cannot read fails PRESET_INVALID at once, not retried, its message kept as evidence; nothing runs', async () => {
  const b = backend();
  const out = join(b.out, 'broken.opus');
  // As a feederd of another version might send it: a setting this worker's preset schema refuses.
  const broken = { ...getPreset('opus'), audio: { ...getPreset('opus').audio!, bitrate: '96k -f lavfi' } };
  const id = b.submit([{ preset: broken, uri: out }]);
  assert.equal(await b.dispatch(), 1);
  assert.equal(await b.worker().handle(await b.receive()), 'failed');
  await b.applyAll();
  const job = b.job(id);
  assert.equal(job.state, 'failed');
  assert.equal(job.error?.code, 'PRESET_INVALID', JSON.stringify(job.error));
  assert.match(job.error?.message ?? '', /preset "opus"/);
  assert.equal(job.tasks[0]!.attempt, 1, 'not retried: a retry would meet the same preset');
  assert.equal(existsSync(out), false);
  const dead = b.w.queue.deadLetters().map((d) => d.reason);
  assert.equal(dead.length, 1, dead.join('; '));
  assert.match(dead[0]!, /^invalid preset: preset "opus" is invalid: audio\.bitrate/);
});

// ---------------------------------------------------------------------------------------------
// 1. Cancel, then retry

test('cancel then retry a queued job: the attempt-1 message still in the queue writes nothing, and the retried job succeeds with its output', async () => {
  const b = backend();
  const out = join(b.out, 'a.opus');
  const id = b.submit([{ preset: OPUS, uri: out }]);
  assert.equal(await b.dispatch(), 1);
  b.store.cancelJob(id, { reason: 'by the user' });
  b.store.retryJob(id);
  assert.equal(await b.dispatch(), 1);
  assert.deepEqual(await b.queue.depth(), { waiting: 2, inFlight: 0 }, "both attempts' messages are in the queue");

  const w = b.worker();
  const first = await b.receive();
  assert.equal(taskOf(first).attempt, 1, 'the older message comes first');
  assert.equal(await w.handle(first), 'canceled');
  assert.equal(existsSync(out), false, 'the canceled attempt wrote the output');
  assert.deepEqual(partials(b.out), []);

  const second = await b.receive();
  assert.equal(taskOf(second).attempt, 2);
  assert.equal(await w.handle(second), 'succeeded');
  await b.applyAll();
  const job = b.job(id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  assert.equal(job.attempt, 2);
  assertNoOutputExists(b.store, id);
  assertWholeOpus(out);
  assert.deepEqual(partials(b.out), []);
  assert.deepEqual(await b.queue.depth(), { waiting: 0, inFlight: 0 });
});

test('random cancel + retry over a batch of 8 jobs with 2 workers: every job succeeds once retried, each output whole', async () => {
  const seed = Number(process.env.NOMMER_TEST_SEED ?? Math.floor(Math.random() * 2 ** 31));
  const rand = prng(seed);
  const why = `seed ${seed} (NOMMER_TEST_SEED replays it)`;
  const b = backend();
  type Plan = 'untouched' | 'while-queued' | 'before-encode' | 'before-commit';
  const kinds: Plan[] = ['untouched', 'while-queued', 'before-encode', 'before-commit'];
  // Every kind at least once, the rest at random, in a random order.
  const plans: Plan[] = [...kinds, ...Array.from({ length: 4 }, () => kinds[Math.floor(rand() * kinds.length)]!)];
  for (let i = plans.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [plans[i], plans[j]] = [plans[j]!, plans[i]!];
  }
  const retryFirst = plans.map(() => rand() < 0.5);
  const outs = plans.map((_, i) => join(b.out, `j${i}.opus`));
  const ids = outs.map((uri) => b.submit([{ preset: OPUS, uri }]));
  const planOf = new Map(ids.map((id, i) => [id, i]));
  assert.equal(await b.dispatch(), ids.length);

  // Canceled while its message waits in the queue, before any worker is running.
  for (const [i, id] of ids.entries()) {
    if (plans[i] !== 'while-queued') continue;
    b.store.cancelJob(id);
    b.store.retryJob(id);
  }
  await b.dispatch();

  // Canceled while a worker holds attempt 1: held on its 'encoding' phase (input fetched, nothing
  // encoded) or its 'uploading' phase (encoded into its temp file, not committed), then let go
  // before or after the retry.
  const errors: unknown[] = [];
  const held = new Set<string>();
  const onHeld = async (id: string, go: () => void) => {
    try {
      const i = planOf.get(id)!;
      b.store.cancelJob(id, { reason: `test: ${plans[i]}` });
      await waitFor(async () => (await b.control.fencedUpTo(id, `${id}.encode`)) >= 1, `the fence of ${id}`);
      if (retryFirst[i]) {
        b.store.retryJob(id);
        await b.dispatch();
        go();
      } else {
        go();
        b.store.retryJob(id);
        await b.dispatch();
      }
    } catch (err) {
      errors.push(err);
      go();
    }
  };
  const status = new HookedStatus(b.w.status, (ev) => {
    const i = planOf.get(ev.jobId)!;
    const at = plans[i] === 'before-encode' ? 'encoding' : plans[i] === 'before-commit' ? 'uploading' : null;
    if (ev.attempt !== 1 || ev.type !== 'phase' || ev.phase !== at || held.has(ev.jobId)) return;
    held.add(ev.jobId);
    const gate = deferred();
    void onHeld(ev.jobId, () => gate.resolve());
    return gate.promise;
  });

  const stop = new AbortController();
  const loops = [b.worker({ status }), b.worker({ status })].map((w) => w.run({ signal: stop.signal, waitSeconds: 1 }));
  const applying = b.applier.run(stop.signal);
  try {
    await waitFor(
      () => errors.length > 0 || ids.every((id) => b.job(id).state === 'succeeded' || b.job(id).state === 'failed'),
      `every job final; ${why}`,
    );
  } finally {
    stop.abort();
    await Promise.all([...loops, applying]);
  }
  assert.deepEqual(errors, [], why);
  await b.applyAll();
  for (const [i, id] of ids.entries()) {
    const job = b.job(id);
    assert.equal(job.state, 'succeeded', `job ${i} (${plans[i]}): ${JSON.stringify(job.error)}; ${why}`);
    assert.equal(job.attempt, plans[i] === 'untouched' ? 1 : 2, `job ${i} (${plans[i]}); ${why}`);
    assertNoOutputExists(b.store, id);
    assertWholeOpus(outs[i]!);
  }
  assert.deepEqual(partials(b.out), [], why);
  assert.deepEqual(await b.queue.depth(), { waiting: 0, inFlight: 0 }, why);
  assert.deepEqual(b.queue.deadLetters(), [], why);
});

// ---------------------------------------------------------------------------------------------
// 2. Two deliveries of one task at once

test("two deliveries of one task at once (its lease lapsed): neither deletes the other's temp file, the job succeeds, the output is whole, no temp is left", async () => {
  // Which delivery reaches its commit first: the stale one (the natural order: it started
  // first), or the one that took over.
  for (const first of ['stale', 'current'] as const) {
    const b = backend();
    const out = join(b.out, `dup-${first}.opus`);
    const id = b.submit([{ preset: OPUS, uri: out }]);
    await b.dispatch();
    // Delivery 1 with a lease that lapses at once. The message comes back as delivery 2. Its
    // worker must not extend that lease before its hold (it would learn the lease is lost and stop
    // short of the commit), so both workers extend every 20 min: never within the test, however
    // slow the machine (at the default 30 s lease, a loaded machine's 10 s heartbeat did it).
    const stale = await b.receive(0.05);
    const current = await b.receive();
    assert.deepEqual([stale.receiveCount, current.receiveCount], [1, 2]);
    assert.deepEqual(current.body, stale.body);

    // Each worker is held once its ffmpeg has written its temp file, before it commits.
    const at = { stale: deferred<string>(), current: deferred<string>() };
    const go = { stale: deferred(), current: deferred() };
    const holdAtUpload = (who: 'stale' | 'current') =>
      new HookedStatus(b.w.status, (ev) => {
        if (ev.type === 'phase' && ev.phase === 'uploading') {
          at[who].resolve(ev.worker);
          return go[who].promise;
        }
      });
    const running = {
      stale: b.worker({ id: 'w-stale', leaseSeconds: 3600, status: holdAtUpload('stale') }).handle(stale),
      current: b.worker({ id: 'w-current', leaseSeconds: 3600, status: holdAtUpload('current') }).handle(current),
    };
    // Each delivery reaches its hold, or the test fails at once when one ends without it.
    const heldOrEnded = (who: 'stale' | 'current') =>
      Promise.race([
        at[who].promise,
        running[who].then((outcome) => {
          throw new Error(`the ${who} delivery ended (${outcome}) before its commit`);
        }),
      ]);
    await Promise.all([heldOrEnded('stale'), heldOrEnded('current')]);
    const temps = partials(b.out);
    assert.equal(temps.length, 2, `each delivery writes its own temp file: ${temps}`);
    for (const t of temps) assert.ok(statSync(join(b.out, t)).size > 0, `${t} was written`);

    const second = first === 'stale' ? 'current' : 'stale';
    go[first].resolve();
    await running[first];
    const secondsTemp = temps.filter((t) => t.includes(`.w-${second}.`));
    assert.equal(secondsTemp.length, 1, `${temps}`);
    assert.ok(existsSync(join(b.out, secondsTemp[0]!)), `the ${first} delivery deleted the other's temp file`);
    go[second].resolve();
    await running[second];

    await b.applyAll();
    const job = b.job(id);
    assert.equal(job.state, 'succeeded', `${first} first: ${JSON.stringify(job.error)}`);
    assert.equal(job.attempt, 1);
    assertWholeOpus(out);
    assert.deepEqual(partials(b.out), [], `${first} first`);
    assert.deepEqual(await b.queue.depth(), { waiting: 0, inFlight: 0 }, `${first} first`);
  }
});

// ---------------------------------------------------------------------------------------------
// 3. The terminal status event is lost

test('a terminal status event lost a few times is retried; the job succeeds and the lease is acked only after it is out', async () => {
  const b = backend();
  const out = join(b.out, 'blip.opus');
  const id = b.submit([{ preset: OPUS, uri: out }]);
  await b.dispatch();
  const trail: string[] = [];
  let failures = 2;
  const status = new HookedStatus(
    b.w.status,
    (ev) => {
      if (!TERMINAL.has(ev.type) || failures === 0) return;
      failures--;
      trail.push(`lost ${ev.type}`);
      throw new NommerError('QUEUE_FAILED', 'could not publish a status event: database is locked', {
        retriable: true,
      });
    },
    (ev) => {
      if (TERMINAL.has(ev.type)) trail.push(`published ${ev.type}`);
    },
  );
  const lease = recorded(await b.receive(), trail);
  assert.equal(await b.worker({ status }).handle(lease), 'succeeded');
  assert.deepEqual(trail, ['lost succeeded', 'lost succeeded', 'published succeeded', 'ack']);
  await b.applyAll();
  assert.equal(b.job(id).state, 'succeeded');
  assertWholeOpus(out);
  assert.deepEqual(await b.queue.depth(), { waiting: 0, inFlight: 0 });
});

test('a terminal status event that never gets through: the lease is released, not acked; the watchdog requeues the running job and a later delivery finishes it', async () => {
  const b = backend();
  const out = join(b.out, 'outage.opus');
  const id = b.submit([{ preset: OPUS, uri: out }]);
  await b.dispatch();
  const trail: string[] = [];
  const status = new HookedStatus(b.w.status, (ev) => {
    if (!TERMINAL.has(ev.type)) return;
    trail.push(`lost ${ev.type}`);
    throw new NommerError('QUEUE_FAILED', 'could not publish a status event: disk I/O error', { retriable: true });
  });
  const lease = recorded(await b.receive(), trail);
  assert.equal(await b.worker({ status, terminalBackoffMs: [5, 5] }).handle(lease), 'released');
  assert.deepEqual(trail, ['lost succeeded', 'lost succeeded', 'lost succeeded', 'release']);
  assert.deepEqual(await b.queue.depth(), { waiting: 1, inFlight: 0 }, 'the message came back');
  // What was never reported is not in place: the next delivery will make it again.
  assert.equal(existsSync(out), false, 'an unreported delivery left its output in place');
  assert.deepEqual(partials(b.out), []);
  await b.applyAll();
  assert.equal(b.job(id).state, 'running', 'the store heard the start, not the end');

  // The worker said nothing more: after the silence limit the watchdog gives the task a new attempt.
  let now = Date.now();
  const watchdog = new Watchdog(b.store, b.queue, log, { silenceMs: 1000, intervalMs: 1000, now: () => now });
  assert.equal(await watchdog.checkOnce(), 0, 'not silent yet');
  now += 5_000;
  assert.equal(await watchdog.checkOnce(), 1);
  const requeued = b.job(id);
  assert.equal(requeued.state, 'queued');
  assert.equal(requeued.tasks[0]!.attempt, 2);
  assert.ok(b.store.listJobEvents(id).some((e) => e.type === 'worker_lost'));
  assert.equal(await b.dispatch(), 1);

  // The status channel works again; a worker takes whatever is in the queue.
  assert.equal(await b.worker().run({ waitSeconds: 0, idleExitSeconds: 0 }), 'idle');
  await b.applyAll();
  const job = b.job(id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  assert.equal(job.attempt, 2);
  assertNoOutputExists(b.store, id);
  assertWholeOpus(out);
  assert.deepEqual(partials(b.out), []);
  assert.deepEqual(await b.queue.depth(), { waiting: 0, inFlight: 0 });
});

// ---------------------------------------------------------------------------------------------
// 8. No scratch dir

test('a worker that cannot create its scratch dir reports a retriable failure, settles the lease, leaves no timer, and the job gets another attempt', async () => {
  const b = backend();
  const out = join(b.out, 'scratch.opus');
  const id = b.submit([{ preset: OPUS, uri: out }]);
  await b.dispatch();
  // Tests run as root, so permissions do not stop mkdir: a regular file where a directory must be does.
  const file = join(b.dir, 'a-file');
  writeFileSync(file, 'not a directory\n');
  const trail: string[] = [];
  const lease = recorded(await b.receive(), trail);
  const timers = liveTimers();
  const outcome = await b.worker({ id: 'w-noscratch', workDir: join(file, 'x') }).handle(lease);
  assert.equal(outcome, 'failed');
  assert.deepEqual(trail, ['ack'], 'the lease is settled once');
  assert.equal(liveTimers(), timers, 'a timer was left running');
  assert.deepEqual(await b.queue.depth(), { waiting: 0, inFlight: 0 });

  await b.applyAll();
  const job = b.job(id);
  assert.equal(job.state, 'queued');
  assert.equal(job.tasks[0]!.attempt, 2, 'another attempt');
  assert.equal(job.tasks[0]!.error?.retriable, true);
  assert.match(job.tasks[0]!.error!.message, /scratch dir/);
  assert.equal(await b.dispatch(), 1);
  assert.equal(await b.worker().handle(await b.receive()), 'succeeded');
  await b.applyAll();
  assert.equal(b.job(id).state, 'succeeded');
  assertWholeOpus(out);
});

// ---------------------------------------------------------------------------------------------
// 10. Releases are not failures

test('a task released by a hard stop more often than any delivery limit, then run to the end, succeeds: never WORKER_LOST', async () => {
  const b = backend();
  const out = join(b.out, 'released.opus');
  const id = b.submit([{ preset: OPUS, uri: out }]);
  await b.dispatch();
  // Past the worker's limit (jobs.maxAttempts + 1 unfinished deliveries) and the queue's dead-letter limit.
  const releases = queueDeadLetterLimit(MAX_ATTEMPTS) + 1;
  assert.ok(releases > workerDeliveryLimit(MAX_ATTEMPTS) + 1);
  for (let i = 1; i <= releases; i++) {
    // The worker is told to stop now (a second SIGTERM) once it starts encoding.
    const hard = new AbortController();
    const status = new HookedStatus(b.w.status, (ev) => {
      if (ev.type === 'phase' && ev.phase === 'encoding') hard.abort();
    });
    const lease = await b.receive();
    assert.equal(lease.receiveCount, i);
    assert.equal(await b.worker({ status }).handle(lease, hard.signal), 'released', `delivery ${i}`);
    await b.applyAll();
    const job = b.job(id);
    assert.equal(job.state, 'queued', `after release ${i}: ${JSON.stringify(job.error)}`);
    assert.equal(job.tasks[0]!.attempt, 1, 'a release spends no attempt');
    assert.equal(existsSync(out), false);
  }
  assert.equal(await b.worker().handle(await b.receive()), 'succeeded');
  await b.applyAll();
  const job = b.job(id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  assert.equal(job.attempt, 1);
  assert.deepEqual(
    b.store
      .listJobEvents(id)
      .filter((e) => /WORKER_LOST/.test(e.message))
      .map((e) => e.message),
    [],
  );
  assert.equal(b.store.listJobEvents(id).filter((e) => e.type === 'released').length, releases);
  assert.deepEqual(b.queue.deadLetters(), []);
  assertWholeOpus(out);
  assert.deepEqual(partials(b.out), []);
});

// ---------------------------------------------------------------------------------------------
// 11. Multi-output commit, and files that appear meanwhile

test('two outputs whose second commit fails: neither is left in place (the first is undone), and a retry after the obstacle is gone succeeds', async () => {
  const b = backend();
  const audio = join(b.out, 'm.opus');
  const poster = join(b.out, 'm.webp');
  const id = b.submit([
    { preset: OPUS, uri: audio },
    { preset: POSTER, uri: poster },
  ]);
  await b.dispatch();
  // Someone writes the second destination right before its commit (after the first is in place).
  const obstacle = "someone else's poster\n";
  let obstruct = true;
  const committing: string[] = [];
  const storage = new HookedStorage(b.w.storage, {
    beforeCommit: (p) => {
      committing.push(p.uri);
      if (obstruct && p.uri === poster) {
        assert.ok(existsSync(audio), 'the first output is in place when the second commits');
        writeFileSync(poster, obstacle);
      }
    },
  });
  assert.equal(await b.worker({ storage }).handle(await b.receive()), 'failed');
  assert.deepEqual(committing, [audio, poster]);
  assert.equal(existsSync(audio), false, 'the first output was not undone');
  assert.equal(readFileSync(poster, 'utf8'), obstacle, 'the file in the way was replaced');
  assert.deepEqual(partials(b.out), []);
  await b.applyAll();
  const failed = b.job(id);
  assert.equal(failed.state, 'failed');
  assert.equal(failed.error?.code, 'OUTPUT_EXISTS');

  rmSync(poster);
  obstruct = false;
  b.store.retryJob(id);
  assert.equal(await b.dispatch(), 1);
  const retried = await b.receive();
  assert.equal(taskOf(retried).force, false);
  assert.equal(await b.worker({ storage }).handle(retried), 'succeeded');
  await b.applyAll();
  assert.equal(b.job(id).state, 'succeeded');
  assertWholeOpus(audio);
  assertWholePoster(poster);
  assert.deepEqual(partials(b.out), []);
});

test('without force, a file that appears at a destination while the job encodes is never replaced', async () => {
  const b = backend();
  const out = join(b.out, 'late.opus');
  const id = b.submit([{ preset: OPUS, uri: out }]);
  await b.dispatch();
  const theirs = 'written by someone else while nommer encoded\n';
  // The destination was free when the worker checked it; the file appears once it is encoding.
  const storage = new HookedStorage(b.w.storage, {
    afterPrepare: (p) => {
      if (p.uri === out) writeFileSync(out, theirs);
    },
  });
  assert.equal(await b.worker({ storage }).handle(await b.receive()), 'failed');
  assert.equal(readFileSync(out, 'utf8'), theirs);
  assert.deepEqual(partials(b.out), []);
  await b.applyAll();
  const job = b.job(id);
  assert.equal(job.state, 'failed');
  assert.equal(job.error?.code, 'OUTPUT_EXISTS');
  assert.equal(readFileSync(out, 'utf8'), theirs);
});
