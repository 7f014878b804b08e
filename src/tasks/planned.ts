// A job's plan as the planner hands it to the store: its tasks (kind, params, dependencies,
// weight) and the objects they read by reference. Shared by every graph (chunked/tasks.ts,
// abr/tasks.ts) and by feederd's planner (tasks/planner.ts); no I/O.
import type { TaskKindName, VideoChunkParams } from './params.js';

/** Shaped like the store's NewTask (kept here so the worker side never sees the store's types). */
export interface PlannedTask {
  key: string;
  /** The task's kind (tasks/params.ts): the message's `type`. */
  type: TaskKindName;
  deps?: string[];
  params: Record<string, unknown>;
  weight: number;
  /** Objects the task reads by reference (a list that grows with the title): stored under the
   * job's scratch prefix before the job is created (tasks/plan-objects.ts). */
  objects?: PlannedObject[];
}

export interface PlannedObject {
  uri: string;
  text: string;
}

/** A chunk's frames and how to select them (what a video chunk's params carry besides its URI). */
export type ChunkRange = Omit<VideoChunkParams, 'kind' | 'uri'>;

/** A chunk plan as the task graphs read it (chunked/plan.ts planChunks makes one). */
export interface PlannedChunks {
  chunks: readonly ChunkRange[];
  totalFrames: number;
  /** The source's first-frame offset, carried over by the join. */
  videoOffset: number;
}

/** A chunk's own fields of a plan's chunk (which may carry more). */
export function chunkRange(c: ChunkRange): ChunkRange {
  return {
    index: c.index,
    startFrame: c.startFrame,
    endFrame: c.endFrame,
    frames: c.frames,
    duration: c.duration,
    selectStart: c.selectStart,
    selectEnd: c.selectEnd,
    seek: c.seek,
  };
}

export function chunkKey(index: number): string {
  return `chunk-${String(index).padStart(3, '0')}`;
}
