// outputsOfWorker: the destinations of the jobs a worker is running a task of (feederd sweeps a
// dead local worker's temp files beside them).
import type { Db } from '../../adapters/local/db.js';
import { outputsOf, sql } from './rows.js';

export function outputsOfWorker(db: Db, worker: string): string[] {
  const rows = sql(
    db,
    `SELECT DISTINCT j.id AS id, j.outputs AS outputs FROM tasks t JOIN jobs j ON j.id = t.job_id
    WHERE t.state = 'running' AND (t.worker = ? OR t.worker LIKE ? || '/%')`,
  ).all(worker, worker) as Array<{ id: string; outputs: string }>;
  const uris = new Set<string>();
  for (const r of rows) for (const o of outputsOf(r.outputs, r.id)) uris.add(o.uri);
  return [...uris];
}
