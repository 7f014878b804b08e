// retryJob: a failed or canceled job goes back to the queue; every task that did not succeed (and
// every succeeded one named in `rerun`, whose result is gone) gets a new attempt above any fence,
// and a fresh budget of automatic retries.
import type { Db } from '../../adapters/local/db.js';
import { NommerError } from '../../errors.js';
import { holdForDelivery, retryJob as decide } from '../../jobs/state.js';
import { awaitsDelivery } from './end-delivery.js';
import { loadForChange } from './load-for-change.js';
import { immediate, sql } from './rows.js';
import { saveOutcome } from './save-outcome.js';
import type { JobChange } from './types.js';

export function retryJob(db: Db, jobId: string, opts: { now?: number; rerun?: readonly string[] } = {}): JobChange {
  return immediate(db, retryJobTx)(db, jobId, opts.now ?? Date.now(), opts.rerun ?? []);
}

function retryJobTx(db: Db, jobId: string, now: number, rerun: readonly string[]): JobChange {
  const { job, tasks } = loadForChange(db, jobId);
  const decided = decide(job, tasks, { now, rerun });
  if (!decided.applied)
    throw new NommerError('JOB_STATE', decided.detail, { hint: 'only failed or canceled jobs can be retried' });
  // A job whose delivery failed has all its tasks done: retried, it delivers again.
  const out = awaitsDelivery(job) ? holdForDelivery(decided) : decided;
  if (out.job.phase === 'delivering') sql(db, 'DELETE FROM job_deliveries WHERE job_id = ?').run(jobId);
  return saveOutcome(db, jobId, out, now);
}
