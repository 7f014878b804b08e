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
  /** How long a worker takes to see that its instance was asked to drain (its poll of the instance's tags). */
  drainNoticeSeconds: number;
  /** aws.ec2.maxHourlySpend: the nommer policy never launches past it. */
  maxHourlySpend?: number;
  /**
   * What-if, not nommer today: waiting jobs are handed out longest-estimated first instead of in
   * arrival order, so the slots of one instance, filled together at its boot, get jobs of like
   * length. The estimate is the true duration times a log-normal error of this sigma (0: exact).
   * On AWS it needs feederd to hold the backlog and send a task only for a free slot (SQS keeps
   * no order); the local queue has priorities.
   */
  longestFirst?: { estimateSigma: number };
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
  drainNoticeSeconds: 5,
};

/**
 * nommer: the autoscaler with scale-in by draining; today: the same autoscaler without it (scale-in
 * only by the workers' idle exit); naive: one instance per job up to max.
 */
export type PolicyName = 'nommer' | 'today' | 'naive';

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
  /** Instances that ended drained (their worker saw the drain and left when idle). */
  drained: number;
}

interface SimInstance {
  id: string;
  launchedAt: number;
  bootDone: number;
  state: 'booting' | 'running' | 'terminated';
  busy: number;
  /** Asked to drain (by the autoscaler) ... */
  draining: boolean;
  /** ... and its worker has seen it: it leases nothing new, and ends the instance once idle. */
  drainSeen: boolean;
  idleSince?: number;
  endedAt?: number;
}

type SimEvent =
  | { t: number; seq: number; kind: 'finish'; inst: SimInstance }
  | { t: number; seq: number; kind: 'boot'; inst: SimInstance }
  | { t: number; seq: number; kind: 'arrive'; job: Job }
  | { t: number; seq: number; kind: 'idle'; inst: SimInstance; since: number }
  | { t: number; seq: number; kind: 'notice'; inst: SimInstance }
  | { t: number; seq: number; kind: 'tick' };

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type NewEvent = DistributiveOmit<SimEvent, 'seq'>;

// Same-time order: free slots first, then new capacity, new work, idle exits, and the autoscaler last.
const KIND_ORDER: Record<SimEvent['kind'], number> = { finish: 0, boot: 1, arrive: 2, idle: 3, notice: 4, tick: 5 };

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

/**
 * How a job joins the waiting list: at its end (arrival order), or, with params.longestFirst,
 * before the first waiting job with a shorter estimate. Estimates come from their own random
 * stream, so the rest of the run draws what it draws without them.
 */
function waitingOrder(tr: Trace, params: SimParams, queue: Job[], head: () => number): (job: Job) => void {
  const lf = params.longestFirst;
  if (!lf) return (job) => queue.push(job);
  const rng = mulberry32(params.seed ^ 0x2545f491);
  const estimate = new Map(tr.jobs.map((j) => [j.id, j.duration * Math.exp(lf.estimateSigma * normal(rng))]));
  const est = (j: Job) => estimate.get(j.id)!;
  return (job) => {
    let i = head();
    while (i < queue.length && est(queue[i]!) >= est(job)) i++;
    queue.splice(i, 0, job);
  };
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
    drain: policy === 'nommer',
    ...(params.hourlyPrice !== undefined ? { hourlyPrice: params.hourlyPrice } : {}),
    ...(params.maxHourlySpend !== undefined ? { maxHourlySpend: params.maxHourlySpend } : {}),
  };
  let spendHeldTicks = 0;

  for (const job of tr.jobs) at({ t: job.arrival, kind: 'arrive', job });
  const enqueue = waitingOrder(tr, params, queue, () => queueHead);
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
      const free = instances.filter((i) => i.state === 'running' && !i.drainSeen && i.busy < params.slotsPerInstance);
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
        draining: false,
        drainSeen: false,
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
  let drained = 0;
  const leaveDrained = (t: number, inst: SimInstance) => {
    drained++;
    terminate(t, inst);
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
      draining: i.draining,
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
    // The drain mark is a tag: the worker sees it (or its removal) at its next poll.
    for (const [ids, on] of [
      [d.drain, true],
      [d.undrain, false],
    ] as const) {
      for (const id of ids) {
        const inst = instances.find((i) => i.id === id);
        if (!inst || inst.state === 'terminated') continue;
        inst.draining = on;
        at({ t: t + params.drainNoticeSeconds, kind: 'notice', inst });
      }
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
        enqueue(e.job);
        dispatch(t);
        break;
      case 'boot':
        if (e.inst.state !== 'booting') break;
        e.inst.state = 'running';
        // A worker starting on a drained instance sees the mark at once and ends it.
        e.inst.drainSeen = e.inst.draining;
        if (e.inst.drainSeen) {
          leaveDrained(t, e.inst);
          break;
        }
        dispatch(t);
        if (e.inst.busy === 0) goIdle(e.inst, t);
        break;
      case 'finish':
        e.inst.busy--;
        done++;
        lastFinish = Math.max(lastFinish, t);
        dispatch(t);
        if (e.inst.busy === 0 && e.inst.drainSeen) leaveDrained(t, e.inst);
        else if (e.inst.busy === 0) goIdle(e.inst, t);
        break;
      case 'notice':
        if (e.inst.state !== 'running') break;
        e.inst.drainSeen = e.inst.draining;
        if (e.inst.drainSeen && e.inst.busy === 0) leaveDrained(t, e.inst);
        else if (!e.inst.drainSeen) dispatch(t);
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
    drained,
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

/** A job as the zero-wait clairvoyant schedule runs it. */
interface Interval {
  id: number;
  start: number;
  end: number;
}

/**
 * The schedule every reference below shares: each job starts at its arrival unless all
 * maxInstances × slots slots are busy; then it takes the first slot to free (FIFO). Instances are
 * booted ahead of need, so no job ever waits for a boot — only for the max.
 */
function zeroWaitSchedule(tr: Trace, params: SimParams): { runs: Interval[]; waits: number[]; lastFinish: number } {
  const cap = params.maxInstances * params.slotsPerInstance;
  const jobs = [...tr.jobs].sort((a, b) => a.arrival - b.arrival || a.id - b.id);
  // slot free times, kept sorted ascending (a simple insertion keeps this O(n × cap) but tiny).
  const free: number[] = new Array<number>(cap).fill(-Infinity);
  const runs: Interval[] = [];
  const waits: number[] = [];
  let lastFinish = 0;
  for (const j of jobs) {
    const slot = free.shift()!;
    const start = Math.max(j.arrival, slot);
    const end = start + j.duration;
    waits.push(start - j.arrival);
    runs.push({ id: j.id, start, end });
    lastFinish = Math.max(lastFinish, end);
    let k = free.findIndex((f) => f > end);
    if (k < 0) k = free.length;
    free.splice(k, 0, end);
  }
  return { runs, waits, lastFinish };
}

interface Segment {
  from: number;
  to: number;
  /** ceil(jobs running / slots): the instances a fleet that could move jobs would need. */
  n: number;
}

/** The piecewise-constant fluid instance count N(t) = ceil(r(t) / slots) of a schedule. */
function fluidSegments(runs: Interval[], slots: number): Segment[] {
  const deltas: Array<[number, number]> = [];
  for (const r of runs) deltas.push([r.start, +1], [r.end, -1]);
  // Ends before starts at the same instant: a freed slot is reused without a new instance.
  deltas.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  const segments: Segment[] = [];
  let r = 0;
  for (let i = 0; i < deltas.length; ) {
    const t = deltas[i]![0];
    while (i < deltas.length && deltas[i]![0] === t) r += deltas[i++]![1];
    const next = i < deltas.length ? deltas[i]![0] : t;
    if (next > t) segments.push({ from: t, to: next, n: Math.ceil(r / slots) });
  }
  return segments;
}

/**
 * Billed seconds of the fluid fleet: the k-th instance is needed while N(t) ≥ k; each stretch of
 * need costs its length plus one boot (bootMinSeconds) at the billing minimum; two stretches
 * separated by a gap no longer than a boot are served by one instance kept idle through the gap.
 */
function fluidBilled(segments: Segment[], params: SimParams): { billed: number; launches: number; peak: number } {
  const peak = segments.reduce((m, s) => Math.max(m, s.n), 0);
  const boot = params.bootMinSeconds;
  let billed = 0;
  let launches = 0;
  for (let k = 1; k <= peak; k++) {
    let runStart: number | undefined;
    let runEnd = 0;
    const close = () => {
      if (runStart === undefined) return;
      billed += Math.max(params.billingMinimumSeconds, boot + (runEnd - runStart));
      launches++;
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
  return { billed, launches, peak };
}

function referenceResult(
  policy: string,
  tr: Trace,
  s: { waits: number[]; lastFinish: number },
  billed: number,
  launches: number,
  peak: number,
  params: SimParams,
): SimResult {
  const firstArrival = tr.jobs.length > 0 ? Math.min(...tr.jobs.map((j) => j.arrival)) : 0;
  return {
    policy,
    instanceSeconds: billed,
    instanceHours: billed / 3600,
    waits: s.waits,
    p50Wait: percentile(s.waits, 50),
    p95Wait: percentile(s.waits, 95),
    makespan: s.lastFinish - firstArrival,
    jobsDone: tr.jobs.length,
    launches,
    peakInstances: peak,
    busyTerminations: 0,
    throttledCalls: 0,
    peakHourlySpend: peak * (params.hourlyPrice ?? 0),
    spendHeldTicks: 0,
    drained: 0,
  };
}

/**
 * Clairvoyant bound with jobs that may move: a planner that knows every arrival and duration,
 * runs the zero-wait schedule, and packs jobs fluidly (a running job may move between instances),
 * so with r(t) jobs running the fleet is exactly ceil(r(t) / slots) instances (fluidBilled).
 * No real policy can bill less while giving every job a wait no longer than this schedule's
 * (zero below max). A policy that lets jobs wait longer could, in principle — hence `floorSeconds`.
 */
export function clairvoyant(tr: Trace, params: SimParams = DEFAULT_PARAMS): SimResult {
  const s = zeroWaitSchedule(tr, params);
  const f = fluidBilled(fluidSegments(s.runs, params.slotsPerInstance), params);
  return referenceResult('clairvoyant, jobs move', tr, s, f.billed, f.launches, f.peak, params);
}

/** An instance of a plan: up from `from` to `last` (its last job's end), running `jobs`. */
interface PlannedInstance {
  from: number;
  last: number;
  jobs: Interval[];
}

/** Whether `m` has a free slot at every moment of r's run. */
function hasRoom(m: PlannedInstance, r: Interval, slots: number): boolean {
  const edges: Array<[number, number]> = [];
  for (const j of m.jobs) {
    if (j.start >= r.end || j.end <= r.start) continue;
    edges.push([Math.max(j.start, r.start), +1], [j.end, -1]);
  }
  if (edges.length < 2 * slots) return true;
  edges.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let running = 0;
  for (const [, d] of edges) {
    running += d;
    if (running >= slots) return false;
  }
  return true;
}

/**
 * Where a clairvoyant planner that never moves a job puts `r`: the instance it fits under
 * (no longer bill: the tightest such), else the cheapest to extend — or keep up through an idle
 * gap — when that costs less than a new boot, else nowhere (a new instance).
 */
function placeFor(r: Interval, open: PlannedInstance[], params: SimParams): PlannedInstance | undefined {
  let best: PlannedInstance | undefined;
  let bestCost = params.bootMinSeconds + (r.end - r.start);
  for (const m of open) {
    if (m.last < r.start - params.bootMinSeconds || !hasRoom(m, r, params.slotsPerInstance)) continue;
    const cost = Math.max(0, r.end - m.last);
    // Equal cost: the lower horizon, keeping the long-lived instances' slots for long jobs.
    if (cost < bestCost || (cost === bestCost && best && m.last < best.last)) {
      best = m;
      bestCost = cost;
    }
  }
  return best;
}

/**
 * A clairvoyant plan that never moves a running job between instances: the zero-wait schedule,
 * with the jobs that start within a boot of each other placed together, longest first (so the
 * long ones share instances and the short ones fill the rest: for a burst that starts at once
 * this pairing by length is optimal, and bills exactly what fluid packing does), each where it
 * adds least to the bill (placeFor); or blindPacking's plan when that bills less. An achievable
 * schedule, so an upper bound on the no-migration clairvoyant optimum, whose lower bound is
 * `clairvoyant` (jobs may move; packing without moving jobs is a busy-time problem, NP-hard in
 * general, so no tighter bound is computed): the optimum lies between the two.
 */
export function clairvoyantNoMigration(tr: Trace, params: SimParams = DEFAULT_PARAMS): SimResult {
  const s = zeroWaitSchedule(tr, params);
  const runs = [...s.runs].sort((a, b) => a.start - b.start || a.id - b.id);
  const plan: PlannedInstance[] = [];
  for (let i = 0; i < runs.length; ) {
    let j = i + 1;
    while (j < runs.length && runs[j]!.start - runs[i]!.start <= params.bootMinSeconds) j++;
    // Instances whose last job ended more than a boot before this group are never reused.
    const open = plan.filter((m) => m.last >= runs[i]!.start - params.bootMinSeconds);
    for (const r of runs.slice(i, j).sort((a, b) => b.end - a.end || a.id - b.id)) {
      let m = placeFor(r, open, params);
      if (!m) {
        m = { from: r.start, last: r.end, jobs: [] };
        plan.push(m);
        open.push(m);
      }
      m.jobs.push(r);
      m.last = Math.max(m.last, r.end);
      m.from = Math.min(m.from, r.start);
    }
    i = j;
  }
  const billed = plan.reduce(
    (sum, m) => sum + Math.max(params.billingMinimumSeconds, params.bootMinSeconds + m.last - m.from),
    0,
  );
  const peak = fluidBilled(fluidSegments(s.runs, params.slotsPerInstance), params).peak;
  // Packing in start order, fullest first, is a plan too (and the better one when jobs start as
  // slots free one by one, as in a batch held back by max): the cheaper of the two.
  const blind = blindPacking(tr, params);
  if (blind.instanceSeconds < billed) return { ...blind, policy: 'clairvoyant, no job moves' };
  return referenceResult('clairvoyant, no job moves', tr, s, billed, plan.length, peak, params);
}

/**
 * Not a bound — what packing without knowing durations gets at best on the same zero-wait
 * schedule: instances booted ahead of arrivals (bootMin), each job placed at its start on the
 * fullest instance with a free slot (a new one when none), an instance ending the moment its
 * last job does, kept through a gap no longer than a boot when the next job needs it. Shows how
 * much of a policy's excess over the clairvoyant bound is the cost of not knowing which jobs are
 * long.
 */
export function blindPacking(tr: Trace, params: SimParams = DEFAULT_PARAMS): SimResult {
  const s = zeroWaitSchedule(tr, params);
  const slots = params.slotsPerInstance;
  // An instance: up from `from` to `last` (its last job's end), `ends` of the jobs it runs now.
  type Box = { from: number; last: number; ends: number[] };
  const boxes: Box[] = [];
  let peak = 0;
  for (const r of [...s.runs].sort((a, b) => a.start - b.start || a.id - b.id)) {
    for (const b of boxes) b.ends = b.ends.filter((e) => e > r.start);
    let box = boxes
      .filter((b) => b.ends.length > 0 && b.ends.length < slots)
      .sort((a, b) => b.ends.length - a.ends.length)[0];
    // None with a free slot: one that went idle within a boot ago was kept up for this job.
    box ??= boxes
      .filter((b) => b.ends.length === 0 && r.start - b.last <= params.bootMinSeconds)
      .sort((a, b) => b.last - a.last)[0];
    if (!box) {
      box = { from: r.start, last: r.start, ends: [] };
      boxes.push(box);
    }
    box.ends.push(r.end);
    box.last = Math.max(box.last, r.end);
    peak = Math.max(peak, boxes.filter((b) => b.ends.length > 0).length);
  }
  const billed = boxes.reduce(
    (sum, b) => sum + Math.max(params.billingMinimumSeconds, params.bootMinSeconds + b.last - b.from),
    0,
  );
  return referenceResult('blind packing (not a bound)', tr, s, billed, boxes.length, peak, params);
}
