// What `nommer status` shows when no feederd runs: the data dir's store, opened read-only, in the
// API's shapes (so `--json` reads the same). Past jobs stay visible with feederd stopped; nothing
// is written (no migration, no lock held past the read). Queue and fleet are feederd's to tell.
import { existsSync } from 'node:fs';
import { openDatabase } from '../adapters/local/db.js';
import { NommerError } from '../errors.js';
import { publicJob, publicJobDetail, parseStates } from '../orchestrator/public-views.js';
import { Store } from '../orchestrator/store/index.js';
import { dataPaths } from '../paths.js';

export class OfflineJobs {
  private constructor(private readonly store: Store) {}

  /** The store of data dir `home`, read-only; null when it has none yet (no job ever). */
  static open(home: string): OfflineJobs | null {
    const path = dataPaths(home).db;
    if (!existsSync(path)) return null;
    return new OfflineJobs(new Store(openDatabase(path, { readonly: true })));
  }

  list(opts: { state?: string; limit: number; cursor?: string }) {
    const page = this.store.listJobs({
      state: parseStates(opts.state),
      limit: opts.limit,
      cursor: opts.cursor ?? null,
    });
    return { jobs: page.jobs.map(publicJob), nextCursor: page.nextCursor };
  }

  get(id: string) {
    const j = this.store.getJob(id);
    if (!j) throw new NommerError('JOB_NOT_FOUND', `no job ${id}`, { hint: 'list jobs with `nommer status`' });
    return publicJobDetail(this.store, j);
  }

  summary() {
    return { jobs: this.store.summarizeJobs() };
  }

  close(): void {
    this.store.close();
  }
}
