// Tells workers, through the ControlChannel, which attempts are void, whenever the store makes
// one so: a job canceled or failed voids every attempt so far of its tasks (workers on them stop
// and write nothing, exactly as for an API cancel); a task retried or requeued voids its earlier
// attempt (a duplicate delivery of it, or its silent-but-alive worker, writes nothing). Retries
// give tasks attempts above every fence, so a fence is never cleared.
import { asNommerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ControlChannel } from '../ports/control.js';
import { sleep } from '../sleep.js';
import type { Store } from './store/index.js';

const TRIES = 4;

export function attachFencing(store: Store, control: ControlChannel, log: Logger): () => void {
  return store.subscribe((c) => {
    const e = c.event;
    let fence: { upTo: number; taskId?: string } | null = null;
    if (e.type === 'canceled' || e.type === 'failed') fence = { upTo: c.job.attempt };
    else if ((e.type === 'retrying' || e.type === 'worker_lost') && e.taskId) {
      const task = store.getJob(c.jobId)?.tasks.find((t) => t.id === e.taskId);
      if (task && task.attempt > 1) fence = { upTo: task.attempt - 1, taskId: task.id };
    }
    if (fence) void write(control, c.jobId, fence, log);
  });
}

async function write(control: ControlChannel, jobId: string, f: { upTo: number; taskId?: string }, log: Logger): Promise<void> {
  for (let i = 1; ; i++) {
    try {
      await control.fence(jobId, f.upTo, f.taskId);
      return;
    } catch (err) {
      if (i >= TRIES) {
        log.error({ job: jobId, ...f, err: asNommerError(err).message }, 'could not fence a void attempt; its worker may still write');
        return;
      }
      await sleep(500 * i);
    }
  }
}
