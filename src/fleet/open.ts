// Builds the EC2 fleet from config: the one place the fleet's aws adapter is chosen (loaded on
// demand, so the local backend never loads the EC2 SDK). Used by feederd and `nommer fleet`.
import type { Config } from '../config.js';
import type { Ec2FleetLog, EC2Fleet } from '../adapters/aws/ec2-fleet.js';
import type { AutoscalerConfig } from '../orchestrator/autoscaler.js';
import type { SpotPrices } from '../ports/fleet.js';
import { NommerError } from '../errors.js';
import { dearestPrice, ec2Price } from './prices.js';
import { pinnedReleaseSha256 } from './release.js';
import { renderUserDataFor } from './user-data.js';

export interface OpenEc2FleetOptions {
  /** feederd's version: installed on the workers and written in their nommer:version tag. */
  version: string;
  /** The data dir whose release pin the user-data carries. Without it the fleet can list and
   * stop instances but not launch them (`nommer fleet`'s report). */
  home?: string;
  log?: Ec2FleetLog;
}

export async function openEc2Fleet(
  config: Config,
  opts: OpenEc2FleetOptions,
): Promise<{ fleet: EC2Fleet; spotPrices: SpotPrices; close(): void }> {
  const { ec2Client } = await import('../adapters/aws/clients.js');
  const { EC2Fleet } = await import('../adapters/aws/ec2-fleet.js');
  const { Ec2SpotPrices } = await import('../adapters/aws/ec2-spot-prices.js');
  const aws = config.aws;
  const e = aws.ec2;
  const client = ec2Client({ region: aws.region, endpoint: aws.endpoint });
  // Rendered now, so a broken template, config or missing pin fails at start, not at the first launch.
  const home = opts.home;
  const script =
    home === undefined
      ? undefined
      : renderUserDataFor(config, opts.version, pinnedReleaseSha256(config, home, opts.version));
  const fleet = new EC2Fleet({
    client,
    cluster: aws.queuePrefix,
    ami: e.ami,
    instanceTypes: e.instanceTypes,
    subnetId: e.subnetId,
    securityGroupIds: e.securityGroupIds,
    instanceProfile: e.instanceProfile,
    keyName: e.keyName,
    spot: e.spot,
    userData: () => {
      if (script === undefined)
        throw new NommerError('INTERNAL', 'this EC2 fleet was opened without a data dir: it cannot launch');
      return script;
    },
    version: opts.version,
    log: opts.log,
  });
  return { fleet, spotPrices: new Ec2SpotPrices(client), close: () => client.destroy() };
}

/** The autoscaler's settings from aws.ec2. The spend cap is priced at the dearest type that may launch. */
export function autoscalerConfig(config: Config): AutoscalerConfig {
  const e = config.aws.ec2;
  const hourlyPrice = dearestPrice(e.instanceTypes, e.prices);
  if (e.maxHourlySpend !== undefined && hourlyPrice === undefined) {
    const unpriced = e.instanceTypes.filter((t) => !ec2Price(t, e.prices));
    throw new NommerError(
      'CONFIG_INVALID',
      `aws.ec2.maxHourlySpend needs a price for every instance type; none for ${unpriced.join(', ')}`,
      { hint: `add them to aws.ec2.prices ($/hour), e.g. {"${unpriced[0]}": 0.2}` },
    );
  }
  return {
    minInstances: e.minInstances,
    maxInstances: e.maxInstances,
    slotsPerInstance: e.slotsPerInstance,
    cooldownSeconds: e.cooldownSeconds,
    bootSeconds: e.bootSeconds,
    ...(hourlyPrice !== undefined ? { hourlyPrice } : {}),
    ...(e.maxHourlySpend !== undefined ? { maxHourlySpend: e.maxHourlySpend } : {}),
  };
}
