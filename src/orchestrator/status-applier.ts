// Applies workers' status events to the store, and settles each received event by what became of
// it: applied or deliberately refused (stale, duplicate, unknown job) -> ack; malformed -> dead
// letter (kept, with why, rather than dropped); applying threw (the store was busy, or a bug) ->
// released for redelivery, with a growing delay, until the event has been received
// MAX_APPLY_ATTEMPTS times -> dead letter (poison). Nothing is acked that was not applied.
import { asNommerError } from '../errors.js';
import type { Logger } from '../log.js';
import { STATUS_VERSIONS, parseMessage, statusEvent, type StatusEvent } from '../messages.js';
import type { ReceivedStatus, StatusChannel } from '../ports/status.js';
import type { Job, Store } from './store/index.js';
import type { ChunkReplan } from './store/replace-chunks.js';
import { sleep } from '../sleep.js';

/** Receives of one event whose apply threw before it is dead-lettered as poison. */
export const MAX_APPLY_ATTEMPTS = 5;
/** Events asked for per receive (SQS hands out at most 10 of them). */
const BATCH = 50;

export interface StatusApplierOptions {
  /** Receives before an event whose apply keeps throwing is dead-lettered (default MAX_APPLY_ATTEMPTS). */
  maxAttempts?: number;
  /**
   * Seconds before an event whose apply threw is delivered again, by its receive count. Default
   * 1, 2, 4, 8...: the tries of a store busy for a while are spread over ~15 s (each also waits
   * out the busy timeout) instead of being spent in a few milliseconds.
   */
  retryDelaySeconds?: (receiveCount: number) => number;
  /** Told about every event the store refused, with why (late-outputs.ts takes back late work). */
  onRefused?: (ev: StatusEvent, refusal: { reason: string; job: Job | null }) => void | Promise<void>;
  /**
   * What an event brings into the store besides itself: a scene task's chunk plan
   * (scene-replan.ts), read from storage before the event is applied, so both land in one
   * transaction. A throw is handled as a failed apply (the event comes again).
   */
  prepare?: (ev: StatusEvent) => Promise<ChunkReplan | undefined>;
}

export type Settled = 'applied' | 'refused' | 'malformed' | 'retry' | 'poison' | 'unsettled';

export class StatusApplier {
  private readonly maxAttempts: number;
  private readonly retryDelay: (receiveCount: number) => number;
  private readonly onRefused?: StatusApplierOptions['onRefused'];
  private readonly prepare?: StatusApplierOptions['prepare'];

  constructor(
    private readonly store: Store,
    private readonly status: StatusChannel,
    private readonly log: Logger,
    opts: StatusApplierOptions = {},
  ) {
    this.maxAttempts = opts.maxAttempts ?? MAX_APPLY_ATTEMPTS;
    this.retryDelay = opts.retryDelaySeconds ?? ((n) => Math.min(60, 2 ** Math.max(0, n - 1)));
    this.onRefused = opts.onRefused;
    this.prepare = opts.prepare;
  }

  /**
   * Apply up to one batch of status events. Returns how many were received. Throws only when
   * receiving does; an event that fails is settled (or left) on its own, and the events behind
   * it in the batch are still applied.
   */
  async consumeOnce(waitSeconds: number, signal?: AbortSignal): Promise<number> {
    const batch = await this.status.receive({ max: BATCH, waitSeconds, signal });
    for (const m of batch) await this.settle(m);
    return batch.length;
  }

  /**
   * Apply every event already waiting (a few batches at most): before a retry, so what a worker
   * said about the old attempt (a late success whose outputs must be taken back) is heard first.
   */
  async drain(rounds = 5): Promise<void> {
    for (let i = 0; i < rounds; i++) if ((await this.consumeOnce(0)) === 0) return;
  }

  /** Apply one received event and ack, release or dead-letter it. Never throws. */
  async settle(m: ReceivedStatus): Promise<Settled> {
    const parsed = parseMessage(statusEvent(), m.body, STATUS_VERSIONS);
    if (!parsed.ok) {
      this.log.warn({ reason: parsed.reason }, 'malformed status event moved to the dead letters');
      return this.finish(m, 'malformed', () => m.deadLetter(`malformed status event: ${parsed.reason}`));
    }
    const ev = parsed.value;
    const about = {
      job: ev.jobId,
      task: ev.taskId,
      attempt: ev.attempt,
      seq: ev.seq,
      type: ev.type,
      receives: m.receiveCount,
    };
    let applied: boolean;
    let refusal: { reason: string; job: Job | null } | undefined;
    try {
      const r = this.store.applyStatusEvent(ev, undefined, await this.prepare?.(ev));
      applied = r.applied;
      // A refusal is the store's deliberate answer (duplicate, stale attempt, unknown job):
      // delivering the event again would get the same answer.
      if (!r.applied) {
        this.log.debug({ ...about, reason: r.reason }, 'status event changed nothing');
        refusal = { reason: r.reason, job: r.job };
      }
    } catch (err) {
      const e = asNommerError(err);
      if (m.receiveCount >= this.maxAttempts) {
        this.log.error(
          { ...about, code: e.code, err: e.message },
          'status event kept failing to apply: moved to the dead letters',
        );
        const reason = `not applied after ${m.receiveCount} receives (max ${this.maxAttempts}): ${e.code}: ${e.message}`;
        return this.finish(m, 'poison', () => m.deadLetter(reason));
      }
      const delay = this.retryDelay(m.receiveCount);
      this.log.warn(
        { ...about, code: e.code, err: e.message, retryInSeconds: delay },
        'status event not applied; it will be delivered again',
      );
      return this.finish(m, 'retry', () => m.release(delay));
    }
    if (refusal && this.onRefused) {
      try {
        await this.onRefused(ev, refusal);
      } catch (err) {
        this.log.warn({ ...about, err: asNommerError(err).message }, 'handling a refused event failed');
      }
    }
    return this.finish(m, applied ? 'applied' : 'refused', () => m.ack());
  }

  private async finish(m: ReceivedStatus, outcome: Settled, settle: () => Promise<void>): Promise<Settled> {
    try {
      await settle();
      return outcome;
    } catch (err) {
      // The event stays where it is and comes back after its visibility timeout: at worst it is
      // applied twice (idempotent) or judged again.
      const e = asNommerError(err);
      this.log.warn(
        { outcome, receives: m.receiveCount, code: e.code, err: e.message },
        'could not settle a status event; it will be delivered again',
      );
      return 'unsettled';
    }
  }

  /** Apply events until the signal aborts; a failed receive backs off and tries again. */
  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.consumeOnce(1, signal);
      } catch (err) {
        if (signal.aborted) break;
        this.log.error({ err: asNommerError(err).message }, 'status receive failed; backing off');
        await sleep(1000, signal);
      }
    }
  }
}
