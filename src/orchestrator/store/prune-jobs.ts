// pruneJobs: retention. One batch of what has been kept long enough goes, in one IMMEDIATE
// transaction: final jobs (succeeded, failed, canceled) finished before `before` with their tasks,
// events and fences, dead letters (queue_dead_letters) dead before it, and fences of jobs that
// no longer exist. Queued and running jobs are never touched. The caller repeats while `more`,
// so a large backlog goes in short transactions and other writers (feederd, workers) get the
// lock in between. With `dryRun`, counts everything that would go and deletes nothing.
import type { Db } from '../../adapters/local/db.js';
import { immediate, sql } from './rows.js';

export interface PruneCounts {
  jobs: number;
  tasks: number;
  events: number;
  deadLetters: number;
  /** Control fences (migration 0005) of pruned jobs and of jobs already gone. */
  fences: number;
}

export interface PruneBatch extends PruneCounts {
  /** A limit was reached: call again for the rest. */
  more: boolean;
}

export interface PruneOptions {
  /** Rows of each kind per transaction (default 500). */
  limit?: number;
  dryRun?: boolean;
}

// finished_at is never before created_at, so `created_at < @before` is implied; saying it lets
// SQLite seek jobs_by_state_created instead of reading every finished job in every batch.
// (A final job without finished_at, which nommer does not write, ages by updated_at.)
const PRUNABLE = `state IN ('succeeded', 'failed', 'canceled') AND created_at < @before
  AND coalesce(finished_at, updated_at) < @before`;

export function pruneJobs(db: Db, before: number, opts: PruneOptions = {}): PruneBatch {
  if (!Number.isFinite(before)) throw new RangeError(`pruneJobs: before must be a time in ms, not ${before}`);
  if (opts.dryRun) return { ...countPrunable(db, before), more: false };
  const limit = Math.max(1, Math.trunc(opts.limit ?? 500));
  return immediate(db, pruneBatchTx)(db, before, limit);
}

function pruneBatchTx(db: Db, before: number, limit: number): PruneBatch {
  const ids = sql(db, `SELECT id FROM jobs WHERE ${PRUNABLE} LIMIT @limit`).pluck().all({ before, limit }) as string[];
  const out: PruneBatch = { jobs: 0, tasks: 0, events: 0, deadLetters: 0, fences: 0, more: false };
  // Children first and by name, so the counts are real (ON DELETE CASCADE would also do it).
  const events = sql(db, 'DELETE FROM job_events WHERE job_id = ?');
  const tasks = sql(db, 'DELETE FROM tasks WHERE job_id = ?');
  const fences = sql(db, 'DELETE FROM control_fences WHERE job_id = ?');
  const jobs = sql(db, 'DELETE FROM jobs WHERE id = ?');
  for (const id of ids) {
    out.events += events.run(id).changes;
    out.tasks += tasks.run(id).changes;
    out.fences += fences.run(id).changes;
    out.jobs += jobs.run(id).changes;
  }
  out.deadLetters = sql(
    db,
    `DELETE FROM queue_dead_letters WHERE id IN
    (SELECT id FROM queue_dead_letters WHERE dead_at < @before LIMIT @limit)`,
  ).run({ before, limit }).changes;
  const orphans = sql(
    db,
    `DELETE FROM control_fences WHERE (job_id, task_id) IN
    (SELECT f.job_id, f.task_id FROM control_fences f WHERE NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = f.job_id) LIMIT @limit)`,
  ).run({ limit }).changes;
  out.fences += orphans;
  out.more = ids.length === limit || out.deadLetters === limit || orphans === limit;
  return out;
}

function countPrunable(db: Db, before: number): PruneCounts {
  const read = db.transaction(() => {
    const jobs = sql(db, `SELECT count(*) FROM jobs WHERE ${PRUNABLE}`).pluck().get({ before }) as number;
    const tasks = sql(db, `SELECT count(*) FROM tasks WHERE job_id IN (SELECT id FROM jobs WHERE ${PRUNABLE})`)
      .pluck()
      .get({ before }) as number;
    const events = sql(db, `SELECT count(*) FROM job_events WHERE job_id IN (SELECT id FROM jobs WHERE ${PRUNABLE})`)
      .pluck()
      .get({ before }) as number;
    const deadLetters = sql(db, 'SELECT count(*) FROM queue_dead_letters WHERE dead_at < ?')
      .pluck()
      .get(before) as number;
    const fences = sql(
      db,
      `SELECT count(*) FROM control_fences f WHERE f.job_id IN (SELECT id FROM jobs WHERE ${PRUNABLE})
      OR NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = f.job_id)`,
    )
      .pluck()
      .get({ before }) as number;
    return { jobs, tasks, events, deadLetters, fences };
  });
  // One snapshot: the counts agree with each other even while feederd writes.
  return read.deferred();
}
