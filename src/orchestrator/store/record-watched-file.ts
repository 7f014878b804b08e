// A file a watch made a job of, or saw again with the same content (a touch, a rescan after a
// restart): one row per (path, content), whose stat fields follow the file so the next rescan
// need not hash it again.
import type { Db } from '../../adapters/local/db.js';
import { sql } from './rows.js';
import type { WatchedFile } from './watch-rows.js';

export function recordWatchedFile(db: Db, watchId: string, f: WatchedFile, now = Date.now()): void {
  sql(
    db,
    `INSERT INTO watch_files (watch_id, path, content_hash, dev, ino, size, mtime_ms, job_id, at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (watch_id, path, content_hash) DO UPDATE SET
       dev = excluded.dev, ino = excluded.ino, size = excluded.size, mtime_ms = excluded.mtime_ms,
       job_id = coalesce(watch_files.job_id, excluded.job_id), at = excluded.at`,
  ).run(watchId, f.path, f.contentHash, f.dev, f.ino, f.size, f.mtimeMs, f.jobId, now);
}

/** Whether this content at this path already made a job (its row exists). */
export function hasWatchedContent(db: Db, watchId: string, path: string, contentHash: string): boolean {
  return (
    sql(db, 'SELECT 1 FROM watch_files WHERE watch_id = ? AND path = ? AND content_hash = ?').get(
      watchId,
      path,
      contentHash,
    ) !== undefined
  );
}
