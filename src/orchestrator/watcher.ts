// feederd's watch runner: passes over every folder watch in the store (folder-scan.ts makes the
// jobs), woken by inotify (fs.watch) where the platform gives it, and on a timer as the fallback
// and the safety rescan (network shares send no events; an event can be dropped). While files are
// settling it comes back after settleMs, so a whole file becomes a job within about that time.
import { type FSWatcher, watch as fsWatch } from 'node:fs';
import type { Logger } from '../log.js';
import { sleep, wakeableSleep } from '../sleep.js';
import { FolderScanner } from './folder-scan.js';
import type { JobCreatorDeps } from './submit-job.js';
import { setWatchHealth } from './store/set-watch-health.js';
import { listWatches, type Watch } from './store/watch-rows.js';

export interface WatcherOptions {
  /** The safety rescan when no event comes (default 30 s). */
  rescanMs?: number;
  /** How long a file's size and mtime must hold before it is whole (default 2 s). */
  settleMs?: number;
  now?: () => number;
}

/** Scans closer together than this only burn CPU while a copy writes events. */
const MIN_GAP_MS = 250;

export class Watcher {
  private readonly scanner: FolderScanner;
  private readonly fsWatches = new Map<string, { path: string; handle: FSWatcher }>();
  private wake: () => void = () => {};
  private readonly rescanMs: number;
  private readonly settleMs: number;

  constructor(
    private readonly creator: JobCreatorDeps,
    private readonly log: Logger,
    opts: WatcherOptions = {},
  ) {
    this.rescanMs = opts.rescanMs ?? 30_000;
    this.settleMs = opts.settleMs ?? 2000;
    this.scanner = new FolderScanner({ creator, log, settleMs: this.settleMs, now: opts.now });
  }

  /** One pass over every watch; the jobs it made and how many files are still settling. */
  async scanOnce(): Promise<{ created: string[]; pending: number }> {
    const watches = listWatches(this.creator.store.db).filter((w) => !w.spec.source.startsWith('s3://'));
    this.syncEvents(watches);
    const total = { created: [] as string[], pending: 0 };
    for (const w of watches) {
      const r = await this.scanner.scanWatch(w).catch((err) => {
        this.log.warn({ watch: w.id, err: String(err) }, 'watch: a pass failed');
        return { created: [], pending: 1, error: null };
      });
      total.created.push(...r.created);
      total.pending += r.pending;
      if (r.error !== w.error) {
        setWatchHealth(this.creator.store.db, w.id, r.error);
        if (r.error) this.log.warn({ watch: w.id, source: w.spec.source, error: r.error }, 'watch: source unusable');
      }
    }
    return total;
  }

  /** Come back at once (a new watch, an fs event). */
  poke(): void {
    this.wake();
  }

  async run(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      const started = Date.now();
      const r = await this.scanOnce().catch((err) => {
        this.log.error({ err: String(err) }, 'watch: pass failed');
        return { pending: 0 };
      });
      const s = wakeableSleep(r.pending > 0 ? this.settleMs : this.rescanMs, signal);
      this.wake = s.wake;
      await s.promise;
      await sleep(Math.max(0, started + MIN_GAP_MS - Date.now()), signal);
    }
    for (const [id] of this.fsWatches) this.unwatch(id);
  }

  /** One fs.watch per folder watch; a folder that cannot be watched is polled (the rescan). */
  private syncEvents(watches: Watch[]): void {
    const wanted = new Map(watches.map((w) => [w.id, w]));
    for (const [id, fw] of this.fsWatches) if (wanted.get(id)?.spec.source !== fw.path) this.unwatch(id);
    for (const w of watches) {
      if (this.fsWatches.has(w.id) || w.error) continue;
      try {
        const handle = fsWatch(w.spec.source, { recursive: w.spec.recursive, persistent: false }, () => this.wake());
        handle.on('error', () => this.unwatch(w.id));
        this.fsWatches.set(w.id, { path: w.spec.source, handle });
      } catch (err) {
        this.log.debug({ watch: w.id, err: String(err) }, 'watch: no fs events for this folder; polling');
      }
    }
    for (const id of this.scannerIds) if (!wanted.has(id)) this.scanner.forget(id);
    this.scannerIds = new Set(wanted.keys());
  }
  private scannerIds = new Set<string>();

  private unwatch(id: string): void {
    this.fsWatches.get(id)?.handle.close();
    this.fsWatches.delete(id);
  }
}
