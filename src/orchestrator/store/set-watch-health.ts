// What a scan found at a watch's source: ok, or the error `watch list` shows (folder missing).
import type { Db } from '../../adapters/local/db.js';
import { sql } from './rows.js';

export function setWatchHealth(db: Db, id: string, error: string | null, now = Date.now()): void {
  sql(db, 'UPDATE watches SET state = ?, error = ?, scanned_at = ? WHERE id = ?').run(
    error === null ? 'ok' : 'error',
    error,
    now,
    id,
  );
}
