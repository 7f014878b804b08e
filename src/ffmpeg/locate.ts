// Finds ffmpeg and ffprobe, in the documented order: config / NOMMER_FFMPEG, then the binary of
// ffmpeg-static when its install succeeded, then `ffmpeg` on PATH. Also lists the encoders a
// binary has, which presets need to know.
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  accessSync,
  constants,
  existsSync,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { promisify } from 'node:util';
import * as z from 'zod';
import { NommerError } from '../errors.js';
import { nommerCacheDir } from './probe-cache.js';

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

/**
 * Version line, encoder and filter names of a binary: cached per path in this process, and on
 * disk between runs (see capsFile) — asking costs three ffmpeg starts, about 0.7 CPU-seconds,
 * which every `nommer encode` paid before its encode began.
 */
export function ffmpegCapabilities(ffmpeg: string): Promise<FfmpegCapabilities> {
  let p = capsCache.get(ffmpeg);
  if (!p) {
    p = (async () => {
      const file = capsFile(ffmpeg);
      const kept = file && readCaps(file.path, file.key);
      if (kept) return kept;
      const caps = await askFfmpeg(ffmpeg);
      if (file) writeCaps(file.path, file.key, caps);
      return caps;
    })();
    p.catch(() => capsCache.delete(ffmpeg));
    capsCache.set(ffmpeg, p);
  }
  return p;
}

/**
 * Where a binary's capabilities are kept: the user's cache dir (XDG_CACHE_HOME, else ~/.cache),
 * under a key of the binary's real path, size, change time and inode — a new or replaced ffmpeg
 * is asked again. Undefined when the binary cannot be looked at (then it is simply asked).
 */
function capsFile(ffmpeg: string): { path: string; key: string } | undefined {
  try {
    const real = realpathSync(ffmpeg);
    const st = statSync(real);
    const key = createHash('sha256')
      .update(JSON.stringify([real, st.size, st.mtimeMs, st.ctimeMs, st.ino]))
      .digest('hex');
    return { path: join(nommerCacheDir(), `ffmpeg-caps-${key.slice(0, 24)}.json`), key };
  } catch {
    return undefined;
  }
}

const keptCaps = z.object({
  key: z.string(),
  version: z.string(),
  encoders: z.array(z.string()),
  filters: z.array(z.string()),
});

/** The kept capabilities, when the file is there, whole and for this very binary. */
function readCaps(path: string, key: string): FfmpegCapabilities | undefined {
  try {
    const got = keptCaps.safeParse(JSON.parse(readFileSync(path, 'utf8')));
    if (!got.success || got.data.key !== key) return undefined;
    return { version: got.data.version, encoders: new Set(got.data.encoders), filters: new Set(got.data.filters) };
  } catch {
    return undefined;
  }
}

/** Keeps them for the next run (written whole, then renamed into place); a failure only costs the next run the asking. */
function writeCaps(path: string, key: string, caps: FfmpegCapabilities): void {
  try {
    mkdirSync(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.tmp`;
    const record = { key, version: caps.version, encoders: [...caps.encoders], filters: [...caps.filters] };
    writeFileSync(tmp, JSON.stringify(record));
    renameSync(tmp, path);
  } catch {
    // A read-only or missing home: nothing kept.
  }
}

/** Asks the binary itself: three short runs (at once). */
async function askFfmpeg(ffmpeg: string): Promise<FfmpegCapabilities> {
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
}
