// One pass over a folder watch: which files are whole, which of them are new or changed, and a
// job for each through the same submit path as the API (submit-job.ts). It has no timer and no
// clock of its own (`now` is injected): the watcher (watcher.ts) decides when to call it, tests
// call it by hand.
//
// Whole: a file's size and mtime (and dev/inode) unchanged over two readings at least settleMs
// apart. Once: by path and content (a SHA-256 of the size and the first and last MiB), recorded
// in the store (watch_files), so a restart, a rescan or a touch makes no second job; a file
// whose stat matches its record is not even hashed again.
import { createHash } from 'node:crypto';
import { open, readdir, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Logger } from '../log.js';
import type { JobCreatorDeps } from './submit-job.js';
import { lastWatchedFile, type Watch } from './store/watch-rows.js';
import { takeWatched, type WatchedItem } from './watch-jobs.js';

/** Names a download or a copy in progress carries; such files (and dotfiles) never become jobs. */
const TEMP_SUFFIXES = ['.part', '.partial', '.tmp', '.temp', '.crdownload', '.download', '.filepart', '~'];

export function isIgnoredName(name: string): boolean {
  const lower = name.toLowerCase();
  return name.startsWith('.') || TEMP_SUFFIXES.some((s) => lower.endsWith(s));
}

/** A glob (`*`, `?`, `**`, `[...]`, `{a,b}`) as a regular expression on a `/`-separated path. */
export function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '*' && glob[i + 1] === '*') {
      re += '.*';
      i++;
      if (glob[i + 1] === '/') i++;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '{') re += '(?:';
    else if (c === '}') re += ')';
    else if (c === ',' && re.includes('(?:')) re += '|';
    else if (c === '[') {
      const end = glob.indexOf(']', i + 1);
      if (end < 0) re += '\\[';
      else {
        re += `[${glob
          .slice(i + 1, end)
          .replace(/^!/, '^')
          .replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += c.replace(/[.+^$()|\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`, 'i');
}

/** Whether a file (its path relative to the watched folder) is one the watch takes. */
export function matchesWatch(spec: Watch['spec'], rel: string, pattern?: RegExp): boolean {
  const parts = rel.split('/');
  if (parts.some(isIgnoredName)) return false;
  if (!pattern) return true;
  return pattern.test(spec.pattern?.includes('/') ? rel : parts[parts.length - 1]!);
}

interface Reading {
  dev: number;
  ino: number;
  size: number;
  mtimeMs: number;
  /** When these values were first read. */
  at: number;
}

export interface ScanResult {
  /** Jobs made in this pass. */
  created: string[];
  /** Files seen that are not yet whole (the watcher comes back after settleMs). */
  pending: number;
  /** What is wrong at the source (`folder missing`), or null. */
  error: string | null;
}

export interface FolderScanDeps {
  creator: JobCreatorDeps;
  log: Logger;
  /** How long size and mtime must stay unchanged before a file counts as whole. */
  settleMs: number;
  now?: () => number;
}

const MIB = 1024 * 1024;

/** SHA-256 of the size and the first and last MiB: the same content by a cheap, bounded read. */
export async function contentHash(path: string, size: number): Promise<string> {
  const h = createHash('sha256').update(`${size}\n`);
  const f = await open(path, 'r');
  try {
    const buf = Buffer.alloc(Math.min(MIB, size));
    const head = await f.read(buf, 0, buf.length, 0);
    h.update(buf.subarray(0, head.bytesRead));
    if (size > MIB) {
      const tail = await f.read(buf, 0, MIB, size - MIB);
      h.update(buf.subarray(0, tail.bytesRead));
    }
  } finally {
    await f.close();
  }
  return h.digest('hex');
}

/** Why a folder cannot be watched now, as `watch list` shows it, or null when it can. */
export async function folderProblem(path: string): Promise<string | null> {
  try {
    const st = await stat(path);
    if (!st.isDirectory()) return 'not a folder';
    await readdir(path);
    return null;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return 'folder missing';
    if (code === 'EACCES' || code === 'EPERM') return 'folder unreadable';
    return `folder unusable (${code ?? String(err)})`;
  }
}

/** Files under `root` (relative, `/`-separated), into hidden folders never, into subfolders if recursive. */
async function listFiles(root: string, recursive: boolean, log: Logger): Promise<string[]> {
  const out: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries = await readdir(join(root, rel), { withFileTypes: true }).catch((err) => {
      if (rel === '') throw err;
      log.warn({ folder: join(root, rel), err: String(err) }, 'watch: cannot list a subfolder');
      return [];
    });
    for (const e of entries) {
      const child = rel ? posix.join(rel, e.name) : e.name;
      if (e.isDirectory()) {
        if (recursive && !isIgnoredName(e.name)) await walk(child);
      } else out.push(child);
    }
  };
  await walk('');
  return out.sort();
}

export class FolderScanner {
  /** Per watch, the last reading of each file not yet taken (in memory: a restart reads again). */
  private readonly readings = new Map<string, Map<string, Reading>>();
  private readonly now: () => number;

  constructor(private readonly deps: FolderScanDeps) {
    this.now = deps.now ?? Date.now;
  }

  forget(watchId: string): void {
    this.readings.delete(watchId);
  }

  async scanWatch(w: Watch): Promise<ScanResult> {
    const result: ScanResult = { created: [], pending: 0, error: await folderProblem(w.spec.source) };
    if (result.error) return result;
    const pattern = w.spec.pattern ? globToRegExp(w.spec.pattern) : undefined;
    const before = this.readings.get(w.id) ?? new Map<string, Reading>();
    const after = new Map<string, Reading>();
    for (const rel of await listFiles(w.spec.source, w.spec.recursive, this.deps.log)) {
      if (!matchesWatch(w.spec, rel, pattern)) continue;
      const verdict = await this.look(w, rel, before.get(rel));
      if (verdict.reading) {
        after.set(rel, verdict.reading);
        result.pending++;
      }
      if (verdict.jobId) result.created.push(verdict.jobId);
    }
    this.readings.set(w.id, after);
    return result;
  }

  /** One file: skip (known or gone), wait (a new reading, or not settled), or take it. */
  private async look(w: Watch, rel: string, prev: Reading | undefined): Promise<{ reading?: Reading; jobId?: string }> {
    const st = await stat(join(w.spec.source, rel)).catch(() => undefined);
    if (!st?.isFile()) return {};
    const db = this.deps.creator.store.db;
    const known = lastWatchedFile(db, w.id, rel);
    const same = (r: { dev: number; ino: number; size: number; mtimeMs: number } | null | undefined) =>
      !!r && r.dev === st.dev && r.ino === st.ino && r.size === st.size && r.mtimeMs === st.mtimeMs;
    if (same(known)) return {};
    const now = this.now();
    if (!same(prev)) return { reading: { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs, at: now } };
    if (now - prev!.at < this.deps.settleMs) return { reading: prev };
    return this.take(w, rel, { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs });
  }

  /** A whole file: its content hash, then a job unless that content at this path made one already. */
  private async take(w: Watch, rel: string, stat: WatchedItem['stat']): Promise<{ reading?: Reading; jobId?: string }> {
    const input = join(w.spec.source, rel);
    let hash: string;
    try {
      hash = await contentHash(input, stat.size);
    } catch (err) {
      this.deps.log.warn({ watch: w.id, file: input, err: String(err) }, 'watch: cannot read a file; will try again');
      return {};
    }
    const r = await takeWatched({ creator: this.deps.creator, log: this.deps.log, now: this.now }, w, {
      rel,
      identity: hash,
      stat,
    });
    return r.jobId ? { jobId: r.jobId } : {};
  }
}
