// Fleet on EC2: workers are instances launched with RunInstances from the rendered user-data,
// tagged nommer:cluster=<queuePrefix> and nommer:role=worker, listed and terminated by those tags.
// Instances power themselves off when their worker idles out, and are launched with
// InstanceInitiatedShutdownBehavior=terminate, so that ends them; IMDSv2 is required.
// Scale-in by draining is a tag too: nommer:drain on an instance tells its worker (which reads
// its instance's tags from the metadata service, enabled at launch) to lease nothing new and to
// power off once its jobs are done; removing the tag calls it back.
//
// Capacity: spot first (each instance type in turn, then on-demand in the same order) when spot
// is on. A capacity answer (InsufficientInstanceCapacity, SpotMaxPriceTooLow,
// MaxSpotInstanceCountExceeded, ...) moves to the next option within the same launch; any other
// error (throttling, permissions, a bad AMI) ends the launch and reaches the caller, whose
// backoff handles it. Each RunInstances asks for "1 to n" so a partial answer is kept.
import { randomUUID } from 'node:crypto';
import {
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeInstancesCommand,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type EC2Client,
  type Filter,
  type Instance,
  type RunInstancesCommandInput,
  type _InstanceType,
} from '@aws-sdk/client-ec2';
import { NommerError } from '../../errors.js';
import { DRAIN_TAG } from '../../fleet/drain.js';
import type { Fleet, WorkerNode, WorkerNodeState } from '../../ports/fleet.js';
import { awsCall, wrapAwsError } from './errors.js';

export const CLUSTER_TAG = 'nommer:cluster';
export const ROLE_TAG = 'nommer:role';
export const VERSION_TAG = 'nommer:version';
export const WORKER_ROLE = 'worker';

/** Answers that mean "not this market/type now", not "something is wrong": try the next option. */
const CAPACITY_ERRORS = new Set([
  'InsufficientInstanceCapacity',
  'InsufficientCapacity',
  'InsufficientHostCapacity',
  'InsufficientReservedInstanceCapacity',
  'SpotMaxPriceTooLow',
  'MaxSpotInstanceCountExceeded',
  'InsufficientFreeAddressesInSubnet',
  // The type is not offered in this subnet's zone, or the account's limit for this kind is reached.
  'Unsupported',
  'InstanceLimitExceeded',
  'VcpuLimitExceeded',
]);

export function isCapacityError(err: unknown): boolean {
  const e = (err ?? {}) as { name?: string; Code?: string; code?: string };
  return CAPACITY_ERRORS.has(e.name ?? '') || CAPACITY_ERRORS.has(e.Code ?? '') || CAPACITY_ERRORS.has(e.code ?? '');
}

export interface Ec2FleetLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export interface Ec2FleetOptions {
  client: EC2Client;
  /** The nommer:cluster tag value: the queue prefix, so one account can run several clusters. */
  cluster: string;
  ami?: string;
  /** Tried in order when one has no capacity. */
  instanceTypes: string[];
  subnetId?: string;
  securityGroupIds?: string[];
  /** Instance profile name, or its ARN. */
  instanceProfile?: string;
  keyName?: string;
  /** Spot first, on-demand when spot has no capacity. */
  spot: boolean;
  /** The script instances boot with, rendered at each launch. */
  userData: () => string;
  /** Recorded in the nommer:version tag, to spot instances of an older feederd. */
  version?: string;
  log?: Ec2FleetLog;
}

/** One way to launch: a market and an instance type. */
export interface LaunchOption {
  spot: boolean;
  instanceType: string;
}

export interface Ec2Instance extends WorkerNode {
  kind: 'ec2';
  instanceType: string;
  spot: boolean;
  /** The raw EC2 state name (pending, running, shutting-down, ...). */
  ec2State: string;
  version?: string;
  privateIp?: string;
}

const LIVE_STATES = ['pending', 'running', 'stopping', 'stopped', 'shutting-down'];

export function nodeState(ec2State: string | undefined): WorkerNodeState {
  switch (ec2State) {
    case 'pending':
      return 'booting';
    case 'running':
      return 'running';
    case 'terminated':
      return 'terminated';
    // shutting-down, stopping, stopped: on the way out (a stopped one still counts toward max).
    default:
      return 'stopping';
  }
}

export class EC2Fleet implements Fleet {
  private readonly o: Ec2FleetOptions;

  constructor(opts: Ec2FleetOptions) {
    if (!/^[A-Za-z0-9_-]{1,60}$/.test(opts.cluster))
      throw new NommerError('CONFIG_INVALID', `cluster name "${opts.cluster}" must be 1–60 letters, digits, - or _`);
    if (opts.instanceTypes.length === 0)
      throw new NommerError('CONFIG_INVALID', 'aws.ec2.instanceTypes must name at least one instance type');
    this.o = opts;
  }

  /** The order launch() tries: spot over every type, then on-demand over every type. */
  launchOptions(): LaunchOption[] {
    const types = this.o.instanceTypes;
    const onDemand = types.map((instanceType) => ({ spot: false, instanceType }));
    return this.o.spot ? [...types.map((instanceType) => ({ spot: true, instanceType })), ...onDemand] : onDemand;
  }

  /** This cluster's workers that are not terminated (with includeTerminated, those too). */
  async list(opts: { includeTerminated?: boolean } = {}): Promise<Ec2Instance[]> {
    const filters: Filter[] = [
      { Name: `tag:${CLUSTER_TAG}`, Values: [this.o.cluster] },
      { Name: `tag:${ROLE_TAG}`, Values: [WORKER_ROLE] },
    ];
    if (!opts.includeTerminated) filters.push({ Name: 'instance-state-name', Values: LIVE_STATES });
    return (await this.describe(filters)).sort((a, b) => a.launchedAt - b.launchedAt || a.id.localeCompare(b.id));
  }

  async launch(count: number): Promise<Ec2Instance[]> {
    if (!Number.isInteger(count) || count < 0)
      throw new NommerError('INTERNAL', `launch count must be a whole number, got ${count}`);
    if (count === 0) return [];
    if (!this.o.ami)
      throw new NommerError('CONFIG_INVALID', 'no AMI to launch workers from: aws.ec2.ami is not set', {
        hint: 'set aws.ec2.ami (a stock Debian/Ubuntu AMI works: the user-data installs the rest)',
      });
    const userData = Buffer.from(this.o.userData(), 'utf8').toString('base64');
    const launched: Ec2Instance[] = [];
    let lastCapacityError: unknown;
    for (const option of this.launchOptions()) {
      // Keep asking with this option while it gives instances (a partial answer means it had some).
      while (launched.length < count) {
        let got: Ec2Instance[];
        try {
          got = await this.runInstances(option, count - launched.length, userData);
        } catch (err) {
          if (isCapacityError(err)) {
            lastCapacityError = err;
            this.o.log?.warn(
              { instanceType: option.instanceType, spot: option.spot, error: (err as Error).name },
              'no capacity; trying the next option',
            );
            break;
          }
          if (launched.length > 0) {
            // Keep what we have: the caller records it; the next attempt will meet the error again.
            this.o.log?.warn(
              { launched: launched.length, wanted: count, error: wrapAwsError(err, this.ctx('RunInstances')).message },
              'launch stopped early',
            );
            return launched;
          }
          throw wrapAwsError(err, this.ctx('RunInstances'));
        }
        launched.push(...got);
        if (got.length === 0) break;
      }
      if (launched.length >= count) break;
    }
    if (launched.length === 0 && lastCapacityError) {
      const tried = this.launchOptions()
        .map((o) => `${o.spot ? 'spot' : 'on-demand'} ${o.instanceType}`)
        .join(', ');
      const e = wrapAwsError(lastCapacityError, this.ctx('RunInstances'));
      throw new NommerError('FLEET_FAILED', `no capacity for any launch option (${tried}): ${e.message}`, {
        cause: lastCapacityError,
        retriable: true,
        hint: 'add instance types to aws.ec2.instanceTypes, or another subnet/zone',
      });
    }
    if (launched.length > 0) this.o.log?.info({ ids: launched.map((i) => i.id), wanted: count }, 'launched workers');
    return launched;
  }

  /** Terminates those of `ids` that are this cluster's workers; others are left alone (and logged). */
  async terminate(ids: string[]): Promise<void> {
    const todo = await this.oursAmong(ids, 'not terminating');
    for (let i = 0; i < todo.length; i += 1000) {
      const batch = todo.slice(i, i + 1000);
      await awsCall(this.ctx('TerminateInstances', batch.join(',')), () =>
        this.o.client.send(new TerminateInstancesCommand({ InstanceIds: batch })),
      );
    }
    if (todo.length > 0) this.o.log?.info({ ids: todo }, 'terminated workers');
  }

  /**
   * Tags (draining) or untags (called back) those of `ids` that are this cluster's live workers.
   * Their workers see it at their next look at the instance's tags (a few seconds).
   */
  async drain(ids: string[], draining: boolean): Promise<void> {
    const todo = await this.oursAmong(ids, draining ? 'not draining' : 'not calling back');
    for (let i = 0; i < todo.length; i += 1000) {
      const batch = todo.slice(i, i + 1000);
      const op = draining ? 'CreateTags' : 'DeleteTags';
      await awsCall(this.ctx(op, batch.join(',')), async () => {
        if (draining)
          await this.o.client.send(new CreateTagsCommand({ Resources: batch, Tags: [{ Key: DRAIN_TAG, Value: '1' }] }));
        else await this.o.client.send(new DeleteTagsCommand({ Resources: batch, Tags: [{ Key: DRAIN_TAG }] }));
      });
    }
    if (todo.length > 0) this.o.log?.info({ ids: todo }, draining ? 'draining workers' : 'called workers back');
  }

  /** Those of `ids` that are live workers of this cluster; the others are logged, never touched. */
  private async oursAmong(ids: string[], what: string): Promise<string[]> {
    const ours = new Set<string>();
    for (let i = 0; i < ids.length; i += 1000) {
      const batch = ids.slice(i, i + 1000);
      const found = await this.describe([
        { Name: 'instance-id', Values: batch },
        { Name: `tag:${CLUSTER_TAG}`, Values: [this.o.cluster] },
        { Name: `tag:${ROLE_TAG}`, Values: [WORKER_ROLE] },
      ]);
      for (const inst of found) if (inst.state !== 'terminated') ours.add(inst.id);
    }
    const skipped = ids.filter((id) => !ours.has(id));
    if (skipped.length > 0)
      this.o.log?.warn({ ids: skipped, cluster: this.o.cluster }, `${what}: not a live worker of this cluster`);
    return [...ours];
  }

  private ctx(operation: string, resource?: string) {
    return { service: 'ec2' as const, operation, resource: resource ?? `cluster ${this.o.cluster}` };
  }

  private async runInstances(option: LaunchOption, n: number, userDataBase64: string): Promise<Ec2Instance[]> {
    const o = this.o;
    const tags = [
      { Key: 'Name', Value: `nommer-worker-${o.cluster}` },
      { Key: CLUSTER_TAG, Value: o.cluster },
      { Key: ROLE_TAG, Value: WORKER_ROLE },
      ...(o.version ? [{ Key: VERSION_TAG, Value: o.version }] : []),
    ];
    const input: RunInstancesCommandInput = {
      ImageId: o.ami,
      InstanceType: option.instanceType as _InstanceType,
      MinCount: 1,
      MaxCount: n,
      UserData: userDataBase64,
      InstanceInitiatedShutdownBehavior: 'terminate',
      // InstanceMetadataTags: the worker learns it is draining from its own tags (DRAIN_TAG).
      MetadataOptions: {
        HttpTokens: 'required',
        HttpEndpoint: 'enabled',
        HttpPutResponseHopLimit: 1,
        InstanceMetadataTags: 'enabled',
      },
      TagSpecifications: [
        { ResourceType: 'instance', Tags: tags },
        { ResourceType: 'volume', Tags: tags },
      ],
      // An SDK retry after a lost response must not launch a second batch.
      ClientToken: randomUUID(),
      ...(o.subnetId ? { SubnetId: o.subnetId } : {}),
      ...(o.securityGroupIds?.length ? { SecurityGroupIds: o.securityGroupIds } : {}),
      ...(o.keyName ? { KeyName: o.keyName } : {}),
      ...(o.instanceProfile
        ? {
            IamInstanceProfile: o.instanceProfile.startsWith('arn:')
              ? { Arn: o.instanceProfile }
              : { Name: o.instanceProfile },
          }
        : {}),
      // One-time spot at up to the on-demand price (no MaxPrice: AWS's recommendation); an
      // interrupted worker loses its lease and the task is delivered again.
      ...(option.spot
        ? {
            InstanceMarketOptions: {
              MarketType: 'spot',
              SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
            },
          }
        : {}),
    };
    const out = await o.client.send(new RunInstancesCommand(input));
    return (out.Instances ?? []).map((i) => toInstance(i, option.spot));
  }

  private async describe(filters: Filter[]): Promise<Ec2Instance[]> {
    const result: Ec2Instance[] = [];
    let token: string | undefined;
    do {
      const out = await awsCall(this.ctx('DescribeInstances'), () =>
        this.o.client.send(new DescribeInstancesCommand({ Filters: filters, NextToken: token, MaxResults: 1000 })),
      );
      for (const r of out.Reservations ?? []) for (const i of r.Instances ?? []) result.push(toInstance(i));
      token = out.NextToken;
    } while (token);
    return result;
  }
}

function toInstance(i: Instance, spot?: boolean): Ec2Instance {
  const ec2State = i.State?.Name ?? 'pending';
  return {
    id: i.InstanceId!,
    state: nodeState(ec2State),
    ec2State,
    launchedAt: i.LaunchTime ? i.LaunchTime.getTime() : Date.now(),
    kind: 'ec2',
    instanceType: String(i.InstanceType ?? 'unknown'),
    spot: spot ?? i.InstanceLifecycle === 'spot',
    version: i.Tags?.find((t) => t.Key === VERSION_TAG)?.Value,
    privateIp: i.PrivateIpAddress,
    ...(i.Tags?.some((t) => t.Key === DRAIN_TAG) ? { draining: true } : {}),
  };
}
