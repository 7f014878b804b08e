// The job store's vocabulary: jobs and tasks as the rest of the orchestrator sees them, the
// event history, and what each state change returns (so callers can notify webhooks and SSE).
import type { JobCost } from './job-cost.js';
import type { JobOptions, JobOptionsInput } from './job-options.js';
import type { JobState } from '../../jobs/types.js';
import type { JobEventType, JobOutput, JobSnapshot, TaskSnapshot, TaskType } from '../../jobs/state.js';

export interface Job extends JobSnapshot {
  createdAt: number;
  updatedAt: number;
  priority: number;
  input: string;
  notifyUrl: string | null;
  idempotencyKey: string | null;
  /** What the orchestrator decided at creation (job-options.ts). */
  options: JobOptions;
  /** Time its tasks held worker slots, retries included (ms). */
  workerMs: number;
  /** What it cost so far (job-cost.ts). */
  cost: JobCost;
}

export interface Task extends TaskSnapshot {
  jobId: string;
  params: Record<string, unknown> | null;
  /** The attempt last handed to the queue (0: never). */
  dispatchedAttempt: number;
  createdAt: number;
  updatedAt: number;
}

export interface JobDetail extends Job {
  tasks: Task[];
}

export interface JobEvent {
  /** Stored events have an increasing id (usable as an SSE event id); `progress` ticks have null. */
  id: number | null;
  jobId: string;
  taskId: string | null;
  at: number;
  type: JobEventType;
  state: JobState;
  phase: string | null;
  attempt: number;
  message: string;
  data: Record<string, unknown> | null;
}

export interface NewTask {
  /** Unique within the job; the task id becomes `<jobId>.<key>`. Letters, digits, '-'. */
  key: string;
  type: TaskType;
  /** Keys of tasks that must succeed first. */
  deps?: string[];
  params?: Record<string, unknown>;
  /** Share of the job's progress (default 1). */
  weight?: number;
}

export interface NewJob {
  input: string;
  outputs: Array<Omit<JobOutput, 'bytes'>>;
  priority?: number;
  /** Attempts per task before a retriable error fails the job (default 3). */
  maxAttempts?: number;
  notifyUrl?: string | null;
  /** A second create with the same key returns the first job instead of making another. */
  idempotencyKey?: string | null;
  options?: JobOptionsInput;
  /** Default: one `encode` task keyed `encode`. */
  tasks?: NewTask[];
}

/** What a state change did, after it committed. */
export interface JobChange {
  job: Job;
  /** The tasks that changed. */
  tasks: Task[];
  /** History written by the change (may be empty when only progress numbers moved). */
  events: JobEvent[];
  /** Task ids the dispatcher must send to the queue now. */
  dispatch: string[];
}

export interface ListJobsOptions {
  /** One state or several; all states when omitted. */
  state?: JobState | readonly JobState[];
  /** 1..1000, default 50. */
  limit?: number;
  /** `nextCursor` of the previous page. */
  cursor?: string | null;
}

export interface JobPage {
  /** Newest first. */
  jobs: Job[];
  /** Pass back to get the next (older) page; null on the last page. */
  nextCursor: string | null;
}

export interface JobSummary {
  total: number;
  byState: Record<JobState, number>;
}

/** What subscribers (SSE) receive after every committed change. */
export interface StoreChange {
  jobId: string;
  job: Job;
  event: JobEvent;
}
