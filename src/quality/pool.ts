// Per-frame scores into the figures an output reports (pure: no I/O). A mean hides the worst
// seconds, so every measured output also says its harmonic mean, 1st and 5th percentiles and
// minimum, and when its worst moments are (Av1an pools at p1 by default; ab-av1's users ask for
// worst-case pooling, issue 26). The scores come from the metric filters' stats files, one line a
// frame (measure.ts); the figures are over the frames measured, which `sampling` names.
import type { PooledQuality, PooledScores } from './types.js';

/** How many worst moments an output names. */
export const WORST_MOMENTS = 3;
/** Two worst frames closer than this (seconds) are one moment: the second is not named. */
export const MOMENT_SECONDS = 1;

/** `n:1 Y:0.918542 U:0.946007 V:0.956547 All:0.929454 (11.515246)` → [1, 0.929454]. */
export function parseSsimLine(line: string): [number, number] | undefined {
  const m = /^n:(\d+) .*\bAll:([0-9.]+)/.exec(line);
  return m ? [Number(m[1]), Number(m[2])] : undefined;
}

/** `n:1 mse_avg:111.46 ... psnr_avg:27.66 ...` → [1, 27.66]; identical frames (`inf`) count as 100 dB, as the summary does. */
export function parsePsnrLine(line: string): [number, number] | undefined {
  const m = /^n:(\d+) .*\bpsnr_avg:([0-9.]+|inf)/.exec(line);
  return m ? [Number(m[1]), m[2] === 'inf' ? 100 : Math.min(100, Number(m[2]))] : undefined;
}

/** The `p`th percentile (0..1) of ascending `sorted`, linear between the closest ranks (numpy's default). */
export function percentile(sorted: readonly number[], p: number): number {
  const h = (sorted.length - 1) * p;
  const lo = Math.floor(h);
  const hi = Math.min(sorted.length - 1, lo + 1);
  return sorted[lo]! + (h - lo) * (sorted[hi]! - sorted[lo]!);
}

/** The harmonic mean; 0 when a frame scores 0 or less (such a frame is the whole story). */
export function harmonicMean(xs: readonly number[]): number {
  let sum = 0;
  for (const x of xs) {
    if (!(x > 0)) return 0;
    sum += 1 / x;
  }
  return xs.length / sum;
}

/** Which output frames were measured: the `k`th measured frame (0-based) is `first + k × every`. */
export interface FrameNumbering {
  first: number;
  every: number;
  /** Frames per second of the output, to put a time on a frame. */
  fps: number;
}

/**
 * The lowest frame of each of the worst moments, worst first: frames by score, each kept unless it
 * is within MOMENT_SECONDS of one kept already (a hard scene's neighbouring frames are one moment).
 */
export function worstMoments(scores: readonly number[], at: FrameNumbering, digits: number): PooledScores['worst'] {
  const order = scores.map((_, k) => k).sort((a, b) => scores[a]! - scores[b]! || a - b);
  const kept: PooledScores['worst'] = [];
  for (const k of order) {
    if (kept.length >= WORST_MOMENTS) break;
    const frame = at.first + k * at.every;
    const time = round(frame / at.fps, 3);
    if (kept.some((w) => Math.abs(w.time - time) < MOMENT_SECONDS)) continue;
    kept.push({ frame, time, score: round(scores[k]!, digits) });
  }
  return kept;
}

/** One metric's figures over its frames' scores (in measured order), rounded to `digits`. */
export function poolScores(scores: readonly number[], at: FrameNumbering, digits: number): PooledScores {
  const sorted = [...scores].sort((a, b) => a - b);
  const mean = scores.reduce((s, x) => s + x, 0) / scores.length;
  return {
    mean: round(mean, digits),
    harmonic: round(harmonicMean(scores), digits),
    p1: round(percentile(sorted, 0.01), digits),
    p5: round(percentile(sorted, 0.05), digits),
    min: round(sorted[0]!, digits),
    worst: worstMoments(scores, at, digits),
  };
}

/** A metric's per-frame scores keyed by the filter's frame count `n` (1-based), in measured order; undefined when one is missing. */
export function inOrder(scores: ReadonlyMap<number, number>): number[] | undefined {
  const out: number[] = [];
  for (let n = 1; n <= scores.size; n++) {
    const x = scores.get(n);
    if (x === undefined || !Number.isFinite(x)) return undefined;
    out.push(x);
  }
  return out.length ? out : undefined;
}

/**
 * Both metrics pooled from their per-frame scores; undefined when the two do not cover the same
 * frames (a stats file cut short), so a figure never mixes one metric's frames with another's.
 */
export function poolQuality(
  ssim: ReadonlyMap<number, number>,
  psnr: ReadonlyMap<number, number>,
  at: FrameNumbering,
): PooledQuality | undefined {
  const s = inOrder(ssim);
  const p = inOrder(psnr);
  if (!s || !p || s.length !== p.length) return undefined;
  return { frames: s.length, ssim: poolScores(s, at, DIGITS.ssim), psnr: poolScores(p, at, DIGITS.psnr) };
}

/** Digits the figures keep: as the mean scores (measure.ts). */
export const DIGITS = { ssim: 6, psnr: 3 } as const;

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
