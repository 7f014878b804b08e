// The quality vocabulary: the metrics nommer measures, a target (`ssim=0.985`, or a pooled figure
// such as `ssim.p5=0.95`) and the window a final output must land in. Pure: no I/O. What an output's record says (its scores, and for a
// target the search that chose its CRF) is part of the job record: jobs/outputs.ts, re-exported
// below.
import { NommerError } from '../errors.js';
import { POOLS, type Pool, type Quality } from '../jobs/outputs.js';

export const METRICS = ['ssim', 'psnr', 'vmaf'] as const;
export type Metric = (typeof METRICS)[number];

export interface QualityTarget {
  metric: Metric;
  value: number;
  /** A pooled figure of the frames (`ssim.p5`); absent: the metric's own average (`ssim`). */
  pool?: Pool;
}

/** Metrics whose per-frame scores nommer keeps, so a target may name a pooled figure of them. */
export const POOLED_METRICS = ['ssim', 'psnr'] as const;

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

/** `ssim=0.985` (also `ssim:0.985`), `ssim.p5=0.95` → { metric, value, pool? }; USAGE naming what is wrong. */
export function parseTarget(text: string): QualityTarget {
  const m = /^\s*([a-z]+)(?:\.([a-z0-9]+))?\s*[=:]\s*(\d+(?:\.\d+)?)\s*$/i.exec(text);
  const metric = m?.[1]?.toLowerCase() as Metric | undefined;
  if (!m || !metric || !METRICS.includes(metric))
    throw new NommerError('USAGE', `--target takes metric=value, got ${JSON.stringify(text)}`, {
      hint: `e.g. ${RANGES.ssim.example}, ssim.p5=0.95 or ${RANGES.psnr.example} (${RANGES.vmaf.example} where ffmpeg has libvmaf)`,
    });
  const pool = m[2] === undefined ? undefined : poolOf(metric, m[2].toLowerCase());
  const value = Number(m[3]);
  const r = RANGES[metric];
  if (!(value >= r.min && value <= r.max))
    throw new NommerError('USAGE', `a ${metric} target must be from ${r.min} to ${r.max}, got ${m[3]}`, {
      hint: `e.g. ${r.example}`,
    });
  return pool ? { metric, value, pool } : { metric, value };
}

/** The pool `name` of a target on `metric`, or USAGE. */
function poolOf(metric: Metric, name: string): Pool {
  const pool = POOLS.find((p) => p === name);
  if (!pool)
    throw new NommerError('USAGE', `"${metric}.${name}" is not a pooled figure`, {
      hint: `use ${POOLS.map((p) => `${metric}.${p}`).join(', ')} (or ${metric} for its average)`,
    });
  if (!(POOLED_METRICS as readonly string[]).includes(metric))
    throw new NommerError('USAGE', `a pooled target is for ssim or psnr, not ${metric}`, {
      hint: 'nommer keeps per-frame scores of SSIM and PSNR only; aim at vmaf=93 (its average)',
    });
  return pool;
}

export function formatTarget(t: QualityTarget): string {
  return `${t.pool ? `${t.metric}.${t.pool}` : t.metric}=${t.value}`;
}

/** A target's figure in an output's scores (its pooled figure, or the metric's average); undefined when not measured. */
export function scoreOf(q: Partial<Quality>, t: Pick<QualityTarget, 'metric' | 'pool'>): number | undefined {
  if (!t.pool) return q[t.metric];
  if (t.metric === 'vmaf') return undefined;
  return q.pooled?.[t.metric][t.pool];
}

/** Whether a score is inside the target's window. */
export function inWindow(t: QualityTarget, score: number): boolean {
  const w = TARGET_WINDOW[t.metric];
  return score >= t.value - w.below - 1e-9 && score <= t.value + w.above + 1e-9;
}

export {
  type ChunkedSearchRecord,
  type GateResult,
  POOLS,
  type Pool,
  type PooledQuality,
  type PooledScores,
  type OutputQuality,
  outputQualitySchema,
  type Quality,
  qualityOfResult,
  type ReportedQuality,
  reportedQualitySchema,
  type SearchProbe,
  type SearchRecord,
} from '../jobs/outputs.js';
