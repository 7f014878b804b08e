// A job row as the TUI sees it, for the view tests.
import type { JobView } from '../../src/tui/model.js';

export function job(id: string, patch: Partial<JobView> = {}): JobView {
  return {
    id,
    state: 'queued',
    phase: null,
    progress: 0,
    fps: null,
    speed: null,
    eta: null,
    attempt: 1,
    maxAttempts: 3,
    input: `/media/${id}.mov`,
    outputs: [{ preset: 'webm', uri: `/media/${id}.webm` }],
    worker: null,
    error: null,
    startedAt: null,
    finishedAt: null,
    ...patch,
  };
}
