// The outbox: sends the tasks the store says are dispatchable to the job queue, then marks them
// sent (send first, so a crash in between sends again rather than never). One task that cannot
// be sent must not hold back the others: a message the queue refuses for what it is (too large,
// invalid) fails its job and dispatch goes on; a transient failure (throttling, network, a busy
// database) leaves the rest of the outbox for the next round, after a growing backoff.
import { asNommerError, type NommerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { JobQueue } from '../ports/queue.js';
import type { Dispatchable, Store } from './store/index.js';
import { sleep, wakeableSleep } from '../sleep.js';

/** Tasks read from the store per round, and rounds per dispatchOnce. */
const BATCH = 100;
const MAX_ROUNDS = 100;
/** How often the loop looks at the outbox without a poke, and its backoff after a failed round. */
const IDLE_MS = 500;
const MAX_BACKOFF_MS = 10_000;

/** The message itself is what the queue refuses: sending it again can never work. */
const isMessageFault = (e: NommerError) => e.code === 'MESSAGE_INVALID';

export class Outbox {
  private wake?: () => void;
  private poked?: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly queue: JobQueue,
    private readonly log: Logger,
  ) {}

  /**
   * Send every task the store says is ready. Returns how many were sent. Throws when a send
   * failed transiently (what is left is sent by a later call); a task whose message the queue
   * refuses for good has its job failed instead, and the others are sent.
   */
  async dispatchOnce(): Promise<number> {
    let sent = 0;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const batch = this.store.listDispatchableTasks({ limit: BATCH });
      if (batch.length === 0) break;
      const r = await this.sendRound(batch);
      sent += r.sent;
      // Nothing left the outbox (e.g. failing a job was refused): reading again would spin.
      if (r.sent === 0 && r.failed === 0) break;
      // The local queue answers synchronously: without a turn of the event loop, a large
      // backlog (a restart with 100,000 queued jobs) would keep the API from answering.
      await new Promise((r) => setImmediate(r));
    }
    return sent;
  }

  /** One batch: all at once where the queue can, one by one where it cannot or the batch failed. */
  private async sendRound(batch: Dispatchable[]): Promise<{ sent: number; failed: number }> {
    if (this.queue.sendBatch && batch.length > 1) {
      try {
        await this.queue.sendBatch(batch.map((d) => ({ task: d.message, priority: d.priority })));
      } catch (err) {
        const e = asNommerError(err);
        if (e.retriable) throw e;
        // The local batch is all-or-nothing: one bad message refuses the lot. Sending one by
        // one finds it, and the rest go out.
        this.log.warn(
          { code: e.code, err: e.message, tasks: batch.length },
          'sending a batch failed; sending its tasks one by one',
        );
        return this.sendEach(batch);
      }
      this.store.markTasksDispatched(batch.map((d) => ({ taskId: d.message.taskId, attempt: d.message.attempt })));
      return { sent: batch.length, failed: 0 };
    }
    return this.sendEach(batch);
  }

  /**
   * Send one at a time. A refused message fails its job. Another permanent error (access denied,
   * no such queue) may be the queue's, not the message's: it fails the job only when some other
   * task of this round was sent, which shows the queue works; when every send fails it is the
   * queue that is broken, and failing the whole backlog would be wrong, so the round backs off.
   */
  private async sendEach(batch: Dispatchable[]): Promise<{ sent: number; failed: number }> {
    let sent = 0;
    let failed = 0;
    const suspects: Array<{ d: Dispatchable; e: NommerError }> = [];
    // A job failed in this round has its other tasks canceled: sending them would be wasted.
    const failedJobs = new Set<string>();
    let stop: NommerError | undefined;
    for (const d of batch) {
      if (failedJobs.has(d.message.jobId)) continue;
      try {
        await this.queue.send(d.message, { priority: d.priority });
      } catch (err) {
        const e = asNommerError(err);
        if (isMessageFault(e)) {
          if (this.failJob(d, e)) {
            failed++;
            failedJobs.add(d.message.jobId);
          }
          continue;
        }
        if (e.retriable) {
          stop = e;
          break;
        }
        suspects.push({ d, e });
        continue;
      }
      this.store.markTaskDispatched(d.message.taskId, d.message.attempt);
      sent++;
    }
    if (suspects.length && sent > 0) {
      for (const { d, e } of suspects) if (this.failJob(d, e)) failed++;
    } else if (suspects.length && !stop) {
      stop = suspects[0]!.e;
    }
    if (stop) {
      this.log.debug({ sent, failed, code: stop.code }, 'round stopped by a send failure');
      throw stop;
    }
    return { sent, failed };
  }

  /** Fail the job of a task that cannot be sent. False when the store would not (logged). */
  private failJob(d: Dispatchable, e: NommerError): boolean {
    const { jobId, taskId, attempt } = d.message;
    try {
      const message = `task ${taskId} could not be sent to the queue: ${e.toInfo().message}`;
      this.store.failJob(jobId, { code: e.code, message, retriable: false });
      this.log.error(
        { job: jobId, task: taskId, attempt, code: e.code, err: e.message },
        'task cannot be sent: job failed',
      );
      return true;
    } catch (err) {
      // E.g. canceled meanwhile (JOB_STATE): its tasks are no longer dispatchable either.
      const f = asNommerError(err);
      this.log.warn(
        { job: jobId, task: taskId, code: f.code, err: f.message, sendCode: e.code },
        'task cannot be sent, and failing its job did not work',
      );
      return false;
    }
  }

  /**
   * Ask the loop to look at the outbox soon (after a create or retry). Pokes within a few
   * milliseconds are coalesced, so a burst of submissions is sent in batches.
   */
  poke(): void {
    if (this.poked) return;
    this.poked = setTimeout(() => {
      this.poked = undefined;
      this.wake?.();
    }, 5);
  }

  /** Dispatch until the signal aborts. After a failed round, back off (pokes do not cut it short). */
  async run(signal: AbortSignal): Promise<void> {
    let backoffMs = 0;
    while (!signal.aborted) {
      try {
        await this.dispatchOnce();
        backoffMs = 0;
      } catch (err) {
        const e = asNommerError(err);
        backoffMs = Math.min(MAX_BACKOFF_MS, backoffMs ? backoffMs * 2 : IDLE_MS);
        this.log.error({ code: e.code, err: e.message, retryInMs: backoffMs }, 'dispatch failed; will retry');
      }
      if (backoffMs) {
        await sleep(backoffMs, signal);
        continue;
      }
      const nap = wakeableSleep(IDLE_MS, signal);
      this.wake = nap.wake;
      await nap.promise;
    }
    clearTimeout(this.poked);
  }
}
