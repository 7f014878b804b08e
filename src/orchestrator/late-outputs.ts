// Work that lands after its job ended. A cancel (or a failure of another task) can reach the
// store after a worker has already checked its fence and committed: the worker's success then
// arrives for a job that is canceled or failed, and the store refuses it. Left alone, the job
// would break its promise (a canceled or failed job leaves no output) and a retry without
// --force would meet the job's own file as OUTPUT_EXISTS. So:
// - an encode/assemble success: the outputs it reports are removed, when the job did not
//   overwrite (`force` off, so the file did not exist before this job's no-replace commit);
//   with `force`, a retry replaces them anyway and nothing of the user's is left to keep;
// - a chunk's success: its piece went into a scratch dir that cleanup already swept: sweep again.
import { removeScratch } from '../chunked/assemble.js';
import { removePackage } from '../abr/worker-task.js';
import type { AssembleParams } from '../chunked/tasks.js';
import type { Logger } from '../log.js';
import type { StatusEvent } from '../messages.js';
import type { Storage } from '../ports/storage.js';
import type { Job, Store } from './store/index.js';

export function takeBackLateWork(store: Store, storage: Storage, log: Logger) {
  return async (ev: StatusEvent, refusal: { reason: string; job: Job | null }): Promise<void> => {
    const job = refusal.job;
    if (ev.type !== 'succeeded' || !job || (job.state !== 'canceled' && job.state !== 'failed')) return;
    const task = store.getJob(job.id)?.tasks.find((t) => t.id === ev.taskId);
    if (task?.type === 'chunk') {
      const assemble = store.getJob(job.id)?.tasks.find((t) => t.type === 'assemble');
      if (!assemble?.params) return;
      await removeScratch(storage, assemble.params as unknown as AssembleParams)
        .then(() =>
          log.info(
            { job: job.id, task: ev.taskId },
            'a chunk finished after its job ended: intermediates removed again',
          ),
        )
        .catch((err) => log.warn({ job: job.id, err: String(err) }, "could not remove a late chunk's intermediates"));
      return;
    }
    if (job.options.force) return;
    // A package is a directory: its files are named in the result.
    const files = (ev.result as { packageFiles?: unknown } | undefined)?.packageFiles;
    if (Array.isArray(files) && ev.outputs?.length === 1) {
      const names = files.filter((f): f is string => typeof f === 'string' && !f.includes('/') && !f.startsWith('.'));
      await removePackage(storage, ev.outputs[0]!.uri, names)
        .then(() =>
          log.warn(
            { job: job.id, uri: ev.outputs![0]!.uri, state: job.state },
            'package committed after its job ended: removed',
          ),
        )
        .catch((err) =>
          log.warn({ job: job.id, err: String(err) }, 'could not remove a package committed after its job ended'),
        );
      return;
    }
    for (const o of ev.outputs ?? []) {
      await storage
        .remove(o.uri)
        .then(() =>
          log.warn({ job: job.id, uri: o.uri, state: job.state }, 'output committed after its job ended: removed'),
        )
        .catch((err) =>
          log.warn(
            { job: job.id, uri: o.uri, err: String(err) },
            'could not remove an output committed after its job ended',
          ),
        );
    }
  };
}
