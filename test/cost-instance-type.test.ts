// A worker's own instance type prices its slot time. The worker learns it from
// NOMMER_INSTANCE_TYPE or, on the aws backend, from IMDSv2 — here a tiny HTTP server on 127.0.0.1
// standing in for 169.254.169.254 (NOMMER_IMDS_ENDPOINT, a test-only override), which answers only
// as IMDSv2 does: a token from PUT with a TTL header, then GETs carrying that token. End to end on
// moto: real `nommer worker --backend aws` processes report the type with their status events and
// feederd prices each job at that type's price instead of the dearest launchable type's.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, it, test } from 'node:test';
import { NommerError } from '../src/errors.js';
import { instancePrice } from '../src/fleet/prices.js';
import { workerSlotPrice } from '../src/fleet/spot-prices.js';
import type { StatusEvent } from '../src/messages.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { InstanceLedger } from '../src/orchestrator/store/instance-ledger.js';
import { jobNanoUsd } from '../src/orchestrator/store/job-cost.js';
import { costFactsOf, type JobRow } from '../src/orchestrator/store/rows.js';
import type { PublicJob } from '../src/orchestrator/api.js';
import { discoverInstance } from '../src/worker/instance-type.js';
import { startAwsEnv, startAwsWorker, type AwsEnv } from './helpers/aws-env.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { makeClip, tempDir } from './helpers/media.js';
import { statusEvent } from './helpers/store.js';
import { FAST_VIDEO } from './helpers/srv-cheap.js';

interface FakeImds {
  url: string;
  requests: Array<{ method: string; path: string; ttl?: string; token?: string }>;
  close(): Promise<void>;
}

/** IMDSv2 as EC2 serves it, for one instance; `mode` breaks it in the ways a worker may meet. */
async function fakeImds(o: {
  type: string;
  lifeCycle?: string;
  mode?: 'ok' | 'no-token' | 'silent';
}): Promise<FakeImds> {
  const token = `tok-${Math.random().toString(36).slice(2)}`;
  const requests: FakeImds['requests'] = [];
  const server: Server = createServer((req: IncomingMessage, res) => {
    requests.push({
      method: req.method ?? '',
      path: req.url ?? '',
      ttl: req.headers['x-aws-ec2-metadata-token-ttl-seconds'] as string | undefined,
      token: req.headers['x-aws-ec2-metadata-token'] as string | undefined,
    });
    if (o.mode === 'silent') return; // never answers (a black-holed link-local address)
    if (req.method === 'PUT' && req.url === '/latest/api/token') {
      if (o.mode === 'no-token' || !req.headers['x-aws-ec2-metadata-token-ttl-seconds']) {
        res.writeHead(403).end();
        return;
      }
      res.writeHead(200, { 'content-type': 'text/plain' }).end(token);
      return;
    }
    if (req.method === 'GET' && req.headers['x-aws-ec2-metadata-token'] !== token) {
      res.writeHead(401).end();
      return;
    }
    if (req.url === '/latest/meta-data/instance-type') res.writeHead(200).end(o.type);
    else if (req.url === '/latest/meta-data/instance-life-cycle' && o.lifeCycle) res.writeHead(200).end(o.lifeCycle);
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('discoverInstance', () => {
  it('asks IMDSv2 for a token, then the type and market with it', async () => {
    const imds = await fakeImds({ type: 'c6i.xlarge', lifeCycle: 'spot' });
    try {
      const got = await discoverInstance({ backend: 'aws', env: { NOMMER_IMDS_ENDPOINT: imds.url } });
      assert.deepEqual(got, { type: 'c6i.xlarge', spot: true, source: 'IMDS' });
      assert.deepEqual(
        imds.requests.map((r) => `${r.method} ${r.path}`),
        ['PUT /latest/api/token', 'GET /latest/meta-data/instance-type', 'GET /latest/meta-data/instance-life-cycle'],
      );
      assert.ok(Number(imds.requests[0]!.ttl) > 0, 'the token PUT says its TTL');
      assert.ok(
        imds.requests.slice(1).every((r) => r.token?.startsWith('tok-')),
        'GETs carry the token',
      );
    } finally {
      await imds.close();
    }
  });

  it('says nothing when IMDS gives no token, or does not answer, or is off, or on the local backend', async () => {
    const refusing = await fakeImds({ type: 'c6i.xlarge', mode: 'no-token' });
    const silent = await fakeImds({ type: 'c6i.xlarge', mode: 'silent' });
    try {
      assert.equal(await discoverInstance({ backend: 'aws', env: { NOMMER_IMDS_ENDPOINT: refusing.url } }), undefined);
      assert.equal(refusing.requests.length, 1, 'no GET without a token');
      assert.equal(
        await discoverInstance({ backend: 'aws', env: { NOMMER_IMDS_ENDPOINT: silent.url }, timeoutMs: 300 }),
        undefined,
      );
      const off = await fakeImds({ type: 'c6i.xlarge' });
      try {
        assert.equal(
          await discoverInstance({
            backend: 'aws',
            env: { NOMMER_IMDS_ENDPOINT: off.url, AWS_EC2_METADATA_DISABLED: 'TRUE' },
          }),
          undefined,
        );
        assert.equal(await discoverInstance({ backend: 'local', env: { NOMMER_IMDS_ENDPOINT: off.url } }), undefined);
        assert.equal(off.requests.length, 0, 'IMDS not asked when disabled or on the local backend');
      } finally {
        await off.close();
      }
    } finally {
      await refusing.close();
      await silent.close();
    }
  });

  it('NOMMER_INSTANCE_TYPE wins over IMDS; a malformed one is a clear error', async () => {
    const imds = await fakeImds({ type: 'c6i.xlarge' });
    try {
      assert.deepEqual(
        await discoverInstance({
          backend: 'aws',
          env: { NOMMER_INSTANCE_TYPE: 'c7a.large', NOMMER_IMDS_ENDPOINT: imds.url },
        }),
        { type: 'c7a.large', source: 'NOMMER_INSTANCE_TYPE' },
      );
      assert.equal(imds.requests.length, 0);
      await assert.rejects(
        discoverInstance({ backend: 'aws', env: { NOMMER_INSTANCE_TYPE: 'big box' } }),
        (e: unknown) => e instanceof NommerError && e.code === 'CONFIG_INVALID' && /big box/.test(e.message),
      );
    } finally {
      await imds.close();
    }
  });
});

// End to end: three jobs, each on a worker of its own — one told its type by env, one that finds
// it in (fake) IMDS, one that says nothing (as an older worker). Prices are chosen so each job's
// dollars identify the price used.
const PRICES = { 'c7a.2xlarge': 0.5, 'c7a.large': 0.072 };
const SLOTS = 2;

let aws: AwsEnv;
let f: RunningFeederd | undefined;
let imds: FakeImds | undefined;
const procs: ChildProcess[] = [];
const d = tempDir('nommer-cost-type-');

before(async () => {
  aws = await startAwsEnv({ maxAttempts: 1 });
});
after(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await f?.kill().catch(() => undefined);
  await imds?.close();
  await aws?.moto.stop();
  d.cleanup();
});

type CostedJob = PublicJob & { cost: { workerSeconds: number; usd: number | null; basis: string } };

/** Exactly what the store charges for `seconds` of slot time at $/slot-hour (whole nanodollars). */
const charged = (seconds: number, perSlotHour: number) =>
  Math.round((Math.round(seconds * 1000) * perSlotHour * 1e9) / 3_600_000) / 1e9;

test('feederd prices each task at the instance type its worker reports (env, IMDS), else at the dearest type', async () => {
  const config = {
    ...aws.config,
    quality: { measure: false },
    aws: {
      ...(aws.config.aws as object),
      ec2: { instanceTypes: ['c7a.2xlarge', 'c7a.large'], prices: PRICES, slotsPerInstance: SLOTS },
    },
  };
  f = await startFeederd(d.path, { workers: 0, config, env: aws.env });
  imds = await fakeImds({ type: 'c6i.xlarge', lifeCycle: 'on-demand' });
  const clip = makeClip(join(d.path, 'clip.mp4'), { seconds: 1, width: 160, height: 120 });

  // Three workers at once, one task each (--once): which worker takes which job does not matter,
  // each job is checked against the worker that ran it. (One after another cost three worker
  // start-ups and queue polls in a row.)
  const workers: Record<string, NodeJS.ProcessEnv> = {
    'w-env': { NOMMER_INSTANCE_TYPE: 'c7a.large' },
    // IMDS on: the helper's AWS_EC2_METADATA_DISABLED=true is lifted for this worker only.
    'w-imds': { AWS_EC2_METADATA_DISABLED: 'false', NOMMER_IMDS_ENDPOINT: imds.url },
    'w-old': {},
  };
  for (const [id, env] of Object.entries(workers))
    procs.push(startAwsWorker(d.path, { ...aws.env, ...env }, id, ['--once']));
  const jobs = await Promise.all(
    Object.keys(workers).map(async (_, i) => {
      const { job } = await f!.client.createJob({
        input: clip,
        outputs: [{ preset: 'webm', uri: join(d.path, `j${i}.webm`) }],
        set: FAST_VIDEO,
      });
      return job;
    }),
  );
  // A hang guard only: waitForJob returns as soon as a job is final.
  const done = await Promise.all(jobs.map((j) => waitForJob(f!.client, j.id, isFinal, 240_000) as Promise<CostedJob>));
  for (const j of done) assert.equal(j.state, 'succeeded', JSON.stringify(j.error));
  const ranBy = (id: string): CostedJob => {
    const j = done.filter((x) => x.worker === id);
    assert.equal(j.length, 1, `${id} ran one job: ${done.map((x) => x.worker).join(', ')}`);
    return j[0]!;
  };

  const byEnv = ranBy('w-env');
  assert.ok(byEnv.cost.workerSeconds > 0);
  assert.equal(byEnv.cost.usd, charged(byEnv.cost.workerSeconds, PRICES['c7a.large'] / SLOTS));
  assert.match(byEnv.cost.basis, /c7a\.large \(the worker's own type\) on demand at \$0\.072\/h over 2 slot/);
  assert.match(byEnv.cost.basis, /aws\.ec2\.prices\["c7a\.large"\]/);
  assert.doesNotMatch(byEnv.cost.basis, /c7a\.2xlarge/, 'no slot time left at the dearest type');

  const byImds = ranBy('w-imds');
  assert.ok(
    imds.requests.some((r) => r.path === '/latest/meta-data/instance-type'),
    'the worker asked IMDS',
  );
  // c6i.xlarge is not in aws.ec2.prices: the built-in table's price.
  assert.equal(byImds.cost.usd, charged(byImds.cost.workerSeconds, 0.17 / SLOTS));
  assert.match(byImds.cost.basis, /c6i\.xlarge \(the worker's own type\) on demand at \$0\.17\/h .*built in/);

  // A worker that says nothing: the job's slot price, the dearest launchable type (as before).
  const silent = ranBy('w-old');
  assert.equal(silent.cost.usd, charged(silent.cost.workerSeconds, PRICES['c7a.2xlarge'] / SLOTS));
  assert.match(silent.cost.basis, /^c7a\.2xlarge on demand at \$0\.5\/h over 2 slot/);
  assert.doesNotMatch(silent.cost.basis, /own type/);
  await f.stop();
});

test('typed slot time is paid once: priced by the type until its instance is settled, then by the bill', () => {
  const store = openStore(join(d.path, 'typed.db'));
  try {
    const T0 = 1_700_000_000_000;
    store.slotPriceOf = workerSlotPrice(
      { aws: { ec2: { spot: false, instanceTypes: ['c7a.2xlarge'], prices: PRICES, slotsPerInstance: SLOTS } } },
      undefined,
    );
    const ledger = new InstanceLedger(store.db, (n) => instancePrice(n, PRICES));
    // i-9 was launched as spot (the ledger knows; the worker's env does not say its market).
    ledger.launched(
      [{ id: 'i-9', state: 'running', launchedAt: T0, kind: 'ec2', instanceType: 'c7a.large', spot: true }],
      T0,
    );
    const slot = { usdPerSlotHour: PRICES['c7a.2xlarge'] / SLOTS, basis: 'dearest' };
    const mk = () =>
      store.createJob(
        {
          input: 'file:///m/in.mp4',
          outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: `file:///m/${Math.random()}.webm` }],
          options: { pricing: slot },
        },
        T0,
      ).job.id;
    const [A, B] = [mk(), mk()];
    const ev = (job: string, worker: string, type: StatusEvent['type'], at: number, seq: number, typed: boolean) =>
      assert.ok(
        store.applyStatusEvent(
          statusEvent(job, 1_000_000 + seq, type, {
            worker,
            at,
            ...(typed ? { instance: { type: 'c7a.large' } } : {}),
          }),
          at,
        ).applied,
      );
    ev(A, 'i-9/0', 'started', T0 + 10_000, 1, true);
    ev(A, 'i-9/0', 'succeeded', T0 + 40_000, 2, true);
    ev(B, 'i-9/1', 'started', T0 + 10_000, 1, false); // an older worker on the same instance
    ev(B, 'i-9/1', 'succeeded', T0 + 20_000, 2, false);
    const a = store.getJob(A)!.cost;
    // Spot by the ledger, no spot book: at most the on-demand price of c7a.large.
    assert.equal(a.usd, charged(30, PRICES['c7a.large'] / SLOTS));
    assert.match(a.basis, /c7a\.large \(the worker's own type\) spot at \$0\.072\/h .*spot, at most the on-demand/);
    assert.equal(store.getJob(B)!.cost.usd, charged(10, slot.usdPerSlotHour));

    ledger.terminated(['i-9'], T0 + 100_000);
    const [s] = ledger.settle(T0 + 100_000);
    assert.ok(s, 'settled');
    const rows = [A, B].map((id) => store.db.prepare('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow);
    assert.deepEqual(
      rows.map((r) => [r.typed_ms, r.typed_nano]),
      [
        [0, 0],
        [0, 0],
      ],
      'the typed part is taken back when the bill is split',
    );
    const nanos = rows.map((r) => jobNanoUsd(r.worker_ms!, store.getJob(r.id)!.options, costFactsOf(r))!);
    assert.equal(nanos[0]! + nanos[1]!, s.billedNanoUsd, 'Σ job costs = the bill, to the nanodollar');
    assert.equal(nanos[0], s.shares.get(A));
  } finally {
    store.close();
  }
});
