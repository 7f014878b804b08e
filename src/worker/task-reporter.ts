// A task's status events, as one delivery of it reports them: numbered (delivery × SEQ_PER_DELIVERY
// + n, so a later delivery outranks anything an earlier one still sends), progress throttled, a
// keepalive when nothing was said for a while (so feederd's watchdog can tell a slow download
// from a dead worker), and terminal events published with retries: a lease is acked only after
// its terminal event is out.
import { asNommerError } from '../errors.js';
import type { Progress } from '../jobs/types.js';
import type { Logger } from '../log.js';
import { MESSAGE_VERSION, SEQ_PER_DELIVERY, type StatusEvent, type TaskMessage } from '../messages.js';
import type { StatusChannel } from '../ports/status.js';
import { sleep } from '../sleep.js';

export type ReportedEvent = Omit<
  StatusEvent,
  'v' | 'kind' | 'jobId' | 'taskId' | 'attempt' | 'seq' | 'worker' | 'at' | 'instance'
>;

export interface TaskReporterDeps {
  task: TaskMessage;
  worker: string;
  /** This delivery's number (the lease's receive count). */
  delivery: number;
  status: StatusChannel;
  log: Logger;
  /** Minimum gap between progress events (ms). */
  progressIntervalMs: number;
  /** Say something at least this often (ms). */
  keepaliveMs: number;
  /** Waits between tries of a terminal event (ms); its length is the number of retries. */
  terminalBackoffMs?: readonly number[];
  /** The instance this worker runs on, said with every event (feederd prices slot time by it). */
  instance?: StatusEvent['instance'];
}

/** About half a minute of retries: longer than a blip, shorter than a lease a watchdog gives up on. */
export const TERMINAL_BACKOFF_MS = [250, 500, 1000, 2000, 4000, 8000, 16000] as const;

export class TaskReporter {
  private n = 0;
  private lastSentAt = 0;
  private lastProgressAt = 0;
  private progress: Progress = { fraction: 0 };
  private keepalive?: NodeJS.Timeout;

  constructor(private readonly deps: TaskReporterDeps) {}

  private make(ev: ReportedEvent): StatusEvent {
    const { task } = this.deps;
    return {
      v: MESSAGE_VERSION,
      kind: 'status',
      jobId: task.jobId,
      taskId: task.taskId,
      attempt: task.attempt,
      seq: this.deps.delivery * SEQ_PER_DELIVERY + this.n++,
      worker: this.deps.worker,
      at: Date.now(),
      ...ev,
      ...(this.deps.instance ? { instance: this.deps.instance } : {}),
    };
  }

  /** Best effort: a lost progress or phase event is made good by the next one. */
  async event(ev: ReportedEvent): Promise<void> {
    try {
      await this.deps.status.publish(this.make(ev));
      this.lastSentAt = Date.now();
    } catch (err) {
      this.deps.log.warn({ err: asNommerError(err).message, type: ev.type }, 'status publish failed');
    }
  }

  phase(phase: NonNullable<StatusEvent['phase']>): Promise<void> {
    return this.event({ type: 'phase', phase });
  }

  /** Throttled; the final tick (fraction 1) always goes. */
  onProgress = (p: Progress): void => {
    this.progress = p;
    const now = Date.now();
    if (now - this.lastProgressAt < this.deps.progressIntervalMs && p.fraction < 1) return;
    this.lastProgressAt = now;
    void this.event({ type: 'progress', progress: p });
  };

  startKeepalive(): void {
    const every = Math.max(250, Math.floor(this.deps.keepaliveMs / 2));
    this.keepalive = setInterval(() => {
      if (Date.now() - this.lastSentAt >= this.deps.keepaliveMs)
        void this.event({ type: 'progress', progress: this.progress });
    }, every);
    this.keepalive.unref();
  }

  /**
   * Publish a terminal event (succeeded, failed, released), retrying with backoff. True once it
   * is out; false when every try failed (the caller then gives the lease back, unacked).
   */
  async terminal(ev: ReportedEvent, signal?: AbortSignal): Promise<boolean> {
    const event = this.make(ev);
    const waits = this.deps.terminalBackoffMs ?? TERMINAL_BACKOFF_MS;
    for (let i = 0; ; i++) {
      try {
        await this.deps.status.publish(event);
        this.lastSentAt = Date.now();
        return true;
      } catch (err) {
        const last = i >= waits.length || signal?.aborted;
        this.deps.log.warn(
          { err: asNommerError(err).message, type: ev.type, try: i + 1 },
          last ? 'terminal status publish failed; giving up' : 'terminal status publish failed; retrying',
        );
        if (last) return false;
        await sleep(waits[i]!, signal);
      }
    }
  }

  stop(): void {
    if (this.keepalive) clearInterval(this.keepalive);
  }
}
