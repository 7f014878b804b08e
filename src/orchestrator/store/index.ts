// The job store: SQLite, one small named function per state change (each its own file and its
// own transaction), gathered here behind one object that also tells in-process subscribers
// (SSE, webhooks) about every change after it commits.
import { openDatabase, type Db } from '../../adapters/local/db.js';
import type { ErrorInfo } from '../../errors.js';
import type { StatusEvent } from '../../messages.js';
import { applyStatusEvent, type SlotPriceOf, type StatusResult } from './apply-status-event.js';
import type { ChunkReplan } from './replace-chunks.js';
import { busyByWorker as busyByWorkerQuery } from './busy-by-worker.js';
import { cancelJob } from './cancel-job.js';
import { createJob, type Created } from './create-job.js';
import { deliveryOf, pendingDeliveries, recordDelivery, type DeliveryRecord } from './deliveries.js';
import { endDelivery, type DeliveryEnd } from './end-delivery.js';
import { failJob } from './fail-job.js';
import { findByIdempotencyKey } from './find-by-idempotency-key.js';
import { getJob } from './get-job.js';
import { listDispatchableTasks, type Dispatchable } from './list-dispatchable-tasks.js';
import { listJobEvents } from './list-job-events.js';
import { listJobs } from './list-jobs.js';
import { listSilentTasks } from './list-silent-tasks.js';
import { markTaskDispatched } from './mark-task-dispatched.js';
import { outputsOfWorker } from './outputs-of-worker.js';
import { pastSpeeds } from './past-speeds.js';
import { requeueTask } from './requeue-task.js';
import { retryJob } from './retry-job.js';
import { summarizeJobs } from './summarize-jobs.js';
import type {
  Job,
  JobChange,
  JobDetail,
  JobEvent,
  JobPage,
  JobSummary,
  ListJobsOptions,
  NewJob,
  StoreChange,
} from './types.js';

export type * from './types.js';
export type { StatusResult } from './apply-status-event.js';
export type { Dispatchable } from './list-dispatchable-tasks.js';
export type { Created } from './create-job.js';
export type { DeliveryRecord } from './deliveries.js';
export { pruneJobs, type PruneBatch, type PruneCounts, type PruneOptions } from './prune-jobs.js';
export {
  applyStatusEvent,
  cancelJob,
  createJob,
  failJob,
  findByIdempotencyKey,
  getJob,
  listDispatchableTasks,
  listJobEvents,
  listJobs,
  listSilentTasks,
  markTaskDispatched,
  requeueTask,
  retryJob,
  summarizeJobs,
};

/** Running tasks per worker id (EC2 workers report their instance id as worker id). */
export function busyByWorker(store: Store): Map<string, number> {
  return busyByWorkerQuery(store.db);
}

/** Open (creating and migrating if needed) the store's database file. */
export function openStore(path: string): Store {
  return new Store(openDatabase(path));
}

export class Store {
  // A plain set rather than an EventEmitter: one throwing listener must not keep the others
  // from hearing about a change that has already committed.
  private readonly listeners = new Set<(change: StoreChange) => void>();

  /**
   * Prices a worker's own instance type (its status events' `instance`) per slot-hour; feederd
   * sets it on the aws backend. Unset, or undefined for a type: the job's slot price applies.
   */
  slotPriceOf?: SlotPriceOf;

  constructor(readonly db: Db) {}

  /** Called after each committed change, once per event (a `progress` tick when only numbers moved). Returns unsubscribe. */
  subscribe(listener: (change: StoreChange) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  createJob(req: NewJob, now?: number): Created {
    const r = createJob(this.db, req, now);
    if (r.created) this.emit({ job: r.job, tasks: r.job.tasks, events: r.events, dispatch: [] });
    return r;
  }

  getJob(jobId: string): JobDetail | null {
    return getJob(this.db, jobId);
  }
  findByIdempotencyKey(key: string): Job | null {
    return findByIdempotencyKey(this.db, key);
  }
  listJobs(opts?: ListJobsOptions): JobPage {
    return listJobs(this.db, opts);
  }
  summarizeJobs(): JobSummary {
    return summarizeJobs(this.db);
  }
  listJobEvents(jobId: string, opts?: { afterId?: number; limit?: number }): JobEvent[] {
    return listJobEvents(this.db, jobId, opts);
  }

  /** `replan`: the chunks a scene task's success replaces (store/replace-chunks.ts). */
  applyStatusEvent(ev: StatusEvent, now?: number, replan?: ChunkReplan): StatusResult {
    const r = applyStatusEvent(this.db, ev, now, this.slotPriceOf, replan);
    if (r.applied) this.emit(r);
    return r;
  }

  cancelJob(jobId: string, opts?: { reason?: string; now?: number }): JobChange {
    return this.emit(cancelJob(this.db, jobId, opts));
  }
  retryJob(jobId: string, opts?: { now?: number; rerun?: readonly string[] }): JobChange {
    return this.emit(retryJob(this.db, jobId, opts));
  }
  failJob(jobId: string, error: ErrorInfo, opts?: { now?: number }): JobChange {
    return this.emit(failJob(this.db, jobId, error, opts));
  }

  requeueTask(jobId: string, taskId: string, opts?: { error?: ErrorInfo; now?: number }): JobChange | null {
    const r = requeueTask(this.db, jobId, taskId, opts);
    return r ? this.emit(r) : null;
  }

  listDispatchableTasks(opts?: { limit?: number }): Dispatchable[] {
    return listDispatchableTasks(this.db, opts);
  }
  markTaskDispatched(taskId: string, attempt: number, now?: number): boolean {
    return markTaskDispatched(this.db, taskId, attempt, now);
  }
  /** Several in one transaction (a dispatched batch). */
  markTasksDispatched(sent: ReadonlyArray<{ taskId: string; attempt: number }>, now?: number): void {
    this.db.transaction(() => {
      for (const t of sent) markTaskDispatched(this.db, t.taskId, t.attempt, now);
    })();
  }
  listSilentTasks(before: number, opts?: { limit?: number }) {
    return listSilentTasks(this.db, before, opts);
  }
  outputsOfWorker(worker: string): string[] {
    return outputsOfWorker(this.db, worker);
  }
  /** Past jobs' media length and slot time, for estimates (past-speeds.ts). */
  pastSpeeds(opts?: { limit?: number }) {
    return pastSpeeds(this.db, opts);
  }
  /** aws: succeeded jobs whose staged outputs are not delivered yet (deliveries.ts). */
  pendingDeliveries(opts?: { limit?: number }): Job[] {
    return pendingDeliveries(this.db, opts);
  }
  recordDelivery(jobId: string, error: string | null, now?: number): void {
    recordDelivery(this.db, jobId, error, now);
  }
  deliveryOf(jobId: string): DeliveryRecord | null {
    return deliveryOf(this.db, jobId);
  }
  /** A delivery's outcome: ends a job held in phase `delivering` (end-delivery.ts). */
  endDelivery(jobId: string, error: ErrorInfo | null, now?: number): DeliveryEnd {
    const r = endDelivery(this.db, jobId, error, now);
    if (r.outcome === 'ended') this.emit(r.change);
    return r;
  }

  close(): void {
    this.listeners.clear();
    this.db.close();
  }

  private emit<C extends JobChange>(change: C): C {
    const { job } = change;
    let events = change.events;
    // Only numbers moved (progress, fps): subscribers still want them; history does not.
    if (events.length === 0) {
      events = [
        {
          id: null,
          jobId: job.id,
          taskId: change.tasks[0]?.id ?? null,
          at: job.updatedAt,
          type: 'progress',
          state: job.state,
          phase: job.phase,
          attempt: job.attempt,
          message: `${Math.round(job.progress * 100)}%`,
          data: { progress: job.progress, fps: job.fps, speed: job.speed, eta: job.eta },
        },
      ];
    }
    for (const event of events) {
      for (const listener of [...this.listeners]) {
        try {
          listener({ jobId: job.id, job, event });
        } catch {
          /* the listener's own bug; the change stands */
        }
      }
    }
    return change;
  }
}
