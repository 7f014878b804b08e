// ControlChannel on SQLite (local backend): cancel markers in the shared database file.
import type { Db } from './db.js';
import type { ControlChannel } from '../../ports/control.js';

export class SqliteControl implements ControlChannel {
  constructor(private readonly db: Db) {}
  async cancel(jobId: string): Promise<void> {
    this.db.prepare('INSERT OR REPLACE INTO cancel_markers (job_id, at) VALUES (?, ?)').run(jobId, Date.now());
  }
  async isCanceled(jobId: string): Promise<boolean> {
    return this.db.prepare('SELECT 1 FROM cancel_markers WHERE job_id = ?').get(jobId) !== undefined;
  }
  async clear(jobId: string): Promise<void> {
    this.db.prepare('DELETE FROM cancel_markers WHERE job_id = ?').run(jobId);
  }
}
