// Spend so far today and this month (UTC), from a real store: job costs by the day they
// finished, EC2 bills from the instance ledger (settled exactly, live ones up to now with the
// 60 s minimum); `nommer fleet` prints it, and --json has it as `spend`.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { periodStarts, spendSummary } from '../src/cost/spend.js';
import type { StatusEvent } from '../src/messages.js';
import { openStore, type Store } from '../src/orchestrator/store/index.js';
import { InstanceLedger } from '../src/orchestrator/store/instance-ledger.js';
import { nommer } from './helpers/cli.js';
import { tempDir } from './helpers/media.js';
import { statusEvent } from './helpers/store.js';

const d = tempDir('nommer-spend-');
after(() => d.cleanup());

const H = 3600_000;
const S = 1000;

/** A job that ran `seconds` on `worker` from `start` at $3.60/h a slot ($0.001 a second); no end: still running. */
function runJob(store: Store, worker: string, start: number, seconds: number | null): string {
  const { job } = store.createJob(
    {
      input: 'file:///m/in.mp4',
      outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: `file:///m/${start}-${worker}.webm` }],
      options: { pricing: { usdPerSlotHour: 3.6, basis: 'test: $3.60/h' } },
    },
    start,
  );
  const ev = (seq: number, type: StatusEvent['type'], at: number): StatusEvent =>
    statusEvent(job.id, seq, type, { worker, at });
  assert.ok(store.applyStatusEvent(ev(1, 'started', start), start).applied);
  if (seconds !== null) {
    const end = start + seconds * S;
    assert.ok(store.applyStatusEvent(ev(2, 'succeeded', end), end).applied);
  }
  return job.id;
}

test('today and this month: jobs by the day they finished, instances by the day they ended, live ones so far', () => {
  const N = Date.UTC(2027, 2, 15, 12); // 2027-03-15 12:00 UTC
  const store = openStore(join(d.path, 'store.db'));
  try {
    const ledger = new InstanceLedger(store.db, () => ({ usd: 3.6, basis: 'test: $3.60/h' }));
    const node = (id: string, launchedAt: number) => ({
      id,
      state: 'running' as const,
      launchedAt,
      kind: 'ec2' as const,
    });
    ledger.launched([node('i-a', N - 3 * H - 60 * S)], N - 3 * H - 60 * S);
    runJob(store, 'i-a/0', N - 3 * H, 10); // today, on i-a
    ledger.terminated(['i-a'], N - 3 * H + 100 * S); // 160 s: $0.16, all J1's once settled
    runJob(store, 'w1', Date.UTC(2027, 2, 2), 20); // this month, a worker of your own
    runJob(store, 'w1', Date.UTC(2027, 1, 28, 23), 40); // February: neither
    runJob(store, 'w1', N - 5 * S, null); // running: counts now
    ledger.launched([node('i-b', N - 30 * S)], N - 30 * S); // live, 30 s old: billed the 60 s minimum
    ledger.observed([node('i-b', N - 30 * S)], N);

    const s = spendSummary(store.db, N);
    assert.equal(s.today.from, '2027-03-15T00:00:00.000Z');
    assert.equal(s.month.from, '2027-03-01T00:00:00.000Z');
    assert.deepEqual(s.today.jobs, { count: 2, workerSeconds: 10, usd: 0.16, unpriced: 0 });
    assert.deepEqual(s.today.instances, { count: 2, usd: 0.22, unattributedUsd: 0, live: 1, unpriced: 0 });
    assert.equal(s.today.usd, 0.22);
    assert.equal(s.today.basis, 'instances');
    assert.deepEqual(s.month.jobs, { count: 3, workerSeconds: 30, usd: 0.18, unpriced: 0 });
    assert.equal(s.month.usd, 0.22);
    // The next day: i-a's bill and J1 are yesterday's; the live instance and the running job are today's.
    const next = spendSummary(store.db, N + 24 * H);
    assert.equal(next.today.jobs.count, 1);
    assert.equal(next.today.instances.count, 1);
    assert.equal(next.month.jobs.count, 3);
  } finally {
    store.close();
  }
});

test('periods are UTC days and months', () => {
  assert.deepEqual(periodStarts(Date.UTC(2027, 0, 1, 0, 0, 0, 1)), {
    day: Date.UTC(2027, 0, 1),
    month: Date.UTC(2027, 0, 1),
  });
  assert.deepEqual(periodStarts(Date.UTC(2027, 11, 31, 23, 59)), {
    day: Date.UTC(2027, 11, 31),
    month: Date.UTC(2027, 11, 1),
  });
});

test('nommer fleet on the local backend: the spend from the store, in text and --json', async () => {
  const home = join(d.path, 'home');
  mkdirSync(home);
  const store = openStore(join(home, 'nommer.db'));
  const { day } = periodStarts(Date.now());
  try {
    runJob(store, 'w1', day, 0.5); // finished today, whatever the time now
    runJob(store, 'w1', day - 40 * 24 * H, 30); // long ago: in neither period
  } finally {
    store.close();
  }
  const env = { NOMMER_HOME: home };
  const json = await nommer(['fleet', '--json'], { env, cwd: home });
  assert.equal(json.code, 0, json.stderr);
  const { spend } = JSON.parse(json.stdout) as {
    spend: { today: { usd: number; basis: string; jobs: { count: number } }; month: { usd: number } };
  };
  assert.equal(spend.today.jobs.count, 1);
  assert.equal(spend.today.usd, 0.0005);
  assert.equal(spend.today.basis, 'jobs');
  assert.equal(spend.month.usd, 0.0005);
  const text = await nommer(['fleet'], { env, cwd: home });
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /no EC2 fleet on the local backend/);
  assert.match(text.stdout, /^total +\$0\.0005 +\$0\.0005$/m);
  assert.match(text.stdout, /^jobs +\$0\.0005 \(1 job, 0\.5 worker-s\)/m);
  const help = await nommer(['fleet', '--help'], { env, cwd: home });
  assert.match(help.stdout, /spend so far today and this month \(UTC\)/);
});
