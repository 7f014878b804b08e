// The task graph of a chunked job and the parameters each task carries (validated where a
// worker receives them): `chunk-NNN` tasks encode video chunks, `audio` encodes the whole audio
// once, `assemble` (after all of them) checks every chunk against the manifest, joins them and
// muxes the audio. Intermediates live under a scratch prefix (a directory, or an S3 prefix).
import * as z from 'zod';
import {
  chunkKey,
  chunkRange,
  pinnedObject,
  type PlannedChunks,
  type PlannedObject,
  type PlannedTask,
} from '../tasks/planned.js';
import {
  audioChunkParams,
  chunkList,
  videoChunkParams,
  type AssembleParams,
  type ChunkList,
  type StoredRef,
  type AudioChunkParams,
  type VideoChunkParams,
} from '../tasks/params.js';
import { entryUri } from '../pieces.js';

export {
  assembleParams,
  audioChunkParams,
  chunkList,
  type ChunkList,
  type JoinParams,
  videoChunkParams,
  type AssembleParams,
  type AudioChunkParams,
  type VideoChunkParams,
} from '../tasks/params.js';

/** A chunked job's pieces (a package's pieces too: abr/tasks.ts pieceParams). */
export const chunkParams = z.discriminatedUnion('kind', [videoChunkParams, audioChunkParams]);
export type ChunkParams = z.infer<typeof chunkParams>;

/** Sidecar with what the chunk task measured (frames, checksum): the assembler checks it. */
export const manifestUri = entryUri;

/**
 * Tasks for a plan. `scratch` ends with '/' (a directory path or an s3:// prefix). Weights: the
 * video chunks share 90% of the job's progress by frame count; audio and assembly 5% each.
 */
export function chunkedTasks(
  plan: PlannedChunks,
  opts: { scratch: string; audio: boolean; extension?: string },
): PlannedTask[] {
  const ext = opts.extension ?? 'webm';
  const video: VideoChunkParams[] = plan.chunks.map((c) => ({
    kind: 'video',
    ...chunkRange(c),
    uri: `${opts.scratch}${chunkKey(c.index)}.${ext}`,
  }));
  const audio: AudioChunkParams | null = opts.audio ? { kind: 'audio', uri: `${opts.scratch}audio.${ext}` } : null;
  const tasks: PlannedTask[] = video.map((p) => ({
    key: chunkKey(p.index),
    type: 'chunk',
    params: p,
    weight: round4((0.9 * p.frames) / plan.totalFrames) || 0.0001,
  }));
  if (audio) tasks.push({ key: 'audio', type: 'audio', params: audio, weight: 0.05 });
  const list = chunkListObject(opts.scratch, video);
  const assemble: AssembleParams = {
    chunks: list.ref,
    audio,
    videoOffset: plan.videoOffset,
    totalFrames: plan.totalFrames,
    scratch: opts.scratch,
  };
  tasks.push({
    key: 'assemble',
    type: 'assemble',
    deps: tasks.map((t) => t.key),
    params: assemble,
    weight: 0.05,
    objects: [list.object],
  });
  return tasks;
}

/** The job's chunk list as an object to store under its scratch prefix, and its reference. */
export function chunkListObject(
  scratch: string,
  manifest: ChunkList['manifest'],
): { ref: StoredRef; object: PlannedObject } {
  return pinnedObject(`${scratch}chunk-list.json`, chunkList, { manifest });
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
