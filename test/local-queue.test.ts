// The local backend's queue and status channel on real SQLite files: leases, expiry, extend,
// ack, release, dead letters, priority, several processes competing for the same messages, and
// waiting receives woken by a change.
import { test, describe, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { getEventListeners } from 'node:events';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { tempDir } from './helpers/media.js';
import { openDatabase, type Db } from '../src/adapters/local/db.js';
import { DbWake, type WatchDir, watchDir } from '../src/adapters/local/db-wake.js';
import { SqliteJobQueue } from '../src/adapters/local/sqlite-queue.js';
import { SqliteStatusChannel } from '../src/adapters/local/sqlite-status.js';
import { NommerError } from '../src/errors.js';
import { MESSAGE_VERSION, type StatusEvent, type TaskMessage } from '../src/messages.js';
import { statusEvent } from './helpers/store.js';

const dir = tempDir('nommer-queue-');
const opened: Db[] = [];
after(() => {
  for (const db of opened) if (db.open) db.close();
  dir.cleanup();
});
let n = 0;
function freshDb(): { db: Db; path: string } {
  const path = join(dir.path, `q-${++n}.db`);
  const db = openDatabase(path);
  opened.push(db);
  return { db, path };
}

/** A clock the test moves by hand, for lease deadlines. */
function clock(start = 1_000_000) {
  let t = start;
  return {
    now: () => t,
    advance: (ms: number) => {
      t += ms;
    },
  };
}

const task = (i: number, over: Partial<TaskMessage> = {}): TaskMessage => ({
  v: MESSAGE_VERSION,
  kind: 'task',
  jobId: `j_${i}`,
  taskId: `j_${i}.encode`,
  attempt: 1,
  type: 'encode',
  input: `file:///in/${i}.mp4`,
  outputs: [{ preset: { name: 'vp9' }, uri: `file:///out/${i}.webm` }],
  force: false,
  ...over,
});
const jobIdOf = (body: unknown) => (body as TaskMessage).jobId;
/** A compiled module's URL as a string literal, for scripts run in child processes. */
const mod = (p: string) => JSON.stringify(pathToFileURL(fileURLToPath(new URL(p, import.meta.url))).href);

describe('task queue leases', () => {
  test('a received task is leased: hidden from others, counted in flight, delivered once', async () => {
    const { db } = freshDb();
    const q = new SqliteJobQueue(db);
    await q.send(task(1));
    assert.deepEqual(await q.depth(), { waiting: 1, inFlight: 0 });
    const lease = await q.receive({ waitSeconds: 0, leaseSeconds: 30 });
    assert.ok(lease);
    assert.deepEqual(lease.body, task(1));
    assert.equal(lease.receiveCount, 1);
    assert.deepEqual(await q.depth(), { waiting: 0, inFlight: 1 });
    assert.equal(await q.receive({ waitSeconds: 0, leaseSeconds: 30 }), null);
  });

  test('an expired lease makes the task visible again with receive count + 1, and the old lease can no longer ack', async () => {
    const { db } = freshDb();
    const c = clock();
    const q = new SqliteJobQueue(db, { now: c.now });
    await q.send(task(1));
    const first = (await q.receive({ waitSeconds: 0, leaseSeconds: 30 }))!;
    c.advance(29_000);
    assert.equal(await q.receive({ waitSeconds: 0, leaseSeconds: 30 }), null, 'still leased at 29 s');
    c.advance(2_000);
    assert.deepEqual(await q.depth(), { waiting: 1, inFlight: 0 });
    const second = (await q.receive({ waitSeconds: 0, leaseSeconds: 30 }))!;
    assert.equal(second.receiveCount, 2);
    assert.equal(jobIdOf(second.body), 'j_1');
    await assert.rejects(
      first.ack(),
      (e: unknown) => e instanceof NommerError && e.code === 'LEASE_LOST' && /leased again/.test(e.message),
    );
    await assert.rejects(first.extend(30), (e: unknown) => e instanceof NommerError && e.code === 'LEASE_LOST');
    await second.ack();
    assert.deepEqual(await q.depth(), { waiting: 0, inFlight: 0 });
  });

  test('extending the lease keeps the task hidden past the first deadline', async () => {
    const { db } = freshDb();
    const c = clock();
    const q = new SqliteJobQueue(db, { now: c.now });
    await q.send(task(1));
    const lease = (await q.receive({ waitSeconds: 0, leaseSeconds: 30 }))!;
    for (let i = 0; i < 5; i++) {
      c.advance(20_000);
      await lease.extend(30);
    }
    // 100 s after the receive, far past the first 30 s deadline.
    assert.equal(await q.receive({ waitSeconds: 0, leaseSeconds: 30 }), null);
    await lease.ack();
  });

  test('ack removes the task for good; a second ack of the same lease is harmless', async () => {
    const { db } = freshDb();
    const c = clock();
    const q = new SqliteJobQueue(db, { now: c.now });
    await q.send(task(1));
    const lease = (await q.receive({ waitSeconds: 0, leaseSeconds: 1 }))!;
    await lease.ack();
    await lease.ack();
    c.advance(60_000);
    assert.equal(await q.receive({ waitSeconds: 0, leaseSeconds: 1 }), null);
    assert.deepEqual(await q.depth(), { waiting: 0, inFlight: 0 });
  });

  test('release gives the task back at once, or after a delay', async () => {
    const { db } = freshDb();
    const c = clock();
    const q = new SqliteJobQueue(db, { now: c.now });
    await q.send(task(1));
    await (await q.receive({ waitSeconds: 0, leaseSeconds: 30 }))!.release();
    const again = (await q.receive({ waitSeconds: 0, leaseSeconds: 30 }))!;
    assert.equal(again.receiveCount, 2);
    await again.release(10);
    assert.deepEqual(await q.depth(), { waiting: 1, inFlight: 0 }, 'a delayed task counts as waiting');
    assert.equal(await q.receive({ waitSeconds: 0, leaseSeconds: 30 }), null);
    c.advance(10_000);
    assert.ok(await q.receive({ waitSeconds: 0, leaseSeconds: 30 }));
  });

  test('reject moves the task to the dead letters with the reason', async () => {
    const { db } = freshDb();
    const q = new SqliteJobQueue(db);
    await q.send(task(1));
    const lease = (await q.receive({ waitSeconds: 0, leaseSeconds: 30 }))!;
    await lease.reject('message v9 is not a version this worker speaks');
    assert.deepEqual(await q.depth(), { waiting: 0, inFlight: 0 });
    const dead = q.deadLetters();
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.reason, 'message v9 is not a version this worker speaks');
    assert.equal(jobIdOf(JSON.parse(dead[0]!.body)), 'j_1');
    assert.equal(dead[0]!.receive_count, 1);
  });

  test('a task received maxReceives times without an ack is dead-lettered instead of delivered again', async () => {
    const { db } = freshDb();
    const c = clock();
    const q = new SqliteJobQueue(db, { now: c.now, maxReceives: 3 });
    await q.send(task(1));
    await q.send(task(2));
    for (let i = 1; i <= 3; i++) {
      const l = (await q.receive({ waitSeconds: 0, leaseSeconds: 5 }))!;
      assert.equal(jobIdOf(l.body), 'j_1');
      assert.equal(l.receiveCount, i);
      c.advance(6_000); // the worker died: the lease runs out
    }
    // The fourth delivery of j_1 would exceed the limit: it is moved aside, and j_2 comes instead.
    const next = (await q.receive({ waitSeconds: 0, leaseSeconds: 5 }))!;
    assert.equal(jobIdOf(next.body), 'j_2');
    const dead = q.deadLetters();
    assert.equal(dead.length, 1);
    assert.equal(jobIdOf(JSON.parse(dead[0]!.body)), 'j_1');
    assert.match(dead[0]!.reason, /received 3 times without an ack \(max 3\)/);
  });

  test('higher priority first, then oldest first', async () => {
    const { db } = freshDb();
    const q = new SqliteJobQueue(db, { defaultPriority: 1 });
    await q.send(task(1), { priority: 0 });
    await q.send(task(2));
    await q.send(task(3), { priority: 5 });
    await q.send(task(4));
    const order: string[] = [];
    for (let i = 0; i < 4; i++) order.push(jobIdOf((await q.receive({ waitSeconds: 0, leaseSeconds: 30 }))!.body));
    assert.deepEqual(order, ['j_3', 'j_2', 'j_4', 'j_1']);
  });

  test('a body that is not JSON arrives as the raw text, for the worker to reject', async () => {
    const { db } = freshDb();
    db.prepare(
      "INSERT INTO queue_messages (queue, body, priority, sent_at, visible_at) VALUES ('tasks', 'not json', 0, 0, 0)",
    ).run();
    const q = new SqliteJobQueue(db);
    assert.equal((await q.receive({ waitSeconds: 0, leaseSeconds: 30 }))!.body, 'not json');
  });
});

describe('waiting for a task', () => {
  test('an empty queue answers null after waitSeconds, not before', async () => {
    const { db } = freshDb();
    const q = new SqliteJobQueue(db, { pollMs: 50 });
    const t0 = Date.now();
    assert.equal(await q.receive({ waitSeconds: 0.3, leaseSeconds: 30 }), null);
    const waited = Date.now() - t0;
    assert.ok(waited >= 290 && waited < 1500, `waited ${waited} ms`);
  });

  test('a task sent by another connection during the wait is received', async () => {
    const { db, path } = freshDb();
    const producer = openDatabase(path);
    opened.push(producer);
    const q = new SqliteJobQueue(db, { pollMs: 50 });
    setTimeout(() => {
      void new SqliteJobQueue(producer).send(task(7));
    }, 150);
    const t0 = Date.now();
    const lease = await q.receive({ waitSeconds: 5, leaseSeconds: 30 });
    assert.equal(jobIdOf(lease!.body), 'j_7');
    assert.ok(Date.now() - t0 < 2000);
  });

  test('aborting stops the wait at once', async () => {
    const { db } = freshDb();
    const q = new SqliteJobQueue(db, { pollMs: 200 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    const t0 = Date.now();
    // Without the abort the wait lasts 60 s; a third of that tells the two apart on a loaded machine.
    assert.equal(await q.receive({ waitSeconds: 60, leaseSeconds: 30, signal: ac.signal }), null);
    assert.ok(Date.now() - t0 < 20_000);
  });
});

describe('competing consumers', () => {
  test('two connections claiming in a loop never get the same task', async () => {
    const { db, path } = freshDb();
    const other = openDatabase(path);
    opened.push(other);
    const producer = new SqliteJobQueue(db);
    for (let i = 0; i < 200; i++) await producer.send(task(i));
    const got: string[][] = [[], []];
    await Promise.all(
      [new SqliteJobQueue(db, { pollMs: 10 }), new SqliteJobQueue(other, { pollMs: 10 })].map(async (q, k) => {
        for (let i = 0; i < 1000; i++) {
          const l = await q.receive({ waitSeconds: 0, leaseSeconds: 60 });
          if (!l) break;
          got[k]!.push(jobIdOf(l.body));
          if (i % 2) await l.ack(); // some acked, some left leased: neither may come back
          await new Promise((r) => setImmediate(r));
        }
      }),
    );
    const all = [...got[0]!, ...got[1]!];
    assert.equal(all.length, 200);
    assert.equal(new Set(all).size, 200);
    assert.ok(
      got[0]!.length > 0 && got[1]!.length > 0,
      `both consumers got work: ${got[0]!.length} / ${got[1]!.length}`,
    );
  });

  test('four processes draining one queue file each get distinct tasks, and all of them', async () => {
    const { db, path } = freshDb();
    const producer = new SqliteJobQueue(db);
    const N = 400;
    for (let i = 0; i < N; i++) await producer.send(task(i));
    const startAt = Date.now() + 700;
    const script = `const { openDatabase } = await import(${mod('../src/adapters/local/db.js')});
      const { SqliteJobQueue } = await import(${mod('../src/adapters/local/sqlite-queue.js')});
      const q = new SqliteJobQueue(openDatabase(${JSON.stringify(path)}), { pollMs: 5 });
      await new Promise((r) => setTimeout(r, ${startAt} - Date.now()));
      const ids = [];
      for (let i = 0; i < ${N}; i++) {
        const l = await q.receive({ waitSeconds: 0, leaseSeconds: 120 });
        if (!l) break;
        ids.push(l.body.jobId);
        await l.ack();
      }
      process.stdout.write(JSON.stringify(ids));`;
    const outs = await Promise.all(
      Array.from(
        { length: 4 },
        () =>
          new Promise<string[]>((resolve, reject) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
              stdio: ['ignore', 'pipe', 'pipe'],
            });
            let out = '',
              err = '';
            child.stdout.on('data', (d: Buffer) => {
              out += d.toString();
            });
            child.stderr.on('data', (d: Buffer) => {
              err += d.toString();
            });
            child.on('close', (code) =>
              code === 0 ? resolve(JSON.parse(out) as string[]) : reject(new Error(`child exited ${code}: ${err}`)),
            );
          }),
      ),
    );
    const all = outs.flat();
    console.log(`four processes took ${outs.map((o) => o.length).join(' / ')} of ${N} tasks`);
    assert.equal(all.length, N);
    assert.equal(new Set(all).size, N, 'no task was handed to two processes');
    assert.deepEqual(await producer.depth(), { waiting: 0, inFlight: 0 });
  });
});

describe('status channel', () => {
  const status = (seq: number): StatusEvent =>
    statusEvent('j_1', seq, 'progress', { at: 0, progress: { fraction: seq / 10 } });

  test('events arrive in publish order, up to max at a time, and acked ones are gone', async () => {
    const { db } = freshDb();
    const ch = new SqliteStatusChannel(db);
    for (let i = 0; i < 5; i++) await ch.publish(status(i));
    const first = await ch.receive({ max: 3, waitSeconds: 0 });
    assert.deepEqual(
      first.map((r) => (r.body as StatusEvent).seq),
      [0, 1, 2],
    );
    for (const r of first) await r.ack();
    const rest = await ch.receive({ max: 10, waitSeconds: 0 });
    assert.deepEqual(
      rest.map((r) => (r.body as StatusEvent).seq),
      [3, 4],
    );
    for (const r of rest) await r.ack();
    assert.deepEqual(await ch.receive({ max: 10, waitSeconds: 0 }), []);
  });

  test('an event received but never acked comes back (at-least-once)', async () => {
    const { db, path } = freshDb();
    const c = clock();
    const worker = new SqliteStatusChannel(openDatabase(path), { now: c.now });
    const ch = new SqliteStatusChannel(db, { now: c.now, visibilitySeconds: 30 });
    await worker.publish(status(1));
    await worker.publish(status(2));
    const got = await ch.receive({ max: 10, waitSeconds: 0 });
    await got[1]!.ack(); // the orchestrator died before acking the first
    assert.deepEqual(await ch.receive({ max: 10, waitSeconds: 0 }), [], 'hidden while being handled');
    c.advance(31_000);
    const again = await ch.receive({ max: 10, waitSeconds: 0 });
    assert.deepEqual(
      again.map((r) => (r.body as StatusEvent).seq),
      [1],
    );
  });

  test('the task queue and the status channel in one file do not see each other', async () => {
    const { db } = freshDb();
    const q = new SqliteJobQueue(db);
    const ch = new SqliteStatusChannel(db);
    await q.send(task(1));
    await ch.publish(status(1));
    assert.equal((await ch.receive({ max: 10, waitSeconds: 0 })).length, 1);
    assert.equal(jobIdOf((await q.receive({ waitSeconds: 0, leaseSeconds: 5 }))!.body), 'j_1');
  });
});

// A waiting receive wakes when the database changes, not on a poll (db-wake.ts). Each wait below
// has a fallback poll of 60 s and a wait of 50 s, so a receive that returns a message within the
// test's timeout was woken: without the wake-up it would hang until that timeout, which only
// catches the hang and is never raced.
function another(path: string): { db: Db } {
  const db = openDatabase(path);
  opened.push(db);
  return { db };
}

const HANG = { timeout: 30_000 };
const NEVER = { pollMs: 60_000, unwatchedPollMs: 60_000 };
const WAIT = { waitSeconds: 50, leaseSeconds: 30 };

/** Send one task to the database at `path` from another process; resolves when it exited. */
function sendFromChild(path: string, t: TaskMessage): Promise<void> {
  const script = `const { openDatabase } = await import(${mod('../src/adapters/local/db.js')});
    const { SqliteJobQueue } = await import(${mod('../src/adapters/local/sqlite-queue.js')});
    const db = openDatabase(${JSON.stringify(path)});
    db.pragma('wal_checkpoint(TRUNCATE)');
    await new SqliteJobQueue(db).send(${JSON.stringify(t)});
    db.close();`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`sender exited ${code}: ${err}`))));
  });
}

describe('a waiting receive wakes on a change', () => {
  test('a task sent by another process (after a truncating checkpoint) wakes a receive at once', HANG, async () => {
    const { db, path } = freshDb();
    const q = new SqliteJobQueue(db, NEVER);
    // receive() looks once and is asleep before it returns its promise.
    const got = q.receive(WAIT);
    assert.equal(DbWake.of(db).sleeping, 1, 'the receive is asleep before the send');
    await sendFromChild(path, task(1));
    const lease = await got;
    assert.equal(jobIdOf(lease!.body), 'j_1');
    assert.equal(DbWake.of(db).sleeping, 0);
    assert.equal(DbWake.of(db).watching, false, 'the watcher is closed once no receive waits');
  });

  test('a status event published on another connection wakes the channel through the watcher', HANG, async () => {
    const { db, path } = freshDb();
    // Its own DbWake: a send on the other connection cannot notify it in-process, only the file can.
    const wake = new DbWake(path);
    const ch = new SqliteStatusChannel(db, { ...NEVER, wake });
    const got = ch.receive({ max: 10, waitSeconds: 50 });
    assert.ok(wake.watching);
    assert.equal(wake.sleeping, 1);
    await new SqliteStatusChannel(another(path).db).publish(
      statusEvent('j_1', 1, 'progress', { at: 0, progress: { fraction: 0.1 } }),
    );
    const events = await got;
    assert.equal(events.length, 1);
  });

  test('a delayed task wakes its waiter when it becomes visible, with no write', HANG, async () => {
    const { db } = freshDb();
    const q = new SqliteJobQueue(db, NEVER);
    await q.send(task(2), { delaySeconds: 0.2 });
    const lease = await q.receive(WAIT);
    assert.equal(jobIdOf(lease!.body), 'j_2');
  });
});

describe('ending a wait', () => {
  test('aborting returns null at once and leaves no waiter or listener behind, for many waiters', HANG, async () => {
    const { db } = freshDb();
    const q = new SqliteJobQueue(db, NEVER);
    const ac = new AbortController();
    const waits = Array.from({ length: 50 }, () => q.receive({ ...WAIT, signal: ac.signal }));
    const wake = DbWake.of(db);
    assert.equal(wake.sleeping, 50);
    assert.ok(wake.watching, 'one watcher for all of them');
    ac.abort();
    assert.deepEqual(await Promise.all(waits), Array(50).fill(null));
    assert.equal(wake.sleeping, 0);
    assert.equal(getEventListeners(ac.signal, 'abort').length, 0);
    assert.equal(wake.watching, false);
  });
});

describe('when the database cannot be watched', () => {
  test('a watcher that cannot be made: the receive polls, and one warning says why', HANG, async () => {
    const { db, path } = freshDb();
    let tries = 0;
    const wake = new DbWake(path, () => {
      tries++;
      throw Object.assign(new Error('inotify watch limit reached'), { code: 'ENOSPC' });
    });
    const warnings: string[] = [];
    const onWarning = (w: Error & { code?: string }) => {
      if (w.code === 'NOMMER_DB_WATCH') warnings.push(w.message);
    };
    process.on('warning', onWarning);
    try {
      const q = new SqliteJobQueue(db, { pollMs: 60_000, unwatchedPollMs: 20, wake });
      const producer = new SqliteJobQueue(another(path).db);
      for (const i of [3, 4]) {
        const got = q.receive(WAIT);
        assert.equal(wake.watching, false);
        await producer.send(task(i));
        assert.equal(jobIdOf((await got)!.body), `j_${i}`);
      }
      await new Promise((r) => setImmediate(r)); // warnings are emitted on the next tick
      assert.equal(tries, 2, 'each receive tries again');
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(warnings[0]!, /cannot watch .*inotify watch limit reached.*poll/);
    } finally {
      process.off('warning', onWarning);
    }
  });

  test('a watcher that fails while a receive sleeps on the long interval: it polls from then on', HANG, async () => {
    const { db, path } = freshDb();
    let fail: ((err: Error) => void) | undefined;
    const failing: WatchDir = (d, _onFile, onError) => {
      fail = onError;
      return watchDir(d, () => undefined, onError); // sees changes, tells no one
    };
    const wake = new DbWake(path, failing);
    const q = new SqliteJobQueue(db, { pollMs: 60_000, unwatchedPollMs: 20, wake });
    const got = q.receive(WAIT);
    assert.ok(wake.watching);
    fail!(new Error('watcher gone'));
    assert.equal(wake.watching, false);
    await new SqliteJobQueue(another(path).db).send(task(5));
    assert.equal(jobIdOf((await got)!.body), 'j_5');
  });
});
