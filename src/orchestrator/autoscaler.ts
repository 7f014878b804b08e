// The fleet autoscaler: a pure function from (queue depth, instances, config, now) to
// (launch n, terminate ids), plus the backoff arithmetic feederd applies when the cloud API
// throttles or fails. No I/O and no clock: `now` is a parameter, randomness (jitter) too.
//
// Policy, in short:
// - Scale up to cover the backlog: the jobs waiting beyond what free slots, instances still
//   booting (or launched but not yet listed) and slots expected to free up within a boot time
//   will absorb, rounded up to whole instances, never past maxInstances.
// - Scale down is the workers' own idle exit. The autoscaler terminates only to correct: an
//   instance stuck booting far past bootSeconds, or idle instances above maxInstances after a
//   config change. It never terminates an instance that is running a job.
// - minInstances is a floor that is always restored (subject to max and backoff).
// - While backing off after throttling or an API error, it asks for nothing at all.
//
// Why no scale-down-by-load and no classic "wait N seconds after a launch": EC2 bills per
// second (60 s minimum), so an idle worker that exits after about a boot time's worth of idling
// costs at most what a relaunch would (the ski-rental argument); the autoscaler has no reason
// to kill warm capacity. What makes a scale-up-only autoscaler flap is double counting: a launch
// the EC2 API does not list yet (DescribeInstances is eventually consistent) or a backlog blip
// that running workers drain before a new instance could boot. The cool-down window covers the
// first (launched-but-unlisted instances count as booting), the drain estimate the second.
//
// Units: timestamps (`now`, `launchedAt`, `idleSince`, `backoffUntil`, `lastScaleUp.at`) are ms
// since the epoch, like WorkerNode.launchedAt; durations in config are seconds.

import { NommerError } from '../errors.js';
import type { WorkerNodeState } from '../ports/fleet.js';

export interface InstanceView {
  id: string;
  state: WorkerNodeState;
  /** ms since the epoch */
  launchedAt: number;
  /** Jobs (tasks) this instance is running now; 0 while booting. */
  busySlots: number;
  /** ms since the epoch; when it last became idle, if it is idle. */
  idleSince?: number;
}

export interface AutoscalerConfig {
  /** Instances kept alive even with an empty queue. */
  minInstances: number;
  /** Hard ceiling on instances that exist (booting, running or stopping). */
  maxInstances: number;
  /** Jobs one instance runs at once. */
  slotsPerInstance: number;
  /** Window after a launch during which its instances, if the API does not list them yet, count as booting. */
  cooldownSeconds: number;
  /** Typical time from launch until a worker takes its first job. */
  bootSeconds: number;
  /** Typical encode length (e.g. the mean of recent tasks); enables the drain estimate. */
  expectedJobSeconds?: number;
  /** A booting instance older than this is presumed stuck and replaced; default 3 × bootSeconds. */
  stuckBootSeconds?: number;
  /** $/hour of one instance (the dearest type that may be launched, on-demand: an upper bound). */
  hourlyPrice?: number;
  /** The fleet never costs more than this per hour (aws.ec2.maxHourlySpend); needs hourlyPrice. */
  maxHourlySpend?: number;
}

/** How many instances the spend cap allows (Infinity without a cap). */
export function instancesWithinSpend(config: AutoscalerConfig): number {
  if (config.maxHourlySpend === undefined) return Number.POSITIVE_INFINITY;
  if (!config.hourlyPrice) return Number.POSITIVE_INFINITY;
  // A hair of tolerance so that, say, 0.3 / 0.1 allows 3 and not 2.
  return Math.floor(config.maxHourlySpend / config.hourlyPrice + 1e-9);
}

export interface AutoscalerInput {
  /** ms since the epoch */
  now: number;
  queue: { waiting: number; inFlight: number };
  /** The fleet as the cloud API lists it, joined with what workers report (busy slots). */
  instances: InstanceView[];
  config: AutoscalerConfig;
  /**
   * The last launch that succeeded: when (the `now` of that decision) and how many. Listed
   * instances launched from 5 s before `at` on are taken to be that launch's.
   */
  lastScaleUp?: { at: number; count: number };
  /** ms since the epoch; no API calls before this (see afterFleetCall). */
  backoffUntil?: number;
}

export interface ScaleDecision {
  launch: number;
  terminate: string[];
  /** Set when fewer were launched than the backlog wanted: which limit held the queue back. */
  heldBy?: 'maxInstances' | 'maxHourlySpend';
  /** One line a person can read in the daemon's log. */
  reason: string;
}

/** Config problems, each naming the option; empty when the config is usable. */
export function configProblems(config: AutoscalerConfig): string[] {
  const problems: string[] = [];
  const intAtLeast = (name: keyof AutoscalerConfig, min: number) => {
    const v = config[name];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < min)
      problems.push(`${name} must be an integer ≥ ${min} (got ${String(v)})`);
  };
  const numAtLeast = (name: keyof AutoscalerConfig, min: number, strict: boolean) => {
    const v = config[name];
    if (v === undefined) return;
    if (typeof v !== 'number' || !Number.isFinite(v) || (strict ? v <= min : v < min))
      problems.push(`${name} must be a number ${strict ? '>' : '≥'} ${min} (got ${String(v)})`);
  };
  intAtLeast('minInstances', 0);
  intAtLeast('maxInstances', 0);
  intAtLeast('slotsPerInstance', 1);
  numAtLeast('cooldownSeconds', 0, false);
  numAtLeast('bootSeconds', 0, false);
  numAtLeast('expectedJobSeconds', 0, true);
  numAtLeast('stuckBootSeconds', 0, true);
  numAtLeast('hourlyPrice', 0, false);
  numAtLeast('maxHourlySpend', 0, false);
  if (config.maxHourlySpend !== undefined && !config.hourlyPrice)
    problems.push('maxHourlySpend needs the instance price: set aws.ec2.prices for the instance types');
  if (problems.length === 0 && config.minInstances > config.maxInstances) {
    problems.push(`minInstances (${config.minInstances}) must not exceed maxInstances (${config.maxInstances})`);
  }
  return problems;
}

/** Throws CONFIG_INVALID listing every problem; call once, when the config is loaded. */
export function assertAutoscalerConfig(config: AutoscalerConfig): void {
  const problems = configProblems(config);
  if (problems.length > 0) {
    throw new NommerError('CONFIG_INVALID', `autoscaler config: ${problems.join('; ')}`, {
      hint: 'fix the fleet section of the nommer config',
    });
  }
}

/** How far a listed launch time may precede lastScaleUp.at and still belong to that launch (clock skew). */
const LAUNCH_TIME_SKEW_MS = 5000;

export function decide(input: AutoscalerInput): ScaleDecision {
  const { now, queue, config } = input;
  const slots = config.slotsPerInstance;
  // The ceiling is the lower of maxInstances and what maxHourlySpend pays for.
  const bySpend = instancesWithinSpend(config);
  const ceiling = Math.min(config.maxInstances, bySpend);
  const ceilingName = bySpend < config.maxInstances ? 'maxHourlySpend' : 'maxInstances';
  const ceilingText =
    ceilingName === 'maxHourlySpend'
      ? `spend cap $${config.maxHourlySpend}/h = ${bySpend} instances at $${config.hourlyPrice}/h`
      : `max ${config.maxInstances}`;

  if (input.backoffUntil !== undefined && now < input.backoffUntil) {
    const s = Math.ceil((input.backoffUntil - now) / 1000);
    return {
      launch: 0,
      terminate: [],
      reason: `backing off after a fleet API failure: no launch or terminate for ${s} s more`,
    };
  }

  const live = input.instances.filter((i) => i.state !== 'terminated');
  const stuckMs = (config.stuckBootSeconds ?? 3 * config.bootSeconds) * 1000;
  const stuck = live.filter((i) => i.state === 'booting' && i.busySlots === 0 && now - i.launchedAt > stuckMs);
  const stuckIds = new Set(stuck.map((i) => i.id));
  const booting = live.filter((i) => i.state === 'booting' && !stuckIds.has(i.id));
  const running = live.filter((i) => i.state === 'running');
  const stopping = live.filter((i) => i.state === 'stopping');

  // Launched in the cool-down window but not listed yet: they exist, and they are booting.
  let unlisted = 0;
  const last = input.lastScaleUp;
  if (last && last.count > 0 && now - last.at < config.cooldownSeconds * 1000) {
    const listed = live.filter((i) => i.launchedAt >= last.at - LAUNCH_TIME_SKEW_MS).length;
    unlisted = Math.max(0, last.count - listed);
  }

  // Corrections: stuck boots, then idle instances above max (booting newest first — they have
  // done no work yet — then running ones idle longest first). Never an instance with a job.
  const terminate = stuck.map((i) => i.id);
  const notes: string[] = [];
  if (stuck.length > 0) notes.push(`${stuck.length} stuck booting > ${Math.round(stuckMs / 1000)} s`);
  // Stopping instances are already leaving: they count toward max for launches (they still
  // exist), but trimming them would overshoot.
  const excess = booting.length + running.length + unlisted - ceiling;
  const trimmed = new Set<string>();
  if (excess > 0) {
    const idleBooting = booting.filter((i) => i.busySlots === 0).sort((a, b) => b.launchedAt - a.launchedAt);
    const idleRunning = running
      .filter((i) => i.busySlots === 0)
      .sort((a, b) => (a.idleSince ?? a.launchedAt) - (b.idleSince ?? b.launchedAt));
    for (const i of [...idleBooting, ...idleRunning].slice(0, excess)) trimmed.add(i.id);
    terminate.push(...trimmed);
    const left = excess - trimmed.size;
    notes.push(
      `${excess} above ${ceilingText}: terminating ${trimmed.size} idle${left > 0 ? `, ${left} busy left to finish` : ''}`,
    );
  }

  const keptBooting = booting.filter((i) => !trimmed.has(i.id));
  const keptRunning = running.filter((i) => !trimmed.has(i.id));
  const exist = keptBooting.length + keptRunning.length + stopping.length + unlisted;
  const room = Math.max(0, ceiling - exist);

  // Floor: stopping instances are on their way out and do not count toward it.
  const floorNeed = Math.max(0, config.minInstances - (keptBooting.length + keptRunning.length + unlisted));

  // Backlog: what free, booting and soon-to-free slots will not absorb.
  const freeSlots = keptRunning.reduce((n, i) => n + Math.max(0, slots - i.busySlots), 0);
  const bootingSlots = (keptBooting.length + unlisted) * slots;
  const busySlots = keptRunning.reduce((n, i) => n + Math.min(slots, Math.max(0, i.busySlots)), 0);
  // A busy slot frees on average every expectedJobSeconds; those that free within a boot
  // time take waiting jobs sooner than a new instance could, and cost nothing extra.
  const drains = config.expectedJobSeconds
    ? Math.floor(busySlots * Math.min(1, config.bootSeconds / config.expectedJobSeconds))
    : 0;
  const uncovered = queue.waiting - freeSlots - bootingSlots - drains;
  const backlogNeed = uncovered > 0 ? Math.ceil(uncovered / slots) : 0;

  const want = Math.max(floorNeed, backlogNeed);
  const launch = Math.min(room, want);

  const parts = [
    `waiting ${queue.waiting}`,
    `free slots ${freeSlots}`,
    `booting slots ${bootingSlots}${unlisted > 0 ? ` (${unlisted} launched, not listed yet)` : ''}`,
  ];
  if (drains > 0) parts.push(`~${drains} slots free within boot`);
  let verdict: string;
  const heldBy = launch < want ? ceilingName : undefined;
  if (want === 0) verdict = 'no launch';
  else if (launch < want) verdict = `launch ${launch} of ${want} wanted (${ceilingText} reached)`;
  else verdict = `launch ${launch}${floorNeed >= backlogNeed ? ` (floor ${config.minInstances})` : ''}`;
  if (notes.length > 0) verdict += `; ${notes.join('; ')}`;
  return { launch, terminate, ...(heldBy ? { heldBy } : {}), reason: `${parts.join(', ')} -> ${verdict}` };
}

// ---- backoff when the fleet API throttles or fails ----

export interface BackoffPolicy {
  baseSeconds: number;
  maxSeconds: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseSeconds: 2, maxSeconds: 300 };

/**
 * Delay before the next fleet API call after `failures` consecutive failures (≥ 1):
 * exponential, capped, with "equal jitter" — half fixed, half random — so callers sharing an
 * account spread out, yet never retry at once. `random` is a number in [0, 1).
 */
export function backoffSeconds(failures: number, random: number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  const n = Math.max(1, Math.floor(failures));
  const ceiling = Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.min(n - 1, 30));
  const r = Math.min(Math.max(random, 0), 1);
  return ceiling / 2 + (ceiling / 2) * r;
}

export interface BackoffState {
  /** Consecutive failed fleet API calls. */
  failures: number;
  /** ms since the epoch; pass to decide() as backoffUntil. */
  backoffUntil?: number;
}

/** The backoff state after a fleet API call: success resets it, a failure pushes backoffUntil out. */
export function afterFleetCall(
  state: BackoffState,
  ok: boolean,
  now: number,
  random: number,
  policy: BackoffPolicy = DEFAULT_BACKOFF,
): BackoffState {
  if (ok) return { failures: 0 };
  const failures = state.failures + 1;
  return { failures, backoffUntil: now + Math.round(backoffSeconds(failures, random, policy) * 1000) };
}
