// The task graph of a chunked job and the parameters each task carries (validated where a
// worker receives them): `chunk-NNN` tasks encode video chunks, `audio` encodes the whole audio
// once, `assemble` (after all of them) checks every chunk against the manifest, joins them and
// muxes the audio. Intermediates live under a scratch prefix (a directory, or an S3 prefix).
import { z } from 'zod';
import type { ChunkPlan } from './plan.js';

export const videoChunkParams = z.object({
  kind: z.literal('video'),
  index: z.number().int().nonnegative(),
  startFrame: z.number().int().nonnegative(),
  endFrame: z.number().int().positive(),
  frames: z.number().int().positive(),
  duration: z.number().positive(),
  selectStart: z.number(),
  selectEnd: z.number().nullable(),
  seek: z.number().nonnegative().nullable(),
  /** Where the encoded chunk goes (scratch); its manifest entry goes to `<uri>.json`. */
  uri: z.string().min(1),
});
export type VideoChunkParams = z.infer<typeof videoChunkParams>;

export const audioChunkParams = z.object({
  kind: z.literal('audio'),
  uri: z.string().min(1),
});
export type AudioChunkParams = z.infer<typeof audioChunkParams>;

/** A chunked job's pieces (a package's pieces too: abr/tasks.ts pieceParams). */
export const chunkParams = z.discriminatedUnion('kind', [videoChunkParams, audioChunkParams]);
export type ChunkParams = z.infer<typeof chunkParams>;

export const assembleParams = z.object({
  /** Every video chunk, in order: what must be there, and how to re-encode one that is not. */
  manifest: z.array(videoChunkParams).min(1),
  audio: audioChunkParams.nullable(),
  videoOffset: z.number().nonnegative(),
  totalFrames: z.number().int().positive(),
  /** The scratch prefix, removed after a successful assembly. */
  scratch: z.string().min(1),
});
export type AssembleParams = z.infer<typeof assembleParams>;

/** Shaped like the store's NewTask (kept here so the worker side never sees the store's types). */
export interface PlannedTask {
  key: string;
  type: 'chunk' | 'assemble';
  deps?: string[];
  params: Record<string, unknown>;
  weight: number;
}

/** Sidecar with what the chunk task measured (frames, checksum): the assembler checks it. */
export function manifestUri(chunkUri: string): string {
  return `${chunkUri}.json`;
}

export function chunkKey(index: number): string {
  return `chunk-${String(index).padStart(3, '0')}`;
}

/**
 * Tasks for a plan. `scratch` ends with '/' (a directory path or an s3:// prefix). Weights: the
 * video chunks share 90% of the job's progress by frame count; audio and assembly 5% each.
 */
export function chunkedTasks(
  plan: ChunkPlan,
  opts: { scratch: string; audio: boolean; extension?: string },
): PlannedTask[] {
  const ext = opts.extension ?? 'webm';
  const video: VideoChunkParams[] = plan.chunks.map((c) => ({
    kind: 'video',
    index: c.index,
    startFrame: c.startFrame,
    endFrame: c.endFrame,
    frames: c.frames,
    duration: c.duration,
    selectStart: c.selectStart,
    selectEnd: c.selectEnd,
    seek: c.seek,
    uri: `${opts.scratch}${chunkKey(c.index)}.${ext}`,
  }));
  const audio: AudioChunkParams | null = opts.audio ? { kind: 'audio', uri: `${opts.scratch}audio.${ext}` } : null;
  const tasks: PlannedTask[] = video.map((p) => ({
    key: chunkKey(p.index),
    type: 'chunk',
    params: p,
    weight: round4((0.9 * p.frames) / plan.totalFrames) || 0.0001,
  }));
  if (audio) tasks.push({ key: 'audio', type: 'chunk', params: audio, weight: 0.05 });
  const assemble: AssembleParams = {
    manifest: video,
    audio,
    videoOffset: plan.videoOffset,
    totalFrames: plan.totalFrames,
    scratch: opts.scratch,
  };
  tasks.push({ key: 'assemble', type: 'assemble', deps: tasks.map((t) => t.key), params: assemble, weight: 0.05 });
  return tasks;
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
