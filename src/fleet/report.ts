// `nommer fleet`'s data: this cluster's EC2 workers, their state and age, and what they have cost
// so far (estimated from aws.ec2.prices or the built-in price table, as the instance ledger prices them).
import type { Config } from '../config.js';
import { NommerError } from '../errors.js';
import { fleetCost, type FleetCost } from './cost.js';
import { spotAwarePrice } from './spot-prices.js';
import { openEc2Fleet } from './open.js';

export interface FleetReport extends FleetCost {
  cluster: string;
  /** ms since the epoch */
  at: number;
  instances: Array<FleetCost['instances'][number] & { ec2State: string; version?: string; draining?: boolean }>;
}

export async function fleetReport(config: Config, version: string, now: () => number = Date.now): Promise<FleetReport> {
  if (config.backend !== 'aws') {
    throw new NommerError('USAGE', 'the fleet is EC2 instances, which only the aws backend has', {
      hint: "on the local backend the workers are feederd's child processes: see `nommer status`",
    });
  }
  const { fleet, close } = await openEc2Fleet(config, { version });
  try {
    const nodes = await fleet.list();
    const at = now();
    // The ledger's price lookup, without a spot book here: spot at the on-demand price, its bound.
    const cost = fleetCost(nodes, spotAwarePrice(config, undefined), at);
    const byId = new Map(nodes.map((n) => [n.id, n]));
    return {
      ...cost,
      cluster: config.aws.queuePrefix,
      at,
      instances: cost.instances.map((c) => ({
        ...c,
        ec2State: byId.get(c.id)!.ec2State,
        version: byId.get(c.id)!.version,
        ...(byId.get(c.id)!.draining ? { draining: true } : {}),
      })),
    };
  } finally {
    close();
  }
}
