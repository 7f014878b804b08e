// Staging for the aws backend: workers cannot read the user's disk, so feederd uploads a local
// input to the bucket's staging prefix before queuing the job, points local destinations at
// staging keys, and downloads those back to the asked paths when the job succeeds.
//
// Delivery never clobbers: a destination that exists is refused at submission unless --force,
// and checked again when the output comes back (a file that appeared meanwhile is kept, and the
// staged object too, so nothing is lost). Each download goes to a private directory beside its
// destination, then into place with the local adapter's no-replace commit, all outputs or none.
// What is pending is in the store (deliveries.ts): a restarted feederd finishes it.
import { mkdir, mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FsStorage } from '../adapters/local/fs-storage.js';
import { asNommerError, type ErrorInfo } from '../errors.js';
import { sha256File } from '../hash.js';
import type { Logger } from '../log.js';
import type { WirePreset } from '../messages.js';
import {
  commitAllUndoable,
  discardAll,
  type CommittedSet,
  type PreparedOutput,
  type Storage,
} from '../ports/storage.js';
import { sleep } from '../sleep.js';
import { isLocalUri, localPathOf } from '../uri.js';
import type { Job, Store } from './store/index.js';
import { randomUUID } from 'node:crypto';

export type { Delivery } from './store/job-options.js';
import type { Delivery } from './store/job-options.js';

export interface StagedJob {
  input: string;
  outputs: Array<{ preset: WirePreset; uri: string }>;
  deliver: Delivery[];
  /** Staged objects to remove once delivered (the uploaded input). */
  cleanup: string[];
}

export class Staging {
  constructor(
    /** The bucket's adapter. */
    private readonly storage: Storage,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly log: Logger,
    /** The local destinations' adapter. */
    private readonly local: Storage = new FsStorage(),
  ) {}

  private key(kind: string, id: string, name: string): string {
    return `s3://${this.bucket}/${this.prefix}${kind}/${id}/${name}`;
  }

  async stage(input: string, outputs: StagedJob['outputs'], opts: { overwrite: boolean }): Promise<StagedJob> {
    // Refused before anything is uploaded: a local destination that exists, without --force.
    for (const o of outputs) if (isLocalUri(o.uri)) await this.local.checkOutput(o.uri, opts);
    const id = randomUUID();
    const out: StagedJob = { input, outputs: [], deliver: [], cleanup: [] };
    if (isLocalUri(input)) {
      const path = localPathOf(input);
      out.input = this.key('inputs', id, basename(path));
      await this.storage.store(path, out.input, { overwrite: true });
      out.cleanup.push(out.input);
    }
    for (const [i, o] of outputs.entries()) {
      if (!isLocalUri(o.uri)) {
        out.outputs.push(o);
        continue;
      }
      const staged = this.key('outputs', id, `${i}-${basename(localPathOf(o.uri))}`);
      out.outputs.push({ ...o, uri: staged });
      out.deliver.push({ from: staged, to: localPathOf(o.uri) });
      out.cleanup.push(staged);
    }
    return out;
  }

  /**
   * Download staged outputs to their local destinations (their directories created), all or
   * none, and keep the way back until the job's end is recorded: the caller finishes the set, or
   * undoes it when the job ended otherwise (canceled meanwhile). A destination that already holds
   * exactly the staged bytes counts as delivered (a delivery cut short by a restart after its
   * commit). Throws, nothing left at the destinations, when one cannot be delivered.
   */
  async deliver(deliveries: Delivery[], opts: { overwrite: boolean; signal?: AbortSignal }): Promise<CommittedSet> {
    const prepared: PreparedOutput[] = [];
    const scratch: string[] = [];
    try {
      for (const d of deliveries) {
        // A directory only this delivery knows: the download's own name meets no one's file.
        const dir = await mkdir(dirname(d.to), { recursive: true })
          .then(() => mkdtemp(join(dirname(d.to), '.nommer-delivery-')))
          .catch((err) => {
            throw asNommerError(err);
          });
        scratch.push(dir);
        const got = await this.storage.fetch(d.from, dir, { signal: opts.signal });
        if (await sameBytes(got, d.to)) continue;
        const out = await this.local.prepareOutput(d.to, {
          overwrite: opts.overwrite,
          tag: 'delivery',
          scratchDir: dir,
        });
        prepared.push(out);
        await rename(got, out.path);
      }
      return await commitAllUndoable(prepared, { signal: opts.signal });
    } catch (err) {
      await discardAll(prepared);
      throw err;
    } finally {
      for (const dir of scratch) await rm(dir, { recursive: true, force: true });
    }
  }

  /** Remove what was staged for a job once it is delivered (best effort: the lifecycle rule is the backstop). */
  async cleanup(uris: readonly string[]): Promise<void> {
    for (const uri of uris)
      await this.storage.remove(uri).catch((err) => this.log.warn({ uri, err: String(err) }, 'staging cleanup failed'));
  }
}

/** Whether `dest` exists with exactly the bytes of `file`. */
async function sameBytes(file: string, dest: string): Promise<boolean> {
  const [a, b] = await Promise.all([stat(file), stat(dest).catch(() => undefined)]);
  if (!b?.isFile() || a.size !== b.size) return false;
  const [ha, hb] = await Promise.all([sha256File(file), sha256File(dest)]);
  return ha === hb;
}

/** Tries of a delivery that fails for a passing reason (the network, S3 throttling): 1+2+4+8 s apart. */
const DELIVERY_ATTEMPTS = 5;

/** What a delivery works with. */
interface DeliveryDeps {
  store: Store;
  staging: Staging;
  log: Logger;
}

/**
 * Delivers each job's staged outputs when its tasks are done (the job waits in phase
 * `delivering`), and at start the ones a previous feederd left pending; the delivery's outcome
 * ends the job: succeeded, or failed DELIVERY_FAILED with where the outputs stay (retrying the
 * job delivers again). One delivery per job at a time; a cancel stops it and takes back what it
 * put in place.
 */
export function attachDelivery(
  store: Store,
  staging: Staging,
  log: Logger,
): { start(): void; stop(timeoutMs?: number): Promise<void> } {
  const deps: DeliveryDeps = { store, staging, log };
  const running = new Map<string, { done: Promise<void>; abort: AbortController }>();
  const abort = new AbortController();
  let stopped = false;
  const deliverJob = (job: Job): void => {
    const o = job.options;
    if (stopped || running.has(job.id) || !(o.deliver?.length || o.cleanup?.length)) return;
    const ac = new AbortController();
    const signal = AbortSignal.any([ac.signal, abort.signal]);
    const done = deliverWithRetries(deps, job, signal).finally(() => running.delete(job.id));
    running.set(job.id, { done, abort: ac });
  };
  // A job whose tasks are done waits in `delivering`; one with only staged objects to clean (the
  // uploaded input) has succeeded. A failed or canceled job keeps its staged input, so
  // `nommer retry` can run it.
  const unsubscribe = store.subscribe((c) => {
    if (c.event.type === 'canceled') running.get(c.jobId)?.abort.abort();
    else if (c.job.state === 'running' && c.job.phase === 'delivering') deliverJob(c.job);
    else if (c.event.type === 'succeeded' && !c.job.options.deliver?.length) deliverJob(c.job);
  });
  return {
    start() {
      for (const job of store.pendingDeliveries({ limit: 1000 })) deliverJob(job);
    },
    /** No new deliveries; waits (bounded) for the ones under way, so none outlives the store. */
    async stop(timeoutMs = 10_000) {
      stopped = true;
      unsubscribe();
      abort.abort();
      // The bound's timer is cleared when the deliveries end first, so it never holds the process.
      const bound = new AbortController();
      await Promise.race([
        Promise.allSettled([...running.values()].map((r) => r.done)),
        sleep(timeoutMs, bound.signal),
      ]);
      bound.abort();
    },
  };
}

/**
 * Delivers a job, trying again after a passing failure, and records the job's end. Never throws:
 * a delivery that cannot succeed fails the job (DELIVERY_FAILED).
 */
async function deliverWithRetries(deps: DeliveryDeps, job: Job, signal: AbortSignal): Promise<void> {
  const { log } = deps;
  for (let attempt = 1; ; attempt++) {
    try {
      return await deliverOnce(deps, job, signal);
    } catch (err) {
      // feederd stopping leaves it pending for the next start; a cancel has ended the job.
      if (signal.aborted) return;
      const info = deliveryFailure(job, err);
      if (info.retriable && attempt < DELIVERY_ATTEMPTS) {
        log.warn({ job: job.id, err: info.message, attempt }, 'delivering outputs failed; trying again');
        await sleep(1000 * 2 ** (attempt - 1), signal);
        if (signal.aborted) return;
        continue;
      }
      recordEnd(deps, job.id, info);
      log.error({ job: job.id, err: info.message }, 'delivering outputs failed');
      return;
    }
  }
}

/** One try: downloads the outputs into place, records the job's end, then keeps or undoes them. */
async function deliverOnce(deps: DeliveryDeps, job: Job, signal: AbortSignal): Promise<void> {
  const { staging, log } = deps;
  const o = job.options;
  const set = await staging.deliver(o.deliver ?? [], { overwrite: o.force, signal });
  const outcome = recordEnd(deps, job.id, null);
  if (outcome === 'unrecorded') {
    // The staged copies stay: the next start delivers again, and finds these files in place.
    await set.finish();
    return;
  }
  if (outcome === 'refused') {
    // The job ended meanwhile (canceled): what it did not finish leaves nothing behind.
    await set.undo().catch((err) => log.warn({ job: job.id, err: String(err) }, 'could not take a delivery back'));
    log.info({ job: job.id }, 'the job ended during its delivery: delivered files taken back');
    return;
  }
  await set.finish();
  await staging.cleanup(o.cleanup ?? []);
  log.info({ job: job.id, files: (o.deliver ?? []).map((x) => x.to) }, 'outputs delivered, staging cleaned');
}

/** Ends the job with the delivery's outcome. One written after feederd began to close its store
 * is left for the next start ('unrecorded'). */
function recordEnd(deps: DeliveryDeps, jobId: string, error: ErrorInfo | null): 'stands' | 'refused' | 'unrecorded' {
  try {
    return deps.store.endDelivery(jobId, error).outcome === 'refused' ? 'refused' : 'stands';
  } catch (err) {
    deps.log.warn({ job: jobId, err: String(err) }, 'could not record the delivery; the next start delivers again');
    return 'unrecorded';
  }
}

/** The job's error: what went wrong, and where the outputs wait for a retry. */
function deliveryFailure(job: Job, err: unknown): ErrorInfo {
  const e = asNommerError(err);
  const where = (job.options.deliver ?? []).map((x) => x.from).join(', ');
  const kept = where
    ? `; the outputs stay in ${where} (the staging prefix expires after 15 days; \`nommer retry ${job.id}\` delivers again)`
    : '';
  return { code: 'DELIVERY_FAILED', message: `${e.code}: ${e.message}${kept}`, retriable: e.retriable };
}
