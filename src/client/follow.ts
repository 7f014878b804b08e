// Following jobs to the end through the API's event streams. The callback gets every update;
// resolves with the final state of each job.
import type { PublicJob } from '../orchestrator/api.js';
import { FINAL_STATES, type JobState } from '../jobs/types.js';
import type { ApiClient } from './api-client.js';

export interface JobUpdate {
  job: PublicJob;
  event?: { type: string; message: string; at: string };
}

export async function followJobs(
  client: ApiClient,
  ids: string[],
  onUpdate: (u: JobUpdate) => void,
  signal?: AbortSignal,
): Promise<Map<string, PublicJob>> {
  const finals = new Map<string, PublicJob>();
  await Promise.all(
    ids.map(async (id) => {
      let last: PublicJob | undefined;
      await client.events(
        id,
        (type, data) => {
          const d = data as { job: PublicJob; event?: JobUpdate['event'] };
          last = d.job;
          if (type === 'job' || type === 'snapshot') onUpdate({ job: d.job, event: d.event });
          if (type === 'end') finals.set(id, d.job);
        },
        signal,
      );
      if (!finals.has(id) && last && FINAL_STATES.has(last.state as JobState)) finals.set(id, last);
    }),
  );
  return finals;
}
