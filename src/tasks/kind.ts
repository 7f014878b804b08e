// What a task kind declares, in one place (see tasks/registry.ts for the table): its params
// schema (tasks/params.ts, checked on receipt), its result schema (tasks/results.ts) and the scratch it leaves under its job's prefix,
// which feederd removes when the job fails or is canceled. Its runner is the worker's (worker/runners.ts, one per kind, typed by the
// same params): after Temporal, whose worker registers activities by name and whose callers are
// typed by the interface alone, so feederd plans and cleans up without loading any encoder.
import type * as z from 'zod';
import type { Storage } from '../ports/storage.js';
import type { ParamsOf, TaskKindName } from './params.js';
import type { PlannedObject } from './planned.js';
import type { TASK_RESULTS } from './results.js';

/** A task as the store keeps it: its kind and params (checked against the kind's schema where used). */
export interface PlannedKind {
  type: TaskKindName;
  params?: Record<string, unknown> | null;
}

export interface TaskKind<K extends TaskKindName> {
  name: K;
  /** What the task does (for errors and docs). */
  summary: string;
  /** Its params (TASK_PARAMS[name], which the message schema checks on receipt). */
  params: z.ZodType<ParamsOf<K>>;
  /** Its result (TASK_RESULTS[name]): what its `succeeded` event carries; its runner is typed by it. */
  result: (typeof TASK_RESULTS)[K];
  /**
   * The objects this task leaves in its job's scratch prefix (its piece; its entry beside it is
   * implied, see src/pieces.ts). None for tasks that write the job's outputs.
   */
  scratchUris(params: ParamsOf<K>): string[];
  /** Scratch that only the stored objects can tell (an extras entry lists its files). */
  removeMore?(storage: Storage, params: ParamsOf<K>): Promise<void>;
  /** The job's scratch prefix, for a kind that joins a job's pieces (its local directory is removed whole). */
  scratchPrefix?(params: ParamsOf<K>): string;
  /**
   * The list its params name by reference (a chunk list, a package's piece list), made again from
   * its job's other tasks: it went with the scratch a failed job's cleanup swept, and a retry
   * needs it back. Null when the job's tasks do not make the same list (its SHA-256 differs).
   */
  restoreList?(params: ParamsOf<K>, tasks: readonly PlannedKind[]): PlannedObject | null;
}
