// busyByWorker: running tasks per worker id, so the fleet manager knows which instances are busy.
import type { Db } from '../../adapters/local/db.js';
import { sql } from './rows.js';

export function busyByWorker(db: Db): Map<string, number> {
  const rows = sql(db, `SELECT worker, COUNT(*) AS n FROM tasks WHERE state = 'running' AND worker IS NOT NULL GROUP BY worker`).all() as Array<{ worker: string; n: number }>;
  return new Map(rows.map((r) => [r.worker, r.n]));
}
