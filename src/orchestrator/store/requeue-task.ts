// requeueTask: the task's worker is lost (it stopped reporting, or its message was dead-lettered).
// The task gets another attempt, or the job fails with WORKER_LOST when none are left. Returns
// null when there is nothing to do any more (the task finished meanwhile): the sweeper that
// calls this races with status events, and losing that race is normal.
import type { Db } from '../../adapters/local/db.js';
import type { ErrorInfo } from '../../errors.js';
import { requeueTask as decide } from '../../jobs/state.js';
import { loadForChange } from './load-for-change.js';
import { immediate } from './rows.js';
import { saveOutcome } from './save-outcome.js';
import type { JobChange } from './types.js';

export function requeueTask(
  db: Db,
  jobId: string,
  taskId: string,
  opts: { error?: ErrorInfo; now?: number } = {},
): JobChange | null {
  return immediate(db, requeueTaskTx)(db, jobId, taskId, opts.error, opts.now ?? Date.now());
}

function requeueTaskTx(
  db: Db,
  jobId: string,
  taskId: string,
  error: ErrorInfo | undefined,
  now: number,
): JobChange | null {
  const { job, tasks } = loadForChange(db, jobId);
  const out = decide(job, tasks, taskId, { now, error });
  return out.applied ? saveOutcome(db, jobId, out, now) : null;
}
