// feederd's watchdog: no task stays `running` for a worker that went silent, and no dead-lettered
// task message is forgotten. Every round it
// - requeues (or, with no attempts left, fails as WORKER_LOST) running tasks whose worker has not
//   reported for `silenceMs` — workers report at least every lease length, even while a long
//   download says nothing else (worker/task-reporter.ts), so silence means lost;
// - applies dead-lettered task messages (a message that killed every worker it reached) as
//   WORKER_LOST for the attempt they carry, then removes them; the others (a task the worker
//   already failed, a malformed message) stay in the dead letters as evidence.
// The old attempt of a requeued task is fenced (fencing.ts), so a worker that was only slow, not
// lost, stops and writes nothing.
import { asNommerError } from '../errors.js';
import type { Logger } from '../log.js';
import { parseMessage, taskMessage } from '../messages.js';
import type { JobQueue } from '../ports/queue.js';
import { sleep } from '../sleep.js';
import type { Store } from './store/index.js';

export interface WatchdogOptions {
  /** A running task whose worker said nothing for this long is lost (ms). */
  silenceMs: number;
  /** Time between rounds (ms). */
  intervalMs: number;
  now?: () => number;
}

/**
 * How long a worker may say nothing before its task is taken as lost: three leases (a worker
 * reports at least once per lease), and never under 30 s, so a loaded machine's pauses are not deaths.
 */
export function silenceLimitMs(leaseSeconds: number): number {
  return Math.max(3 * leaseSeconds, 30) * 1000;
}

export class Watchdog {
  private readonly startedAt: number;
  /** Dead letters are read on from here (locally; SQS has no order). */
  private lastDeadLetter?: string;

  constructor(
    private readonly store: Store,
    private readonly queue: JobQueue,
    private readonly log: Logger,
    private readonly opts: WatchdogOptions,
  ) {
    this.startedAt = (opts.now ?? Date.now)();
  }

  /** One round. Returns how many tasks it requeued or failed. */
  async checkOnce(): Promise<number> {
    const now = (this.opts.now ?? Date.now)();
    let changed = 0;
    // A feederd that was down heard nothing: its workers' events are still in the status channel,
    // so silence counts only from when this feederd started listening.
    const listening = now - this.startedAt >= this.opts.silenceMs;
    for (const t of listening ? this.store.listSilentTasks(now - this.opts.silenceMs) : []) {
      const silentFor = Math.round((now - t.heartbeatAt) / 1000);
      const r = this.store.requeueTask(t.jobId, t.taskId, {
        error: {
          code: 'WORKER_LOST',
          message: `${t.worker ? `worker ${t.worker}` : 'its worker'} said nothing for ${silentFor} s`,
          retriable: true,
        },
        now,
      });
      if (r) {
        changed++;
        this.log.warn(
          { job: t.jobId, task: t.taskId, worker: t.worker, silentFor },
          'silent worker: task requeued or failed',
        );
      }
    }
    if (this.queue.takeDeadLetters) {
      for (const dead of await this.queue.takeDeadLetters(50, { after: this.lastDeadLetter })) {
        this.lastDeadLetter = dead.key;
        const m = parseMessage(taskMessage(), dead.body);
        if (m.ok) {
          const task = this.store.getJob(m.value.jobId)?.tasks.find((x) => x.id === m.value.taskId);
          // Only the attempt the message carries: a later one is alive and well.
          if (task && task.attempt === m.value.attempt && (task.state === 'queued' || task.state === 'running')) {
            const r = this.store.requeueTask(m.value.jobId, m.value.taskId, {
              error: {
                code: 'WORKER_LOST',
                message: `the task's message was dead-lettered: ${dead.reason}`,
                retriable: true,
              },
              now,
            });
            if (r) {
              changed++;
              this.log.warn(
                { job: m.value.jobId, task: m.value.taskId, reason: dead.reason },
                'dead-lettered task applied as WORKER_LOST',
              );
              await dead.remove();
            }
          }
        }
        // Anything else (a settled task's message, a malformed one) stays as evidence.
      }
    }
    return changed;
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      try {
        await this.checkOnce();
      } catch (err) {
        this.log.error({ err: asNommerError(err).message }, 'watchdog round failed');
      }
      await sleep(this.opts.intervalMs, signal);
    }
  }
}
