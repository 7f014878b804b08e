// The CRF search, pure: where the samples go, which CRF to try next from the ones tried, and
// which CRF the search settles on. No I/O, no clock; quality/run-search.ts runs it.
// - Samples spread over the input, more of them as it gets longer; a short input (or chunk) is
//   its own sample, so the search sees exactly what the final encode will.
// - Next CRF by interpolation, not blind bisection: scores are mapped to a scale roughly linear
//   in CRF (SSIM as -log10(1 - SSIM), PSNR and VMAF as they are), then the secant through the
//   two nearest probes that bracket the aim, or from one probe with a typical slope.
// - The aim sits a quarter into the window above the target, so the final file, whose score
//   differs a little from the samples', still lands inside it; a probe between the target and
//   60% into the window above is kept as it is.
import { TARGET_WINDOW, type Metric, type QualityTarget, type SearchProbe } from './types.js';

/** CRF range the search may use (VP9, AV1: 0..63). */
export const CRF_MIN = 0;
export const CRF_MAX = 63;
/** Encodes on samples before the search settles. */
export const MAX_PROBES = 6;
/** Re-encodes of the final output after a miss. */
export const MAX_CORRECTIONS = 2;

export interface SampleWindow {
  /** Seconds from the input's (or chunk's) start. */
  start: number;
  end: number;
}

/** Inputs up to this long are their own sample. */
export const WHOLE_SAMPLE_SECONDS = 8;
const SAMPLE_SECONDS = 1.5;

/**
 * Sample windows over `duration` seconds: none (meaning the whole input) up to
 * WHOLE_SAMPLE_SECONDS, then one per 15 s (at least 2, at most 12), 1.5 s each, evenly spread.
 */
export function sampleWindows(duration: number): SampleWindow[] {
  if (!(duration > WHOLE_SAMPLE_SECONDS)) return [];
  const count = Math.max(2, Math.min(12, Math.round(duration / 15)));
  const step = duration / count;
  return Array.from({ length: count }, (_, i) => {
    const mid = (i + 0.5) * step;
    const start = Math.max(0, mid - SAMPLE_SECONDS / 2);
    return { start: round3(start), end: round3(Math.min(duration, start + SAMPLE_SECONDS)) };
  });
}

/** Video filters that keep only the windows' frames, renumbered as one continuous clip. */
export function sampleFilters(windows: readonly SampleWindow[], fps: number): string[] {
  if (windows.length === 0) return [];
  const expr = windows.map((w) => `between(t\\,${w.start.toFixed(3)}\\,${w.end.toFixed(3)})`).join('+');
  const rate = fps > 0 && Number.isFinite(fps) ? fps : 30;
  return [`select=${expr}`, `setpts=N/(${rate.toFixed(6)}*TB)`];
}

/** A score on a scale about linear in CRF. */
function linear(metric: Metric, score: number): number {
  if (metric === 'ssim') return -Math.log10(Math.max(1e-6, 1 - Math.min(score, 0.999999)));
  return score;
}

/** Typical change of the linear scale per CRF step (negative: quality falls as CRF rises). */
const TYPICAL_SLOPE: Record<Metric, number> = { ssim: -0.02, psnr: -0.4, vmaf: -1.2 };

/** The score the search aims at: a quarter into the window above the target. */
export function aimOf(t: QualityTarget): number {
  return t.value + TARGET_WINDOW[t.metric].above / 4;
}

export type SearchStep =
  | { next: number }
  | {
      done: number;
      note?: string;
      outOfReach?: boolean;
      /**
       * Set when the CRF settled on was not probed: the score the probes' curve predicts for it
       * (the final output is measured and corrected anyway, so one probe fewer).
       */
      predicted?: number;
    };

/**
 * How near the aim (in target windows: 0.009 for SSIM) the nearest probe must score for the
 * search to settle on the CRF the probes' curve predicts, without probing it: past the probes
 * on a measured slope, or between two probes that bracket the aim. Tuned on the sample curves
 * (SSIM at CRF 20..63) of bench/quality.ts's flat and noisy clips, VP9 and AV1: from 3.4 to 2.6
 * probes a search on average over targets 0.93..0.985, no more settled outside the window.
 */
export const TRUST = { extrapolate: 0.67, bracket: 1.5 };

/**
 * From the probes so far, the next CRF to try, or the CRF to settle on: the highest CRF whose
 * score reaches the aim, once the CRF above it is known to fall short (or the range ends), or
 * a probe already close to it, or, from two probes, the CRF their curve puts at the aim when it
 * lies between them or a few steps past them (`predicted`: not probed, the final file is).
 */
export function nextStep(
  target: QualityTarget,
  tried: readonly Pick<SearchProbe, 'crf' | 'score'>[],
  start: number,
  range: { min: number; max: number } = { min: CRF_MIN, max: CRF_MAX },
): SearchStep {
  if (tried.length === 0) return { next: clamp(start, range) };
  const aim = aimOf(target);
  const good = tried.filter((p) => p.score >= aim).sort((a, b) => b.crf - a.crf)[0];
  const bad = tried.filter((p) => p.score < aim).sort((a, b) => a.crf - b.crf)[0];
  const known = new Set(tried.map((p) => p.crf));
  if (good && bad && bad.crf <= good.crf + 1) return { done: good.crf };
  // Close enough: a probe between the target and 60% into the window above it is kept without
  // bracketing it (one probe fewer, most of the time).
  const close = tried
    .filter((p) => p.score >= target.value && p.score <= target.value + 0.6 * TARGET_WINDOW[target.metric].above)
    .sort((a, b) => b.crf - a.crf)[0];
  if (close) return { done: close.crf };
  if (good && good.crf >= range.max)
    return {
      done: good.crf,
      note: `out of reach: even the encoder's highest CRF (${range.max}) scores above the target`,
      outOfReach: true,
    };
  if (bad && bad.crf <= range.min)
    return {
      done: bad.crf,
      note: `out of reach: even the encoder's lowest CRF (${range.min}) does not reach the target`,
      outOfReach: true,
    };
  if (tried.length >= MAX_PROBES) {
    if (good) return { done: good.crf, note: `settled after ${tried.length} probes` };
    return { done: bad!.crf, note: `no CRF tried reached the target in ${tried.length} probes` };
  }
  const y = linear(target.metric, aim);
  const width = TARGET_WINDOW[target.metric].below + TARGET_WINDOW[target.metric].above;
  let guess: number;
  /** Whether the curve of the probes is trusted at `guess` without a probe there. */
  let trusted = false;
  if (good && bad) {
    const [ya, yb] = [linear(target.metric, good.score), linear(target.metric, bad.score)];
    const t = ya === yb ? 0.5 : (ya - y) / (ya - yb);
    guess = Math.round(good.crf + t * (bad.crf - good.crf));
    guess = Math.min(bad.crf - 1, Math.max(good.crf + 1, guess));
    trusted = Math.min(good.score - aim, aim - bad.score) <= TRUST.bracket * width;
  } else {
    const side = (good ?? bad)!;
    const pts = tried.map((p) => ({ crf: p.crf, y: linear(target.metric, p.score) })).sort((a, b) => a.crf - b.crf);
    // The slope of the probes when there are two far enough apart, else a typical one.
    const a = pts[0]!,
      b = pts[pts.length - 1]!;
    const measured = b.crf - a.crf >= 2 ? (b.y - a.y) / (b.crf - a.crf) : undefined;
    const slope = measured !== undefined && measured < -1e-4 ? measured : TYPICAL_SLOPE[target.metric];
    const step = (y - linear(target.metric, side.score)) / slope;
    const bounded = Math.max(-16, Math.min(16, step));
    guess = Math.round(side.crf + bounded);
    // Always move past the probe on the side it is on.
    if (good && guess <= good.crf) guess = good.crf + 1;
    if (bad && guess >= bad.crf) guess = bad.crf - 1;
    // A measured slope (probes at least 4 apart) is trusted a little past them, inside the range.
    trusted =
      slope === measured &&
      b.crf - a.crf >= 4 &&
      Math.abs(aim - side.score) <= TRUST.extrapolate * width &&
      guess > range.min &&
      guess < range.max;
  }
  guess = clamp(guess, range);
  if (trusted && !known.has(guess)) return { done: guess, predicted: scoreAt(target.metric, tried, guess) };
  while (known.has(guess)) {
    // Already tried (rounding): step toward the unexplored side.
    guess += good ? 1 : -1;
    if (guess < range.min || guess > range.max) return { done: (good ?? bad)!.crf };
  }
  return { next: guess };
}

const fromLinear = (metric: Metric, y: number) => (metric === 'ssim' ? 1 - 10 ** -y : y);

/**
 * The score the probes' curve gives at `crf`: the probe there, else the line on the linear scale
 * through the two probes around it (or the two nearest, past the probes' ends); with one probe,
 * a typical slope.
 */
export function scoreAt(metric: Metric, probes: readonly Pick<SearchProbe, 'crf' | 'score'>[], crf: number): number {
  const at = probes.find((p) => p.crf === crf);
  if (at) return at.score;
  const pts = probes
    .map((p) => ({ crf: p.crf, y: linear(metric, p.score) }))
    .sort((a, b) => a.crf - b.crf)
    .filter((p, i, all) => i === 0 || p.crf !== all[i - 1]!.crf);
  if (pts.length === 0) return Number.NaN;
  if (pts.length === 1) return fromLinear(metric, pts[0]!.y + TYPICAL_SLOPE[metric] * (crf - pts[0]!.crf));
  let i = pts.findIndex((p) => p.crf > crf);
  if (i <= 0) i = i === 0 ? 1 : pts.length - 1;
  const [a, b] = [pts[i - 1]!, pts[i]!];
  return fromLinear(metric, a.y + ((b.y - a.y) * (crf - a.crf)) / (b.crf - a.crf));
}

/**
 * After the final output missed the window: the CRF to re-encode at. The samples' curve is
 * shifted by what the final file measured against what its samples did (or, not probed there,
 * would do by their curve) at the same CRF.
 */
export function correctedCrf(
  target: QualityTarget,
  samples: readonly Pick<SearchProbe, 'crf' | 'score'>[],
  finals: readonly Pick<SearchProbe, 'crf' | 'score'>[],
  range: { min: number; max: number } = { min: CRF_MIN, max: CRF_MAX },
): number | undefined {
  const last = finals[finals.length - 1];
  if (!last) return undefined;
  const at = samples.length ? scoreAt(target.metric, samples, last.crf) : undefined;
  const shift =
    at !== undefined && Number.isFinite(at) ? linear(target.metric, last.score) - linear(target.metric, at) : 0;
  const shifted = samples
    .filter((p) => !finals.some((f) => f.crf === p.crf))
    .map((p) => ({ crf: p.crf, score: fromLinear(target.metric, linear(target.metric, p.score) + shift) }));
  // A correction settled on a predicted CRF is fine: it is encoded and measured as the final.
  const step = nextStep(target, [...shifted, ...finals], last.crf, range);
  const crf = 'next' in step ? step.next : step.done;
  return finals.some((f) => f.crf === crf) ? undefined : crf;
}

function clamp(n: number, r: { min: number; max: number }): number {
  return Math.max(r.min, Math.min(r.max, Math.round(n)));
}
const round3 = (x: number) => Math.round(x * 1000) / 1000;
