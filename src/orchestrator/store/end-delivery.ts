// endDelivery (aws staged outputs): a job held in phase `delivering` ends, succeeded once its
// outputs are at their local paths, or failed DELIVERY_FAILED (the staged copies kept), and the
// outcome is recorded beside it (deliveries.ts). A job that succeeded before deliveries were part
// of its end (or has only staged objects to clean) gets its outcome recorded and keeps its state.
import type { Db } from '../../adapters/local/db.js';
import type { ErrorInfo } from '../../errors.js';
import { endDelivery as decide } from '../../jobs/state.js';
import { recordDelivery } from './deliveries.js';
import { loadForChange } from './load-for-change.js';
import { immediate, sql } from './rows.js';
import { saveOutcome } from './save-outcome.js';
import type { JobChange } from './types.js';

/** ended: the job's state changed; recorded: only the outcome (a job already succeeded); refused: the job ended otherwise. */
export type DeliveryEnd =
  | { outcome: 'ended'; change: JobChange }
  | { outcome: 'recorded' }
  | { outcome: 'refused'; detail: string };

export function endDelivery(db: Db, jobId: string, error: ErrorInfo | null, now = Date.now()): DeliveryEnd {
  return immediate(db, endDeliveryTx)(db, jobId, error, now);
}

function endDeliveryTx(db: Db, jobId: string, error: ErrorInfo | null, now: number): DeliveryEnd {
  const { job, tasks } = loadForChange(db, jobId);
  const out = decide(job, tasks, error, { now });
  if (out.applied) {
    sql(db, 'DELETE FROM job_deliveries WHERE job_id = ?').run(jobId);
    recordDelivery(db, jobId, error ? `${error.code}: ${error.message}` : null, now);
    return { outcome: 'ended', change: saveOutcome(db, jobId, out, now) };
  }
  if (job.state === 'succeeded') {
    recordDelivery(db, jobId, error ? `${error.code}: ${error.message}` : null, now);
    return { outcome: 'recorded' };
  }
  return { outcome: 'refused', detail: out.detail };
}

/** Whether a change that would end the job must wait for its staged outputs to be delivered. */
export function awaitsDelivery(job: { options: { deliver?: readonly unknown[] } }): boolean {
  return (job.options.deliver?.length ?? 0) > 0;
}
