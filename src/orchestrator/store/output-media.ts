// A job's outputs as measured (cost/output-media.ts): gathered from its succeeded tasks' results
// into jobs.output_media whenever a task succeeds. Runs inside saveOutcome's transaction.
import type { Db } from '../../adapters/local/db.js';
import { mediaOfResult, type OutputMedia } from '../../cost/output-media.js';
import { resultOf, sql } from './rows.js';

export function recordOutputMedia(db: Db, jobId: string): void {
  const rows = sql(db, "SELECT id, result FROM tasks WHERE job_id = ? AND state = 'succeeded' ORDER BY rowid").all(
    jobId,
  ) as Array<{ id: string; result: string | null }>;
  const byUri = new Map<string, OutputMedia>();
  for (const r of rows) for (const m of mediaOfResult(resultOf(r.result, r.id))) byUri.set(m.uri, m);
  if (byUri.size === 0) return;
  sql(db, 'UPDATE jobs SET output_media = ? WHERE id = ?').run(JSON.stringify([...byUri.values()]), jobId);
}
