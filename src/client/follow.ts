// Following jobs to the end through the API's event streams. The callback gets every update;
// resolves with the final state of each job.
import type { PublicEvent, PublicJob } from '../api/contract.js';
import { FINAL_STATES } from '../jobs/types.js';
import type { ApiClient } from './api-client.js';

export interface JobUpdate {
  job: PublicJob;
  event?: PublicEvent;
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
        (m) => {
          last = m.data.job;
          if (m.type === 'job') onUpdate({ job: m.data.job, event: m.data.event });
          else if (m.type === 'snapshot') onUpdate({ job: m.data.job });
          else finals.set(id, m.data.job);
        },
        signal,
      );
      if (!finals.has(id) && last && FINAL_STATES.has(last.state)) finals.set(id, last);
    }),
  );
  return finals;
}
