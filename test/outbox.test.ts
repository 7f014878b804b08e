// The outbox on the local backend (real SQLite file, real queue, a real worker process and
// ffmpeg): a task the queue refuses fails its own job while the jobs behind it are sent and run;
// a transient send failure leaves the outbox for the next round; a queue that refuses everything
// fails nobody's job. Refusals come from a JobQueue wrapper around the real SqliteJobQueue.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { makeClip, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';
import { SqliteJobQueue } from '../src/adapters/local/sqlite-queue.js';
import { SqliteStatusChannel } from '../src/adapters/local/sqlite-status.js';
import { NommerError } from '../src/errors.js';
import { createLogger } from '../src/log.js';
import type { TaskMessage } from '../src/messages.js';
import { dataPaths } from '../src/paths.js';
import type { JobQueue, Lease } from '../src/ports/queue.js';
import { getPreset } from '../src/presets/registry.js';
import { openStore, type Store } from '../src/orchestrator/store/index.js';
import { Outbox } from '../src/orchestrator/outbox.js';
import { StatusApplier } from '../src/orchestrator/status-applier.js';

const dir = tempDir('nommer-outbox-');
const stores: Store[] = [];
after(() => {
  for (const s of stores) if (s.db.open) s.close();
  dir.cleanup();
});
const log = createLogger('test', { level: 'silent' });

/** The real local queue, refusing what `refuse` says (all-or-nothing for a batch, as the real one is). */
class RefusingQueue implements JobQueue {
  sends = 0;
  constructor(
    readonly real: SqliteJobQueue,
    private readonly refuse: (task: TaskMessage) => Error | undefined,
  ) {}
  async send(task: TaskMessage, opts?: { priority?: number }): Promise<void> {
    this.sends++;
    const err = this.refuse(task);
    if (err) throw err;
    return this.real.send(task, opts);
  }
  async sendBatch(items: Array<{ task: TaskMessage; priority?: number }>): Promise<void> {
    for (const { task } of items) {
      const err = this.refuse(task);
      if (err) throw err;
    }
    return this.real.sendBatch(items);
  }
  receive(opts: { waitSeconds: number; leaseSeconds: number; signal?: AbortSignal }): Promise<Lease | null> {
    return this.real.receive(opts);
  }
  depth() {
    return this.real.depth();
  }
}

const tooLarge = (task: TaskMessage) =>
  new NommerError('MESSAGE_INVALID', `task ${task.taskId} is 300000 bytes; the queue accepts at most 262144`);

let n = 0;
function fresh(): { home: string; store: Store; queue: SqliteJobQueue } {
  const home = join(dir.path, `home-${++n}`);
  mkdirSync(home, { recursive: true });
  const store = openStore(dataPaths(home).db);
  stores.push(store);
  return { home, store, queue: new SqliteJobQueue(store.db) };
}

let clip: string;
before(() => {
  clip = makeClip(join(dir.path, 'in.mp4'), { seconds: 1, audioChannels: 2 });
});

const submit = (store: Store, name: string) =>
  store.createJob({
    input: clip,
    outputs: [
      {
        preset: getPreset('opus') as unknown as { name: string },
        uri: `file://${join(dir.path, `${name}-${n}.opus`)}`,
      },
    ],
  }).job.id;

/** Task messages waiting in the real queue, by job id (each leased and released untouched). */
async function queuedJobs(queue: SqliteJobQueue): Promise<string[]> {
  const ids: string[] = [];
  const leases: Lease[] = [];
  for (
    let l = await queue.receive({ waitSeconds: 0, leaseSeconds: 30 });
    l;
    l = await queue.receive({ waitSeconds: 0, leaseSeconds: 30 })
  ) {
    leases.push(l);
    ids.push((l.body as TaskMessage).jobId);
  }
  for (const l of leases) await l.release(0);
  return ids;
}

describe('outbox (local)', () => {
  test('a task the queue refuses (MESSAGE_INVALID) fails its job; the job submitted after it is dispatched and runs', async () => {
    const { home, store, queue } = fresh();
    const bad = submit(store, 'bad');
    const good = submit(store, 'good');
    const q = new RefusingQueue(queue, (t) => (t.jobId === bad ? tooLarge(t) : undefined));
    const outbox = new Outbox(store, q, log);

    assert.equal(await outbox.dispatchOnce(), 1);
    const failed = store.getJob(bad)!;
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error?.code, 'MESSAGE_INVALID');
    assert.match(failed.error!.message, /could not be sent/);
    assert.equal(failed.error?.retriable, false);
    assert.deepEqual(await queuedJobs(queue), [good]);
    assert.deepEqual(store.listDispatchableTasks(), [], 'nothing left in the outbox');
    assert.equal(await outbox.dispatchOnce(), 0, 'the refused task is not tried again');

    // A real worker process takes the good job off the same database and encodes it.
    const r = await nommer(['worker', '--once', '--backend', 'local', '--id', 'w-outbox'], {
      env: { NOMMER_HOME: home, NOMMER_LOG_LEVEL: 'warn' },
      cwd: dir.path,
      timeoutMs: 120_000,
    });
    assert.equal(r.code, 0, r.stderr);
    const applier = new StatusApplier(store, new SqliteStatusChannel(store.db), log);
    for (let i = 0; i < 50 && store.getJob(good)!.state !== 'succeeded'; i++) {
      if ((await applier.consumeOnce(0)) === 0) break;
    }
    const done = store.getJob(good)!;
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    assert.equal(done.tasks[0]!.worker, 'w-outbox');
  });

  test('a refused task in the middle of a batch: the batch falls back to one by one and only that job fails', async () => {
    const { store, queue } = fresh();
    const ids = Array.from({ length: 5 }, (_, i) => submit(store, `j${i}`));
    const bad = ids[2]!;
    const q = new RefusingQueue(queue, (t) => (t.jobId === bad ? tooLarge(t) : undefined));
    assert.equal(await new Outbox(store, q, log).dispatchOnce(), 4);
    assert.deepEqual(
      ids.map((id) => store.getJob(id)!.state),
      ['queued', 'queued', 'failed', 'queued', 'queued'],
    );
    assert.deepEqual((await queuedJobs(queue)).sort(), ids.filter((id) => id !== bad).sort());
  });

  test('a transient send failure fails no job: the outbox is left for the next round, which sends it all', async () => {
    const { store, queue } = fresh();
    const ids = Array.from({ length: 3 }, (_, i) => submit(store, `t${i}`));
    let outage = true;
    const busy = () =>
      new NommerError('QUEUE_FAILED', 'could not send tasks in the local database: database is locked', {
        retriable: true,
      });
    const q = new RefusingQueue(queue, () => (outage ? busy() : undefined));
    const outbox = new Outbox(store, q, log);
    await assert.rejects(outbox.dispatchOnce(), (e: unknown) => e instanceof NommerError && e.retriable);
    assert.deepEqual(
      ids.map((id) => store.getJob(id)!.state),
      ['queued', 'queued', 'queued'],
    );
    assert.equal(store.listDispatchableTasks().length, 3);
    outage = false;
    assert.equal(await outbox.dispatchOnce(), 3);
    assert.equal((await queuedJobs(queue)).length, 3);
  });

  test('a queue that refuses every task for good (e.g. access denied) fails no job: it is the queue, not the messages', async () => {
    const { store, queue } = fresh();
    const ids = Array.from({ length: 3 }, (_, i) => submit(store, `d${i}`));
    const denied = () => new NommerError('QUEUE_FAILED', 'sqs SendMessage nm-jobs: AccessDenied');
    const q = new RefusingQueue(queue, () => denied());
    await assert.rejects(new Outbox(store, q, log).dispatchOnce(), /AccessDenied/);
    assert.deepEqual(
      ids.map((id) => store.getJob(id)!.state),
      ['queued', 'queued', 'queued'],
    );
    // One task refused that way while the others go through: that one is the message's fault.
    const q2 = new RefusingQueue(queue, (t) => (t.jobId === ids[0] ? denied() : undefined));
    assert.equal(await new Outbox(store, q2, log).dispatchOnce(), 2);
    assert.deepEqual(
      ids.map((id) => store.getJob(id)!.state),
      ['failed', 'queued', 'queued'],
    );
    assert.equal(store.getJob(ids[0]!)!.error?.code, 'QUEUE_FAILED');
  });

  test('the dispatch loop keeps going past a refused task: jobs submitted later are sent', async () => {
    const { store, queue } = fresh();
    const bad = submit(store, 'loop-bad');
    const q = new RefusingQueue(queue, (t) => (t.jobId === bad ? tooLarge(t) : undefined));
    const outbox = new Outbox(store, q, log);
    const ac = new AbortController();
    const loop = outbox.run(ac.signal);
    try {
      const later = submit(store, 'loop-later');
      outbox.poke();
      const deadline = Date.now() + 20_000;
      while (store.getJob(later)!.tasks[0]!.dispatchedAttempt === 0) {
        assert.ok(Date.now() < deadline, 'the later job was dispatched');
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(store.getJob(bad)!.state, 'failed');
    } finally {
      ac.abort();
      await loop;
    }
  });
});
