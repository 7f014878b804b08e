// `nommer status --watch`: polls the job listing (or one job) and the queue/fleet summary every
// `everyMs` and shows them in the same view as submit, until the user quits. Returns 0.
import type { ApiClient } from '../client/api-client.js';
import type { PublicJob } from '../api/contract.js';
import { sleep } from '../sleep.js';
import { initialState } from './model.js';
import type { OutputMode } from './output-mode.js';
import type { LineSink } from './plain.js';
import { openApiSession } from './session.js';
import { ViewStore } from './store.js';

export interface WatchViewOptions {
  client: ApiClient;
  mode: OutputMode;
  /** Watch this job only; else the listing (`state`, `limit` as `status` takes them). */
  id?: string;
  state?: string;
  limit?: number;
  everyMs?: number;
  stdout?: LineSink;
  stderr?: LineSink;
}

export async function watchJobsView(o: WatchViewOptions): Promise<number> {
  const store = new ViewStore(initialState('watch'));
  const ac = new AbortController();
  const list = async (): Promise<PublicJob[]> =>
    o.id
      ? [(await o.client.getJob(o.id)).job]
      : (await o.client.listJobs({ limit: o.limit ?? 20, state: o.state })).jobs;
  // The first listing before the view opens, so a wrong id or an unreachable feederd is a
  // plain error, not a view.
  store.dispatch({ type: 'jobs', jobs: await list() });
  const session = await openApiSession({
    mode: o.mode,
    store,
    stdout: o.stdout,
    stderr: o.stderr,
    client: o.client,
    quit: ac,
  });
  let failing = false;
  try {
    while (!ac.signal.aborted) {
      try {
        const [jobs, summary] = await Promise.all([list(), o.client.summary()]);
        if (ac.signal.aborted) break;
        store.dispatch({ type: 'jobs', jobs });
        store.dispatch({ type: 'summary', summary: { queue: summary.queue, fleet: summary.fleet } });
        if (failing) {
          failing = false;
          store.dispatch({ type: 'notice', text: 'feederd answers again' });
        }
      } catch (err) {
        if (!failing) {
          failing = true;
          store.dispatch({ type: 'notice', text: (err as Error).message, tone: 'error' });
        }
      }
      await sleep(o.everyMs ?? 1000, ac.signal);
    }
  } finally {
    await session.close();
  }
  return 0;
}
