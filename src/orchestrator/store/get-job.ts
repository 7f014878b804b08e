// getJob: one job with its tasks, or null.
import type { Db } from '../../adapters/local/db.js';
import { readJob, readTasks } from './rows.js';
import type { JobDetail } from './types.js';

export function getJob(db: Db, jobId: string): JobDetail | null {
  // One read transaction so the job and its tasks come from the same moment.
  return db.transaction(() => {
    const job = readJob(db, jobId);
    return job ? { ...job, tasks: readTasks(db, jobId) } : null;
  })();
}
