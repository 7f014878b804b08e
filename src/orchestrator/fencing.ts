// Tells workers, through the ControlChannel, which attempts are void, whenever the store makes
// one so: a job canceled or failed voids every attempt so far of its tasks (workers on them stop
// and write nothing, exactly as for an API cancel); a task retried or requeued voids its earlier
// attempt (a duplicate delivery of it, or its silent-but-alive worker, writes nothing). A settled
// success voids its attempt too — the task's (a chunk of a job still running), or the whole job's
// when it succeeded — so a duplicate delivery of a finished task (the outbox sends again after a
// crash between send and mark; SQS may deliver twice) is dropped unrun instead of encoding again
// and writing its piece into a scratch dir already removed, or rewriting a `force` job's output.
// Retries give tasks attempts above every fence, so a fence is never cleared.
import { asNommerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ControlChannel } from '../ports/control.js';
import { sleep } from '../sleep.js';
import type { Store } from './store/index.js';

const TRIES = 4;

export function attachFencing(store: Store, control: ControlChannel, log: Logger): () => void {
  // One write at a time per job, in order: the aws channel raises a fence by read-modify-write of
  // one object per job, so two at once (a chunk's success and a cancel) could lose one of them.
  const pending = new Map<string, Promise<void>>();
  const enqueue = (jobId: string, f: { upTo: number; taskId?: string }) => {
    const before = pending.get(jobId);
    // Nothing pending: write now (the local channel's write then lands before the API answers).
    const next = before ? before.then(() => write(control, jobId, f, log)) : write(control, jobId, f, log);
    pending.set(jobId, next);
    void next.finally(() => {
      if (pending.get(jobId) === next) pending.delete(jobId);
    });
  };
  return store.subscribe((c) => {
    const e = c.event;
    let fence: { upTo: number; taskId?: string } | null = null;
    if (e.type === 'canceled' || e.type === 'failed' || e.type === 'succeeded') fence = { upTo: c.job.attempt };
    else if ((e.type === 'retrying' || e.type === 'worker_lost' || e.type === 'task_succeeded') && e.taskId) {
      const task = store.getJob(c.jobId)?.tasks.find((t) => t.id === e.taskId);
      if (task && e.type === 'task_succeeded') fence = { upTo: task.attempt, taskId: task.id };
      else if (task && task.attempt > 1) fence = { upTo: task.attempt - 1, taskId: task.id };
    }
    if (fence) enqueue(c.jobId, fence);
  });
}

async function write(
  control: ControlChannel,
  jobId: string,
  f: { upTo: number; taskId?: string },
  log: Logger,
): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await control.fence(jobId, f.upTo, f.taskId);
      return;
    } catch (err) {
      if (i >= TRIES) {
        log.error(
          { job: jobId, ...f, err: asNommerError(err).message },
          'could not fence a void attempt; its worker may still write',
        );
        return;
      }
      await sleep(500 * i);
    }
  }
}
