// applyStatusEvent: a worker's status event, applied at most once (task, attempt, seq). Returns
// what changed so the caller can notify webhooks and subscribers, or why nothing did.
import type { Db } from '../../adapters/local/db.js';
import type { ErrorInfo } from '../../errors.js';
import type { StatusEvent } from '../../messages.js';
import { applyStatus, holdForDelivery, type RefusalReason } from '../../jobs/state.js';
import { awaitsDelivery } from './end-delivery.js';
import { failJobTx } from './fail-job.js';
import { instanceOfWorker } from './instance-ledger.js';
import { immediate, readJob, readTasks, sql } from './rows.js';
import { replaceChunks, type ChunkReplan } from './replace-chunks.js';
import { saveOutcome, type SlotPrice } from './save-outcome.js';
import type { Job, JobChange } from './types.js';

export type StatusResult =
  | ({ applied: true } & JobChange)
  | { applied: false; reason: RefusalReason | 'job-unknown'; detail: string; job: Job | null };

/** $/hour of one slot of an instance of this type (spot or on demand), and why; undefined: no price. */
export type SlotPriceOf = (instance: { type: string; spot: boolean }) => SlotPrice | undefined;

export function applyStatusEvent(
  db: Db,
  ev: StatusEvent,
  now: number = Date.now(),
  slotPriceOf?: SlotPriceOf,
  replan?: ChunkReplan,
): StatusResult {
  return immediate(db, applyStatusEventTx)(db, ev, now, slotPriceOf, replan);
}

/**
 * What a slot of the worker that sent `ev` costs: priced by the instance type it says it runs on.
 * Its market is what it says, else what the instance ledger recorded at launch, else on demand.
 */
function priceOfSender(db: Db, ev: StatusEvent, slotPriceOf?: SlotPriceOf): SlotPrice | null {
  if (!ev.instance || !slotPriceOf) return null;
  const ledgerSpot = sql(db, 'SELECT spot FROM instances WHERE id = ?').pluck().get(instanceOfWorker(ev.worker)) as
    | number
    | undefined;
  const spot = ev.instance.spot ?? ledgerSpot === 1;
  return slotPriceOf({ type: ev.instance.type, spot }) ?? null;
}

const UNPLACED: ErrorInfo = {
  code: 'INTERNAL',
  message:
    "the scene task's plan could not take the place of the remote input's placeholder chunk; nothing was encoded",
  retriable: false,
};

function applyStatusEventTx(
  db: Db,
  ev: StatusEvent,
  now: number,
  slotPriceOf?: SlotPriceOf,
  replan?: ChunkReplan,
): StatusResult {
  const job = readJob(db, ev.jobId);
  // An event for a job this store never had (or deleted) is acked and dropped by the caller.
  if (!job) return { applied: false, reason: 'job-unknown', detail: `no job ${ev.jobId}`, job: null };
  const decided = applyStatus(job, readTasks(db, ev.jobId), ev, { now });
  if (!decided.applied) return { applied: false, reason: decided.reason, detail: decided.detail, job };
  const out = awaitsDelivery(job) ? holdForDelivery(decided) : decided;
  const saved = saveOutcome(db, ev.jobId, out, now, {
    endAt: ev.at,
    sender: { taskId: ev.taskId, attempt: ev.attempt, price: priceOfSender(db, ev, slotPriceOf) },
  });
  // A scene task's success: its plan replaces the chunks that waited for it (replace-chunks.ts).
  if (replan && replan.after === ev.taskId && !replaceChunks(db, ev.jobId, replan, now) && replan.replaceAudio)
    // A remote input's chunk is a placeholder (feederd could not read the input): it must never run.
    // The store declines a plan only on a defect (a graph it refuses, a chunk already sent), so the
    // job fails with what happened instead of encoding one frame as the title.
    return { applied: true, ...failJobTx(db, ev.jobId, UNPLACED, now) };
  return { applied: true, ...saved };
}
