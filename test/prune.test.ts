// Retention against real SQLite files: pruning removes exactly the final jobs finished before the
// cutoff (with their tasks, events and fences), old dead letters and orphan fences, and nothing
// queued, running or recent; a dry run deletes nothing; `nommer prune` end to end; feederd's loop.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { nommer } from './helpers/cli.js';
import { openStore, pruneJobs, type Store } from '../src/orchestrator/store/index.js';
import { parseDuration, pruneStore, Retention } from '../src/orchestrator/retention.js';
import { createLogger } from '../src/log.js';
import { dataPaths } from '../src/paths.js';
import { plainJob as req, statusEvent as ev, storeFactory } from './helpers/store.js';

const DAY = 86_400_000;
const NOW = Date.now();
const OLD = NOW - 40 * DAY;
const RECENT = NOW - 1 * DAY;
const CUTOFF = NOW - 30 * DAY;

const { fresh, dir } = storeFactory('prune');
const log = createLogger('test', { level: 'silent' });

/** A job in `state`, created at `created` and (when final) finished at `finished`. Returns its id. */
function job(
  store: Store,
  state: 'queued' | 'running' | 'succeeded' | 'failed' | 'canceled',
  created: number,
  finished = created + 1000,
): string {
  const { job: j } = store.createJob(
    req({
      tasks: [
        { key: 'encode', type: 'encode' },
        { key: 'extra', type: 'encode' },
      ],
    }),
    created,
  );
  if (state === 'queued') return j.id;
  if (state === 'canceled') {
    store.cancelJob(j.id, { now: finished });
    return j.id;
  }
  if (state === 'failed') {
    store.failJob(j.id, { code: 'INTERNAL', message: 'boom', retriable: false }, { now: finished });
    return j.id;
  }
  store.applyStatusEvent(ev(j.id, 0, 'started'), created + 10);
  if (state === 'running') return j.id;
  store.applyStatusEvent(
    ev(j.id, 1, 'succeeded', { outputs: [{ uri: 'file:///media/out.webm', bytes: 1 }] }),
    finished - 1,
  );
  store.applyStatusEvent(ev(j.id, 0, 'started', { taskId: `${j.id}.extra` }), finished - 1);
  store.applyStatusEvent(
    ev(j.id, 1, 'succeeded', { taskId: `${j.id}.extra`, outputs: [{ uri: 'file:///media/out.webm', bytes: 1 }] }),
    finished,
  );
  return j.id;
}

interface World {
  store: Store;
  /** Old final jobs: these go. */
  gone: string[];
  /** Everything else: these stay. */
  kept: string[];
}

/** Jobs in every state on both sides of the cutoff, fences, dead letters. */
function populate(store: Store): World {
  const gone = [
    job(store, 'succeeded', OLD),
    job(store, 'failed', OLD),
    job(store, 'canceled', OLD),
    job(store, 'succeeded', OLD - DAY),
  ];
  const kept = [
    job(store, 'queued', OLD),
    job(store, 'running', OLD),
    job(store, 'succeeded', RECENT),
    job(store, 'failed', RECENT),
    job(store, 'canceled', RECENT),
    job(store, 'queued', RECENT),
    job(store, 'running', RECENT),
    // Created long ago, finished only yesterday: kept by its finish time.
    job(store, 'succeeded', OLD, RECENT),
  ];
  const fence = store.db.prepare('INSERT INTO control_fences (job_id, task_id, up_to, at) VALUES (?, ?, ?, ?)');
  fence.run(gone[2], '', 1, OLD); // an old canceled job's fence: goes with it
  fence.run(kept[4], '', 1, RECENT); // a recent canceled job's: stays
  fence.run(kept[1], `${kept[1]}.encode`, 1, OLD); // a running job's (old): stays
  fence.run('j_gone_long_ago', '', 3, OLD); // orphans: their jobs no longer exist
  fence.run('j_gone_yesterday', 't_x', 1, RECENT);
  const dead =
    store.db.prepare(`INSERT INTO queue_dead_letters (queue, message_id, body, priority, sent_at, receive_count, reason, dead_at)
    VALUES ('tasks', ?, '{}', 0, ?, 5, 'too many deliveries', ?)`);
  dead.run(1, OLD, OLD);
  dead.run(2, OLD - DAY, OLD - DAY);
  dead.run(3, RECENT, RECENT);
  return { store, gone, kept };
}

const count = (store: Store, sql: string, ...args: unknown[]) =>
  store.db
    .prepare(sql)
    .pluck()
    .get(...args) as number;
const jobIds = (store: Store) => (store.db.prepare('SELECT id FROM jobs ORDER BY id').pluck().all() as string[]).sort();
const rowsOf = (store: Store, table: 'tasks' | 'job_events' | 'control_fences', ids: string[]) =>
  ids.reduce((sum, id) => sum + count(store, `SELECT count(*) FROM ${table} WHERE job_id = ?`, id), 0);

describe('parseDuration', () => {
  test('hours, days, weeks, minutes, seconds', () => {
    assert.equal(parseDuration('12h'), 12 * 3_600_000);
    assert.equal(parseDuration('7d'), 7 * DAY);
    assert.equal(parseDuration('30d'), 30 * DAY);
    assert.equal(parseDuration('2w'), 14 * DAY);
    assert.equal(parseDuration('90m'), 90 * 60_000);
    assert.equal(parseDuration('45s'), 45_000);
    assert.equal(parseDuration('1.5d'), 1.5 * DAY);
  });

  test('anything else is a usage error naming the forms', () => {
    for (const bad of ['', '30', 'd', '30x', '-1d', '0d', '1y', 'thirty days', '1e3d', '99999999d']) {
      assert.throws(
        () => parseDuration(bad),
        (e: Error & { code?: string }) => e.code === 'USAGE' && /12h, 7d or 30d/.test(e.message),
        bad,
      );
    }
  });
});

describe('pruneJobs', () => {
  test('a dry run counts what would go and deletes nothing', () => {
    const w = populate(fresh());
    const before = {
      jobs: jobIds(w.store),
      tasks: count(w.store, 'SELECT count(*) FROM tasks'),
      events: count(w.store, 'SELECT count(*) FROM job_events'),
    };
    const r = pruneJobs(w.store.db, CUTOFF, { dryRun: true });
    assert.deepEqual(r, {
      jobs: 4,
      tasks: rowsOf(w.store, 'tasks', w.gone),
      events: rowsOf(w.store, 'job_events', w.gone),
      deadLetters: 2,
      fences: 3,
      more: false,
    });
    assert.equal(r.tasks, 8);
    assert.ok(r.events >= 8, `events: ${r.events}`);
    assert.deepEqual(jobIds(w.store), before.jobs);
    assert.equal(count(w.store, 'SELECT count(*) FROM tasks'), before.tasks);
    assert.equal(count(w.store, 'SELECT count(*) FROM job_events'), before.events);
    assert.equal(count(w.store, 'SELECT count(*) FROM queue_dead_letters'), 3);
    assert.equal(count(w.store, 'SELECT count(*) FROM control_fences'), 5);
    w.store.close();
  });

  test('removes exactly the old final jobs with their tasks, events and fences; old dead letters; orphan fences', async () => {
    const w = populate(fresh());
    const tasks = rowsOf(w.store, 'tasks', w.gone);
    const events = rowsOf(w.store, 'job_events', w.gone);
    const keptTasks = rowsOf(w.store, 'tasks', w.kept);
    const keptEvents = rowsOf(w.store, 'job_events', w.kept);
    // Batches of 2: the backlog goes in several transactions.
    const r = await pruneStore(w.store.db, { before: CUTOFF, batchSize: 2 });
    assert.deepEqual(r, { before: CUTOFF, dryRun: false, jobs: 4, tasks, events, deadLetters: 2, fences: 3 });
    assert.deepEqual(jobIds(w.store), [...w.kept].sort());
    assert.equal(rowsOf(w.store, 'tasks', w.gone), 0);
    assert.equal(rowsOf(w.store, 'job_events', w.gone), 0);
    assert.equal(rowsOf(w.store, 'control_fences', w.gone), 0);
    assert.equal(rowsOf(w.store, 'tasks', w.kept), keptTasks, 'kept jobs keep every task');
    assert.equal(rowsOf(w.store, 'job_events', w.kept), keptEvents, 'and every event');
    assert.deepEqual(
      w.store.db.prepare('SELECT job_id FROM control_fences ORDER BY job_id').pluck().all(),
      [w.kept[1], w.kept[4]].sort(),
    );
    assert.deepEqual(w.store.db.prepare('SELECT message_id FROM queue_dead_letters').pluck().all(), [3]);
    // The per-state counts (kept by triggers) still agree with the rows.
    const summary = w.store.summarizeJobs();
    assert.equal(summary.total, w.kept.length);
    for (const [state, k] of Object.entries(summary.byState))
      assert.equal(k, count(w.store, 'SELECT count(*) FROM jobs WHERE state = ?', state), state);
    // Queued and running jobs still work as before.
    assert.equal(w.store.getJob(w.kept[1]!)?.state, 'running');
    assert.equal(w.store.getJob(w.kept[0]!)?.state, 'queued');
    // Again: nothing left to do.
    assert.deepEqual(await pruneStore(w.store.db, { before: CUTOFF }), {
      before: CUTOFF,
      dryRun: false,
      jobs: 0,
      tasks: 0,
      events: 0,
      deadLetters: 0,
      fences: 0,
    });
    w.store.close();
  });

  test('a batch reports more while a limit was reached', () => {
    const w = populate(fresh());
    const first = pruneJobs(w.store.db, CUTOFF, { limit: 3 });
    assert.equal(first.jobs, 3);
    assert.equal(first.more, true);
    const second = pruneJobs(w.store.db, CUTOFF, { limit: 3 });
    assert.equal(second.jobs, 1);
    assert.equal(second.more, false);
    w.store.close();
  });

  test('the jobs are found through the (state, created_at) index', () => {
    const store = fresh();
    const plan = store.db
      .prepare(`EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE state IN ('succeeded', 'failed', 'canceled')
      AND created_at < @before AND coalesce(finished_at, updated_at) < @before LIMIT 500`)
      .all({ before: CUTOFF }) as Array<{ detail: string }>;
    assert.match(plan.map((p) => p.detail).join('\n'), /jobs_by_state_created/);
    store.close();
  });
});

describe('feederd retention loop', () => {
  test('prunes at start, checkpoints, stops when aborted', async () => {
    const w = populate(fresh());
    const stop = new AbortController();
    const retention = new Retention(w.store.db, log, { days: 30, checkpointEveryMs: 20 });
    const running = retention.run(stop.signal);
    for (let i = 0; i < 200 && jobIds(w.store).length !== w.kept.length; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.deepEqual(jobIds(w.store), [...w.kept].sort());
    await new Promise((r) => setTimeout(r, 60)); // a few checkpoints
    stop.abort();
    await running;
    assert.ok(retention.checkpointOnce().log >= 0, 'the database is in WAL mode');
    w.store.close();
  });
});

describe('nommer prune', () => {
  const home = join(dir.path, 'home');
  const cwd = join(dir.path, 'cwd');
  mkdirSync(home, { recursive: true });
  mkdirSync(cwd, { recursive: true });
  const env = { NOMMER_HOME: home, NOMMER_LOG_LEVEL: 'silent' };
  const run = (args: string[], more: { cwd?: string } = {}) =>
    nommer(args, { env, cwd: more.cwd ?? cwd, timeoutMs: 30_000 });

  test('with no job store yet: nothing to prune, nothing created', async () => {
    const r = await run(['prune']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /no job store at .*nothing to prune/);
  });

  test('--dry-run says what would go and deletes nothing; then prune deletes it and checkpoints the WAL', async () => {
    // The store stays open here, as feederd's would: the CLI shares the file through WAL.
    const w = populate(openStore(dataPaths(home).db));
    const all = jobIds(w.store);
    const dry = await run(['--json', 'prune', '--dry-run']);
    assert.equal(dry.code, 0, dry.stderr);
    const d = JSON.parse(dry.stdout);
    assert.equal(d.dryRun, true);
    assert.equal(d.olderThan, '30d', 'default: retention.days');
    assert.deepEqual([d.jobs, d.deadLetters, d.fences], [4, 2, 3]);
    assert.equal(d.checkpoint, null);
    assert.deepEqual(jobIds(w.store), all);

    const human = await run(['prune', '--dry-run', '--older-than', '30d']);
    assert.equal(human.code, 0, human.stderr);
    assert.match(
      human.stdout,
      /would delete 4 jobs \(8 tasks, \d+ events\), 2 dead letters, 3 stale fences older than 30d/,
    );
    assert.match(human.stdout, /WAL: .*\d+ bytes.*not checkpointed/);
    assert.deepEqual(jobIds(w.store), all);

    const real = await run(['--json', 'prune', '--older-than', '30d']);
    assert.equal(real.code, 0, real.stderr);
    const p = JSON.parse(real.stdout);
    assert.equal(p.dryRun, false);
    assert.deepEqual([p.jobs, p.tasks, p.deadLetters, p.fences], [4, 8, 2, 3]);
    assert.ok(p.walBytes > 0, `the WAL had ${p.walBytes} bytes`);
    assert.equal(p.checkpoint.busy, 0);
    assert.equal(p.walBytesAfter, 0, 'TRUNCATE reset it');
    assert.deepEqual(jobIds(w.store), [...w.kept].sort());

    // A shorter cutoff takes the recent final jobs too, never the queued or running ones.
    const short = await run(['prune', '--older-than', '12h']);
    assert.equal(short.code, 0, short.stderr);
    assert.match(short.stdout, /^deleted 4 jobs \(8 tasks, \d+ events\), 1 dead letter, 1 stale fence older than 12h/);
    assert.match(short.stdout, /WAL: .* before the checkpoint, 0 B after/);
    assert.deepEqual(w.store.db.prepare('SELECT state FROM jobs ORDER BY state').pluck().all(), [
      'queued',
      'queued',
      'running',
      'running',
    ]);
    w.store.close();
  });

  test('the default cutoff comes from retention.days', async () => {
    const h = join(dir.path, 'home-days');
    const c = join(dir.path, 'cwd-days');
    mkdirSync(c, { recursive: true });
    writeFileSync(join(c, 'nommer.config.json'), JSON.stringify({ retention: { days: 3 } }));
    mkdirSync(h, { recursive: true });
    const store = openStore(dataPaths(h).db);
    const fiveDays = job(store, 'succeeded', NOW - 5 * DAY);
    const yesterday = job(store, 'succeeded', RECENT);
    store.close();
    const r = await nommer(['--json', 'prune'], { env: { NOMMER_HOME: h }, cwd: c, timeoutMs: 30_000 });
    assert.equal(r.code, 0, r.stderr);
    const p = JSON.parse(r.stdout);
    assert.equal(p.olderThan, '3d');
    assert.equal(p.jobs, 1);
    const after = openStore(dataPaths(h).db);
    assert.equal(after.getJob(fiveDays), null);
    assert.ok(after.getJob(yesterday));
    after.close();
  });

  test('a bad --older-than is a usage error (exit 2) that names the forms', async () => {
    for (const bad of ['30', '5x', '0d', 'forever']) {
      const r = await run(['prune', '--older-than', bad]);
      assert.equal(r.code, 2, `${bad}: ${r.stdout}${r.stderr}`);
      assert.match(
        r.stderr,
        new RegExp(`"${bad}" is not a duration: use a number and a unit, e\\.g\\. 12h, 7d or 30d`),
        bad,
      );
    }
  });

  test('a bad retention.days is a config error (exit 2) with its path', async () => {
    const c = join(dir.path, 'cwd-bad');
    mkdirSync(c, { recursive: true });
    for (const days of [0, 2.5, 'thirty']) {
      writeFileSync(join(c, 'nommer.config.json'), JSON.stringify({ retention: { days } }));
      const r = await run(['prune', '--dry-run'], { cwd: c });
      assert.equal(r.code, 2, `${days}: ${r.stdout}${r.stderr}`);
      assert.match(r.stderr, /retention\.days must be a whole number of days from 1 to 36500/);
    }
    writeFileSync(join(c, 'nommer.config.json'), JSON.stringify({ retention: { day: 7 } }));
    const typo = await run(['prune', '--dry-run'], { cwd: c });
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /unknown key "retention\.day"/);
  });
});
