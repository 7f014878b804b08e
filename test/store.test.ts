// The job store against real SQLite files: creating, reading, listing and paging jobs, every
// state change, the history they leave, the dispatch outbox, and 100,000 jobs.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { openDatabase, migrate, loadMigrations } from '../src/adapters/local/db.js';
import type { Store, StoreChange } from '../src/orchestrator/store/index.js';
import { NommerError } from '../src/errors.js';
import { taskMessage } from '../src/messages.js';
import { plainJob as req, statusEvent as ev, storeFactory } from './helpers/store.js';

const { fresh, dir } = storeFactory('store');

function expectCode(fn: () => unknown, code: string): void {
  assert.throws(fn, (e: unknown) => e instanceof NommerError && e.code === code);
}

describe('opening the database', () => {
  test('migrations apply once; opening again applies nothing', () => {
    const path = join(dir.path, 'migrate-twice.db');
    const a = openDatabase(path);
    assert.deepEqual(migrate(a).applied, []);
    const names = a.prepare('SELECT name FROM nommer_migrations ORDER BY id').pluck().all();
    assert.deepEqual(
      names,
      loadMigrations().map((m) => m.name),
    );
    assert.equal(a.pragma('journal_mode', { simple: true }), 'wal');
    assert.equal(a.pragma('foreign_keys', { simple: true }), 1);
    a.close();
  });

  test('several processes opening a fresh file at once all succeed and migrate it once', async () => {
    const path = join(dir.path, 'race.db');
    const dbModule = pathToFileURL(fileURLToPath(new URL('../src/adapters/local/db.js', import.meta.url))).href;
    // Every child waits for the same instant, then opens: a real race on a file that does not exist yet.
    const startAt = Date.now() + 500;
    const script = `const { openDatabase } = await import(${JSON.stringify(dbModule)});
      await new Promise((r) => setTimeout(r, ${startAt} - Date.now()));
      openDatabase(${JSON.stringify(path)}).close();`;
    const exits = await Promise.all(
      Array.from(
        { length: 6 },
        () =>
          new Promise<{ code: number | null; stderr: string }>((resolve) => {
            const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
              stdio: ['ignore', 'ignore', 'pipe'],
            });
            let stderr = '';
            child.stderr.on('data', (d: Buffer) => {
              stderr += d.toString();
            });
            child.on('close', (code) => resolve({ code, stderr }));
          }),
      ),
    );
    for (const e of exits) assert.equal(e.code, 0, e.stderr);
    const check = openDatabase(path);
    assert.equal(check.prepare('SELECT count(*) FROM nommer_migrations').pluck().get(), loadMigrations().length);
    check.close();
  });

  test('a database from a newer nommer is refused with a hint', () => {
    const path = join(dir.path, 'newer.db');
    const d = openDatabase(path);
    d.prepare('INSERT INTO nommer_migrations (id, name, applied_at) VALUES (9999, ?, 0)').run('9999-future.sql');
    d.close();
    expectCode(() => openDatabase(path), 'CONFIG_INVALID');
  });
});

describe('creating and reading jobs', () => {
  let store: Store;
  before(() => {
    store = fresh();
  });
  after(() => store.close());

  test('a new job is queued with one encode task and a created event', () => {
    const { job, created } = store.createJob(
      req({ priority: 5, notifyUrl: 'https://example.test/hook', options: { force: true } }),
    );
    assert.equal(created, true);
    assert.match(job.id, /^j_[0-9a-z]{26}$/);
    assert.equal(job.state, 'queued');
    assert.equal(job.attempt, 1);
    assert.equal(job.maxAttempts, 3);
    assert.deepEqual(
      job.tasks.map((t) => [t.id, t.type, t.state, t.attempt]),
      [[`${job.id}.encode`, 'encode', 'queued', 1]],
    );
    const got = store.getJob(job.id)!;
    assert.deepEqual(got, job);
    assert.deepEqual(got.options, { force: true });
    assert.deepEqual(
      store.listJobEvents(job.id).map((e) => [e.type, e.state]),
      [['created', 'queued']],
    );
  });

  test('getJob of an unknown id is null', () => {
    assert.equal(store.getJob('j_nope'), null);
  });

  test('the same idempotency key returns the first job instead of a second one', () => {
    const a = store.createJob(req({ idempotencyKey: 'k-1' }));
    const b = store.createJob(req({ idempotencyKey: 'k-1' }));
    assert.equal(a.created, true);
    assert.equal(b.created, false);
    assert.equal(b.job.id, a.job.id);
    assert.equal(store.db.prepare('SELECT count(*) FROM jobs WHERE idempotency_key = ?').pluck().get('k-1'), 1);
  });

  test('a job can be found by its idempotency key before creating another', () => {
    const a = store.createJob(req({ idempotencyKey: 'k-2' }));
    assert.equal(store.findByIdempotencyKey('k-2')?.id, a.job.id);
    assert.equal(store.findByIdempotencyKey('k-unused'), null);
  });

  test('jobs without outputs, with bad attempts or a cyclic task graph are refused', () => {
    expectCode(() => store.createJob(req({ outputs: [] })), 'USAGE');
    expectCode(() => store.createJob(req({ maxAttempts: 0 })), 'USAGE');
    expectCode(
      () =>
        store.createJob(
          req({
            tasks: [
              { key: 'a', type: 'chunk', deps: ['b'] },
              { key: 'b', type: 'chunk', deps: ['a'] },
            ],
          }),
        ),
      'USAGE',
    );
    expectCode(() => store.createJob(req({ tasks: [{ key: 'bad key', type: 'encode' }] })), 'USAGE');
  });

  test('a chunked job stores its graph: the probe is queued, the rest wait', () => {
    const { job } = store.createJob(
      req({
        tasks: [
          { key: 'probe', type: 'chunk' },
          { key: 'chunk-1', type: 'chunk', deps: ['probe'], params: { from: 0, to: 10 }, weight: 5 },
          { key: 'chunk-2', type: 'chunk', deps: ['probe'], params: { from: 10, to: 20 }, weight: 5 },
          { key: 'assemble', type: 'assemble', deps: ['chunk-1', 'chunk-2'] },
        ],
      }),
    );
    assert.deepEqual(
      job.tasks.map((t) => [t.id.slice(job.id.length + 1), t.state, t.weight]),
      [
        ['probe', 'queued', 1],
        ['chunk-1', 'waiting', 5],
        ['chunk-2', 'waiting', 5],
        ['assemble', 'waiting', 1],
      ],
    );
    assert.deepEqual(job.tasks[3]!.deps, [`${job.id}.chunk-1`, `${job.id}.chunk-2`]);
    assert.deepEqual(job.tasks[1]!.params, { from: 0, to: 10 });
    const r = store.applyStatusEvent(ev(job.id, 0, 'succeeded', { taskId: `${job.id}.probe`, result: { chunks: 2 } }));
    assert.ok(r.applied);
    assert.deepEqual(r.dispatch.sort(), [`${job.id}.chunk-1`, `${job.id}.chunk-2`]);
    assert.deepEqual(store.getJob(job.id)!.tasks[0]!.result, { chunks: 2 });
  });
});

describe('listing', () => {
  let store: Store;
  const ids: string[] = [];
  before(() => {
    store = fresh();
    // 25 jobs, one a millisecond, the same millisecond for the last five (ties broken by id).
    for (let i = 0; i < 25; i++) ids.push(store.createJob(req(), 1_000 + Math.min(i, 20)).job.id);
    for (const id of ids.slice(0, 5)) store.cancelJob(id, { now: 2_000 });
  });
  after(() => store.close());

  test('newest first, then page by page with the cursor, every job exactly once', () => {
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page = store.listJobs({ limit: 7, cursor });
      seen.push(...page.jobs.map((j) => j.id));
      cursor = page.nextCursor;
      pages++;
    } while (cursor && pages < 10);
    assert.equal(pages, 4);
    assert.equal(seen.length, 25);
    assert.equal(new Set(seen).size, 25);
    const expected = store.db.prepare('SELECT id FROM jobs ORDER BY created_at DESC, id DESC').pluck().all();
    assert.deepEqual(seen, expected);
  });

  test('by state, and by several states', () => {
    assert.deepEqual(
      store
        .listJobs({ state: 'canceled' })
        .jobs.map((j) => j.id)
        .sort(),
      ids.slice(0, 5).sort(),
    );
    assert.equal(store.listJobs({ state: 'queued', limit: 100 }).jobs.length, 20);
    const both = store.listJobs({ state: ['canceled', 'queued'], limit: 22 });
    assert.equal(both.jobs.length, 22);
    assert.ok(both.nextCursor);
    const rest = store.listJobs({ state: ['canceled', 'queued'], limit: 22, cursor: both.nextCursor });
    assert.equal(rest.jobs.length, 3);
    assert.equal(rest.nextCursor, null);
    // Merged pages keep the global order.
    const all = [...both.jobs, ...rest.jobs];
    for (let i = 1; i < all.length; i++)
      assert.ok(
        all[i - 1]!.createdAt > all[i]!.createdAt ||
          (all[i - 1]!.createdAt === all[i]!.createdAt && all[i - 1]!.id > all[i]!.id),
      );
  });

  test('a made-up cursor or state is a usage error', () => {
    expectCode(() => store.listJobs({ cursor: 'nonsense' }), 'USAGE');
    expectCode(() => store.listJobs({ state: 'paused' as never }), 'USAGE');
  });

  test('the summary counts jobs by state', () => {
    assert.deepEqual(store.summarizeJobs(), {
      total: 25,
      byState: { queued: 20, running: 0, succeeded: 0, failed: 0, canceled: 5 },
    });
  });
});

describe('state changes', () => {
  let store: Store;
  const changes: StoreChange[] = [];
  before(() => {
    store = fresh();
    store.subscribe((c) => changes.push(c));
    // A listener that throws must not stop the others or undo the change.
    store.subscribe(() => {
      throw new Error('buggy listener');
    });
  });
  after(() => store.close());

  test('a worker takes a job from queued to succeeded; the history reads back in order', () => {
    const { job } = store.createJob(req());
    changes.length = 0;
    assert.ok(store.applyStatusEvent(ev(job.id, 0, 'started')).applied);
    const p = store.applyStatusEvent(
      ev(job.id, 1, 'progress', {
        phase: 'encoding',
        progress: { fraction: 0.4, fps: 60, speed: 2.5, etaSeconds: 12 },
      }),
    );
    assert.ok(p.applied);
    assert.equal(p.job.progress, 0.4);
    assert.ok(store.applyStatusEvent(ev(job.id, 2, 'progress', { progress: { fraction: 0.8 } })).applied);
    assert.ok(store.applyStatusEvent(ev(job.id, 3, 'phase', { phase: 'uploading' })).applied);
    const done = store.applyStatusEvent(
      ev(job.id, 4, 'succeeded', { outputs: [{ uri: 'file:///media/out.webm', bytes: 4242 }] }),
    );
    assert.ok(done.applied);
    const got = store.getJob(job.id)!;
    assert.equal(got.state, 'succeeded');
    assert.equal(got.progress, 1);
    assert.equal(got.outputs[0]!.bytes, 4242);
    assert.equal(got.worker, 'w1');
    assert.ok(got.startedAt! <= got.finishedAt!);
    assert.deepEqual(
      store.listJobEvents(job.id).map((e) => [e.type, e.state, e.phase]),
      [
        ['created', 'queued', null],
        ['started', 'running', 'downloading'],
        ['phase', 'running', 'encoding'],
        ['phase', 'running', 'uploading'],
        ['succeeded', 'succeeded', null],
      ],
    );
    // Subscribers saw every stored event plus the progress tick nobody stores.
    assert.deepEqual(
      changes.map((c) => c.event.type),
      ['started', 'phase', 'progress', 'phase', 'succeeded'],
    );
    assert.equal(changes[2]!.event.id, null);
    assert.equal(changes[2]!.job.progress, 0.8);
  });

  test('redelivered and reordered events change nothing and say why', () => {
    const { job } = store.createJob(req());
    store.applyStatusEvent(ev(job.id, 0, 'started'));
    store.applyStatusEvent(ev(job.id, 5, 'succeeded'));
    const dup = store.applyStatusEvent(ev(job.id, 5, 'succeeded'));
    assert.deepEqual([dup.applied, !dup.applied && dup.reason], [false, 'job-final']);
    const late = store.applyStatusEvent(ev(job.id, 3, 'progress', { progress: { fraction: 0.3 } }));
    assert.equal(late.applied, false);
    assert.equal(store.getJob(job.id)!.progress, 1);
    const unknown = store.applyStatusEvent(ev('j_gone', 0, 'started'));
    assert.deepEqual([unknown.applied, !unknown.applied && unknown.reason], [false, 'job-unknown']);
  });

  test('a retriable failure requeues the task on a new attempt, and the outbox offers it again', () => {
    const { job } = store.createJob(req({ priority: 100 }));
    const first = store.listDispatchableTasks().find((d) => d.message.jobId === job.id)!;
    assert.equal(first.message.attempt, 1);
    assert.equal(first.priority, 100);
    assert.ok(taskMessage().safeParse(first.message).success);
    assert.equal(store.markTaskDispatched(first.message.taskId, 1), true);
    assert.equal(store.markTaskDispatched(first.message.taskId, 1), false);
    assert.equal(
      store.listDispatchableTasks().some((d) => d.message.jobId === job.id),
      false,
    );

    store.applyStatusEvent(ev(job.id, 0, 'started'));
    const r = store.applyStatusEvent(
      ev(job.id, 1, 'failed', { error: { code: 'STORAGE_FAILED', message: 'upload timed out', retriable: true } }),
    );
    assert.ok(r.applied);
    assert.deepEqual(r.dispatch, [`${job.id}.encode`]);
    assert.equal(r.job.state, 'queued');
    const again = store.listDispatchableTasks().find((d) => d.message.jobId === job.id)!;
    assert.equal(again.message.attempt, 2);
    // The first attempt's worker is late: ignored.
    assert.equal(store.applyStatusEvent(ev(job.id, 2, 'progress', { progress: { fraction: 0.5 } })).applied, false);
  });

  test("the outbox is oldest first and carries each job's priority (the queue orders by it), force and params", () => {
    const s = fresh();
    const low = s.createJob(req({ priority: 0 })).job;
    const high = s.createJob(req({ priority: 9, options: { force: true } })).job;
    const out = s.listDispatchableTasks();
    assert.deepEqual(
      out.map((d) => d.message.jobId),
      [low.id, high.id],
    );
    assert.deepEqual(
      out.map((d) => d.priority),
      [0, 9],
    );
    assert.equal(out[0]!.message.force, false);
    assert.equal(out[1]!.message.force, true);
    s.close();
  });

  test('the outbox query reads only unsent tasks (partial index), so a large sent backlog costs nothing', () => {
    const s = fresh();
    const plan = s.db
      .prepare(`EXPLAIN QUERY PLAN SELECT t.id FROM tasks t JOIN jobs j ON j.id = t.job_id
      WHERE t.state = 'queued' AND t.dispatched_attempt < t.attempt ORDER BY t.created_at, t.id LIMIT 100`)
      .all() as Array<{ detail: string }>;
    const text = plan.map((p) => p.detail).join('; ');
    assert.match(text, /USING INDEX tasks_outbox/, text);
    assert.doesNotMatch(text, /TEMP B-TREE/, text);
    s.close();
  });

  test('cancel: a queued job is canceled once; canceling again is a JOB_STATE error', () => {
    const { job } = store.createJob(req());
    const c = store.cancelJob(job.id, { reason: 'not needed' });
    assert.equal(c.job.state, 'canceled');
    assert.equal(c.tasks[0]!.state, 'canceled');
    expectCode(() => store.cancelJob(job.id), 'JOB_STATE');
    expectCode(() => store.cancelJob('j_missing'), 'JOB_NOT_FOUND');
    assert.equal(
      store.listDispatchableTasks().some((d) => d.message.jobId === job.id),
      false,
    );
    // A worker that had it already is ignored.
    assert.equal(store.applyStatusEvent(ev(job.id, 0, 'started')).applied, false);
  });

  test('retry: a canceled job is queued again on attempt 2; retrying a queued job is refused', () => {
    const { job } = store.createJob(req());
    store.cancelJob(job.id);
    const r = store.retryJob(job.id);
    assert.equal(r.job.state, 'queued');
    assert.equal(r.job.attempt, 2);
    assert.equal(r.job.finishedAt, null);
    assert.deepEqual(r.dispatch, [`${job.id}.encode`]);
    expectCode(() => store.retryJob(job.id), 'JOB_STATE');
    assert.deepEqual(
      store.listJobEvents(job.id).map((e) => e.type),
      ['created', 'canceled', 'retried'],
    );
  });

  test('worker lost: the task gets another attempt, then the job fails with WORKER_LOST when none are left', () => {
    const { job } = store.createJob(req({ maxAttempts: 2 }));
    const t = `${job.id}.encode`;
    store.applyStatusEvent(ev(job.id, 0, 'started'), 10_000);
    assert.deepEqual(
      store.listSilentTasks(20_000).filter((s) => s.jobId === job.id),
      [{ jobId: job.id, taskId: t, worker: 'w1', heartbeatAt: 10_000 }],
    );
    const lost = store.requeueTask(job.id, t)!;
    assert.equal(lost.job.state, 'queued');
    assert.equal(lost.job.attempt, 2);
    assert.deepEqual(lost.dispatch, [t]);
    store.applyStatusEvent(ev(job.id, 0, 'started', { attempt: 2 }));
    const dead = store.requeueTask(job.id, t)!;
    assert.equal(dead.job.state, 'failed');
    assert.equal(dead.job.error?.code, 'WORKER_LOST');
    assert.equal(store.requeueTask(job.id, t), null, 'a finished job has no lost worker');
    assert.deepEqual(
      store.listJobEvents(job.id).map((e) => e.type),
      ['created', 'started', 'worker_lost', 'started', 'failed'],
    );
  });

  test('fail: the orchestrator fails a queued job; the error is kept and reads back', () => {
    const { job } = store.createJob(req());
    const r = store.failJob(job.id, {
      code: 'MESSAGE_INVALID',
      message: 'the worker could not read the task',
      retriable: false,
    });
    assert.equal(r.job.state, 'failed');
    assert.deepEqual(store.getJob(job.id)!.error, {
      code: 'MESSAGE_INVALID',
      message: 'the worker could not read the task',
      retriable: false,
    });
    expectCode(() => store.failJob(job.id, { code: 'INTERNAL', message: 'x', retriable: false }), 'JOB_STATE');
  });
});

describe('JSON columns', () => {
  let store: Store;
  before(() => {
    store = fresh();
  });
  after(() => store.close());

  const invalid = (e: unknown): boolean =>
    e instanceof NommerError && e.code === 'DATA_INVALID' && !!e.hint && !e.message.includes('\n');

  test('outputs read back with their quality search and package; a newer key is kept', () => {
    const { job } = store.createJob(req());
    const search = {
      target: 'ssim=0.98',
      crf: 31,
      score: 0.981,
      reached: true,
      samples: { count: 3, seconds: 6 },
      tried: [{ crf: 31, score: 0.981, on: 'samples' }],
      corrections: 0,
      capKbps: null,
      capBound: false,
      seconds: 2.5,
    };
    const outputs = [{ ...job.outputs[0], quality: { ssim: 0.981, search }, fromNewer: 1 }];
    store.db.prepare('UPDATE jobs SET outputs = ? WHERE id = ?').run(JSON.stringify(outputs), job.id);
    assert.deepEqual(store.getJob(job.id)!.outputs, outputs);
  });

  test('a column that does not read back is DATA_INVALID, naming the row, with a hint', () => {
    const corrupt = (sqlText: string, value: string): string => {
      const { job } = store.createJob(req());
      store.db.prepare(sqlText).run(value, job.id);
      return job.id;
    };
    const badOutputs = corrupt('UPDATE jobs SET outputs = ? WHERE id = ?', '[{"uri": 1}]');
    assert.throws(
      () => store.getJob(badOutputs),
      (e: unknown) => invalid(e) && String(e).includes(badOutputs),
    );
    assert.throws(() => store.listDispatchableTasks(), invalid);
    store.db.prepare('DELETE FROM jobs WHERE id = ?').run(badOutputs);
    const notJson = corrupt('UPDATE jobs SET typed_basis = ? WHERE id = ?', '[oops');
    assert.throws(
      () => store.getJob(notJson),
      (e: unknown) => invalid(e) && String(e).includes('not JSON'),
    );
    const badParams = corrupt('UPDATE tasks SET params = ? WHERE job_id = ?', '"a string"');
    assert.throws(() => store.getJob(badParams), invalid);
    assert.throws(() => store.listDispatchableTasks(), invalid);
    const badDeps = corrupt('UPDATE tasks SET deps = ? WHERE job_id = ?', '{"a": 1}');
    assert.throws(() => store.getJob(badDeps), invalid);
  });
});

// 20,000 jobs show what 100,000 did: the plans below prove that listing walks indexes (no sort,
// no scan), so the cost of a page does not grow with the table; inserting 100,000 cost ~10 CPU-s.
describe('20,000 jobs', () => {
  test('listing a page and the summary stay correct (and fast) with 20,000 jobs', () => {
    const store = fresh();
    const N = 20_000;
    const base = 1_750_000_000_000;
    let t0 = performance.now();
    const ids: string[] = [];
    // One outer transaction for the bulk load; each createJob nests as a savepoint.
    store.db.transaction(() => {
      for (let i = 0; i < N; i++) ids.push(store.createJob(req({ priority: i % 3 }), base + i).job.id);
    })();
    const insertMs = performance.now() - t0;
    store.db.transaction(() => {
      for (let i = 0; i < 2_000; i++) store.cancelJob(ids[i * 7]!);
      for (let i = 0; i < 1_000; i++) store.applyStatusEvent(ev(ids[i * 11 + 1]!, 0, 'started'));
    })();

    t0 = performance.now();
    const page = store.listJobs({ limit: 20 });
    const listMs = performance.now() - t0;
    t0 = performance.now();
    const summary = store.summarizeJobs();
    const summaryMs = performance.now() - t0;
    t0 = performance.now();
    const running = store.listJobs({ state: 'running', limit: 20 });
    const byStateMs = performance.now() - t0;
    // A deep page: the cursor of a job near the oldest end.
    let deep = store.listJobs({ limit: 1000 });
    for (let i = 0; i < 18 && deep.nextCursor; i++) deep = store.listJobs({ limit: 1000, cursor: deep.nextCursor });
    t0 = performance.now();
    const deeper = store.listJobs({ limit: 20, cursor: deep.nextCursor });
    const deepMs = performance.now() - t0;

    console.log(
      `20k: insert ${insertMs.toFixed(0)} ms; listJobs(20) ${listMs.toFixed(2)} ms; by state ${byStateMs.toFixed(2)} ms; page 951 ${deepMs.toFixed(2)} ms; summary ${summaryMs.toFixed(2)} ms`,
    );

    assert.deepEqual(
      page.jobs.map((j) => j.id),
      ids.slice(-20).reverse(),
    );
    assert.equal(summary.total, N);
    // The trigger-kept counts agree with counting the rows.
    const counted = Object.fromEntries(
      (
        store.db.prepare('SELECT state, count(*) AS n FROM jobs GROUP BY state').all() as Array<{
          state: string;
          n: number;
        }>
      ).map((r) => [r.state, r.n]),
    );
    for (const [state, count] of Object.entries(summary.byState)) assert.equal(count, counted[state] ?? 0, state);
    // Job i*7 for i < 2000 canceled; job i*11+1 started unless it was canceled (none: 11i+1 = 7k has solutions!).
    const canceled = new Set(Array.from({ length: 2_000 }, (_, i) => i * 7));
    const startedIdx = Array.from({ length: 1_000 }, (_, i) => i * 11 + 1).filter((i) => !canceled.has(i));
    assert.equal(summary.byState.canceled, 2_000);
    assert.equal(summary.byState.running, startedIdx.length);
    assert.equal(summary.byState.queued, N - 2_000 - startedIdx.length);
    assert.deepEqual(
      running.jobs.map((j) => j.id),
      startedIdx
        .slice(-20)
        .reverse()
        .map((i) => ids[i]),
    );
    assert.deepEqual(
      deeper.jobs.map((j) => j.id),
      ids.slice(N - 19_020, N - 19_000).reverse(),
    );

    // The plans walk indexes; none sorts the table.
    for (const sqlText of [
      'SELECT * FROM jobs ORDER BY created_at DESC, id DESC LIMIT 21',
      "SELECT * FROM jobs WHERE state = 'queued' AND (created_at, id) < (1, 'x') ORDER BY created_at DESC, id DESC LIMIT 21",
    ]) {
      const plan = (store.db.prepare(`EXPLAIN QUERY PLAN ${sqlText}`).all() as Array<{ detail: string }>)
        .map((r) => r.detail)
        .join('; ');
      assert.doesNotMatch(plan, /TEMP B-TREE|SCAN jobs(?! USING)/, `${sqlText}: ${plan}`);
    }
    store.close();
  });
});
