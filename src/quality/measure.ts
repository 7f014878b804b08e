// The metric runner: one ffmpeg run per output that decodes the output and its source once and
// feeds both filters (and libvmaf where this ffmpeg has it) through split, so measuring costs one
// decode of each, not one per metric. What a video engineer checks:
// - the source goes through the output's own filters (a chunk's trim, deinterlace, the scale to
//   the output's size), so only the codec's loss is measured, at the output's size;
// - frames are paired by number (settb + setpts=N on both sides): WebM's 1 ms timestamps
//   would otherwise pair frames that are not the same picture;
// - SSIM is the filter's "All", PSNR its "average" (from the mean MSE), read from the summaries
//   the filters log at info level. At that level ffmpeg also prints every input's metadata, so
//   a summary counts only as a whole line from a filter of this run, named with a fresh random
//   tag (`ssim@<tag>`): a title or a tag name that reads like a summary cannot set a score.
// - the distribution (pool.ts) is from the filters' per-frame stats files, written into a private
//   temp directory, never from the log: ffmpeg writes them, no input's text can.
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { NommerError } from '../errors.js';
import { ffmpegCapabilities } from '../ffmpeg/locate.js';
import { runFfmpeg } from '../ffmpeg/run.js';
import { DIGITS, type FrameNumbering, inOrder, parsePsnrLine, parseSsimLine, poolQuality, poolScores } from './pool.js';
import type { Metric, Pool, Quality } from './types.js';

export interface MeasureRequest {
  ffmpeg: string;
  /** The encoded file (a local path). */
  distorted: string;
  /** The source as ffmpeg reads it (ffmpegInputArg). */
  reference: string;
  /** The source's video stream index (the one the encode mapped). */
  referenceStream: number;
  /** Input options of the source, as the encode read it (a chunk's -copyts and seek). */
  referenceInputOptions?: readonly string[];
  /** The output's video filters ('' for none): the reference gets them too. */
  referenceFilters: string;
  width: number;
  height: number;
  /** The output's pixel format (both sides are compared in it). */
  pixFmt: string;
  /** The output's frames per second, to time its worst frames (30 when unknown, as the compiler assumes). */
  fps?: number;
  /** Compare every Nth frame only (1 or unset: all); see sampleFilter. */
  every?: number;
  /** The reference holds the sampled frames already (a raw reference written sampled). */
  referenceSampled?: boolean;
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

/** Which metrics this ffmpeg can measure. */
export async function availableMetrics(ffmpeg: string): Promise<{ ssim: boolean; psnr: boolean; vmaf: boolean }> {
  const { filters } = await ffmpegCapabilities(ffmpeg);
  return { ssim: filters.has('ssim'), psnr: filters.has('psnr'), vmaf: filters.has('libvmaf') };
}

const FILTER: Record<Metric, string> = { ssim: 'ssim', psnr: 'psnr', vmaf: 'libvmaf' };

/** A fresh name for the metric filters of one run, which no input can know in advance. */
export function measureTag(): string {
  return `m${randomBytes(8).toString('hex')}`;
}

/**
 * The filtergraph of one measurement (pure): SSIM and PSNR (and VMAF with `vmaf`), or only the
 * metric `only` (a search's probe needs its target's metric alone: one filter, no split). With
 * `tag`, each metric filter is named `<filter>@<tag>`, the name its log lines start with; with
 * `stats`, SSIM and PSNR write their per-frame scores into those files.
 */
export function measureGraph(
  r: Pick<
    MeasureRequest,
    'referenceStream' | 'referenceFilters' | 'width' | 'height' | 'pixFmt' | 'every' | 'referenceSampled'
  >,
  vmaf: boolean,
  only?: Metric,
  tag?: string,
  stats?: StatsFiles,
): string {
  const metrics: Metric[] = only ? [only] : ['ssim', 'psnr', ...(vmaf ? (['vmaf'] as const) : [])];
  const n = metrics.length;
  const labels = (p: string) => Array.from({ length: n }, (_, i) => `[${p}${i}]`).join('');
  const ref = referenceChain(r.referenceSampled ? { ...r, every: undefined } : r);
  const fan = (p: string) => (n > 1 ? `,split=${n}${labels(p)}` : `[${p}0]`);
  const sample = sampleFilter(r.every);
  return [
    `[0:v:0]${sample ? `${sample},` : ''}${BY_NUMBER},format=${r.pixFmt}${fan('d')}`,
    `[1:${r.referenceStream}]${ref}${fan('r')}`,
    ...metrics.map((m, i) => {
      const file = m === 'vmaf' ? undefined : stats?.[m];
      return `[d${i}][r${i}]${FILTER[m]}${tag ? `@${tag}` : ''}${file ? `=stats_file=${filterPath(file)}` : ''}`;
    }),
  ].join(';');
}

/** Where SSIM and PSNR write their per-frame scores. */
export type StatsFiles = Partial<Record<'ssim' | 'psnr', string>>;

/**
 * A path as a filter option's value inside a filtergraph (pure): escaped for the option parser
 * (`\`, `'`, `:`), then for the graph (`\`, `'`, `[`, `]`, `,`, `;`), so a temp directory
 * named anyhow (TMPDIR) stays one value.
 */
export function filterPath(path: string): string {
  const value = path.replace(/[\\':]/g, (c) => `\\${c}`);
  return value.replace(/[\\'[\],;]/g, (c) => `\\${c}`);
}

const BY_NUMBER = 'settb=1/30,setpts=N';

/**
 * Every Nth frame from the middle of the first N (never frame 0, a keyframe that scores above the
 * rest), or '' for all (pure). Both sides count the same frames
 * (the output's, and the source's after the output's filters), so the kept ones still pair; the
 * source's are dropped before they are scaled. The output is still decoded whole (its frames
 * depend on each other); what sampling saves is the metrics and the reference's scaling.
 */
export function sampleFilter(every: number | undefined): string {
  const at = sampledFrames(every);
  return at.every > 1 ? `select=eq(mod(n\\,${at.every})\\,${at.first})` : '';
}

/** Which frames sampleFilter keeps: every `every`th from `first` (0-based; every 1: all, pure). */
export function sampledFrames(every: number | undefined): { first: number; every: number } {
  return every && every > 1 ? { first: Math.floor(every / 2), every } : { first: 0, every: 1 };
}

/** What the source goes through to be compared: the output's filters, its size and format, frames by number (pure). */
export function referenceChain(
  r: Pick<MeasureRequest, 'referenceFilters' | 'width' | 'height' | 'pixFmt' | 'every'>,
): string {
  return [r.referenceFilters, sampleFilter(r.every), `scale=${r.width}:${r.height}`, `format=${r.pixFmt}`, BY_NUMBER]
    .filter(Boolean)
    .join(',');
}

/** Pixel formats the raw reference keeps exactly through NUT (a full-range `yuvj` one reads back as limited). */
const RAW_FORMATS: Record<string, number> = {
  yuv420p: 1.5,
  yuv422p: 2,
  yuv444p: 3,
  yuv420p10le: 3,
  yuv422p10le: 4,
  yuv444p10le: 6,
};

/** Bytes per frame of the raw reference in `pixFmt`, or undefined when it is not kept (pure). */
export function rawFrameBytes(pixFmt: string, width: number, height: number): number | undefined {
  const k = RAW_FORMATS[pixFmt];
  return k === undefined ? undefined : Math.ceil(width * height * k);
}

/**
 * The extra output an encode command gets to write its source, as the measurement compares it
 * (referenceChain), uncompressed into `path` (pure): the encode decodes the source anyway, so the
 * measurement reads these frames instead of decoding the source a second time. The chain's
 * frames are written as they come (passthrough), numbered as the measurement numbers them, but
 * never more than `maxFrames`: the plan comes from the container's claimed duration, and a
 * file that claims a second but holds an hour must not fill the disk with raw frames.
 */
export function referenceOutputArgs(
  r: Pick<MeasureRequest, 'referenceStream' | 'referenceFilters' | 'width' | 'height' | 'pixFmt' | 'every'>,
  path: string,
  maxFrames: number,
): string[] {
  return [
    ...['-map', `0:${r.referenceStream}`, '-vf', referenceChain(r), '-fps_mode', 'passthrough'],
    ...['-frames:v', String(maxFrames)],
    ...['-c:v', 'rawvideo', '-f', 'nut', path.startsWith('/') ? path : `file:${path}`],
  ];
}

/** ffmpeg's argv for a measurement (after the runner's own flags; pure). */
export function measureArgs(
  r: MeasureRequest,
  vmaf: boolean,
  only?: Metric,
  tag?: string,
  stats?: StatsFiles,
): string[] {
  return [
    '-i',
    r.distorted.startsWith('/') ? r.distorted : `file:${r.distorted}`,
    ...(r.referenceInputOptions ?? []),
    '-i',
    r.reference,
    '-filter_complex',
    measureGraph(r, vmaf, only, tag, stats),
    '-f',
    'null',
    '-',
  ];
}

/**
 * The last whole line of `stderr` logged by the metric filter `filter` (named with `tag`, or
 * ffmpeg's default `Parsed_<filter>_N` without one) that starts with `text`, and its first
 * group of `value` (pure). The filters log their summaries when the graph closes, after every
 * metadata dump.
 */
function filterLine(stderr: string, filter: string, tag: string | undefined, text: string, value: string) {
  const name = tag ? `${filter}@${tag}` : `Parsed_${filter}_\\d+`;
  const line = new RegExp(`^\\[${name} @ [^\\]\\n]+\\] ${text}[^\\n]*?${value}`, 'gm');
  return [...stderr.matchAll(line)].at(-1)?.[1];
}

/**
 * The scores in a measurement's stderr (pure), from the metric filters' own summary lines only
 * (see measureTag); undefined for a metric it does not report.
 */
export function parseScores(stderr: string, tag?: string): Partial<Quality> {
  const ssim = filterLine(stderr, 'ssim', tag, 'SSIM ', 'All:([0-9.]+)');
  const psnr = filterLine(stderr, 'psnr', tag, 'PSNR ', 'average:([0-9.]+|inf)');
  const vmaf = filterLine(stderr, 'libvmaf', tag, 'VMAF score', '[:=]\\s*([0-9.]+)');
  const out: Partial<Quality> = {};
  if (ssim !== undefined) out.ssim = Number(ssim);
  if (psnr !== undefined) out.psnr = psnr === 'inf' ? 100 : Math.min(100, Number(psnr));
  if (vmaf !== undefined) out.vmaf = Number(vmaf);
  return out;
}

/**
 * Measure one output against its source: SSIM and PSNR (and VMAF where available), one ffmpeg run,
 * with SSIM and PSNR pooled over the measured frames (`pooled`; absent when a stats file reads short).
 */
export async function measureQuality(r: MeasureRequest): Promise<Quality & { seconds: number }> {
  const started = Date.now();
  const { vmaf } = await availableMetrics(r.ffmpeg);
  const tag = measureTag();
  const { s, frames } = await withStatsFiles(async (stats) => {
    const stderr = await runFfmpeg(r.ffmpeg, measureArgs(r, vmaf, undefined, tag, stats), {
      signal: r.signal,
      onSpawn: r.onSpawn,
      logLevel: 'info',
    });
    return { s: parseScores(stderr, tag), frames: await readStats(stats) };
  });
  if (s.ssim === undefined || s.psnr === undefined || !Number.isFinite(s.ssim) || !Number.isFinite(s.psnr))
    throw new NommerError('FFMPEG_FAILED', 'ffmpeg measured no SSIM/PSNR for the output', {
      hint: 'the output may have no video frames; run with --no-quality to skip measuring',
    });
  const pooled = poolQuality(frames.ssim, frames.psnr, numbering(r));
  return {
    ssim: round(s.ssim, 6),
    psnr: round(s.psnr, 3),
    ...(s.vmaf !== undefined ? { vmaf: round(s.vmaf, 3) } : {}),
    ...(pooled ? { pooled } : {}),
    seconds: round((Date.now() - started) / 1000, 3),
  };
}

/** How the measured frames of `r` are numbered in the output (pure). */
function numbering(r: Pick<MeasureRequest, 'every' | 'fps'>): FrameNumbering {
  const fps = r.fps !== undefined && r.fps > 0 && Number.isFinite(r.fps) ? r.fps : 30;
  return { ...sampledFrames(r.every), fps };
}

/** Run `f` with stats file paths in a fresh private directory, removed after. */
async function withStatsFiles<T>(f: (stats: Required<StatsFiles>) => Promise<T>): Promise<T> {
  const dir = await mkdtemp(join(tmpdir(), 'nommer-frames-'));
  try {
    return await f({ ssim: join(dir, 'ssim.log'), psnr: join(dir, 'psnr.log') });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The per-frame scores of both stats files (an absent file reads as none). */
async function readStats(stats: Required<StatsFiles>) {
  return {
    ssim: await readFrameScores(stats.ssim, parseSsimLine),
    psnr: await readFrameScores(stats.psnr, parsePsnrLine),
  };
}

/** A stats file's scores by frame count `n`, a line at a time (a long title's full measurement is many lines). */
export async function readFrameScores(
  path: string,
  parse: (line: string) => [number, number] | undefined,
): Promise<Map<number, number>> {
  const out = new Map<number, number>();
  const stream = createReadStream(path, { encoding: 'utf8' });
  const opened = new Promise<boolean>((resolve) => {
    stream.once('open', () => resolve(true));
    stream.once('error', () => resolve(false));
  });
  if (!(await opened)) return out;
  for await (const line of createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY })) {
    const v = parse(line);
    if (v) out.set(v[0], v[1]);
  }
  return out;
}

/**
 * One metric alone (a search's probe): one filter instead of all, and no summary of the others.
 * The score is the same the full measurement reports for that metric: its average, or with
 * `pool` that figure of its frames (from its stats file).
 */
export async function measureScore(r: MeasureRequest, metric: Metric, pool?: Pool): Promise<number> {
  const tag = measureTag();
  const score = await withStatsFiles(async (stats) => {
    const files = pool && metric !== 'vmaf' ? { [metric]: stats[metric] } : undefined;
    const stderr = await runFfmpeg(r.ffmpeg, measureArgs(r, false, metric, tag, files), {
      signal: r.signal,
      onSpawn: r.onSpawn,
      logLevel: 'info',
    });
    if (!files || metric === 'vmaf') return parseScores(stderr, tag)[metric];
    const frames = inOrder(await readFrameScores(stats[metric], metric === 'ssim' ? parseSsimLine : parsePsnrLine));
    return frames && poolScores(frames, numbering(r), DIGITS[metric])[pool!];
  });
  if (score === undefined || !Number.isFinite(score))
    throw new NommerError('FFMPEG_FAILED', `ffmpeg measured no ${metric} for the samples`, {
      hint: 'the samples may have no video frames',
    });
  return score;
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
