// What compute costs: a built-in table of EC2 on-demand list prices for the instance types
import type { Config } from '../config.js';
// nommer users pick for encoding, dated and overridable (aws.ec2.prices wins), and the
// reference prices of hosted transcoders that `nommer status` compares a job's cost with.

/** EC2 on-demand, Linux, us-east-1, $/hour, from AWS's public rate card. */
export const BUILT_IN_EC2_PRICES = {
  recorded: '2026-12-01',
  region: 'us-east-1',
  source: 'AWS EC2 On-Demand pricing (Linux, us-east-1)',
  prices: {
    'c7a.large': 0.10264,
    'c7a.xlarge': 0.20528,
    'c7a.2xlarge': 0.41056,
    'c7a.4xlarge': 0.82112,
    'c7i.large': 0.08925,
    'c7i.xlarge': 0.1785,
    'c7i.2xlarge': 0.357,
    'c7g.large': 0.0725,
    'c7g.xlarge': 0.145,
    'c7g.2xlarge': 0.29,
    'c6i.large': 0.085,
    'c6i.xlarge': 0.17,
    'c6i.2xlarge': 0.34,
    'c6a.large': 0.0765,
    'c6a.xlarge': 0.153,
    'c6a.2xlarge': 0.306,
    'c5.xlarge': 0.17,
    'c5.2xlarge': 0.34,
    'm7g.large': 0.0816,
    'm7i.xlarge': 0.2016,
    'm6i.xlarge': 0.192,
  } as Record<string, number>,
};

export interface InstancePrice {
  /** $/hour */
  usd: number;
  /** Where the price came from, for a record's `basis`. */
  basis: string;
}

/** The on-demand price of an instance type: aws.ec2.prices first, then the built-in table. */
export function ec2Price(type: string, configured: Record<string, number>): InstancePrice | undefined {
  const own = configured[type];
  if (own !== undefined) return { usd: own, basis: `aws.ec2.prices["${type}"]` };
  const listed = BUILT_IN_EC2_PRICES.prices[type];
  if (listed !== undefined)
    return {
      usd: listed,
      basis: `${BUILT_IN_EC2_PRICES.source}, ${BUILT_IN_EC2_PRICES.recorded} (built in; set aws.ec2.prices to override)`,
    };
  return undefined;
}

/** The dearest of the types the fleet may launch ($/hour), for a spend cap that must hold whatever launches. */
export function dearestPrice(types: string[], configured: Record<string, number>): number | undefined {
  const prices = types.map((t) => ec2Price(t, configured)?.usd);
  if (prices.length === 0 || prices.some((p) => p === undefined)) return undefined;
  return Math.max(...(prices as number[]));
}

/** A hosted transcoder's list price per output minute, to compare a job's cost with. */
export interface ReferencePrice {
  name: string;
  /** $ per output minute, SD (below 720 lines) and HD (720 lines and up). */
  sd: number;
  hd: number;
  source: string;
  recorded: string;
}

export const REFERENCE_PRICES: ReferencePrice[] = [
  {
    name: 'AWS Elemental MediaConvert (Basic tier)',
    sd: 0.0075,
    hd: 0.015,
    source: 'aws.amazon.com/mediaconvert/pricing, US East',
    recorded: '2026-12-01',
  },
  { name: 'Coconut', sd: 0.0075, hd: 0.015, source: 'coconut.co/pricing', recorded: '2026-12-01' },
  {
    name: 'Google Cloud Transcoder API',
    sd: 0.015,
    hd: 0.03,
    source: 'cloud.google.com/transcoder/pricing',
    recorded: '2026-12-01',
  },
];

/** What one worker slot costs per hour for a new job's record, and why (see store/job-cost.ts). */
export function slotPricing(
  config: Config,
  backend: 'local' | 'aws' = config.backend,
): { usdPerSlotHour: number; basis: string } | undefined {
  if (backend === 'local') {
    const p = config.local.costPerHour;
    return {
      usdPerSlotHour: p,
      basis: p > 0 ? `local.costPerHour: $${p}/h per local worker slot` : 'local.costPerHour is 0: worker-seconds only',
    };
  }
  const e = config.aws.ec2;
  const priced = e.instanceTypes
    .map((t) => ({ t, p: ec2Price(t, e.prices) }))
    .filter((x): x is { t: string; p: InstancePrice } => x.p !== undefined)
    .sort((a, b) => b.p.usd - a.p.usd);
  const top = priced[0];
  if (!top) return undefined;
  return {
    usdPerSlotHour: top.p.usd / e.slotsPerInstance,
    basis: `${top.t} on demand at $${top.p.usd}/h over ${e.slotsPerInstance} slot(s) (${top.p.basis}); slot time only, an upper bound for spot`,
  };
}

/**
 * What an instance the ledger records costs per hour: its type's on-demand price; a spot
 * instance at that too, an upper bound (what it really paid is the spot price, at most that).
 */
export function instancePrice(
  node: { instanceType?: string; spot?: boolean },
  configured: Record<string, number>,
): InstancePrice | undefined {
  if (!node.instanceType) return undefined;
  const p = ec2Price(node.instanceType, configured);
  if (!p) return undefined;
  return node.spot ? { usd: p.usd, basis: `spot, at most the on-demand ${p.basis}` } : p;
}
