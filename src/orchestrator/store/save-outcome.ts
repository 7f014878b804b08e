// Writes what the state machine decided: the job's new state, the tasks that changed, and the
// history. Called inside the transaction of the named state change that read the snapshot.
import type { Db } from '../../adapters/local/db.js';
import type { ErrorInfo } from '../../errors.js';
import type { Applied, JobEventDraft } from '../../jobs/state.js';
import { recordInstanceUse } from './instance-ledger.js';
import { recordOutputMedia } from './output-media.js';
import { readJob, readTasks, sql, typedBasisOf } from './rows.js';
import type { JobChange, JobEvent } from './types.js';
import { NommerError } from '../../errors.js';
import { nanoUsdOfMs } from '../../cost/money.js';

/** $/hour of one worker slot, and where that price came from. */
export interface SlotPrice {
  usdPerSlotHour: number;
  basis: string;
}

interface TaskBefore {
  id: string;
  state: string;
  attempt: number;
  started_at: number | null;
  heartbeat_at: number | null;
  worker: string | null;
  slot_price: number | null;
  price_basis: string | null;
}

interface SaveOptions {
  /** When the change happened on the worker (a status event's time), if it came from one. */
  endAt?: number;
  /**
   * The worker that sent the event and what its slot costs (null: it said no instance type, or
   * the type has no price): kept on the task while that attempt runs, to price its slot time.
   */
  sender?: { taskId: string; attempt: number; price: SlotPrice | null };
}

export function saveOutcome(db: Db, jobId: string, out: Applied, now: number, opts: SaveOptions = {}): JobChange {
  // Slot time: an attempt that was running and is no longer (ended, or replaced by a new
  // attempt) held its worker from its start until now.
  const before = tasksBefore(db, jobId);
  updateJobRow(db, jobId, out.job, now);
  updateTasks(db, jobId, out.tasks, before, now, opts.endAt);
  if (opts.sender) priceSender(db, jobId, opts.sender);
  if (out.tasks.some((t) => t.state === 'succeeded' && before.get(t.id)?.state !== 'succeeded'))
    recordOutputMedia(db, jobId);
  sql(
    db,
    'UPDATE jobs SET worker_ms = (SELECT coalesce(sum(held_ms), 0) FROM tasks WHERE job_id = @id) WHERE id = @id',
  ).run({
    id: jobId,
  });
  const events = out.events.map((e) => insertEvent(db, jobId, e, now));
  const job = readJob(db, jobId);
  if (!job) throw new NommerError('INTERNAL', `job ${jobId} vanished inside its own transaction`);
  const changedIds = new Set(out.tasks.map((t) => t.id));
  return { job, tasks: readTasks(db, jobId).filter((t) => changedIds.has(t.id)), events, dispatch: out.dispatch };
}

function tasksBefore(db: Db, jobId: string): Map<string, TaskBefore> {
  const rows = sql(
    db,
    'SELECT id, state, attempt, started_at, heartbeat_at, worker, slot_price, price_basis FROM tasks WHERE job_id = ?',
  ).all(jobId) as TaskBefore[];
  return new Map(rows.map((r) => [r.id, r]));
}

function updateJobRow(db: Db, jobId: string, j: Applied['job'], now: number): void {
  sql(
    db,
    `UPDATE jobs SET updated_at = @now, started_at = @startedAt, finished_at = @finishedAt, state = @state,
      phase = @phase, delivering = @delivering, attempt = @attempt, progress = @progress, fps = @fps, speed = @speed, eta = @eta,
      outputs = @outputs, worker = @worker, error_code = @code, error_message = @message, error_retriable = @retriable
    WHERE id = @id`,
  ).run({
    now,
    id: jobId,
    startedAt: j.startedAt,
    finishedAt: j.finishedAt,
    state: j.state,
    // `delivering` has its own column (migration 0010).
    phase: j.phase === 'delivering' ? null : j.phase,
    delivering: j.phase === 'delivering' ? 1 : 0,
    attempt: j.attempt,
    progress: j.progress,
    fps: j.fps,
    speed: j.speed,
    eta: j.eta,
    outputs: JSON.stringify(j.outputs),
    worker: j.worker,
    ...errorColumns(j.error),
  });
}

/** Write the changed tasks, and charge the slot time of each attempt that ended to the job. */
function updateTasks(
  db: Db,
  jobId: string,
  tasks: Applied['tasks'],
  before: Map<string, TaskBefore>,
  now: number,
  endAt: number | undefined,
): void {
  const updateTask = sql(
    db,
    `UPDATE tasks SET updated_at = @now, state = @state, phase = @phase, attempt = @attempt,
      max_attempt = @maxAttempt, seq_applied = @seqApplied, result = @result, progress = @progress, worker = @worker,
      heartbeat_at = @heartbeatAt, started_at = @startedAt, finished_at = @finishedAt,
      error_code = @code, error_message = @message, error_retriable = @retriable, held_ms = held_ms + @held
    WHERE id = @id AND job_id = @jobId`,
  );
  for (const t of tasks) {
    const prev = before.get(t.id);
    const held = prev ? chargeEnded(db, jobId, prev, t, now, endAt) : 0;
    updateTask.run({
      held,
      now,
      id: t.id,
      jobId,
      state: t.state,
      phase: t.phase,
      attempt: t.attempt,
      maxAttempt: t.maxAttempt,
      seqApplied: t.seqApplied,
      result: t.result === null ? null : JSON.stringify(t.result),
      progress: t.progress,
      worker: t.worker,
      heartbeatAt: t.heartbeatAt,
      startedAt: t.startedAt,
      finishedAt: t.finishedAt,
      ...errorColumns(t.error),
    });
  }
}

/** The ms an attempt that ended held its slot (0 when none ended), priced and charged. */
function chargeEnded(
  db: Db,
  jobId: string,
  prev: TaskBefore,
  t: { state: string; attempt: number },
  now: number,
  endAt: number | undefined,
): number {
  const ended = prev.state === 'running' && (t.state !== 'running' || t.attempt !== prev.attempt);
  if (!ended || prev.started_at === null) return 0;
  const held = Math.max(0, endOf(prev, now, endAt) - prev.started_at);
  if (held === 0) return 0;
  // Priced at the worker's own instance type when it said one (until its instance is settled).
  const typed = prev.slot_price != null ? { ms: held, nano: nanoUsdOfMs(held, prev.slot_price) } : undefined;
  if (typed) addTyped(db, jobId, typed, prev.price_basis ?? '');
  // The instance it ran on pays for it when its bill is split (instance-ledger.ts).
  if (prev.worker) recordInstanceUse(db, prev.worker, jobId, prev.started_at, held, typed);
  return held;
}

/** The price of the sender's slot, for the attempt it runs (an event of an older attempt changed nothing). */
function priceSender(db: Db, jobId: string, sender: NonNullable<SaveOptions['sender']>): void {
  sql(
    db,
    `UPDATE tasks SET slot_price = @price, price_basis = @basis
      WHERE id = @id AND job_id = @jobId AND attempt = @attempt AND state = 'running'`,
  ).run({
    id: sender.taskId,
    jobId,
    attempt: sender.attempt,
    price: sender.price?.usdPerSlotHour ?? null,
    basis: sender.price?.basis ?? null,
  });
}

/** Most prices a job's basis lists (a job ran on at most a few types). */
const MAX_BASES = 8;

function addTyped(db: Db, jobId: string, typed: { ms: number; nano: number }, basis: string): void {
  const had = sql(db, 'SELECT typed_basis FROM jobs WHERE id = ?').pluck().get(jobId) as string | null;
  const bases = typedBasisOf(had, jobId);
  if (basis && !bases.includes(basis) && bases.length < MAX_BASES) bases.push(basis);
  sql(
    db,
    'UPDATE jobs SET typed_ms = typed_ms + @ms, typed_nano = typed_nano + @nano, typed_basis = @bases WHERE id = @id',
  ).run({ id: jobId, ms: Math.round(typed.ms), nano: typed.nano, bases: JSON.stringify(bases) });
}

export function insertEvent(db: Db, jobId: string, e: JobEventDraft, now: number): JobEvent {
  const data = e.data === undefined ? null : e.data;
  const r = sql(
    db,
    `INSERT INTO job_events (job_id, task_id, at, type, state, phase, attempt, message, data)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
  ).run(
    jobId,
    e.taskId,
    now,
    e.type,
    e.state,
    e.phase,
    e.attempt,
    e.message,
    data === null ? null : JSON.stringify(data),
  );
  return {
    id: Number(r.lastInsertRowid),
    jobId,
    taskId: e.taskId,
    at: now,
    type: e.type,
    state: e.state,
    phase: e.phase,
    attempt: e.attempt,
    message: e.message,
    data,
  };
}

function errorColumns(e: ErrorInfo | null): { code: string | null; message: string | null; retriable: number | null } {
  return e
    ? { code: e.code, message: e.message, retriable: e.retriable ? 1 : 0 }
    : { code: null, message: null, retriable: null };
}

/**
 * When an attempt ended: feederd's clock, or, for an end a worker reported, the worker's time
 * kept between the attempt's last event and now (a report that waited out a feederd outage is
 * not billed for the outage; a skewed worker clock cannot move it outside what feederd saw).
 */
function endOf(prev: { started_at: number | null; heartbeat_at: number | null }, now: number, endAt?: number): number {
  if (endAt === undefined) return now;
  const floor = prev.heartbeat_at ?? prev.started_at ?? now;
  return Math.min(now, Math.max(endAt, floor));
}
