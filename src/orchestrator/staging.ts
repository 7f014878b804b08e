// Staging for the aws backend: workers cannot read the user's disk, so feederd uploads a local
// input to the bucket's staging prefix before queuing the job, points local destinations at
// staging keys, and downloads those back to the asked paths when the job succeeds.
import type { WirePreset } from '../messages.js';
import { randomUUID } from 'node:crypto';
import { rename, rm } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Storage } from '../ports/storage.js';
import type { Logger } from '../log.js';
import { isLocalUri, localPathOf } from '../uri.js';

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
    private readonly storage: Storage,
    private readonly bucket: string,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  private key(kind: string, id: string, name: string): string {
    return `s3://${this.bucket}/${this.prefix}${kind}/${id}/${name}`;
  }

  async stage(input: string, outputs: StagedJob['outputs']): Promise<StagedJob> {
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

  /** Download staged outputs to their local destinations (temp name + rename), then clean up. */
  async deliver(deliveries: Delivery[], cleanup: string[]): Promise<void> {
    for (const d of deliveries) {
      const got = await this.storage.fetch(d.from, dirname(d.to));
      if (got !== d.to)
        await rename(got, d.to).catch(async (err) => {
          await rm(got, { force: true });
          throw err;
        });
    }
    for (const uri of cleanup)
      await this.storage.remove(uri).catch((err) => this.log.warn({ uri, err: String(err) }, 'staging cleanup failed'));
  }
}
