// Money, in one place. Amounts are whole nanodollars inside nommer (integers add up exactly, so
// the job costs split from a bill sum to that bill), turned into dollars only where shown. One
// rounding rule: an amount is rounded to the nearest nanodollar once, where time meets a price,
// never on the way. One billing rule: EC2 bills Linux per second, a started second counts, with
// a 60 s minimum. One price lookup: an instance's price comes from a PriceOf (the ledger's
// spot-aware one, fleet/spot-prices.ts `ledgerPrice`, or a fixed table). Used by the job costs
// (store/job-cost.ts, save-outcome.ts), the instance ledger and attribution (fleet/attribution.ts),
// the live fleet estimate (fleet/cost.ts: `nommer fleet`, /v1/summary) and the spend (cost/spend.ts).
// Pure.
import type { InstancePrice } from '../fleet/prices.js';
import type { WorkerNode } from '../ports/fleet.js';

/** Nanodollars in a dollar. */
export const NANO = 1e9;

/** EC2 bills a Linux instance at least this many seconds per launch. */
export const MIN_BILLED_SECONDS = 60;

/** Dollars of an amount in nanodollars (only where an amount is shown). */
export function usdOf(nanoUsd: number): number {
  return nanoUsd / NANO;
}

/** Dollars as nommer prints them: 4 decimals under $10, else cents. */
export function formatUsd(usd: number): string {
  return `$${usd < 10 ? usd.toFixed(4) : usd.toFixed(2)}`;
}

/** Seconds EC2 bills for a run from `launchedAt` to `endedAt` (ms): started seconds, at least the minimum. */
export function billedSeconds(
  span: { launchedAt: number; endedAt: number },
  minimumSeconds: number = MIN_BILLED_SECONDS,
): number {
  return Math.max(minimumSeconds, Math.ceil(Math.max(0, span.endedAt - span.launchedAt) / 1000));
}

/** Nanodollars of `seconds` at `usdPerHour`. */
export function nanoUsdOfSeconds(seconds: number, usdPerHour: number): number {
  return Math.round((seconds * usdPerHour * NANO) / 3600);
}

/** Nanodollars of `ms` (whole milliseconds) at `usdPerHour`: slot time at a slot's price. */
export function nanoUsdOfMs(ms: number, usdPerHour: number): number {
  return Math.round((Math.round(ms) * usdPerHour * NANO) / 3_600_000);
}

/** An instance's bill from launch to `until` (its end, or now for a live one). */
export function bill(
  span: { launchedAt: number },
  until: number,
  usdPerHour: number,
  minimumSeconds: number = MIN_BILLED_SECONDS,
): { billedSeconds: number; nanoUsd: number } {
  const seconds = billedSeconds({ launchedAt: span.launchedAt, endedAt: until }, minimumSeconds);
  return { billedSeconds: seconds, nanoUsd: nanoUsdOfSeconds(seconds, usdPerHour) };
}

/** Split `total` (an integer) over `weights` in proportion, exactly: largest remainders. */
export function splitExactly(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0 || weights.length === 0) return weights.map(() => 0);
  const raw = weights.map((w) => (total * w) / sum);
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => ({ i, frac: r - Math.floor(r) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; left > 0 && k < order.length; k++, left--) out[order[k]!.i]!++;
  return out;
}

/** What an instance costs per hour, by its type and market; undefined when no price is known. */
export type PriceOf = (node: WorkerNode) => InstancePrice | undefined;

/** A PriceOf over a fixed table of $/hour by type (no built-in prices, no spot book). */
export function tablePrices(prices: Record<string, number>): PriceOf {
  return (node) => {
    const usd = node.instanceType === undefined ? undefined : prices[node.instanceType];
    return usd === undefined ? undefined : { usd, basis: `$${usd}/h for ${node.instanceType}` };
  };
}
