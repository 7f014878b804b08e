// createJob: store a new job and its tasks (queued, or waiting on their deps), in one transaction.
// With an idempotency key, a repeated request gets the job the first one made (created: false).
import { jobCostOf } from './job-cost.js';
import { jobOptions } from './job-options.js';
import type { Db } from '../../adapters/local/db.js';
import { NommerError } from '../../errors.js';
import { checkTaskGraph, initialTaskState } from '../../jobs/state.js';
import { newJobId, taskId } from './ids.js';
import { findByIdempotencyKey } from './find-by-idempotency-key.js';
import { immediate, readTasks, sql } from './rows.js';
import { insertEvent } from './save-outcome.js';
import type { Job, JobDetail, JobEvent, NewJob, NewTask, Task } from './types.js';

const TASK_KEY = /^[A-Za-z0-9][A-Za-z0-9-]{0,63}$/;
const DEFAULT_TASKS: NewTask[] = [{ key: 'encode', type: 'encode' }];

export interface Created {
  job: JobDetail;
  /** False when the idempotency key named an existing job, which is returned instead. */
  created: boolean;
  /** The `created` event (none when nothing was created). */
  events: JobEvent[];
}

export function createJob(db: Db, req: NewJob, now: number = Date.now()): Created {
  validate(req);
  return immediate(db, createJobTx)(db, req, now);
}

function createJobTx(db: Db, req: NewJob, now: number): Created {
  if (req.idempotencyKey) {
    // The first job made with this key wins. Whether a repeat asked for the same thing is for the
    // caller to judge (the API may have rewritten input and outputs, e.g. staged uploads).
    const existing = findByIdempotencyKey(db, req.idempotencyKey);
    if (existing) return { job: { ...existing, tasks: readTasks(db, existing.id) }, created: false, events: [] };
  }
  const job = insertJob(db, req, now);
  const rows = insertTasks(db, job, req.tasks ?? DEFAULT_TASKS, now);
  const event = insertEvent(
    db,
    job.id,
    {
      type: 'created',
      taskId: null,
      state: 'queued',
      phase: null,
      attempt: 1,
      message: `created with ${req.outputs.length} output${req.outputs.length === 1 ? '' : 's'}`,
      data: { input: req.input, outputs: req.outputs.map((o) => ({ preset: o.preset.name, uri: o.uri })) },
    },
    now,
  );
  // Built from what was inserted rather than read back: creating is the hot path of a bulk submit.
  return { job: { ...job, tasks: rows }, created: true, events: [event] };
}

function insertJob(db: Db, req: NewJob, now: number): Job {
  const id = newJobId(now);
  const maxAttempts = req.maxAttempts ?? 3;
  const options = jobOptions.parse(req.options ?? {});
  const job: Job = {
    id,
    createdAt: now,
    updatedAt: now,
    startedAt: null,
    finishedAt: null,
    state: 'queued',
    phase: null,
    attempt: 1,
    maxAttempts,
    priority: req.priority ?? 0,
    progress: 0,
    fps: null,
    speed: null,
    eta: null,
    input: req.input,
    outputs: req.outputs.map((o) => ({ preset: o.preset, uri: o.uri })),
    notifyUrl: req.notifyUrl ?? null,
    idempotencyKey: req.idempotencyKey ?? null,
    worker: null,
    error: null,
    options,
    workerMs: 0,
    cost: jobCostOf(0, options),
  };
  sql(
    db,
    `INSERT INTO jobs (id, created_at, updated_at, state, attempt, max_attempts, priority, progress, input, outputs,
      notify_url, idempotency_key, options)
    VALUES (?, ?, ?, 'queued', 1, ?, ?, 0, ?, ?, ?, ?, ?)`,
  ).run(
    id,
    now,
    now,
    maxAttempts,
    job.priority,
    job.input,
    JSON.stringify(job.outputs),
    job.notifyUrl,
    job.idempotencyKey,
    JSON.stringify(job.options),
  );
  return job;
}

/** Store a job's tasks: queued when every dep is in `succeeded` (none at creation), else waiting. */
export function insertTasks(
  db: Db,
  job: Job,
  tasks: NewTask[],
  now: number,
  succeeded: ReadonlySet<string> = new Set(),
  /** The attempt they start at: 1 for a new job; a retried job's current one for tasks that
   * replace others (a cancel fenced every attempt below it, so an attempt-1 task would be void). */
  attempt = 1,
): Task[] {
  const insertTask = sql(
    db,
    `INSERT INTO tasks (id, job_id, type, state, attempt, max_attempt, deps, params, weight, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  );
  return tasks.map((t) => {
    const deps = (t.deps ?? []).map((d) => taskId(job.id, d));
    const task: Task = {
      id: taskId(job.id, t.key),
      jobId: job.id,
      type: t.type,
      state: deps.every((d) => succeeded.has(d)) ? 'queued' : initialTaskState(deps),
      phase: null,
      attempt,
      maxAttempt: attempt + job.maxAttempts - 1,
      seqApplied: -1,
      deps,
      params: t.params ?? null,
      result: null,
      progress: 0,
      weight: t.weight ?? 1,
      worker: null,
      dispatchedAttempt: 0,
      heartbeatAt: null,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
      error: null,
    };
    insertTask.run(
      task.id,
      job.id,
      task.type,
      task.state,
      task.attempt,
      task.maxAttempt,
      JSON.stringify(task.deps),
      task.params === null ? null : JSON.stringify(task.params),
      task.weight,
      now,
      now,
    );
    return task;
  });
}

function validate(req: NewJob): void {
  const bad = (message: string) => new NommerError('USAGE', `cannot create job: ${message}`);
  if (typeof req.input !== 'string' || req.input.length === 0) throw bad('input is empty');
  if (!Array.isArray(req.outputs) || req.outputs.length === 0) throw bad('a job needs at least one output');
  for (const o of req.outputs) {
    if (!o || typeof o.uri !== 'string' || !o.uri) throw bad('an output has no uri');
    if (!o.preset || typeof o.preset.name !== 'string') throw bad(`output ${o.uri} has no resolved preset`);
  }
  if (req.maxAttempts !== undefined && (!Number.isInteger(req.maxAttempts) || req.maxAttempts < 1))
    throw bad(`maxAttempts must be a whole number >= 1, not ${req.maxAttempts}`);
  if (req.priority !== undefined && !Number.isInteger(req.priority))
    throw bad(`priority must be a whole number, not ${req.priority}`);
  if (req.tasks) {
    for (const t of req.tasks) {
      if (!TASK_KEY.test(t.key)) throw bad(`task key ${JSON.stringify(t.key)} must be letters, digits and '-'`);
      if (t.weight !== undefined && !(t.weight > 0)) throw bad(`task ${t.key} weight must be > 0`);
    }
    const problem = checkTaskGraph(req.tasks.map((t) => ({ id: t.key, deps: t.deps ?? [] })));
    if (problem) throw bad(problem);
  }
}
