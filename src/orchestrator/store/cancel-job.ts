// cancelJob: a queued or running job, and its unfinished tasks, become canceled.
// Canceling a finished job is a JOB_STATE error (the user asked for something that cannot be).
import type { Db } from '../../adapters/local/db.js';
import { NommerError } from '../../errors.js';
import { cancelJob as decide } from '../../jobs/state.js';
import { loadForChange } from './load-for-change.js';
import { immediate } from './rows.js';
import { saveOutcome } from './save-outcome.js';
import type { JobChange } from './types.js';

export function cancelJob(db: Db, jobId: string, opts: { reason?: string; now?: number } = {}): JobChange {
  return immediate(db, cancelJobTx)(db, jobId, opts.reason, opts.now ?? Date.now());
}

function cancelJobTx(db: Db, jobId: string, reason: string | undefined, now: number): JobChange {
  const { job, tasks } = loadForChange(db, jobId);
  const out = decide(job, tasks, { now, reason });
  if (!out.applied) throw new NommerError('JOB_STATE', out.detail);
  return saveOutcome(db, jobId, out, now);
}
