// The records a package's piece tasks leave beside their pieces (see src/pieces.ts), and the
// package's own index: one schema each, used by the writer for its type and by the reader to
// parse. An entry that fails its schema is an unusable piece: the packaging task makes it again.
import * as z from 'zod';
import { outputLoudnessSchema } from '../jobs/outputs.js';

/** A plain file name (entries and indexes are read back from storage: no paths, no dot files). */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const fileName = z.string().regex(SAFE_NAME);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);

/** A rung taller than the source: nothing encoded, and why. */
const skippedRendition = z.object({
  kind: z.literal('rendition'),
  rung: z.number().int().positive(),
  skipped: z.literal(true),
  why: z.string(),
});
const encodedRendition = z.object({
  kind: z.literal('rendition'),
  rung: z.number().int().positive(),
  skipped: z.undefined().optional(),
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  codec: z.string(),
  encoder: z.string(),
  crf: z.number().optional(),
  maxKbps: z.number().optional(),
  keyframeFrames: z.number().int().positive().optional(),
  duration: z.number().nonnegative(),
  bytes: z.number().int().nonnegative(),
  sha256,
});
export const renditionEntry = z.union([encodedRendition, skippedRendition]);
export type RenditionEntry = z.infer<typeof renditionEntry>;
export type EncodedRendition = z.infer<typeof encodedRendition>;

export const packageAudioEntry = z.union([
  z.object({
    kind: z.literal('abr-audio'),
    none: z.undefined().optional(),
    codec: z.string(),
    channels: z.number().int().positive(),
    kbps: z.number().positive(),
    bytes: z.number().int().nonnegative(),
    sha256,
    /** With a loudness target: the fit's record as measured on the piece (the package measures its own audio again). */
    loudness: outputLoudnessSchema.optional(),
  }),
  z.object({ kind: z.literal('abr-audio'), none: z.literal(true) }),
]);
export type PackageAudioEntry = z.infer<typeof packageAudioEntry>;

export const subtitleTrack = z.object({
  file: fileName,
  language: z.string(),
  label: z.string(),
  sourceIndex: z.number().int().nonnegative(),
});

export const extrasEntry = z.object({
  kind: z.literal('extras'),
  /** The files stored beside the index (under `<uri>.d/`), by name. */
  files: z.array(fileName),
  sha256: z.record(z.string(), sha256),
  subtitles: z.array(subtitleTrack),
  skippedSubtitles: z.array(z.object({ index: z.number(), codec: z.string(), why: z.string() })),
  poster: fileName.nullable(),
  thumbnails: z
    .object({
      vtt: fileName,
      sprites: z.array(fileName),
      tile: z.object({ width: z.number(), height: z.number() }),
      count: z.number(),
    })
    .nullable(),
});
export type ExtrasEntry = z.infer<typeof extrasEntry>;

/** What an extras task reports when it succeeds (its entry, with the file list, stays in storage). */
export const extrasEntrySummary = z.object({ kind: z.literal('extras'), files: z.number().int().nonnegative() });

/** The package index, beside the manifests: what the package holds (so a --force over it can
 * remove what it no longer has, and feederd can take a late package back file by file). */
export const packageIndex = z.object({
  madeBy: z.literal('nommer'),
  preset: z.string(),
  segmentSeconds: z.number().positive(),
  files: z.array(fileName),
});
export type PackageIndex = z.infer<typeof packageIndex>;
