// applyStatusEvent: a worker's status event, applied at most once (task, attempt, seq). Returns
// what changed so the caller can notify webhooks and subscribers, or why nothing did.
import type { Db } from '../../adapters/local/db.js';
import type { StatusEvent } from '../../messages.js';
import { applyStatus, type RefusalReason } from '../../jobs/state.js';
import { immediate, readJob, readTasks } from './rows.js';
import { saveOutcome } from './save-outcome.js';
import type { Job, JobChange } from './types.js';

export type StatusResult =
  | ({ applied: true } & JobChange)
  | { applied: false; reason: RefusalReason | 'job-unknown'; detail: string; job: Job | null };

export function applyStatusEvent(db: Db, ev: StatusEvent, now: number = Date.now()): StatusResult {
  return immediate(db, applyStatusEventTx)(db, ev, now);
}

function applyStatusEventTx(db: Db, ev: StatusEvent, now: number): StatusResult {
  const job = readJob(db, ev.jobId);
  // An event for a job this store never had (or deleted) is acked and dropped by the caller.
  if (!job) return { applied: false, reason: 'job-unknown', detail: `no job ${ev.jobId}`, job: null };
  const out = applyStatus(job, readTasks(db, ev.jobId), ev, { now });
  if (!out.applied) return { applied: false, reason: out.reason, detail: out.detail, job };
  return { applied: true, ...saveOutcome(db, ev.jobId, out, now, { endAt: ev.at }) };
}
