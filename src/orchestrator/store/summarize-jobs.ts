// summarizeJobs: how many jobs are in each state (what `nommer status` shows on top).
import type { Db } from '../../adapters/local/db.js';
import { JOB_STATES, type JobState } from '../../jobs/types.js';
import { sql } from './rows.js';
import type { JobSummary } from './types.js';

export function summarizeJobs(db: Db): JobSummary {
  // Read from the trigger-maintained counts (migrations/0001): counting rows would grow with history.
  const rows = sql(db, 'SELECT state, n FROM job_counts').all() as Array<{ state: JobState; n: number }>;
  const byState = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
  let total = 0;
  for (const r of rows) {
    byState[r.state] = r.n;
    total += r.n;
  }
  return { total, byState };
}
