// What the fleet has cost so far: each instance's bill up to now, by cost/money.ts's billing
// rule (per second, a started second counts, 60 s minimum) at the price the instance ledger
// records it at (a PriceOf: feederd's spot-aware one, or aws.ec2.prices then the built-in
// table), so the live estimate is the bill the ledger settles. A spot instance's price is an
// upper bound: the dearest zone's spot price, or the on-demand price that caps it (nommer
// launches spot with no max price). Pure.
import { bill, type PriceOf, tablePrices, usdOf } from '../cost/money.js';
import type { WorkerNode } from '../ports/fleet.js';

export interface InstanceCost {
  id: string;
  state: WorkerNode['state'];
  instanceType?: string;
  spot: boolean;
  launchedAt: number;
  ageSeconds: number;
  /** $ so far; null when no price is known for the type. */
  costUsd: number | null;
  /** True for spot: the real price is this or less. */
  upperBound: boolean;
}

export interface FleetCost {
  instances: InstanceCost[];
  /** Sum of the known costs. */
  totalUsd: number;
  /** Instance types without a known price (add them to aws.ec2.prices). */
  unpriced: string[];
  /** True when any instance's estimate is an upper bound. */
  upperBound: boolean;
}

/** `prices`: a PriceOf, or a fixed table of $/hour by type (that table alone). */
export type Prices = PriceOf | Record<string, number>;

const priceOfFrom = (prices: Prices): PriceOf => (typeof prices === 'function' ? prices : tablePrices(prices));

/** Nanodollars so far (null without a price), with the instance's line. */
function instanceBill(node: WorkerNode, priceOf: PriceOf, now: number): { line: InstanceCost; nanoUsd: number | null } {
  const price = priceOf(node);
  const nanoUsd = price === undefined ? null : bill(node, now, price.usd).nanoUsd;
  const line = {
    id: node.id,
    state: node.state,
    instanceType: node.instanceType,
    spot: !!node.spot,
    launchedAt: node.launchedAt,
    ageSeconds: Math.max(0, Math.floor((now - node.launchedAt) / 1000)),
    costUsd: nanoUsd === null ? null : usdOf(nanoUsd),
    upperBound: !!node.spot,
  };
  return { line, nanoUsd };
}

export function instanceCost(node: WorkerNode, prices: Prices, now: number): InstanceCost {
  return instanceBill(node, priceOfFrom(prices), now).line;
}

export function fleetCost(nodes: WorkerNode[], prices: Prices, now: number): FleetCost {
  const priceOf = priceOfFrom(prices);
  const bills = nodes.map((n) => instanceBill(n, priceOf, now));
  const instances = bills.map((b) => b.line);
  const unpriced = [
    ...new Set(instances.filter((i) => i.costUsd === null).map((i) => i.instanceType ?? 'unknown')),
  ].sort();
  return {
    instances,
    totalUsd: usdOf(bills.reduce((s, b) => s + (b.nanoUsd ?? 0), 0)),
    unpriced,
    upperBound: instances.some((i) => i.upperBound && i.costUsd !== null),
  };
}
