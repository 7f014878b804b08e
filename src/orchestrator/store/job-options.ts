// A job's options column: what the orchestrator decided at creation besides input and outputs
// (overwrite, staged deliveries on aws, the chunking decision). Parsed once, where rows are read
// (rows.ts), so no caller reads it through a cast; an unknown key from a newer nommer is kept.
import * as z from 'zod';

export const delivery = z.object({ from: z.string(), to: z.string() });
export type Delivery = z.infer<typeof delivery>;

/** One chunk of the plan, as `status` shows it: where it starts (seconds, source timeline), its
 * frames, and whether it starts on a detected scene cut. */
export const plannedChunk = z.object({
  start: z.number(),
  frames: z.number().int().positive(),
  sceneCut: z.boolean(),
});
export type PlannedChunk = z.infer<typeof plannedChunk>;

/** What scene detection found (the cuts themselves are in the plan's sceneCut marks). */
export const sceneSummary = z.object({
  cuts: z.number().int().nonnegative(),
  threshold: z.number(),
  seconds: z.number().nonnegative(),
});

export const chunkingDecision = z.union([
  z.object({
    chunked: z.literal(true),
    chunks: z.number().int().positive(),
    scratch: z.string(),
    frames: z.number().int().nonnegative(),
    timeline: z.enum(['packets', 'frames']),
    plan: z.array(plannedChunk).optional(),
    /** Absent: the chunks were cut at keyframes only (scene detection off or failed: see reason).
     * Pending: a worker detects them first, and the plan at them replaces this one. */
    scenes: z.union([sceneSummary, z.object({ skipped: z.string() }), z.object({ pending: z.string() })]).optional(),
  }),
  z.object({ chunked: z.literal(false), reason: z.string() }),
  /** An adaptive-streaming package: a task per rung, audio, extras, then packaging (src/abr/tasks.ts). */
  z.object({
    chunked: z.literal(true),
    package: z.literal(true),
    rungs: z.number().int().positive(),
    scratch: z.string(),
    /** Chunks per rung, when the rungs are chunked. */
    chunks: z.number().int().positive().optional(),
  }),
]);
export type ChunkingDecision = z.infer<typeof chunkingDecision>;

export const jobOptions = z.looseObject({
  /** Overwrite existing outputs. */
  force: z.boolean().default(false),
  /** aws: local outputs to bring back from the staging prefix once the job succeeds. */
  deliver: z.array(delivery).optional(),
  /** aws: staged objects to remove once delivered (the uploaded input). */
  cleanup: z.array(z.string()).optional(),
  /** aws: the input as the user gave it, before staging. */
  source: z.string().optional(),
  chunking: chunkingDecision.optional(),
  /** What a worker slot cost when the job was made ($/hour), and where that price came from. */
  pricing: z.object({ usdPerSlotHour: z.number().nonnegative(), basis: z.string() }).optional(),
  /** The most the job may cost ($); past it the job is stopped (budget-watch.ts). */
  maxCostUsd: z.number().positive().optional(),
  /** The input as probed at submission (length, video height): the estimate's history. */
  media: z.object({ seconds: z.number().nonnegative(), height: z.number().int().nullable() }).optional(),
  /** What the job was expected to take and cost when it was made. */
  estimate: z
    .object({ seconds: z.number(), workerSeconds: z.number(), usd: z.number().nullable(), basis: z.string() })
    .optional(),
});
export type JobOptions = z.infer<typeof jobOptions>;
export type JobOptionsInput = z.input<typeof jobOptions>;

/** The stored JSON as options; a row written by an older nommer with fewer keys parses too. */
export function parseJobOptions(json: string): JobOptions {
  const r = jobOptions.safeParse(JSON.parse(json));
  // A column nommer wrote but cannot read back is a bug, not user input: keep what is certain.
  return r.success ? r.data : { force: false };
}
