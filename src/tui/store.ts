// A tiny store around the reducer: the one place the current view state lives while a command
// follows jobs. Views subscribe; sources (SSE, polling, encode progress, keys) dispatch.
import { reduce, type Action, type ViewState } from './model.js';

export type Listener = (next: ViewState, prev: ViewState, action: Action) => void;

export class ViewStore {
  private readonly listeners = new Set<Listener>();
  constructor(private state: ViewState) {}

  get(): ViewState {
    return this.state;
  }

  dispatch(action: Action): void {
    const prev = this.state;
    const next = reduce(prev, action);
    if (next === prev) return;
    this.state = next;
    for (const l of this.listeners) l(next, prev, action);
  }

  subscribe(l: Listener): () => void {
    this.listeners.add(l);
    return () => {
      this.listeners.delete(l);
    };
  }
}
