// Staging for the aws backend: workers cannot read the user's disk, so feederd uploads a local
// input to the bucket's staging prefix before queuing the job, points local destinations at
// staging keys, and downloads those back to the asked paths when the job succeeds.
//
// Delivery never clobbers: a destination that exists is refused at submission unless --force,
// and checked again when the output comes back (a file that appeared meanwhile is kept, and the
// staged object too, so nothing is lost). Each download goes to a private directory beside its
// destination, then into place with the local adapter's no-replace commit, all outputs or none.
// What is pending is in the store (deliveries.ts): a restarted feederd finishes it.
import { mkdtemp, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { FsStorage } from '../adapters/local/fs-storage.js';
import { asNommerError } from '../errors.js';
import { sha256File } from '../hash.js';
import type { Logger } from '../log.js';
import type { WirePreset } from '../messages.js';
import { commitAll, type PreparedOutput, type Storage } from '../ports/storage.js';
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
   * Download staged outputs to their local destinations, all or none, then remove what was
   * staged. A destination that already holds exactly the staged bytes counts as delivered (a
   * delivery cut short by a restart after its commit). Throws, keeping the staged objects, when
   * one cannot be delivered.
   */
  async deliver(deliveries: Delivery[], cleanup: string[], opts: { overwrite: boolean }): Promise<void> {
    const prepared: PreparedOutput[] = [];
    const scratch: string[] = [];
    try {
      for (const d of deliveries) {
        // A directory only this delivery knows: the download's own name meets no one's file.
        const dir = await mkdtemp(join(dirname(d.to), '.nommer-delivery-')).catch((err) => {
          throw asNommerError(err);
        });
        scratch.push(dir);
        const got = await this.storage.fetch(d.from, dir);
        if (await sameBytes(got, d.to)) continue;
        const out = await this.local.prepareOutput(d.to, {
          overwrite: opts.overwrite,
          tag: 'delivery',
          scratchDir: dir,
        });
        prepared.push(out);
        await rename(got, out.path);
      }
      await commitAll(prepared);
    } catch (err) {
      for (const p of prepared) await p.discard();
      throw err;
    } finally {
      for (const dir of scratch) await rm(dir, { recursive: true, force: true });
    }
    for (const uri of cleanup)
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

const DELIVERY_ATTEMPTS = 3;

/**
 * Delivers each job's staged outputs when it succeeds, and at start the ones a previous feederd
 * left pending; records each outcome in the store. One delivery per job at a time.
 */
export function attachDelivery(
  store: Store,
  staging: Staging,
  log: Logger,
): { start(): void; stop(timeoutMs?: number): Promise<void> } {
  const running = new Map<string, Promise<void>>();
  const abort = new AbortController();
  let stopped = false;
  /** An outcome written after feederd began to close its store is left for the next start. */
  const record = (jobId: string, error: string | null) => {
    try {
      store.recordDelivery(jobId, error);
    } catch (err) {
      log.warn({ job: jobId, err: String(err) }, 'could not record the delivery; the next start delivers again');
    }
  };
  const deliverJob = (job: Job): void => {
    const o = job.options;
    if (stopped || running.has(job.id) || !(o.deliver?.length || o.cleanup?.length)) return;
    const run = (async () => {
      // A passing fault (the network, S3 throttling) is tried again a few times, then left
      // pending for the next start; anything else is recorded, with where the outputs are.
      for (let attempt = 1; ; attempt++) {
        try {
          await staging.deliver(o.deliver ?? [], o.cleanup ?? [], { overwrite: o.force });
          record(job.id, null);
          log.info({ job: job.id, files: (o.deliver ?? []).map((x) => x.to) }, 'outputs delivered, staging cleaned');
          return;
        } catch (err) {
          const e = asNommerError(err);
          const where = (o.deliver ?? []).map((x) => x.from).join(', ');
          const message = `${e.code}: ${e.message}${where ? `; the outputs stay in ${where} (the staging prefix expires after 15 days)` : ''}`;
          if (e.retriable && attempt < DELIVERY_ATTEMPTS && !stopped) {
            await sleep(1000 * 2 ** attempt, abort.signal);
            continue;
          }
          if (e.retriable) {
            log.warn(
              { job: job.id, err: message },
              'delivering outputs failed; feederd tries again when it next starts',
            );
            return;
          }
          record(job.id, message);
          log.error({ job: job.id, err: message }, 'delivering outputs failed');
          return;
        }
      }
    })().finally(() => running.delete(job.id));
    running.set(job.id, run);
  };
  // On success: bring local outputs back and remove what was staged (the uploaded input too).
  // A failed or canceled job keeps its staged input, so `nommer retry` can run it.
  const unsubscribe = store.subscribe((c) => {
    if (c.event.type === 'succeeded') deliverJob(c.job);
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
      await Promise.race([Promise.allSettled([...running.values()]), sleep(timeoutMs, bound.signal)]);
      bound.abort();
    },
  };
}
