// markTaskDispatched: the dispatcher sent this attempt of the task to the queue. Sending happens
// before marking, so a crash in between sends it again (at-least-once) rather than never.
import type { Db } from '../../adapters/local/db.js';
import { sql } from './rows.js';

/** False when the task moved on meanwhile (canceled, or already on a newer attempt). */
export function markTaskDispatched(db: Db, taskId: string, attempt: number, now: number = Date.now()): boolean {
  const r = sql(
    db,
    `UPDATE tasks SET dispatched_attempt = @attempt, updated_at = @now
    WHERE id = @taskId AND attempt = @attempt AND dispatched_attempt < @attempt`,
  ).run({ taskId, attempt, now });
  return r.changes === 1;
}
