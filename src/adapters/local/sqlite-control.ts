// ControlChannel on SQLite (local backend): fences in the shared database file (migration 0005).
import type { Db } from './db.js';
import type { ControlChannel } from '../../ports/control.js';

export class SqliteControl implements ControlChannel {
  constructor(private readonly db: Db) {}

  async fence(jobId: string, upTo: number, taskId = ''): Promise<void> {
    this.db
      .prepare(`INSERT INTO control_fences (job_id, task_id, up_to, at) VALUES (?, ?, ?, ?)
      ON CONFLICT (job_id, task_id) DO UPDATE SET up_to = max(up_to, excluded.up_to), at = excluded.at`)
      .run(jobId, taskId, upTo, Date.now());
  }

  async fencedUpTo(jobId: string, taskId: string): Promise<number> {
    const r = this.db
      .prepare(`SELECT coalesce(max(up_to), 0) AS n FROM control_fences
      WHERE job_id = ? AND task_id IN ('', ?)`)
      .get(jobId, taskId) as { n: number };
    return r.n;
  }
}
