// Discrete-event simulator for the fleet autoscaler: replays a workload trace through a policy
// with simulated boot times, encode durations, worker idle exit, list lag, API throttling and
// per-second billing (60 s minimum), and reports instance-hours, queue waits and makespan.
// Also computes the two reference costs the policies are judged against (see clairvoyant() and
// floorSeconds()). Deterministic: every random draw comes from a seeded PRNG.
//
// Time in the simulator is seconds from t = 0; the autoscaler sees it as ms (now × 1000).

import {
  afterFleetCall,
  decide,
  type AutoscalerConfig,
  type BackoffState,
  type InstanceView,
} from '../src/orchestrator/autoscaler.js';

// ---- randomness ----

/** mulberry32: a tiny, fast, seedable PRNG returning numbers in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function normal(rng: () => number): number {
  const u = Math.max(rng(), 1e-12);
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

// ---- workloads ----

export interface Job {
  id: number;
  /** s */
  arrival: number;
  /** s of encoding once a slot takes it */
  duration: number;
}

export interface Trace {
  name: string;
  description: string;
  jobs: Job[];
}

/** Encode durations: log-normal (median, sigma), clipped to [min, max] seconds. */
export interface DurationModel {
  medianSeconds: number;
  sigma: number;
  minSeconds: number;
  maxSeconds: number;
}

export const DEFAULT_DURATIONS: DurationModel = { medianSeconds: 360, sigma: 0.7, minSeconds: 30, maxSeconds: 3600 };

/** The mean of the (unclipped) log-normal: what feederd would learn from recent tasks. */
export function meanDuration(m: DurationModel): number {
  return m.medianSeconds * Math.exp((m.sigma * m.sigma) / 2);
}

function drawDuration(rng: () => number, m: DurationModel): number {
  const d = m.medianSeconds * Math.exp(m.sigma * normal(rng));
  return Math.round(Math.min(m.maxSeconds, Math.max(m.minSeconds, d)));
}

function trace(name: string, description: string, arrivals: number[], rng: () => number, m: DurationModel): Trace {
  const jobs = arrivals
    .sort((a, b) => a - b)
    .map((arrival, id) => ({ id, arrival: Math.round(arrival * 10) / 10, duration: drawDuration(rng, m) }));
  return { name, description, jobs };
}

export function steadyTrace(
  seed: number,
  opts: { everySeconds?: number; hours?: number; durations?: DurationModel } = {},
): Trace {
  const rng = mulberry32(seed);
  const every = opts.everySeconds ?? 45;
  const hours = opts.hours ?? 4;
  const arrivals: number[] = [];
  for (let t = 0; t < hours * 3600; t += every) arrivals.push(t);
  return trace('steady', `a job every ${every} s for ${hours} h`, arrivals, rng, opts.durations ?? DEFAULT_DURATIONS);
}

export function burstyTrace(
  seed: number,
  opts: {
    bursts?: number;
    jobsPerBurst?: number;
    spreadSeconds?: number;
    gapMinutes?: number;
    durations?: DurationModel;
  } = {},
): Trace {
  const rng = mulberry32(seed);
  const bursts = opts.bursts ?? 6;
  const n = opts.jobsPerBurst ?? 40;
  const spread = opts.spreadSeconds ?? 30;
  const gap = opts.gapMinutes ?? 90;
  const arrivals: number[] = [];
  for (let b = 0; b < bursts; b++) for (let j = 0; j < n; j++) arrivals.push(b * gap * 60 + rng() * spread);
  return trace(
    'bursty',
    `${bursts} bursts of ${n} jobs (each within ${spread} s), one every ${gap} min`,
    arrivals,
    rng,
    opts.durations ?? DEFAULT_DURATIONS,
  );
}

export function bigBatchTrace(seed: number, opts: { jobs?: number; durations?: DurationModel } = {}): Trace {
  const rng = mulberry32(seed);
  const n = opts.jobs ?? 1000;
  return trace(
    'big batch',
    `${n} jobs at t = 0`,
    new Array<number>(n).fill(0),
    rng,
    opts.durations ?? DEFAULT_DURATIONS,
  );
}

export function trickleTrace(
  seed: number,
  opts: { everyMinutes?: number; hours?: number; durations?: DurationModel } = {},
): Trace {
  const rng = mulberry32(seed);
  const every = (opts.everyMinutes ?? 15) * 60;
  const hours = opts.hours ?? 8;
  const arrivals: number[] = [];
  // ~every 15 min: uniform in [0.5, 1.5] × the mean gap
  for (let t = 0; t < hours * 3600; t += every * (0.5 + rng())) arrivals.push(t);
  return trace(
    'trickle',
    `a job every ~${every / 60} min (± 50%) for ${hours} h`,
    arrivals,
    rng,
    opts.durations ?? DEFAULT_DURATIONS,
  );
}

// ---- simulation ----

export interface SimParams {
  seed: number;
  slotsPerInstance: number;
  minInstances: number;
  maxInstances: number;
  /** Boot time of each instance is uniform in [bootMinSeconds, bootMaxSeconds]. */
  bootMinSeconds: number;
  bootMaxSeconds: number;
  /** A worker with no job for this long terminates its instance. */
  idleExitSeconds: number;
  /** feederd runs the autoscaler this often. */
  tickSeconds: number;
  cooldownSeconds: number;
  /** A launched instance shows up in the fleet listing only after this long (EC2 eventual consistency). */
  listLagSeconds: number;
  /** Probability that one launch call is throttled (fails, and feederd backs off). */
  throttleRate: number;
  /** Per-instance billing minimum (EC2 Linux: 60 s, then per second). */
  billingMinimumSeconds: number;
  /** The encode-length estimate the nommer policy is given (feederd's running mean). */
  expectedJobSeconds: number;
  /** $/hour of one instance (for the spend cap and the cost figures). */
  hourlyPrice?: number;
  /** aws.ec2.maxHourlySpend: the nommer policy never launches past it. */
  maxHourlySpend?: number;
}

// Fleet settings mirror the defaults of the `aws.ec2` config section (src/config.ts): one job
// per instance, workers idle out after 45 s (config's aws.ec2.idleExitSeconds default), 30 s cool-down; max sized so a burst fits.
export const DEFAULT_PARAMS: SimParams = {
  seed: 1,
  slotsPerInstance: 1,
  minInstances: 0,
  maxInstances: 60,
  bootMinSeconds: 60,
  bootMaxSeconds: 90,
  idleExitSeconds: 45,
  tickSeconds: 10,
  cooldownSeconds: 30,
  listLagSeconds: 5,
  throttleRate: 0,
  billingMinimumSeconds: 60,
  expectedJobSeconds: meanDuration(DEFAULT_DURATIONS),
};

export type PolicyName = 'nommer' | 'naive';

export interface SimResult {
  policy: string;
  instanceSeconds: number;
  instanceHours: number;
  waits: number[];
  p50Wait: number;
  p95Wait: number;
  makespan: number;
  jobsDone: number;
  launches: number;
  peakInstances: number;
  /** Times the policy asked to terminate an instance that was running a job (must stay 0). */
  busyTerminations: number;
  throttledCalls: number;
  /** The most instances alive at once times hourlyPrice ($/h; 0 without a price). */
  peakHourlySpend: number;
  /** Ticks at which the spend cap held back launches the backlog wanted. */
  spendHeldTicks: number;
}

interface SimInstance {
  id: string;
  launchedAt: number;
  bootDone: number;
  state: 'booting' | 'running' | 'terminated';
  busy: number;
  idleSince?: number;
  endedAt?: number;
}

type SimEvent =
  | { t: number; seq: number; kind: 'finish'; inst: SimInstance }
  | { t: number; seq: number; kind: 'boot'; inst: SimInstance }
  | { t: number; seq: number; kind: 'arrive'; job: Job }
  | { t: number; seq: number; kind: 'idle'; inst: SimInstance; since: number }
  | { t: number; seq: number; kind: 'tick' };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type NewEvent = DistributiveOmit<SimEvent, 'seq'>;

// Same-time order: free slots first, then new capacity, new work, idle exits, and the autoscaler last.
const KIND_ORDER: Record<SimEvent['kind'], number> = { finish: 0, boot: 1, arrive: 2, idle: 3, tick: 4 };

class EventHeap {
  private items: SimEvent[] = [];
  get size(): number {
    return this.items.length;
  }
  private less(a: SimEvent, b: SimEvent): boolean {
    if (a.t !== b.t) return a.t < b.t;
    if (a.kind !== b.kind) return KIND_ORDER[a.kind] < KIND_ORDER[b.kind];
    return a.seq < b.seq;
  }
  push(e: SimEvent): void {
    const h = this.items;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.less(h[i]!, h[p]!)) break;
      [h[i], h[p]] = [h[p]!, h[i]!];
      i = p;
    }
  }
  pop(): SimEvent | undefined {
    const h = this.items;
    const top = h[0];
    const last = h.pop();
    if (h.length > 0 && last) {
      h[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < h.length && this.less(h[l]!, h[m]!)) m = l;
        if (r < h.length && this.less(h[r]!, h[m]!)) m = r;
        if (m === i) break;
        [h[i], h[m]] = [h[m]!, h[i]!];
        i = m;
      }
    }
    return top;
  }
}

/** Nearest-rank percentile of a list of numbers (0 for an empty list). */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[rank - 1]!;
}

/** The naive policy: one instance per job (queued or running), up to max; booting ones counted. */
function naiveLaunches(waiting: number, inFlight: number, exist: number, max: number): number {
  return Math.max(0, Math.min(max, waiting + inFlight) - exist);
}

export function simulate(tr: Trace, policy: PolicyName, params: SimParams = DEFAULT_PARAMS): SimResult {
  const rng = mulberry32(params.seed ^ 0x9e3779b9);
  const heap = new EventHeap();
  let seq = 0;
  const at = (e: NewEvent) => heap.push({ ...e, seq: seq++ } as SimEvent);

  const instances: SimInstance[] = [];
  const queue: Job[] = [];
  let queueHead = 0;
  const waits: number[] = [];
  let done = 0;
  let lastFinish = 0;
  let launches = 0;
  let peak = 0;
  let busyTerminations = 0;
  let throttledCalls = 0;
  let backoff: BackoffState = { failures: 0 };
  let lastScaleUp: { at: number; count: number } | undefined;
  const total = tr.jobs.length;
  const config: AutoscalerConfig = {
    minInstances: params.minInstances,
    maxInstances: params.maxInstances,
    slotsPerInstance: params.slotsPerInstance,
    cooldownSeconds: params.cooldownSeconds,
    bootSeconds: (params.bootMinSeconds + params.bootMaxSeconds) / 2,
    expectedJobSeconds: params.expectedJobSeconds,
    ...(params.hourlyPrice !== undefined ? { hourlyPrice: params.hourlyPrice } : {}),
    ...(params.maxHourlySpend !== undefined ? { maxHourlySpend: params.maxHourlySpend } : {}),
  };
  let spendHeldTicks = 0;

  for (const job of tr.jobs) at({ t: job.arrival, kind: 'arrive', job });
  const firstArrival = tr.jobs.length > 0 ? Math.min(...tr.jobs.map((j) => j.arrival)) : 0;
  at({ t: 0, kind: 'tick' });

  const alive = () => instances.filter((i) => i.state !== 'terminated');

  const goIdle = (inst: SimInstance, t: number) => {
    inst.idleSince = t;
    at({ t: t + params.idleExitSeconds, kind: 'idle', inst, since: t });
  };

  // Workers long-poll the queue: each free slot is a poller, so a waiting job goes to a free
  // slot chosen at random (SQS does not prefer the busiest worker).
  const dispatch = (t: number) => {
    while (queueHead < queue.length) {
      const free = instances.filter((i) => i.state === 'running' && i.busy < params.slotsPerInstance);
      if (free.length === 0) return;
      const totalFree = free.reduce((n, i) => n + params.slotsPerInstance - i.busy, 0);
      let pick = Math.floor(rng() * totalFree);
      let inst = free[0]!;
      for (const i of free) {
        pick -= params.slotsPerInstance - i.busy;
        if (pick < 0) {
          inst = i;
          break;
        }
      }
      const job = queue[queueHead++]!;
      inst.busy++;
      inst.idleSince = undefined;
      waits.push(t - job.arrival);
      at({ t: t + job.duration, kind: 'finish', inst });
    }
  };

  const launch = (t: number, n: number) => {
    for (let k = 0; k < n; k++) {
      const boot = params.bootMinSeconds + rng() * (params.bootMaxSeconds - params.bootMinSeconds);
      const inst: SimInstance = {
        id: `i-${instances.length}`,
        launchedAt: t,
        bootDone: t + boot,
        state: 'booting',
        busy: 0,
      };
      instances.push(inst);
      at({ t: t + boot, kind: 'boot', inst });
    }
    launches += n;
    peak = Math.max(peak, alive().length);
  };

  const terminate = (t: number, inst: SimInstance) => {
    inst.state = 'terminated';
    inst.endedAt = t;
  };

  const tick = (t: number) => {
    const waiting = queue.length - queueHead;
    const inFlight = instances.reduce((n, i) => n + (i.state === 'running' ? i.busy : 0), 0);
    const listed = alive().filter((i) => t - i.launchedAt >= params.listLagSeconds);
    if (policy === 'naive') {
      // Same list lag and throttling as nommer, and the same in-flight accounting for launches the
      // listing does not show yet, so the comparison is about the sizing rule only.
      const recent =
        lastScaleUp && t - lastScaleUp.at < params.cooldownSeconds
          ? Math.max(0, lastScaleUp.count - listed.filter((i) => i.launchedAt >= lastScaleUp!.at).length)
          : 0;
      if (backoff.backoffUntil !== undefined && t * 1000 < backoff.backoffUntil) return;
      const n = naiveLaunches(waiting, inFlight, listed.length + recent, params.maxInstances);
      if (n > 0) callLaunch(t, n);
      return;
    }
    const view: InstanceView[] = listed.map((i) => ({
      id: i.id,
      state: i.state === 'booting' ? 'booting' : 'running',
      launchedAt: i.launchedAt * 1000,
      busySlots: i.busy,
      idleSince: i.idleSince === undefined ? undefined : i.idleSince * 1000,
    }));
    const d = decide({
      now: t * 1000,
      queue: { waiting, inFlight },
      instances: view,
      config,
      lastScaleUp: lastScaleUp && { at: lastScaleUp.at * 1000, count: lastScaleUp.count },
      backoffUntil: backoff.backoffUntil,
    });
    for (const id of d.terminate) {
      const inst = instances.find((i) => i.id === id);
      if (!inst || inst.state === 'terminated') continue;
      if (inst.busy > 0) busyTerminations++;
      terminate(t, inst);
    }
    if (d.heldBy === 'maxHourlySpend') spendHeldTicks++;
    if (d.launch > 0) callLaunch(t, d.launch);
  };

  const callLaunch = (t: number, n: number) => {
    const throttled = rng() < params.throttleRate;
    backoff = afterFleetCall(backoff, !throttled, t * 1000, rng());
    if (throttled) {
      throttledCalls++;
      return;
    }
    launch(t, n);
    lastScaleUp = { at: t, count: n };
  };

  for (let e = heap.pop(); e; e = heap.pop()) {
    const t = e.t;
    switch (e.kind) {
      case 'arrive':
        queue.push(e.job);
        dispatch(t);
        break;
      case 'boot':
        if (e.inst.state !== 'booting') break;
        e.inst.state = 'running';
        dispatch(t);
        if (e.inst.busy === 0) goIdle(e.inst, t);
        break;
      case 'finish':
        e.inst.busy--;
        done++;
        lastFinish = Math.max(lastFinish, t);
        dispatch(t);
        if (e.inst.busy === 0) goIdle(e.inst, t);
        break;
      case 'idle':
        if (e.inst.state === 'running' && e.inst.busy === 0 && e.inst.idleSince === e.since) terminate(t, e.inst);
        break;
      case 'tick':
        tick(t);
        // Keep ticking while work remains, or while the floor would need restoring.
        if (done < total || (params.minInstances > 0 && t < lastFinish + params.idleExitSeconds))
          at({ t: t + params.tickSeconds, kind: 'tick' });
        break;
    }
  }
  // With a floor, instances idle out after the last tick; bill them to their idle exit.
  for (const i of instances)
    if (i.state !== 'terminated') terminate(Math.max(i.bootDone, lastFinish) + params.idleExitSeconds, i);

  const instanceSeconds = instances.reduce(
    (s, i) => s + Math.max(params.billingMinimumSeconds, Math.ceil(i.endedAt! - i.launchedAt)),
    0,
  );
  return {
    policy,
    instanceSeconds,
    instanceHours: instanceSeconds / 3600,
    waits,
    p50Wait: percentile(waits, 50),
    p95Wait: percentile(waits, 95),
    makespan: lastFinish - firstArrival,
    jobsDone: done,
    launches,
    peakInstances: peak,
    busyTerminations,
    throttledCalls,
    peakHourlySpend: peak * (params.hourlyPrice ?? 0),
    spendHeldTicks,
  };
}

// ---- reference costs ----

/**
 * Universal floor, valid for any policy: every instance bills at least its boot plus the slot
 * time of its jobs divided by its slots, and at least one instance must boot (billing minimum
 * applied). So billed ≥ max(60, bootMin + Σ durations / slots). Reached only by a policy that
 * runs the whole trace on one instance with every slot always full, whatever the waits.
 */
export function floorSeconds(tr: Trace, params: SimParams = DEFAULT_PARAMS): number {
  if (tr.jobs.length === 0) return 0;
  const work = tr.jobs.reduce((s, j) => s + j.duration, 0);
  return Math.max(params.billingMinimumSeconds, params.bootMinSeconds + work / params.slotsPerInstance);
}

/**
 * Clairvoyant bound: a planner that knows every arrival and duration in advance.
 * - Schedule: each job starts at its arrival unless all maxInstances × slots slots are busy;
 *   then it takes the first slot to free (FIFO). Instances are booted ahead of need, so no job
 *   ever waits for a boot — only for the max.
 * - Packing is fluid: jobs may move between instances, so with r(t) jobs running the fleet is
 *   exactly ceil(r(t) / slots) instances.
 * - Instances: the k-th instance is needed while ceil(r/slots) ≥ k. Each stretch of need costs
 *   its length plus one boot (bootMinSeconds, the fastest boot) at the 60 s billing minimum; two
 *   stretches separated by a gap no longer than a boot are served by one instance kept idle
 *   through the gap (cheaper than a second boot).
 * No real policy can bill less while giving every job a wait no longer than this schedule's
 * (zero below max): it would need fewer running instances than ceil(r/slots) at some moment,
 * or fewer boots. A policy that lets jobs wait longer could, in principle — hence `floorSeconds`.
 */
export function clairvoyant(tr: Trace, params: SimParams = DEFAULT_PARAMS): SimResult {
  const slots = params.slotsPerInstance;
  const cap = params.maxInstances * slots;
  const jobs = [...tr.jobs].sort((a, b) => a.arrival - b.arrival || a.id - b.id);
  // slot free times, kept sorted ascending (a simple insertion keeps this O(n × cap) but tiny).
  const free: number[] = new Array<number>(cap).fill(-Infinity);
  const waits: number[] = [];
  const deltas: Array<[number, number]> = [];
  let lastFinish = 0;
  for (const j of jobs) {
    const slot = free.shift()!;
    const start = Math.max(j.arrival, slot);
    const end = start + j.duration;
    waits.push(start - j.arrival);
    deltas.push([start, +1], [end, -1]);
    lastFinish = Math.max(lastFinish, end);
    let k = free.findIndex((f) => f > end);
    if (k < 0) k = free.length;
    free.splice(k, 0, end);
  }
  // Ends before starts at the same instant: a freed slot is reused without a new instance.
  deltas.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  // Piecewise-constant instance count N(t) = ceil(r(t)/slots).
  const segments: Array<{ from: number; to: number; n: number }> = [];
  let r = 0;
  for (let i = 0; i < deltas.length; ) {
    const t = deltas[i]![0];
    while (i < deltas.length && deltas[i]![0] === t) r += deltas[i++]![1];
    const next = i < deltas.length ? deltas[i]![0] : t;
    if (next > t) segments.push({ from: t, to: next, n: Math.ceil(r / slots) });
  }
  const maxN = segments.reduce((m, s) => Math.max(m, s.n), 0);
  const boot = params.bootMinSeconds;
  let billed = 0;
  let launchesCount = 0;
  for (let k = 1; k <= maxN; k++) {
    let runStart: number | undefined;
    let runEnd = 0;
    const close = () => {
      if (runStart === undefined) return;
      billed += Math.max(params.billingMinimumSeconds, boot + (runEnd - runStart));
      launchesCount++;
      runStart = undefined;
    };
    for (const s of segments) {
      if (s.n < k) continue;
      if (runStart !== undefined && s.from - runEnd <= boot) {
        runEnd = s.to; // keep the instance through a short gap
      } else {
        close();
        runStart = s.from;
        runEnd = s.to;
      }
    }
    close();
  }
  const firstArrival = jobs.length > 0 ? jobs[0]!.arrival : 0;
  return {
    policy: 'clairvoyant',
    instanceSeconds: billed,
    instanceHours: billed / 3600,
    waits,
    p50Wait: percentile(waits, 50),
    p95Wait: percentile(waits, 95),
    makespan: lastFinish - firstArrival,
    jobsDone: jobs.length,
    launches: launchesCount,
    peakInstances: maxN,
    busyTerminations: 0,
    throttledCalls: 0,
    peakHourlySpend: maxN * (params.hourlyPrice ?? 0),
    spendHeldTicks: 0,
  };
}
