// retryJob: a failed or canceled job goes back to the queue; every task that did not succeed gets
// a new attempt (and a fresh budget of automatic retries).
import type { Db } from '../../adapters/local/db.js';
import { NommerError } from '../../errors.js';
import { retryJob as decide } from '../../jobs/state.js';
import { loadForChange } from './loadForChange.js';
import { immediate } from './rows.js';
import { saveOutcome } from './saveOutcome.js';
import type { JobChange } from './types.js';

export function retryJob(db: Db, jobId: string, opts: { now?: number } = {}): JobChange {
  return immediate(db, retryJobTx)(db, jobId, opts.now ?? Date.now());
}

function retryJobTx(db: Db, jobId: string, now: number): JobChange {
  const { job, tasks } = loadForChange(db, jobId);
  const out = decide(job, tasks, { now });
  if (!out.applied) throw new NommerError('JOB_STATE', out.detail, { hint: 'only failed or canceled jobs can be retried' });
  return saveOutcome(db, jobId, out, now);
}
