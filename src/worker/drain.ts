// What the loops of one worker process share (`nommer worker --concurrency N` runs N loops on one
// instance): when to stop leasing and when to end.
// - Idle exit is the process's, not a loop's: it ends when no loop has had a task for
//   idleExitSeconds. (A loop that idled out alone would leave its slot dead while the instance
//   runs on, and feederd would count that slot as free.)
// - Drain: while the instance is asked to drain (fleet/drain.ts: a tag the worker reads from the
//   instance metadata service), no loop starts a new lease; a loop that is done waits, and when no
//   loop has a task left the worker ends ('drained'), and with it the instance. If the drain is
//   lifted before that, the waiting loops lease again. A receive already under way when the drain
//   is seen (at most one long poll, ~1 s) may still bring a task: it is run, not handed back.
import type { Logger } from '../log.js';
import { DRAIN_TAG } from '../fleet/drain.js';
import { imdsBase, imdsTimeoutMs, openImds } from './imds.js';

/** Whether this worker's instance is asked to drain, and word when that changes. */
export interface DrainSignal {
  readonly draining: boolean;
  /** Calls `listener` after each change; returns the unsubscribe. */
  onChange(listener: () => void): () => void;
}

/** A drain flag set by hand: the base of DrainWatch, and what tests drive. */
export class DrainFlag implements DrainSignal {
  private on = false;
  private readonly listeners = new Set<() => void>();
  get draining(): boolean {
    return this.on;
  }
  set(draining: boolean): void {
    if (draining === this.on) return;
    this.on = draining;
    for (const l of [...this.listeners]) l();
  }
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }
}

/** Reads the drain tag: true or false, or undefined when it cannot tell (then nothing changes). */
export type DrainProbe = () => Promise<boolean | undefined>;

/**
 * The drain tag through IMDS (GET meta-data/tags/instance/nommer:drain: 200 when set, 404 when
 * not, or when the instance was launched without tags in its metadata). Undefined when IMDS is
 * turned off (AWS_EC2_METADATA_DISABLED): such a worker is never drained.
 */
export function imdsDrainProbe(
  env: NodeJS.ProcessEnv = process.env,
  timeoutMs = imdsTimeoutMs(env),
): DrainProbe | undefined {
  const base = imdsBase(env);
  if (base === undefined) return undefined;
  return async () => {
    const imds = await openImds(base, timeoutMs);
    if (!imds) return undefined;
    try {
      const r = await imds.get(`tags/instance/${DRAIN_TAG}`);
      if (r.status === 200) return true;
      if (r.status === 404) return false;
      return undefined;
    } catch {
      return undefined;
    }
  };
}

/** A DrainFlag kept up to date by polling a probe every intervalMs until stopped. */
export class DrainWatch extends DrainFlag {
  private timer?: NodeJS.Timeout;
  private polling?: Promise<void>;
  constructor(
    private readonly probe: DrainProbe,
    private readonly o: { intervalMs?: number; log?: Pick<Logger, 'info'> } = {},
  ) {
    super();
  }
  /** One look at the tag (also what the timer does). */
  async poll(): Promise<void> {
    const seen = await this.probe().catch(() => undefined);
    if (seen === undefined || seen === this.draining) return;
    this.o.log?.info(
      { draining: seen },
      seen ? 'drain: leasing nothing new; ending when the current tasks are done' : 'drain lifted: leasing again',
    );
    this.set(seen);
  }
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => {
      this.polling ??= this.poll().finally(() => {
        this.polling = undefined;
      });
    }, this.o.intervalMs ?? 5000);
    this.timer.unref();
  }
  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }
}

export type LoopEnd = 'idle' | 'drained' | 'stopped';

/** The state the loops of one worker process share (see the top of this file). */
export class WorkerSlots {
  private busy = 0;
  private lastWork: number;
  private ended?: 'idle' | 'drained';
  private holding = 0;
  private waiters = new Set<() => void>();
  private readonly now: () => number;

  constructor(private readonly o: { idleExitSeconds?: number; drain?: DrainSignal; now?: () => number } = {}) {
    this.now = o.now ?? Date.now;
    this.lastWork = this.now();
    o.drain?.onChange(() => this.wake());
  }

  /** Loops running a task now. */
  get working(): number {
    return this.busy;
  }

  /** Loops waiting because the instance is draining. */
  get held(): number {
    return this.holding;
  }

  taskStarted(): void {
    this.busy++;
  }

  taskEnded(): void {
    this.busy = Math.max(0, this.busy - 1);
    this.lastWork = this.now();
    this.wake();
  }

  /** After an empty receive: why the worker ends (idled out now, or ended already), if it does. */
  idledOut(): 'idle' | 'drained' | undefined {
    if (this.ended) return this.ended;
    const limit = this.o.idleExitSeconds;
    if (limit === undefined || this.busy > 0 || (this.now() - this.lastWork) / 1000 < limit) return undefined;
    this.end('idle');
    return 'idle';
  }

  /** Before a receive: 'lease', or why this loop ends. Waits while draining and a task still runs. */
  async beforeLease(signal?: AbortSignal): Promise<'lease' | LoopEnd> {
    for (;;) {
      if (this.ended) return this.ended;
      if (signal?.aborted) return 'stopped';
      if (!this.o.drain?.draining) return 'lease';
      if (this.busy === 0) {
        this.end('drained');
        return 'drained';
      }
      this.holding++;
      try {
        await this.changed(signal);
      } finally {
        this.holding--;
      }
    }
  }

  private end(why: 'idle' | 'drained'): void {
    this.ended ??= why;
    this.wake();
  }

  private wake(): void {
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const w of waiting) w();
  }

  /** Resolves at the next change: a task ended, the drain changed, the worker ended, or abort. */
  private changed(signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        this.waiters.delete(done);
        resolve();
      };
      this.waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }
}
