// `nommer submit`'s view: follows the jobs it queued through their event streams until every one
// is final (or the user quits; the jobs keep running), polling the queue/fleet summary for the
// footer, then says how it went in the mode's own way. Returns the exit code.
import type { ApiClient } from '../client/api-client.js';
import { followJobs } from '../client/follow.js';
import type { PublicJob } from '../api/contract.js';
import { outputText, plainStateLine } from './format.js';
import { exitCodeOf, initialState, jobsOf, type ViewState } from './model.js';
import type { OutputMode } from './output-mode.js';
import type { LineSink } from './plain.js';
import { openApiSession } from './session.js';
import { ViewStore } from './store.js';

export interface FollowViewOptions {
  client: ApiClient;
  jobs: PublicJob[];
  mode: OutputMode;
  summaryEveryMs?: number;
  stdout?: LineSink;
  stderr?: LineSink;
}

/** Polls GET /v1/summary into the store until the signal aborts (errors leave the last one shown). */
export function pollSummary(client: ApiClient, store: ViewStore, everyMs: number, signal: AbortSignal): () => void {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  const once = async () => {
    try {
      const s = await client.summary();
      if (!stopped) store.dispatch({ type: 'summary', summary: { queue: s.queue, fleet: s.fleet } });
    } catch {
      /* feederd busy or gone: the event streams say what matters */
    }
    if (!stopped && !signal.aborted) timer = setTimeout(once, everyMs);
  };
  void once();
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}

export async function followJobsView(o: FollowViewOptions): Promise<number> {
  const store = new ViewStore(initialState('submit'));
  for (const j of o.jobs) store.dispatch({ type: 'job', job: j });
  const ac = new AbortController();
  const session = await openApiSession({
    mode: o.mode,
    store,
    stdout: o.stdout,
    stderr: o.stderr,
    client: o.client,
    quit: ac,
  });
  const stopSummary =
    o.mode === 'tui' ? pollSummary(o.client, store, o.summaryEveryMs ?? 2000, ac.signal) : () => undefined;
  try {
    const finals = await followJobs(
      o.client,
      o.jobs.map((j) => j.id),
      (u) => store.dispatch({ type: 'job', job: u.job, event: u.event }),
      ac.signal,
    );
    for (const j of finals.values()) store.dispatch({ type: 'job', job: j });
    if (!ac.signal.aborted) store.dispatch({ type: 'done' });
  } finally {
    stopSummary();
    await session.close();
  }
  printResults(o.mode, store.get(), o.stdout ?? process.stdout, o.stderr ?? process.stderr);
  return exitCodeOf(store.get());
}

/**
 * What is left to say once the view closed. The Ink view's last frame already shows it all;
 * JSON ends with {"jobs": […]}; plain and quiet print each output on stdout (for scripts) and
 * what did not succeed on stderr.
 */
function printResults(mode: OutputMode, s: ViewState, stdout: LineSink, stderr: LineSink): void {
  if (mode === 'tui') return;
  if (mode === 'json') {
    stdout.write(`${JSON.stringify({ jobs: jobsOf(s) })}\n`);
    return;
  }
  if (s.ended === 'quit') {
    stderr.write('stopped following; the jobs keep running (see `nommer status`)\n');
    return;
  }
  for (const j of jobsOf(s)) {
    if (j.state === 'succeeded') for (const o of j.outputs) stdout.write(`${outputText(o)}\n`);
    else if (mode === 'quiet') stderr.write(`${plainStateLine(j)}\n`);
  }
}
