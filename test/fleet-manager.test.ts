// FleetManager without a cloud: a scripted fleet and queue, a fake clock. What it must get right
// is what costs money or stalls jobs: launch for a backlog once (not again while the launch is not
// listed yet), adopt what exists, never kill an instance whose work it cannot see, and keep going
// (more slowly) when the API fails.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { NommerError } from '../src/errors.js';
import { busyByNode, FleetManager, instanceViews } from '../src/orchestrator/fleet-manager.js';
import type { AutoscalerConfig } from '../src/orchestrator/autoscaler.js';
import type { Fleet, WorkerNode } from '../src/ports/fleet.js';

const T0 = 1_700_000_000_000;
const S = 1000;
const config: AutoscalerConfig = {
  minInstances: 0,
  maxInstances: 5,
  slotsPerInstance: 1,
  cooldownSeconds: 30,
  bootSeconds: 60,
};

class FakeFleet implements Fleet {
  nodes: WorkerNode[] = [];
  /** Launched but not listed yet (DescribeInstances is eventually consistent). */
  hidden: WorkerNode[] = [];
  calls: string[] = [];
  failNext: Error[] = [];
  private n = 0;
  constructor(
    private readonly clock: { now: number },
    private readonly listLag = false,
  ) {}
  private maybeFail() {
    const e = this.failNext.shift();
    if (e) throw e;
  }
  async list() {
    this.calls.push('list');
    this.maybeFail();
    return this.nodes.map((x) => ({ ...x }));
  }
  async launch(count: number) {
    this.calls.push(`launch ${count}`);
    this.maybeFail();
    const made = Array.from({ length: count }, () => ({
      id: `i-${++this.n}`,
      state: 'booting' as const,
      launchedAt: this.clock.now,
      kind: 'ec2' as const,
    }));
    if (this.listLag) this.hidden.push(...made);
    else this.nodes.push(...made);
    return made;
  }
  async terminate(ids: string[]) {
    this.calls.push(`terminate ${ids.join(',')}`);
    this.maybeFail();
    this.nodes = this.nodes.filter((x) => !ids.includes(x.id));
  }
  reveal() {
    this.nodes.push(...this.hidden);
    this.hidden = [];
  }
}

function setup(opts: { listLag?: boolean; waiting?: number; inFlight?: number } = {}) {
  const clock = { now: T0 };
  const fleet = new FakeFleet(clock, opts.listLag);
  const queue = { waiting: opts.waiting ?? 0, inFlight: opts.inFlight ?? 0, fail: undefined as Error | undefined };
  const mgr = new FleetManager({
    fleet,
    queue: {
      depth: async () => {
        if (queue.fail) throw queue.fail;
        return { waiting: queue.waiting, inFlight: queue.inFlight };
      },
    },
    config,
    now: () => clock.now,
    random: () => 0.5,
  });
  return { clock, fleet, queue, mgr };
}

const throttled = () =>
  new NommerError('FLEET_FAILED', 'ec2 RunInstances: RequestLimitExceeded: Request limit exceeded.', {
    retriable: true,
  });

describe('FleetManager', () => {
  test('a backlog launches enough instances once, and records the scale-up', async () => {
    const { fleet, mgr } = setup({ waiting: 3 });
    const r = await mgr.tick();
    assert.deepEqual(r.launched, ['i-1', 'i-2', 'i-3']);
    assert.deepEqual(mgr.lastLaunch, { at: T0, count: 3 });
    assert.ok(fleet.calls.includes('launch 3'));
  });

  test('a launch the API does not list yet is not launched again on the next tick', async () => {
    const { fleet, clock, mgr } = setup({ waiting: 2, listLag: true });
    await mgr.tick();
    clock.now += 10 * S;
    const second = await mgr.tick();
    assert.equal(second.launched.length, 0, second.decision?.reason);
    assert.match(second.decision!.reason, /not listed yet/);
    fleet.reveal();
    clock.now += 10 * S;
    assert.equal((await mgr.tick()).launched.length, 0);
    assert.deepEqual(
      fleet.calls.filter((c) => c.startsWith('launch')),
      ['launch 2'],
    );
  });

  test('instances left by a previous feederd are adopted: a restart with them running launches nothing', async () => {
    const { fleet, mgr } = setup({ waiting: 2 });
    fleet.nodes = [
      { id: 'i-old1', state: 'running', launchedAt: T0 - 600 * S, kind: 'ec2' },
      { id: 'i-old2', state: 'running', launchedAt: T0 - 600 * S, kind: 'ec2' },
    ];
    const adopted = await mgr.reconcile();
    assert.deepEqual(
      adopted.map((n) => n.id),
      ['i-old1', 'i-old2'],
    );
    const r = await mgr.tick();
    assert.equal(r.launched.length, 0, r.decision?.reason);
  });

  test('throttling backs off: no API calls at all until the backoff ends, then it recovers', async () => {
    const { fleet, clock, mgr } = setup({ waiting: 1 });
    fleet.failNext.push(throttled());
    const r1 = await mgr.tick();
    assert.equal(r1.error?.code, 'FLEET_FAILED');
    // DEFAULT_BACKOFF base 2 s, equal jitter with random 0.5: 1.5 s.
    assert.equal(r1.backoffUntil, T0 + 1500);
    const callsAfterFailure = fleet.calls.length;
    clock.now += 1000;
    const r2 = await mgr.tick();
    assert.equal(r2.backoffUntil, T0 + 1500);
    assert.equal(fleet.calls.length, callsAfterFailure, 'no call while backing off');
    // A second failure in a row doubles the ceiling.
    clock.now = T0 + 2000;
    fleet.failNext.push(throttled());
    const r3 = await mgr.tick();
    assert.equal(r3.backoffUntil, T0 + 2000 + 3000);
    assert.equal(mgr.backoff.failures, 2);
    clock.now = T0 + 6000;
    const r4 = await mgr.tick();
    assert.equal(r4.error, undefined);
    assert.deepEqual(r4.launched, ['i-1']);
    assert.equal(mgr.backoff.failures, 0);
  });

  test('a failing queue depth call backs off like a fleet failure and never throws', async () => {
    const { queue, mgr } = setup({ waiting: 1 });
    queue.fail = new NommerError('QUEUE_FAILED', 'sqs GetQueueAttributes: ServiceUnavailable', { retriable: true });
    const r = await mgr.tick();
    assert.equal(r.error?.code, 'QUEUE_FAILED');
    assert.ok(r.backoffUntil! > T0);
  });

  test('a failed launch is not recorded as a scale-up', async () => {
    const { fleet, mgr } = setup({ waiting: 2 });
    fleet.calls = [];
    fleet.failNext.push(undefined as unknown as Error, throttled());
    const r = await mgr.tick();
    assert.equal(r.error?.code, 'FLEET_FAILED');
    assert.equal(mgr.lastLaunch, undefined);
  });

  test('with busy slots unknown, an idle-looking running instance above max is left to its idle exit', async () => {
    const { fleet, mgr } = setup({ waiting: 0, inFlight: 0 });
    fleet.nodes = Array.from({ length: 7 }, (_, i) => ({
      id: `i-r${i}`,
      state: 'running' as const,
      launchedAt: T0 - 600 * S,
      kind: 'ec2' as const,
    }));
    const r = await mgr.tick();
    assert.ok(r.decision!.terminate.length === 2, r.decision!.reason);
    assert.deepEqual(r.terminated, []);
    assert.ok(!fleet.calls.some((c) => c.startsWith('terminate')));
  });

  test('with busy slots known, idle instances above max are terminated and busy ones kept', async () => {
    const clock = { now: T0 };
    const fleet = new FakeFleet(clock);
    fleet.nodes = Array.from({ length: 7 }, (_, i) => ({
      id: `i-r${i}`,
      state: 'running' as const,
      launchedAt: T0 - 600 * S,
      kind: 'ec2' as const,
    }));
    const busy = new Map([
      ['i-r0/0', 1],
      ['i-r1', 1],
      ['i-r2/0', 1],
      ['i-r3', 1],
      ['i-r4', 1],
    ]);
    const mgr = new FleetManager({
      fleet,
      queue: { depth: async () => ({ waiting: 0, inFlight: 5 }) },
      config,
      now: () => clock.now,
      random: () => 0.5,
      busySlots: () => busy,
    });
    const r = await mgr.tick();
    assert.deepEqual(new Set(r.terminated), new Set(['i-r5', 'i-r6']));
  });

  test('a stuck boot is replaced even when busy slots are unknown', async () => {
    const { fleet, mgr } = setup({ waiting: 0 });
    fleet.nodes = [{ id: 'i-stuck', state: 'booting', launchedAt: T0 - 400 * S, kind: 'ec2' }];
    const r = await mgr.tick();
    assert.deepEqual(r.terminated, ['i-stuck']);
  });

  test('run() reconciles, ticks every tickSeconds on the injected clock, and stops on abort', async () => {
    const clock = { now: T0 };
    const fleet = new FakeFleet(clock);
    const stop = new AbortController();
    let ticks = 0;
    const slept: number[] = [];
    const mgr = new FleetManager({
      fleet,
      config,
      tickSeconds: 7,
      now: () => clock.now,
      queue: {
        depth: async () => {
          ticks++;
          return { waiting: 0, inFlight: 0 };
        },
      },
      sleep: async (ms) => {
        slept.push(ms);
        clock.now += ms;
        if (ticks >= 3) stop.abort();
      },
    });
    await mgr.run(stop.signal);
    assert.equal(ticks, 3);
    assert.deepEqual(slept, [7000, 7000, 7000]);
    assert.equal(fleet.calls[0], 'list', 'reconciles first');
  });

  test('an invalid autoscaler config is refused at construction, naming the option', () => {
    assert.throws(
      () =>
        new FleetManager({
          fleet: new FakeFleet({ now: 0 }),
          queue: { depth: async () => ({ waiting: 0, inFlight: 0 }) },
          config: { ...config, minInstances: 9 },
        }),
      /minInstances \(9\) must not exceed maxInstances/,
    );
  });
});

describe('instanceViews', () => {
  test('a running instance younger than a boot time with nothing to do still counts as booting', () => {
    const views = instanceViews(
      [
        { id: 'young', state: 'running', launchedAt: T0 - 10 * S, kind: 'ec2' },
        { id: 'old', state: 'running', launchedAt: T0 - 600 * S, kind: 'ec2' },
        { id: 'gone', state: 'terminated', launchedAt: T0 - 600 * S, kind: 'ec2' },
      ],
      { now: T0, bootSeconds: 60, slots: 2, inFlight: 2 },
    );
    assert.deepEqual(
      views.map((v) => [v.id, v.state, v.busySlots]),
      [
        ['young', 'booting', 0],
        ['old', 'running', 2],
      ],
    );
  });

  test('worker ids of a multi-slot worker add up on their node', () => {
    assert.deepEqual(
      busyByNode(
        new Map([
          ['i-a/0', 1],
          ['i-a/1', 1],
          ['i-b', 1],
        ]),
      ),
      new Map([
        ['i-a', 2],
        ['i-b', 1],
      ]),
    );
  });
});
