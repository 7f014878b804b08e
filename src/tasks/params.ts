// Every task kind's name and params schema: what a task message carries, checked on receipt
// (messages.ts). Pure data (zod only), so the message schema, feederd's planner and cleanup, and
// the worker's registry (tasks/registry.ts) share it without importing any runner.
import * as z from 'zod';

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

/** An object in storage, named by its URI and pinned by its SHA-256 (hex): what a message carries
 * instead of anything that grows with the title. */
export const storedRef = z.object({
  uri: z.string().min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
});
export type StoredRef = z.infer<typeof storedRef>;

/** A chunked job's video chunks, in order (600 for a 10-hour title at 60 s chunks): they travel
 * in storage, named by AssembleParams.chunks. */
export const chunkList = z.object({ manifest: z.array(videoChunkParams).min(1) });
export type ChunkList = z.infer<typeof chunkList>;

export const assembleParams = z.object({
  /** Every video chunk, in order (a ChunkList under the job's scratch prefix): what must be
   * there, and how to re-encode one that is not. */
  chunks: storedRef,
  audio: audioChunkParams.nullable(),
  videoOffset: z.number().nonnegative(),
  totalFrames: z.number().int().positive(),
  /** The scratch prefix, removed after a successful assembly. */
  scratch: z.string().min(1),
});
export type AssembleParams = z.infer<typeof assembleParams>;

/** What a join of video chunks reads: an assemble task's params with its chunk list in hand (a
 * package's chunked rung is joined the same way). */
export type JoinParams = Omit<AssembleParams, 'chunks'> & ChunkList;

export const renditionParams = z.object({
  kind: z.literal('rendition'),
  rung: z.number().int().positive(),
  /** Where the encoded rendition goes (scratch); its manifest entry goes to `<uri>.json`. */
  uri: z.string().min(1),
});
export type RenditionParams = z.infer<typeof renditionParams>;

/** One chunk of one rung (inputs over the chunking threshold): a chunked job's video chunk,
 * encoded with the rung's preset; its frames start on a segment boundary. */
export const renditionChunkParams = videoChunkParams.omit({ kind: true }).extend({
  kind: z.literal('rendition-chunk'),
  rung: z.number().int().positive(),
});
export type RenditionChunkParams = z.infer<typeof renditionChunkParams>;

export const abrAudioParams = z.object({
  kind: z.literal('abr-audio'),
  uri: z.string().min(1),
});
export type AbrAudioParams = z.infer<typeof abrAudioParams>;

export const extrasParams = z.object({
  kind: z.literal('extras'),
  /** The extras' index (a JSON list of the files stored beside it, under `<uri>.d/`). */
  uri: z.string().min(1),
});
export type ExtrasParams = z.infer<typeof extrasParams>;

/** A package's rendition pieces, smallest rung first: a chunked package has one per chunk per
 * rung (3000 for a 10-hour title of 6 rungs), so they travel in storage (PackageParams.pieces). */
export const packagePieces = z.object({
  renditions: z.array(z.union([renditionParams, renditionChunkParams])).min(1),
});
export type PackagePieces = z.infer<typeof packagePieces>;

export const packageParams = z.object({
  kind: z.literal('package'),
  /** The package's rendition pieces (packagePieces), under the job's scratch prefix. */
  pieces: storedRef,
  audio: abrAudioParams,
  extras: extrasParams,
  scratch: z.string().min(1),
  /** Chunked renditions: the source's first-frame offset and frame count (see chunked/plan.ts). */
  videoOffset: z.number().nonnegative().optional(),
  totalFrames: z.number().int().positive().optional(),
});
export type PackageParams = z.infer<typeof packageParams>;

/** A chunked job's scene detection (tasks/scenes.ts), on the worker that reads the input: its cuts
 * and the chunk plan made at them, stored as one record at `uri` (it grows with the title). */
export const scenesParams = z.object({
  kind: z.literal('scenes'),
  uri: z.string().min(1),
  /** scdet score above which a frame starts a new shot (0-100). */
  threshold: z.number().nonnegative().max(100),
  /** The planner's lengths (seconds) and the fleet's slots, as feederd's config had them. */
  chunkSeconds: z.number().positive(),
  minChunkSeconds: z.number().positive(),
  maxChunkSeconds: z.number().positive(),
  workers: z.number().int().positive(),
  /** Frames of the keyframe plan the job was created with: a plan of another count is refused.
   * Absent for a remote input, which feederd cannot read: the worker's listing is the first. */
  totalFrames: z.number().int().positive().optional(),
  /** A remote input shorter than this (seconds) is one chunk: the job followed config's
   * chunking.thresholdSeconds, which only the worker can hold the input's length against. */
  oneChunkUnder: z.number().nonnegative().optional(),
});
export type ScenesParams = z.infer<typeof scenesParams>;

/** An encode task has no params of its own (its input and outputs are the message's). */
export const encodeParams = z.object({});

/** Each kind's params, by the kind's name (the task message's `type`). */
export const TASK_PARAMS = {
  encode: encodeParams,
  /** A chunked job's video chunk. */
  chunk: videoChunkParams,
  /** A chunked job's audio, encoded whole once. */
  audio: audioChunkParams,
  /** A chunked job's join: chunks checked, joined, audio muxed. */
  assemble: assembleParams,
  /** A package's rung, encoded whole. */
  rendition: renditionParams,
  /** One chunk of a package's rung. */
  'rendition-chunk': renditionChunkParams,
  /** A package's audio. */
  'package-audio': abrAudioParams,
  /** A package's poster, thumbnails and subtitles. */
  extras: extrasParams,
  /** A package's packaging: pieces checked, muxed into CMAF with DASH and HLS manifests, committed. */
  package: packageParams,
  /** A chunked job's scene detection and the chunk plan at its cuts. */
  scenes: scenesParams,
} as const;

export type TaskKindName = keyof typeof TASK_PARAMS;
export const TASK_KINDS = [
  'encode',
  'chunk',
  'audio',
  'assemble',
  'rendition',
  'rendition-chunk',
  'package-audio',
  'extras',
  'package',
  'scenes',
] as const satisfies readonly TaskKindName[];
export type ParamsOf<K extends TaskKindName> = z.infer<(typeof TASK_PARAMS)[K]>;

/** Kinds whose task leaves a piece (and its entry) in the job's scratch prefix for a later task. */
export const PIECE_KINDS: ReadonlySet<TaskKindName> = new Set([
  'chunk',
  'audio',
  'rendition',
  'rendition-chunk',
  'package-audio',
  'extras',
]);
/** Kinds that join a job's pieces into its output (the job's scratch prefix is in their params). */
export const JOIN_KINDS: ReadonlySet<TaskKindName> = new Set(['assemble', 'package']);
