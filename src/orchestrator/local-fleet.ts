// The local twin of FleetManager: keeps `wanted` `nommer worker` child processes alive on this
// machine (the local backend), replaces one that dies (unless they keep dying), cleans up after
// a dead one (its scratch dir, and the temp outputs it was writing beside their destinations),
// and stops them all on shutdown, or at once when asked to release their tasks now.
import { rm } from 'node:fs/promises';
import { ProcessFleet } from '../adapters/local/process-fleet.js';
import { readdirSync, readFileSync } from 'node:fs';
import { removeTempsOfWorkers } from '../adapters/local/fs-storage.js';
import type { Logger } from '../log.js';
import { nommerBin, workerScratchDir } from '../paths.js';
import type { WorkerNode } from '../ports/fleet.js';
import { sleep } from '../sleep.js';

/** Deaths are counted over this window... */
export const DEATH_WINDOW_MS = 60_000;
/** ...and past this many in it, something is wrong with every worker: stop replacing them. */
export const MAX_DEATHS_PER_WINDOW = 5;
/** After "release now" (a second signal), workers get this long to report their release. */
export const RELEASE_NOW_KILL_MS = 8000;
/** How often the supervisor looks. */
const SUPERVISE_EVERY_MS = 1000;

export interface LocalFleetOptions {
  home: string;
  /** Workers to keep alive (0 on the aws backend). */
  wanted: number;
  /** The config file feederd was started with, passed on to its workers. */
  configFile?: string;
  /** Seconds a worker gets to finish its task on SIGTERM before it releases it. */
  shutdownGraceSeconds: number;
  workerLog: string;
  /** The destinations a worker is running a task of (from the store). */
  outputsOf: (workerId: string) => string[];
  log: Logger;
  /** The ids of the workers running on this machine, null when unknown (tests); default /proc. */
  liveWorkers?: () => Set<string> | null;
}

export class LocalFleet {
  private readonly fleet: ProcessFleet;
  private readonly deaths: number[] = [];
  private readonly stopSupervising = new AbortController();

  constructor(private readonly opts: LocalFleetOptions) {
    this.fleet = new ProcessFleet({
      command: [
        process.execPath,
        nommerBin(),
        ...(opts.configFile ? ['--config', opts.configFile] : []),
        'worker',
        '--backend',
        'local',
        '--parent-pid',
        String(process.pid),
        '--shutdown-grace',
        String(opts.shutdownGraceSeconds),
      ],
      env: { NOMMER_HOME: opts.home },
      logFile: opts.workerLog,
      onExit: (id, code, signal) => this.onExit(id, code, signal),
    });
  }

  list(): Promise<WorkerNode[]> {
    return this.fleet.list();
  }

  /** Keep `wanted` workers alive until stop() (or the signal). */
  async run(signal: AbortSignal): Promise<void> {
    const stopped = AbortSignal.any([signal, this.stopSupervising.signal]);
    while (!stopped.aborted) {
      const now = Date.now();
      while (this.deaths.length && now - this.deaths[0]! > DEATH_WINDOW_MS) this.deaths.shift();
      const have = (await this.fleet.list()).filter((w) => w.state !== 'stopping').length;
      if (have < this.opts.wanted && this.deaths.length <= MAX_DEATHS_PER_WINDOW)
        await this.fleet.launch(this.opts.wanted - have);
      await sleep(SUPERVISE_EVERY_MS, stopped);
    }
  }

  /** Stop replacing workers, then stop them (SIGTERM; killed after `ms`). */
  async stop(ms: number): Promise<void> {
    this.stopSupervising.abort();
    await this.fleet.stopAll(ms);
  }

  /** A second signal: workers release their task now and report it, then go. */
  releaseNow(): Promise<void> {
    this.stopSupervising.abort();
    return this.fleet.stopAll(RELEASE_NOW_KILL_MS);
  }

  /**
   * When a job ends, temp files beside its outputs left by a local worker that is gone — one of
   * an earlier feederd, killed with it, whose onExit no one ran — are removed. A worker counts as
   * alive while a process runs with its `--id` (Linux /proc; elsewhere nothing is removed).
   */
  async sweepEndedJob(outputs: readonly string[]): Promise<void> {
    // The processes are listed only once a temp of a local worker is found: reading every
    // /proc/<pid>/cmdline cost ~12 ms per ended job here (a few hundred processes), and nearly
    // every job ends with nothing left beside its outputs.
    let live: Set<string> | null | undefined;
    // Local worker ids are w<feederd pid>-<n>; anything else in a tag is not ours to judge.
    const dead = (id: string) => {
      if (!/^w\d+-\d+$/.test(id)) return false;
      live ??= (this.opts.liveWorkers ?? liveWorkerIds)();
      return live !== null && !live.has(id);
    };
    for (const uri of outputs) {
      const n = await removeTempsOfWorkers(uri, dead).catch(() => 0);
      if (n) this.opts.log.info({ uri, removed: n }, 'temp outputs of workers that are gone removed');
    }
  }

  private onExit(id: string, code: number | null, signal: NodeJS.Signals | null): void {
    const { log } = this.opts;
    // A worker that died mid-task (SIGKILL, OOM) left its scratch dir behind (a partial download,
    // an encode bound for S3) and temp outputs tagged with its id; ids are never reused, so
    // nobody else would remove them.
    rm(workerScratchDir(this.opts.home, id), { recursive: true, force: true }).catch((err) =>
      log.warn({ worker: id, err: String(err) }, "removing a dead worker's scratch dir failed"),
    );
    try {
      for (const uri of this.opts.outputsOf(id)) void removeTempsOfWorkers(uri, (w) => w === id);
    } catch (err) {
      log.warn({ worker: id, err: String(err) }, "could not list a dead worker's outputs");
    }
    if (!this.stopSupervising.signal.aborted) {
      log.warn({ worker: id, code, signal }, 'worker exited; replacing it');
      this.deaths.push(Date.now());
    }
  }
}

/** Worker ids (`--id X`) of the `nommer worker` processes running on this machine, or null off Linux. */
function liveWorkerIds(): Set<string> | null {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  } catch {
    return null;
  }
  const ids = new Set<string>();
  for (const pid of pids) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    const i = argv.indexOf('--id');
    if (i >= 0 && argv.includes('worker') && argv[i + 1]) ids.add(argv[i + 1]!);
  }
  return ids;
}
