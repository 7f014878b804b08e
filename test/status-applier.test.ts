// The status applier on the local backend (real SQLite files): an event whose apply throws is
// left for redelivery, not acked, and applied once the fault is gone; one that keeps throwing is
// dead-lettered after MAX_APPLY_ATTEMPTS receives; a malformed one is dead-lettered at once; and
// none of them holds back the events behind it. Faults come from a store whose applyStatusEvent
// throws, never from a mocked channel.
import { FaultyStore } from './helpers/faulty-store.js';
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { tempDir } from './helpers/media.js';
import { openDatabase, type Db } from '../src/adapters/local/db.js';
import { SqliteStatusChannel } from '../src/adapters/local/sqlite-status.js';
import { createLogger } from '../src/log.js';
import { MESSAGE_VERSION, type StatusEvent } from '../src/messages.js';
import type { Store, NewJob } from '../src/orchestrator/store/index.js';
import { MAX_APPLY_ATTEMPTS, StatusApplier } from '../src/orchestrator/status-applier.js';
import { statusEvent } from './helpers/store.js';

const dir = tempDir('nommer-status-applier-');
const opened: Db[] = [];
after(() => {
  for (const db of opened) if (db.open) db.close();
  dir.cleanup();
});
const log = createLogger('test', { level: 'silent' });
let n = 0;

/** What better-sqlite3 throws when another process holds the write lock past busy_timeout. */
const sqliteBusy = () => Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });

type Fault = (ev: StatusEvent, call: number) => Error | undefined;
function fresh(fault: Fault, channelOpts: ConstructorParameters<typeof SqliteStatusChannel>[1] = {}) {
  const db = openDatabase(join(dir.path, `s-${++n}.db`));
  opened.push(db);
  const store = new FaultyStore(db, fault);
  // The worker's side publishes through its own connection, as a worker process would.
  const workerDb = openDatabase(join(dir.path, `s-${n}.db`));
  opened.push(workerDb);
  return { store, channel: new SqliteStatusChannel(db, channelOpts), worker: new SqliteStatusChannel(workerDb) };
}

const job = (store: Store): string =>
  store.createJob({
    input: 'file:///media/in.mp4',
    outputs: [{ preset: { name: 'opus' }, uri: 'file:///media/out.opus' }],
  } satisfies NewJob).job.id;

const started = (jobId: string, seq = 1): StatusEvent => statusEvent(jobId, seq, 'started', { phase: 'downloading' });

/** consumeOnce until `done`, at most `max` rounds: bounded by rounds, not by time. */
async function consumeUntil(applier: StatusApplier, done: () => boolean, max = 20): Promise<number> {
  for (let i = 1; i <= max; i++) {
    await applier.consumeOnce(0);
    if (done()) return i;
  }
  throw new Error(`condition not reached in ${max} rounds`);
}

describe('status applier (local)', () => {
  test('an event whose apply throws (SQLITE_BUSY) is not acked: it is delivered again and applied once the fault is gone', async () => {
    const K = 2;
    assert.ok(K < MAX_APPLY_ATTEMPTS);
    const { store, channel, worker } = fresh((_ev, call) => (call <= K ? sqliteBusy() : undefined));
    const applier = new StatusApplier(store, channel, log, { retryDelaySeconds: () => 0 });
    const id = job(store);
    await worker.publish(started(id));

    assert.equal(await applier.consumeOnce(0), 1);
    assert.equal(store.getJob(id)!.state, 'queued', 'not applied yet');
    assert.deepEqual(await channel.depth(), { waiting: 1, inFlight: 0 }, 'left for redelivery, visible again at once');

    const rounds = await consumeUntil(applier, () => store.getJob(id)!.state === 'running');
    assert.equal(rounds, K, 'applied on the delivery after the last failure');
    assert.equal(store.calls.get(`${id}#1`), K + 1);
    assert.deepEqual(await channel.depth(), { waiting: 0, inFlight: 0 }, 'acked once applied');
    assert.deepEqual(channel.deadLetters(), []);
    assert.equal(store.getJob(id)!.tasks[0]!.worker, 'w1');
  });

  test('an event that failed is released with a delay by its receive count, not retried in a hot loop', async () => {
    let t = 1_000_000;
    const { store, channel, worker } = fresh((_ev, call) => (call === 1 ? sqliteBusy() : undefined), { now: () => t });
    // The default delays: 1 s after the first receive, 2 s after the second...
    const applier = new StatusApplier(store, channel, log);
    const id = job(store);
    await worker.publish(started(id));
    // The worker's channel stamped the event with the real clock; the consumer's clock runs from there.
    t = Date.now();
    assert.equal(await applier.consumeOnce(0), 1);
    assert.equal(await applier.consumeOnce(0), 0, 'hidden for the retry delay');
    t += 999;
    assert.equal(await applier.consumeOnce(0), 0);
    t += 1;
    assert.equal(await applier.consumeOnce(0), 1, 'delivered again after 1 s');
    assert.equal(store.getJob(id)!.state, 'running');
  });

  test(`a poison event goes to the dead letters after ${MAX_APPLY_ATTEMPTS} receives, and the events behind it are applied`, async () => {
    const { store, channel, worker } = fresh((ev) =>
      ev.seq === 7 ? new Error('a bug that throws for this event every time') : undefined,
    );
    const applier = new StatusApplier(store, channel, log, { retryDelaySeconds: () => 0 });
    const poisoned = job(store);
    const other = job(store);
    const poison = started(poisoned, 7);
    await worker.publish(poison);
    await worker.publish(started(other));

    await applier.consumeOnce(0);
    assert.equal(store.getJob(other)!.state, 'running', 'the event behind the poison was applied in the same batch');
    assert.equal(store.getJob(poisoned)!.state, 'queued');

    const ac = new AbortController();
    // The loop itself, so a failing event is shown not to stall it.
    const running = applier.run(ac.signal);
    try {
      const deadline = Date.now() + 20_000;
      while (channel.deadLetters().length === 0) {
        assert.ok(Date.now() < deadline, 'the poison event reached the dead letters');
        await new Promise((r) => setTimeout(r, 20));
      }
    } finally {
      ac.abort();
      await running;
    }
    const [dead] = channel.deadLetters();
    assert.equal(dead!.receive_count, MAX_APPLY_ATTEMPTS);
    assert.match(dead!.reason, new RegExp(`not applied after ${MAX_APPLY_ATTEMPTS} receives.*a bug that throws`));
    assert.deepEqual(JSON.parse(dead!.body), poison);
    assert.equal(store.calls.get(`${poisoned}#7`), MAX_APPLY_ATTEMPTS);
    assert.deepEqual(await channel.depth(), { waiting: 0, inFlight: 0 });
    assert.equal(store.getJob(poisoned)!.state, 'queued', 'never applied');
  });

  test('a malformed event is dead-lettered at once, not dropped, and the events behind it are applied', async () => {
    const { store, channel, worker } = fresh(() => undefined);
    const applier = new StatusApplier(store, channel, log);
    const id = job(store);
    await worker.publish({ v: MESSAGE_VERSION, kind: 'status', jobId: id } as unknown as StatusEvent);
    await worker.publish(started(id));
    assert.equal(await applier.consumeOnce(0), 2);
    assert.equal(store.getJob(id)!.state, 'running');
    const dead = channel.deadLetters();
    assert.equal(dead.length, 1);
    assert.match(dead[0]!.reason, /^malformed status event/);
    assert.deepEqual(await channel.depth(), { waiting: 0, inFlight: 0 });
  });

  test('refused events (a duplicate, an unknown job) are acked: delivering them again would change nothing', async () => {
    const { store, channel, worker } = fresh(() => undefined);
    const applier = new StatusApplier(store, channel, log);
    const id = job(store);
    await worker.publish(started(id));
    await worker.publish(started(id));
    await worker.publish(started('j_gone'));
    assert.equal(await applier.consumeOnce(0), 3);
    assert.equal(store.getJob(id)!.state, 'running');
    assert.deepEqual(await channel.depth(), { waiting: 0, inFlight: 0 });
    assert.deepEqual(channel.deadLetters(), []);
  });
});
