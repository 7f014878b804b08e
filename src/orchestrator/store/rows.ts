// Rows <-> objects for the job store, the statement cache, and reading a job with its tasks.
// Every JSON column is read here and nowhere else: each has a schema, parsed once as the row is
// read, so no caller casts what a column holds.
import type { Db, Statement } from '../../adapters/local/db.js';
import type { ErrorInfo } from '../../errors.js';
import type { JobState, Phase } from '../../jobs/types.js';
import type { JobEventType, JobOutput, TaskState, TaskType } from '../../jobs/state.js';
import type { Job, JobEvent, Task } from './types.js';
import * as z from 'zod';
import { type OutputMedia, outputMedia } from '../../cost/output-media.js';
import { outputLoudnessSchema, outputQualitySchema, packageInfo } from '../../jobs/outputs.js';
import { taskOutput } from '../../messages.js';
import { readBack } from '../../read-back.js';
import { type CostFacts, jobCostOf } from './job-cost.js';
import { parseJobOptions } from './job-options.js';

// Preparing a statement costs more than running a small one; keep them per connection.
const cache = new WeakMap<Db, Map<string, Statement>>();

/** A prepared statement for constant SQL text (values always go in as parameters). */
export function sql(db: Db, text: string): Statement {
  let stmts = cache.get(db);
  if (!stmts) cache.set(db, (stmts = new Map()));
  let s = stmts.get(text);
  if (!s) stmts.set(text, (s = db.prepare(text)));
  return s;
}

// Likewise the transaction wrappers: better-sqlite3 builds four closures per db.transaction().
const txCache = new WeakMap<Db, Map<(...args: never[]) => unknown, (...args: never[]) => unknown>>();

/**
 * `fn` run as one BEGIN IMMEDIATE transaction (a savepoint when already inside one). IMMEDIATE
 * takes the write lock before reading, so a read-decide-write never fails half-way with
 * SQLITE_BUSY when another process wrote in between. `fn` must be a module-level function.
 */
export function immediate<A extends unknown[], R>(db: Db, fn: (...args: A) => R): (...args: A) => R {
  let fns = txCache.get(db);
  if (!fns) txCache.set(db, (fns = new Map()));
  let run = fns.get(fn);
  if (!run) fns.set(fn, (run = db.transaction(fn).immediate as (...args: never[]) => unknown));
  return run as (...args: A) => R;
}

export interface JobRow {
  id: string;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  state: JobState;
  phase: Phase | null;
  /** 1 while the job's outputs are delivered (its phase is then `delivering`: migration 0010). */
  delivering?: number;
  attempt: number;
  max_attempts: number;
  priority: number;
  progress: number;
  fps: number | null;
  speed: number | null;
  eta: number | null;
  input: string;
  outputs: string;
  notify_url: string | null;
  idempotency_key: string | null;
  worker: string | null;
  error_code: string | null;
  error_message: string | null;
  error_retriable: number | null;
  options: string;
  /** Absent on a row read before migration 0007 ran (never, in practice). */
  worker_ms?: number;
  /** Migration 0008 (job-cost.ts). */
  output_media?: string | null;
  settled_ms?: number;
  settled_nano?: number;
  /** Migration 0009. */
  typed_ms?: number;
  typed_nano?: number;
  typed_basis?: string | null;
}

export interface TaskRow {
  id: string;
  job_id: string;
  type: TaskType;
  state: TaskState;
  phase: Phase | null;
  attempt: number;
  max_attempt: number;
  seq_applied: number;
  deps: string;
  params: string | null;
  result: string | null;
  progress: number;
  weight: number;
  worker: string | null;
  dispatched_attempt: number;
  heartbeat_at: number | null;
  created_at: number;
  updated_at: number;
  started_at: number | null;
  finished_at: number | null;
  error_code: string | null;
  error_message: string | null;
  error_retriable: number | null;
}

export interface EventRow {
  id: number;
  job_id: string;
  task_id: string | null;
  at: number;
  type: JobEventType;
  state: JobState;
  phase: string | null;
  attempt: number;
  message: string;
  data: string | null;
}

// ---- JSON columns ---------------------------------------------------------------------------

/** jobs.outputs. Unknown keys (a newer nommer's) are kept, so writing the job back keeps them. */
const outputsColumn = z.array(
  z.looseObject({
    preset: taskOutput().shape.preset,
    uri: z.string(),
    bytes: z.number().int().nonnegative().optional(),
    quality: outputQualitySchema.optional(),
    package: packageInfo.optional(),
    loudness: outputLoudnessSchema.optional(),
  }) satisfies z.ZodType<JobOutput>,
);
/** tasks.deps: keys of the tasks that must succeed first. */
const depsColumn = z.array(z.string());
/** tasks.params and tasks.result: an object; each task kind reads its own keys with its own schema. */
const objectColumn = z.record(z.string(), z.unknown());
/** jobs.typed_basis: where the prices of its typed slot time came from. */
const typedBasisColumn = z.array(z.string());
const outputMediaColumn = z.array(outputMedia);

const HINT =
  'it was written by another nommer version or edited by hand: run the version that wrote it, or restore the data directory from a backup';

function column<S extends z.ZodType>(schema: S, json: string, where: string): z.output<S> {
  return readBack(schema, json, `the job store's ${where}`, HINT);
}

export function outputsOf(json: string, jobId: string): JobOutput[] {
  return column(outputsColumn, json, `jobs.outputs of job ${jobId}`);
}

export function paramsOf(json: string | null, taskId: string): Record<string, unknown> | null {
  return json === null ? null : column(objectColumn, json, `tasks.params of task ${taskId}`);
}

export function resultOf(json: string | null, taskId: string): Record<string, unknown> | null {
  return json === null ? null : column(objectColumn, json, `tasks.result of task ${taskId}`);
}

export function typedBasisOf(json: string | null | undefined, jobId: string): string[] {
  return json ? column(typedBasisColumn, json, `jobs.typed_basis of job ${jobId}`) : [];
}

/** Cost bookkeeping never fails a read: media that does not parse is unknown. */
function outputMediaOf(json: string | null | undefined): OutputMedia[] | null {
  if (!json) return null;
  try {
    const r = outputMediaColumn.safeParse(JSON.parse(json));
    return r.success ? r.data : null;
  } catch {
    return null;
  }
}

function errorFrom(code: string | null, message: string | null, retriable: number | null): ErrorInfo | null {
  return code === null ? null : { code, message: message ?? '', retriable: retriable === 1 };
}

export function jobFromRow(r: JobRow): Job {
  const options = parseJobOptions(r.options);
  return {
    id: r.id,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    state: r.state,
    phase: r.delivering ? 'delivering' : r.phase,
    attempt: r.attempt,
    maxAttempts: r.max_attempts,
    priority: r.priority,
    progress: r.progress,
    fps: r.fps,
    speed: r.speed,
    eta: r.eta,
    input: r.input,
    outputs: outputsOf(r.outputs, r.id),
    notifyUrl: r.notify_url,
    idempotencyKey: r.idempotency_key,
    worker: r.worker,
    error: errorFrom(r.error_code, r.error_message, r.error_retriable),
    options,
    workerMs: r.worker_ms ?? 0,
    cost: jobCostOf(r.worker_ms ?? 0, options, costFactsOf(r)),
  };
}

/** What a job row knows about its cost besides slot time. */
export function costFactsOf(r: JobRow): CostFacts {
  return {
    media: outputMediaOf(r.output_media),
    settledMs: r.settled_ms ?? 0,
    settledNano: r.settled_nano ?? 0,
    typedMs: r.typed_ms ?? 0,
    typedNano: r.typed_nano ?? 0,
    typedBasis: typedBasisOf(r.typed_basis, r.id),
  };
}

export function taskFromRow(r: TaskRow): Task {
  return {
    id: r.id,
    jobId: r.job_id,
    type: r.type,
    state: r.state,
    phase: r.phase,
    attempt: r.attempt,
    maxAttempt: r.max_attempt,
    seqApplied: r.seq_applied,
    deps: column(depsColumn, r.deps, `tasks.deps of task ${r.id}`),
    params: paramsOf(r.params, r.id),
    result: resultOf(r.result, r.id),
    progress: r.progress,
    weight: r.weight,
    worker: r.worker,
    dispatchedAttempt: r.dispatched_attempt,
    heartbeatAt: r.heartbeat_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    error: errorFrom(r.error_code, r.error_message, r.error_retriable),
  };
}

export function eventFromRow(r: EventRow): JobEvent {
  return {
    id: r.id,
    jobId: r.job_id,
    taskId: r.task_id,
    at: r.at,
    type: r.type,
    state: r.state,
    phase: r.phase,
    attempt: r.attempt,
    message: r.message,
    data: r.data === null ? null : column(objectColumn, r.data, `job_events.data of event ${r.id}`),
  };
}

export function readJob(db: Db, jobId: string): Job | null {
  const row = sql(db, 'SELECT * FROM jobs WHERE id = ?').get(jobId) as JobRow | undefined;
  return row ? jobFromRow(row) : null;
}

export function readTasks(db: Db, jobId: string): Task[] {
  // rowid order is insertion order: the order the job's tasks were declared in.
  return (sql(db, 'SELECT * FROM tasks WHERE job_id = ? ORDER BY rowid').all(jobId) as TaskRow[]).map(taskFromRow);
}
