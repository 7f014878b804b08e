// Keeps one delivery's lease while its task runs, and says why the task must stop when it must:
// - 'canceled'  : the orchestrator fenced this attempt (job canceled or failed, task superseded);
// - 'lease-lost': the queue says the lease is no longer ours (it ran out and was delivered again);
// - 'hard-stop' : the worker is shutting down now (second signal, or the grace ran out).
// It extends the lease every third of its length and checks the fence on every tick. The task
// checks `assertCurrent()` right before it commits outputs (the fence, and the lease by extending
// it), so a void attempt, or a delivery whose lease another one took over, writes nothing.
import { NommerError, asNommerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { TaskMessage } from '../messages.js';
import type { ControlChannel } from '../ports/control.js';
import type { Lease } from '../ports/queue.js';

export type StopReason = 'canceled' | 'lease-lost' | 'hard-stop';

export interface LeaseWatcherDeps {
  task: TaskMessage;
  lease: Lease;
  control: ControlChannel;
  leaseSeconds: number;
  /** How often to check the fence (ms). */
  intervalMs: number;
  hardSignal?: AbortSignal;
  log: Logger;
}

export class LeaseWatcher {
  private readonly abort = new AbortController();
  private timer?: NodeJS.Timeout;
  private ticking = false;
  private lastExtend = Date.now();
  private why: StopReason | null = null;
  private readonly onHard = () => this.stopTask('hard-stop');

  constructor(private readonly deps: LeaseWatcherDeps) {}

  /** Aborts when the task must stop; `reason` says why. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }
  get reason(): StopReason | null {
    return this.why;
  }

  start(): void {
    const { hardSignal } = this.deps;
    if (hardSignal?.aborted) this.stopTask('hard-stop');
    hardSignal?.addEventListener('abort', this.onHard, { once: true });
    this.timer = setInterval(() => void this.tick(), this.deps.intervalMs);
  }

  /** Is this attempt void? (The fence only; errors reading it are the caller's to judge.) */
  async isVoid(): Promise<boolean> {
    const { task, control } = this.deps;
    return (await control.fencedUpTo(task.jobId, task.taskId)) >= task.attempt;
  }

  /**
   * Throws CANCELED when the task must stop: fenced now, the lease is no longer ours (it ran out
   * and another delivery holds the task: that one commits, not this), or stopped for any reason
   * before. Called right before outputs are committed; the lease is extended here, so it cannot
   * run out between this check and the commit.
   */
  async assertCurrent(): Promise<void> {
    if (!this.why && (await this.isVoid())) this.stopTask('canceled');
    if (!this.why) await this.extendNow();
    if (this.why) throw new NommerError('CANCELED', `task stopped: ${this.why}`);
  }

  /** Extend the lease now; a lost lease stops the task, any other failure is only logged. */
  private async extendNow(): Promise<void> {
    try {
      await this.deps.lease.extend(this.deps.leaseSeconds);
      this.lastExtend = Date.now();
    } catch (err) {
      const e = asNommerError(err);
      if (e.code === 'LEASE_LOST') {
        this.stopTask('lease-lost');
        return;
      }
      // A queue that is briefly unreachable has not given the task to anyone else.
      this.deps.log.warn({ code: e.code, err: e.message }, 'extending the lease failed');
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    this.deps.hardSignal?.removeEventListener('abort', this.onHard);
  }

  private stopTask(why: StopReason): void {
    if (this.why) return;
    this.why = why;
    this.abort.abort();
  }

  private async tick(): Promise<void> {
    if (this.ticking || this.why) return;
    this.ticking = true;
    try {
      // The lease first, and on its own: a fence that cannot be read must not let it lapse.
      const every = Math.max(1000, (this.deps.leaseSeconds * 1000) / 3);
      if (Date.now() - this.lastExtend >= every) {
        await this.extendNow();
        if (this.why) return;
      }
      try {
        if (await this.isVoid()) this.stopTask('canceled');
      } catch (err) {
        const e = asNommerError(err);
        this.deps.log.warn({ code: e.code, err: e.message }, 'reading the fence failed');
      }
    } finally {
      this.ticking = false;
    }
  }
}
