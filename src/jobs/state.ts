// The job state machine: given a job, its tasks and something that happened (a worker's status
// event, a cancel, a retry, a lost worker), decide the job and tasks that follow and the history
// to record. Pure: no I/O and no clock (time is a parameter), so the store only reads a
// snapshot, calls one of these, and writes what comes back, in one transaction.
//
// A job is a small graph of tasks (one 'encode' task, or chunks + audio -> assemble). Tasks carry
// the attempt and the last applied sequence number, so a status event is applied at most once:
// events from another attempt, or with seq <= the last applied, change nothing.
import type { ErrorInfo } from '../errors.js';
import type { StatusEvent, TaskMessage, WirePreset } from '../messages.js';
import {
  loudnessOfResult,
  type OutputLoudness,
  type OutputQuality,
  type PackageInfo,
  packageOfResult,
  qualityOfResult,
} from './outputs.js';
import { FINAL_STATES, type JobState, type Phase } from './types.js';

export const TASK_STATES = ['waiting', 'queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
/** `waiting`: some dependency has not succeeded yet, so it is not in the queue. */
export type TaskState = (typeof TASK_STATES)[number];
export type TaskType = TaskMessage['type'];
export const FINAL_TASK_STATES: ReadonlySet<TaskState> = new Set(['succeeded', 'failed', 'canceled']);

/**
 * Every job-level change this machine may make. queued -> succeeded/failed happens only through
 * running (a worker's event for a task nobody saw start implies it started); queued -> failed
 * directly is the orchestrator failing a job it could not dispatch.
 */
export const LEGAL_JOB_TRANSITIONS: ReadonlyArray<readonly [JobState, JobState]> = [
  ['queued', 'running'],
  ['running', 'running'],
  ['running', 'succeeded'],
  ['running', 'queued'],
  ['running', 'failed'],
  ['queued', 'failed'],
  ['queued', 'canceled'],
  ['running', 'canceled'],
  ['failed', 'queued'],
  ['canceled', 'queued'],
];

export function isLegalJobTransition(from: JobState, to: JobState): boolean {
  return LEGAL_JOB_TRANSITIONS.some(([a, b]) => a === from && b === to);
}

export interface JobOutput {
  preset: WirePreset;
  uri: string;
  /** Size once uploaded, from the worker's `succeeded` event. */
  bytes?: number;
  /** SSIM/PSNR against the source (and the CRF search of a target), from the task's result. */
  quality?: OutputQuality;
  /** An adaptive-streaming package's renditions, manifests and extras (jobs/outputs.ts). */
  package?: PackageInfo;
  /** Its loudness, in and out, when its preset normalizes it (jobs/outputs.ts). */
  loudness?: OutputLoudness;
}

export interface JobSnapshot {
  id: string;
  state: JobState;
  phase: Phase | null;
  /** The highest attempt among the job's tasks (for an ordinary job: its task's attempt). */
  attempt: number;
  /** Attempts each task gets before a retriable error fails the job. */
  maxAttempts: number;
  /** Weighted sum of the tasks' progress, 0..1. */
  progress: number;
  fps: number | null;
  speed: number | null;
  eta: number | null;
  worker: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  error: ErrorInfo | null;
  outputs: JobOutput[];
}

export interface TaskSnapshot {
  id: string;
  type: TaskType;
  state: TaskState;
  phase: Phase | null;
  attempt: number;
  /** Last attempt number retried automatically; a manual retry moves it forward. */
  maxAttempt: number;
  /** Highest status seq applied for `attempt`; -1 when none. */
  seqApplied: number;
  deps: readonly string[];
  progress: number;
  weight: number;
  worker: string | null;
  startedAt: number | null;
  finishedAt: number | null;
  heartbeatAt: number | null;
  error: ErrorInfo | null;
  result: Record<string, unknown> | null;
}

export const JOB_EVENT_TYPES = [
  'created',
  'started',
  'phase',
  'progress',
  'restarted',
  'task_started',
  'task_succeeded',
  'succeeded',
  'released',
  'retrying',
  'worker_lost',
  'failed',
  'canceled',
  'retried',
] as const;
/** `progress` is never stored; it is what subscribers see when only numbers moved. */
export type JobEventType = (typeof JOB_EVENT_TYPES)[number];

export interface JobEventDraft {
  type: JobEventType;
  taskId: string | null;
  /** The job's state and phase after the change. */
  state: JobState;
  phase: Phase | null;
  attempt: number;
  message: string;
  data?: Record<string, unknown>;
}

export interface Applied {
  applied: true;
  job: JobSnapshot;
  /** Only the tasks that changed, as they are now. */
  tasks: TaskSnapshot[];
  events: JobEventDraft[];
  /** Tasks that must be (re)sent to the queue now (their attempt is new or they became ready). */
  dispatch: string[];
}

export type RefusalReason =
  | 'job-mismatch' // the event names another job
  | 'task-unknown' // no such task in this job
  | 'job-final' // the job already succeeded, failed or was canceled
  | 'stale-attempt' // the event belongs to an attempt that is not the task's current one
  | 'duplicate' // seq <= the last applied seq: a redelivery or a reordered older event
  | 'task-state' // the task's state does not allow it (e.g. progress for a finished task)
  | 'job-state'; // the job's state does not allow the operation (cancel a finished job)

export interface Refused {
  applied: false;
  reason: RefusalReason;
  detail: string;
}

export type Outcome = Applied | Refused;

const refuse = (reason: RefusalReason, detail: string): Refused => ({ applied: false, reason, detail });

// ---------------------------------------------------------------------------------------------
// Worker status events

/** Why an event must change nothing, or the task it applies to. */
function refusalOf(job: JobSnapshot, tasks: readonly TaskSnapshot[], ev: StatusEvent): Refused | TaskSnapshot {
  if (ev.jobId !== job.id) return refuse('job-mismatch', `event for job ${ev.jobId} applied to job ${job.id}`);
  const task = tasks.find((t) => t.id === ev.taskId);
  if (!task) return refuse('task-unknown', `job ${job.id} has no task ${ev.taskId}`);
  if (FINAL_STATES.has(job.state)) return refuse('job-final', `job ${job.id} is already ${job.state}`);
  if (ev.attempt !== task.attempt)
    return refuse('stale-attempt', `event from attempt ${ev.attempt}; task ${task.id} is on attempt ${task.attempt}`);
  // An earlier delivery of this attempt that succeeded (it committed before a later delivery took
  // over) is a success whatever its seq: dropping it would leave the later delivery's
  // OUTPUT_EXISTS, on the task's own output, to fail the job.
  const lateSuccess = ev.type === 'succeeded' && task.state === 'running';
  if (ev.seq <= task.seqApplied && !lateSuccess)
    return refuse('duplicate', `seq ${ev.seq} <= ${task.seqApplied} already applied`);
  if (task.state !== 'queued' && task.state !== 'running')
    return refuse('task-state', `task ${task.id} is ${task.state}`);
  return task;
}

/** What one event does to its task (and, through a success, to the tasks waiting on it). */
interface TaskStep {
  task: TaskSnapshot;
  /** The tasks changed besides this one's final state (a success's, then its ready dependents). */
  changed: Map<string, TaskSnapshot>;
  events: JobEventDraft[];
  dispatch: string[];
  jobOverrides: Partial<JobSnapshot>;
  failure: ErrorInfo | null;
}

function taskStep(
  job: JobSnapshot,
  tasks: readonly TaskSnapshot[],
  t: TaskSnapshot,
  ev: StatusEvent,
  now: number,
  implicitStart: boolean,
): TaskStep {
  const step: TaskStep = { task: t, changed: new Map(), events: [], dispatch: [], jobOverrides: {}, failure: null };
  switch (ev.type) {
    case 'started':
      if (!implicitStart) {
        // Same attempt started again: the lease expired and the message was delivered anew
        // (perhaps to another worker). The task starts over.
        const from = t.worker;
        step.task = { ...t, phase: ev.phase ?? 'downloading', progress: 0, worker: ev.worker, startedAt: now };
        step.events.push({
          type: 'restarted',
          taskId: t.id,
          state: 'running',
          phase: step.task.phase,
          attempt: t.attempt,
          message:
            from && from !== ev.worker
              ? `worker ${ev.worker} took over from ${from}`
              : `worker ${ev.worker} restarted the task`,
          data: { worker: ev.worker, previousWorker: from },
        });
      }
      break;
    case 'phase':
      // The rate of one phase says nothing about the next: clear it until progress reports again.
      if (ev.phase && ev.phase !== t.phase) step.jobOverrides = { fps: null, speed: null, eta: null };
      step.task = { ...t, phase: ev.phase ?? t.phase, worker: ev.worker };
      break;
    case 'progress':
      step.task = {
        ...t,
        phase: ev.phase ?? t.phase,
        worker: ev.worker,
        progress: clamp01(ev.progress?.fraction ?? t.progress),
      };
      if (ev.progress)
        step.jobOverrides = {
          fps: ev.progress.fps ?? null,
          speed: ev.progress.speed ?? null,
          eta: ev.progress.etaSeconds ?? null,
        };
      break;
    case 'succeeded':
      succeed(step, job, tasks, ev, now);
      break;
    case 'failed': {
      step.failure = ev.error ?? {
        code: 'INTERNAL',
        message: `worker ${ev.worker} reported a failure without saying why`,
        retriable: false,
      };
      const r = failTask(t, step.failure, now);
      step.task = r.task;
      if (r.retry) step.dispatch.push(r.task.id);
      break;
    }
    case 'released':
      // The worker gave the lease back (e.g. it is shutting down): the same message, same attempt,
      // becomes visible again in the queue, so nothing is dispatched and no attempt is spent.
      if (t.state === 'running')
        step.task = { ...t, state: 'queued', phase: null, progress: 0, worker: null, startedAt: null };
      break;
  }
  return step;
}

/** A success: the task done with its result, its ready dependents dispatched, its outputs reported. */
function succeed(step: TaskStep, job: JobSnapshot, tasks: readonly TaskSnapshot[], ev: StatusEvent, now: number): void {
  const t: TaskSnapshot = {
    ...step.task,
    state: 'succeeded',
    phase: null,
    progress: 1,
    worker: ev.worker,
    finishedAt: now,
    result: ev.result ?? null,
  };
  step.task = t;
  step.changed.set(t.id, t);
  for (const ready of readyDependents([...tasks.map((x) => step.changed.get(x.id) ?? x)], t.id)) {
    step.changed.set(ready.id, ready);
    step.dispatch.push(ready.id);
  }
  if (ev.outputs?.length)
    step.jobOverrides = {
      outputs: withReported(
        withPackage(
          withReported(withBytes(job.outputs, ev.outputs), 'quality', qualityOfResult(ev.result)),
          ev.outputs,
          packageOfResult(ev.result),
        ),
        'loudness',
        loudnessOfResult(ev.result),
      ),
    };
}

/** The history line of a start nobody saw: the job's own start, or one more task's. */
function implicitStartEvent(job: JobSnapshot, t: TaskSnapshot, ev: StatusEvent): JobEventDraft {
  return {
    type: job.state === 'queued' ? 'started' : 'task_started',
    taskId: t.id,
    state: 'running',
    phase: ev.phase ?? 'downloading',
    attempt: t.attempt,
    message: `worker ${ev.worker} started the ${t.type} task (attempt ${t.attempt})`,
    data: { worker: ev.worker },
  };
}

/** Apply one status event. Refused (with why) when it must change nothing. */
export function applyStatus(
  job: JobSnapshot,
  tasks: readonly TaskSnapshot[],
  ev: StatusEvent,
  opts: { now: number },
): Outcome {
  const { now } = opts;
  const task = refusalOf(job, tasks, ev);
  if ('applied' in task) return task;
  let t: TaskSnapshot = { ...task, seqApplied: Math.max(ev.seq, task.seqApplied), heartbeatAt: now };

  // A worker's event for a task nobody saw start means it started: the `started` message may be
  // late (reordered) or lost, and dropping the later event would leave the job stuck.
  const implicitStart = t.state === 'queued' && ev.type !== 'released';
  if (implicitStart)
    t = {
      ...t,
      state: 'running',
      phase: ev.phase ?? 'downloading',
      progress: 0,
      worker: ev.worker,
      startedAt: now,
      error: null,
    };

  const step = taskStep(job, tasks, t, ev, now, implicitStart);
  const { changed, events, dispatch, failure } = step;
  t = step.task;
  changed.set(t.id, t);

  const allTasks = tasks.map((x) => changed.get(x.id) ?? x);
  // After an implicit start the job was (for an instant) running: aggregate from there.
  let next = aggregate(
    { ...job, ...(implicitStart ? { state: 'running' as const } : {}), ...step.jobOverrides },
    allTasks,
    now,
  );
  if (next.state === 'failed') {
    next = { ...next, error: failure };
    for (const c of cancelRest(allTasks, now)) changed.set(c.id, c);
  }

  // An implicit start is a step of its own: queued -> running, then whatever the event says.
  const from: JobState = implicitStart ? 'running' : job.state;
  if (from !== next.state && !isLegalJobTransition(from, next.state)) {
    return refuse('job-state', `illegal transition ${job.state} -> ${next.state}`);
  }

  // History: the job-level change when there is one, else the task-level one.
  if (implicitStart) events.unshift(implicitStartEvent(job, t, ev));
  events.push(
    ...transitionEvents(
      implicitStart ? { ...job, state: 'running', phase: ev.phase ?? 'downloading' } : job,
      next,
      t,
      ev,
      failure,
    ),
  );
  return { applied: true, job: next, tasks: [...changed.values()], events, dispatch };
}

/** Job-level history for a status event, from how the job and the task moved. */
function transitionEvents(
  before: JobSnapshot,
  after: JobSnapshot,
  t: TaskSnapshot,
  ev: StatusEvent,
  failure: ErrorInfo | null,
): JobEventDraft[] {
  const base = { taskId: t.id, state: after.state, phase: after.phase, attempt: after.attempt };
  switch (ev.type) {
    case 'succeeded':
      if (after.state === 'succeeded')
        return [
          {
            ...base,
            type: 'succeeded',
            message: `succeeded on ${ev.worker}`,
            data: { worker: ev.worker, outputs: ev.outputs ?? [] },
          },
        ];
      return [
        {
          ...base,
          type: 'task_succeeded',
          message: `${t.type} task succeeded on ${ev.worker}`,
          data: { worker: ev.worker },
        },
      ];
    case 'failed':
      if (after.state === 'failed')
        return [
          {
            ...base,
            type: 'failed',
            message: `${failure!.code}: ${failure!.message}`,
            data: { error: failure, worker: ev.worker },
          },
        ];
      return [
        {
          ...base,
          type: 'retrying',
          message: `${failure!.code}: ${failure!.message} — retrying (attempt ${t.attempt} of ${t.maxAttempt})`,
          data: { error: failure, worker: ev.worker },
        },
      ];
    case 'started':
      // `started` / `restarted` already carry the phase.
      return [];
    case 'released':
      return [
        { ...base, type: 'released', message: `worker ${ev.worker} gave the task back`, data: { worker: ev.worker } },
      ];
    default:
      // Phase changes are worth a line in the history; progress ticks are not.
      if (after.state === 'running' && after.phase && after.phase !== before.phase && before.state === 'running') {
        return [{ ...base, type: 'phase', message: after.phase, data: { worker: ev.worker } }];
      }
      return [];
  }
}

// ---------------------------------------------------------------------------------------------
// Operations the orchestrator or a person starts

/** Worker lost (it stopped reporting, or its message was dead-lettered): another attempt, or fail. */
export function requeueTask(
  job: JobSnapshot,
  tasks: readonly TaskSnapshot[],
  taskId: string,
  opts: { now: number; error?: ErrorInfo },
): Outcome {
  const task = tasks.find((t) => t.id === taskId);
  if (!task) return refuse('task-unknown', `job ${job.id} has no task ${taskId}`);
  if (FINAL_STATES.has(job.state)) return refuse('job-final', `job ${job.id} is already ${job.state}`);
  if (task.state !== 'running' && task.state !== 'queued')
    return refuse('task-state', `task ${task.id} is ${task.state}; only a queued or running task can be lost`);
  const error = opts.error ?? {
    code: 'WORKER_LOST',
    message: task.worker ? `worker ${task.worker} stopped reporting` : 'no worker reported on the task',
    retriable: true,
  };
  const r = failTask(task, error, opts.now);
  const allTasks = tasks.map((x) => (x.id === task.id ? r.task : x));
  let next = aggregate(job, allTasks, opts.now);
  const changed = [r.task];
  if (!r.retry) {
    next = { ...next, state: 'failed', error, finishedAt: opts.now, phase: null, fps: null, speed: null, eta: null };
    changed.push(...cancelRest(allTasks, opts.now));
  }
  const type = r.retry ? 'worker_lost' : 'failed';
  const message = r.retry
    ? `${error.code}: ${error.message} — retrying (attempt ${r.task.attempt} of ${r.task.maxAttempt})`
    : `${error.code}: ${error.message} (no attempts left)`;
  return {
    applied: true,
    job: next,
    tasks: changed,
    events: [
      {
        type,
        taskId: task.id,
        state: next.state,
        phase: next.phase,
        attempt: next.attempt,
        message,
        data: { error, worker: task.worker },
      },
    ],
    dispatch: r.retry ? [task.id] : [],
  };
}

/** Cancel a queued or running job; its unfinished tasks are canceled with it. */
export function cancelJob(
  job: JobSnapshot,
  tasks: readonly TaskSnapshot[],
  opts: { now: number; reason?: string },
): Outcome {
  if (FINAL_STATES.has(job.state))
    return refuse('job-state', `job ${job.id} is already ${job.state}; only queued or running jobs can be canceled`);
  const next: JobSnapshot = {
    ...job,
    state: 'canceled',
    phase: null,
    fps: null,
    speed: null,
    eta: null,
    finishedAt: opts.now,
    error: null,
  };
  return {
    applied: true,
    job: next,
    tasks: cancelRest(tasks, opts.now),
    dispatch: [],
    events: [
      {
        type: 'canceled',
        taskId: null,
        state: 'canceled',
        phase: null,
        attempt: job.attempt,
        message: opts.reason ? `canceled: ${opts.reason}` : 'canceled',
      },
    ],
  };
}

/** Fail a job from the orchestrator's side (e.g. a task message could not be sent or was rejected). */
export function failJob(
  job: JobSnapshot,
  tasks: readonly TaskSnapshot[],
  error: ErrorInfo,
  opts: { now: number },
): Outcome {
  if (FINAL_STATES.has(job.state)) return refuse('job-state', `job ${job.id} is already ${job.state}`);
  const next: JobSnapshot = {
    ...job,
    state: 'failed',
    phase: null,
    fps: null,
    speed: null,
    eta: null,
    finishedAt: opts.now,
    error,
  };
  return {
    applied: true,
    job: next,
    tasks: cancelRest(tasks, opts.now),
    dispatch: [],
    events: [
      {
        type: 'failed',
        taskId: null,
        state: 'failed',
        phase: null,
        attempt: job.attempt,
        message: `${error.code}: ${error.message}`,
        data: { error },
      },
    ],
  };
}

/**
 * aws staged outputs: a job whose tasks are all done is not over until its outputs are at the
 * local paths asked for. The success is held as `running` in phase `delivering` (the last task's
 * success is told as task_succeeded); endDelivery ends it. Any other outcome is returned as is.
 */
export function holdForDelivery(out: Applied): Applied {
  if (out.job.state !== 'succeeded') return out;
  const held = { state: 'running' as const, phase: 'delivering' as const };
  return {
    ...out,
    job: { ...out.job, ...held, finishedAt: null },
    events: out.events.map((e) =>
      e.type === 'succeeded'
        ? { ...e, ...held, type: 'task_succeeded', message: `${e.message}; delivering the outputs` }
        : { ...e, ...held },
    ),
  };
}

/** The end of a held job's delivery: succeeded, or failed with DELIVERY_FAILED. */
export function endDelivery(
  job: JobSnapshot,
  tasks: readonly TaskSnapshot[],
  error: ErrorInfo | null,
  opts: { now: number },
): Outcome {
  if (job.state !== 'running' || job.phase !== 'delivering' || tasks.some((t) => t.state !== 'succeeded'))
    return refuse('job-state', `job ${job.id} is ${job.state}${job.phase ? ` (${job.phase})` : ''}, not delivering`);
  const state = error ? ('failed' as const) : ('succeeded' as const);
  const next: JobSnapshot = { ...job, state, phase: null, finishedAt: opts.now, error };
  return {
    applied: true,
    job: next,
    tasks: [],
    dispatch: [],
    events: [
      {
        type: state,
        taskId: null,
        state,
        phase: null,
        attempt: job.attempt,
        message: error ? `${error.code}: ${error.message}` : 'succeeded; the outputs are delivered',
        data: error ? { error } : { outputs: job.outputs.map((o) => ({ uri: o.uri, bytes: o.bytes ?? 0 })) },
      },
    ],
  };
}

/**
 * Retry a failed or canceled job: every task that did not succeed, and every succeeded one in
 * `rerun` (its result is gone), gets a new attempt and a fresh budget of automatic retries; other
 * succeeded tasks keep their results. New attempts are all above the job's highest attempt so far,
 * which is what a cancel or failure fenced: no worker on an old attempt can mistake them for its own.
 */
export function retryJob(
  job: JobSnapshot,
  tasks: readonly TaskSnapshot[],
  opts: { now: number; rerun?: readonly string[] },
): Outcome {
  if (job.state !== 'failed' && job.state !== 'canceled')
    return refuse('job-state', `job ${job.id} is ${job.state}; only failed or canceled jobs can be retried`);
  const rerun = new Set(opts.rerun ?? []);
  const keeps = (t: TaskSnapshot) => t.state === 'succeeded' && !rerun.has(t.id);
  const succeeded = new Set(tasks.filter(keeps).map((t) => t.id));
  const attempt = Math.max(job.attempt, ...tasks.map((t) => t.attempt)) + 1;
  const changed: TaskSnapshot[] = [];
  for (const t of tasks) {
    if (keeps(t)) continue;
    const state: TaskState = t.deps.every((d) => succeeded.has(d)) ? 'queued' : 'waiting';
    changed.push({
      ...t,
      state,
      attempt,
      maxAttempt: attempt + job.maxAttempts - 1,
      seqApplied: -1,
      phase: null,
      progress: 0,
      worker: null,
      startedAt: null,
      finishedAt: null,
      heartbeatAt: null,
      error: null,
      result: null,
    });
  }
  const allTasks = tasks.map((x) => changed.find((c) => c.id === x.id) ?? x);
  const next = aggregate(
    { ...job, state: 'queued', startedAt: null, finishedAt: null, error: null, worker: null },
    allTasks,
    opts.now,
  );
  return {
    applied: true,
    job: next,
    tasks: changed,
    dispatch: changed.filter((t) => t.state === 'queued').map((t) => t.id),
    events: [
      {
        type: 'retried',
        taskId: null,
        state: next.state,
        phase: null,
        attempt: next.attempt,
        message: `retried (attempt ${next.attempt})`,
        data: { previousState: job.state, previousError: job.error },
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------
// Building blocks

/** Initial state of a new task: queued unless it waits for others. */
export function initialTaskState(deps: readonly string[]): TaskState {
  return deps.length ? 'waiting' : 'queued';
}

/**
 * Check a job's task graph before storing it: ids unique, deps name tasks of the job, no cycles.
 * Returns a sentence saying what is wrong, or null.
 */
export function checkTaskGraph(tasks: ReadonlyArray<{ id: string; deps: readonly string[] }>): string | null {
  if (tasks.length === 0) return 'a job needs at least one task';
  const ids = new Set<string>();
  for (const t of tasks) {
    if (ids.has(t.id)) return `task id ${t.id} appears twice`;
    ids.add(t.id);
  }
  for (const t of tasks)
    for (const d of t.deps) if (!ids.has(d)) return `task ${t.id} depends on ${d}, which is not a task of the job`;
  // Kahn's algorithm: whatever cannot be ordered is on a cycle.
  const indegree = new Map(tasks.map((t) => [t.id, t.deps.length]));
  const ready = tasks.filter((t) => t.deps.length === 0).map((t) => t.id);
  let ordered = 0;
  while (ready.length) {
    const id = ready.pop()!;
    ordered++;
    for (const t of tasks) {
      if (!t.deps.includes(id)) continue;
      const n = indegree.get(t.id)! - 1;
      indegree.set(t.id, n);
      if (n === 0) ready.push(t.id);
    }
  }
  return ordered === tasks.length ? null : 'the tasks depend on each other in a cycle';
}

/** A task failed: another attempt when the error is retriable and attempts remain, else failed. */
function failTask(t: TaskSnapshot, error: ErrorInfo, now: number): { task: TaskSnapshot; retry: boolean } {
  if (error.retriable && t.attempt < t.maxAttempt) {
    return {
      retry: true,
      task: {
        ...t,
        state: 'queued',
        attempt: t.attempt + 1,
        seqApplied: -1,
        phase: null,
        progress: 0,
        worker: null,
        startedAt: null,
        heartbeatAt: null,
        error,
      },
    };
  }
  return { retry: false, task: { ...t, state: 'failed', phase: null, finishedAt: now, error } };
}

/** Unfinished tasks, canceled. */
function cancelRest(tasks: readonly TaskSnapshot[], now: number): TaskSnapshot[] {
  return tasks
    .filter((t) => !FINAL_TASK_STATES.has(t.state))
    .map((t) => ({ ...t, state: 'canceled' as const, phase: null, finishedAt: now }));
}

/** Waiting tasks whose dependencies have all succeeded now that `doneId` has. */
function readyDependents(tasks: readonly TaskSnapshot[], doneId: string): TaskSnapshot[] {
  const succeeded = new Set(tasks.filter((t) => t.state === 'succeeded').map((t) => t.id));
  return tasks
    .filter((t) => t.state === 'waiting' && t.deps.includes(doneId) && t.deps.every((d) => succeeded.has(d)))
    .map((t) => ({ ...t, state: 'queued' as const }));
}

/**
 * The job as its tasks make it: failed if one failed, succeeded when all did, running while one
 * runs (or, once running, while finished tasks wait for the next to start), else queued.
 */
export function aggregate(job: JobSnapshot, tasks: readonly TaskSnapshot[], now: number): JobSnapshot {
  const running = tasks.filter((t) => t.state === 'running');
  const anySucceeded = tasks.some((t) => t.state === 'succeeded');
  let state: JobState;
  if (tasks.some((t) => t.state === 'failed')) state = 'failed';
  else if (tasks.length > 0 && tasks.every((t) => t.state === 'succeeded')) state = 'succeeded';
  else if (running.length > 0) state = 'running';
  else if (job.state === 'running' && anySucceeded) state = 'running';
  else state = 'queued';

  const totalWeight = tasks.reduce((s, t) => s + t.weight, 0);
  const progress =
    totalWeight > 0
      ? clamp01(tasks.reduce((s, t) => s + t.weight * (t.state === 'succeeded' ? 1 : t.progress), 0) / totalWeight)
      : 0;
  const final = FINAL_STATES.has(state);
  const lead = running[running.length - 1];
  return {
    ...job,
    state,
    phase: state === 'running' ? (lead?.phase ?? null) : null,
    attempt: Math.max(job.attempt, ...tasks.map((t) => t.attempt)),
    progress,
    fps: state === 'running' && lead ? job.fps : null,
    speed: state === 'running' && lead ? job.speed : null,
    eta: state === 'running' && lead ? job.eta : null,
    worker: lead?.worker ?? (final ? job.worker : null),
    startedAt: job.startedAt ?? (state === 'queued' ? null : now),
    finishedAt: final ? (job.finishedAt ?? now) : null,
    error: state === 'failed' ? job.error : null,
  };
}

function withBytes(
  outputs: readonly JobOutput[],
  reported: ReadonlyArray<{ uri: string; bytes: number }>,
): JobOutput[] {
  const bytes = new Map(reported.map((o) => [o.uri, o.bytes]));
  return outputs.map((o) => (bytes.has(o.uri) ? { ...o, bytes: bytes.get(o.uri)! } : o));
}

/** Each output's quality or loudness as the task that made it reported it (by URI). */
function withReported<K extends 'quality' | 'loudness'>(
  outputs: readonly JobOutput[],
  key: K,
  reported: ReadonlyArray<{ uri: string } & Required<Pick<JobOutput, K>>>,
): JobOutput[] {
  const r = new Map(reported.map((o) => [o.uri, o[key]]));
  return outputs.map((o) => (r.has(o.uri) ? { ...o, [key]: r.get(o.uri)! } : o));
}

/** A package task's one output gets the package it reports. */
function withPackage(
  outputs: JobOutput[],
  reported: ReadonlyArray<{ uri: string }>,
  pkg: PackageInfo | undefined,
): JobOutput[] {
  if (!pkg || reported.length !== 1) return outputs;
  return outputs.map((o) => (o.uri === reported[0]!.uri ? { ...o, package: pkg } : o));
}

function clamp01(x: number): number {
  return Number.isFinite(x) ? Math.min(1, Math.max(0, x)) : 0;
}
