// `nommer fleet`'s cost estimate and table: per-second billing with the 60 s minimum, spot as an
// upper bound, unpriced types named so the user can add them.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fleetCost, instanceCost } from '../src/fleet/cost.js';
import { formatFleet } from '../src/commands/fleet.js';
import type { WorkerNode } from '../src/ports/fleet.js';

const NOW = 1_700_000_000_000;
const node = (over: Partial<WorkerNode>): WorkerNode => ({
  id: 'i-1',
  state: 'running',
  launchedAt: NOW - 3600_000,
  kind: 'ec2',
  instanceType: 'c7a.xlarge',
  spot: false,
  ...over,
});

describe('fleet cost', () => {
  test('an hour of an on-demand instance costs its hourly price', () => {
    const c = instanceCost(node({}), { 'c7a.xlarge': 0.2053 }, NOW);
    assert.equal(c.ageSeconds, 3600);
    assert.ok(Math.abs(c.costUsd! - 0.2053) < 1e-9);
    assert.equal(c.upperBound, false);
  });

  test('an instance younger than a minute is billed a minute', () => {
    const c = instanceCost(node({ launchedAt: NOW - 5000 }), { 'c7a.xlarge': 3.6 }, NOW);
    assert.ok(Math.abs(c.costUsd! - 0.06) < 1e-9);
  });

  test('spot is an upper bound; unknown types are listed, not guessed', () => {
    const f = fleetCost(
      [node({ spot: true }), node({ id: 'i-2', instanceType: 'm7g.large' })],
      { 'c7a.xlarge': 1 },
      NOW,
    );
    assert.equal(f.totalUsd, 1);
    assert.equal(f.upperBound, true);
    assert.deepEqual(f.unpriced, ['m7g.large']);
    assert.equal(f.instances[1]!.costUsd, null);
  });

  test('the table shows state, age and cost, and says what to add to the config', () => {
    const f = fleetCost(
      [node({ spot: true }), node({ id: 'i-2', instanceType: 'm7g.large' })],
      { 'c7a.xlarge': 1 },
      NOW,
    );
    const text = formatFleet({
      ...f,
      cluster: 'nommer',
      at: NOW,
      instances: f.instances.map((i) => ({ ...i, ec2State: 'running' })),
    });
    assert.match(text, /^INSTANCE\s+TYPE\s+MARKET\s+STATE\s+AGE\s+COST$/m);
    assert.match(text, /^i-1\s+c7a\.xlarge\s+spot\s+running\s+1:00:00\s+≤\$1\.0000$/m);
    assert.match(text, /^i-2\s+m7g\.large\s+on-demand\s+running\s+1:00:00\s+\?$/m);
    assert.match(text, /2 worker\(s\) in cluster nommer; cost so far ≤\$1\.0000/);
    assert.match(text, /no price for m7g\.large: add them to aws\.ec2\.prices/);
    assert.equal(
      formatFleet({ ...fleetCost([], {}, NOW), cluster: 'x', at: NOW, instances: [] }),
      'no workers in cluster x\n',
    );
  });
});
