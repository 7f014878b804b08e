// What a task runner (a kind's run, see tasks/registry.ts) gets from the worker loop,
// and what it gives back. The loop owns the lease, the status events and the scratch dir.
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import type { ProbeInfo } from '../ffmpeg/types.js';
import type { Progress, TaskPhase } from '../jobs/types.js';
import type { ReceivedTask } from '../messages.js';
import type { CommittedSet, Storage, StoreResult } from '../ports/storage.js';

export interface TaskContext {
  task: ReceivedTask;
  storage: Storage;
  ffmpeg: FfmpegInstall;
  /** The delivery's private scratch directory (removed by the loop). */
  scratch: string;
  /** Names this delivery in temp names. */
  tag: string;
  /** Aborts when the task must stop (canceled, lease lost, hard stop). */
  signal: AbortSignal;
  onProgress: (p: Progress) => void;
  phase: (p: TaskPhase) => Promise<void>;
  /** Throws CANCELED when the attempt is no longer current: call right before committing. */
  beforeCommit: () => Promise<void>;
  onRepair?: (piece: string, why: string) => void;
  /** Probes of a source by path, shared by the tasks of one local run (one process, one source):
   * each task would otherwise probe the same file again. Absent on a worker. */
  sourceProbes?: Map<string, Promise<ProbeInfo>>;
}

/** What a runner gives back; `result` is its kind's (tasks/results.ts), sent in its `succeeded` event. */
export interface TaskRun<R = Record<string, unknown>> {
  outputs: StoreResult[];
  /**
   * Outputs committed with the way back kept: the loop finishes them once the task's end is
   * reported, or undoes them when it cannot be (the task is then delivered again).
   */
  committed?: Pick<CommittedSet, 'undo' | 'finish'>;
  result?: R;
  /** Run after the task's success is reported (removes intermediates). */
  cleanup?: () => Promise<void>;
}

/** A context for running one task outside the worker loop (benchmarks, tests): no lease, no events. */
export function standaloneContext(
  c: Pick<TaskContext, 'task' | 'storage' | 'ffmpeg' | 'scratch'> & Partial<TaskContext>,
): TaskContext {
  return {
    tag: c.task.taskId,
    signal: new AbortController().signal,
    onProgress: () => {},
    phase: async () => {},
    beforeCommit: async () => {},
    ...c,
  };
}

/** The task's input, fetched when first needed (a piece that is only an entry never needs it). */
export function lazyInput(ctx: Pick<TaskContext, 'task' | 'storage' | 'scratch' | 'signal'>): () => Promise<string> {
  let fetched: Promise<string> | undefined;
  return () => (fetched ??= ctx.storage.fetch(ctx.task.input, ctx.scratch, { signal: ctx.signal }));
}
