// A title joined from different lavfi clips, so it has hard cuts at known frames, encoded with
// keyframes on a fixed grid that ignores the cuts (x264 without scene-cut keyframes).
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { localFileStorage } from '../../src/backends.js';
import { encode } from '../../src/encode.js';
import { locateFfmpeg } from '../../src/ffmpeg/locate.js';
import { applyOverrides } from '../../src/presets/overrides.js';
import { getPreset } from '../../src/presets/registry.js';
import { ssim } from './chunked.js';
import { cachedFfmpegOutput, clipCacheFile, FFMPEG } from './media.js';

/**
 * Sources whose consecutive frames differ little (no random start): only the joins are cuts. The
 * gradient's colours are given, since by default they are random: a title is then the same file
 * every time, and a size measured on it can be compared with one measured before.
 */
const SOURCES = [
  'testsrc2',
  'mandelbrot',
  'smptebars',
  'gradients=speed=0.05:c0=0x2040a0:c1=0xe0c060:seed=1',
  'testsrc',
  'rgbtestsrc',
  'yuvtestsrc',
] as const;

export interface CutTitle {
  path: string;
  fps: number;
  frames: number;
  /** First frame of every clip but the first: the hard cuts. */
  cuts: number[];
}

/** Clips of these lengths (seconds, whole frames at fps) joined into `path` (.mp4, H.264). */
export function makeCutTitle(
  path: string,
  clipSeconds: readonly number[],
  o: {
    fps?: number;
    width?: number;
    height?: number;
    gopSeconds?: number;
    audio?: boolean;
    /** Film-grain-like noise (strength 0-100): a source that costs what a real one does to decode. */
    noise?: number;
    preset?: string;
    /** Bit rate (kb/s) instead of CRF 18: what a delivered source has. */
    kbps?: number;
  } = {},
): CutTitle {
  const fps = o.fps ?? 25;
  const size = `${o.width ?? 320}x${o.height ?? 180}`;
  const frames = clipSeconds.map((s) => Math.round(s * fps));
  const inputs = clipSeconds.flatMap((_, i) => {
    const src = SOURCES[i % SOURCES.length]!;
    const sep = src.includes('=') ? ':' : '=';
    return ['-f', 'lavfi', '-i', `${src}${sep}s=${size}:r=${fps}`];
  });
  const parts = frames.map((n, i) => `[${i}:v]trim=end_frame=${n},setpts=PTS-STARTPTS,format=yuv420p[c${i}]`);
  const grain = o.noise ? `,noise=alls=${o.noise}:allf=t` : '';
  const graph = `${parts.join(';')};${frames.map((_, i) => `[c${i}]`).join('')}concat=n=${frames.length}:v=1:a=0${grain}[v]`;
  const total = frames.reduce((a, b) => a + b, 0);
  const gop = Math.round((o.gopSeconds ?? 2) * fps);
  const audio = o.audio ? ['-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000:duration=${total / fps}`] : [];
  // The same title (its arguments) asked for by several files of a run is made once (the clip
  // cache, helpers/media.ts): scenes-e2e, scenes-aws and scenes-replan cut the same shots.
  cachedFfmpegOutput(
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      ...inputs,
      ...audio,
      '-filter_complex',
      graph,
      '-map',
      '[v]',
      ...(o.audio ? ['-map', `${frames.length}:a`, '-c:a', 'aac', '-b:a', '64k'] : []),
      '-c:v',
      'libx264',
      '-preset',
      o.preset ?? 'veryfast',
      ...(o.kbps
        ? ['-b:v', `${o.kbps}k`, '-maxrate', `${o.kbps * 1.5}k`, '-bufsize', `${o.kbps * 2}k`]
        : ['-crf', '18']),
      '-g',
      String(gop),
      '-keyint_min',
      String(gop),
      '-sc_threshold',
      '0',
      '-bf',
      '2',
      '-pix_fmt',
      'yuv420p',
    ],
    path,
  );
  const cuts: number[] = [];
  let at = 0;
  for (const n of frames.slice(0, -1)) cuts.push((at += n));
  return { path, fps, frames: total, cuts };
}

/**
 * Where each chunk of a job's plan starts (frames), from the job as the API gives it (what
 * `nommer status --json` prints; read here without starting a CLI process).
 */
export function planStarts(detail: { job: { chunks?: Array<{ start: number; frames: number; sceneCut: boolean }> } }): {
  starts: number[];
  chunks: Array<{ start: number; frames: number; sceneCut: boolean }>;
} {
  const chunks = detail.job.chunks;
  if (!chunks) throw new Error('the job has no chunk plan');
  return { chunks, starts: chunks.map((_, i) => chunks.slice(0, i).reduce((s, c) => s + c.frames, 0)) };
}

/**
 * The title encoded whole with the same preset (webm with `set`) in this process, and both
 * encodes' SSIM against the source and sizes: what the issue's "done when" compares.
 */
export async function againstWholeFile(
  title: CutTitle,
  chunkedOut: string,
  set: readonly string[],
): Promise<{
  chunked: { all: number; frames: number };
  whole: { all: number; path: string };
  ratio: number;
  line: string;
}> {
  const { whole, single } = await wholeFileEncode(title, chunkedOut, set);
  const chunked = ssim(chunkedOut, title.path);
  const [a, b] = [statSync(chunkedOut).size, statSync(whole).size];
  const line = `SSIM chunked ${chunked.all} whole ${single.all}; bytes chunked ${a} whole ${b} (${(a / b).toFixed(3)}×)`;
  return { chunked, whole: { all: single.all, path: whole }, ratio: a / b, line };
}

/**
 * The whole-file encode of `title` with the webm preset and `set`, and its SSIM against the title.
 * Within a run (the clip cache, helpers/media.ts) it is made once for the same title bytes, preset
 * settings and ffmpeg, and copied: scenes-e2e and scenes-aws compare their chunked outputs with
 * the encode of the same title at the same settings, a libvpx run and an SSIM pass each.
 */
async function wholeFileEncode(
  title: CutTitle,
  chunkedOut: string,
  set: readonly string[],
): Promise<{ whole: string; single: { all: number; min: number; frames: number } }> {
  const whole = join(dirname(chunkedOut), `whole-${basename(chunkedOut)}`);
  const cached = clipCacheFile(
    ['whole-file webm', FFMPEG, createHash('sha256').update(readFileSync(title.path)).digest('hex'), set],
    '.webm',
  );
  const cachedSsim = cached && `${cached}.ssim.json`;
  if (cached && cachedSsim && existsSync(cachedSsim)) {
    copyFileSync(cached, whole);
    return { whole, single: JSON.parse(readFileSync(cachedSsim, 'utf8')) };
  }
  const preset = applyOverrides(getPreset('webm', {}), [...set]);
  await encode({
    ffmpeg: locateFfmpeg(),
    storage: localFileStorage(),
    input: title.path,
    outputs: [{ preset, path: whole }],
  });
  const single = ssim(whole, title.path);
  if (cached && cachedSsim) {
    // Test files run in parallel: the encode, then its SSIM, each put in place whole (the SSIM
    // last: it is what says the entry is there).
    copyFileSync(whole, `${cached}.${process.pid}.tmp`);
    renameSync(`${cached}.${process.pid}.tmp`, cached);
    writeFileSync(`${cachedSsim}.${process.pid}.tmp`, JSON.stringify(single));
    renameSync(`${cachedSsim}.${process.pid}.tmp`, cachedSsim);
  }
  return { whole, single };
}
