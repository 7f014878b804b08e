// Quality for the encodes nommer runs: which outputs are measured (every moving-video output,
// unless its preset says `quality.measure: false`), measuring one against its source with the
// filters it was encoded with, and encoding a preset's samples at a CRF for the search. Used by
// encode.ts (whole files) and chunked/encode-chunk.ts (chunks).
import { copyFile, rename, rm, stat, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import { asNommerError, NommerError } from '../errors.js';
import { runFfmpeg } from '../ffmpeg/run.js';
import type { ProbeInfo, VideoStreamInfo } from '../ffmpeg/types.js';
import { compileJob, type CompiledVideo } from '../presets/compile.js';
import type { ResolvedPreset } from '../presets/schema.js';
import {
  availableMetrics,
  measureQuality,
  measureScore,
  rawFrameBytes,
  referenceOutputArgs,
  sampledFrames,
} from './measure.js';
import { type SampleWindow, sampleFilters, sampleWindows } from './search.js';
import { parseTarget, scoreOf, type OutputQuality, type Quality, type QualityTarget } from './types.js';
import type { Sampling } from '../jobs/outputs.js';

/**
 * Without a target, every this many frames are measured: the scores move little (neighbouring
 * frames look alike) and the metrics cost an eleventh. Prime, so a keyframe interval (48, 96, 120
 * frames...) never lines up with it: keyframes, which score higher, weigh as much as in the whole. A target measures every frame (its search
 * steers on the score), and so does `quality.sampleEvery=1`.
 */
export const DEFAULT_SAMPLE_EVERY = 11;

/** How many frames apart an output's measured frames are (1: all), for its preset and whether it has a target. */
export function sampleEveryOf(preset: ResolvedPreset, target: boolean): number {
  return target ? 1 : (preset.quality?.sampleEvery ?? DEFAULT_SAMPLE_EVERY);
}

/** Codecs a target can steer (they have a CRF). */
const TARGETABLE = new Set(['vp8', 'vp9', 'av1']);

/** Why an output is not measured, or null when it is. */
export function whyNotMeasured(
  preset: ResolvedPreset,
  probe: ProbeInfo,
  video: CompiledVideo | undefined,
): string | null {
  if (!preset.video || !video) return 'no video';
  if (preset.video.codec === 'webp') return 'a still';
  if (preset.quality?.measure === false) return 'measuring is off (quality.measure=false)';
  // Theora resamples VFR to the average rate, so frames no longer pair by number.
  if (preset.video.codec === 'theora' && probe.video?.vfr) return 'variable frame rate resampled for Theora';
  return null;
}

/** The preset's quality target, checked against what this ffmpeg and codec can do. */
export async function targetOf(preset: ResolvedPreset, ffmpeg: string): Promise<QualityTarget | undefined> {
  const text = preset.quality?.target;
  if (!text) return undefined;
  const target = parseTarget(text);
  // A still or an audio output beside the video has nothing to aim (`-p webm -p poster --target`).
  if (!preset.video || preset.video.codec === 'webp') return undefined;
  if (!TARGETABLE.has(preset.video.codec))
    throw new NommerError(
      'USAGE',
      `preset "${preset.name}" cannot aim at ${text}: Theora has no CRF (VP8, VP9 and AV1 do)`,
      {
        hint: 'use a webm or av1 preset for --target',
      },
    );
  if (preset.quality?.measure === false)
    throw new NommerError('USAGE', 'a quality target needs measuring: it cannot go with --no-quality', {
      hint: 'drop --no-quality (or quality.measure=false) to use --target',
    });
  const metrics = await availableMetrics(ffmpeg);
  if (!metrics[target.metric])
    throw new NommerError('USAGE', `this ffmpeg cannot measure ${target.metric}`, {
      hint:
        target.metric === 'vmaf'
          ? 'vmaf needs an ffmpeg built with libvmaf (`nommer doctor` lists the metrics); use ssim= or psnr='
          : 'run `nommer doctor` to see which metrics this ffmpeg has',
    });
  return target;
}

export interface MeasureOutputRequest {
  ffmpeg: string;
  /** The source as ffmpeg reads it. */
  input: string;
  inputOptions?: readonly string[];
  probe: ProbeInfo;
  video: CompiledVideo;
  path: string;
  /** The raw reference the encode wrote beside it (rawReference, with the same `every`), read instead of the source; removed after. */
  rawReference?: RawReference;
  /** Measure every Nth frame only (sampleEvery); 1 or unset: all. */
  every?: number;
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

/**
 * Measure an output against its source (or the raw reference of it its encode wrote, the same
 * frames: the source is not decoded again; against the source when that reference was cut at
 * its bound, or on any failure with it).
 */
export async function measureAgainstSource(
  r: MeasureOutputRequest,
): Promise<Quality & { seconds: number; sampling: Sampling }> {
  const at = sampledFrames(r.every);
  const sampling: Sampling = at.every > 1 ? at : 'full';
  return { ...(await measureFrames(r)), sampling };
}

async function measureFrames(r: MeasureOutputRequest): Promise<Quality & { seconds: number }> {
  const source = {
    ffmpeg: r.ffmpeg,
    distorted: r.path,
    reference: r.input,
    referenceStream: r.probe.video!.index,
    referenceInputOptions: r.inputOptions,
    referenceFilters: r.video.filters,
    width: r.video.width,
    height: r.video.height,
    pixFmt: r.video.pixFmt,
    fps: r.probe.video!.fps,
    every: r.every,
    signal: r.signal,
    onSpawn: r.onSpawn,
  };
  const ref = r.rawReference;
  if (!ref) return measureQuality(source);
  try {
    if (!(await referenceCut(ref)))
      return await measureQuality({
        ...source,
        reference: `file:${ref.path}`,
        referenceStream: 0,
        referenceInputOptions: undefined,
        // Filtered, sampled, scaled and numbered already: the measurement's own chain leaves the frames as they are.
        referenceFilters: '',
        referenceSampled: true,
      });
  } catch (err) {
    if (asNommerError(err).code === 'CANCELED') throw err;
  } finally {
    await rm(ref.path, { force: true });
  }
  return measureQuality(source);
}

/**
 * Whether the raw reference stopped at its bound (`-frames:v maxFrames`): the source has more
 * frames than planned (its container claims less than it holds), so the reference misses some.
 * Each frame takes `frameBytes` in the file, so fewer than `maxFrames` frames fill less than
 * `maxFrames × frameBytes`; a file that size or more has reached the bound (or is not there).
 */
export async function referenceCut(ref: Pick<RawReference, 'path' | 'maxFrames' | 'frameBytes'>): Promise<boolean> {
  const st = await stat(ref.path).catch(() => undefined);
  return !st || st.size >= ref.maxFrames * ref.frameBytes;
}

/** Measure an output; a failure to measure is recorded (skipped), never fails the encode. */
export async function measureOutput(r: MeasureOutputRequest): Promise<OutputQuality> {
  try {
    return await measureAgainstSource(r);
  } catch (err) {
    const e = asNommerError(err);
    if (e.code === 'CANCELED') throw e;
    return { skipped: `measuring failed: ${e.message}` };
  }
}

/** Largest raw reference written beside an encode (and never more than a quarter of the free space there). */
export const RAW_REFERENCE_MAX_BYTES = 1024 ** 3;

export interface RawReference {
  path: string;
  /** The extra output to append to the command that writes the output (referenceOutputArgs). */
  args: string[];
  /** The most frames it is written with: the planned frames with a margin. */
  maxFrames: number;
  /** Bytes of one raw frame in it. */
  frameBytes: number;
}

/**
 * The raw reference of one output, when it is small enough to write beside the encode: its
 * source frames as the measurement compares them, uncompressed (see referenceOutputArgs), so
 * the measurement decodes only the output. Undefined for a pixel format it would not keep
 * exactly, or too many bytes (frames × size, with a margin) for the cap or the free space.
 * The frames are planned, not known (a container's duration can lie), so the reference is
 * written with that margin as its bound, and one that reaches it is not used (referenceCut).
 */
export async function rawReference(o: {
  dir: string;
  name: string;
  video: Pick<CompiledVideo, 'filters' | 'width' | 'height' | 'pixFmt'>;
  referenceStream: number;
  /** About how many frames the output has (duration × frame rate). */
  frames: number;
  /** Keep every Nth frame only (the measurement's sampleEvery). */
  every?: number;
}): Promise<RawReference | undefined> {
  const per = rawFrameBytes(o.video.pixFmt, o.video.width, o.video.height);
  if (per === undefined || !(o.frames > 0) || !Number.isFinite(o.frames)) return undefined;
  const maxFrames = Math.ceil((o.frames / Math.max(1, o.every ?? 1)) * 1.05 + 2);
  const bytes = per * maxFrames;
  if (bytes > RAW_REFERENCE_MAX_BYTES) return undefined;
  const fs = await statfs(o.dir).catch(() => undefined);
  if (!fs || bytes > (fs.bavail * fs.bsize) / 4) return undefined;
  const path = join(o.dir, o.name);
  await rm(path, { force: true });
  return {
    path,
    maxFrames,
    frameBytes: per,
    args: referenceOutputArgs(
      {
        referenceStream: o.referenceStream,
        referenceFilters: o.video.filters,
        width: o.video.width,
        height: o.video.height,
        pixFmt: o.video.pixFmt,
        every: o.every,
      },
      path,
      maxFrames,
    ),
  };
}

/** `commands` with each raw reference appended to the command that writes its output (the last naming its path; pure). */
export function withReferences(
  commands: readonly { args: readonly string[] }[],
  refs: readonly { outputPath: string; ref: RawReference | undefined }[],
): string[][] {
  const out = commands.map((c) => [...c.args]);
  for (const { outputPath, ref } of refs) {
    if (!ref) continue;
    let at = -1;
    out.forEach((args, i) => {
      if (args.includes(outputPath)) at = i;
    });
    if (at >= 0) out[at]!.push(...ref.args);
  }
  return out;
}

export interface SampleEncoder {
  /** Samples per probe: how many, and the seconds they cover. */
  samples: { count: number; seconds: number };
  /** Encode the samples at `crf` and return the score in the target's metric. */
  probe: (crf: number) => Promise<number>;
  /**
   * When the input (or chunk) is its own sample: the probe's encode at `crf`, kept with the
   * commands that wrote it and its full measurement, for the final encode at that CRF to take
   * (see takeProbe) instead of encoding and measuring the same again. Taking it hands the file
   * over (the encoder forgets it).
   */
  take: (crf: number) => KeptProbe | undefined;
  /** Remove the kept probe encodes nobody took. */
  dispose: () => Promise<void>;
}

/** A probe's encode of the whole input (or chunk), kept. */
export interface KeptProbe {
  path: string;
  /** The ffmpeg argument arrays that wrote it (without the runner's flags). */
  commands: string[][];
  quality: Quality & { seconds: number };
}

/**
 * Probes of the search for one output: the preset's video alone over the samples (the whole
 * input, or chunk, when it is short), at a CRF, measured like the final output. Samples of a long
 * input are cut once into a lossless clip (Ut Video or FFV1), so each probe encodes and measures
 * only them instead of decoding the whole input twice. A probe of a short input, its own sample,
 * is measured in full (SSIM and PSNR: one filter more) and its encode kept, since the final
 * encode at a probed CRF would run the very same command.
 */
export function sampleEncoder(o: SampleEncoderRequest): SampleEncoder {
  const windows = sampleWindows(o.duration);
  /** What the probes read: the input itself, or the samples cut from it once. */
  let source: Promise<ProbeSource> | undefined;
  const sourceOf = () => (source ??= probeSource(o, windows));
  let n = 0;
  const kept = new Map<number, KeptProbe>();
  return {
    take: (crf) => {
      const k = kept.get(crf);
      kept.delete(crf);
      return k;
    },
    dispose: async () => {
      const paths = [...kept.values()].map((k) => k.path);
      kept.clear();
      for (const p of paths) await rm(p, { force: true });
    },
    samples: {
      count: Math.max(1, windows.length),
      seconds: windows.length ? round3(windows.reduce((s, w) => s + (w.end - w.start), 0)) : round3(o.duration),
    },
    probe: async (crf) => {
      const src = await sourceOf();
      const path = join(o.workDir, `probe-${n++}-crf${crf}.webm`);
      return probeAt(o, { src, cut: windows.length > 0, kept }, path, crf);
    },
  };
}

export interface SampleEncoderRequest {
  ffmpeg: string;
  input: string;
  inputOptions?: string[];
  videoFilterPrefix?: string[];
  /** Seconds of the input (or chunk) the samples spread over. */
  duration: number;
  probe: ProbeInfo;
  preset: ResolvedPreset;
  encoders: ReadonlySet<string>;
  target: QualityTarget;
  workDir: string;
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

/** What the probes of one search read, as the compiler takes it. */
interface ProbeSource {
  input: string;
  inputOptions?: string[];
  prefix: string[];
  probe: ProbeInfo;
}

function runProbeFfmpeg(o: SampleEncoderRequest, args: string[]) {
  return runFfmpeg(o.ffmpeg, args, { signal: o.signal, onSpawn: o.onSpawn });
}

/** The input itself when there are no windows (it is its own sample), else the windows cut once
 * into a lossless clip in workDir. */
async function probeSource(o: SampleEncoderRequest, windows: readonly SampleWindow[]): Promise<ProbeSource> {
  if (windows.length === 0)
    return { input: o.input, inputOptions: o.inputOptions, prefix: o.videoFilterPrefix ?? [], probe: o.probe };
  const fps = o.probe.video?.fps ?? 30;
  const path = join(o.workDir, 'samples.mkv');
  const v = o.probe.video!;
  await runProbeFfmpeg(o, [...cutArgs(o, windows, fps), ...intermediateCodec(v), '-an', '-f', 'matroska', path]);
  // The cut clip is decoded and autorotated already: one stream, upright, constant rate.
  const probe: ProbeInfo = {
    ...o.probe,
    video: {
      ...v,
      index: 0,
      rotation: 0,
      width: v.displayWidth,
      height: v.displayHeight,
      vfr: false,
      startTime: 0,
    },
    audio: undefined,
  };
  return { input: `file:${path}`, prefix: [], probe };
}

/**
 * One probe: the preset's video alone over `src` at `crf` into `path`, scored in the target's
 * metric. Over cut samples only that score is measured; an input that is its own sample is
 * measured in full and its encode kept (in `kept`, by CRF) for takeProbe; any other file is removed.
 */
async function probeAt(
  o: SampleEncoderRequest,
  at: { src: ProbeSource; cut: boolean; kept: Map<number, KeptProbe> },
  path: string,
  crf: number,
): Promise<number> {
  const { src, kept } = at;
  const videoOnly: ResolvedPreset = { ...o.preset, audio: null };
  const compiled = compileJob({
    input: src.input,
    inputOptions: src.inputOptions,
    videoFilterPrefix: src.prefix,
    probe: src.probe,
    outputs: [{ preset: videoOnly, path, crf }],
    encoders: o.encoders,
    passlogDir: o.workDir,
  });
  const video = compiled.outputs[0]!.video!;
  const m = {
    ffmpeg: o.ffmpeg,
    distorted: path,
    reference: src.input,
    referenceStream: src.probe.video!.index,
    referenceInputOptions: src.inputOptions,
    referenceFilters: video.filters,
    width: video.width,
    height: video.height,
    pixFmt: video.pixFmt,
    fps: src.probe.video!.fps,
    signal: o.signal,
    onSpawn: o.onSpawn,
  };
  let keep = false;
  try {
    for (const c of compiled.commands) await runProbeFfmpeg(o, c.args);
    // The target's metric alone: the same score the full measurement reports for it.
    if (at.cut) return await measureScore(m, o.target.metric, o.target.pool);
    const quality = await measureQuality(m);
    const score = scoreOf(quality, o.target);
    if (score === undefined) return await measureScore(m, o.target.metric, o.target.pool);
    const old = kept.get(crf);
    if (old) await rm(old.path, { force: true });
    kept.set(crf, { path, commands: compiled.commands.map((c) => c.args), quality });
    keep = true;
    return score;
  } finally {
    if (!keep) await rm(path, { force: true });
  }
}

/** Pixel formats Ut Video keeps as they are (it has no 10-bit or full-range YUV). */
const UTVIDEO_FORMATS = new Set(['yuv420p', 'yuv422p', 'yuv444p']);

/**
 * The lossless codec of the cut samples, which every probe decodes twice (to encode, to
 * measure): Ut Video decodes about three times faster than FFV1 (0.10 against 0.30 s of CPU for
 * 3 s of noisy 320x180), for pixel formats it keeps exactly and progressive frames; FFV1 for
 * the rest (10-bit, full range, interlaced).
 */
export function intermediateCodec(v: Pick<VideoStreamInfo, 'pixFmt' | 'interlaced'>): string[] {
  return v.pixFmt && UTVIDEO_FORMATS.has(v.pixFmt) && !v.interlaced ? ['-c:v', 'utvideo'] : ['-c:v', 'ffv1'];
}

/**
 * The input side of cutting the samples (pure). A whole local file is read only around each
 * window: one input per window, seeked (`-ss` before `-i` decodes from the keyframe before the
 * window) and cut to its length, the pieces concatenated; the rest of the file is never decoded.
 * A chunk (input options and filters of its own) or a remote input keeps the one input through
 * `select`, which decodes all of it.
 */
export function cutArgs(
  o: { input: string; inputOptions?: readonly string[]; videoFilterPrefix?: readonly string[]; probe: ProbeInfo },
  windows: readonly SampleWindow[],
  fps: number,
): string[] {
  const v = o.probe.video!;
  const rate = fps > 0 && Number.isFinite(fps) ? fps : 30;
  const seekable = o.input.startsWith('file:') && !o.inputOptions?.length && !o.videoFilterPrefix?.length;
  if (!seekable)
    return [
      ...(o.inputOptions ?? []),
      '-i',
      o.input,
      '-map',
      `0:${v.index}`,
      '-vf',
      [...(o.videoFilterPrefix ?? []), ...sampleFilters(windows, fps)].join(','),
      '-fps_mode',
      'passthrough',
    ];
  // ffmpeg's input -ss counts from the file's start time (a window's start from the input's start).
  const inputs = windows.flatMap((w) => ['-ss', w.start.toFixed(3), '-t', (w.end - w.start).toFixed(3), '-i', o.input]);
  const pieces = windows.map((_, i) => `[${i}:${v.index}]setpts=PTS-STARTPTS[s${i}]`);
  const joined = `${windows.map((_, i) => `[s${i}]`).join('')}concat=n=${windows.length}:v=1:a=0,setpts=N/(${rate.toFixed(6)}*TB)[v]`;
  return [...inputs, '-filter_complex', [...pieces, joined].join(';'), '-map', '[v]', '-fps_mode', 'passthrough'];
}

/**
 * The final encode at `crf` taken from the probe that ran its very command (the input is its own
 * sample): when the kept probe's commands equal `commands` but for the output path, its file is
 * moved to `dest` and its measurement returned; otherwise undefined (and the kept file removed).
 */
export async function takeProbe(
  enc: Pick<SampleEncoder, 'take'>,
  crf: number,
  commands: readonly (readonly string[])[],
  dest: string,
): Promise<(Quality & { seconds: number }) | undefined> {
  const k = enc.take(crf);
  if (!k) return undefined;
  if (!sameCommands(k.commands, k.path, commands, dest)) {
    await rm(k.path, { force: true });
    return undefined;
  }
  try {
    await rename(k.path, dest);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    await copyFile(k.path, dest);
    await rm(k.path, { force: true });
  }
  return k.quality;
}

/** Whether two runs are the same commands, `path` in the first standing for `dest` in the second (pure). */
export function sameCommands(
  a: readonly (readonly string[])[],
  path: string,
  b: readonly (readonly string[])[],
  dest: string,
): boolean {
  return (
    a.length === b.length &&
    a.every((args, i) => args.length === b[i]!.length && args.every((x, j) => (x === path ? dest : x) === b[i]![j]))
  );
}

/** Average bitrate of a file over a duration, kbit/s. */
export async function averageKbps(path: string, seconds: number): Promise<number> {
  const st = await stat(path);
  return seconds > 0 ? Math.round((st.size * 8) / seconds / 10) / 100 : 0;
}

const round3 = (x: number) => Math.round(x * 1000) / 1000;
