// The autoscaler's decisions on the edge cases that cost money or jobs: empty queue, backlog,
// max, booting and not-yet-listed instances, floor, backoff, stuck boots, config changes.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  afterFleetCall,
  assertAutoscalerConfig,
  backoffSeconds,
  configProblems,
  decide,
  type AutoscalerConfig,
  type AutoscalerInput,
  type InstanceView,
} from '../src/orchestrator/autoscaler.js';

const NOW = 1_700_000_000_000;
const S = 1000;

const config: AutoscalerConfig = {
  minInstances: 0,
  maxInstances: 10,
  slotsPerInstance: 2,
  cooldownSeconds: 30,
  bootSeconds: 90,
};

function input(over: Partial<AutoscalerInput> = {}): AutoscalerInput {
  return { now: NOW, queue: { waiting: 0, inFlight: 0 }, instances: [], config, ...over };
}

let n = 0;
function running(busySlots: number, over: Partial<InstanceView> = {}): InstanceView {
  return {
    id: `i-run-${n++}`,
    state: 'running',
    launchedAt: NOW - 600 * S,
    busySlots,
    idleSince: busySlots === 0 ? NOW - 10 * S : undefined,
    ...over,
  };
}
function booting(ageSeconds = 20, over: Partial<InstanceView> = {}): InstanceView {
  return { id: `i-boot-${n++}`, state: 'booting', launchedAt: NOW - ageSeconds * S, busySlots: 0, ...over };
}

describe('autoscaler decide', () => {
  test('an empty queue and an empty fleet launch nothing and terminate nothing', () => {
    const d = decide(input());
    assert.equal(d.launch, 0);
    assert.deepEqual(d.terminate, []);
    assert.match(d.reason, /no launch/);
  });

  test('an empty queue never scales down idle workers: they idle out by themselves', () => {
    const d = decide(input({ instances: [running(0), running(0), running(1)] }));
    assert.equal(d.launch, 0);
    assert.deepEqual(d.terminate, []);
  });

  test('a backlog launches ceil(waiting / slots) instances', () => {
    assert.equal(decide(input({ queue: { waiting: 7, inFlight: 0 } })).launch, 4);
    assert.equal(decide(input({ queue: { waiting: 8, inFlight: 0 } })).launch, 4);
    assert.equal(decide(input({ queue: { waiting: 1, inFlight: 0 } })).launch, 1);
  });

  test('free slots on running workers absorb the backlog before any launch', () => {
    const d = decide(input({ queue: { waiting: 3, inFlight: 3 }, instances: [running(1), running(0), running(2)] }));
    assert.equal(d.launch, 0, d.reason);
    const d2 = decide(input({ queue: { waiting: 6, inFlight: 3 }, instances: [running(1), running(0), running(2)] }));
    assert.equal(d2.launch, 2, d2.reason); // 6 waiting - 3 free = 3 -> 2 instances
  });

  test('launches stop at maxInstances, counting booting and running instances', () => {
    const d = decide(
      input({
        queue: { waiting: 100, inFlight: 8 },
        instances: [running(2), running(2), running(2), running(2), booting(), booting()],
      }),
    );
    assert.equal(d.launch, 4);
    assert.match(d.reason, /max 10 reached/);
  });

  test('at max, a large backlog launches nothing', () => {
    const full = Array.from({ length: 10 }, () => running(2));
    const d = decide(input({ queue: { waiting: 500, inFlight: 20 }, instances: full }));
    assert.equal(d.launch, 0);
    assert.deepEqual(d.terminate, []);
  });

  test('instances still booting count as capacity, so consecutive ticks do not launch twice', () => {
    const first = decide(input({ queue: { waiting: 6, inFlight: 0 } }));
    assert.equal(first.launch, 3);
    // Next tick: the three now appear as booting (EC2's launch time may lag our clock a little).
    const three = () => [booting(0), booting(0), booting(0, { launchedAt: NOW + 2 * S })];
    const second = decide(
      input({
        now: NOW + 10 * S,
        queue: { waiting: 6, inFlight: 0 },
        instances: three(),
        lastScaleUp: { at: NOW, count: 3 },
      }),
    );
    assert.equal(second.launch, 0, second.reason);
    // More work arrives: only the difference is launched.
    const third = decide(
      input({
        now: NOW + 20 * S,
        queue: { waiting: 9, inFlight: 0 },
        instances: three(),
        lastScaleUp: { at: NOW, count: 3 },
      }),
    );
    assert.equal(third.launch, 2, third.reason);
    // A listed launch time a second before ours (clock skew) is still recognised as that launch.
    const skewed = decide(
      input({
        now: NOW + 10 * S,
        queue: { waiting: 9, inFlight: 0 },
        instances: [booting(1), booting(1), booting(1)],
        lastScaleUp: { at: NOW, count: 3 },
      }),
    );
    assert.equal(skewed.launch, 2, skewed.reason);
  });

  test('within the cool-down, launched instances the API does not list yet count as booting', () => {
    const d = decide(
      input({
        now: NOW + 5 * S,
        queue: { waiting: 6, inFlight: 0 },
        instances: [],
        lastScaleUp: { at: NOW, count: 3 },
      }),
    );
    assert.equal(d.launch, 0, d.reason);
    assert.match(d.reason, /3 launched, not listed yet/);
    // One of them shows up: still no double launch.
    const d2 = decide(
      input({
        now: NOW + 8 * S,
        queue: { waiting: 6, inFlight: 0 },
        instances: [booting(0)],
        lastScaleUp: { at: NOW, count: 3 },
      }),
    );
    assert.equal(d2.launch, 0, d2.reason);
  });

  test('after the cool-down, a launch that never showed up is no longer assumed', () => {
    const d = decide(
      input({
        now: NOW + 31 * S,
        queue: { waiting: 6, inFlight: 0 },
        instances: [],
        lastScaleUp: { at: NOW, count: 3 },
      }),
    );
    assert.equal(d.launch, 3);
  });

  test('unlisted launches count toward max too', () => {
    const nine = Array.from({ length: 7 }, () => running(2));
    const d = decide(
      input({
        now: NOW + 5 * S,
        queue: { waiting: 50, inFlight: 14 },
        instances: nine,
        lastScaleUp: { at: NOW, count: 2 },
      }),
    );
    assert.equal(d.launch, 1, d.reason);
  });

  test('slots that will free within a boot time absorb a small backlog instead of a new instance', () => {
    const cfg = { ...config, expectedJobSeconds: 300 }; // 90 s boot / 300 s jobs: 30% of busy slots free in time
    const fleet = Array.from({ length: 5 }, () => running(2)); // 10 busy slots -> ~3 free within boot
    assert.equal(decide(input({ config: cfg, queue: { waiting: 3, inFlight: 10 }, instances: fleet })).launch, 0);
    assert.equal(decide(input({ config: cfg, queue: { waiting: 4, inFlight: 10 }, instances: fleet })).launch, 1);
    // Without a job-length estimate there is no drain credit.
    assert.equal(decide(input({ queue: { waiting: 3, inFlight: 10 }, instances: fleet })).launch, 2);
  });

  test('the min-instances floor is restored with an empty queue', () => {
    const cfg = { ...config, minInstances: 2 };
    assert.equal(decide(input({ config: cfg })).launch, 2);
    assert.equal(decide(input({ config: cfg, instances: [running(0)] })).launch, 1);
    assert.equal(decide(input({ config: cfg, instances: [running(0), booting()] })).launch, 0);
    // Stopping instances are leaving and do not hold the floor.
    assert.equal(
      decide(input({ config: cfg, instances: [running(0), { ...running(0), state: 'stopping' }] })).launch,
      1,
    );
  });

  test('terminated instances in the listing are ignored', () => {
    const gone = { ...running(0), state: 'terminated' as const };
    const d = decide(input({ queue: { waiting: 2, inFlight: 0 }, instances: [gone, gone] }));
    assert.equal(d.launch, 1);
    assert.deepEqual(d.terminate, []);
  });

  test('while backing off after throttling, nothing is launched or terminated', () => {
    const stuck = booting(1000);
    const d = decide(input({ queue: { waiting: 50, inFlight: 0 }, instances: [stuck], backoffUntil: NOW + 12 * S }));
    assert.equal(d.launch, 0);
    assert.deepEqual(d.terminate, []);
    assert.match(d.reason, /backing off.*12 s/);
    // Once the backoff has passed, the backlog is served again.
    const after = decide(input({ now: NOW + 12 * S, queue: { waiting: 4, inFlight: 0 }, backoffUntil: NOW + 12 * S }));
    assert.equal(after.launch, 2);
  });

  test('an instance stuck booting far past bootSeconds is terminated and replaced', () => {
    const stuck = booting(3 * 90 + 1);
    const fine = booting(60);
    const d = decide(input({ queue: { waiting: 4, inFlight: 0 }, instances: [stuck, fine] }));
    assert.deepEqual(d.terminate, [stuck.id]);
    assert.equal(d.launch, 1, d.reason); // 4 waiting - 2 slots booting on the healthy one
    assert.match(d.reason, /stuck booting/);
  });

  test('stuckBootSeconds overrides the 3 × bootSeconds default', () => {
    const d = decide(input({ config: { ...config, stuckBootSeconds: 120 }, instances: [booting(121)] }));
    assert.equal(d.terminate.length, 1);
    assert.equal(decide(input({ instances: [booting(121)] })).terminate.length, 0);
  });

  test('never terminates an instance that is running a job, even above max', () => {
    const busy = Array.from({ length: 6 }, () => running(1));
    const d = decide(
      input({ config: { ...config, maxInstances: 3 }, queue: { waiting: 0, inFlight: 6 }, instances: busy }),
    );
    assert.deepEqual(d.terminate, []);
    assert.equal(d.launch, 0);
    assert.match(d.reason, /3 busy left to finish/);
  });

  test('over max after a config change terminates only idle instances, booting ones first', () => {
    const busyA = running(2);
    const busyB = running(1);
    const idleOld = running(0, { idleSince: NOW - 100 * S });
    const idleNew = running(0, { idleSince: NOW - 5 * S });
    const boot = booting(30);
    const d = decide(
      input({
        config: { ...config, maxInstances: 2 },
        queue: { waiting: 0, inFlight: 3 },
        instances: [busyA, busyB, idleNew, idleOld, boot],
      }),
    );
    assert.deepEqual(d.terminate, [boot.id, idleOld.id, idleNew.id]);
    assert.equal(d.launch, 0);
    // Only as many as the excess: max 4 trims one, the booting instance.
    const d2 = decide(
      input({
        config: { ...config, maxInstances: 4 },
        queue: { waiting: 0, inFlight: 3 },
        instances: [busyA, busyB, idleNew, idleOld, boot],
      }),
    );
    assert.deepEqual(d2.terminate, [boot.id]);
  });

  test('maxInstances 0 launches nothing whatever the backlog', () => {
    const d = decide(input({ config: { ...config, maxInstances: 0 }, queue: { waiting: 10, inFlight: 0 } }));
    assert.equal(d.launch, 0);
  });
});

describe('autoscaler config', () => {
  test('problems name the option', () => {
    assert.deepEqual(configProblems(config), []);
    const problems = configProblems({ ...config, slotsPerInstance: 0, maxInstances: 1.5 });
    assert.equal(problems.length, 2);
    assert.match(problems.join('\n'), /slotsPerInstance/);
    assert.match(problems.join('\n'), /maxInstances/);
    assert.match(
      configProblems({ ...config, minInstances: 11 })[0]!,
      /minInstances \(11\) must not exceed maxInstances \(10\)/,
    );
    assert.throws(
      () => assertAutoscalerConfig({ ...config, bootSeconds: -1 }),
      (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /bootSeconds/.test(e.message),
    );
  });
});

describe('backoff after fleet API throttling', () => {
  test('delay doubles per failure, with jitter between half and all of it, capped', () => {
    assert.equal(backoffSeconds(1, 0), 1);
    assert.equal(backoffSeconds(1, 1), 2);
    assert.equal(backoffSeconds(3, 0), 4);
    assert.equal(backoffSeconds(3, 0.5), 6);
    assert.equal(backoffSeconds(40, 0.999), 300 / 2 + 150 * 0.999);
    for (let f = 1; f < 20; f++) assert.ok(backoffSeconds(f, 0.99) <= 300);
  });

  test('failures accumulate into backoffUntil, and one success resets it', () => {
    let s = afterFleetCall({ failures: 0 }, false, NOW, 0);
    assert.deepEqual(s, { failures: 1, backoffUntil: NOW + 1 * S });
    s = afterFleetCall(s, false, NOW + 1 * S, 0);
    assert.deepEqual(s, { failures: 2, backoffUntil: NOW + 1 * S + 2 * S });
    assert.equal(
      decide(input({ now: NOW + 2 * S, queue: { waiting: 5, inFlight: 0 }, backoffUntil: s.backoffUntil })).launch,
      0,
    );
    s = afterFleetCall(s, true, NOW + 3 * S, 0.7);
    assert.deepEqual(s, { failures: 0 });
  });
});

describe('the spend cap (aws.ec2.maxHourlySpend)', () => {
  const capped: AutoscalerConfig = { ...config, hourlyPrice: 0.2, maxHourlySpend: 1 };

  test('launches stop where the spend cap is, below maxInstances, and the decision says the cap held the queue', () => {
    const d = decide(
      input({ config: capped, queue: { waiting: 100, inFlight: 4 }, instances: [running(2), running(2)] }),
    );
    assert.equal(d.launch, 3, d.reason); // $1/h at $0.20/h = 5 instances; 2 exist
    assert.equal(d.heldBy, 'maxHourlySpend');
    assert.match(d.reason, /spend cap \$1\/h = 5 instances at \$0\.2\/h reached/);
  });

  test('under the cap, maxInstances still holds, and nothing held when the backlog fits', () => {
    const roomy: AutoscalerConfig = { ...config, hourlyPrice: 0.2, maxHourlySpend: 100 };
    const d = decide(input({ config: roomy, queue: { waiting: 100, inFlight: 0 } }));
    assert.equal(d.launch, 10);
    assert.equal(d.heldBy, 'maxInstances');
    const fits = decide(input({ config: capped, queue: { waiting: 2, inFlight: 0 } }));
    assert.equal(fits.launch, 1);
    assert.equal(fits.heldBy, undefined);
  });

  test('a cap lowered below the fleet trims idle instances, never busy ones', () => {
    const fleet = [running(2), running(0), running(0), running(2), running(0), running(0), running(0)];
    const d = decide(input({ config: capped, queue: { waiting: 0, inFlight: 4 }, instances: fleet }));
    assert.equal(d.launch, 0);
    assert.equal(d.terminate.length, 2);
    for (const id of d.terminate) assert.equal(fleet.find((i) => i.id === id)!.busySlots, 0);
  });

  test('a cap without a price is a config problem', () => {
    assert.deepEqual(configProblems({ ...config, maxHourlySpend: 1 }), [
      'maxHourlySpend needs the instance price: set aws.ec2.prices for the instance types',
    ]);
  });
});

describe('autoscaler decide: scale-in by draining', () => {
  const drainCfg: AutoscalerConfig = { ...config, slotsPerInstance: 4, drain: true };
  const fleetOf = (...busy: number[]) => busy.map((b) => running(b));

  test('a half-busy instance whose jobs fit in the room of the busy ones that stay is drained, emptiest first', () => {
    // 4 slots each: room on the others must cover its jobs + a reserve of 2 instances (8 slots).
    const fleet = fleetOf(1, 2, 1, 1, 1);
    const d = decide(input({ config: drainCfg, queue: { waiting: 0, inFlight: 6 }, instances: fleet }));
    assert.equal(d.launch, 0);
    assert.deepEqual(d.terminate, []);
    // Room 14 slots: draining one with 1 job leaves 11 ≥ 1 + 8; a second would leave 8 < 9.
    assert.deepEqual(d.drain, [fleet[0]!.id]);
    assert.match(d.reason, /draining 1/);
    // With one more busy instance there is room to drain a second.
    const bigger = fleetOf(1, 2, 1, 1, 1, 4, 1);
    const d2 = decide(input({ config: drainCfg, queue: { waiting: 0, inFlight: 11 }, instances: bigger }));
    assert.deepEqual(d2.drain, [bigger[0]!.id, bigger[2]!.id]);
  });

  test('without drain in the config the same fleet is left alone', () => {
    const d = decide(input({ config: { ...drainCfg, drain: false }, instances: fleetOf(1, 2, 1, 1, 1) }));
    assert.deepEqual(d.drain, []);
    assert.deepEqual(d.undrain, []);
  });

  test('idle and full instances are never drained, and idle room does not count', () => {
    const d = decide(input({ config: drainCfg, instances: [...fleetOf(4, 4, 4), running(0), running(0), running(0)] }));
    assert.deepEqual(d.drain, []);
    const d2 = decide(input({ config: drainCfg, instances: [running(1), running(0), running(0), running(0)] }));
    assert.deepEqual(d2.drain, [], 'idle instances may idle out: their slots are no room');
  });

  test('nothing is drained while jobs wait uncovered, nor below the floor', () => {
    const fleet = fleetOf(1, 1, 1, 1, 1, 1);
    const busy = decide(input({ config: drainCfg, queue: { waiting: 30, inFlight: 6 }, instances: fleet }));
    assert.deepEqual(busy.drain, []);
    assert.ok(busy.launch > 0);
    const floor = decide(input({ config: { ...drainCfg, minInstances: 5 }, instances: fleet }));
    assert.equal(floor.drain.length, 1, floor.reason);
  });

  test('a backlog calls busy draining instances back before launching; idle draining ones are not (their worker is leaving)', () => {
    const a = running(1, { draining: true });
    const b = running(3, { draining: true });
    const gone = running(0, { draining: true });
    const d = decide(input({ config: drainCfg, queue: { waiting: 2, inFlight: 4 }, instances: [a, b, gone] }));
    // Fullest first (it stays up for its jobs anyway): b has 1 free slot, then a 3 more.
    assert.deepEqual(d.undrain, [b.id, a.id]);
    assert.equal(d.launch, 0, d.reason);
    const one = decide(input({ config: drainCfg, queue: { waiting: 1, inFlight: 4 }, instances: [a, b, gone] }));
    assert.deepEqual(one.undrain, [b.id]);
    const more = decide(input({ config: drainCfg, queue: { waiting: 9, inFlight: 4 }, instances: [a, b, gone] }));
    assert.deepEqual(more.undrain, [b.id, a.id]);
    assert.equal(more.launch, 2, more.reason); // 9 - 3 - 1 = 5 uncovered → 2 instances of 4
  });

  test('draining instances count toward max but not the floor, and their free slots take no backlog', () => {
    const leaving = Array.from({ length: 3 }, () => running(0, { draining: true }));
    const d = decide(
      input({
        config: { ...drainCfg, minInstances: 1, maxInstances: 4 },
        queue: { waiting: 8, inFlight: 0 },
        instances: leaving,
      }),
    );
    assert.equal(d.launch, 1, d.reason);
    assert.equal(d.heldBy, 'maxInstances');
  });

  test('above max, running instances are drained, never terminated; only idle booting ones are', () => {
    const busyA = running(2);
    const busyB = running(1);
    const idle = running(0, { idleSince: NOW - 100 * S });
    const boot = booting(30);
    const d = decide(
      input({
        config: { ...drainCfg, maxInstances: 1 },
        queue: { waiting: 0, inFlight: 3 },
        instances: [busyA, busyB, idle, boot],
      }),
    );
    assert.deepEqual(d.terminate, [boot.id]);
    assert.deepEqual(d.drain, [idle.id, busyB.id]);
    assert.equal(d.launch, 0);
  });
});
