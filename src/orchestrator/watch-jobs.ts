// A watch's job for one file, the step folder scans (folder-scan.ts) and bucket events
// (prefix-watcher.ts) share: once per (path, identity) by the store's record (watch_files) and by
// the job's idempotency key (a crash between making the job and recording it makes no second
// one), through the same submit path as POST /v1/jobs, outputs under the watch's destination at
// the file's path relative to its source. A folder's identity is a content hash; an object's, its
// version (or ETag and size on an unversioned bucket).
import { createHash } from 'node:crypto';
import { join, posix } from 'node:path';
import { asNommerError } from '../errors.js';
import { resolveOutputs } from '../jobspec.js';
import type { Logger } from '../log.js';
import { isS3Uri } from '../uri.js';
import { createJobFrom, type JobCreatorDeps } from './submit-job.js';
import { hasWatchedContent, recordWatchedFile } from './store/record-watched-file.js';
import { lastWatchedFile, type Watch, type WatchSpec } from './store/watch-rows.js';

/** A file (or object) a watch found whole. */
export interface WatchedItem {
  /** Its path under the watch's source, `/`-separated. */
  rel: string;
  /** What it holds: a content hash (folders) or `version:…` / `etag:…:size` (S3). */
  identity: string;
  /** What a folder rescan compares to skip hashing again; an object has only its size. */
  stat: { dev: number; ino: number; size: number; mtimeMs: number };
}

export interface TakeResult {
  /** The job made now (none when it was made before, or refused). */
  jobId?: string;
  /** Not taken, for a reason a later try can change (the file unreadable now, the store busy). */
  retry?: boolean;
}

export interface TakeDeps {
  creator: JobCreatorDeps;
  log: Logger;
  now: () => number;
}

/** A prefix or folder URI that ends in `/`, so a relative path can follow it. */
export const asFolder = (uri: string): string => (uri.endsWith('/') ? uri : `${uri}/`);

/** Where a file at `rel` under the watch's source is. */
export function sourceOf(spec: WatchSpec, rel: string): string {
  return isS3Uri(spec.source) ? asFolder(spec.source) + rel : join(spec.source, rel);
}

/** The outputs of a file at `rel`: under the destination at that path, named by the presets. */
export function outputsOf(
  creator: Pick<JobCreatorDeps, 'userPresets' | 'defaultPreset'>,
  spec: WatchSpec,
  rel: string,
) {
  // Named as beside an input at /rel, then moved under the destination.
  const named = resolveOutputs({
    input: posix.join('/', rel),
    presets: spec.presets,
    outputs: [],
    sets: spec.set,
    userPresets: creator.userPresets,
    defaultPreset: creator.defaultPreset,
  });
  return named.map((o, i) => ({
    preset: spec.presets[i],
    uri: isS3Uri(spec.dest) ? asFolder(spec.dest) + o.uri.slice(1) : join(spec.dest, o.uri),
  }));
}

/** One whole file: a job, unless this identity at this path made one already (a touch, a restart, a redelivery). */
export async function takeWatched(deps: TakeDeps, w: Watch, item: WatchedItem): Promise<TakeResult> {
  const db = deps.creator.store.db;
  const input = sourceOf(w.spec, item.rel);
  const record = (jobId: string | null) =>
    recordWatchedFile(db, w.id, { path: item.rel, contentHash: item.identity, ...item.stat, jobId }, deps.now());
  if (hasWatchedContent(db, w.id, item.rel, item.identity)) {
    record(null);
    return {};
  }
  // New content at a path already encoded replaces that path's outputs.
  const replaces = lastWatchedFile(db, w.id, item.rel) !== null;
  const key = createHash('sha256').update(`${item.rel}\0${item.identity}`).digest('hex');
  try {
    const r = await createJobFrom(deps.creator, {
      input,
      outputs: outputsOf(deps.creator, w.spec, item.rel),
      set: w.spec.set,
      force: replaces,
      idempotencyKey: `watch:${w.id}:${key}`,
    });
    if (r.dryRun) return {};
    record(r.job.id);
    if (r.created) deps.log.info({ watch: w.id, file: input, job: r.job.id }, 'watch: job made');
    return r.created ? { jobId: r.job.id } : {};
  } catch (err) {
    const e = asNommerError(err);
    deps.log.warn({ watch: w.id, file: input, code: e.code, err: e.message }, 'watch: the file was refused');
    // A refusal that a retry cannot change is kept, so the file is not offered again each pass.
    if (!e.retriable) record(null);
    return e.retriable ? { retry: true } : {};
  }
}
