// The quality vocabulary: the metrics nommer measures, a target (`ssim=0.985`) and the window a
// final output must land in. Pure: no I/O. What an output's record says (its scores, and for a
// target the search that chose its CRF) is part of the job record: jobs/outputs.ts, re-exported
// below.
import { NommerError } from '../errors.js';

export const METRICS = ['ssim', 'psnr', 'vmaf'] as const;
export type Metric = (typeof METRICS)[number];

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

export {
  type ChunkedSearchRecord,
  type OutputQuality,
  outputQualitySchema,
  type Quality,
  qualityOfResult,
  type ReportedQuality,
  reportedQualitySchema,
  type SearchProbe,
  type SearchRecord,
} from '../jobs/outputs.js';
