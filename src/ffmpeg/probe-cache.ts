// What ffprobe printed about a local file, kept on disk for the next probe of that very file:
// feederd probes an input when it plans the job, and the worker that encodes it (each chunk's
// worker, the scene task, the assembler) probed the same file again, an ffprobe start each
// (about 0.2 CPU-seconds: Debian's ffprobe loads 215 shared libraries). The key is the file's
// real path, size, modification and change times and inode, the ffprobe binary's own, and the
// arguments: a file written, touched or replaced in any way, or another ffprobe, is probed again.
// Only successful runs are kept; a cache that cannot be read or written costs only the probe.
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import * as z from 'zod';

/**
 * What the cache keeps; past either bound the oldest entries go. Entries: one job's probes are a
 * few, a busy machine's are recent. Bytes: a chunk plan's packet list of a film is megabytes (a
 * 2-hour one ~6 MB), and the cache must stay small whatever it is given; a larger probe is not
 * kept. (Lowered by a test, which must not write 64 MB to prove the bound.)
 */
export const PROBE_CACHE_LIMITS = { entries: 256, bytes: 64 << 20 };

const kept = z.object({ key: z.string(), stdout: z.string() });

/** The user's cache folder for nommer (XDG_CACHE_HOME, else ~/.cache). */
export function nommerCacheDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'nommer');
}

function identity(path: string): unknown[] {
  const real = realpathSync(path);
  const st = statSync(real);
  return [real, st.size, st.mtimeMs, st.ctimeMs, st.ino, st.dev];
}

/** A probe's kept output, and how to keep a fresh one. */
export interface KeptProbe {
  /** What ffprobe printed for this very file, ffprobe and arguments, when it was kept. */
  stdout: string | undefined;
  /** Keep a successful run's stdout (written whole, then renamed into place); the oldest past PROBE_CACHE_LIMITS go. */
  keep(stdout: string): void;
}

/** Nothing kept and nothing to keep: a remote input, or a file that cannot be keyed. */
const UNKEPT: KeptProbe = { stdout: undefined, keep: () => {} };

/** The cache's slot for a probe of local `file` with `args` (UNKEPT for a URL or a file gone). */
export function keptProbe(ffprobe: string, file: string, args: readonly string[]): KeptProbe {
  if (/^https?:\/\//i.test(file)) return UNKEPT;
  const entry = probeCacheEntry(ffprobe, file, args);
  if (!entry) return UNKEPT;
  return { stdout: readKeptProbe(entry), keep: (stdout) => keepProbe(entry, stdout) };
}

function probeCacheEntry(
  ffprobe: string,
  file: string,
  args: readonly string[],
): { path: string; key: string } | undefined {
  try {
    const key = createHash('sha256')
      .update(JSON.stringify([identity(ffprobe), identity(file), args]))
      .digest('hex');
    return { path: join(nommerCacheDir(), 'probes', `${key.slice(0, 32)}.json`), key };
  } catch {
    return undefined;
  }
}

/** The kept stdout, when the entry is there, whole and for this very key. */
function readKeptProbe(entry: { path: string; key: string }): string | undefined {
  try {
    const got = kept.safeParse(JSON.parse(readFileSync(entry.path, 'utf8')));
    return got.success && got.data.key === entry.key ? got.data.stdout : undefined;
  } catch {
    return undefined;
  }
}

function keepProbe(entry: { path: string; key: string }, stdout: string): void {
  try {
    const text = JSON.stringify({ key: entry.key, stdout });
    const { entries, bytes: most } = PROBE_CACHE_LIMITS;
    if (text.length > most) return;
    const dir = dirname(entry.path);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = `${entry.path}.${process.pid}.tmp`;
    writeFileSync(tmp, text, { mode: 0o600 });
    renameSync(tmp, entry.path);
    // Newest first (this one first of all: file times are as coarse as the kernel's clock tick, so
    // an entry written just before may tie with it): keep up to `entries` of them and `most`
    // bytes, the rest go.
    const byAge = readdirSync(dir)
      .filter((n) => n.endsWith('.json'))
      .map((n) => {
        try {
          const st = statSync(join(dir, n));
          return { n, t: n === basename(entry.path) ? Number.POSITIVE_INFINITY : st.mtimeMs, bytes: st.size };
        } catch {
          return { n, t: 0, bytes: 0 };
        }
      })
      .sort((a, b) => b.t - a.t);
    let bytes = 0;
    byAge.forEach(({ n, bytes: size }, i) => {
      bytes += size;
      if (i >= entries || bytes > most) rmSync(join(dir, n), { force: true });
    });
  } catch {
    /* not kept: the next probe of this file runs ffprobe */
  }
}
