// failJob: the orchestrator fails a job itself (e.g. its task could not be sent, or a worker
// rejected the message as malformed). Unfinished tasks are canceled.
import type { Db } from '../../adapters/local/db.js';
import { NommerError, type ErrorInfo } from '../../errors.js';
import { failJob as decide } from '../../jobs/state.js';
import { loadForChange } from './load-for-change.js';
import { immediate } from './rows.js';
import { saveOutcome } from './save-outcome.js';
import type { JobChange } from './types.js';

export function failJob(db: Db, jobId: string, error: ErrorInfo, opts: { now?: number } = {}): JobChange {
  return immediate(db, failJobTx)(db, jobId, error, opts.now ?? Date.now());
}

/** failJob inside a transaction the caller holds. */
export function failJobTx(db: Db, jobId: string, error: ErrorInfo, now: number): JobChange {
  const { job, tasks } = loadForChange(db, jobId);
  const out = decide(job, tasks, error, { now });
  if (!out.applied) throw new NommerError('JOB_STATE', out.detail);
  return saveOutcome(db, jobId, out, now);
}
