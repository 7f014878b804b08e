// Shared job vocabulary: states, phases, progress. Used by the orchestrator, the worker, the
// client and the TUI; no I/O here.

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'canceled']);

export const PHASES = ['downloading', 'encoding', 'uploading'] as const;
export type Phase = (typeof PHASES)[number];

/** Progress of one encode, as parsed from ffmpeg's -progress output. */
export interface Progress {
  /** 0..1 of the whole task (all passes, all outputs). */
  fraction: number;
  /** Frames per second being encoded right now. */
  fps?: number;
  /** Encode speed relative to real time (2.4 = 2.4x). */
  speed?: number;
  /** Estimated seconds left; undefined until it can be estimated. */
  etaSeconds?: number;
  /** Position in the input, seconds. */
  outTimeSeconds?: number;
}
