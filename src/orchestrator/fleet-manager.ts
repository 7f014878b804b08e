// FleetManager: feederd's autoscaling loop. Every tick it reads the queue depth and the fleet,
// asks the pure autoscaler (`decide`) what to do, launches, drains or terminates, and remembers
// the last scale-up so launches the cloud API does not list yet are not launched twice.
//
// Scale-in protection: with a fleet that can drain (EC2: a tag the worker reads), an instance the
// cloud lists as running is never terminated from here — not even one that looks idle, since its
// worker may have leased a job the store has not heard of yet. It is drained instead: its worker
// leases nothing new and ends the instance when its jobs are done. Only instances that have not
// started (EC2 pending) are terminated. A failed fleet or
// queue call (throttling, an outage, a permission problem) never ends the loop: it backs off
// with the autoscaler's backoff helpers and tries again later.
//
// It owns no state that a restart would lose: on start it simply lists the fleet, so instances a
// previous feederd launched (tagged with this cluster) are adopted as they are.
//
// Time, randomness and sleeping are injected so tests drive it tick by tick.
import { asNommerError, type NommerError } from '../errors.js';
import type { Fleet, WorkerNode } from '../ports/fleet.js';
import type { JobQueue } from '../ports/queue.js';
import { sleep as realSleep } from '../sleep.js';
import {
  afterFleetCall,
  assertAutoscalerConfig,
  decide,
  DEFAULT_BACKOFF,
  type AutoscalerConfig,
  type BackoffPolicy,
  type BackoffState,
  type InstanceView,
  type ScaleDecision,
} from './autoscaler.js';

export interface FleetManagerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/**
 * Where the fleet manager writes what it sees of each instance (store/instance-ledger.ts), so
 * instance bills can be split over the jobs they ran. Its failures are logged, never fatal.
 */
export interface FleetLedger {
  launched(nodes: readonly WorkerNode[], now: number): void;
  observed(nodes: readonly WorkerNode[], now: number): unknown;
  terminated(ids: readonly string[], now: number): void;
}

export interface FleetManagerOptions {
  fleet: Fleet;
  queue: Pick<JobQueue, 'depth'>;
  config: AutoscalerConfig;
  /** Seconds between ticks (default 15). */
  tickSeconds?: number;
  /**
   * Tasks running per worker node id, when the orchestrator knows (e.g. from the job store's
   * running tasks; worker ids `i-abc/0`, `i-abc/1` count for node `i-abc`). Without it, the
   * queue's in-flight count is spread over the oldest running nodes, and only booting nodes are
   * ever terminated (an estimate must never pick a busy worker to kill).
   */
  busySlots?: () => Map<string, number> | Promise<Map<string, number>>;
  backoff?: BackoffPolicy;
  /** ms since the epoch (default Date.now). */
  now?: () => number;
  /** In [0, 1) (default Math.random); the backoff's jitter. */
  random?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  log?: FleetManagerLog;
  /** The instance ledger: launches, sightings and ends, for cost attribution. */
  ledger?: FleetLedger;
}

export interface TickResult {
  decision?: ScaleDecision;
  launched: string[];
  terminated: string[];
  /** Asked to lease nothing new. */
  drained: string[];
  /** Draining ones called back. */
  undrained: string[];
  /** The error that made this tick back off. */
  error?: { code: string; message: string };
  /** ms since the epoch, when backing off. */
  backoffUntil?: number;
}

/** Node ids from worker ids: `i-abc/1` (one loop of a multi-slot worker) belongs to `i-abc`. */
export function busyByNode(byWorker: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [worker, n] of byWorker) {
    const node = worker.replace(/\/\d+$/, '');
    out.set(node, (out.get(node) ?? 0) + n);
  }
  return out;
}

/**
 * The autoscaler's view of the fleet. A node the cloud lists as running but that was launched
 * less than a boot time ago and runs nothing is still booting as far as jobs go (the user-data is
 * installing), which is what the autoscaler means by booting.
 */
export function instanceViews(
  nodes: WorkerNode[],
  opts: { now: number; bootSeconds: number; slots: number; inFlight: number; busy?: Map<string, number> },
): InstanceView[] {
  const live = nodes.filter((n) => n.state !== 'terminated');
  let busy = opts.busy;
  if (!busy) {
    // Spread the in-flight count over running nodes, oldest first (they took work first).
    busy = new Map();
    let left = Math.max(0, opts.inFlight);
    for (const n of [...live].filter((n) => n.state === 'running').sort((a, b) => a.launchedAt - b.launchedAt)) {
      const take = Math.min(opts.slots, left);
      if (take > 0) busy.set(n.id, take);
      left -= take;
    }
  }
  return live.map((n) => {
    const busySlots = busy.get(n.id) ?? 0;
    const young = opts.now - n.launchedAt < opts.bootSeconds * 1000;
    const state = n.state === 'running' && young && busySlots === 0 ? 'booting' : n.state;
    return { id: n.id, state, launchedAt: n.launchedAt, busySlots, ...(n.draining ? { draining: true } : {}) };
  });
}

export class FleetManager {
  private readonly o: FleetManagerOptions;
  /** The autoscaler's config, with drain on when the fleet can drain (unless turned off). */
  private readonly config: AutoscalerConfig;
  private backoffState: BackoffState = { failures: 0 };
  private lastScaleUp?: { at: number; count: number };
  private lastHeld?: { by: 'maxInstances' | 'maxHourlySpend'; reason: string };
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(opts: FleetManagerOptions) {
    assertAutoscalerConfig(opts.config);
    this.o = opts;
    this.config = { ...opts.config, drain: opts.config.drain ?? typeof opts.fleet.drain === 'function' };
    this.now = opts.now ?? Date.now;
    this.random = opts.random ?? Math.random;
    this.sleep = opts.sleep ?? realSleep;
  }

  /** The last launch that succeeded (what decide() needs to count unlisted launches). */
  get lastLaunch(): { at: number; count: number } | undefined {
    return this.lastScaleUp ? { ...this.lastScaleUp } : undefined;
  }

  /** When the last round launched fewer than the backlog wanted: the limit that held it, and why. */
  get heldBack(): { by: 'maxInstances' | 'maxHourlySpend'; reason: string } | undefined {
    return this.lastHeld ? { ...this.lastHeld } : undefined;
  }

  get backoff(): Readonly<BackoffState> {
    return { ...this.backoffState };
  }

  /** Lists the fleet once and logs what it adopts: instances left by a previous feederd. */
  async reconcile(): Promise<WorkerNode[]> {
    const listed = await this.o.fleet.list();
    this.toLedger((l) => l.observed(listed, this.now()));
    const nodes = listed.filter((n) => n.state !== 'terminated');
    this.o.log?.info(
      { instances: nodes.map((n) => ({ id: n.id, state: n.state })) },
      `fleet: adopted ${nodes.length} existing instance(s)`,
    );
    return nodes;
  }

  /** One round: observe, decide, act. Never throws; failures start or extend the backoff. */
  async tick(): Promise<TickResult> {
    const now = this.now();
    const result: TickResult = { launched: [], terminated: [], drained: [], undrained: [] };
    const until = this.backoffState.backoffUntil;
    if (until !== undefined && now < until) {
      // Not even a Describe: a throttled account needs fewer calls, not the same number.
      return { ...result, backoffUntil: until };
    }
    try {
      const { decision, nodes, instances, busyKnown } = await this.observeAndDecide(now);
      result.decision = decision;
      this.lastHeld = decision.heldBy ? { by: decision.heldBy, reason: decision.reason } : undefined;

      const { terminate, drain } = this.protect(decision, nodes, instances, busyKnown);
      if (decision.launch > 0 || terminate.length > 0 || drain.length > 0 || decision.undrain.length > 0)
        this.o.log?.info(
          { launch: decision.launch, terminate, drain, undrain: decision.undrain },
          `fleet: ${decision.reason}`,
        );
      await this.act(now, { launch: decision.launch, terminate, drain, undrain: decision.undrain }, result);
      this.backoffState = afterFleetCall(
        this.backoffState,
        true,
        now,
        this.random(),
        this.o.backoff ?? DEFAULT_BACKOFF,
      );
    } catch (err) {
      this.backOff(asNommerError(err), now, result);
    }
    return result;
  }

  /** The queue's depth, the fleet as listed (into the ledger) and the busy slots, and decide() over them. */
  private async observeAndDecide(now: number): Promise<{
    decision: ScaleDecision;
    nodes: WorkerNode[];
    instances: InstanceView[];
    busyKnown: boolean;
  }> {
    const [depth, nodes, busyRaw] = await Promise.all([
      this.o.queue.depth(),
      this.o.fleet.list(),
      this.o.busySlots ? this.o.busySlots() : Promise.resolve(undefined),
    ]);
    this.toLedger((l) => l.observed(nodes, now));
    const busy = busyRaw ? busyByNode(busyRaw) : undefined;
    const cfg = this.config;
    const instances = instanceViews(nodes, {
      now,
      bootSeconds: cfg.bootSeconds,
      slots: cfg.slotsPerInstance,
      inFlight: depth.inFlight,
      busy,
    });
    const decision = decide({ now, queue: depth, instances, config: cfg, lastScaleUp: this.lastScaleUp });
    return { decision, nodes, instances, busyKnown: busy !== undefined };
  }

  /**
   * The round's fleet calls, one after another, each written into `result` as it succeeds: a round
   * that fails halfway still says what it did.
   */
  private async act(
    now: number,
    todo: { launch: number; terminate: string[]; drain: string[]; undrain: string[] },
    result: TickResult,
  ): Promise<void> {
    const { terminate, drain, undrain } = todo;
    if (terminate.length > 0) {
      await this.o.fleet.terminate(terminate);
      result.terminated = terminate;
      this.toLedger((l) => l.terminated(terminate, now));
    }
    if (drain.length > 0 && this.o.fleet.drain) {
      await this.o.fleet.drain(drain, true);
      result.drained = drain;
    }
    if (undrain.length > 0 && this.o.fleet.drain) {
      await this.o.fleet.drain(undrain, false);
      result.undrained = undrain;
    }
    if (todo.launch > 0) {
      const launched = await this.o.fleet.launch(todo.launch);
      result.launched = launched.map((n) => n.id);
      this.toLedger((l) => l.launched(launched, now));
      if (launched.length > 0) this.lastScaleUp = { at: now, count: launched.length };
    }
  }

  /** A failed round: the backoff started or extended, and said in the result and the log. */
  private backOff(e: NommerError, now: number, result: TickResult): void {
    this.backoffState = afterFleetCall(this.backoffState, false, now, this.random(), this.o.backoff ?? DEFAULT_BACKOFF);
    result.error = { code: e.code, message: e.message };
    result.backoffUntil = this.backoffState.backoffUntil;
    const seconds = Math.round(((this.backoffState.backoffUntil ?? now) - now) / 1000);
    this.o.log?.warn(
      { code: e.code, err: e.message, failures: this.backoffState.failures, backoffSeconds: seconds },
      'fleet: call failed; backing off',
    );
  }

  /**
   * What to terminate and what to drain. A node the cloud lists as running may have a worker with
   * a job: with drain, it is drained instead of terminated; without, it is left to its idle exit
   * unless busy slots are known (an estimate must never pick a busy worker to kill).
   */
  private protect(
    decision: ScaleDecision,
    nodes: WorkerNode[],
    views: InstanceView[],
    busyKnown: boolean,
  ): { terminate: string[]; drain: string[] } {
    const started = new Set(nodes.filter((n) => n.state !== 'booting').map((n) => n.id));
    if (this.config.drain) {
      const drain = [...decision.drain, ...decision.terminate.filter((id) => started.has(id))];
      return { terminate: decision.terminate.filter((id) => !started.has(id)), drain: [...new Set(drain)] };
    }
    if (busyKnown) return { terminate: decision.terminate, drain: [] };
    const bootingIds = new Set(views.filter((i) => i.state === 'booting').map((i) => i.id));
    const kept = decision.terminate.filter((id) => !bootingIds.has(id));
    if (kept.length > 0)
      this.o.log?.info(
        { ids: kept },
        'fleet: not terminating running instances whose work is unknown; their idle exit will end them',
      );
    return { terminate: decision.terminate.filter((id) => bootingIds.has(id)), drain: [] };
  }

  private toLedger(write: (l: FleetLedger) => void): void {
    if (!this.o.ledger) return;
    try {
      write(this.o.ledger);
    } catch (err) {
      this.o.log?.warn({ err: (err as Error).message }, 'fleet: could not update the instance ledger');
    }
  }

  /** Reconcile, then tick every tickSeconds until the signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    try {
      await this.reconcile();
    } catch (err) {
      const e = asNommerError(err);
      this.o.log?.warn(
        { code: e.code, err: e.message },
        'fleet: could not list existing instances; the first tick will retry',
      );
    }
    const tickMs = (this.o.tickSeconds ?? 15) * 1000;
    while (!signal.aborted) {
      await this.tick();
      await this.sleep(tickMs, signal);
    }
  }
}
