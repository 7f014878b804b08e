// The pieces feederd wires together fit: a pino logger is a fleet log, the autoscaler settings
// come from aws.ec2 and pass the autoscaler's own validation, and a config without an EC2 AMI
// is refused at the first launch with a hint, not sent to EC2.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EC2Fleet } from '../src/adapters/aws/ec2-fleet.js';
import { ec2Client } from '../src/adapters/aws/clients.js';
import { parseConfig } from '../src/config.js';
import { autoscalerConfig } from '../src/fleet/open.js';
import { createLogger } from '../src/log.js';
import { configProblems } from '../src/orchestrator/autoscaler.js';
import { FleetManager } from '../src/orchestrator/fleet-manager.js';

describe('fleet wiring', () => {
  test('aws.ec2 gives the autoscaler a valid config and a pino logger is accepted', () => {
    const config = parseConfig({
      backend: 'aws',
      aws: { bucket: 'b', ec2: { maxInstances: 8, minInstances: 1, slotsPerInstance: 2 } },
    });
    const auto = autoscalerConfig(config);
    assert.deepEqual(configProblems(auto), []);
    assert.deepEqual(auto, {
      minInstances: 1,
      maxInstances: 8,
      slotsPerInstance: 2,
      cooldownSeconds: 30,
      bootSeconds: 90,
      // c7a.xlarge, the default type, from the built-in price table.
      hourlyPrice: 0.20528,
    });
    // The spend cap is priced at the dearest type; a type without a price makes it a config error.
    const capped = autoscalerConfig(
      parseConfig({
        backend: 'aws',
        aws: {
          bucket: 'b',
          ec2: {
            maxInstances: 8,
            instanceTypes: ['c7a.xlarge', 'x9.odd'],
            prices: { 'x9.odd': 0.5 },
            maxHourlySpend: 2,
          },
        },
      }),
    );
    assert.equal(capped.hourlyPrice, 0.5);
    assert.equal(capped.maxHourlySpend, 2);
    assert.throws(
      () =>
        autoscalerConfig(
          parseConfig({ backend: 'aws', aws: { bucket: 'b', ec2: { instanceTypes: ['x9.odd'], maxHourlySpend: 2 } } }),
        ),
      /maxHourlySpend needs a price for every instance type; none for x9\.odd/,
    );
    const log = createLogger('test', { level: 'silent' }).child({ part: 'fleet' });
    const fleet = new EC2Fleet({
      client: ec2Client({ region: 'us-east-1' }),
      cluster: 'nommer',
      instanceTypes: ['c7a.xlarge'],
      spot: true,
      userData: () => '#!/bin/bash\n',
      log,
    });
    assert.ok(
      new FleetManager({ fleet, queue: { depth: async () => ({ waiting: 0, inFlight: 0 }) }, config: auto, log }),
    );
  });

  test('launching without an AMI is a config error naming aws.ec2.ami', async () => {
    const fleet = new EC2Fleet({
      client: ec2Client({ region: 'us-east-1' }),
      cluster: 'nommer',
      instanceTypes: ['c7a.xlarge'],
      spot: false,
      userData: () => '',
    });
    await assert.rejects(fleet.launch(1), /aws\.ec2\.ami/);
    assert.deepEqual(await fleet.launch(0), []);
  });

  test('spot tries every type before on-demand', () => {
    const fleet = new EC2Fleet({
      client: ec2Client({ region: 'us-east-1' }),
      cluster: 'nommer',
      instanceTypes: ['a', 'b'],
      spot: true,
      userData: () => '',
    });
    assert.deepEqual(fleet.launchOptions(), [
      { spot: true, instanceType: 'a' },
      { spot: true, instanceType: 'b' },
      { spot: false, instanceType: 'a' },
      { spot: false, instanceType: 'b' },
    ]);
  });
});
