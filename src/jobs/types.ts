// Shared job vocabulary: states, phases, progress. Used by the orchestrator, the worker, the
// client and the TUI; no I/O here.

export const JOB_STATES = ['queued', 'running', 'succeeded', 'failed', 'canceled'] as const;
export type JobState = (typeof JOB_STATES)[number];
export const FINAL_STATES: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'canceled']);

/** What a worker reports of a task. */
export const TASK_PHASES = ['downloading', 'encoding', 'uploading'] as const;
export type TaskPhase = (typeof TASK_PHASES)[number];
/** A job's, plus `delivering` (aws): its tasks are done and feederd brings staged outputs to their local paths. */
export const PHASES = [...TASK_PHASES, 'delivering'] as const;
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
