// Reaching a quality target, for one output or one chunk: search the CRF on samples (search.ts
// decides, this runs), encode the final output at it, measure the final file and, when it missed
// the window, correct the CRF and encode again. The caller says how to encode samples and the
// final output, so a whole-file encode (encode.ts) and a chunk on a worker (chunked/) share it.
// The result is the record the job keeps: CRF, probes, corrections, cap, time; a target out of
// the encoder's reach is said in `note`, never silently missed.
import type { Quality, QualityTarget, SearchProbe, SearchRecord } from './types.js';
import { formatTarget, inWindow, scoreOf } from './types.js';
import { correctedCrf, MAX_CORRECTIONS, nextStep } from './search.js';

export interface FinalEncode {
  quality: Quality;
  /** Average bitrate of the output's video (kbit/s), to tell whether the cap bound. */
  kbps: number;
}

export interface TargetRun {
  target: QualityTarget;
  /** The preset's own CRF: where the search starts. */
  start: number;
  /** Samples encoded per probe (count 1 and the input's duration when it is its own sample). */
  samples: { count: number; seconds: number };
  /** The safety cap of target mode (kbit/s), if the encoder has one. */
  capKbps: number | null;
  /** Encode the samples at `crf` and measure them: the target metric's score. */
  probe: (crf: number) => Promise<number>;
  /** Encode the final output at `crf` and measure it. */
  encodeFinal: (crf: number) => Promise<FinalEncode>;
  now?: () => number;
}

/** Bitrates at 90% of the cap or more count as held down by it. */
const CAP_BOUND_SHARE = 0.9;

export interface SamplesSearch {
  crf: number;
  tried: SearchProbe[];
  note?: string;
  outOfReach: boolean;
  /** The samples' predicted score at `crf` when it was not probed (search.ts's nextStep). */
  predicted?: number;
  /** When the search ended (now()). */
  at: number;
  started: number;
}

/** Probe samples until the search settles on a CRF. */
export async function searchOnSamples(r: Omit<TargetRun, 'encodeFinal'>): Promise<SamplesSearch> {
  const now = r.now ?? Date.now;
  const started = now();
  const tried: SearchProbe[] = [];
  for (;;) {
    const step = nextStep(r.target, tried, r.start);
    if ('done' in step)
      return {
        crf: step.done,
        tried,
        ...(step.note ? { note: step.note } : {}),
        ...(step.predicted !== undefined ? { predicted: round6(step.predicted) } : {}),
        outOfReach: step.outOfReach ?? false,
        at: now(),
        started,
      };
    tried.push({ crf: step.next, score: await r.probe(step.next), on: 'samples' });
  }
}

/**
 * Check the final output (encoded at s.crf) against the window; correct and encode again when
 * it missed (at most MAX_CORRECTIONS times). The record of the whole search.
 */
export async function verifyFinal(
  r: Omit<TargetRun, 'probe'>,
  s: SamplesSearch,
  first: FinalEncode,
): Promise<{ record: SearchRecord; final: FinalEncode }> {
  const now = r.now ?? Date.now;
  const { target } = r;
  const tried = [...s.tried];
  let crf = s.crf;
  let final = first;
  let note = s.note;
  let lastFinalSeconds = (now() - s.at) / 1000;
  const score = (f: FinalEncode) => scoreOf(f.quality, target) ?? Number.NaN;
  tried.push({ crf, score: score(final), on: 'final' });
  let corrections = 0;
  while (!inWindow(target, score(final)) && corrections < MAX_CORRECTIONS && !s.outOfReach) {
    const next = correctedCrf(
      target,
      tried.filter((p) => p.on === 'samples'),
      tried.filter((p) => p.on === 'final'),
    );
    if (next === undefined) break;
    const t0 = now();
    const again = await r.encodeFinal(next);
    lastFinalSeconds = (now() - t0) / 1000;
    corrections++;
    tried.push({ crf: next, score: score(again), on: 'final' });
    // Keep the better of the two: the one in the window, else the one nearer the target.
    if (
      inWindow(target, score(again)) ||
      Math.abs(score(again) - target.value) < Math.abs(score(final) - target.value)
    ) {
      final = again;
      crf = next;
    }
  }
  // The file on disk is the last one encoded: when that was a correction not kept, encode the kept CRF again.
  const lastEncoded = tried.filter((p) => p.on === 'final').pop()!;
  if (lastEncoded.crf !== crf) {
    const t0 = now();
    final = await r.encodeFinal(crf);
    lastFinalSeconds = (now() - t0) / 1000;
  }
  const reached = inWindow(target, score(final));
  const capBound = r.capKbps !== null && final.kbps >= CAP_BOUND_SHARE * r.capKbps;
  if (!reached && s.outOfReach && capBound) note = `${note}: the safety bitrate cap (${r.capKbps} kbit/s) bound`;
  if (!reached && !s.outOfReach)
    note = capBound
      ? `the safety bitrate cap (${r.capKbps} kbit/s) held the output below the target`
      : `the final output scored ${score(final)} after ${corrections} correction(s), outside the target's window`;
  return {
    final,
    record: {
      target: formatTarget(target),
      crf,
      score: score(final),
      reached,
      ...(note ? { note } : {}),
      samples: r.samples,
      tried,
      ...(s.predicted !== undefined ? { predicted: s.predicted } : {}),
      corrections,
      capKbps: r.capKbps,
      capBound,
      // The search's own cost: all but the one final encode that is kept.
      seconds: round3(Math.max(0, (now() - s.started) / 1000 - lastFinalSeconds)),
    },
  };
}

/** Search, encode the final output, verify and correct: the whole of target mode for one output. */
export async function reachTarget(r: TargetRun): Promise<{ record: SearchRecord; final: FinalEncode }> {
  const s = await searchOnSamples(r);
  return verifyFinal(r, s, await r.encodeFinal(s.crf));
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
const round6 = (x: number) => Math.round(x * 1e6) / 1e6;
