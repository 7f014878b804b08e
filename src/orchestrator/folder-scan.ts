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
import { asNommerError } from '../errors.js';
import { resolveOutputs } from '../jobspec.js';
import { createJobFrom, type JobCreatorDeps } from './submit-job.js';
import { hasWatchedContent, recordWatchedFile } from './store/record-watched-file.js';
import { lastWatchedFile, type Watch, type WatchedFile } from './store/watch-rows.js';

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
    return this.take(w, rel, { dev: st.dev, ino: st.ino, size: st.size, mtimeMs: st.mtimeMs }, known !== null);
  }

  /** A whole file: a job unless this content at this path made one already (a touch, a restart). */
  private async take(
    w: Watch,
    rel: string,
    st: Omit<WatchedFile, 'path' | 'contentHash' | 'jobId'>,
    replaces: boolean,
  ): Promise<{ reading?: Reading; jobId?: string }> {
    const { store } = this.deps.creator;
    const input = join(w.spec.source, rel);
    let hash: string;
    try {
      hash = await contentHash(input, st.size);
    } catch (err) {
      this.deps.log.warn({ watch: w.id, file: input, err: String(err) }, 'watch: cannot read a file; will try again');
      return {};
    }
    const record = (jobId: string | null) =>
      recordWatchedFile(store.db, w.id, { path: rel, contentHash: hash, ...st, jobId }, this.now());
    if (hasWatchedContent(store.db, w.id, rel, hash)) {
      record(null);
      return {};
    }
    try {
      const r = await createJobFrom(this.deps.creator, this.jobRequest(w, rel, hash, replaces));
      if (r.dryRun) return {};
      record(r.job.id);
      if (r.created) this.deps.log.info({ watch: w.id, file: input, job: r.job.id }, 'watch: job made');
      return r.created ? { jobId: r.job.id } : {};
    } catch (err) {
      const e = asNommerError(err);
      this.deps.log.warn({ watch: w.id, file: input, code: e.code, err: e.message }, 'watch: the file was refused');
      // A refusal that a retry cannot change is kept, so the file is not offered again each pass.
      if (!e.retriable) record(null);
      return {};
    }
  }

  /** The request `submit` would send for this file: outputs under dest, at its path relative to the folder. */
  private jobRequest(w: Watch, rel: string, hash: string, replaces: boolean) {
    const { creator } = this.deps;
    const outputs = resolveOutputs({
      input: join(w.spec.dest, rel),
      presets: w.spec.presets,
      outputs: [],
      sets: w.spec.set,
      userPresets: creator.userPresets,
      defaultPreset: creator.defaultPreset,
    });
    const key = createHash('sha256').update(`${rel}\0${hash}`).digest('hex');
    return {
      input: join(w.spec.source, rel),
      outputs: outputs.map((o, i) => ({ preset: w.spec.presets[i], uri: o.uri })),
      set: w.spec.set,
      // New content at a path already encoded replaces that path's outputs.
      force: replaces,
      idempotencyKey: `watch:${w.id}:${key}`,
    };
  }
}
