// A job's cost as its record shows it: the worker-seconds its tasks held slots (retries
// included) priced at what a slot cost when the job was made (options.pricing). On aws that is
// the on-demand list price per slot of the dearest launchable type, an upper bound, except for
// the slot time of workers that said their own instance type (worker/instance-type.ts): that is
// priced at their type's price (migration 0009); and all of it until the instances the job ran on are settled (store/instance-ledger.ts): from then on the job pays its
// exact share of their bills, boot and idle tail included (fleet/attribution.ts). Per output
// minute once the worker has measured the outputs (cost/output-media.ts).
import { outputMinutes, type OutputMedia } from '../../cost/output-media.js';
import { nanoUsdOfMs, usdOf } from '../../cost/money.js';
import type { JobOptions } from './job-options.js';

export interface JobCost {
  workerSeconds: number;
  /** null when no price is known. */
  usd: number | null;
  /** $ per minute of output; null until the outputs' lengths are known (or without a price). */
  perOutputMinute: number | null;
  /** Minutes of output, all outputs summed; null until the worker has measured them. */
  outputMinutes: number | null;
  /** Of those, minutes at 720 lines or more (what hosted transcoders bill as HD). */
  hdOutputMinutes: number | null;
  /** Where the price came from. */
  basis: string;
}

/** What the store knows besides slot time (migration 0008); all absent on an older row. */
export interface CostFacts {
  media?: readonly OutputMedia[] | null;
  /** Slot time on instances already settled, and the job's shares of their bills. */
  settledMs?: number;
  settledNano?: number;
  /** Unsettled slot time priced at the workers' own instance types, its cost, and those prices. */
  typedMs?: number;
  typedNano?: number;
  typedBasis?: readonly string[];
}

/** The job's cost in nanodollars, or null when part of it has no price. Exact: Σ over jobs = Σ settled bills. */
export function jobNanoUsd(workerMs: number, options: JobOptions, facts: CostFacts = {}): number | null {
  const settledMs = facts.settledMs ?? 0;
  const settledNano = facts.settledNano ?? 0;
  const typedMs = facts.typedMs ?? 0;
  const known = settledNano + (facts.typedNano ?? 0);
  const open = Math.max(0, Math.round(workerMs) - settledMs - typedMs);
  const p = options.pricing;
  if (!p) return open === 0 && settledMs + typedMs > 0 ? known : null;
  return nanoUsdOfMs(open, p.usdPerSlotHour) + known;
}

export function jobCostOf(workerMs: number, options: JobOptions, facts: CostFacts = {}): JobCost {
  const workerSeconds = Math.round(workerMs) / 1000;
  const nano = jobNanoUsd(workerMs, options, facts);
  const usd = nano === null ? null : usdOf(nano);
  const m = facts.media && facts.media.length > 0 ? outputMinutes(facts.media) : null;
  const settled = (facts.settledMs ?? 0) > 0;
  const typedMs = facts.typedMs ?? 0;
  const open = Math.max(0, Math.round(workerMs) - (facts.settledMs ?? 0) - typedMs);
  const slotBasis = options.pricing
    ? options.pricing.basis
    : settled
      ? 'the bills of the instances it ran on'
      : 'no price known when the job was made';
  const typedBasis =
    typedMs > 0
      ? `${typedMs / 1000} s priced at the workers' own instance types (${(facts.typedBasis ?? []).join('; ') || 'their type prices'})`
      : undefined;
  const basis = typedBasis
    ? open > 0 && options.pricing
      ? `${typedBasis}; the other ${open / 1000} s at ${options.pricing.basis}`
      : typedBasis
    : slotBasis;
  return {
    workerSeconds,
    usd,
    perOutputMinute: usd !== null && m && m.minutes > 0 ? usd / m.minutes : null,
    outputMinutes: m ? m.minutes : null,
    hdOutputMinutes: m ? m.hdMinutes : null,
    basis: settled
      ? `${basis}; ${facts.settledMs === Math.round(workerMs) ? 'all' : 'part'} of its slot time settled at the instances' real bills, boot and idle shared pro rata`
      : basis,
  };
}
