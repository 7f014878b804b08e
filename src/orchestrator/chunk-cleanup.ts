// A chunked job's intermediates (chunk pieces and their manifest entries under the job's
// scratch prefix): removed when the job fails or is canceled (a successful assembly removes them
// itself), and removed again a little later, once every worker still on one of its tasks has had
// time to see its fence (a piece whose upload had already begun lands after the first sweep).
// A retry re-queues the chunks whose pieces are gone, so the fleet encodes them in parallel again
// instead of the assemble task repairing them one by one.
//
// A retry and a sweep of the same job never overlap to its loss: the retry waits for a sweep
// under way before it looks at the pieces and stores the job's lists again, and a sweep that
// finds, when it ends, the job retried while it ran (it began just before) stores them again
// itself. Otherwise the sweep's last step, removing the scratch directory, took the chunk list
// the retry had just restored, and the retried job failed at its join (STORAGE_FAILED: seen in
// the chaos test, a cancel then a retry).

import { stat } from 'node:fs/promises';
import { isLocalUri, localPathOf } from '../uri.js';
import { entryUri } from '../pieces.js';
import { PIECE_KINDS, TASK_PARAMS } from '../tasks/params.js';
import { lastScratchUri, removeJobScratch, restoreJobLists, scratchPrefixOf } from '../tasks/registry.js';
import type { Logger } from '../log.js';
import type { Storage } from '../ports/storage.js';
import type { Store } from './store/index.js';

export interface ChunkCleanupOptions {
  /** The second sweep, after the first (ms): a few heartbeats, so fenced workers have stopped. */
  resweepMs: number;
}

/** Sweeps under way, by store and job: what a retry of that job waits for. */
const sweeping = new WeakMap<Store, Map<string, Promise<void>>>();

/** The sweep of this job's intermediates under way, if any (resolves when it has ended). */
export function sweepOf(store: Store, jobId: string): Promise<void> | undefined {
  return sweeping.get(store)?.get(jobId);
}

const endedUnretried = (state: string | undefined) => state === 'failed' || state === 'canceled';

export function attachChunkCleanup(store: Store, storage: Storage, log: Logger, opts: ChunkCleanupOptions): () => void {
  const timers = new Set<NodeJS.Timeout>();
  const running = new Map<string, Promise<void>>();
  sweeping.set(store, running);
  const remove = async (jobId: string, again: boolean) => {
    const job = store.getJob(jobId);
    // Retried meanwhile: its pieces are the new attempt's now.
    if (!job || !endedUnretried(job.state) || !scratchPrefixOf(job.tasks)) return;
    try {
      await removeJobScratch(storage, job.tasks);
      log.info({ job: jobId, again }, 'chunk intermediates removed');
    } catch (err) {
      log.warn({ job: jobId, err: String(err) }, 'could not remove chunk intermediates');
    }
    // Retried while the sweep ran: what the new attempt reads by reference is stored again.
    const now = store.getJob(jobId);
    if (now && !endedUnretried(now.state))
      await restoreJobLists(storage, now.tasks).catch((err) =>
        log.warn({ job: jobId, err: String(err) }, 'could not store the lists of a retried job again'),
      );
  };
  const sweep = (jobId: string, again: boolean) => {
    // One sweep of a job at a time: the next follows the one under way.
    const p = (running.get(jobId) ?? Promise.resolve())
      .then(() => remove(jobId, again))
      .catch((err) => log.warn({ job: jobId, err: String(err) }, 'chunk intermediates sweep failed'))
      .finally(() => {
        if (running.get(jobId) === p) running.delete(jobId);
      });
    running.set(jobId, p);
  };
  const unsubscribe = store.subscribe((c) => {
    if (c.event.type !== 'failed' && c.event.type !== 'canceled') return;
    if (!c.job.options.chunking?.chunked) return;
    sweep(c.jobId, false);
    const t = setTimeout(() => {
      timers.delete(t);
      sweep(c.jobId, true);
    }, opts.resweepMs);
    t.unref();
    timers.add(t);
  });
  return () => {
    unsubscribe();
    for (const t of timers) clearTimeout(t);
    timers.clear();
    if (sweeping.get(store) === running) sweeping.delete(store);
  };
}

/** Finished-and-failed jobs looked at by the sweep at start: pages of this many... */
const START_SWEEP_PAGE = 500;
/** ...at most this many pages (the newest first: an older leftover is the retention's to go). */
const START_SWEEP_PAGES = 4;

/**
 * The sweeps above live in memory: a feederd killed between a chunked job's end and its sweep
 * would leave the pieces forever. At start, every failed or canceled chunked job whose scratch
 * still holds its last piece is swept again (one existence check per job, the newest 2000 jobs).
 */
export async function sweepChunkLeftovers(store: Store, storage: Storage, log: Logger): Promise<number> {
  let swept = 0;
  let cursor: string | null = null;
  for (let page = 0; page < START_SWEEP_PAGES; page++) {
    const p = store.listJobs({ state: ['failed', 'canceled'], limit: START_SWEEP_PAGE, cursor });
    for (const j of p.jobs) {
      if (!j.options.chunking?.chunked) continue;
      const tasks = store.getJob(j.id)?.tasks ?? [];
      const prefix = scratchPrefixOf(tasks);
      if (!prefix) continue;
      // removeJobScratch goes in order, so the last entry is there whenever a sweep did not finish.
      const last = lastScratchUri(tasks);
      const left = last !== null && (await storage.exists(last).catch(() => false));
      if (!left && !(await localScratchLeft(prefix))) continue;
      // Retried meanwhile: its pieces are the new attempt's now.
      const now = store.getJob(j.id)?.state;
      if (now !== 'failed' && now !== 'canceled') continue;
      await removeJobScratch(storage, tasks).then(
        () => {
          swept++;
        },
        (err) => log.warn({ job: j.id, err: String(err) }, 'could not remove chunk intermediates'),
      );
    }
    if (!p.nextCursor) break;
    cursor = p.nextCursor;
  }
  if (swept) log.info({ jobs: swept }, 'chunk intermediates left by an earlier feederd removed');
  return swept;
}

async function localScratchLeft(scratch: string): Promise<boolean> {
  return isLocalUri(scratch) && Boolean(await stat(localPathOf(scratch)).catch(() => undefined));
}

/** Succeeded piece tasks of a job whose piece or manifest entry is no longer in storage. */
export async function chunksToRerun(store: Store, storage: Storage, jobId: string): Promise<string[]> {
  // A sweep under way would remove what is looked at and restored here after the fact.
  await sweepOf(store, jobId);
  const job = store.getJob(jobId);
  if (!job) return [];
  const gone: string[] = [];
  for (const t of job.tasks) {
    if (!PIECE_KINDS.has(t.type) || t.state !== 'succeeded') continue;
    const p = TASK_PARAMS[t.type].safeParse(t.params ?? {});
    if (!p.success || !('uri' in p.data)) {
      gone.push(t.id);
      continue;
    }
    // A package's rendition, audio and extras may be an entry alone (a rung above the source, no
    // audio; the extras' files sit beside it), and its packaging re-makes a piece gone missing: the
    // entry is what must be there.
    const entryOnly = t.type === 'rendition' || t.type === 'package-audio' || t.type === 'extras';
    const there = await Promise.all([
      entryOnly ? true : storage.exists(p.data.uri),
      storage.exists(entryUri(p.data.uri)),
    ]).catch(() => [false, false]);
    if (!there.every(Boolean)) gone.push(t.id);
  }
  await restoreJobLists(storage, job.tasks);
  return gone;
}
