// Watching an S3 prefix (aws backend): what such a watch is (a bucket and a key prefix, always
// taken as a folder: `s3://b/in` is `s3://b/in/`), the checks `watch add` makes before it is
// stored, and its route in the bucket's event notifications (BucketEvents port), made when it is
// added, checked by feederd and taken away when it is removed (EventRoutes). S3 sends one event to one route only, so two watches
// whose prefixes overlap in one bucket are refused here rather than by S3 later.
import { NommerError } from '../errors.js';
import type { BucketEvents } from '../ports/bucket-events.js';
import { checkS3Location, type JobCreatorDeps } from './submit-job.js';
import type { Db } from '../adapters/local/db.js';
import { removeWatch } from './store/remove-watch.js';
import { getWatch, type Watch, type WatchSpec } from './store/watch-rows.js';
import { asFolder } from './watch-jobs.js';

export interface S3Source {
  bucket: string;
  /** The key prefix, '' or ending in '/'. */
  prefix: string;
}

export type S3WatchDeps = Pick<JobCreatorDeps, 'reservedPrefixes' | 'allowedS3Prefixes'> & {
  /** aws: the watches' routes for their buckets' created-events; absent on the local backend. */
  eventRoutes?: EventRoutes;
};

const usage = (message: string, hint: string) => new NommerError('USAGE', message, { hint });

/** `s3://bucket/prefix/` as its bucket and prefix, or null when it is not one. */
export function s3Source(uri: string): S3Source | null {
  const m = /^s3:\/\/([^/]+)\/?(.*)$/i.exec(uri);
  if (!m) return null;
  return { bucket: m[1]!, prefix: m[2] ? asFolder(m[2]) : '' };
}

const ROUTE_PREFIX = 'nommer-';
/** The id of a watch's route in the bucket's notification configuration. */
export const routeIdOf = (watchId: string): string => ROUTE_PREFIX + watchId;
/** The watch a route id names, or null for a route that is not nommer's. */
export const watchIdOfRoute = (routeId: string): string | null =>
  routeId.startsWith(ROUTE_PREFIX) ? routeId.slice(ROUTE_PREFIX.length) : null;

const overlaps = (a: S3Source, b: S3Source) =>
  a.bucket === b.bucket && (a.prefix.startsWith(b.prefix) || b.prefix.startsWith(a.prefix));

/** An S3 watch fit to run: aws backend, its source and destination where jobs may read and write, outside each other, no overlap. */
export function checkS3Watch(deps: S3WatchDeps, spec: WatchSpec, others: readonly Watch[]): WatchSpec {
  if (!deps.eventRoutes)
    throw usage(
      `watching ${spec.source} needs the aws backend; this feederd runs the local one`,
      'set "backend": "aws" in the config, run `nommer setup aws`, and start feederd again; or watch a local folder',
    );
  const src = s3Source(spec.source);
  const dst = s3Source(spec.dest);
  if (!src) throw usage(`not an S3 prefix: ${spec.source}`, 'write s3://bucket/prefix/');
  if (!dst)
    throw usage(`the outputs of an S3 watch go to S3, not ${spec.dest}`, 'give -o s3://bucket/prefix/ for the outputs');
  const source = `s3://${src.bucket}/${src.prefix}`;
  const dest = `s3://${dst.bucket}/${dst.prefix}`;
  if (dst.bucket === src.bucket && dst.prefix.startsWith(src.prefix))
    throw usage(
      `outputs under ${dest} would be watched themselves (${source} takes every key under it)`,
      'choose an output prefix outside the watched one',
    );
  checkS3Location(deps, source, 'input');
  checkS3Location(deps, dest, 'output');
  for (const o of others) {
    const other = s3Source(o.spec.source);
    if (other && overlaps(src, other))
      throw usage(
        `${source} overlaps watch ${o.id} (${o.spec.source}): S3 sends an object's event to one route only`,
        `remove ${o.id} first, or watch a prefix beside it`,
      );
  }
  return { ...spec, source, dest };
}

/**
 * The watches' routes in their buckets' notifications, changed one at a time: a removal (route
 * away, then the watch) and feederd's periodic check (the watch still there? its route made again)
 * would otherwise interleave and put back the route of a watch just removed.
 */
export class EventRoutes {
  private last: Promise<unknown> = Promise.resolve();

  constructor(
    readonly events: BucketEvents,
    private readonly db: Db,
  ) {}

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.last.then(fn, fn);
    this.last = next.catch(() => undefined);
    return next;
  }

  /** Make a new watch's route; a bucket that is not there is a USAGE error, like a missing folder. */
  async add(w: Watch): Promise<void> {
    await this.serial(() => this.route(w));
  }

  /** Make the route again if the bucket lost it: 'gone' when the watch was removed meanwhile. */
  check(watchId: string): Promise<'gone' | 'exists' | 'added'> {
    return this.serial(async () => {
      const w = getWatch(this.db, watchId);
      return w ? this.route(w) : 'gone';
    });
  }

  /** Take the route away (a bucket already gone has none), then the watch: its jobs stay. */
  remove(w: Watch): Promise<Watch | null> {
    return this.serial(async () => {
      const src = s3Source(w.spec.source)!;
      await this.events.unsubscribe(routeIdOf(w.id), src.bucket).catch((err) => {
        if (!(err instanceof NommerError && err.code === 'STORAGE_NOT_FOUND')) throw err;
      });
      return removeWatch(this.db, w.id);
    });
  }

  private async route(w: Watch): Promise<'exists' | 'added'> {
    const src = s3Source(w.spec.source)!;
    try {
      return await this.events.subscribe(routeIdOf(w.id), src.bucket, src.prefix);
    } catch (err) {
      if (err instanceof NommerError && err.code === 'STORAGE_NOT_FOUND')
        throw usage(`bucket missing: s3://${src.bucket}/`, 'create the bucket, or check its name');
      throw err;
    }
  }
}
