// Each task kind's result: what its `succeeded` event carries in `result`. A runner is typed by
// its kind's result (worker/runners.ts), so what a worker sends and what these schemas say
// cannot drift apart; whoever reads a result parses the part it needs (the job's qualities,
// loudness and package in jobs/outputs.ts, its media in cost/output-media.ts) with the same
// schemas. Bounded: nothing in a result grows with the title (test/message-size.test.ts).
import * as z from 'zod';
import { extrasEntrySummary, packageAudioEntry, renditionEntry } from '../abr/entries.js';
import { audioPieceEntry, videoChunkEntry } from '../chunked/entries.js';
import { outputMedia } from '../cost/output-media.js';
import { packageInfo, reportedLoudnessSchema, reportedQualitySchema } from '../jobs/outputs.js';
import { storedRef, type TaskKindName } from './params.js';

/** What a task that writes the job's outputs says of them besides their sizes. */
const outputsResult = {
  /** Each output's scores (and its CRF search under a target). */
  quality: reportedQualitySchema.optional(),
  /** Each output's loudness, input and output (measured on the output), under a loudness target. */
  loudness: reportedLoudnessSchema.optional(),
  /** Each output's length and height, for the cost per output minute. */
  media: z.array(outputMedia).optional(),
};

export const TASK_RESULTS = {
  encode: z.object(outputsResult),
  chunk: videoChunkEntry,
  audio: audioPieceEntry,
  assemble: z.object({
    frames: z.number().int().nonnegative(),
    /** Pieces the join re-encoded, and why. */
    repaired: z.array(z.object({ piece: z.string(), why: z.string() })),
    ...outputsResult,
  }),
  rendition: renditionEntry,
  'rendition-chunk': videoChunkEntry,
  'package-audio': packageAudioEntry,
  extras: extrasEntrySummary,
  package: z.object({
    package: packageInfo,
    /** The package's index (the list of its files) under its output URI: never the list itself. */
    packageIndex: storedRef,
    media: z.array(outputMedia),
    /** The package's loudness, measured on its audio playlist, under a loudness target. */
    loudness: reportedLoudnessSchema.optional(),
  }),
  /** The scene record by reference (its cuts and the plan at them grow with the title) with its
   * counts, or why detection failed (the job keeps its keyframe plan): tasks/scenes.ts. */
  scenes: z.union([
    z.object({
      record: storedRef,
      cuts: z.number().int().nonnegative(),
      chunks: z.number().int().positive(),
      seconds: z.number().nonnegative(),
      threshold: z.number(),
    }),
    z.object({ failed: z.string() }),
  ]),
} as const satisfies { [K in TaskKindName]: z.ZodType };

export type ResultOf<K extends TaskKindName> = z.input<(typeof TASK_RESULTS)[K]>;
