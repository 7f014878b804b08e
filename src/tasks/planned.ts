// A job's plan as the planner hands it to the store: its tasks (kind, params, dependencies,
// weight) and the objects they read by reference. Shared by every graph (chunked/tasks.ts,
// abr/tasks.ts) and by feederd's planner (tasks/planner.ts); no I/O.
import type * as z from 'zod';
import { sha256Text } from '../hash.js';
import type { StoredRef, TaskKindName, VideoChunkParams } from './params.js';

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

/**
 * A list a task reads by reference: the object to store at `uri` and the reference its params
 * carry. Written through its schema, so the text (and its SHA-256) depends on the values only, not
 * on key order: made again from the job's tasks (before a retry), it is the same to the byte.
 */
export function pinnedObject<S extends z.ZodType>(
  uri: string,
  schema: S,
  value: z.input<S>,
): { ref: StoredRef; object: PlannedObject } {
  const text = `${JSON.stringify(schema.parse(value))}\n`;
  return { ref: { uri, sha256: sha256Text(text) }, object: { uri, text } };
}

export function chunkKey(index: number): string {
  return `chunk-${String(index).padStart(3, '0')}`;
}
