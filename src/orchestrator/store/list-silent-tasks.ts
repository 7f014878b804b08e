// listSilentTasks: running tasks whose worker has not reported since `before` — candidates for
// requeueTask (worker lost). Oldest silence first.
import type { Db } from '../../adapters/local/db.js';
import { sql } from './rows.js';

export function listSilentTasks(
  db: Db,
  before: number,
  opts: { limit?: number } = {},
): Array<{ jobId: string; taskId: string; worker: string | null; heartbeatAt: number }> {
  const limit = Math.min(Math.max(1, Math.trunc(opts.limit ?? 100)), 1000);
  const rows = sql(
    db,
    `SELECT job_id, id, worker, heartbeat_at FROM tasks
    WHERE state = 'running' AND heartbeat_at < ? ORDER BY heartbeat_at LIMIT ?`,
  ).all(before, limit) as Array<{ job_id: string; id: string; worker: string | null; heartbeat_at: number }>;
  return rows.map((r) => ({ jobId: r.job_id, taskId: r.id, worker: r.worker, heartbeatAt: r.heartbeat_at }));
}
