// The snapshot every state change starts from: the job and all its tasks, or JOB_NOT_FOUND.
import type { Db } from '../../adapters/local/db.js';
import { NommerError } from '../../errors.js';
import { readJob, readTasks } from './rows.js';
import type { Job, Task } from './types.js';

export function loadForChange(db: Db, jobId: string): { job: Job; tasks: Task[] } {
  const job = readJob(db, jobId);
  if (!job) throw new NommerError('JOB_NOT_FOUND', `no job ${jobId}`, { hint: 'list jobs with `nommer status`' });
  return { job, tasks: readTasks(db, jobId) };
}
