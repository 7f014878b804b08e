// The fleet as /v1/summary (the dashboard, `nommer status`) shows it: each worker with its kind,
// type, age and whether it is busy, and for EC2 what the instances have cost so far (estimated
// by fleet/cost.ts at the instance ledger's prices). Pure: the nodes, the busy counts and the time come in.
import { fleetCost, type Prices } from '../fleet/cost.js';
import type { WorkerNode } from '../ports/fleet.js';

export interface FleetSummary {
  fleet: Array<{
    id: string;
    state: string;
    busy: boolean;
    kind: string;
    launchedAt: string;
    instanceType?: string;
    spot?: boolean;
  }>;
  /** EC2 fleets only: $ so far; an upper bound when spot instances are in it. */
  spend?: { usd: number; upperBound: boolean; unpriced: string[] };
}

export function summarizeFleet(
  nodes: WorkerNode[],
  busy: Map<string, number>,
  /** An EC2 fleet's prices (feederd's spot-aware lookup); none for local workers (they cost no dollars). */
  prices?: Prices,
  now = Date.now(),
): FleetSummary {
  const fleet = nodes.map((w) => ({
    id: w.id,
    state: w.state,
    busy: (busy.get(w.id) ?? 0) > 0,
    kind: w.kind,
    launchedAt: new Date(w.launchedAt).toISOString(),
    ...(w.instanceType ? { instanceType: w.instanceType } : {}),
    ...(w.spot !== undefined ? { spot: w.spot } : {}),
  }));
  if (!prices) return { fleet };
  const cost = fleetCost(nodes, prices, now);
  return { fleet, spend: { usd: cost.totalUsd, upperBound: cost.upperBound, unpriced: cost.unpriced } };
}
