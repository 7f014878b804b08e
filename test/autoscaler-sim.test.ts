// Sanity of the autoscaler simulator on short traces: every job finishes, the fleet stays within
// max, no busy instance is terminated, and no policy bills less than the any-policy floor.
// No timings or cost targets here: those are for the bench to report.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  burstyTrace,
  clairvoyant,
  DEFAULT_PARAMS,
  floorSeconds,
  mulberry32,
  percentile,
  simulate,
  steadyTrace,
  trickleTrace,
  type SimParams,
} from '../bench/sim-core.js';

const small: SimParams = { ...DEFAULT_PARAMS, maxInstances: 6, slotsPerInstance: 2 };

const traces = [
  burstyTrace(11, { bursts: 3, jobsPerBurst: 15, gapMinutes: 30 }),
  steadyTrace(12, { everySeconds: 60, hours: 1 }),
  trickleTrace(13, { hours: 2 }),
];

for (const tr of traces) {
  for (const policy of ['nommer', 'naive'] as const) {
    test(`${tr.name} trace under the ${policy} policy: all jobs finish within max, nothing busy killed, billed ≥ floor`, () => {
      const r = simulate(tr, policy, small);
      assert.equal(r.jobsDone, tr.jobs.length);
      assert.equal(r.waits.length, tr.jobs.length);
      assert.ok(r.peakInstances <= small.maxInstances, `peak ${r.peakInstances} > max ${small.maxInstances}`);
      assert.equal(r.busyTerminations, 0);
      assert.ok(
        r.instanceSeconds >= floorSeconds(tr, small),
        `${r.instanceSeconds} < floor ${floorSeconds(tr, small)}`,
      );
      assert.ok(r.waits.every((w) => w >= 0));
    });
  }
}

test('with a third of launch calls throttled, the nommer policy backs off and still finishes every job', () => {
  const tr = traces[0]!;
  const r = simulate(tr, 'nommer', { ...small, throttleRate: 0.34 });
  assert.ok(r.throttledCalls > 0);
  assert.equal(r.jobsDone, tr.jobs.length);
  assert.ok(r.peakInstances <= small.maxInstances);
});

test('the clairvoyant bound runs every job, never exceeds max, and is not below the floor', () => {
  for (const tr of traces) {
    const b = clairvoyant(tr, small);
    assert.equal(b.jobsDone, tr.jobs.length);
    assert.ok(b.peakInstances <= small.maxInstances);
    assert.ok(b.instanceSeconds >= floorSeconds(tr, small));
  }
});

test('the simulator is deterministic for a seed', () => {
  const a = simulate(traces[0]!, 'nommer', small);
  const b = simulate(traces[0]!, 'nommer', small);
  assert.deepEqual(a, b);
  assert.deepEqual(burstyTrace(5).jobs, burstyTrace(5).jobs);
});

test('the PRNG stays in [0, 1) and percentiles use nearest rank', () => {
  const rng = mulberry32(42);
  for (let i = 0; i < 1000; i++) {
    const x = rng();
    assert.ok(x >= 0 && x < 1);
  }
  assert.equal(percentile([5, 1, 4, 2, 3], 50), 3);
  assert.equal(percentile([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20], 95), 19);
  assert.equal(percentile([], 95), 0);
});

test('with aws.ec2.maxHourlySpend the fleet never costs more per hour than the cap on the bursty trace, and every job still runs', () => {
  const tr = burstyTrace(11, { bursts: 3, jobsPerBurst: 15, gapMinutes: 30 });
  const price = 0.20528;
  const free = simulate(tr, 'nommer', { ...small, hourlyPrice: price });
  const cap = 0.7; // 3 instances at $0.205/h
  const r = simulate(tr, 'nommer', { ...small, hourlyPrice: price, maxHourlySpend: cap });
  assert.equal(r.jobsDone, tr.jobs.length);
  assert.ok(r.peakHourlySpend <= cap, `peak $${r.peakHourlySpend}/h > cap $${cap}/h`);
  assert.equal(r.peakInstances, 3);
  assert.ok(free.peakInstances > 3, 'without the cap the burst takes more instances (the cap is doing the work)');
  assert.ok(r.spendHeldTicks > 0, 'the decisions said the cap held the queue back');
  // The cap costs waiting, never money: the wait it adds is what the bench reports.
  assert.ok(r.waits.reduce((a, b) => a + b, 0) >= free.waits.reduce((a, b) => a + b, 0));
});
