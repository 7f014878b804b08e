// `scenes`: a chunked job's scene detection, run first, on the worker that reads the input (an S3
// input is where the fleet is; chunked/scene-task.ts). It stores one record under the job's
// scratch prefix: the cut frames with their scores and the chunk plan at them (both grow with the
// title), and its result names the record by URI and SHA-256. feederd then replaces the job's
// keyframe chunks with that plan (orchestrator/scene-replan.ts); a detection that failed leaves
// them, and the job's options say why.
import * as z from 'zod';
import { sceneRecord } from '../chunked/scenes.js';
import type { TaskKind } from './kind.js';
import { TASK_PARAMS, videoChunkParams } from './params.js';
import { TASK_RESULTS } from './results.js';

/** One chunk of the plan made at the cuts: its range (as a video chunk's params) and where it starts. */
export const scenePlannedChunk = videoChunkParams
  .omit({ kind: true, uri: true })
  .extend({ startTime: z.number(), sceneCut: z.boolean() });

/** What the task stores: the cuts, and the plan cut at them (chunked/plan.ts planChunks). */
export const scenePlanRecord = z.object({
  /** Absent when no cut was looked for or found: `skipped` says why (the plan is at keyframes). */
  scenes: sceneRecord.optional(),
  skipped: z.string().optional(),
  /** What the worker found reading the input (a remote input's job was planned without it). */
  hasAudio: z.boolean().optional(),
  timeline: z.enum(['packets', 'frames']).optional(),
  plan: z.object({
    chunks: z.array(scenePlannedChunk).min(1),
    totalFrames: z.number().int().positive(),
    videoOffset: z.number().nonnegative(),
  }),
});
export type ScenePlanRecord = z.infer<typeof scenePlanRecord>;

/** The task's result: the record by reference with its counts, or why detection failed (the
 * keyframe plan stands). Small whatever the title's length. */
export const scenesResult = TASK_RESULTS.scenes;
export type ScenesResult = z.infer<typeof scenesResult>;

/** Where a chunked job's scene record goes: in its scratch prefix, removed with its pieces. */
export function sceneRecordUri(scratch: string): string {
  return `${scratch}scenes.json`;
}

/** The key of a chunked job's scene task (its id is `<job>.scenes`). */
export const SCENES_KEY = 'scenes';

export const scenes: TaskKind<'scenes'> = {
  name: 'scenes',
  summary: "detect a chunked job's scene cuts and plan its chunks at them",
  params: TASK_PARAMS.scenes,
  result: TASK_RESULTS.scenes,
  scratchUris: (p) => [p.uri],
};
