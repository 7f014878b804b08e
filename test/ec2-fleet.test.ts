// EC2Fleet and FleetManager against moto's EC2 (server mode): launches carry the rendered
// user-data, the cluster tags, IMDSv2 (with instance tags readable: the drain signal),
// terminate-on-shutdown and the instance profile; spot is asked for with InstanceMarketOptions; a
// new fleet/manager (a feederd restart) adopts the tagged instances; terminate and drain touch
// only this cluster; the manager scales in by draining and never terminates a running instance.
//
// moto never runs out of capacity and never throttles. Those answers are faked at the SDK's edge
// (a middleware step that throws the service error EC2 would send, before the request leaves):
// InsufficientInstanceCapacity / SpotMaxPriceTooLow for spot launches stand for a zone without
// spare capacity, RequestLimitExceeded for an account over its API rate.
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import {
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  EC2ServiceException,
  RunInstancesCommand,
  type EC2Client,
  type RunInstancesCommandInput,
} from '@aws-sdk/client-ec2';
import { ec2Client } from '../src/adapters/aws/clients.js';
import { CLUSTER_TAG, EC2Fleet, ROLE_TAG, type Ec2FleetOptions } from '../src/adapters/aws/ec2-fleet.js';
import { DRAIN_TAG } from '../src/fleet/drain.js';
import { parseConfig } from '../src/config.js';
import type { NommerError } from '../src/errors.js';
import { fleetReport } from '../src/fleet/report.js';
import { formatFleet } from '../src/commands/fleet.js';
import { renderUserDataFor } from '../src/fleet/user-data.js';
import { FleetManager } from '../src/orchestrator/fleet-manager.js';
import { startMoto, type Moto } from './helpers/moto.js';

const config = parseConfig({
  backend: 'aws',
  aws: {
    bucket: 'nommer-ec2-test',
    queuePrefix: 'ec2t',
    ec2: {
      maxInstances: 4,
      ami: 'ami-0123456789abcdef0',
      instanceTypes: ['c7a.xlarge', 'm7a.xlarge'],
      idleExitSeconds: 45,
    },
  },
});
const script = renderUserDataFor(config, '0.1.0', 'ab'.repeat(32));

/** moto needs the instance profile to exist. No IAM client is installed, and moto routes an
 * unsigned query by the service named in the Authorization header's scope (it checks no signature). */
async function createInstanceProfile(endpoint: string, name: string): Promise<void> {
  const res = await fetch(`${endpoint}/`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization:
        'AWS4-HMAC-SHA256 Credential=testing/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0',
    },
    body: new URLSearchParams({
      Action: 'CreateInstanceProfile',
      InstanceProfileName: name,
      Version: '2010-05-08',
    }).toString(),
  });
  const text = await res.text();
  assert.ok(
    res.ok && text.includes('<CreateInstanceProfileResponse'),
    `CreateInstanceProfile: HTTP ${res.status} ${text.slice(0, 200)}`,
  );
}

interface Sent {
  command: string;
  input: Record<string, unknown>;
}

const firstRun = (sent: Sent[]) =>
  sent.find((s) => s.command === 'RunInstancesCommand')!.input as unknown as RunInstancesCommandInput;

/**
 * An EC2 client that records every command and can answer one with a faked service error
 * (before the request is sent), the way EC2 would answer it.
 */
function edgeClient(
  endpoint: string,
  sent: Sent[],
  fail?: (command: string, input: Record<string, unknown>) => string | undefined,
): EC2Client {
  const client = ec2Client({ endpoint, maxAttempts: 1 });
  client.middlewareStack.add(
    (next, context) => async (args) => {
      const input = args.input as Record<string, unknown>;
      sent.push({ command: context.commandName!, input });
      const name = fail?.(context.commandName!, input);
      if (name) {
        throw new EC2ServiceException({
          name,
          $fault: name === 'RequestLimitExceeded' ? 'client' : 'server',
          $metadata: { httpStatusCode: name === 'RequestLimitExceeded' ? 503 : 500 },
          message: `faked: ${name}`,
        });
      }
      return next(args);
    },
    { step: 'initialize', name: 'fakeEc2Edge' },
  );
  return client;
}

describe('EC2Fleet (moto)', () => {
  let moto: Moto;
  let raw: EC2Client;
  before(async () => {
    moto = await startMoto();
    raw = ec2Client({ endpoint: moto.endpoint, maxAttempts: 1 });
  });
  after(async () => {
    raw?.destroy();
    await moto?.stop();
  });
  beforeEach(async () => {
    await moto.reset();
    await createInstanceProfile(moto.endpoint, 'nommer-worker');
  });

  const fleetWith = (client: EC2Client, over: Partial<Ec2FleetOptions> = {}) =>
    new EC2Fleet({
      client,
      cluster: 'ec2t',
      ami: config.aws.ec2.ami,
      instanceTypes: config.aws.ec2.instanceTypes,
      spot: true,
      instanceProfile: 'nommer-worker',
      subnetId: undefined,
      userData: () => script,
      version: '0.1.0',
      ...over,
    });

  const describeOne = async (id: string) =>
    (await raw.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations![0]!.Instances![0]!;

  it('launches workers that boot the rendered user-data, tagged, IMDSv2-only, terminating on shutdown, with the role', async () => {
    const sent: Sent[] = [];
    const fleet = fleetWith(edgeClient(moto.endpoint, sent));
    const launched = await fleet.launch(2);
    assert.equal(launched.length, 2);

    for (const node of launched) {
      const attr = await raw.send(new DescribeInstanceAttributeCommand({ InstanceId: node.id, Attribute: 'userData' }));
      assert.equal(Buffer.from(attr.UserData!.Value!, 'base64').toString('utf8'), script);
      const shutdown = await raw.send(
        new DescribeInstanceAttributeCommand({ InstanceId: node.id, Attribute: 'instanceInitiatedShutdownBehavior' }),
      );
      assert.equal(shutdown.InstanceInitiatedShutdownBehavior?.Value, 'terminate');
      const inst = await describeOne(node.id);
      const tags = Object.fromEntries((inst.Tags ?? []).map((t) => [t.Key, t.Value]));
      assert.equal(tags[CLUSTER_TAG], 'ec2t');
      assert.equal(tags[ROLE_TAG], 'worker');
      assert.equal(tags['nommer:version'], '0.1.0');
      assert.equal(inst.MetadataOptions?.HttpTokens, 'required');
      assert.equal(inst.MetadataOptions?.InstanceMetadataTags, 'enabled', 'the worker reads its drain tag from IMDS');
      assert.match(inst.IamInstanceProfile?.Arn ?? '', /instance-profile\/nommer-worker$/);
      assert.equal(inst.ImageId, 'ami-0123456789abcdef0');
    }
    // The user-data went out base64-encoded, as EC2 wants it from this SDK.
    const run = firstRun(sent);
    assert.equal(run.UserData, Buffer.from(script).toString('base64'));
    assert.ok(run.ClientToken, 'idempotent launches');
    assert.equal(run.KeyName, undefined, 'no key pair unless configured');
  });

  it('asks for one-time spot with InstanceMarketOptions, and on-demand when spot is off', async () => {
    const sent: Sent[] = [];
    const spot = await fleetWith(edgeClient(moto.endpoint, sent)).launch(1);
    const run = firstRun(sent);
    assert.deepEqual(run.InstanceMarketOptions, {
      MarketType: 'spot',
      SpotOptions: { SpotInstanceType: 'one-time', InstanceInterruptionBehavior: 'terminate' },
    });
    assert.equal(run.InstanceType, 'c7a.xlarge');
    assert.equal((await describeOne(spot[0]!.id)).InstanceLifecycle, 'spot');
    assert.equal(spot[0]!.spot, true);

    const sent2: Sent[] = [];
    const od = await fleetWith(edgeClient(moto.endpoint, sent2), { spot: false, keyName: 'ops' }).launch(1);
    const run2 = firstRun(sent2);
    assert.equal(run2.InstanceMarketOptions, undefined);
    assert.equal(run2.KeyName, 'ops');
    assert.equal((await describeOne(od[0]!.id)).InstanceLifecycle, undefined);
  });

  it('falls back from spot to on-demand when spot has no capacity (faked), trying every type first', async () => {
    const sent: Sent[] = [];
    // Spot in the first type: no capacity; spot in the second: price too low.
    const client = edgeClient(moto.endpoint, sent, (cmd, input) => {
      if (cmd !== 'RunInstancesCommand' || !input.InstanceMarketOptions) return undefined;
      return input.InstanceType === 'c7a.xlarge' ? 'InsufficientInstanceCapacity' : 'SpotMaxPriceTooLow';
    });
    const launched = await fleetWith(client).launch(2);
    assert.equal(launched.length, 2);
    const tries = sent
      .filter((s) => s.command === 'RunInstancesCommand')
      .map((s) => `${s.input.InstanceMarketOptions ? 'spot' : 'on-demand'} ${String(s.input.InstanceType)}`);
    assert.deepEqual(tries.slice(0, 3), ['spot c7a.xlarge', 'spot m7a.xlarge', 'on-demand c7a.xlarge']);
    for (const n of launched) {
      assert.equal(n.spot, false);
      assert.equal((await describeOne(n.id)).InstanceLifecycle, undefined);
    }
  });

  it('no capacity anywhere is a retriable FLEET_FAILED naming what was tried', async () => {
    const client = edgeClient(moto.endpoint, [], (cmd) =>
      cmd === 'RunInstancesCommand' ? 'InsufficientInstanceCapacity' : undefined,
    );
    await assert.rejects(fleetWith(client).launch(1), (err: NommerError) => {
      assert.equal(err.code, 'FLEET_FAILED');
      assert.equal(err.retriable, true);
      assert.match(err.message, /spot c7a\.xlarge, spot m7a\.xlarge, on-demand c7a\.xlarge, on-demand m7a\.xlarge/);
      return true;
    });
    assert.equal((await fleetWith(raw).list()).length, 0);
  });

  it('a permission or throttling error is not a capacity problem: it ends the launch at once', async () => {
    const sent: Sent[] = [];
    const client = edgeClient(moto.endpoint, sent, (cmd) =>
      cmd === 'RunInstancesCommand' ? 'RequestLimitExceeded' : undefined,
    );
    await assert.rejects(
      fleetWith(client).launch(1),
      (err: NommerError) => err.code === 'FLEET_FAILED' && err.retriable && /RequestLimitExceeded/.test(err.message),
    );
    assert.equal(sent.filter((s) => s.command === 'RunInstancesCommand').length, 1);
  });

  it("lists only this cluster's live workers, and terminate leaves other clusters and strangers alone", async () => {
    const ours = await fleetWith(raw).launch(2);
    const theirs = await fleetWith(raw, { cluster: 'other' }).launch(1);
    const untagged = (
      await raw.send(new RunInstancesCommand({ ImageId: 'ami-0123456789abcdef0', MinCount: 1, MaxCount: 1 }))
    ).Instances![0]!.InstanceId!;
    const fleet = fleetWith(raw);
    assert.deepEqual((await fleet.list()).map((n) => n.id).sort(), ours.map((n) => n.id).sort());

    await fleet.terminate([ours[0]!.id, theirs[0]!.id, untagged]);
    assert.deepEqual(
      (await fleet.list()).map((n) => n.id),
      [ours[1]!.id],
    );
    assert.equal((await describeOne(theirs[0]!.id)).State?.Name, 'running');
    assert.equal((await describeOne(untagged)).State?.Name, 'running');
    const all = await fleet.list({ includeTerminated: true });
    assert.equal(all.find((n) => n.id === ours[0]!.id)?.state, 'terminated');
  });

  it('after a restart, a new fleet and manager adopt the tagged instances instead of launching more', async () => {
    const queue = { depth: async () => ({ waiting: 2, inFlight: 0 }) };
    const autoscale = { minInstances: 0, maxInstances: 4, slotsPerInstance: 1, cooldownSeconds: 30, bootSeconds: 90 };
    const first = new FleetManager({ fleet: fleetWith(raw), queue, config: autoscale });
    assert.equal((await first.tick()).launched.length, 2);

    // feederd restarts: nothing remembered but what EC2 lists.
    const fleet2 = fleetWith(ec2Client({ endpoint: moto.endpoint, maxAttempts: 1 }));
    const second = new FleetManager({ fleet: fleet2, queue, config: autoscale });
    assert.equal((await second.reconcile()).length, 2);
    const r = await second.tick();
    assert.equal(r.launched.length, 0, r.decision?.reason);
    assert.equal((await fleet2.list()).length, 2);
  });

  it('`nommer fleet` reports the live workers with state, age and cost from the configured prices', async () => {
    const launched = await fleetWith(raw).launch(2);
    await fleetWith(raw).terminate([launched[1]!.id]);
    const cfg = parseConfig({
      backend: 'aws',
      aws: {
        bucket: 'nommer-ec2-test',
        queuePrefix: 'ec2t',
        endpoint: moto.endpoint,
        ec2: { ami: 'ami-0123456789abcdef0', prices: { 'c7a.xlarge': 0.36 } },
      },
    });
    const at = launched[0]!.launchedAt + 600_000;
    const report = await fleetReport(cfg, '0.1.0', () => at);
    assert.equal(report.cluster, 'ec2t');
    assert.deepEqual(
      report.instances.map((i) => [i.id, i.ec2State, i.instanceType, i.spot, i.ageSeconds]),
      [[launched[0]!.id, 'running', 'c7a.xlarge', true, 600]],
    );
    assert.ok(Math.abs(report.totalUsd - 0.06) < 1e-9);
    await fleetWith(raw).drain([launched[0]!.id], true);
    const drained = await fleetReport(cfg, '0.1.0', () => at);
    assert.equal(drained.instances[0]!.draining, true);
    assert.match(formatFleet(drained), /running \(draining\)/);
    assert.equal(report.upperBound, true);
    await assert.rejects(fleetReport(parseConfig({}), '0.1.0'), /only the aws backend/);
  });

  it('throttling (faked RequestLimitExceeded) makes the manager back off, then it launches', async () => {
    const sent: Sent[] = [];
    let throttle = true;
    const client = edgeClient(moto.endpoint, sent, (cmd) =>
      throttle && cmd === 'DescribeInstancesCommand' ? 'RequestLimitExceeded' : undefined,
    );
    let now = 1_800_000_000_000;
    const mgr = new FleetManager({
      fleet: fleetWith(client),
      queue: { depth: async () => ({ waiting: 1, inFlight: 0 }) },
      now: () => now,
      random: () => 0,
      config: { minInstances: 0, maxInstances: 4, slotsPerInstance: 1, cooldownSeconds: 30, bootSeconds: 90 },
    });
    const r1 = await mgr.tick();
    assert.equal(r1.error?.code, 'FLEET_FAILED');
    assert.match(r1.error!.message, /RequestLimitExceeded/);
    assert.equal(r1.backoffUntil, now + 1000);
    const calls = sent.length;
    now += 500;
    throttle = false;
    await mgr.tick();
    assert.equal(sent.length, calls, 'no EC2 call during the backoff');
    now += 600;
    const r3 = await mgr.tick();
    assert.equal(r3.error, undefined);
    assert.equal(r3.launched.length, 1);
  });

  const tagsOf = async (id: string) =>
    Object.fromEntries(((await describeOne(id)).Tags ?? []).map((t) => [t.Key!, t.Value ?? '']));

  it("drain tags only this cluster's live workers, list shows it, and calling back removes the tag", async () => {
    const ours = await fleetWith(raw).launch(2);
    const theirs = await fleetWith(raw, { cluster: 'other' }).launch(1);
    const fleet = fleetWith(raw);
    await fleet.drain([ours[0]!.id, theirs[0]!.id], true);
    assert.equal((await tagsOf(ours[0]!.id))[DRAIN_TAG], '1');
    assert.equal((await tagsOf(theirs[0]!.id))[DRAIN_TAG], undefined, 'another cluster is never tagged');
    assert.equal((await tagsOf(ours[1]!.id))[DRAIN_TAG], undefined);
    const listed = await fleet.list();
    assert.deepEqual(
      listed.map((n) => [n.id, n.draining === true]),
      [
        [ours[0]!.id, true],
        [ours[1]!.id, false],
      ].sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
    );
    await fleet.drain([ours[0]!.id], false);
    assert.equal((await tagsOf(ours[0]!.id))[DRAIN_TAG], undefined);
    assert.equal((await tagsOf(ours[0]!.id))[CLUSTER_TAG], 'ec2t', 'only the drain tag is removed');
  });

  it('the manager scales in by draining, calls a busy draining instance back for a backlog, and never terminates a running one', async () => {
    const sent: Sent[] = [];
    const fleet = fleetWith(edgeClient(moto.endpoint, sent));
    const nodes = await fleetWith(raw).launch(4);
    // One job on each, 4 slots each: 12 free slots; draining one leaves 9 ≥ its job + 8 kept.
    const busy = new Map(nodes.map((n) => [`${n.id}/0`, 1]));
    const depth = { waiting: 0, inFlight: 4 };
    const now = Math.max(...nodes.map((n) => n.launchedAt)) + 3600_000;
    const mgr = new FleetManager({
      fleet,
      queue: { depth: async () => depth },
      busySlots: () => busy,
      now: () => now,
      config: { minInstances: 0, maxInstances: 8, slotsPerInstance: 4, cooldownSeconds: 30, bootSeconds: 90 },
    });
    const t1 = await mgr.tick();
    assert.equal(t1.drained.length, 1, t1.decision?.reason);
    const [leaving] = t1.drained;
    assert.equal((await tagsOf(leaving!))[DRAIN_TAG], '1');

    // Nothing changed: it stays draining, no other is drained (their room is the reserve now).
    const t2 = await mgr.tick();
    assert.deepEqual([t2.drained, t2.undrained, t2.launched], [[], [], []], t2.decision?.reason);

    // Jobs wait beyond the others' room: the draining instance (still running its job) is called back first.
    depth.waiting = 10;
    const t3 = await mgr.tick();
    assert.deepEqual(t3.undrained, [leaving], t3.decision?.reason);
    assert.equal((await tagsOf(leaving!))[DRAIN_TAG], undefined);

    // The cap drops to 2 while all four run: two are drained, none terminated.
    depth.waiting = 0;
    const capped = new FleetManager({
      fleet,
      queue: { depth: async () => depth },
      busySlots: () => new Map([[`${nodes[0]!.id}/0`, 1]]),
      now: () => now,
      config: { minInstances: 0, maxInstances: 2, slotsPerInstance: 4, cooldownSeconds: 30, bootSeconds: 90 },
    });
    const t4 = await capped.tick();
    assert.equal(t4.drained.length, 2, t4.decision?.reason);
    assert.deepEqual(t4.terminated, []);
    assert.equal(
      sent.filter((x) => x.command === 'TerminateInstancesCommand').length,
      0,
      'no TerminateInstances for a running instance',
    );
    for (const id of t4.drained) assert.equal((await tagsOf(id))[DRAIN_TAG], '1');
    assert.equal((await fleet.list()).length, 4, 'all four still run their jobs');
  });
});
