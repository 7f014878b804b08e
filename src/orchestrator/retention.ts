// Retention: finished jobs (with their tasks and events), dead letters and stale fences do not
// stay in the job store forever. `nommer prune` runs it once against the store file (feederd
// running or not: the file is shared through WAL, and every batch is its own short IMMEDIATE
// transaction); feederd runs it at start and once a day, and checkpoints the WAL every few
// minutes so it does not grow without bound while readers keep it from being reset.
import { existsSync, statSync } from 'node:fs';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { openDatabase, type Db } from '../adapters/local/db.js';
import { asNommerError, NommerError } from '../errors.js';
import type { Logger } from '../log.js';
import { sleep } from '../sleep.js';
import { pruneJobs, type PruneCounts } from './store/index.js';

const DAY_MS = 86_400_000;
const UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: DAY_MS, w: 7 * DAY_MS };

/** `12h`, `7d`, `30d`, `90m`, `2w` in ms; a USAGE error naming the forms otherwise. */
export function parseDuration(text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$/i.exec(text);
  const ms = m ? Number(m[1]) * UNITS[m[2]!.toLowerCase()]! : Number.NaN;
  if (!m || !(ms > 0) || ms > 100 * 365 * DAY_MS) {
    throw new NommerError(
      'USAGE',
      `${JSON.stringify(text)} is not a duration: use a number and a unit, e.g. 12h, 7d or 30d (s, m, h, d, w; more than 0, at most 100 years)`,
    );
  }
  return Math.round(ms);
}

export interface PruneTotals extends PruneCounts {
  /** Final jobs finished before this (ms since the epoch) went, and dead letters older than it. */
  before: number;
  dryRun: boolean;
}

/**
 * Prune in batches (one transaction each, a turn of the event loop between them, so an API in
 * the same process keeps answering). Stops early, with what it did so far, when `signal` aborts.
 */
export async function pruneStore(
  db: Db,
  opts: { before: number; dryRun?: boolean; batchSize?: number; signal?: AbortSignal },
): Promise<PruneTotals> {
  const totals: PruneTotals = {
    before: opts.before,
    dryRun: opts.dryRun ?? false,
    jobs: 0,
    tasks: 0,
    events: 0,
    deadLetters: 0,
    fences: 0,
  };
  for (;;) {
    const b = pruneJobs(db, opts.before, { limit: opts.batchSize, dryRun: opts.dryRun });
    totals.jobs += b.jobs;
    totals.tasks += b.tasks;
    totals.events += b.events;
    totals.deadLetters += b.deadLetters;
    totals.fences += b.fences;
    if (!b.more || opts.signal?.aborted) return totals;
    await nextTurn();
  }
}

/** Size of the database's write-ahead log file now (0 when there is none). */
export function walBytes(dbPath: string): number {
  const wal = `${dbPath}-wal`;
  return existsSync(wal) ? statSync(wal).size : 0;
}

export interface Checkpoint {
  /** 1 when another connection kept it from finishing (it did what it could). */
  busy: number;
  /** Frames in the WAL, and frames copied into the database (-1 when not in WAL mode). */
  log: number;
  checkpointed: number;
}

export function checkpoint(db: Db, mode: 'PASSIVE' | 'TRUNCATE'): Checkpoint {
  const [r] = db.pragma(`wal_checkpoint(${mode})`) as Checkpoint[];
  return r ?? { busy: 0, log: -1, checkpointed: -1 };
}

export interface PruneReport extends PruneTotals {
  /** The store file, and whether it exists (when not, nothing is pruned and nothing created). */
  db: string;
  exists: boolean;
  /** The WAL before the checkpoint, and after it (a dry run does not checkpoint: the same). */
  walBytes: number;
  walBytesAfter: number;
  checkpoint: Checkpoint | null;
}

/**
 * `nommer prune`: prune the store file at `dbPath`, then checkpoint the WAL (TRUNCATE: it is
 * copied into the database and reset to zero bytes, unless a reader holds an older snapshot).
 */
export async function pruneFile(
  dbPath: string,
  opts: { before: number; dryRun?: boolean; batchSize?: number },
): Promise<PruneReport> {
  const dryRun = opts.dryRun ?? false;
  if (!existsSync(dbPath)) {
    return {
      db: dbPath,
      exists: false,
      before: opts.before,
      dryRun,
      jobs: 0,
      tasks: 0,
      events: 0,
      deadLetters: 0,
      fences: 0,
      walBytes: 0,
      walBytesAfter: 0,
      checkpoint: null,
    };
  }
  const db = openDatabase(dbPath);
  try {
    const totals = await pruneStore(db, { before: opts.before, dryRun, batchSize: opts.batchSize });
    const before = walBytes(dbPath);
    const cp = dryRun ? null : checkpoint(db, 'TRUNCATE');
    return { db: dbPath, exists: true, ...totals, walBytes: before, walBytesAfter: walBytes(dbPath), checkpoint: cp };
  } finally {
    db.close();
  }
}

export interface RetentionOptions {
  /** Final jobs and dead letters older than this many days go. */
  days: number;
  /** Between prunes (default a day; the first is at start). */
  pruneEveryMs?: number;
  /** Between PASSIVE WAL checkpoints (default 10 minutes). */
  checkpointEveryMs?: number;
  batchSize?: number;
  now?: () => number;
}

/** feederd's retention loop: prune at start and every `pruneEveryMs`, checkpoint every `checkpointEveryMs`. */
export class Retention {
  constructor(
    private readonly db: Db,
    private readonly log: Logger,
    private readonly opts: RetentionOptions,
  ) {}

  private now(): number {
    return (this.opts.now ?? Date.now)();
  }

  async pruneOnce(signal?: AbortSignal): Promise<PruneTotals> {
    const started = this.now();
    const r = await pruneStore(this.db, {
      before: started - this.opts.days * DAY_MS,
      batchSize: this.opts.batchSize,
      signal,
    });
    if (r.jobs || r.deadLetters || r.fences) {
      this.log.info(
        {
          jobs: r.jobs,
          tasks: r.tasks,
          events: r.events,
          deadLetters: r.deadLetters,
          fences: r.fences,
          days: this.opts.days,
          ms: this.now() - started,
        },
        'pruned old jobs',
      );
    }
    return r;
  }

  checkpointOnce(): Checkpoint {
    const r = checkpoint(this.db, 'PASSIVE');
    this.log.debug({ ...r, walBytes: walBytes(this.db.name) }, 'wal checkpoint');
    return r;
  }

  async run(signal: AbortSignal): Promise<void> {
    const pruneEvery = this.opts.pruneEveryMs ?? DAY_MS;
    const checkpointEvery = this.opts.checkpointEveryMs ?? 600_000;
    let nextPrune = this.now();
    let nextCheckpoint = this.now() + checkpointEvery;
    while (!signal.aborted) {
      if (this.now() >= nextPrune) {
        try {
          await this.pruneOnce(signal);
        } catch (err) {
          this.log.error({ err: asNommerError(err).message }, 'pruning old jobs failed');
        }
        nextPrune = this.now() + pruneEvery;
        nextCheckpoint = Math.min(nextCheckpoint, this.now()); // what pruning wrote, checkpointed now
      }
      if (signal.aborted) break;
      if (this.now() >= nextCheckpoint) {
        try {
          this.checkpointOnce();
        } catch (err) {
          this.log.warn({ err: asNommerError(err).message }, 'wal checkpoint failed');
        }
        nextCheckpoint = this.now() + checkpointEvery;
      }
      await sleep(Math.max(0, Math.min(nextPrune, nextCheckpoint) - this.now()), signal);
    }
  }
}
