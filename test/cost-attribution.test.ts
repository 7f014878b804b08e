// Cost attribution on a simulated fleet trace: every instance's bill is split over the jobs it
// ran by slot time, boot and idle included, and the job costs add up exactly to the fleet's
// instance-seconds × price.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mulberry32 } from '../bench/sim-core.js';
import {
  attributeCosts,
  billedSeconds,
  NANO,
  splitExactly,
  type BilledInstance,
  type SlotUse,
} from '../src/fleet/attribution.js';

/** A random trace: instances with boot, 1-2 slots running tasks back to back, an idle tail; retries too. */
function trace(seed: number): { instances: BilledInstance[]; uses: SlotUse[] } {
  const rng = mulberry32(seed);
  const instances: BilledInstance[] = [];
  const uses: SlotUse[] = [];
  const t0 = 1_700_000_000_000;
  let job = 0;
  for (let i = 0; i < 25; i++) {
    const launchedAt = t0 + Math.floor(rng() * 3_600_000);
    const boot = 60_000 + Math.floor(rng() * 30_000);
    const slots = 1 + Math.floor(rng() * 2);
    let end = launchedAt + boot;
    const tasks = i % 7 === 6 ? 0 : 1 + Math.floor(rng() * 6); // some instances never get work
    for (let s = 0; s < slots; s++) {
      let t = launchedAt + boot;
      for (let k = 0; k < tasks; k++) {
        const d = 5_000 + Math.floor(rng() * 600_000);
        // Jobs repeat across instances: retries and chunks of one job run in several places.
        const jobId = `j${rng() < 0.2 && job > 0 ? Math.floor(rng() * job) : job++}`;
        uses.push({ jobId, instanceId: `i-${i}`, start: t, end: t + d });
        t += d + Math.floor(rng() * 20_000);
      }
      end = Math.max(end, t);
    }
    const idleTail = 45_000;
    instances.push({
      id: `i-${i}`,
      launchedAt,
      endedAt: end + idleTail,
      pricePerHour: [0.20528, 0.0718, 0.41056][i % 3]!,
    });
  }
  return { instances, uses };
}

test('the job costs sum exactly to the fleet bill, and the bill is instance-seconds × price', () => {
  for (const seed of [1, 2, 3, 42]) {
    const { instances, uses } = trace(seed);
    const a = attributeCosts(instances, uses);
    const sumJobs = a.jobs.reduce((s, j) => s + j.nanoUsd, 0);
    assert.equal(sumJobs, a.totalNanoUsd, `seed ${seed}: Σ jobs = Σ instances, to the nanodollar`);
    const expected = instances.reduce((s, i) => s + (billedSeconds(i) * i.pricePerHour) / 3600, 0);
    // Each instance's bill is rounded once, to the nanodollar.
    assert.ok(Math.abs(a.totalNanoUsd / NANO - expected) <= instances.length / NANO, `seed ${seed}`);
    assert.ok(a.jobs.every((j) => j.nanoUsd > 0 && Number.isInteger(j.nanoUsd)));
    // Boot and idle are paid by the jobs: every job costs at least its own slot time.
    for (const j of a.jobs) {
      const own = uses
        .filter((u) => u.jobId === j.jobId)
        .reduce(
          (s, u) => s + ((u.end - u.start) / 3_600_000) * instances.find((i) => i.id === u.instanceId)!.pricePerHour,
          0,
        );
      assert.ok(j.usd + 1e-9 >= own / 2, `job ${j.jobId} pays for its slot time`); // 2 slots: half an instance
    }
  }
});

test('one instance, two jobs: boot and idle split by slot time; an idle instance is paid by every job', () => {
  const t = 1_700_000_000_000;
  const a = attributeCosts(
    [
      { id: 'a', launchedAt: t, endedAt: t + 360_000, pricePerHour: 3.6 }, // 360 s at $0.001/s = $0.36
      { id: 'b', launchedAt: t, endedAt: t + 30_000, pricePerHour: 3.6 }, // ran nothing: 60 s minimum = $0.06
    ],
    [
      { jobId: 'x', instanceId: 'a', start: t + 60_000, end: t + 260_000 }, // 200 s
      { jobId: 'y', instanceId: 'a', start: t + 260_000, end: t + 310_000 }, // 50 s
    ],
  );
  const by = Object.fromEntries(a.jobs.map((j) => [j.jobId, j]));
  assert.equal(by.x!.workerSeconds, 200);
  assert.equal(by.y!.workerSeconds, 50);
  // a's $0.36 split 200:50, b's $0.06 too.
  assert.equal(by.x!.nanoUsd, 0.288 * NANO + 0.048 * NANO);
  assert.equal(by.y!.nanoUsd, 0.072 * NANO + 0.012 * NANO);
  assert.equal(a.instances.find((i) => i.id === 'a')!.idleSeconds, 110);
});

test('splitExactly keeps every unit', () => {
  assert.deepEqual(splitExactly(10, [1, 1, 1]), [4, 3, 3]);
  assert.deepEqual(splitExactly(0, [1, 2]), [0, 0]);
  assert.deepEqual(splitExactly(7, [0, 0]), [0, 0]);
  const rng = mulberry32(9);
  for (let k = 0; k < 200; k++) {
    const w = Array.from({ length: 1 + Math.floor(rng() * 9) }, () => rng());
    const total = Math.floor(rng() * 1e9);
    assert.equal(
      splitExactly(total, w).reduce((a, b) => a + b, 0),
      total,
    );
  }
});
