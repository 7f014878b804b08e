// A waiting receive on the local database wakes when the database changes, not on a poll
// (db-wake.ts). Each wait here has a fallback poll of 60 s and a wait of 50 s, so a receive that
// returns a message within the test's timeout was woken: without the wake-up it would hang until
// the timeout, which only catches that hang and is never raced.
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
import { MESSAGE_VERSION, type TaskMessage } from '../src/messages.js';
import { statusEvent } from './helpers/store.js';

const dir = tempDir('nommer-wake-');
const opened: Db[] = [];
after(() => {
  for (const db of opened) if (db.open) db.close();
  dir.cleanup();
});
let n = 0;
function open(path = join(dir.path, `w-${++n}.db`)): { db: Db; path: string } {
  const db = openDatabase(path);
  opened.push(db);
  return { db, path };
}

const HANG = { timeout: 30_000 };
const NEVER = { pollMs: 60_000, unwatchedPollMs: 60_000 };
const WAIT = { waitSeconds: 50, leaseSeconds: 30 };

const task = (i: number): TaskMessage => ({
  v: MESSAGE_VERSION,
  kind: 'task',
  jobId: `j_${i}`,
  taskId: `j_${i}.encode`,
  attempt: 1,
  type: 'encode',
  input: `file:///in/${i}.mp4`,
  outputs: [{ preset: { name: 'vp9' }, uri: `file:///out/${i}.webm` }],
  force: false,
});
const jobIdOf = (body: unknown) => (body as TaskMessage).jobId;

/** Send one task to the database at `path` from another process; resolves when it exited. */
function sendFromChild(path: string, t: TaskMessage): Promise<void> {
  const mod = (p: string) => JSON.stringify(pathToFileURL(fileURLToPath(new URL(p, import.meta.url))).href);
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
    const { db, path } = open();
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
    const { db, path } = open();
    // Its own DbWake: a send on the other connection cannot notify it in-process, only the file can.
    const wake = new DbWake(path);
    const ch = new SqliteStatusChannel(db, { ...NEVER, wake });
    const got = ch.receive({ max: 10, waitSeconds: 50 });
    assert.ok(wake.watching);
    assert.equal(wake.sleeping, 1);
    await new SqliteStatusChannel(open(path).db).publish(
      statusEvent('j_1', 1, 'progress', { at: 0, progress: { fraction: 0.1 } }),
    );
    const events = await got;
    assert.equal(events.length, 1);
  });

  test('a delayed task wakes its waiter when it becomes visible, with no write', HANG, async () => {
    const { db } = open();
    const q = new SqliteJobQueue(db, NEVER);
    await q.send(task(2), { delaySeconds: 0.2 });
    const lease = await q.receive(WAIT);
    assert.equal(jobIdOf(lease!.body), 'j_2');
  });
});

describe('ending a wait', () => {
  test('aborting returns null at once and leaves no waiter or listener behind, for many waiters', HANG, async () => {
    const { db } = open();
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
    const { db, path } = open();
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
      const producer = new SqliteJobQueue(open(path).db);
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
    const { db, path } = open();
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
    await new SqliteJobQueue(open(path).db).send(task(5));
    assert.equal(jobIdOf((await got)!.body), 'j_5');
  });
});
