// Finds ffmpeg and ffprobe, in the documented order: config / NOMMER_FFMPEG, then the binary of
// ffmpeg-static when its install succeeded, then `ffmpeg` on PATH. Also lists the encoders a
// binary has, which presets need to know.
import { execFile } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { NommerError } from '../errors.js';

const execFileAsync = promisify(execFile);

export type FfmpegSource = 'config' | 'env' | 'ffmpeg-static' | 'path';

export interface FfmpegInstall {
  ffmpeg: string;
  ffprobe: string;
  source: FfmpegSource;
}

function isExecutable(p: string): boolean {
  try {
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const p = join(dir, name);
    if (isExecutable(p)) return p;
  }
  return undefined;
}

/** ffprobe beside a given ffmpeg, else on PATH. ffmpeg-static ships no ffprobe. */
function ffprobeFor(ffmpeg: string, explicit?: string): string | undefined {
  if (explicit) return explicit;
  const beside = join(dirname(ffmpeg), ffmpeg.endsWith('.exe') ? 'ffprobe.exe' : 'ffprobe');
  if (isExecutable(beside)) return beside;
  return onPath('ffprobe');
}

function ffmpegStaticPath(): string | undefined {
  try {
    const require = createRequire(import.meta.url);
    const p = require('ffmpeg-static') as string | null;
    return p && existsSync(p) ? p : undefined;
  } catch {
    return undefined;
  }
}

const MISSING_HINT =
  'install one (Debian/Ubuntu: `sudo apt-get install -y ffmpeg`), or point NOMMER_FFMPEG at a binary';

export function locateFfmpeg(opts: { ffmpeg?: string; ffprobe?: string } = {}): FfmpegInstall {
  const probeOverride = opts.ffprobe ?? process.env.NOMMER_FFPROBE;
  const pick = (ffmpeg: string, source: FfmpegSource): FfmpegInstall => {
    if (!isExecutable(ffmpeg))
      throw new NommerError(
        'FFMPEG_MISSING',
        `ffmpeg from ${source === 'config' ? 'config (ffmpeg.path)' : source === 'env' ? 'NOMMER_FFMPEG' : source} is not an executable file: ${ffmpeg}`,
        { hint: MISSING_HINT },
      );
    const ffprobe = ffprobeFor(ffmpeg, probeOverride);
    if (!ffprobe)
      throw new NommerError('FFMPEG_MISSING', `found ffmpeg (${ffmpeg}) but no ffprobe beside it or on PATH`, {
        hint: 'install ffprobe (Debian: part of the ffmpeg package) or set NOMMER_FFPROBE',
      });
    return { ffmpeg, ffprobe, source };
  };
  if (opts.ffmpeg) return pick(opts.ffmpeg, 'config');
  if (process.env.NOMMER_FFMPEG) return pick(process.env.NOMMER_FFMPEG, 'env');
  const bundled = ffmpegStaticPath();
  if (bundled && ffprobeFor(bundled, probeOverride)) return pick(bundled, 'ffmpeg-static');
  const system = onPath('ffmpeg');
  if (system) return pick(system, 'path');
  throw new NommerError('FFMPEG_MISSING', 'no ffmpeg found (checked NOMMER_FFMPEG, ffmpeg-static, PATH)', {
    hint: MISSING_HINT,
  });
}

export interface FfmpegCapabilities {
  version: string;
  encoders: Set<string>;
  /** Filter names (`ssim`, `psnr`, `libvmaf` when built with it). */
  filters: Set<string>;
}

const capsCache = new Map<string, Promise<FfmpegCapabilities>>();

/** Version line, encoder and filter names of a binary (cached per path). */
export function ffmpegCapabilities(ffmpeg: string): Promise<FfmpegCapabilities> {
  let p = capsCache.get(ffmpeg);
  if (!p) {
    p = (async () => {
      const [ver, enc, fil] = await Promise.all([
        execFileAsync(ffmpeg, ['-hide_banner', '-version'], { maxBuffer: 4 << 20 }),
        execFileAsync(ffmpeg, ['-hide_banner', '-encoders'], { maxBuffer: 4 << 20 }),
        execFileAsync(ffmpeg, ['-hide_banner', '-filters'], { maxBuffer: 4 << 20 }),
      ]);
      const version = (ver.stdout.split('\n')[0] ?? '')
        .replace(/^ffmpeg version\s+/, '')
        .split(' Copyright')[0]!
        .trim();
      const encoders = new Set<string>();
      for (const line of enc.stdout.split('\n')) {
        const m = /^\s*[VAS][.A-Z]{5}\s+(\S+)/.exec(line);
        if (m && m[1] !== '=') encoders.add(m[1]!);
      }
      const filters = new Set<string>();
      for (const line of fil.stdout.split('\n')) {
        const m = /^\s*[.TSC]{3}\s+(\S+)\s+\S+->\S+/.exec(line);
        if (m) filters.add(m[1]!);
      }
      return { version, encoders, filters };
    })();
    p.catch(() => capsCache.delete(ffmpeg));
    capsCache.set(ffmpeg, p);
  }
  return p;
}
