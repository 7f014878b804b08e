// Sanity of the autoscaler simulator on short traces: every job finishes, the fleet stays within
// max, no busy instance is terminated, and no policy bills less than the any-policy floor; the
// reference costs are ordered as their definitions say (a hand-checked burst, and random ones).
// No timings or cost targets here: those are for the bench to report.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  blindPacking,
  burstyTrace,
  clairvoyant,
  clairvoyantNoMigration,
  DEFAULT_PARAMS,
  floorSeconds,
  mulberry32,
  percentile,
  simulate,
  steadyTrace,
  trickleTrace,
  type SimParams,
  type Trace,
} from '../bench/sim-core.js';

const small: SimParams = { ...DEFAULT_PARAMS, maxInstances: 6, slotsPerInstance: 2 };

const traces = [
  burstyTrace(11, { bursts: 3, jobsPerBurst: 15, gapMinutes: 30 }),
  steadyTrace(12, { everySeconds: 60, hours: 1 }),
  trickleTrace(13, { hours: 2 }),
];

for (const tr of traces) {
  for (const policy of ['nommer', 'today', 'naive'] as const) {
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

test('a burst that starts at once: the no-migration plan pairs jobs by length and bills what fluid packing does; blind packing pairs them as they come', () => {
  // 4 jobs at t = 0 of 100, 400, 300, 200 s; 2 slots, a 60 s boot.
  const tr: Trace = {
    name: 'four',
    description: 'four at once',
    jobs: [100, 400, 300, 200].map((duration, id) => ({ id, arrival: 0, duration })),
  };
  const p: SimParams = { ...DEFAULT_PARAMS, slotsPerInstance: 2, maxInstances: 4, bootMinSeconds: 60 };
  // Paired by length: (400, 300) and (200, 100): 400 + 200 s up, plus two boots.
  assert.equal(clairvoyantNoMigration(tr, p).instanceSeconds, 400 + 200 + 2 * 60);
  // Fluid: 2 instances while 3-4 jobs run (0-200 s), 1 after: the same bill.
  assert.equal(clairvoyant(tr, p).instanceSeconds, 400 + 200 + 2 * 60);
  // In arrival order: (100, 400) and (300, 200): 400 + 300 s up.
  assert.equal(blindPacking(tr, p).instanceSeconds, 400 + 300 + 2 * 60);
});

test('on random traces: the lower bound ≤ the no-migration plan ≤ blind packing, and every reference runs every job', () => {
  const rng = mulberry32(99);
  for (let k = 0; k < 30; k++) {
    const slots = 1 + Math.floor(rng() * 4);
    const p: SimParams = { ...DEFAULT_PARAMS, slotsPerInstance: slots, maxInstances: 2 + Math.floor(rng() * 6) };
    const jobs = Array.from({ length: 5 + Math.floor(rng() * 40) }, (_, id) => ({
      id,
      arrival: Math.round(rng() * 3000),
      duration: 30 + Math.round(rng() * rng() * 2000),
    }));
    const tr: Trace = { name: `r${k}`, description: 'random', jobs };
    const [bound, plan, blind] = [clairvoyant(tr, p), clairvoyantNoMigration(tr, p), blindPacking(tr, p)];
    const why = `trace ${k}, ${slots} slots: bound ${bound.instanceSeconds}, plan ${plan.instanceSeconds}, blind ${blind.instanceSeconds}`;
    assert.ok(bound.instanceSeconds <= plan.instanceSeconds + 1e-6, why);
    assert.ok(plan.instanceSeconds <= blind.instanceSeconds + 1e-6, why);
    assert.ok(bound.instanceSeconds >= floorSeconds(tr, p) - 1e-6, why);
    for (const r of [bound, plan, blind]) assert.equal(r.waits.length, jobs.length);
  }
});

test('scale-in by draining: nommer drains instances on a bursty trace with 2 slots, today never does, and both run every job', () => {
  const tr = burstyTrace(11, { bursts: 3, jobsPerBurst: 15, gapMinutes: 30 });
  const roomy: SimParams = { ...small, maxInstances: 10 };
  const drain = simulate(tr, 'nommer', roomy);
  const today = simulate(tr, 'today', roomy);
  assert.ok(drain.drained > 0, 'some instances ended drained');
  assert.equal(today.drained, 0);
  for (const r of [drain, today]) {
    assert.equal(r.jobsDone, tr.jobs.length);
    assert.equal(r.busyTerminations, 0);
  }
});

test('longest-estimated first (what-if): every job runs once; with exact estimates a burst bills less than in arrival order, not below the bound', () => {
  // One burst that fills the fleet: jobs wait together, and instances take them as they boot.
  const tr = burstyTrace(21, { bursts: 1, jobsPerBurst: 16, gapMinutes: 30 });
  const p: SimParams = { ...small, slotsPerInstance: 4, maxInstances: 4 };
  const fifo = simulate(tr, 'nommer', p);
  const exact = simulate(tr, 'nommer', { ...p, longestFirst: { estimateSigma: 0 } });
  const rough = simulate(tr, 'nommer', { ...p, longestFirst: { estimateSigma: 0.5 } });
  for (const r of [fifo, exact, rough]) {
    assert.equal(r.jobsDone, tr.jobs.length);
    assert.equal(r.waits.length, tr.jobs.length);
    assert.equal(r.busyTerminations, 0);
  }
  // An instance booting takes the longest waiting jobs together: the fleet bills less than in
  // arrival order (here 2458 s against 3224 s), and never below the bound.
  assert.ok(exact.instanceSeconds < fifo.instanceSeconds, `${exact.instanceSeconds} >= ${fifo.instanceSeconds}`);
  assert.ok(exact.instanceSeconds >= clairvoyant(tr, p).instanceSeconds - 1e-6);
  // Without the option the run is what it was: the estimates draw from their own random stream.
  assert.deepEqual(simulate(tr, 'nommer', p), fifo);
});
