// Loudness normalization (EBU R128 / ITU-R BS.1770), in two passes and checked on what the
// encoder made:
// 1. measure the input's audio through the output's own chain (its downmix and sample rate):
//    integrated loudness, true peak and loudness range, with ffmpeg's ebur128 filter (true peak
//    4× oversampled; four to six times faster than loudnorm's measuring pass, which runs its
//    whole 192 kHz normalizer);
// 2. set the level with a gain computed here, not by loudnorm: loudnorm falls back to its dynamic
//    mode without saying so whenever a linear gain cannot meet the true peak (ffmpeg-normalize
//    #245, #314). The gain is linear (one `volume` for the whole program) when
//    target − integrated + true peak ≤ ceiling; otherwise a limiter acts on the peaks only
//    (alimiter at 4× the rate, so it sees the peaks between samples, with its delay compensated),
//    and the record says the gain was not linear and why. With a loudness-range target a program
//    wider than it is compressed (loudnorm's dynamic mode, on purpose and said).
// A lossy encoder's output peaks above its input (measured: Opus 64k +2.6 dB on white noise,
// Vorbis +1.5 dB on a square wave), so each plan is encoded as a trial, the trial measured, and
// the plan corrected from what was measured (a few rounds at most): a linear gain lowered where
// that keeps the loudness in tolerance, else a limiter below the ceiling by the encoder's
// overshoot. The last trial's filters are the output's; the output's record is measured on the
// output itself (loudnessRecord).
import { randomBytes } from 'node:crypto';
import { NommerError } from '../errors.js';
import type { LoudnessFigures, OutputLoudness } from '../jobs/outputs.js';
import { audioChain, audioLayout } from '../presets/compile.js';
import type { AudioSettings, LoudnessSettings } from '../presets/schema.js';
import { runFfmpeg } from './run.js';
import type { AudioStreamInfo, ProbeInfo } from './types.js';

export { loudnessOfResult, outputLoudnessSchema, type LoudnessFigures, type OutputLoudness } from '../jobs/outputs.js';

/** How far a trial may land from the target before it is corrected, LU (ebur128 reports 0.1). */
export const TOLERANCE_LU = 0.2;
/** How far an output may land from its target before its record says it missed, LU. */
export const REPORT_TOLERANCE_LU = 0.5;
/** Encodes tried before the last one is kept whatever it measured. */
export const MAX_TRIALS = 4;
/** Extra margin under the ceiling when a correction lowers a peak, dB. */
const PEAK_STEP = 0.1;
/** alimiter's lowest limit (0.0625). */
const MIN_LIMIT_DB = -24;

/** A measured program with the gate threshold ebur128 found (loudnorm takes it as measured_thresh). */
export interface Measured extends LoudnessFigures {
  threshold: number;
}

// ---- measuring -------------------------------------------------------------------------------

export interface MeasureLoudnessRequest {
  ffmpeg: string;
  /** As ffmpeg should read it (ffmpegInputArg, or `file:` + a path). */
  input: string;
  /** Options before -i (how the encode reads the input). */
  inputOptions?: readonly string[];
  /** The audio stream, as -map takes it: `0:1`, `0:a:0`. */
  stream: string;
  /** Filters ahead of the measurement (the output's chain, and a trial's level filters). */
  filters?: readonly string[];
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

/** A fresh name for the ebur128 filter of one run: its summary is read only under that name, so
 * input metadata (printed at the same log level) that reads like a summary sets nothing. */
function measureTag(): string {
  return `l${randomBytes(8).toString('hex')}`;
}

/** The measuring command (arguments after the binary). Pure. */
export function measureArgs(r: Omit<MeasureLoudnessRequest, 'ffmpeg' | 'signal' | 'onSpawn'>, tag: string): string[] {
  // framelog=verbose: the 10 lines a second ebur128 logs at info stay out of stderr; the summary
  // is still logged at info.
  const ebur128 = `ebur128@${tag}=peak=true:framelog=verbose`;
  return [
    ...(r.inputOptions ?? []),
    '-i',
    r.input,
    '-map',
    r.stream,
    '-af',
    [...(r.filters ?? []), ebur128].join(','),
    '-f',
    'null',
    '-',
  ];
}

const NUMBER = '(-?\\d+(?:\\.\\d+)?|-?inf|nan)';

/**
 * ebur128's summary, logged under `tag`, as figures; null for silence (nothing above the
 * absolute gate, or no peak at all). Pure.
 */
export function parseSummary(stderr: string, tag: string): Measured | null {
  const head = `[ebur128@${tag} @ `;
  const at = stderr.lastIndexOf(head);
  const rest = at >= 0 ? stderr.slice(at) : '';
  if (!/^[^\n]*\] Summary:/.test(rest))
    throw new NommerError('FFMPEG_FAILED', 'the loudness measurement printed no summary', {
      retriable: true,
      detail: stderr.slice(-2000),
    });
  const read = (label: string, unit: string): number => {
    const m = new RegExp(`^\\s*${label}:\\s+${NUMBER} ${unit}\\s*$`, 'm').exec(rest);
    if (!m) throw new NommerError('FFMPEG_FAILED', `the loudness summary has no ${label}`, { detail: rest });
    return m[1]!.endsWith('inf') ? (m[1]!.startsWith('-') ? -Infinity : Infinity) : Number(m[1]);
  };
  const integrated = read('I', 'LUFS');
  const threshold = read('Threshold', 'LUFS');
  const lra = read('LRA', 'LU');
  const truePeak = read('Peak', 'dBFS');
  // ebur128 reports -70 (its absolute gate) when no block passes it.
  if (!Number.isFinite(truePeak) || !(integrated > -70)) return null;
  return { integrated, threshold, lra: Number.isFinite(lra) ? lra : 0, truePeak };
}

/** Measure one audio stream; null when it is silent. */
export async function measureLoudness(r: MeasureLoudnessRequest): Promise<Measured | null> {
  const tag = measureTag();
  const stderr = await runFfmpeg(r.ffmpeg, measureArgs(r, tag), {
    signal: r.signal,
    onSpawn: r.onSpawn,
    logLevel: 'info',
  });
  return parseSummary(stderr, tag);
}

// ---- planning (pure) -------------------------------------------------------------------------

/** How an output's level is set: one gain, with a true-peak limiter or a range compressor where
 * the gain alone cannot meet the target. */
export interface LevelPlan {
  gainDb: number;
  /** The limiter's ceiling before the encoder, dBTP. */
  limitDb?: number;
  /** loudnorm's dynamic mode, to these targets (its true peak ceiling before the encoder). */
  compress?: { integrated: number; truePeak: number; lra: number };
  /** Why the level is not one linear gain. */
  why?: string;
}

const db = (x: number) => `${x > 0 ? '+' : ''}${x.toFixed(1)}`;

/** The first plan, from the input's figures. */
export function firstPlan(t: LoudnessSettings, input: LoudnessFigures): LevelPlan {
  const gainDb = t.integrated - input.integrated;
  if (t.lra !== undefined && input.lra > t.lra)
    return {
      gainDb,
      compress: { integrated: t.integrated, truePeak: t.truePeak, lra: t.lra },
      why: `its loudness range, ${input.lra.toFixed(1)} LU, is wider than the ${t.lra} LU asked: compressed`,
    };
  const peak = input.truePeak + gainDb;
  if (peak <= t.truePeak) return { gainDb };
  return {
    gainDb,
    limitDb: t.truePeak,
    why: `a linear gain of ${db(gainDb)} dB would put the true peak at ${db(peak)} dBTP, over the ${t.truePeak} dBTP ceiling: peaks limited`,
  };
}

/**
 * The next plan after a trial measured `trial`, or undefined when the trial is on target (within
 * TOLERANCE_LU, true peak at or under the ceiling). `input` is what the first plan started from.
 */
export function nextPlan(
  t: LoudnessSettings,
  input: LoudnessFigures,
  plan: LevelPlan,
  trial: LoudnessFigures,
): LevelPlan | undefined {
  const over = trial.truePeak - t.truePeak;
  const miss = t.integrated - trial.integrated;
  if (over <= 0 && Math.abs(miss) <= TOLERANCE_LU) return undefined;
  if (plan.compress) {
    const c = plan.compress;
    const integrated = Math.min(-5, Math.max(-70, c.integrated + miss));
    const truePeak = over > 0 ? Math.max(-9, c.truePeak - over - PEAK_STEP) : c.truePeak;
    return { ...plan, gainDb: plan.gainDb + miss, compress: { ...c, integrated, truePeak } };
  }
  if (plan.limitDb === undefined) {
    // Linear: a gain change moves loudness and peak alike. Stay linear if lowering the peak
    // under the ceiling keeps the loudness within tolerance.
    const change = Math.min(miss, -over - PEAK_STEP);
    if (change >= miss - TOLERANCE_LU) return { gainDb: plan.gainDb + change };
    // The encoder peaks above what it was given by this much: the limiter sits that far under.
    const overshoot = Math.max(0, trial.truePeak - (input.truePeak + plan.gainDb));
    return {
      gainDb: plan.gainDb + miss,
      limitDb: Math.max(MIN_LIMIT_DB, t.truePeak - overshoot - PEAK_STEP),
      why: `the encoded output peaked at ${db(trial.truePeak)} dBTP with a linear gain (the ceiling is ${t.truePeak} dBTP): peaks limited`,
    };
  }
  const limitDb = over > 0 ? Math.max(MIN_LIMIT_DB, plan.limitDb - over - PEAK_STEP) : plan.limitDb;
  return { ...plan, gainDb: plan.gainDb + miss, limitDb };
}

/** The chain's format, which the limiter and the compressor (both work oversampled, and
 * loudnorm leaves its channel layout unset) return to. */
export interface ChainFormat {
  sampleRate: number;
  layout: string;
}

/** The filters that set the level (after the output's chain). Pure. */
export function levelFilters(plan: LevelPlan, input: Measured, format: ChainFormat): string[] {
  const n = (x: number) => x.toFixed(2);
  const back = `aformat=sample_rates=${format.sampleRate}:channel_layouts=${format.layout}`;
  if (plan.compress) {
    const c = plan.compress;
    // loudnorm runs at 192 kHz whatever it is given.
    return [
      `loudnorm=I=${n(c.integrated)}:TP=${n(c.truePeak)}:LRA=${n(c.lra)}:measured_I=${n(input.integrated)}:measured_TP=${n(input.truePeak)}:measured_LRA=${n(input.lra)}:measured_thresh=${n(input.threshold)}:linear=false`,
      back,
    ];
  }
  const gain = `volume=${n(plan.gainDb)}dB`;
  if (plan.limitDb === undefined) return [gain];
  const limit = (10 ** (plan.limitDb / 20)).toFixed(5);
  return [gain, `aresample=${format.sampleRate * 4}`, `alimiter=limit=${limit}:level=disabled:latency=1`, back];
}

// ---- fitting ---------------------------------------------------------------------------------

export interface FitRequest {
  ffmpeg: string;
  target: LoudnessSettings;
  /** The input's audio as the output's chain gives it to the encoder (before any level filter). */
  source: Omit<MeasureLoudnessRequest, 'ffmpeg' | 'signal' | 'onSpawn'>;
  /** The chain's format (the preset's sample rate, else the source's; the output's layout). */
  format: ChainFormat;
  /** Encode the output's audio with these level filters and give the file's path: a trial (for
   * an audio piece, the piece itself: the last trial is what is kept). */
  encode: (levelFilters: string[]) => Promise<string>;
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

export interface LoudnessFit {
  target: LoudnessSettings;
  input: Measured;
  plan: LevelPlan;
  /** The output's level filters (the last trial's). */
  filters: string[];
  /** The last trial, as measured. */
  trial: Measured;
  trials: number;
}

/** Measure, plan, encode and correct (see the header); `skipped` when there is nothing to set. */
export async function fitLoudness(r: FitRequest): Promise<LoudnessFit | { skipped: string }> {
  const measure = (m: Omit<MeasureLoudnessRequest, 'ffmpeg' | 'signal' | 'onSpawn'>) =>
    measureLoudness({ ...m, ffmpeg: r.ffmpeg, signal: r.signal, onSpawn: r.onSpawn });
  const input = await measure(r.source);
  if (!input) return { skipped: 'the audio is silent: there is no loudness to normalize' };
  let plan = firstPlan(r.target, input);
  for (let trials = 1; ; trials++) {
    const filters = levelFilters(plan, input, r.format);
    const path = await r.encode(filters);
    const trial = await measure({ input: `file:${path}`, stream: '0:a:0' });
    if (!trial)
      throw new NommerError('FFMPEG_FAILED', 'the encoded audio measured silent after its gain', {
        detail: filters.join(','),
      });
    const next = trials < MAX_TRIALS ? nextPlan(r.target, input, plan, trial) : undefined;
    if (!next) return { target: r.target, input, plan, filters, trial, trials };
    plan = next;
  }
}

const figures = (m: LoudnessFigures): LoudnessFigures => ({
  integrated: m.integrated,
  truePeak: m.truePeak,
  lra: m.lra,
});

/** An output's record: the fit, and the output as measured on the output itself. */
export function loudnessRecord(fit: LoudnessFit, output: LoudnessFigures): OutputLoudness {
  return withOutputFigures(
    {
      target: targetOf(fit.target),
      input: figures(fit.input),
      output: figures(fit.trial),
      gainDb: Math.round(fit.plan.gainDb * 100) / 100,
      linear: fit.plan.limitDb === undefined && !fit.plan.compress,
      ...(fit.plan.why ? { why: fit.plan.why } : {}),
    },
    output,
  );
}

/**
 * A record with its output figures measured again (a chunked job's joined file, a package's
 * audio, whose piece's record travelled in its manifest entry), and whether it missed its target
 * or ceiling said from them. A skipped record stays as it is.
 */
export function withOutputFigures(record: OutputLoudness, output: LoudnessFigures): OutputLoudness {
  if ('skipped' in record) return record;
  const t = record.target;
  const missed: string[] = [];
  const off = output.integrated - t.integrated;
  if (Math.abs(off) > REPORT_TOLERANCE_LU)
    missed.push(`integrated ${output.integrated.toFixed(1)} LUFS is ${db(off)} LU from the target`);
  if (output.truePeak > t.truePeak)
    missed.push(`true peak ${db(output.truePeak)} dBTP is over the ${t.truePeak} dBTP ceiling`);
  // Only when it was compressed: a range already within the target is left as it is.
  if (t.lra !== undefined && record.input.lra > t.lra && output.lra > t.lra + REPORT_TOLERANCE_LU)
    missed.push(`loudness range ${output.lra.toFixed(1)} LU is wider than the ${t.lra} LU asked`);
  const { missed: _before, ...rest } = record;
  return { ...rest, output: figures(output), ...(missed.length ? { missed: missed.join('; ') } : {}) };
}

/** An input without audio: a note on the record, not a failure (as audio itself is optional),
 * which says how to make it one. */
export function noAudioLoudness(t: LoudnessSettings): OutputLoudness {
  return skippedLoudness(t, 'the input has no audio (to make that an error: -s audio.optional=false)');
}

/** A record for an output whose loudness was asked for but could not be set. */
export function skippedLoudness(t: LoudnessSettings, why: string): OutputLoudness {
  return { target: targetOf(t), skipped: why };
}

function targetOf(t: LoudnessSettings): OutputLoudness['target'] {
  return { integrated: t.integrated, truePeak: t.truePeak, ...(t.lra !== undefined ? { lra: t.lra } : {}) };
}

/** Measure an encoded file's audio for its record; a silent output is a failure (it had a gain). */
export async function measureOutputLoudness(
  ffmpeg: string,
  input: string,
  opts: { inputOptions?: readonly string[]; signal?: AbortSignal; onSpawn?: (pid: number) => void } = {},
): Promise<LoudnessFigures> {
  const m = await measureLoudness({ ffmpeg, input, stream: '0:a:0', ...opts });
  if (!m) throw new NommerError('FFMPEG_FAILED', `the output's audio measured silent: ${input}`);
  return figures(m);
}

// ---- an output's loudness, start to end ------------------------------------------------------

/** An output's level: its fit (whose filters its encode takes), or a record saying why none. */
export type OutputLevel = { fit: LoudnessFit } | { record: OutputLoudness };

export interface OutputLevelRequest {
  ffmpeg: string;
  /** The output preset's audio (its loudness, if any, is the target). */
  audio: AudioSettings | null;
  probe: ProbeInfo;
  /** The input as ffmpeg reads it, and the options the encode reads it with. */
  input: string;
  inputOptions?: readonly string[];
  /** Audio filters the encode runs ahead of the output's own (a package's alignment). */
  filterPrefix?: readonly string[];
  encode: FitRequest['encode'];
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

/** What the first pass measures of an output: its audio stream through its own chain. */
function sourceOf(
  r: Pick<OutputLevelRequest, 'input' | 'inputOptions' | 'filterPrefix'>,
  audio: AudioSettings,
  src: AudioStreamInfo,
): FitRequest['source'] {
  return {
    input: r.input,
    inputOptions: r.inputOptions,
    stream: `0:${src.index}`,
    filters: audioChain(audio, src, r.filterPrefix),
  };
}

/** The measuring command of an output whose preset asks for loudness (for a dry run: the gain
 * and the trials that follow depend on what it measures), or undefined. */
export function measureCommandOf(
  r: Pick<OutputLevelRequest, 'audio' | 'probe' | 'input' | 'inputOptions' | 'filterPrefix'>,
): string[] | undefined {
  const src = r.probe.audio;
  if (!r.audio?.loudness || !src) return undefined;
  return measureArgs(sourceOf(r, r.audio, src), measureTag());
}

/** Fit an output's level; undefined when its preset asks for no loudness. An input without audio
 * is a note on the record, not a failure. */
export async function fitOutputLevel(r: OutputLevelRequest): Promise<OutputLevel | undefined> {
  const target = r.audio?.loudness;
  if (!r.audio || !target) return undefined;
  const src = r.probe.audio;
  if (!src) return { record: noAudioLoudness(target) };
  // A source whose rate the probe could not read is resampled to Opus's own.
  const sampleRate = r.audio.sampleRate ?? (src.sampleRate > 0 ? src.sampleRate : 48000);
  const fit = await fitLoudness({
    ffmpeg: r.ffmpeg,
    target,
    source: sourceOf(r, r.audio, src),
    format: { sampleRate, layout: audioLayout(r.audio, src).layout },
    encode: r.encode,
    signal: r.signal,
    onSpawn: r.onSpawn,
  });
  return 'skipped' in fit ? { record: skippedLoudness(target, fit.skipped) } : { fit };
}

/** The level filters an output's encode takes (none without a fit). */
export function levelFiltersOf(level: OutputLevel | undefined): string[] | undefined {
  return level && 'fit' in level ? level.fit.filters : undefined;
}

/** The record of a piece whose last trial is the piece itself (its figures are the trial's),
 * to be measured again on the output it goes into (withOutputFigures). */
export function pieceLoudness(level: OutputLevel): OutputLoudness {
  return 'fit' in level ? loudnessRecord(level.fit, level.fit.trial) : level.record;
}

/** The output's record, its figures measured on the output (`measure` gives them). */
export async function finishLevel(
  level: OutputLevel,
  measure: () => Promise<LoudnessFigures>,
): Promise<OutputLoudness> {
  return 'fit' in level ? loudnessRecord(level.fit, await measure()) : level.record;
}
