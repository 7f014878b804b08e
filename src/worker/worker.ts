// One worker's loop: lease -> fetch -> encode -> commit -> report -> ack. runTask reads as
// try { started -> run -> succeeded -> ack } catch { outcome } finally { stop timers, clean up },
// with its parts named: the lease watcher (heartbeat, fence, why it stopped), the task reporter
// (numbered events, retried terminal events), and the task runners (one per task kind, looked up
// by the message's type in tasks/registry.ts). Retry decisions belong to the orchestrator. A
// worker acts only on a current attempt, writes only its own temp files, and acks only after its
// terminal event is published; a worker that dies simply loses its lease and the task is
// delivered again.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { NommerError, asNommerError } from '../errors.js';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import type { Logger } from '../log.js';
import {
  parseMessage,
  receivedTask,
  taskMessage,
  MESSAGE_VERSION,
  type ReceivedTask,
  type StatusEvent,
  type TaskMessage,
} from '../messages.js';
import { parseResolvedPreset } from '../presets/registry.js';
import type { ControlChannel } from '../ports/control.js';
import type { JobQueue, Lease } from '../ports/queue.js';
import type { StatusChannel } from '../ports/status.js';
import type { Storage } from '../ports/storage.js';
import { sleep } from '../sleep.js';
import { runTask } from './runners.js';
import { WorkerSlots } from './drain.js';
import { LeaseWatcher } from './lease-watcher.js';
import { TaskReporter } from './task-reporter.js';
import type { TaskContext, TaskRun } from './task-context.js';

export interface WorkerDeps {
  id: string;
  queue: JobQueue;
  status: StatusChannel;
  control: ControlChannel;
  storage: Storage;
  ffmpeg: FfmpegInstall;
  /** Scratch space for downloads and outputs bound for remote storage. */
  workDir: string;
  log: Logger;
  leaseSeconds: number;
  /** Unfinished deliveries after which a task is failed as WORKER_LOST (jobs/deliveries.ts). */
  maxDeliveries: number;
  /** How often to check for cancel (ms); the lease is extended every leaseSeconds/3. */
  controlIntervalMs?: number;
  /** Minimum gap between progress events (ms). */
  progressIntervalMs?: number;
  /** Waits between tries of a terminal status event (ms); default TERMINAL_BACKOFF_MS. */
  terminalBackoffMs?: readonly number[];
  /** The EC2 instance it runs on, if known (worker/instance-type.ts): told with every status event. */
  instance?: StatusEvent['instance'];
}

export interface RunOptions {
  /** Stop after one task (tests, `--once`). */
  once?: boolean;
  /** Exit after this many seconds with nothing to do (without `slots`; else the slots' own). */
  idleExitSeconds?: number;
  /** Shared by the loops of one worker process: its idle exit and drain (worker/drain.ts). */
  slots?: WorkerSlots;
  /** Stop taking new work (SIGTERM): the current task finishes or is released. */
  signal?: AbortSignal;
  /** Abort the current task too and release it (second SIGTERM, or shutdown deadline). */
  hardSignal?: AbortSignal;
  waitSeconds?: number;
}

export type TaskOutcome = 'succeeded' | 'failed' | 'released' | 'rejected' | 'returned' | 'canceled';

export class Worker {
  private busy = false;
  constructor(private readonly deps: WorkerDeps) {}

  get isBusy(): boolean {
    return this.busy;
  }

  /** The loop. Resolves with the reason it stopped. */
  async run(opts: RunOptions = {}): Promise<'idle' | 'once' | 'stopped' | 'drained'> {
    const slots = opts.slots ?? new WorkerSlots({ idleExitSeconds: opts.idleExitSeconds });
    const wait = opts.waitSeconds ?? 1;
    while (!opts.signal?.aborted) {
      const gate = await slots.beforeLease(opts.signal);
      if (gate !== 'lease') return gate;
      let lease: Lease | null;
      try {
        lease = await this.deps.queue.receive({
          waitSeconds: wait,
          leaseSeconds: this.deps.leaseSeconds,
          signal: opts.signal,
        });
      } catch (err) {
        if (opts.signal?.aborted) break;
        const e = asNommerError(err);
        this.deps.log.warn({ code: e.code, err: e.message }, 'receive failed; backing off');
        await sleep(1000, opts.signal);
        continue;
      }
      if (!lease) {
        const ended = slots.idledOut();
        if (ended) return ended;
        continue;
      }
      slots.taskStarted();
      try {
        await this.handle(lease, opts.hardSignal);
      } finally {
        slots.taskEnded();
      }
      if (opts.once) return 'once';
    }
    return 'stopped';
  }

  /** Process one leased message to the end. Never throws. */
  async handle(lease: Lease, hardSignal?: AbortSignal): Promise<TaskOutcome> {
    const parsed = parseMessage(taskMessage(), lease.body);
    if (!parsed.ok) {
      if (parsed.version !== undefined && parsed.version !== MESSAGE_VERSION && typeof parsed.version === 'number') {
        // A newer (or older) nommer sent it: leave it for a worker that speaks that version.
        this.deps.log.warn(
          { version: parsed.version, reason: parsed.reason },
          'message of a version this worker does not know: returned untouched',
        );
        await lease.release(5).catch(() => undefined);
        return 'returned';
      }
      this.deps.log.error({ reason: parsed.reason }, 'malformed task message moved to the dead-letter queue');
      await lease
        .reject(`malformed task message: ${parsed.reason}`)
        .catch((err) => this.deps.log.error({ err: String(err) }, 'reject failed'));
      return 'rejected';
    }
    this.busy = true;
    try {
      return await this.runTask(parsed.value, lease, hardSignal);
    } finally {
      this.busy = false;
    }
  }

  private async runTask(message: TaskMessage, lease: Lease, hardSignal?: AbortSignal): Promise<TaskOutcome> {
    const { log, reporter, watcher } = this.taskParts(message, lease, hardSignal);
    const admitted = await this.admit(message, lease, reporter, watcher, log);
    if ('outcome' in admitted) return admitted.outcome;
    const { task } = admitted;
    let scratch: string | undefined;
    watcher.start();
    try {
      scratch = await this.makeScratch(task);
      await reporter.event({ type: 'started' });
      reporter.startKeepalive();
      await reporter.phase('downloading');
      // The kind's runner, by the message's type (tasks/registry.ts).
      const run = await runTask(this.contextFor(task, scratch, lease, reporter, watcher, log));
      // Awaited here so that a failure to settle or finish is this task's outcome, as any other.
      return await this.succeed(run, lease, reporter, log);
    } catch (err) {
      return this.outcome(asNommerError(err), watcher, lease, reporter, log);
    } finally {
      watcher.stop();
      reporter.stop();
      if (scratch) await rm(scratch, { recursive: true, force: true }).catch(() => undefined);
    }
  }

  /** One delivery's log (named by job, task, attempt and delivery), its reporter and its lease watcher. */
  private taskParts(
    message: TaskMessage,
    lease: Lease,
    hardSignal?: AbortSignal,
  ): { log: Logger; reporter: TaskReporter; watcher: LeaseWatcher } {
    const { deps } = this;
    const log = deps.log.child({
      job: message.jobId,
      task: message.taskId,
      attempt: message.attempt,
      delivery: lease.receiveCount,
    });
    const reporter = new TaskReporter({
      task: message,
      worker: deps.id,
      delivery: lease.receiveCount,
      status: deps.status,
      log,
      progressIntervalMs: deps.progressIntervalMs ?? 1000,
      keepaliveMs: deps.leaseSeconds * 1000,
      terminalBackoffMs: deps.terminalBackoffMs,
      instance: deps.instance,
    });
    const watcher = new LeaseWatcher({
      task: message,
      lease,
      control: deps.control,
      leaseSeconds: deps.leaseSeconds,
      intervalMs: deps.controlIntervalMs ?? 1000,
      hardSignal,
      log,
    });
    return { log, reporter, watcher };
  }

  /**
   * The checks before a delivery is run: the task it carries, or the outcome when it must not run
   * (a void attempt, too many deliveries, a preset this worker cannot read).
   */
  private async admit(
    message: TaskMessage,
    lease: Lease,
    reporter: TaskReporter,
    watcher: LeaseWatcher,
    log: Logger,
  ): Promise<{ task: ReceivedTask } | { outcome: TaskOutcome }> {
    // A canceled or superseded attempt: nothing to run and nothing to say.
    if (await watcher.isVoid().catch(() => false)) {
      log.info('attempt is void (canceled or superseded): dropped unrun');
      await lease.ack().catch(() => undefined);
      return { outcome: 'canceled' };
    }

    if (lease.unfinished >= this.deps.maxDeliveries) {
      log.error('task was delivered too many times without finishing: failing it');
      const error = new NommerError(
        'WORKER_LOST',
        `the task was started ${lease.unfinished} times and never finished (workers were lost or crashed)`,
        { hint: 'check the worker logs; `nommer retry` runs it again' },
      );
      // Said, then moved to the dead letters: the message that kept killing workers stays as evidence.
      return { outcome: await this.failAsEvidence(lease, reporter, log, error, 'too many deliveries') };
    }
    // The outputs' presets, checked once, here, by the message schema (receivedTask): a preset this
    // worker cannot read fails the task, said as PRESET_INVALID, and the message is kept as evidence.
    const received = receivedTask().safeParse(message);
    if (received.success) return { task: received.data };
    const error = presetError(message);
    log.error({ reason: error.message }, 'task carries a preset this worker cannot read: failing it');
    return { outcome: await this.failAsEvidence(lease, reporter, log, error, `invalid preset: ${error.message}`) };
  }

  /** Fail the task, said with `error`, and keep its message as a dead letter (`why`), unrun. */
  private failAsEvidence(
    lease: Lease,
    reporter: TaskReporter,
    log: Logger,
    error: NommerError,
    why: string,
  ): Promise<TaskOutcome> {
    return this.settle(lease, reporter, { type: 'failed', error: error.toInfo() }, 'failed', log, undefined, () =>
      lease.reject(why),
    );
  }

  /** What a task's runner is given: its storage, ffmpeg, scratch, and the hooks back to this delivery. */
  private contextFor(
    task: ReceivedTask,
    scratch: string,
    lease: Lease,
    reporter: TaskReporter,
    watcher: LeaseWatcher,
    log: Logger,
  ): TaskContext {
    const { deps } = this;
    return {
      task,
      storage: deps.storage,
      ffmpeg: deps.ffmpeg,
      scratch,
      tag: `${deps.id}.${task.attempt}.${lease.receiveCount}`,
      signal: watcher.signal,
      onProgress: reporter.onProgress,
      phase: (p) => reporter.phase(p),
      beforeCommit: () => watcher.assertCurrent(),
      onRepair: (piece, why) => log.warn({ piece, why }, 'piece re-encoded before assembly'),
    };
  }

  /**
   * A run that finished: its success said, then what it committed made final and its
   * intermediates removed, only once the success is out (else what it committed is taken back).
   */
  private async succeed(run: TaskRun, lease: Lease, reporter: TaskReporter, log: Logger): Promise<TaskOutcome> {
    const committed = run.committed;
    const outcome = await this.settle(
      lease,
      reporter,
      { type: 'succeeded', outputs: run.outputs, ...(run.result ? { result: run.result } : {}) },
      'succeeded',
      log,
      committed && (() => committed.undo()),
    );
    if (outcome !== 'succeeded') return outcome;
    await committed?.finish();
    log.info({ outputs: run.outputs.length }, 'task succeeded');
    await run
      .cleanup?.()
      .catch((err) => log.warn({ err: asNommerError(err).message }, 'removing intermediates failed'));
    return outcome;
  }

  /** Why the task ended, said to the orchestrator, and the lease settled to match. */
  private async outcome(
    e: NommerError,
    watcher: LeaseWatcher,
    lease: Lease,
    reporter: TaskReporter,
    log: Logger,
  ): Promise<TaskOutcome> {
    switch (watcher.reason) {
      case 'canceled':
        log.info('canceled by the orchestrator');
        // The store refuses it (the attempt is void); it is said so the history shows where it ended.
        await reporter.event({ type: 'failed', error: new NommerError('CANCELED', 'canceled').toInfo() });
        await lease.ack().catch(() => undefined);
        return 'canceled';
      case 'lease-lost':
        // Another delivery may hold the task now: say so, and leave its lease alone.
        log.warn('lease lost: task left unfinished');
        await reporter.event({ type: 'released' });
        return 'released';
      case 'hard-stop':
        log.warn('task released unfinished (stopping now)');
        await reporter.terminal({ type: 'released' });
        await lease.release(0).catch(() => undefined);
        return 'released';
      default:
        log.warn({ code: e.code, err: e.message, retriable: e.retriable }, 'task failed');
        return this.settle(lease, reporter, { type: 'failed', error: e.toInfo() }, 'failed', log);
    }
  }

  /**
   * Publish a terminal event, then settle the lease: ack once the event is out;
   * when it cannot be published, give the lease back so the task is delivered again, not lost —
   * after `takeBack` has undone what this delivery committed, so the next one finds the
   * destinations as they were (not its own output in the way, as OUTPUT_EXISTS).
   */
  private async settle(
    lease: Lease,
    reporter: TaskReporter,
    ev: Parameters<TaskReporter['terminal']>[0],
    outcome: TaskOutcome,
    log: Logger,
    takeBack?: () => Promise<void>,
    settleWith: () => Promise<void> = () => lease.ack(),
  ): Promise<TaskOutcome> {
    if (!(await reporter.terminal(ev))) {
      log.error({ type: ev.type }, "could not report the task's end: giving the lease back");
      if (takeBack) {
        await takeBack().catch((err) =>
          log.error(
            { err: asNommerError(err).message },
            'could not take back the outputs of the unreported task; its next delivery may find them in the way',
          ),
        );
      }
      await lease.release(0).catch(() => undefined);
      return 'released';
    }
    // A lost lease here is harmless: the event is out, and a redelivery of a settled attempt is
    // refused by the store and fenced or fails OUTPUT_EXISTS without touching the output.
    await settleWith().catch((err) => log.warn({ err: asNommerError(err).message }, 'settling the lease failed'));
    return outcome;
  }

  /** A private scratch dir for this delivery. A worker that cannot make one fails retriably. */
  private async makeScratch(task: TaskMessage): Promise<string> {
    const prefix = join(this.deps.workDir, `${task.jobId}-`);
    try {
      return await mkdtemp(prefix).catch(async () => {
        await mkdir(this.deps.workDir, { recursive: true });
        return mkdtemp(prefix);
      });
    } catch (err) {
      const e = asNommerError(err);
      throw new NommerError(
        e.code === 'DISK_FULL' ? 'DISK_FULL' : 'STORAGE_FAILED',
        `worker ${this.deps.id} cannot create its scratch dir in ${this.deps.workDir}: ${e.message}`,
        {
          retriable: true,
          cause: err,
          hint: "free space or fix permissions of the worker's data dir; another worker can take the task",
        },
      );
    }
  }
}

/** Why a message's outputs did not pass receivedTask: the preset's own PRESET_INVALID, naming it. */
function presetError(message: TaskMessage): NommerError {
  try {
    for (const o of message.outputs) parseResolvedPreset(o.preset);
  } catch (err) {
    return asNommerError(err);
  }
  return new NommerError('MESSAGE_INVALID', "the task's outputs do not match the message schema");
}
