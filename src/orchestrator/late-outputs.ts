// Work that lands after its job ended. A cancel (or a failure of another task) can reach the
// store after a worker has already checked its fence and committed: the worker's success then
// arrives for a job that is canceled or failed, and the store refuses it. Left alone, the job
// would break its promise (a canceled or failed job leaves no output) and a retry without
// --force would meet the job's own file as OUTPUT_EXISTS. So:
// - an encode/assemble success: the job's outputs are removed, when the job did not overwrite
//   (`force` off, so the file did not exist before this job's no-replace commit); with `force`, a
//   retry replaces them anyway and nothing of the user's is left to keep;
// - a package: the files its index (under the job's own package URI) lists, then the index;
// - a piece's success (a chunk, a rendition, ...): its piece went into a scratch dir that cleanup
//   already swept: sweep again.
//
// feederd deletes with its own rights, and anyone who can send a status event can send a forged
// one (the status channel does not say who wrote an event). So what is removed is named by the
// job's record only: its destinations, the package index under its package URI, its scratch.
// The event only narrows that (the outputs it says it committed), never adds to it. And a file
// is removed only while it is still the one the late attempt left (FileIdentity, compared by the
// storage itself just before the delete): not modified after the attempt reported its success,
// of the size it reported, and not a destination of a later job that may have put it there.
import { mkdtemp, readFile, rm, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as z from 'zod';
import { DASH_MANIFEST, HLS_MANIFEST, PACKAGE_INDEX } from '../abr/tasks.js';
import { packageFileUri } from '../scratch.js';
import { PIECE_KINDS } from '../tasks/params.js';
import { removeJobScratch } from '../tasks/registry.js';
import type { Logger } from '../log.js';
import type { StatusEvent } from '../messages.js';
import type { FileIdentity, Storage } from '../ports/storage.js';
import { isLocalUri, localPathOf } from '../uri.js';
import type { Job, JobDetail, Store } from './store/index.js';

/**
 * How much later than the worker's clock said "succeeded" a file it committed may look modified:
 * the storage's clock against the worker's (S3 stamps to the second), not a window for anyone.
 */
export const CLOCK_SLACK_MS = 5_000;

/** A package file's name as the index may list it: a plain name inside the package, no path. */
const PLAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const packageIndex = z.object({ files: z.array(z.string()) });

export function takeBackLateWork(store: Store, storage: Storage, log: Logger) {
  return async (ev: StatusEvent, refusal: { reason: string; job: Job | null }): Promise<void> => {
    if (ev.type !== 'succeeded' || !refusal.job) return;
    const job = store.getJob(refusal.job.id);
    // Retried meanwhile (its destinations are the new attempt's now), or never ended.
    if (!job || (job.state !== 'canceled' && job.state !== 'failed')) return;
    const task = job.tasks.find((t) => t.id === ev.taskId);
    // A success that was applied is never late: this is the same event again (at-least-once), and
    // the job ended after it for its own reason (its delivery failed, a cancel while delivering),
    // keeping its outputs for `nommer retry`.
    if (!task || task.state === 'succeeded') return;
    if (PIECE_KINDS.has(task.type)) return sweepScratchAgain(storage, job, log);
    if (job.options.force) return;
    const late = new LateOutputs(store, storage, log, job, ev);
    if (task.type === 'package') await late.takeBackPackage();
    else await late.takeBackFiles();
  };
}

/** A late piece (a chunk, a rendition, ...): the job's scratch, as its own tasks' params lay it out. */
async function sweepScratchAgain(storage: Storage, job: JobDetail, log: Logger): Promise<void> {
  await removeJobScratch(storage, job.tasks)
    .then(() => log.info({ job: job.id }, 'a piece finished after its job ended: intermediates removed again'))
    .catch((err) => log.warn({ job: job.id, err: String(err) }, "could not remove a late piece's intermediates"));
}

class LateOutputs {
  /** Files modified after this were replaced since the attempt reported its success. */
  private readonly reportedBy: number;
  private laterDestinations?: Set<string>;

  constructor(
    private readonly store: Store,
    private readonly storage: Storage,
    private readonly log: Logger,
    private readonly job: JobDetail,
    private readonly ev: StatusEvent,
  ) {
    // A worker's clock ahead of feederd's says nothing later than now.
    this.reportedBy = Math.min(ev.at, Date.now()) + CLOCK_SLACK_MS;
  }

  /** The job's destinations the event says it committed, each at the size it says. */
  async takeBackFiles(): Promise<void> {
    for (const out of this.job.outputs) {
      const said = this.ev.outputs?.find((o) => o.uri === out.uri);
      if (!said) continue;
      await this.removeOne(out.uri, out.uri, (id) => id.bytes === said.bytes);
    }
  }

  /** The files the package's own index lists, manifests first, then the index itself. */
  async takeBackPackage(): Promise<void> {
    const dir = this.job.outputs[0]?.uri;
    if (!dir || this.job.outputs.length !== 1 || !this.ev.outputs?.some((o) => o.uri === dir)) return;
    const names = await this.indexedNames(dir);
    if (!names) return;
    const playlistsFirst = [...names].sort((a, b) => rank(a) - rank(b));
    for (const name of playlistsFirst) await this.removeOne(packageFileUri(dir, name), dir);
    const gone = await this.removeOne(packageFileUri(dir, PACKAGE_INDEX), dir);
    if (gone && isLocalUri(dir)) await rmdir(localPathOf(dir)).catch(() => undefined);
    if (gone)
      this.log.warn(
        { job: this.job.id, uri: dir, state: this.job.state },
        'package committed after its job ended: removed',
      );
  }

  /** The plain names the index under `dir` lists (each resolving inside dir), or null. */
  private async indexedNames(dir: string): Promise<string[] | null> {
    const indexUri = packageFileUri(dir, PACKAGE_INDEX);
    const work = await mkdtemp(join(tmpdir(), 'nommer-late-'));
    try {
      const got = await this.storage.fetch(indexUri, work);
      const parsed = packageIndex.safeParse(JSON.parse(await readFile(got, 'utf8')));
      if (!parsed.success) throw new Error(`not a package index: ${parsed.error.issues[0]?.message}`);
      return parsed.data.files.filter((f) => f !== PACKAGE_INDEX && PLAIN_NAME.test(f) && inside(dir, f));
    } catch (err) {
      this.log.warn(
        { job: this.job.id, uri: indexUri, err: String(err) },
        'late package kept: its index cannot be read',
      );
      return null;
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  }

  /**
   * Remove uri while it is still the late attempt's file: there, not modified since the success was
   * reported, matching `fits`, and not the destination of a later job. True when it was removed.
   */
  private async removeOne(uri: string, destination: string, fits: (id: FileIdentity) => boolean = () => true) {
    const about = { job: this.job.id, uri, state: this.job.state };
    try {
      if (!this.storage.identify || !this.storage.removeIfSame) return false;
      const id = await this.storage.identify(uri);
      if (!id) return false;
      const why = !fits(id)
        ? 'it is not the size the late success reported'
        : id.modifiedMs > this.reportedBy
          ? 'it was modified after the late success was reported'
          : this.claimedLater(destination)
            ? 'a later job writes there'
            : null;
      if (why) {
        this.log.warn({ ...about, why }, 'output of a job that ended kept: it is not what the late attempt left');
        return false;
      }
      const removed = await this.storage.removeIfSame(uri, id);
      if (removed && destination === uri) this.log.warn(about, 'output committed after its job ended: removed');
      return removed;
    } catch (err) {
      this.log.warn({ ...about, err: String(err) }, 'could not remove an output committed after its job ended');
      return false;
    }
  }

  /** True when a job created after this one (and not failed or canceled) has this destination. */
  private claimedLater(destination: string): boolean {
    this.laterDestinations ??= laterDestinations(this.store, this.job);
    return this.laterDestinations.has(sameKey(destination));
  }
}

/** Pages of jobs looked through for later jobs with the same destination (newest first). */
const LATER_PAGE = 1000;
const LATER_PAGES = 20;

function laterDestinations(store: Store, job: Job): Set<string> {
  const found = new Set<string>();
  let cursor: string | null = null;
  for (let i = 0; i < LATER_PAGES; i++) {
    const page = store.listJobs({ state: ['queued', 'running', 'succeeded'], limit: LATER_PAGE, cursor });
    for (const other of page.jobs)
      if (other.id !== job.id && other.createdAt >= job.createdAt)
        for (const o of other.outputs) found.add(sameKey(o.uri));
    const last = page.jobs[page.jobs.length - 1];
    if (!page.nextCursor || !last || last.createdAt < job.createdAt) break;
    cursor = page.nextCursor;
  }
  return found;
}

/** One key per destination: a local path made absolute, an S3 URI as it is. */
function sameKey(uri: string): string {
  return isLocalUri(uri) ? resolve(localPathOf(uri)) : uri;
}

/** True when name, joined to the package dir, stays directly inside it. */
function inside(dir: string, name: string): boolean {
  const uri = packageFileUri(dir, name);
  if (!isLocalUri(dir)) return uri === `${dir.replace(/\/+$/, '')}/${name}`;
  return resolve(localPathOf(uri)) === join(resolve(localPathOf(dir)), name);
}

/** Manifests before media playlists before segments: a player never finds a half-removed package. */
function rank(name: string): number {
  if (name === DASH_MANIFEST || name === HLS_MANIFEST) return 0;
  return name.endsWith('.m3u8') || name.endsWith('.mpd') ? 1 : 2;
}
