// A job's cost as its record shows it: the worker-seconds its tasks held slots (retries
// included) priced at what a slot cost when the job was made (options.pricing). On aws that is
// the on-demand list price per slot of the dearest launchable type, an upper bound that does not
// yet include the job's share of boot and idle time (see fleet/attribution.ts).
import type { JobOptions } from './job-options.js';

export interface JobCost {
  workerSeconds: number;
  /** null when no price is known. */
  usd: number | null;
  /** $ per minute of output; null until output durations are recorded. */
  perOutputMinute: number | null;
  /** Where the price came from. */
  basis: string;
}

export function jobCostOf(workerMs: number, options: JobOptions): JobCost {
  const workerSeconds = Math.round(workerMs) / 1000;
  const p = options.pricing;
  return {
    workerSeconds,
    usd: p ? Math.round(((workerSeconds * p.usdPerSlotHour) / 3600) * 1e6) / 1e6 : null,
    perOutputMinute: null,
    basis: p ? p.basis : 'no price known when the job was made',
  };
}
