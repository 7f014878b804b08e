// PSNR from the encode itself (issue 25): libvpx (VP8, VP9) and libaom (AV1) compute the PSNR of
// every frame they reconstruct when asked (`-flags:v +psnr`), and their reconstruction is what a
// decoder outputs. Measuring that way costs no second ffmpeg run and no raw reference; the
// bitstream is the same byte for byte (checked on VP9: same md5 with and without the flag).
// What ffmpeg 5.1 hands on, and so what the record says:
// - the whole output's PSNR over all planes, from the summed squared errors (the progress
//   block's `stream_F_S_psnr_all` at the end: the psnr filter's "average", to 0.01 dB; ffmpeg
//   reports it for the first video stream of a run only);
// - each frame's luma PSNR (`-vstats_file`: `PSNR=` per frame, to 0.01 dB; no chroma per frame).
//   Its distribution is `pooledLuma.psnrY`, named apart from `pooled.psnr` (all planes).
// No SSIM: an output that needs it (a target, a gate on a figure other than `psnr`,
// `quality.ssim`) keeps the decode pass (encode-quality.ts), and so does any other encoder.
import { readFile } from 'node:fs/promises';
import type { CompiledVideo } from '../presets/compile.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { DIGITS, type FrameNumbering, poolScores } from './pool.js';
import type { OutputQuality } from './types.js';

/** Encoders whose PSNR ffmpeg reports (SVT-AV1, Theora and WebP report none). */
const REPORTS_PSNR = new Set(['libvpx', 'libvpx-vp9', 'libaom-av1']);

/**
 * Whether output's quality comes from its encoder: no target, no gate that needs more than the
 * mean PSNR, no `quality.ssim`, an encoder that reports PSNR, and 8-bit 4:2:0 at an even size
 * (ffmpeg weighs the planes as 4:2:0 on a 0..255 scale; anything else would be mis-scaled).
 */
export function measuredByEncoder(preset: ResolvedPreset, video: CompiledVideo | undefined, target: boolean): boolean {
  const q = preset.quality;
  if (!video || target || q?.ssim || q?.target) return false;
  if (Object.keys(q?.gates ?? {}).some((figure) => figure !== 'psnr')) return false;
  return (
    REPORTS_PSNR.has(video.encoder) && video.pixFmt === 'yuv420p' && video.width % 2 === 0 && video.height % 2 === 0
  );
}

/**
 * `args` of a run with `-flags:v +psnr` on the outputs at `paths` (before each path, so only
 * their streams) and the per-frame stats written into `vstats` (pure).
 */
export function withEncoderPsnr(args: readonly string[], paths: readonly string[], vstats: string): string[] {
  const out = ['-vstats_file', vstats];
  for (const a of args) {
    if (paths.includes(a)) out.push('-flags:v', '+psnr');
    out.push(a);
  }
  return out;
}

/** Which output file of a run `path` is (its rank among the run's `outputs` in the argv; pure), or -1. */
export function fileIndexOf(args: readonly string[], outputs: readonly string[], path: string): number {
  return args.filter((a) => outputs.includes(a)).indexOf(path);
}

/**
 * Each output file's per-frame luma PSNR from a vstats file's text (pure): lines
 * `out= F st= S frame= N q= .. PSNR= 43.78 ...`, stream 0 only (the output's video), in order.
 */
export function parseVstats(text: string): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const line of text.split('\n')) {
    const m = /^out=\s*(\d+)\s+st=\s*0\s+frame=\s*\d+\s+q=\s*\S+\s+PSNR=\s*([0-9.]+|inf)\s/.exec(line);
    if (!m) continue;
    const f = Number(m[1]);
    const x = m[2] === 'inf' ? 100 : Math.min(100, Number(m[2]));
    if (!out.has(f)) out.set(f, []);
    out.get(f)!.push(x);
  }
  return out;
}

/**
 * What one run reported of one output's PSNR: its all-plane average, its frames' luma, and how
 * many frames the run wrote for it (the progress block's `frame`: ffmpeg counts the run's first
 * video output, the one the encoder measures).
 */
export interface EncoderReport {
  psnrAll: number | undefined;
  lumaFrames: readonly number[];
  frames: number | undefined;
}

/**
 * The record of an output measured by its encoder, or undefined when the run did not report it
 * whole (no average, or fewer frames than the output holds: the caller measures by decoding).
 */
export function encoderQuality(r: EncoderReport, fps: number): OutputQuality | undefined {
  if (r.psnrAll === undefined || !Number.isFinite(r.psnrAll) || r.lumaFrames.length === 0) return undefined;
  if (r.frames !== undefined && r.lumaFrames.length !== r.frames) return undefined;
  const at: FrameNumbering = { first: 0, every: 1, fps: fps > 0 && Number.isFinite(fps) ? fps : 30 };
  return {
    psnr: Math.min(100, r.psnrAll),
    source: 'encoder',
    sampling: 'full',
    pooledLuma: { frames: r.lumaFrames.length, psnrY: poolScores(r.lumaFrames, at, DIGITS.psnr) },
    seconds: 0,
  };
}

/** The per-frame luma PSNR of output file `file` in a run's vstats file (none when unreadable). */
export async function readVstats(path: string, file: number): Promise<number[]> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return parseVstats(text).get(file) ?? [];
}
