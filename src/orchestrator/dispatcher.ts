// Moves work between the store and the ports: sends dispatchable tasks to the queue (outbox:
// send, then mark), and applies status events from workers to the store (idempotently; a bad or
// stale event is acked and dropped, never retried forever).
import { asNommerError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseMessage, statusEvent } from '../messages.js';
import type { JobQueue } from '../ports/queue.js';
import type { StatusChannel } from '../ports/status.js';
import type { Store } from './store/index.js';
import { sleep, wakeableSleep } from '../sleep.js';

export class Dispatcher {
  private wake?: () => void;
  constructor(
    private readonly store: Store,
    private readonly queue: JobQueue,
    private readonly status: StatusChannel,
    private readonly log: Logger,
  ) {}

  /** Send every task the store says is ready. Returns how many were sent. */
  async dispatchOnce(): Promise<number> {
    let sent = 0;
    for (let round = 0; round < 100; round++) {
      const batch = this.store.listDispatchableTasks({ limit: 100 });
      if (batch.length === 0) break;
      if (this.queue.sendBatch) {
        await this.queue.sendBatch(batch.map((d) => ({ task: d.message, priority: d.priority })));
        this.store.markTasksDispatched(batch.map((d) => ({ taskId: d.message.taskId, attempt: d.message.attempt })));
        sent += batch.length;
      } else {
        for (const d of batch) {
          await this.queue.send(d.message, { priority: d.priority });
          this.store.markTaskDispatched(d.message.taskId, d.message.attempt);
          sent++;
        }
      }
      // The local queue answers synchronously: without a turn of the event loop, a large
      // backlog (a restart with 100,000 queued jobs) would keep the API from answering.
      await new Promise((r) => setImmediate(r));
    }
    return sent;
  }

  /** Apply up to one batch of status events. Returns how many were received. */
  async consumeOnce(waitSeconds: number, signal?: AbortSignal): Promise<number> {
    const batch = await this.status.receive({ max: 50, waitSeconds, signal });
    for (const m of batch) {
      const parsed = parseMessage(statusEvent, m.body);
      if (!parsed.ok) {
        this.log.warn({ reason: parsed.reason }, 'dropped a malformed status event');
      } else {
        try {
          const r = this.store.applyStatusEvent(parsed.value);
          if (!r.applied) this.log.debug({ job: parsed.value.jobId, reason: r.reason }, 'status event changed nothing');
        } catch (err) {
          const e = asNommerError(err);
          // A job deleted or unknown to this store: nothing to apply it to.
          this.log.warn({ job: parsed.value.jobId, code: e.code, err: e.message }, 'status event not applied');
        }
      }
      await m.ack();
    }
    return batch.length;
  }

  /**
   * Ask the dispatch loop to look at the outbox soon (after a create or retry). Pokes within a
   * few milliseconds are coalesced, so a burst of submissions is sent in batches.
   */
  poke(): void {
    if (this.poked) return;
    this.poked = setTimeout(() => { this.poked = undefined; this.wake?.(); }, 5);
  }
  private poked?: NodeJS.Timeout;

  /** Run both loops until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    const dispatchLoop = async () => {
      while (!signal.aborted) {
        try { await this.dispatchOnce(); } catch (err) { this.log.error({ err: asNommerError(err).message }, 'dispatch failed; will retry'); }
        const nap = wakeableSleep(500, signal);
        this.wake = nap.wake;
        await nap.promise;
      }
    };
    const statusLoop = async () => {
      while (!signal.aborted) {
        try { await this.consumeOnce(1, signal); } catch (err) {
          if (signal.aborted) break;
          this.log.error({ err: asNommerError(err).message }, 'status receive failed; backing off');
          await sleep(1000, signal);
        }
      }
    };
    await Promise.all([dispatchLoop(), statusLoop()]);
  }
}
