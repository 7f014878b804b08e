// Live boot/idle attribution: the real FleetManager keeps the instance ledger in a real store
// (SQLite in a temp dir) while a simulated EC2 fleet (launch, list, self-termination on a clock
// the test turns) runs three jobs on two of three instances, one with a retry across instances.
// When an instance ends and none of its tasks still runs, its bill is split over the jobs it
// ran (the idle one's over the jobs of its time), and the job costs add up to the bills exactly:
// Σ jobs = Σ ceil(instance seconds) x price, to the nanodollar.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { BUILT_IN_EC2_PRICES, instancePrice } from '../src/fleet/prices.js';
import type { StatusEvent } from '../src/messages.js';
import { FleetManager } from '../src/orchestrator/fleet-manager.js';
import { busyByWorker, openStore, type Store } from '../src/orchestrator/store/index.js';
import { InstanceLedger, listInstances } from '../src/orchestrator/store/instance-ledger.js';
import { jobNanoUsd } from '../src/orchestrator/store/job-cost.js';
import { costFactsOf, type JobRow } from '../src/orchestrator/store/rows.js';
import type { Fleet, WorkerNode } from '../src/ports/fleet.js';
import { tempDir } from './helpers/media.js';
import { statusEvent } from './helpers/store.js';

const d = tempDir('nommer-ledger-');
after(() => d.cleanup());

const T0 = 1_700_000_000_000;
const S = 1000;
const TYPE = 'c7a.large';
const PRICE = BUILT_IN_EC2_PRICES.prices[TYPE]!;

/** EC2 as far as the ledger can tell: launches at the clock's time, lists what runs, instances end themselves. */
class SimFleet implements Fleet {
  nodes: WorkerNode[] = [];
  private n = 0;
  constructor(private readonly clock: { now: number }) {}
  async list() {
    return this.nodes.map((x) => ({ ...x }));
  }
  async launch(count: number) {
    const made = Array.from({ length: count }, () => ({
      id: `i-${++this.n}`,
      state: 'running' as const,
      launchedAt: this.clock.now,
      kind: 'ec2' as const,
      instanceType: TYPE,
      spot: false,
    }));
    this.nodes.push(...made);
    return made;
  }
  async terminate(ids: string[]) {
    this.nodes = this.nodes.filter((x) => !ids.includes(x.id));
  }
  /** The instance powers itself off: listed as terminated, then gone. */
  powerOff(id: string, listAsTerminated: boolean) {
    if (listAsTerminated) this.nodes = this.nodes.map((x) => (x.id === id ? { ...x, state: 'terminated' } : x));
    else this.nodes = this.nodes.filter((x) => x.id !== id);
  }
}

function jobRow(store: Store, id: string): JobRow {
  return store.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow;
}

test('the ledger settles each ended instance over the jobs it ran, boot and idle included, and the job costs sum to the bills exactly', async () => {
  const clock = { now: T0 };
  const store = openStore(join(d.path, 'store.db'));
  try {
    const fleet = new SimFleet(clock);
    const queue = { waiting: 6, inFlight: 0 };
    const fm = new FleetManager({
      fleet,
      queue: { depth: async () => ({ ...queue }) },
      config: { minInstances: 0, maxInstances: 3, slotsPerInstance: 2, cooldownSeconds: 30, bootSeconds: 60 },
      busySlots: () => busyByWorker(store),
      now: () => clock.now,
      ledger: new InstanceLedger(store.db, (n) => instancePrice(n, {})),
    });
    const slot = { usdPerSlotHour: PRICE / 2, basis: `${TYPE} over 2 slots` };
    const mk = () =>
      store.createJob(
        {
          input: 'file:///m/in.mp4',
          outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: `file:///m/${Math.random()}.webm` }],
          options: { pricing: slot },
        },
        T0,
      ).job.id;
    const [A, B, C] = [mk(), mk(), mk()];
    const seqs = new Map<string, number>();
    const ev = (job: string, worker: string, type: StatusEvent['type'], at: number) => {
      const attempt = store.getJob(job)!.tasks[0]!.attempt;
      const seq = (seqs.get(`${job}/${attempt}`) ?? attempt * 1_000_000) + 1;
      seqs.set(`${job}/${attempt}`, seq);
      clock.now = at;
      const r = store.applyStatusEvent(statusEvent(job, seq, type, { attempt, worker, at }), at);
      assert.ok(r.applied, `${type} of ${job} on ${worker}`);
    };
    const tickAt = async (at: number) => {
      clock.now = at;
      const r = await fm.tick();
      assert.equal(r.error, undefined, JSON.stringify(r.error));
      return r;
    };

    const first = await tickAt(T0);
    assert.deepEqual(first.launched, ['i-1', 'i-2', 'i-3'], 'a backlog of 6 on 2-slot instances, max 3');
    queue.waiting = 0;
    // Listed at the next tick: from then on, an instance the list no longer has has ended.
    assert.deepEqual((await tickAt(T0 + 60 * S)).launched, []);
    ev(A, 'i-1/0', 'started', T0 + 70 * S);
    ev(B, 'i-1/1', 'started', T0 + 75 * S);
    ev(C, 'i-2/0', 'started', T0 + 80 * S);
    ev(C, 'i-2/0', 'released', T0 + 90 * S); // i-2 is shutting down: C goes back to the queue
    ev(B, 'i-1/1', 'succeeded', T0 + 100_500);
    ev(A, 'i-1/0', 'succeeded', T0 + 130 * S);
    ev(C, 'i-1/0', 'started', T0 + 140 * S);
    fleet.powerOff('i-2', false); // idle exit: it just disappears from the list
    await tickAt(T0 + 150 * S);
    let ledger = new Map(listInstances(store.db).map((i) => [i.id, i]));
    assert.equal(ledger.get('i-2')!.endedAt, T0 + 150 * S, 'noticed gone at the tick');
    assert.equal(ledger.get('i-2')!.billedSeconds, 150, 'settled: nothing of it runs');
    assert.equal(ledger.get('i-1')!.settledAt, null, 'still running');

    // i-1 ends while C's second attempt still runs there: ended, but not settled until C's end is in.
    fleet.powerOff('i-1', true);
    await tickAt(T0 + 195 * S);
    ledger = new Map(listInstances(store.db).map((i) => [i.id, i]));
    assert.equal(ledger.get('i-1')!.endedAt, T0 + 195 * S);
    assert.equal(ledger.get('i-1')!.settledAt, null, 'a task of it is still running');
    ev(C, 'i-1/0', 'succeeded', T0 + 194_250); // the report, late
    fleet.powerOff('i-3', false); // never ran anything
    await tickAt(T0 + 210 * S);

    const instances = listInstances(store.db);
    assert.ok(
      instances.every((i) => i.settledAt !== null),
      JSON.stringify(instances),
    );
    // Bills from the trace: launched at T0, ended when noticed; EC2 bills whole seconds, 60 s minimum.
    const expected = { 'i-1': 195, 'i-2': 150, 'i-3': 210 };
    for (const i of instances) {
      assert.equal(i.billedSeconds, expected[i.id as keyof typeof expected], i.id);
      assert.equal(i.billedNanoUsd, Math.round((i.billedSeconds! * PRICE * 1e9) / 3600), `${i.id} at $${PRICE}/h`);
      assert.equal(i.unattributedNanoUsd, 0, `${i.id}: every nanodollar went to a job`);
    }
    assert.equal(new Map(instances.map((i) => [i.id, i])).get('i-1')!.firstTaskAt, T0 + 70 * S);
    const bills = instances.reduce((s, i) => s + i.billedNanoUsd!, 0);
    const jobs = [A, B, C].map((id) => {
      const row = jobRow(store, id);
      return { id, row, nano: jobNanoUsd(row.worker_ms!, store.getJob(id)!.options, costFactsOf(row))! };
    });
    assert.equal(
      jobs.reduce((s, j) => s + j.nano, 0),
      bills,
      'Σ job costs = Σ instance bills, to the nanodollar',
    );
    for (const j of jobs) {
      assert.equal(j.row.settled_ms, j.row.worker_ms, `${j.id}: all its slot time is settled`);
      const slotOnly = Math.round((j.row.worker_ms! * slot.usdPerSlotHour * 1e9) / 3_600_000);
      assert.ok(j.nano > slotOnly, `${j.id} pays its share of boot and idle: ${j.nano} > ${slotOnly}`);
      const cost = store.getJob(j.id)!.cost;
      assert.equal(cost.usd, j.nano / 1e9);
      assert.match(cost.basis, /all of its slot time settled at the instances' real bills/);
    }
    // Pro rata on i-1: A held 60 s, B 25.5 s, C 54.25 s of it (C's 10 s on i-2 is i-2's).
    const shares = store.db
      .prepare("SELECT job_id, held_ms, share_nano FROM instance_use WHERE instance_id = 'i-1'")
      .all() as Array<{ job_id: string; held_ms: number; share_nano: number }>;
    const held = new Map(shares.map((s) => [s.job_id, s.held_ms]));
    assert.deepEqual([held.get(A), held.get(B), held.get(C)], [60_000, 25_500, 54_250]);
    const i1 = instances.find((i) => i.id === 'i-1')!.billedNanoUsd!;
    for (const s of shares)
      assert.ok(Math.abs(s.share_nano - (i1 * s.held_ms) / 139_750) <= 1, `${s.job_id}: its slot-time share of i-1`);
  } finally {
    store.close();
  }
});

test('a ledger write that fails is logged and the fleet keeps scaling', async () => {
  const clock = { now: T0 };
  const warned: string[] = [];
  const fm = new FleetManager({
    fleet: new SimFleet(clock),
    queue: { depth: async () => ({ waiting: 2, inFlight: 0 }) },
    config: { minInstances: 0, maxInstances: 1, slotsPerInstance: 2, cooldownSeconds: 30, bootSeconds: 60 },
    now: () => clock.now,
    ledger: {
      launched() {
        throw new Error('disk full');
      },
      observed() {
        throw new Error('disk full');
      },
      terminated() {},
    },
    log: { info() {}, warn: (_o, m) => warned.push(m) },
  });
  const r = await fm.tick();
  assert.deepEqual(r.launched, ['i-1']);
  assert.equal(r.error, undefined);
  assert.deepEqual(warned, [
    'fleet: could not update the instance ledger',
    'fleet: could not update the instance ledger',
  ]);
});
