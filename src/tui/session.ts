// One showing of the view, whichever kind the output mode asks for: opens it over a store,
// routes key actions to their effects (cancel a job, quit), treats SIGINT/SIGTERM like `q`, and
// closes it leaving the last frame on screen.
import type { ApiClient } from '../client/api-client.js';
import { JsonLinesReporter } from './jsonl.js';
import type { Action } from './model.js';
import type { OutputMode } from './output-mode.js';
import { PlainReporter, type LineSink } from './plain.js';
import type { ViewStore } from './store.js';

export interface SessionOptions {
  mode: OutputMode;
  store: ViewStore;
  /** Cancel this job (after the user confirmed). Errors are shown as a notice. */
  cancel: (id: string) => Promise<void>;
  /** The user quit (q, Ctrl-C, SIGINT/SIGTERM): stop following. */
  onQuit: () => void;
  /** Where the view draws (the Ink view needs a real terminal stream). */
  stdout?: LineSink;
  stderr?: LineSink;
  /** Plain mode: least time between two progress lines of a job (default 5 s). */
  plainIntervalMs?: number;
}

export interface Session {
  /** Dispatch an action and run its effect (what a key press does). */
  act(a: Action): void;
  close(): Promise<void>;
}

export async function openSession(o: SessionOptions): Promise<Session> {
  const { store } = o;
  const act = (a: Action) => {
    const confirming = store.get().confirm;
    store.dispatch(a);
    if (a.type === 'cancel-confirm' && confirming) {
      o.cancel(confirming).catch((err: Error) =>
        store.dispatch({ type: 'cancel-failed', id: confirming, message: err.message }),
      );
    }
    if (a.type === 'quit') o.onQuit();
  };
  const onSignal = () => act({ type: 'quit' });
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let closeView: () => Promise<void> | void = () => undefined;
  const stdout = o.stdout ?? process.stdout;
  const stderr = o.stderr ?? process.stderr;
  if (o.mode === 'tui') {
    // React's development build costs several times the CPU per redraw and is for React's own
    // warnings; a user's terminal gets the production build (read when React first loads).
    process.env.NODE_ENV ??= 'production';
    const { startInkView } = await import('./ink-view.js');
    const view = startInkView(store, { onAction: act, stdout: stdout as NodeJS.WriteStream });
    closeView = () => view.close();
  } else if (o.mode === 'plain' || o.mode === 'json') {
    const r = o.mode === 'plain' ? new PlainReporter(stderr, o.plainIntervalMs) : new JsonLinesReporter(stdout);
    r.show(store.get(), { type: 'jobs', jobs: store.get().order.map((id) => store.get().rows[id]!.job) });
    closeView = store.subscribe(r.listener);
  }
  let closed = false;
  return {
    act,
    async close() {
      if (closed) return;
      closed = true;
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
      await closeView();
    },
  };
}

/** A session over feederd's jobs: `c` cancels through the API, quitting aborts `quit`. */
export function openApiSession(
  o: Omit<SessionOptions, 'cancel' | 'onQuit'> & { client: ApiClient; quit: AbortController },
): Promise<Session> {
  const { client, quit, ...rest } = o;
  return openSession({
    ...rest,
    cancel: async (id) => {
      await client.cancelJob(id);
    },
    onQuit: () => quit.abort(),
  });
}
