// The fleet autoscaler: a pure function from (queue depth, instances, config, now) to
// (launch n, terminate ids, drain ids), plus the backoff arithmetic feederd applies when the cloud
// API throttles or fails. No I/O and no clock: `now` is a parameter, randomness (jitter) too.
//
// Policy, in short:
// - Scale up to cover the backlog: the jobs waiting beyond what free slots, instances still
//   booting (or launched but not yet listed) and slots expected to free up within a boot time
//   will absorb, rounded up to whole instances, never past maxInstances. Instances asked to drain
//   that still run jobs are called back first (no boot to wait for, no new bill).
// - Scale in by draining (config.drain, when the fleet can tell a worker so): an instance whose
//   jobs would fit in the free slots of the others leases nothing new; the others fill, and its
//   worker ends the instance when its last job is done. Otherwise scale-in is the workers' own
//   idle exit. Either way a running instance is never terminated from here: it leaves when its
//   worker does (that is the scale-in protection of a busy instance). The autoscaler terminates
//   only to correct: an instance stuck booting far past bootSeconds, or idle booting instances
//   above maxInstances after a config change (without drain, idle running ones too).
// - minInstances is a floor that is always restored (subject to max and backoff).
// - While backing off after throttling or an API error, it asks for nothing at all.
//
// Why no scale-down-by-load and no classic "wait N seconds after a launch": EC2 bills per
// second (60 s minimum), so an idle worker that exits after about a boot time's worth of idling
// costs at most what a relaunch would (the ski-rental argument); the autoscaler has no reason
// to kill warm capacity. What wastes money with several slots per instance is half-empty
// instances kept alive by a trickle of new jobs spread over all of them: draining gathers the
// new jobs on fewer instances. What makes a scale-up-only autoscaler flap is double counting: a
// launch the EC2 API does not list yet (DescribeInstances is eventually consistent) or a backlog
// blip that running workers drain before a new instance could boot. The cool-down window covers
// the first (launched-but-unlisted instances count as booting), the estimate of slots freeing
// within a boot the second.
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
  /** Asked to lease nothing new: it finishes its jobs, then its worker ends it. */
  draining?: boolean;
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
  /** Scale in by draining (the fleet can tell an instance's worker to lease nothing new). */
  drain?: boolean;
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
  /** Only instances with no worker yet (stuck or idle booting): never one that may run a job. */
  terminate: string[];
  /** To lease nothing new (scale in, or above the ceiling). */
  drain: string[];
  /** Draining instances called back to take waiting jobs. */
  undrain: string[];
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

/** The fleet sorted by what the autoscaler may do with each instance. */
interface Fleet {
  stuck: InstanceView[];
  booting: InstanceView[];
  running: InstanceView[];
  /** Asked to drain (and not stuck): leaving, unless the backlog calls them back. */
  draining: InstanceView[];
  stopping: InstanceView[];
  /** Launched in the cool-down window but not listed yet: they exist, and they are booting. */
  unlisted: number;
}

function sortFleet(input: AutoscalerInput, stuckMs: number): Fleet {
  const { now, config } = input;
  const live = input.instances.filter((i) => i.state !== 'terminated');
  const stuck = live.filter((i) => i.state === 'booting' && i.busySlots === 0 && now - i.launchedAt > stuckMs);
  const stuckIds = new Set(stuck.map((i) => i.id));
  const rest = live.filter((i) => !stuckIds.has(i.id));
  // Without drain in the config, a drain mark means nothing: the instance is as any other.
  const isDraining = (i: InstanceView) => config.drain === true && i.draining === true && i.state !== 'stopping';
  let unlisted = 0;
  const last = input.lastScaleUp;
  if (last && last.count > 0 && now - last.at < config.cooldownSeconds * 1000) {
    const listed = live.filter((i) => i.launchedAt >= last.at - LAUNCH_TIME_SKEW_MS).length;
    unlisted = Math.max(0, last.count - listed);
  }
  return {
    stuck,
    booting: rest.filter((i) => i.state === 'booting' && !isDraining(i)),
    running: rest.filter((i) => i.state === 'running' && !isDraining(i)),
    draining: rest.filter(isDraining),
    stopping: rest.filter((i) => i.state === 'stopping'),
    unlisted,
  };
}

/**
 * Above the ceiling (a config change): idle booting instances are terminated, newest first (they
 * have done no work yet), then running ones, idle longest first. With drain, running instances
 * are drained instead — busy ones too, fewest jobs first — so none is ever terminated under a
 * worker that may have just leased a job; without it, busy ones are left to finish.
 */
function trimAboveCeiling(f: Fleet, excess: number, drain: boolean): { terminate: string[]; drain: string[] } {
  if (excess <= 0) return { terminate: [], drain: [] };
  const idleBooting = f.booting.filter((i) => i.busySlots === 0).sort((a, b) => b.launchedAt - a.launchedAt);
  const terminate = idleBooting.slice(0, excess).map((i) => i.id);
  const idleRunning = f.running
    .filter((i) => i.busySlots === 0)
    .sort((a, b) => (a.idleSince ?? a.launchedAt) - (b.idleSince ?? b.launchedAt));
  const left = excess - terminate.length;
  if (!drain) return { terminate: [...terminate, ...idleRunning.slice(0, left).map((i) => i.id)], drain: [] };
  const busyRunning = f.running.filter((i) => i.busySlots > 0).sort((a, b) => a.busySlots - b.busySlots);
  return { terminate, drain: [...idleRunning, ...busyRunning].slice(0, left).map((i) => i.id) };
}

/**
 * Draining instances still running jobs are called back, fullest first (they stay up for those
 * jobs anyway), until their free slots cover `uncovered` waiting jobs: cheaper than a launch,
 * and no boot to wait for.
 */
function pickUndrain(draining: InstanceView[], uncovered: number, slots: number): InstanceView[] {
  const back: InstanceView[] = [];
  let left = uncovered;
  for (const i of [...draining].filter((i) => i.busySlots > 0).sort((a, b) => b.busySlots - a.busySlots)) {
    if (left <= 0) break;
    const free = Math.max(0, slots - i.busySlots);
    if (free === 0) continue;
    back.push(i);
    left -= free;
  }
  return back;
}

/**
 * Free slots kept on the instances that stay, in instances' worth, before any is drained: room
 * for new jobs while a launch would boot. Less saves more on a steady trickle of jobs but makes
 * some of them wait for a boot (bench/autoscaler-sim: at 4 slots, one instance's worth saved 3%
 * of the bill and added 4 s to the p95 wait; two kept waits as they were).
 */
const DRAIN_RESERVE_INSTANCES = 2;

/**
 * Scale in by draining: a half-busy instance leaves when the free slots of the busy instances
 * that stay can take the waiting jobs, its own jobs and a reserve — the others fill, and it ends
 * when its jobs do. Emptiest first (fewest jobs to wait for). Idle instances are left to their
 * idle exit (a boot's worth of idling costs no more than a relaunch) and do not count as room
 * (they may be gone before a job comes); full ones have no room to lose. The floor is kept.
 */
function pickDrain(running: InstanceView[], waiting: number, slots: number, keep: number): string[] {
  const busy = running.filter((i) => i.busySlots > 0);
  const candidates = busy
    .filter((i) => i.busySlots < slots)
    .sort((a, b) => a.busySlots - b.busySlots || a.id.localeCompare(b.id));
  let room = freeSlotsOf(busy, slots);
  let staying = running.length;
  const reserve = DRAIN_RESERVE_INSTANCES * slots;
  const drain: string[] = [];
  for (const i of candidates) {
    if (staying <= keep) break;
    const own = slots - i.busySlots;
    if (room - own < waiting + i.busySlots + reserve) continue;
    drain.push(i.id);
    room -= own;
    staying--;
  }
  return drain;
}

export function decide(input: AutoscalerInput): ScaleDecision {
  const { now, queue, config } = input;
  const slots = config.slotsPerInstance;
  const drainOn = config.drain === true;
  const cap = ceilingOf(config);

  if (input.backoffUntil !== undefined && now < input.backoffUntil) {
    const s = Math.ceil((input.backoffUntil - now) / 1000);
    return {
      launch: 0,
      terminate: [],
      drain: [],
      undrain: [],
      reason: `backing off after a fleet API failure: no launch or terminate for ${s} s more`,
    };
  }

  const stuckMs = (config.stuckBootSeconds ?? 3 * config.bootSeconds) * 1000;
  const f = sortFleet(input, stuckMs);
  const { unlisted } = f;

  // Corrections first: stuck boots, then whatever stands above the ceiling.
  const notes: string[] = [];
  if (f.stuck.length > 0) notes.push(`${f.stuck.length} stuck booting > ${Math.round(stuckMs / 1000)} s`);
  const trim = trimToCeiling(f, cap, drainOn, notes);
  const trimmed = new Set([...trim.terminate, ...trim.drain]);
  const keptBooting = f.booting.filter((i) => !trimmed.has(i.id));
  const leaving = f.stopping.length + f.draining.length + trim.drain.length;
  const exist = keptBooting.length + f.running.filter((i) => !trimmed.has(i.id)).length + leaving + unlisted;
  const room = Math.max(0, cap.ceiling - exist);

  const backlog = coverBacklog(input, f, keptBooting.length, trimmed, notes);
  const { keptRunning, uncovered, undrain, bootingSlots } = backlog;
  const backlogNeed = uncovered > 0 ? Math.ceil(uncovered / slots) : 0;

  // Floor: leaving instances do not count toward it.
  const staying = keptBooting.length + keptRunning.length + unlisted;
  const floorNeed = Math.max(0, config.minInstances - staying);
  const want = Math.max(floorNeed, backlogNeed);
  const launch = Math.min(room, want);

  // Scale in: only when nothing waits uncovered and nothing is launched.
  const drain = [...trim.drain];
  if (drainOn && want === 0 && uncovered <= 0) {
    const keep = Math.max(0, config.minInstances - keptBooting.length - unlisted);
    const more = pickDrain(keptRunning, queue.waiting, slots, keep);
    if (more.length > 0) notes.push(`draining ${more.length} (the others' free slots take their jobs' place)`);
    drain.push(...more);
  }

  const heldBy = launch < want ? cap.name : undefined;
  const counts = `waiting ${queue.waiting}, ${slotsText(f, keptRunning, bootingSlots, config)}`;
  return {
    launch,
    terminate: [...f.stuck.map((i) => i.id), ...trim.terminate],
    drain,
    undrain: undrain.map((i) => i.id),
    ...(heldBy ? { heldBy } : {}),
    reason: `${counts} -> ${verdictOf(launch, want, floorNeed >= backlogNeed, cap.text, config.minInstances, notes)}`,
  };
}

/** The ceiling: the lower of maxInstances and what maxHourlySpend pays for, named and said for the reason. */
function ceilingOf(config: AutoscalerConfig): {
  ceiling: number;
  name: 'maxHourlySpend' | 'maxInstances';
  text: string;
} {
  const bySpend = instancesWithinSpend(config);
  const ceiling = Math.min(config.maxInstances, bySpend);
  const name = bySpend < config.maxInstances ? 'maxHourlySpend' : 'maxInstances';
  const text =
    name === 'maxHourlySpend'
      ? `spend cap $${config.maxHourlySpend}/h = ${bySpend} instances at $${config.hourlyPrice}/h`
      : `max ${config.maxInstances}`;
  return { ceiling, name, text };
}

/**
 * What stands above the ceiling, trimmed (trimAboveCeiling) and noted. Stopping and draining
 * instances are already leaving: they count toward the ceiling for launches (they still exist),
 * but trimming them would overshoot.
 */
function trimToCeiling(
  f: Fleet,
  cap: { ceiling: number; text: string },
  drainOn: boolean,
  notes: string[],
): { terminate: string[]; drain: string[] } {
  const excess = f.booting.length + f.running.length + f.unlisted - cap.ceiling;
  const trim = trimAboveCeiling(f, excess, drainOn);
  if (excess > 0) {
    const left = excess - new Set([...trim.terminate, ...trim.drain]).size;
    const how = drainOn
      ? `terminating ${trim.terminate.length} idle booting, draining ${trim.drain.length}`
      : `terminating ${trim.terminate.length} idle`;
    notes.push(`${excess} above ${cap.text}: ${how}${left > 0 ? `, ${left} busy left to finish` : ''}`);
  }
  return trim;
}

/**
 * Backlog: what free, booting and soon-to-free slots will not absorb (`uncovered`); draining
 * instances with jobs are called back before anything is launched, and then count as running.
 */
function coverBacklog(
  input: AutoscalerInput,
  f: Fleet,
  keptBooting: number,
  trimmed: ReadonlySet<string>,
  notes: string[],
): { keptRunning: InstanceView[]; uncovered: number; undrain: InstanceView[]; bootingSlots: number } {
  const { queue, config } = input;
  const slots = config.slotsPerInstance;
  let keptRunning = f.running.filter((i) => !trimmed.has(i.id));
  const bootingSlots = (keptBooting + f.unlisted) * slots;
  const uncoveredBy = (running: InstanceView[]) =>
    queue.waiting - freeSlotsOf(running, slots) - bootingSlots - drainsWithinBoot(running, config);
  let uncovered = uncoveredBy(keptRunning);
  const undrain = config.drain === true && uncovered > 0 ? pickUndrain(f.draining, uncovered, slots) : [];
  if (undrain.length > 0) {
    keptRunning = [...keptRunning, ...undrain];
    uncovered = uncoveredBy(keptRunning);
    notes.push(`${undrain.length} draining called back`);
  }
  return { keptRunning, uncovered, undrain, bootingSlots };
}

/** The slots the decision counted, for its reason. */
function slotsText(f: Fleet, keptRunning: InstanceView[], bootingSlots: number, config: AutoscalerConfig): string {
  const parts = [
    `free slots ${freeSlotsOf(keptRunning, config.slotsPerInstance)}`,
    `booting slots ${bootingSlots}${f.unlisted > 0 ? ` (${f.unlisted} launched, not listed yet)` : ''}`,
  ];
  const drains = drainsWithinBoot(keptRunning, config);
  if (drains > 0) parts.push(`~${drains} slots free within boot`);
  if (f.draining.length > 0) parts.push(`${f.draining.length} draining`);
  return parts.join(', ');
}

/** What the decision does about launches, and its notes, for its reason. */
function verdictOf(
  launch: number,
  want: number,
  byFloor: boolean,
  ceilingText: string,
  minInstances: number,
  notes: readonly string[],
): string {
  let verdict: string;
  if (want === 0) verdict = 'no launch';
  else if (launch < want) verdict = `launch ${launch} of ${want} wanted (${ceilingText} reached)`;
  else verdict = `launch ${launch}${byFloor ? ` (floor ${minInstances})` : ''}`;
  return notes.length > 0 ? `${verdict}; ${notes.join('; ')}` : verdict;
}

function freeSlotsOf(running: InstanceView[], slots: number): number {
  return running.reduce((n, i) => n + Math.max(0, slots - i.busySlots), 0);
}

/**
 * A busy slot frees on average every expectedJobSeconds; those that free within a boot time
 * take waiting jobs sooner than a new instance could, and cost nothing extra.
 */
function drainsWithinBoot(running: InstanceView[], config: AutoscalerConfig): number {
  if (!config.expectedJobSeconds) return 0;
  const busy = running.reduce((n, i) => n + Math.min(config.slotsPerInstance, Math.max(0, i.busySlots)), 0);
  return Math.floor(busy * Math.min(1, config.bootSeconds / config.expectedJobSeconds));
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
