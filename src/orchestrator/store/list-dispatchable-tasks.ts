// listDispatchableTasks: the outbox. Queued tasks whose current attempt has not been handed to
// the queue yet, as ready-to-send task messages, oldest first (the partial index of migration
// 0004). Priority is carried with each message: the local queue hands out higher priorities
// first; ordering the outbox by it would sort the whole backlog on every batch.
import { parseJobOptions } from './job-options.js';
import type { Db } from '../../adapters/local/db.js';
import { MESSAGE_VERSION, type TaskMessage } from '../../messages.js';
import { outputsOf, paramsOf, sql, type JobRow, type TaskRow } from './rows.js';

export interface Dispatchable {
  message: TaskMessage;
  priority: number;
}

export function listDispatchableTasks(db: Db, opts: { limit?: number } = {}): Dispatchable[] {
  const limit = Math.min(Math.max(1, Math.trunc(opts.limit ?? 100)), 1000);
  const rows = sql(
    db,
    `SELECT t.id, t.job_id, t.type, t.attempt, t.params, j.input, j.outputs, j.options, j.priority
    FROM tasks t JOIN jobs j ON j.id = t.job_id
    WHERE t.state = 'queued' AND t.dispatched_attempt < t.attempt
    ORDER BY t.created_at, t.id LIMIT ?`,
  ).all(limit) as Array<
    Pick<TaskRow, 'id' | 'job_id' | 'type' | 'attempt' | 'params'> &
      Pick<JobRow, 'input' | 'outputs' | 'options' | 'priority'>
  >;
  return rows.map((r) => {
    const options = parseJobOptions(r.options);
    const outputs = outputsOf(r.outputs, r.job_id).map((o) => ({ preset: o.preset, uri: o.uri }));
    const params = paramsOf(r.params, r.id);
    const message: TaskMessage = {
      v: MESSAGE_VERSION,
      kind: 'task',
      jobId: r.job_id,
      taskId: r.id,
      attempt: r.attempt,
      type: r.type,
      input: r.input,
      outputs,
      force: options.force,
      ...(params === null ? {} : { params }),
    };
    return { message, priority: r.priority };
  });
}
