// busyByWorker: running tasks per worker id, so the fleet manager knows which instances are busy.
import type { Db } from '../../adapters/local/db.js';
import { sql } from './rows.js';

export function busyByWorker(db: Db): Map<string, number> {
  const rows = sql(
    db,
    `SELECT worker, COUNT(*) AS n FROM tasks WHERE state = 'running' AND worker IS NOT NULL GROUP BY worker`,
  ).all() as Array<{ worker: string; n: number }>;
  // A worker with --concurrency N reports as "<id>/<slot>": count its slots under <id>.
  const busy = new Map<string, number>();
  for (const r of rows) {
    const id = r.worker.split('/')[0]!;
    busy.set(id, (busy.get(id) ?? 0) + r.n);
  }
  return busy;
}
