// Staged deliveries (aws backend): which succeeded jobs still have local outputs waiting in the
// staging prefix, and what became of each delivery. A job is pending until it has a row in
// job_deliveries, so a feederd that stops between a job's success and its delivery finishes the
// delivery when it starts again.
import type { Db } from '../../adapters/local/db.js';
import { jobFromRow, sql, type JobRow } from './rows.js';
import type { Job } from './types.js';

export interface DeliveryRecord {
  at: number;
  /** Why it was given up on (the staged objects are kept); null when delivered. */
  error: string | null;
}

/**
 * Jobs whose delivery has no outcome yet, oldest first: held in phase `delivering`, or succeeded
 * with staged objects to clean (or from before deliveries were part of a job's end).
 */
export function pendingDeliveries(db: Db, opts: { limit?: number } = {}): Job[] {
  const rows = sql(
    db,
    `SELECT j.* FROM jobs j
    WHERE (j.state = 'running' AND j.delivering = 1)
      OR (j.state = 'succeeded'
        AND (coalesce(json_array_length(j.options, '$.deliver'), 0) > 0
          OR coalesce(json_array_length(j.options, '$.cleanup'), 0) > 0)
        AND NOT EXISTS (SELECT 1 FROM job_deliveries d WHERE d.job_id = j.id))
    ORDER BY j.updated_at, j.id LIMIT ?`,
  ).all(opts.limit ?? 100) as JobRow[];
  return rows.map(jobFromRow);
}

/** The outcome of a job's delivery; the first one recorded stands. */
export function recordDelivery(db: Db, jobId: string, error: string | null, now = Date.now()): void {
  sql(db, 'INSERT OR IGNORE INTO job_deliveries (job_id, at, error) VALUES (?, ?, ?)').run(jobId, now, error);
}

export function deliveryOf(db: Db, jobId: string): DeliveryRecord | null {
  const row = sql(db, 'SELECT at, error FROM job_deliveries WHERE job_id = ?').get(jobId) as DeliveryRecord | undefined;
  return row ?? null;
}
