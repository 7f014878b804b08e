// What `nommer fleet`'s spend (cost/spend.ts) adds up, read from the store: each job that
// finished since a time or still runs, with its recorded cost; and each instance of the ledger
// (migration 0008) that ended since then or still runs, with its price and, once settled, its bill.
import type { Db } from '../../adapters/local/db.js';
import { jobNanoUsd } from './job-cost.js';
import { parseJobOptions } from './job-options.js';
import { costFactsOf, type JobRow, sql } from './rows.js';

export interface JobSpendRow {
  /** ms since the epoch; null while it runs. */
  finishedAt: number | null;
  workerMs: number;
  /** Its cost; null when part of its worker time has no price. */
  nanoUsd: number | null;
}

/** Jobs that finished at or after `since`, and those still running at `now`. */
export function jobCostsSince(db: Db, since: number, now: number): JobSpendRow[] {
  const rows = sql(db, 'SELECT * FROM jobs WHERE coalesce(finished_at, ?) >= ?').all(now, since) as JobRow[];
  return rows.map((r) => ({
    finishedAt: r.finished_at,
    workerMs: r.worker_ms ?? 0,
    nanoUsd: jobNanoUsd(r.worker_ms ?? 0, parseJobOptions(r.options), costFactsOf(r)),
  }));
}

export interface InstanceSpendRow {
  id: string;
  /** $/hour; null for a type with no known price. */
  pricePerHour: number | null;
  launchedAt: number;
  /** null while it runs. */
  endedAt: number | null;
  /** Its bill once settled. */
  billedNano: number | null;
  /** Of which no job took a share. */
  unattributedNano: number | null;
}

interface LedgerRow {
  id: string;
  price_per_hour: number | null;
  launched_at: number;
  ended_at: number | null;
  billed_nano: number | null;
  unattributed_nano: number | null;
}

/** Ledger instances that ended at or after `since`, and those still running at `now` (none in a store without a ledger). */
export function instanceBillsSince(db: Db, since: number, now: number): InstanceSpendRow[] {
  if (!hasTable(db, 'instances')) return [];
  const rows = sql(
    db,
    'SELECT id, price_per_hour, launched_at, ended_at, billed_nano, unattributed_nano FROM instances WHERE coalesce(ended_at, ?) >= ?',
  ).all(now, since) as LedgerRow[];
  return rows.map((r) => ({
    id: r.id,
    pricePerHour: r.price_per_hour,
    launchedAt: r.launched_at,
    endedAt: r.ended_at,
    billedNano: r.billed_nano,
    unattributedNano: r.unattributed_nano,
  }));
}

function hasTable(db: Db, name: string): boolean {
  return sql(db, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?").get(name) !== undefined;
}
