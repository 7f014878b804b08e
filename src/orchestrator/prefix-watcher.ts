// feederd's loop for watched S3 prefixes: takes the buckets' created-events off the ingest queue
// (BucketEvents port; S3 and SQS do the watching, nothing lists a bucket) and makes one job per
// object version through the step folder watches use (watch-jobs.ts). Delivery is at-least-once
// and events may repeat: an object is known by its version (or ETag and size on an unversioned
// bucket) as HeadObject says it is now, recorded per watch, so a redelivery, a repeated event or a
// feederd restart makes no second job. An event whose object has since been replaced is skipped:
// the replacement's own event makes the job (a job reads the key, whose content is the newest).
// A message is acked once every object in it is settled; one that could not be (the store busy)
// comes back after its visibility timeout. Every `checkMs` the watches' routes are checked and
// made again if the bucket's notifications lost them; what was found is the watch's state.
import { NommerError, asNommerError } from '../errors.js';
import type { Logger } from '../log.js';
import type { BucketEventDelivery, BucketEvents, ObjectCreated } from '../ports/bucket-events.js';
import { sleep, wakeableSleep } from '../sleep.js';
import { matchesWatch, globToRegExp } from './folder-scan.js';
import { type EventRoutes, s3Source, watchIdOfRoute } from './s3-watch.js';
import type { JobCreatorDeps } from './submit-job.js';
import { setWatchHealth } from './store/set-watch-health.js';
import { getWatch, listWatches, type Watch } from './store/watch-rows.js';
import { takeWatched } from './watch-jobs.js';

export interface PrefixWatcherOptions {
  /** How often the routes are checked, and how long the loop idles with no S3 watch (default 30 s). */
  checkMs?: number;
  /** The long poll on the ingest queue, which also bounds how long a stop waits (default 20 s, SQS's longest). */
  waitSeconds?: number;
  now?: () => number;
}

/** After the ingest queue failed, before trying again. */
const BACKOFF_MS = 5000;

export class PrefixWatcher {
  private wake: () => void = () => {};
  private readonly checkMs: number;
  private readonly waitSeconds: number;
  private readonly now: () => number;
  private nextCheck = 0;

  constructor(
    private readonly creator: JobCreatorDeps,
    private readonly routes: EventRoutes,
    private readonly log: Logger,
    opts: PrefixWatcherOptions = {},
  ) {
    this.checkMs = opts.checkMs ?? 30_000;
    this.waitSeconds = opts.waitSeconds ?? 20;
    this.now = opts.now ?? Date.now;
  }

  /** A new S3 watch: stop idling. */
  poke(): void {
    this.wake();
  }

  private s3Watches(): Watch[] {
    return listWatches(this.creator.store.db).filter((w) => s3Source(w.spec.source) !== null);
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const watches = this.s3Watches();
      if (watches.length === 0) {
        const s = wakeableSleep(this.checkMs, signal);
        this.wake = s.wake;
        await s.promise;
        continue;
      }
      if (this.now() >= this.nextCheck) await this.checkRoutes(watches);
      // The poll is not aborted at shutdown: SQS hands messages to a poll whose client has gone,
      // and they would stay hidden for their visibility timeout. It ends within waitSeconds and
      // what it brought is settled (the store closes after this loop).
      await this.receiveOnce().catch(async (err) => {
        const e = asNommerError(err);
        this.log.warn({ code: e.code, err: e.message }, 'watch: the ingest queue failed');
        for (const w of watches) this.health(w, `ingest queue: ${e.message}`);
        this.nextCheck = 0;
        await sleep(BACKOFF_MS, signal);
      });
    }
  }

  /** One long poll and what it brought. */
  async receiveOnce(signal?: AbortSignal): Promise<{ created: string[] }> {
    const created: string[] = [];
    for (const d of await this.routes.events.receive(this.waitSeconds, signal)) created.push(...(await this.settle(d)));
    return { created };
  }

  /** Each watch's route is in its bucket's notifications (made again when lost), as its state says. */
  async checkRoutes(watches: readonly Watch[] = this.s3Watches()): Promise<void> {
    this.nextCheck = this.now() + this.checkMs;
    for (const w of watches) {
      try {
        if ((await this.routes.check(w.id)) === 'added')
          this.log.warn({ watch: w.id }, 'watch: its route was lost; made again');
        this.health(w, null);
      } catch (err) {
        const e = asNommerError(err);
        this.log.warn({ watch: w.id, code: e.code, err: e.message }, 'watch: cannot route the bucket events');
        this.health(w, e.message);
      }
    }
  }

  private health(w: Watch, error: string | null): void {
    const now = getWatch(this.creator.store.db, w.id);
    if (now && now.error !== error) setWatchHealth(this.creator.store.db, w.id, error);
  }

  /** Every object of a message, then the ack; not acked when one must be tried again. */
  private async settle(d: BucketEventDelivery): Promise<string[]> {
    if (d.objects.length === 0) this.log.debug({ note: d.note }, 'watch: an ingest message with no object');
    const created: string[] = [];
    let again = false;
    for (const o of d.objects) {
      const r = await this.take(o).catch((err) => {
        const e = asNommerError(err);
        this.log.warn({ bucket: o.bucket, key: o.key, code: e.code, err: e.message }, 'watch: an object event failed');
        return { retry: e.retriable, jobId: undefined };
      });
      if (r.jobId) created.push(r.jobId);
      again ||= r.retry === true;
    }
    if (!again) await d.ack();
    return created;
  }

  /** One object: its watch (by route), whether the watch takes it, what it is now, and its job. */
  private async take(o: ObjectCreated): Promise<{ jobId?: string; retry?: boolean }> {
    const w = this.watchOf(o);
    if (!w) return {};
    const src = s3Source(w.spec.source)!;
    const rel = o.key.slice(src.prefix.length);
    if (!rel || rel.endsWith('/') || (!w.spec.recursive && rel.includes('/'))) return {};
    if (!matchesWatch(w.spec, rel, w.spec.pattern ? globToRegExp(w.spec.pattern) : undefined)) return {};
    const now = await this.identify(w, o);
    if (!now) return {};
    return takeWatched({ creator: this.creator, log: this.log, now: this.now }, w, {
      rel,
      identity: now.versionId ? `version:${now.versionId}` : `etag:${now.etag}:${now.size}`,
      stat: { dev: 0, ino: 0, size: now.size, mtimeMs: 0 },
    });
  }

  /** The watch an event came for: its route, bucket and prefix all agree (a removed watch's late events find none). */
  private watchOf(o: ObjectCreated): Watch | null {
    const id = watchIdOfRoute(o.routeId);
    const w = id ? getWatch(this.creator.store.db, id) : null;
    const src = w && s3Source(w.spec.source);
    if (!w || !src || src.bucket !== o.bucket || !o.key.startsWith(src.prefix)) {
      this.log.debug({ route: o.routeId, bucket: o.bucket, key: o.key }, 'watch: an event of no watch');
      return null;
    }
    return w;
  }

  /** The object as it is now, if it is still the one the event names; null to skip it. */
  private async identify(w: Watch, o: ObjectCreated) {
    let now: Awaited<ReturnType<BucketEvents['identify']>>;
    try {
      now = await this.routes.events.identify(o.bucket, o.key);
    } catch (err) {
      // Denied (or, without s3:ListBucket, deleted since): nothing to encode; the state says so.
      if (err instanceof NommerError && err.code === 'STORAGE_DENIED') {
        this.health(w, `cannot read s3://${o.bucket}/${o.key}: ${err.message}`);
        this.log.warn({ watch: w.id, key: o.key, err: err.message, hint: err.hint }, 'watch: cannot read an object');
        return null;
      }
      throw err;
    }
    const superseded = now && ((o.etag && now.etag !== o.etag) || (o.versionId && now.versionId !== o.versionId));
    if (!now || superseded) {
      this.log.info(
        { watch: w.id, key: o.key },
        now ? 'watch: replaced since its event' : 'watch: gone since its event',
      );
      return null;
    }
    return now;
  }
}
