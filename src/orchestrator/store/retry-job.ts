// retryJob: a failed or canceled job goes back to the queue; every task that did not succeed (and
// every succeeded one named in `rerun`, whose result is gone) gets a new attempt above any fence,
// and a fresh budget of automatic retries.
import type { Db } from '../../adapters/local/db.js';
import { NommerError } from '../../errors.js';
import { retryJob as decide } from '../../jobs/state.js';
import { loadForChange } from './load-for-change.js';
import { immediate } from './rows.js';
import { saveOutcome } from './save-outcome.js';
import type { JobChange } from './types.js';

export function retryJob(db: Db, jobId: string, opts: { now?: number; rerun?: readonly string[] } = {}): JobChange {
  return immediate(db, retryJobTx)(db, jobId, opts.now ?? Date.now(), opts.rerun ?? []);
}

function retryJobTx(db: Db, jobId: string, now: number, rerun: readonly string[]): JobChange {
  const { job, tasks } = loadForChange(db, jobId);
  const out = decide(job, tasks, { now, rerun });
  if (!out.applied)
    throw new NommerError('JOB_STATE', out.detail, { hint: 'only failed or canceled jobs can be retried' });
  return saveOutcome(db, jobId, out, now);
}
