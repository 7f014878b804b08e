// The parts of an output's quality record beyond its mean scores (jobs/outputs.ts): the scores
// pooled over the measured frames (quality/pool.ts computes them), the quality gates it was
// checked against (quality/gates.ts), and what it kept of an HDR source. Schemas of the job
// record, so the core reads them without importing the features that write them.
import * as z from 'zod';
import type { OutputHdr } from '../ffmpeg/types.js';

/** How per-frame scores pool into one figure: `ssim.p5` is the 5th percentile of the frames' SSIM. */
export const POOLS = ['mean', 'harmonic', 'p1', 'p5', 'min'] as const;
export type Pool = (typeof POOLS)[number];

const worstFrame = z.object({
  /** The frame's number in the output (0-based) and its time there (seconds). */
  frame: z.number().int().min(0),
  time: z.number(),
  score: z.number(),
});
/** One metric over the measured frames; `worst` are the lowest frames of its worst moments. */
const pooledScores = z.object({
  mean: z.number(),
  harmonic: z.number(),
  p1: z.number(),
  p5: z.number(),
  min: z.number(),
  worst: z.array(worstFrame),
});
export const pooledQualitySchema = z.object({
  /** How many frames were measured (see the record's `sampling`). */
  frames: z.number().int().min(1),
  ssim: pooledScores,
  psnr: pooledScores,
});
export type PooledQuality = z.infer<typeof pooledQualitySchema>;
/** An encoder's per-frame luma PSNR pooled, every frame of the output (quality/encoder-psnr.ts). */
export const pooledLumaSchema = z.object({ frames: z.number().int().min(1), psnrY: pooledScores });
export type PooledLuma = z.infer<typeof pooledLumaSchema>;
export type PooledScores = z.infer<typeof pooledScores>;

/** One gate checked on an output: passed, flagged (kept, said), or not checkable (not measured). */
export const gateResultSchema = z.object({
  figure: z.string(),
  min: z.number(),
  action: z.enum(['fail', 'flag']),
  value: z.number().nullable(),
  result: z.enum(['passed', 'flagged', 'unchecked']),
});
export type GateResult = z.infer<typeof gateResultSchema>;

export const outputHdrSchema = z.object({
  source: z.enum(['pq', 'hlg']),
  mode: z.enum(['kept', 'tonemapped']),
  transfer: z.enum(['pq', 'hlg', 'bt709']),
  bitDepth: z.union([z.literal(8), z.literal(10)]),
  masteringDisplay: z.boolean(),
  contentLight: z.boolean(),
  notCarried: z.array(z.string()).optional(),
}) satisfies z.ZodType<OutputHdr>;
