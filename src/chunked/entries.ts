// The records a chunked job's piece tasks leave beside their pieces (see src/pieces.ts): one
// schema each, used by the writer for its type and by the reader to parse (the assembler, and a
// package's join of its chunked rungs). Zod only, so the task kinds' result schemas
// (tasks/results.ts) take them without the encoders.
import * as z from 'zod';
import { outputLoudnessSchema, outputQualitySchema, type OutputQuality } from '../jobs/outputs.js';

/** What a chunk task measured, as the assembler reads it back: it checks the chunk it fetches
 * against it (its checksum, its frames) and takes the chunk's CRF search from it. `bytes` is
 * informational (not checked). */
export const videoChunkEntry = z.object({
  index: z.number().int().nonnegative(),
  frames: z.number().int().positive(),
  bytes: z.number().int().nonnegative().optional(),
  sha256: z.string(),
  /** Frames its worker decoded from it without an error (check-chunk.ts). */
  decoded: z.number().int().nonnegative().optional(),
  decodedFromStart: z.boolean().optional(),
  /** Its duration and stream parameters as its worker saw them (check-chunk.ts ChunkFacts), so
   * the assembler need not probe the file again. */
  facts: z.object({ duration: z.number().nonnegative(), params: z.string().max(2000) }).optional(),
  quality: outputQualitySchema.optional(),
});

/** A chunked job's audio piece, as its task stores it. */
export const audioPieceEntry = z.object({
  kind: z.literal('audio'),
  bytes: z.number().int().nonnegative(),
  sha256: z.string(),
  /** With a loudness target: the fit's record as measured on the piece (the assembler measures the output again). */
  loudness: outputLoudnessSchema.optional(),
});
export type AudioPieceEntry = z.infer<typeof audioPieceEntry>;

/** What a chunk task measured, as it writes it (videoChunkEntry reads it). */
export type ChunkManifestEntry = {
  index: number;
  frames: number;
  bytes: number;
  sha256: string;
  /** Frames the encoding worker decoded from it without an error (the checksum ties it to the bytes). */
  decoded?: number;
  /** True when the seek was not trusted and the chunk was decoded from the input's start. */
  decodedFromStart?: boolean;
  /** Its container duration (seconds) and stream parameters, as its worker's ffprobe saw them. */
  facts?: { duration: number; params: string };
  /** The chunk's scores against its frames of the source, and its CRF search under a target. */
  quality?: OutputQuality;
};
