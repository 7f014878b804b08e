// Runs the Ink view on a terminal: renders JobsView from the store, at most every `minFrameMs`
// (updates in between are coalesced into one redraw) plus a slow tick so elapsed times move,
// and turns key presses into actions. Imported only when a view is shown on a TTY, so commands
// that never show it never load React or Ink.
import type { ReactNode } from 'react';
import { render, useInput, useStdin, type Key } from 'ink';
import { JobsView } from './jobs-view.js';
import { keyAction, type Action } from './model.js';
import type { ViewStore } from './store.js';

export interface InkViewOptions {
  /** Gets each key action; it dispatches it and runs its effect (cancel request, quit). */
  onAction: (a: Action) => void;
  stdout?: NodeJS.WriteStream;
  stdin?: NodeJS.ReadStream;
  /** Least time between two redraws (default 200 ms: at most 5 per second). */
  minFrameMs?: number;
  /** Redraw this often while a job runs, so elapsed time moves (default 1000 ms). */
  tickMs?: number;
  now?: () => number;
  /** Ink's debug mode: every frame written whole (tests read frames off a fake stream). */
  debug?: boolean;
}

export interface InkView {
  close(): Promise<void>;
}

function Keys({ onKey, children }: { onKey: (input: string, key: Key) => void; children: ReactNode }) {
  const { isRawModeSupported } = useStdin();
  useInput(onKey, { isActive: Boolean(isRawModeSupported) }); // stdin.isTTY may be undefined
  return <>{children}</>;
}

const KEY_ACTIONS = new Set<Action['type']>(['select', 'cancel-request', 'cancel-confirm', 'cancel-abort', 'quit']);

export function barWidthFor(columns: number | undefined): number {
  const c = columns ?? 80;
  return c >= 120 ? 20 : c >= 100 ? 14 : 10;
}

export function startInkView(store: ViewStore, o: InkViewOptions): InkView {
  const now = o.now ?? Date.now;
  const stdout = o.stdout ?? process.stdout;
  const minFrameMs = o.minFrameMs ?? 200;
  const onKey = (input: string, key: Key) => {
    const a = keyAction(store.get(), input, key);
    if (a) o.onAction(a);
  };
  const tree = () => (
    <Keys onKey={onKey}>
      <JobsView
        state={store.get()}
        now={now()}
        barWidth={barWidthFor(stdout.columns)}
        height={stdout.rows || undefined}
      />
    </Keys>
  );
  const instance = render(tree(), {
    stdout,
    stdin: o.stdin ?? process.stdin,
    exitOnCtrlC: false,
    patchConsole: false,
    maxFps: 10,
    debug: o.debug ?? false,
  });
  let last = now();
  let timer: NodeJS.Timeout | undefined;
  const draw = () => {
    if (timer) {
      clearTimeout(timer);
      timer = undefined;
    }
    last = now();
    instance.rerender(tree());
  };
  const unsubscribe = store.subscribe((_next, _prev, action) => {
    if (KEY_ACTIONS.has(action.type)) return draw(); // answer keys at once
    if (timer) return; // a redraw is already due: it will show this too
    timer = setTimeout(draw, Math.max(0, last + minFrameMs - now()));
  });
  const tick = setInterval(() => {
    const s = store.get();
    // Only when nothing else redrew lately: progress events (about one a second) move the clock too.
    if (!timer && now() - last >= (o.tickMs ?? 1000) - 50 && s.order.some((id) => s.rows[id]!.job.state === 'running'))
      draw();
  }, o.tickMs ?? 1000);
  tick.unref();
  return {
    async close() {
      unsubscribe();
      clearInterval(tick);
      draw();
      instance.unmount();
      await instance.waitUntilExit();
    },
  };
}
