// The quality vocabulary: the metrics nommer measures, a target (`ssim=0.985`), the window a
// final output must land in, and what an output's record says (its scores, and for a target the
// search that chose its CRF). Pure: no I/O. The job record (jobs/state.ts) and the task results
// carry these shapes; quality/outputs.ts reads them back from a worker's result.
import { z } from 'zod';
import { NommerError } from '../errors.js';

export const METRICS = ['ssim', 'psnr', 'vmaf'] as const;
export type Metric = (typeof METRICS)[number];

/** Scores of one output against its source, frames paired by number, at the output's size. */
export interface Quality {
  /** ffmpeg's `ssim` filter, "All" (0..1). */
  ssim: number;
  /** ffmpeg's `psnr` filter, "average" (dB); 100 when the pictures are identical. */
  psnr: number;
  /** libvmaf's score (0..100), where the ffmpeg has libvmaf. */
  vmaf?: number;
}

export interface QualityTarget {
  metric: Metric;
  value: number;
}

/**
 * How far a final output may land from its target: SSIM 0.003 below to 0.006 above (issue 14);
 * PSNR and VMAF in their own units, about as wide for what a viewer sees.
 */
export const TARGET_WINDOW: Record<Metric, { below: number; above: number }> = {
  ssim: { below: 0.003, above: 0.006 },
  psnr: { below: 0.3, above: 0.6 },
  vmaf: { below: 1, above: 2 },
};

const RANGES: Record<Metric, { min: number; max: number; example: string }> = {
  ssim: { min: 0.5, max: 0.999, example: 'ssim=0.985' },
  psnr: { min: 20, max: 60, example: 'psnr=40' },
  vmaf: { min: 20, max: 99, example: 'vmaf=93' },
};

/** `ssim=0.985` (also `ssim:0.985`) → { metric, value }; USAGE naming what is wrong. */
export function parseTarget(text: string): QualityTarget {
  const m = /^\s*([a-z]+)\s*[=:]\s*(\d+(?:\.\d+)?)\s*$/i.exec(text);
  const metric = m?.[1]?.toLowerCase() as Metric | undefined;
  if (!m || !metric || !METRICS.includes(metric))
    throw new NommerError('USAGE', `--target takes metric=value, got "${text}"`, {
      hint: `e.g. ${RANGES.ssim.example} or ${RANGES.psnr.example} (${RANGES.vmaf.example} where ffmpeg has libvmaf)`,
    });
  const value = Number(m[2]);
  const r = RANGES[metric];
  if (!(value >= r.min && value <= r.max))
    throw new NommerError('USAGE', `a ${metric} target must be from ${r.min} to ${r.max}, got ${m[2]}`, {
      hint: `e.g. ${r.example}`,
    });
  return { metric, value };
}

export function formatTarget(t: QualityTarget): string {
  return `${t.metric}=${t.value}`;
}

/** Whether a score is inside the target's window. */
export function inWindow(t: QualityTarget, score: number): boolean {
  const w = TARGET_WINDOW[t.metric];
  return score >= t.value - w.below - 1e-9 && score <= t.value + w.above + 1e-9;
}

/** One encode tried during a search (on the samples, or the final file). */
export interface SearchProbe {
  crf: number;
  score: number;
  /** Where it was measured: the samples, or the final output (a correction follows a miss). */
  on: 'samples' | 'final';
}

/** What a CRF search did for one output (or one chunk). */
export interface SearchRecord {
  target: string;
  /** The CRF of the output as stored. */
  crf: number;
  /** The final output's score in the target's metric. */
  score: number;
  /** True when the final output landed in the target's window. */
  reached: boolean;
  /** Why it did not (a target out of the encoder's reach says so here). */
  note?: string;
  /** Samples the search encoded: how many, and the seconds of input they cover in all. */
  samples: { count: number; seconds: number };
  tried: SearchProbe[];
  /**
   * When the search settled on a CRF it did not probe (the probes' curve put it at the aim):
   * the score that curve predicted there. The final output's own score is `score`.
   */
  predicted?: number;
  /** Re-encodes of the final output after it missed the window. */
  corrections: number;
  /** The safety bitrate cap (kbit/s) the CRF ran under, and whether the output came near it. */
  capKbps: number | null;
  capBound: boolean;
  /** Wall time of the search, probes and corrections included (not the final encode). */
  seconds: number;
}

/** A chunked output's search: one record per chunk, searched on the workers. */
export interface ChunkedSearchRecord {
  target: string;
  chunks: Array<SearchRecord & { index: number }>;
  /** Sum of the chunks' search times (they ran in parallel). */
  seconds: number;
  reached: boolean;
}

/** What a job output's record says about quality (job.outputs[i].quality). */
export interface OutputQuality extends Partial<Quality> {
  /** Why nothing was measured (a still, measuring turned off, a failure to measure). */
  skipped?: string;
  /** Wall time of the measurement, seconds. */
  seconds?: number;
  search?: SearchRecord | ChunkedSearchRecord;
}

const finite = z.number().refine(Number.isFinite);
export const outputQualitySchema = z.looseObject({
  ssim: finite.optional(),
  psnr: finite.optional(),
  vmaf: finite.optional(),
  skipped: z.string().optional(),
  seconds: finite.optional(),
  search: z.record(z.string(), z.unknown()).optional(),
});

/** A task result's `quality` list: one entry per output URI. */
export const reportedQualitySchema = z.array(z.object({ uri: z.string(), quality: outputQualitySchema }));
export type ReportedQuality = Array<{ uri: string; quality: OutputQuality }>;

/** The quality entries of a task result (invalid or absent ones are none). */
export function qualityOfResult(result: Record<string, unknown> | undefined | null): ReportedQuality {
  const r = reportedQualitySchema.safeParse(result?.quality);
  return r.success ? (r.data as ReportedQuality) : [];
}
