// Scale-in by draining, on the worker's side: a worker whose instance is told to drain finishes
// the task it runs, leases nothing new and ends ('drained'); called back before that, it leases
// again; its loops share one idle exit. With real parts: a SQLite store and queue, real Worker
// loops, real ffmpeg on a 1 s clip; the drain flag is set from the task's own status events (so
// "during the task" holds by construction), and the tests wait for conditions, never for time.
// Then the signal end to end: EC2Fleet.drain tags an instance in moto's EC2, and the worker's IMDS
// probe — against a stand-in metadata service that answers the instance's tags from moto, as EC2
// does with InstanceMetadataTags on — sees it, and sees it lifted.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DescribeInstancesCommand, type EC2Client } from '@aws-sdk/client-ec2';
import { ec2Client } from '../src/adapters/aws/clients.js';
import { EC2Fleet } from '../src/adapters/aws/ec2-fleet.js';
import { openDatabase } from '../src/adapters/local/db.js';
import { FsStorage, StorageRouter } from '../src/adapters/local/fs-storage.js';
import { SqliteControl } from '../src/adapters/local/sqlite-control.js';
import { SqliteJobQueue } from '../src/adapters/local/sqlite-queue.js';
import { SqliteStatusChannel } from '../src/adapters/local/sqlite-status.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { queueDeadLetterLimit, workerDeliveryLimit } from '../src/jobs/deliveries.js';
import { createLogger } from '../src/log.js';
import type { StatusEvent } from '../src/messages.js';
import { Outbox } from '../src/orchestrator/outbox.js';
import { StatusApplier } from '../src/orchestrator/status-applier.js';
import { openStore, type Store } from '../src/orchestrator/store/index.js';
import type { JobQueue } from '../src/ports/queue.js';
import type { ReceivedStatus, StatusChannel } from '../src/ports/status.js';
import type { Storage } from '../src/ports/storage.js';
import { getPreset } from '../src/presets/registry.js';
import { DrainFlag, DrainWatch, imdsDrainProbe, WorkerSlots } from '../src/worker/drain.js';
import { Worker } from '../src/worker/worker.js';
import { makeClip, tempDir } from './helpers/media.js';
import { startMoto, type Moto } from './helpers/moto.js';

const root = tempDir('nommer-drain-');
const log = createLogger('test', { level: 'silent' });
const ffmpeg = locateFfmpeg();
const OPUS = getPreset('opus') as unknown as { name: string };
const closers: Array<() => void> = [];
after(() => {
  for (const c of closers) c();
  root.cleanup();
});

let clip: string;
before(() => {
  clip = makeClip(join(root.path, 'in.mp4'), { seconds: 1, width: 160, height: 120, audioChannels: 2 });
});

/** Poll `pred` until true; the bound only keeps a broken run from hanging (pass/fail is the condition). */
async function waitFor(pred: () => boolean | Promise<boolean>, what: string, boundMs = 30_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!(await pred())) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** The real status channel, with a hook run before each event is published (it may hold the worker). */
class HookedStatus implements StatusChannel {
  constructor(
    private readonly real: StatusChannel,
    private readonly hook: (ev: StatusEvent) => void | Promise<void>,
  ) {}
  async publish(ev: StatusEvent): Promise<void> {
    await this.hook(ev);
    await this.real.publish(ev);
  }
  receive(opts: { max: number; waitSeconds: number; signal?: AbortSignal }): Promise<ReceivedStatus[]> {
    return this.real.receive(opts);
  }
}

/** The real queue, counting receive calls (started, and in flight now). */
class CountingQueue implements JobQueue {
  started = 0;
  inFlight = 0;
  constructor(private readonly real: JobQueue) {}
  send(task: Parameters<JobQueue['send']>[0], opts?: Parameters<JobQueue['send']>[1]) {
    return this.real.send(task, opts);
  }
  depth() {
    return this.real.depth();
  }
  async receive(opts: Parameters<JobQueue['receive']>[0]) {
    this.started++;
    this.inFlight++;
    try {
      return await this.real.receive(opts);
    } finally {
      this.inFlight--;
    }
  }
}

let n = 0;
/** A local backend: feederd's store, outbox and status applier, and a worker side on its own connection. */
function backend(hook: (ev: StatusEvent) => void | Promise<void>) {
  const dir = join(root.path, `b${++n}`);
  const out = join(dir, 'out');
  mkdirSync(out, { recursive: true });
  const dbPath = join(dir, 'nommer.db');
  const store: Store = openStore(dbPath);
  closers.push(() => store.close());
  const queue = new SqliteJobQueue(store.db, { maxReceives: queueDeadLetterLimit(3) });
  const outbox = new Outbox(store, queue, log);
  const applier = new StatusApplier(store, new SqliteStatusChannel(store.db, { pollMs: 20 }), log, {
    retryDelaySeconds: () => 0,
  });
  const wdb = openDatabase(dbPath);
  closers.push(() => wdb.close());
  const wqueue = new CountingQueue(new SqliteJobQueue(wdb, { maxReceives: queueDeadLetterLimit(3), pollMs: 20 }));
  const status = new HookedStatus(new SqliteStatusChannel(wdb), hook);
  const worker = (id: string) =>
    new Worker({
      id,
      queue: wqueue,
      status,
      control: new SqliteControl(wdb),
      storage: new StorageRouter([new FsStorage()]) as Storage,
      ffmpeg,
      workDir: join(dir, 'work', id),
      log,
      leaseSeconds: 30,
      maxDeliveries: workerDeliveryLimit(3),
      controlIntervalMs: 25,
      progressIntervalMs: 50,
      terminalBackoffMs: [5, 10, 20],
    });
  return {
    store,
    queue,
    wqueue,
    worker,
    async submit(name: string): Promise<string> {
      const id = store.createJob({ input: clip, outputs: [{ preset: OPUS, uri: join(out, name) }], maxAttempts: 3 }).job
        .id;
      await outbox.dispatchOnce();
      return id;
    },
    async applyAll(): Promise<void> {
      for (let i = 0; i < 200; i++) if ((await applier.consumeOnce(0)) === 0) return;
      throw new Error('status events kept coming');
    },
  };
}

describe('a worker told to drain', () => {
  test('finishes the task it runs, leases nothing new, and ends drained; the next task waits untouched', async () => {
    const drain = new DrainFlag();
    let first: string | undefined;
    const b = backend((ev) => {
      // Drained while its first task runs: the event is published by the task itself.
      if (ev.type === 'started' && ev.jobId === first) drain.set(true);
    });
    first = await b.submit('a.opus');
    const second = await b.submit('b.opus');
    const slots = new WorkerSlots({ drain });
    const ended = await b.worker('w1').run({ slots });
    assert.equal(ended, 'drained');
    assert.equal(b.wqueue.started, 1, 'one receive: the first task; none after the drain');
    await b.applyAll();
    assert.equal(b.store.getJob(first)!.state, 'succeeded');
    assert.equal(b.store.getJob(second)!.state, 'queued');
    assert.deepEqual(await b.queue.depth(), { waiting: 1, inFlight: 0 }, 'the second task was never leased');
  });

  test('with two loops: the idle loop holds while the other finishes; called back, it leases again', async () => {
    const drain = new DrainFlag();
    let release!: () => void;
    const held = new Promise<void>((r) => {
      release = r;
    });
    const jobs: string[] = [];
    const b = backend(async (ev) => {
      // The first task is held at its start until the test lets it go.
      if (ev.type === 'started' && ev.jobId === jobs[0]) await held;
    });
    jobs.push(await b.submit('a.opus'));
    const slots = new WorkerSlots({ drain });
    const stop = new AbortController();
    const loops = [b.worker('w/0'), b.worker('w/1')].map((w) => w.run({ slots, signal: stop.signal }));
    await waitFor(() => slots.working === 1, 'one loop runs the first task');
    drain.set(true);
    // The other loop ends its receive and holds: it starts no new one.
    await waitFor(() => slots.held === 1 && b.wqueue.inFlight === 0, 'the idle loop holds');
    const receives = b.wqueue.started;
    jobs.push(await b.submit('b.opus'));
    assert.equal(slots.held, 1);
    assert.equal(b.wqueue.started, receives, 'no receive while draining');
    // Called back before the first task is done: the held loop leases the second task.
    drain.set(false);
    await waitFor(() => slots.working === 2, 'the called-back loop took the second task');
    release();
    await waitFor(async () => (await b.queue.depth()).inFlight === 0 && slots.working === 0, 'both tasks done');
    // Drained with nothing running: both loops end at once.
    drain.set(true);
    assert.deepEqual(await Promise.all(loops), ['drained', 'drained']);
    await b.applyAll();
    for (const id of jobs) assert.equal(b.store.getJob(id)!.state, 'succeeded');
  });

  test('drained while both loops run: neither leases again, and the worker ends when the last task does', async () => {
    const drain = new DrainFlag();
    const jobs: string[] = [];
    let started = 0;
    const b = backend((ev) => {
      if (ev.type === 'started' && ++started === 2) drain.set(true);
    });
    for (const name of ['a.opus', 'b.opus', 'c.opus']) jobs.push(await b.submit(name));
    const slots = new WorkerSlots({ drain });
    const ended = await Promise.all([b.worker('w/0'), b.worker('w/1')].map((w) => w.run({ slots })));
    assert.deepEqual(ended, ['drained', 'drained']);
    await b.applyAll();
    const states = jobs.map((id) => b.store.getJob(id)!.state);
    assert.deepEqual(states, ['succeeded', 'succeeded', 'queued']);
    assert.deepEqual(await b.queue.depth(), { waiting: 1, inFlight: 0 });
  });
});

describe('the loops of one worker share an idle exit', () => {
  test('no loop idles out while another runs a task; all end together once none has worked for idleExitSeconds', () => {
    let now = 0;
    const slots = new WorkerSlots({ idleExitSeconds: 45, now: () => now });
    slots.taskStarted();
    now = 100_000;
    assert.equal(slots.idledOut(), undefined, 'a task runs: the idle loop keeps leasing');
    slots.taskEnded();
    now += 44_000;
    assert.equal(slots.idledOut(), undefined);
    now += 1_000;
    assert.equal(slots.idledOut(), 'idle');
    assert.equal(slots.idledOut(), 'idle', 'the other loops end too');
  });

  test('a worker that starts drained ends at once', async () => {
    const drain = new DrainFlag();
    drain.set(true);
    assert.equal(await new WorkerSlots({ drain }).beforeLease(), 'drained');
  });
});

// ---------------------------------------------------------------------------------------------
// The drain tag end to end: feederd's EC2Fleet → moto's EC2 → IMDS → the worker's probe.

/** IMDSv2 for one instance, its tags read from moto (EC2 serves them with InstanceMetadataTags on). */
async function imdsFromMoto(ec2: EC2Client, instanceId: string): Promise<{ url: string; close(): Promise<void> }> {
  const token = `tok-${Math.random().toString(36).slice(2)}`;
  const server: Server = createServer((req: IncomingMessage, res) => {
    void (async () => {
      if (req.method === 'PUT' && req.url === '/latest/api/token') {
        res.writeHead(200).end(token);
        return;
      }
      if (req.headers['x-aws-ec2-metadata-token'] !== token) {
        res.writeHead(401).end();
        return;
      }
      const m = /^\/latest\/meta-data\/tags\/instance\/(.+)$/.exec(req.url ?? '');
      if (!m) {
        res.writeHead(404).end();
        return;
      }
      const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      const tag = out.Reservations?.[0]?.Instances?.[0]?.Tags?.find((t) => t.Key === decodeURIComponent(m[1]!));
      if (tag) res.writeHead(200).end(tag.Value ?? '');
      else res.writeHead(404).end();
    })().catch(() => res.writeHead(500).end());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

describe('the drain tag end to end (moto EC2, IMDS stand-in)', () => {
  let moto: Moto;
  let ec2: EC2Client;
  before(async () => {
    moto = await startMoto();
    ec2 = ec2Client({ endpoint: moto.endpoint, maxAttempts: 1 });
  });
  after(async () => {
    ec2?.destroy();
    await moto?.stop();
  });

  test("feederd's drain reaches the worker's probe, wakes its held loops' state, and the call-back lifts it", async () => {
    const fleet = new EC2Fleet({
      client: ec2,
      cluster: 'drain-t',
      ami: 'ami-0123456789abcdef0',
      instanceTypes: ['c7a.xlarge'],
      spot: false,
      userData: () => '#!/bin/sh\n',
    });
    const [node] = await fleet.launch(1);
    const imds = await imdsFromMoto(ec2, node!.id);
    try {
      const probe = imdsDrainProbe({ NOMMER_IMDS_ENDPOINT: imds.url });
      assert.ok(probe);
      const watch = new DrainWatch(probe);
      await watch.poll();
      assert.equal(watch.draining, false);
      let changes = 0;
      watch.onChange(() => changes++);
      await fleet.drain([node!.id], true);
      await watch.poll();
      assert.equal(watch.draining, true);
      await fleet.drain([node!.id], false);
      await watch.poll();
      assert.equal(watch.draining, false);
      assert.equal(changes, 2);
      // IMDS turned off: no probe, the worker is never drained.
      assert.equal(imdsDrainProbe({ AWS_EC2_METADATA_DISABLED: 'true' }), undefined);
    } finally {
      await imds.close();
    }
  });
});
