// listJobEvents: a job's history, oldest first; `afterId` resumes (SSE Last-Event-ID).
import type { Db } from '../../adapters/local/db.js';
import { eventFromRow, sql, type EventRow } from './rows.js';
import type { JobEvent } from './types.js';

export function listJobEvents(db: Db, jobId: string, opts: { afterId?: number; limit?: number } = {}): JobEvent[] {
  const limit = Math.min(Math.max(1, Math.trunc(opts.limit ?? 1000)), 10_000);
  const rows = sql(db, 'SELECT * FROM job_events WHERE job_id = ? AND id > ? ORDER BY id LIMIT ?').all(
    jobId,
    opts.afterId ?? 0,
    limit,
  ) as EventRow[];
  return rows.map(eventFromRow);
}
