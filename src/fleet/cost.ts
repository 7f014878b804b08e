// What the fleet has cost so far, estimated from config prices ($/hour by instance type). Pure.
// EC2 bills Linux instances per second with a 60 s minimum. Spot instances cost at most the
// on-demand price (nommer launches spot with no max price, which caps it there), so their
// estimate is an upper bound.
import type { WorkerNode } from '../ports/fleet.js';

export const MIN_BILLED_SECONDS = 60;

export interface InstanceCost {
  id: string;
  state: WorkerNode['state'];
  instanceType?: string;
  spot: boolean;
  launchedAt: number;
  ageSeconds: number;
  /** $ so far; null when config has no price for the type. */
  costUsd: number | null;
  /** True for spot: the real price is this or less. */
  upperBound: boolean;
}

export interface FleetCost {
  instances: InstanceCost[];
  /** Sum of the known costs. */
  totalUsd: number;
  /** Instance types without a price in aws.ec2.prices. */
  unpriced: string[];
  /** True when any instance's estimate is an upper bound. */
  upperBound: boolean;
}

export function instanceCost(node: WorkerNode, prices: Record<string, number>, now: number): InstanceCost {
  const ageSeconds = Math.max(0, Math.floor((now - node.launchedAt) / 1000));
  const price = node.instanceType !== undefined ? prices[node.instanceType] : undefined;
  const billed = Math.max(MIN_BILLED_SECONDS, ageSeconds);
  return {
    id: node.id,
    state: node.state,
    instanceType: node.instanceType,
    spot: !!node.spot,
    launchedAt: node.launchedAt,
    ageSeconds,
    costUsd: price === undefined ? null : (price * billed) / 3600,
    upperBound: !!node.spot,
  };
}

export function fleetCost(nodes: WorkerNode[], prices: Record<string, number>, now: number): FleetCost {
  const instances = nodes.map((n) => instanceCost(n, prices, now));
  const unpriced = [
    ...new Set(instances.filter((i) => i.costUsd === null).map((i) => i.instanceType ?? 'unknown')),
  ].sort();
  return {
    instances,
    totalUsd: instances.reduce((s, i) => s + (i.costUsd ?? 0), 0),
    unpriced,
    upperBound: instances.some((i) => i.upperBound && i.costUsd !== null),
  };
}
