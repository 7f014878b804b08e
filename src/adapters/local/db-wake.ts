// Wakes a waiting receive when the local database changes, so workers and feederd need not poll
// it every few milliseconds (issues 24, 25). Every commit in WAL mode write()s frames to the
// `-wal` file, which inotify (fs.watch) reports; mmap'd `-shm` updates and empty claims write
// nothing, so an idle database makes no events. The directory is watched, not the file: the
// `-wal` file is deleted when the last connection closes and made again by the next one.
//
// No lost wake-up: a receive starts watching before its first look, and looks then registers
// its waiter in one synchronous run, so a commit after the look reaches the waiter. The commit
// holds SQLite's write lock from its first frame until the wal-index says it is done, and a claim
// takes that lock (IMMEDIATE), so a claim woken by the frames' event sees the commit.
//
// A missed event (network filesystem, inotify limit, watcher error) costs latency, never a hang:
// waiters still look again after a fallback interval, and a watcher that fails is dropped (one
// process warning) and tried again by the next receive.
import { watch as fsWatch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { NommerError } from '../../errors.js';
import type { Db } from './db.js';

export interface DirWatcher {
  close(): void;
}

/** Watch a directory: `onFile` gets each changed entry's name (null when the OS does not say). */
export type WatchDir = (
  dir: string,
  onFile: (name: string | null) => void,
  onError: (err: Error) => void,
) => DirWatcher;

export const watchDir: WatchDir = (dir, onFile, onError) => {
  // Not persistent: a waiting receive's own timer keeps the process alive, the watcher must not.
  const w = fsWatch(dir, { persistent: false }, (_event, name) => onFile(name === null ? null : String(name)));
  w.on('error', onError);
  return w;
};

export class DbWake {
  private static readonly shared = new Map<string, DbWake>();

  /** The process's one DbWake for this database file, shared by all its queues and channels. */
  static of(db: Db): DbWake {
    const key = db.memory ? ':memory:' : resolve(db.name);
    let w = DbWake.shared.get(key);
    if (!w) DbWake.shared.set(key, (w = new DbWake(db.memory ? null : key)));
    return w;
  }

  private watcher: DirWatcher | null = null;
  private users = 0;
  private warned = false;
  private flushing = false;
  private readonly waiters = new Set<() => void>();
  private readonly names: Set<string>;

  /** `path` null: nothing to watch (in-memory), only this process's own writes wake. */
  constructor(
    private readonly path: string | null,
    private readonly watch: WatchDir = watchDir,
  ) {
    // The main file too: a database not in WAL mode (or a checkpoint) writes there.
    this.names = new Set(path ? [basename(path), `${basename(path)}-wal`] : []);
  }

  /** Whether a change wakes waiters now (else they must poll at the unwatched interval). */
  get watching(): boolean {
    return this.watcher !== null;
  }

  /** Receives asleep on it now (tests: none is left behind). */
  get sleeping(): number {
    return this.waiters.size;
  }

  /** Start watching, before the first look of a receive; pair with leave(). */
  enter(): void {
    this.users++;
    if (!this.watcher && this.path) this.start(this.path);
  }

  leave(): void {
    if (--this.users > 0) return;
    this.users = 0;
    this.watcher?.close();
    this.watcher = null;
  }

  /** Resolves after ms, on a change, or when the signal aborts; leaves no listener behind. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((done) => {
      if (signal?.aborted) return done();
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', finish);
        this.waiters.delete(finish);
        done();
      };
      const timer = setTimeout(finish, ms);
      signal?.addEventListener('abort', finish, { once: true });
      this.waiters.add(finish);
    });
  }

  /** Wake every waiter (a change seen, or a write by this process). */
  notify(): void {
    // One wake per turn of the event loop: a commit's frames come as several events.
    if (this.flushing || this.waiters.size === 0) return;
    this.flushing = true;
    setImmediate(() => {
      this.flushing = false;
      for (const w of [...this.waiters]) w();
    });
  }

  private start(path: string): void {
    try {
      this.watcher = this.watch(
        dirname(path),
        (name) => {
          if (name === null || this.names.has(name)) this.notify();
        },
        (err) => this.failed(err),
      );
    } catch (err) {
      this.failed(err);
    }
  }

  private failed(err: unknown): void {
    this.watcher?.close();
    this.watcher = null;
    if (!this.warned) {
      this.warned = true;
      process.emitWarning(
        `cannot watch ${this.path} for changes (${(err as Error).message}); waiting receives poll it instead`,
        { code: 'NOMMER_DB_WATCH' },
      );
    }
    // Waiters asleep for the long fallback interval look again now, at the polling one.
    this.notify();
  }
}

export interface WaitSettings {
  /** Look again after this long with no change seen, ms: the safety net for a missed event. */
  wake: DbWake;
  pollMs: number;
  /** The same when the database cannot be watched (then it is the only way to see a send). */
  unwatchedPollMs: number;
}

// A message hidden until a deadline (a delayed send, a released or lapsed lease) becomes visible
// without any write, so no event comes: the wait is cut to that deadline. Not below this, so a
// test clock that stands still cannot make it spin.
const MIN_DEADLINE_WAIT_MS = 5;

/**
 * Look until `look` finds something (returned), waitSeconds pass or the signal aborts (null).
 * Between looks, sleep until the database changes, the next hidden message's deadline
 * (`nextVisibleIn`, ms, null when none) or the poll interval, whichever comes first.
 */
export async function lookUntil<T>(
  w: WaitSettings,
  opts: { waitSeconds: number; signal?: AbortSignal },
  look: () => T | null,
  nextVisibleIn: () => number | null,
): Promise<T | null> {
  const deadline = Date.now() + Math.max(0, opts.waitSeconds) * 1000;
  if (!(opts.waitSeconds > 0)) return opts.signal?.aborted ? null : look();
  const wake = w.wake;
  wake.enter();
  try {
    for (;;) {
      if (opts.signal?.aborted) return null;
      const found = look();
      if (found !== null) return found;
      const left = deadline - Date.now();
      if (left <= 0) return null;
      const next = nextVisibleIn();
      const poll = wake.watching ? w.pollMs : w.unwatchedPollMs;
      const ms = Math.min(left, poll, next === null ? Infinity : Math.max(MIN_DEADLINE_WAIT_MS, next + 1));
      await wake.wait(ms, opts.signal);
    }
  } finally {
    wake.leave();
  }
}

/** How a queue or channel on the local database waits for messages. */
export interface WaitOptions {
  /**
   * How often a waiting receive looks again when no change woke it, ms (default 1000): only a
   * safety net, a send by any process wakes it at once (db-wake.ts).
   */
  pollMs?: number;
  /** The same when the database cannot be watched (default 150). */
  unwatchedPollMs?: number;
  /** What wakes a waiting receive (tests); default the process's shared one for this file. */
  wake?: DbWake;
}

/** The wait options of a queue or channel on `db`, checked (`what` names it in the error). */
export function waitSettings(db: Db, opts: WaitOptions, what: string): WaitSettings {
  const pollMs = opts.pollMs ?? 1000;
  const unwatchedPollMs = opts.unwatchedPollMs ?? Math.min(150, pollMs);
  for (const [name, v] of [
    ['pollMs', pollMs],
    ['unwatchedPollMs', unwatchedPollMs],
  ] as const)
    if (!(v > 0)) throw new NommerError('CONFIG_INVALID', `${what} ${name} must be > 0, not ${v}`);
  return { wake: opts.wake ?? DbWake.of(db), pollMs, unwatchedPollMs };
}
