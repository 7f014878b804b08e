// The metric runner: one ffmpeg run per output that decodes the output and its source once and
// feeds both filters (and libvmaf where this ffmpeg has it) through split, so measuring costs one
// decode of each, not one per metric. What a video engineer checks:
// - the source goes through the output's own filters (a chunk's trim, deinterlace, the scale to
//   the output's size), so only the codec's loss is measured, at the output's size;
// - frames are paired by number (settb + setpts=N on both sides): WebM's 1 ms timestamps
//   would otherwise pair frames that are not the same picture;
// - SSIM is the filter's "All", PSNR its "average" (from the mean MSE), read from the summaries
//   the filters log at info level.
import { NommerError } from '../errors.js';
import { ffmpegCapabilities } from '../ffmpeg/locate.js';
import { runFfmpeg } from '../ffmpeg/run.js';
import type { Quality } from './types.js';

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
  signal?: AbortSignal;
  onSpawn?: (pid: number) => void;
}

/** Which metrics this ffmpeg can measure. */
export async function availableMetrics(ffmpeg: string): Promise<{ ssim: boolean; psnr: boolean; vmaf: boolean }> {
  const { filters } = await ffmpegCapabilities(ffmpeg);
  return { ssim: filters.has('ssim'), psnr: filters.has('psnr'), vmaf: filters.has('libvmaf') };
}

/** The filtergraph of one measurement (pure). */
export function measureGraph(
  r: Pick<MeasureRequest, 'referenceStream' | 'referenceFilters' | 'width' | 'height' | 'pixFmt'>,
  vmaf: boolean,
): string {
  const n = vmaf ? 3 : 2;
  const byNumber = 'settb=1/30,setpts=N';
  const labels = (p: string) => Array.from({ length: n }, (_, i) => `[${p}${i}]`).join('');
  const ref = [r.referenceFilters, `scale=${r.width}:${r.height}`, `format=${r.pixFmt}`, byNumber]
    .filter(Boolean)
    .join(',');
  return [
    `[0:v:0]${byNumber},format=${r.pixFmt},split=${n}${labels('d')}`,
    `[1:${r.referenceStream}]${ref},split=${n}${labels('r')}`,
    '[d0][r0]ssim',
    '[d1][r1]psnr',
    ...(vmaf ? ['[d2][r2]libvmaf'] : []),
  ].join(';');
}

/** ffmpeg's argv for a measurement (after the runner's own flags; pure). */
export function measureArgs(r: MeasureRequest, vmaf: boolean): string[] {
  return [
    '-i',
    r.distorted.startsWith('/') ? r.distorted : `file:${r.distorted}`,
    ...(r.referenceInputOptions ?? []),
    '-i',
    r.reference,
    '-filter_complex',
    measureGraph(r, vmaf),
    '-f',
    'null',
    '-',
  ];
}

/** The scores in a measurement's stderr (pure); undefined for a metric it does not report. */
export function parseScores(stderr: string): Partial<Quality> {
  const ssim = /\] SSIM .*All:([0-9.]+)/.exec(stderr)?.[1];
  const psnr = /\] PSNR .*average:([0-9.]+|inf)/.exec(stderr)?.[1];
  const vmaf = /VMAF score[:=]\s*([0-9.]+)/.exec(stderr)?.[1];
  const out: Partial<Quality> = {};
  if (ssim !== undefined) out.ssim = Number(ssim);
  if (psnr !== undefined) out.psnr = psnr === 'inf' ? 100 : Math.min(100, Number(psnr));
  if (vmaf !== undefined) out.vmaf = Number(vmaf);
  return out;
}

/** Measure one output against its source: SSIM and PSNR (and VMAF where available), one ffmpeg run. */
export async function measureQuality(r: MeasureRequest): Promise<Quality & { seconds: number }> {
  const started = Date.now();
  const { vmaf } = await availableMetrics(r.ffmpeg);
  const stderr = await runFfmpeg(r.ffmpeg, measureArgs(r, vmaf), {
    signal: r.signal,
    onSpawn: r.onSpawn,
    logLevel: 'info',
  });
  const s = parseScores(stderr);
  if (s.ssim === undefined || s.psnr === undefined || !Number.isFinite(s.ssim) || !Number.isFinite(s.psnr))
    throw new NommerError('FFMPEG_FAILED', 'ffmpeg measured no SSIM/PSNR for the output', {
      hint: 'the output may have no video frames; run with --no-quality to skip measuring',
    });
  return {
    ssim: round(s.ssim, 6),
    psnr: round(s.psnr, 3),
    ...(s.vmaf !== undefined ? { vmaf: round(s.vmaf, 3) } : {}),
    seconds: round((Date.now() - started) / 1000, 3),
  };
}

const round = (x: number, d: number) => Math.round(x * 10 ** d) / 10 ** d;
