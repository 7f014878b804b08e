// Tiny test clips generated with ffmpeg's lavfi sources (never committed), and ffprobe helpers
// for asserting on outputs.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, resolve } from 'node:path';

export const FFMPEG = process.env.NOMMER_FFMPEG || 'ffmpeg';
export const FFPROBE = process.env.NOMMER_FFPROBE || 'ffprobe';

export function tempDir(prefix = 'nommer-test-'): { path: string; cleanup(): void } {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

export interface ClipOptions {
  seconds?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** Add a sine audio track with this many channels (0 = no audio). */
  audioChannels?: number;
  /** Video source: testsrc2 (default), or noise for hard-to-compress content. */
  source?: 'testsrc2' | 'noise';
  /** Omit video entirely (audio-only file). */
  noVideo?: boolean;
  /** Write a rotation (display matrix) of this many degrees (mp4/mov only). */
  rotate?: number;
  /** Extra output args (e.g. container-specific). */
  extra?: string[];
}

/** Generate a clip at `path` (container from its extension). H.264/AAC for mp4/mov, MPEG-4 part 2/MP3 for avi. */
export function makeClip(path: string, o: ClipOptions = {}): string {
  const seconds = o.seconds ?? 2;
  const w = o.width ?? 320,
    h = o.height ?? 240,
    fps = o.fps ?? 25;
  const args = ['-hide_banner', '-loglevel', 'error', '-y'];
  if (!o.noVideo) {
    const src =
      o.source === 'noise'
        ? `testsrc2=size=${w}x${h}:rate=${fps},noise=alls=60:allf=t+u`
        : `testsrc2=size=${w}x${h}:rate=${fps}`;
    args.push('-f', 'lavfi', '-i', src);
  }
  const ch = o.audioChannels ?? 2;
  if (ch > 0) {
    const layout = ch === 1 ? 'mono' : ch === 2 ? 'stereo' : ch === 6 ? '5.1' : `${ch}c`;
    args.push('-f', 'lavfi', '-i', `sine=frequency=440:sample_rate=48000,aformat=channel_layouts=${layout}`);
  }
  args.push('-t', String(seconds));
  if (!o.noVideo) {
    if (o.source === 'noise') args.push('-vf', 'null');
    if (path.endsWith('.avi')) args.push('-c:v', 'mpeg4', '-q:v', '5', '-bf', '2');
    else args.push('-c:v', 'libx264', '-preset', 'ultrafast', '-pix_fmt', 'yuv420p', '-g', String(fps * 2));
  }
  if (ch > 0) args.push('-c:a', path.endsWith('.avi') ? 'libmp3lame' : 'aac');
  if (o.rotate) args.push('-metadata:s:v:0', `rotate=${o.rotate}`);
  args.push(...(o.extra ?? []));
  return cachedFfmpegOutput(args, path);
}

function runFfmpeg(args: string[], path: string): string {
  const r = spawnSync(FFMPEG, args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`making test clip ${path} failed: ${r.stderr}`);
  return path;
}

/**
 * `npm test` sets NOMMER_TEST_CLIPS to a folder it empties first: a clip asked for again in the
 * same run (same ffmpeg arguments and container) is made once and copied, not encoded again.
 * Without it, every clip is made afresh.
 */
const CLIP_CACHE = process.env.NOMMER_TEST_CLIPS ? resolve(process.env.NOMMER_TEST_CLIPS) : undefined;

function fromCache(args: string[], path: string): string | undefined {
  const cached = clipCacheFile([FFMPEG, extname(path), args], extname(path));
  if (!cached) return undefined;
  if (!existsSync(cached)) {
    // Test files run in parallel: each writes its own temp file and renames it into place whole.
    const tmp = `${cached}.${process.pid}.tmp${extname(path)}`;
    runFfmpeg([...args, tmp], tmp);
    renameSync(tmp, cached);
  }
  copyFileSync(cached, path);
  return path;
}

/** A clip made by ffmpeg with `args` (output path last) into `path`, through the run's clip cache. */
export function cachedFfmpegOutput(args: string[], path: string): string {
  return fromCache(args, path) ?? runFfmpeg([...args, path], path);
}

/**
 * Where the run's clip cache keeps the file named by `parts` (everything its content depends on),
 * or undefined when there is no cache (NOMMER_TEST_CLIPS unset). The caller writes it whole
 * (a temp name, then rename), as test files run in parallel.
 */
export function clipCacheFile(parts: unknown[], ext: string): string | undefined {
  if (!CLIP_CACHE) return undefined;
  mkdirSync(CLIP_CACHE, { recursive: true });
  const key = createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 24);
  return join(CLIP_CACHE, `${key}${ext}`);
}

export interface ProbedStream {
  index: number;
  codec_type: string;
  codec_name: string;
  width?: number;
  height?: number;
  channels?: number;
  r_frame_rate?: string;
  avg_frame_rate?: string;
  nb_read_frames?: string;
  duration?: string;
  pix_fmt?: string;
  side_data_list?: Array<Record<string, unknown>>;
  tags?: Record<string, string>;
}
export interface Probed {
  format: { format_name: string; duration?: string; bit_rate?: string; size?: string };
  streams: ProbedStream[];
}

/** ffprobe -show_format -show_streams; with countFrames, decodes to count frames exactly. */
export function probe(path: string, countFrames = false): Probed {
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams'];
  if (countFrames) args.push('-count_frames');
  return JSON.parse(execFileSync(FFPROBE, [...args, path], { encoding: 'utf8' }));
}

/** Presentation times (seconds) of video keyframes. */
export function keyframeTimes(path: string): number[] {
  const out = execFileSync(
    FFPROBE,
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-skip_frame',
      'nokey',
      '-show_entries',
      'frame=pts_time',
      '-of',
      'csv=p=0',
      path,
    ],
    { encoding: 'utf8' },
  );
  return out
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean)
    .map(Number);
}

/** True when ffmpeg decodes the whole file without an error line. */
export function decodesCleanly(path: string): { ok: boolean; errors: string } {
  const r = spawnSync(FFMPEG, ['-v', 'error', '-i', path, '-f', 'null', '-'], { encoding: 'utf8' });
  return { ok: r.status === 0 && r.stderr.trim() === '', errors: r.stderr };
}
