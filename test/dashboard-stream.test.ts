// The dashboard's parts below the page: login codes and sessions (sessions.ts, time as a
// parameter), and every job's event stream (GET /v1/events) against a real store and the real API
// on a loopback port: a snapshot of the newest jobs, then each change of any job, new ones too.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { tempDir } from './helpers/media.js';
import { buildApi, publicEvent, publicJob, type ApiDeps, type PublicJob } from '../src/orchestrator/api.js';
import { JobStreams } from '../src/orchestrator/job-stream.js';
import { openStore, type NewJob } from '../src/orchestrator/store/index.js';
import { DashboardSessions, readCookie, sessionCookieName } from '../src/orchestrator/sessions.js';
import { summarizeFleet } from '../src/orchestrator/fleet-summary.js';
import { statusEvent } from './helpers/store.js';

test('a login code opens one session, once, within its time; sessions expire and end', () => {
  const s = new DashboardSessions({ codeMs: 1000, sessionMs: 5000 });
  const { code, expiresAt } = s.issueCode(0);
  assert.equal(expiresAt, 1000);
  assert.equal(s.redeem('not-a-code', 10), null);
  const opened = s.redeem(code, 500);
  assert.ok(opened);
  assert.equal(s.redeem(code, 600), null, 'a code works once');
  assert.equal(s.valid(opened.session, 5499), true);
  assert.equal(s.valid(opened.session, 5501), false, 'a session expires');
  const late = s.issueCode(0);
  assert.equal(s.redeem(late.code, 1001), null, 'a stale code opens nothing');
  const again = s.redeem(s.issueCode(10_000).code, 10_000)!;
  s.end(again.session);
  assert.equal(s.valid(again.session, 10_001), false, 'logout ends it');
  assert.equal(s.valid(undefined), false);
  // Bounded: the oldest of many waiting codes are dropped.
  const first = s.issueCode(20_000);
  for (let i = 0; i < 100; i++) s.issueCode(20_000);
  assert.equal(s.redeem(first.code, 20_001), null);
});

test('the session cookie is named for the port and read from a Cookie header', () => {
  assert.equal(sessionCookieName(7474), 'nommer_session_7474');
  const h = 'a=1; nommer_session_7474=abc-_1; nommer_session_7475=other';
  assert.equal(readCookie(h, 'nommer_session_7474'), 'abc-_1');
  assert.equal(readCookie(h, 'nommer_session_7476'), undefined);
  assert.equal(readCookie(undefined, 'x'), undefined);
});

test('every job stream: a snapshot of the newest jobs, then changes of any job, new ones included', async () => {
  const dir = tempDir('nommer-dash-stream-');
  const store = openStore(join(dir.path, 's.db'));
  const newJob = (name: string) =>
    store.createJob({
      input: `file:///media/${name}.mp4`,
      outputs: [{ preset: { name: 'webm', container: 'webm' }, uri: `file:///media/${name}.webm` }],
    } as NewJob).job;
  const app = buildApi({
    store,
    version: 'test',
    backend: 'local',
    bodyLimitBytes: 1 << 20,
    userPresets: {},
    defaultPreset: 'webm',
    maxAttempts: 3,
    summary: async () => ({ queue: { waiting: 0, inFlight: 0 }, fleet: [] }),
    onWork: () => undefined,
  } as ApiDeps);
  after(async () => {
    await app.close();
    store.close();
    dir.cleanup();
  });
  const old = [newJob('a'), newJob('b'), newJob('c')];
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;

  const messages: Array<{ event: string; data: { jobs?: PublicJob[]; job?: PublicJob; event?: { type: string } } }> =
    [];
  let buf = '';
  const req = request({ host: '127.0.0.1', port, path: '/v1/events?limit=2', agent: false }, (res) => {
    assert.equal(res.statusCode, 200);
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    res.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      let sep: number;
      while ((sep = buf.indexOf('\n\n')) >= 0) {
        const raw = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        const event = /^event: (.*)$/m.exec(raw)?.[1];
        const data = /^data: (.*)$/m.exec(raw)?.[1];
        if (event && data) messages.push({ event, data: JSON.parse(data) });
      }
    });
  });
  req.end();
  const waitFor = async (n: number) => {
    const deadline = Date.now() + 30_000;
    while (messages.length < n) {
      if (Date.now() > deadline) throw new Error(`timed out: ${JSON.stringify(messages)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
  };
  try {
    await waitFor(1);
    assert.equal(messages[0]!.event, 'snapshot');
    assert.deepEqual(
      messages[0]!.data.jobs!.map((j) => j.id),
      [old[2]!.id, old[1]!.id],
      'the newest two, newest first',
    );
    const fresh = newJob('d');
    store.cancelJob(old[0]!.id, { reason: 'test' });
    await waitFor(3);
    assert.deepEqual(
      messages.slice(1).map((m) => [m.event, m.data.job!.id, m.data.event!.type, m.data.job!.state]),
      [
        ['job', fresh.id, 'created', 'queued'],
        ['job', old[0]!.id, 'canceled', 'canceled'],
      ],
    );
  } finally {
    req.destroy();
  }
});

test("the fleet at a glance: each worker's kind, type, age and busy; an EC2 fleet's spend so far", () => {
  const at = Date.parse('2026-12-01T10:00:00Z');
  const local = summarizeFleet(
    [{ id: 'w1', state: 'running', launchedAt: at, kind: 'process' }],
    new Map([['w1', 1]]),
    undefined,
    at + 60_000,
  );
  assert.deepEqual(local, {
    fleet: [{ id: 'w1', state: 'running', busy: true, kind: 'process', launchedAt: '2026-12-01T10:00:00.000Z' }],
  });
  const ec2 = summarizeFleet(
    [
      { id: 'i-1', state: 'running', launchedAt: at, kind: 'ec2', instanceType: 'c7a.large', spot: false },
      { id: 'i-2', state: 'booting', launchedAt: at, kind: 'ec2', instanceType: 'x9.huge', spot: true },
    ],
    new Map(),
    { 'c7a.large': 0.36 },
    at + 3600_000,
  );
  assert.deepEqual(
    ec2.fleet.map((w) => [w.id, w.busy, w.instanceType, w.spot]),
    [
      ['i-1', false, 'c7a.large', false],
      ['i-2', false, 'x9.huge', true],
    ],
  );
  assert.ok(ec2.spend);
  assert.ok(Math.abs(ec2.spend.usd - 0.36) < 1e-9, String(ec2.spend.usd));
  assert.deepEqual(ec2.spend.unpriced, ['x9.huge']);
});

test('every job stream under backpressure: one pending change per job, the latest sent when the client reads; cut past its bound', async () => {
  const dir = tempDir('nommer-dash-bp-');
  const store = openStore(join(dir.path, 's.db'));
  const streams = new JobStreams({ store, publicJob, publicEvent });
  const tight = new JobStreams({ store, publicJob, publicEvent, maxPendingJobs: 5 });
  const apis = [streams, tight].map((jobStreams) =>
    buildApi({
      store,
      version: 'test',
      backend: 'local',
      bodyLimitBytes: 1 << 20,
      userPresets: {},
      defaultPreset: 'webm',
      maxAttempts: 3,
      summary: async () => ({ queue: { waiting: 0, inFlight: 0 }, fleet: [] }),
      onWork: () => undefined,
      jobStreams,
    } as ApiDeps),
  );
  const ports: number[] = [];
  for (const app of apis) {
    await app.listen({ host: '127.0.0.1', port: 0 });
    ports.push((app.server.address() as { port: number }).port);
  }
  after(async () => {
    for (const app of apis) await app.close();
    store.close();
    dir.cleanup();
  });
  // ~70 KB a message: a few hundred fill any loopback socket's buffers.
  const long = 'x'.repeat(4000);
  let n = 0;
  const bigJob = () =>
    store.createJob({
      input: `file:///media/${long}/${++n}.mp4`,
      outputs: Array.from({ length: 16 }, (_, i) => ({
        preset: { name: 'webm', container: 'webm' },
        uri: `file:///out/${long}/${n}-${i}.webm`,
      })),
    } as NewJob).job;
  const fillUntil = async (done: () => boolean, what: string) => {
    for (let i = 0; i < 3000 && !done(); i++) {
      bigJob();
      if (i % 20 === 0) await new Promise((r) => setImmediate(r));
    }
    assert.ok(done(), `never ${what}`);
  };

  // A client that has stopped reading.
  const got: Array<{ id: string; progress: number; event: string }> = [];
  let buf = '';
  let paused: IncomingMessage | undefined;
  const req = request({ host: '127.0.0.1', port: ports[0], path: '/v1/events?limit=1', agent: false }, (res) => {
    paused = res;
    res.pause();
    res.setEncoding('utf8').on('data', (c: string) => {
      buf += c;
      let sep: number;
      while ((sep = buf.indexOf('\n\n')) >= 0) {
        const raw = buf.slice(0, sep);
        buf = buf.slice(sep + 2);
        const data = /^data: (.*)$/m.exec(raw)?.[1];
        if (/^event: job$/m.test(raw) && data) {
          const m = JSON.parse(data) as { job: PublicJob; event: { type: string } };
          got.push({ id: m.job.id, progress: m.job.progress, event: m.event.type });
        }
      }
    });
  });
  req.end();
  try {
    while (!paused) await new Promise((r) => setTimeout(r, 5));
    await fillUntil(() => streams.stats().behindBytes > 0, 'filled the socket');
    // While full, one job changes 40 times: it holds one pending change, not 40.
    const j = bigJob();
    // Pending now: at least j's own `created` (~70 KB); 41 more changes of j must not add another.
    const before = streams.stats().behindBytes;
    let seq = 0;
    const status = (type: 'started' | 'progress', fraction = 0) =>
      assert.ok(
        store.applyStatusEvent(
          statusEvent(j.id, ++seq, type, type === 'progress' ? { progress: { fraction: fraction ?? 0 } } : {}),
        ).applied,
      );
    status('started');
    for (let i = 1; i <= 40; i++) status('progress', i / 40);
    const grown = streams.stats().behindBytes - before;
    assert.ok(grown < before, `41 changes of one job added ${grown} bytes to the ${before} pending`);
    // Reading again: that job arrives once, as it is now.
    paused!.resume();
    const deadline = Date.now() + 30_000;
    while (!got.some((g) => g.id === j.id)) {
      assert.ok(Date.now() < deadline, 'the pending change never came');
      await new Promise((r) => setTimeout(r, 10));
    }
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(
      got.filter((g) => g.id === j.id),
      [{ id: j.id, progress: 1, event: 'progress' }],
    );
    assert.equal(streams.stats().behindBytes, 0);
  } finally {
    req.destroy();
  }

  // Past maxPendingJobs the client is cut (it reconnects to a fresh snapshot).
  let closed = false;
  let res2: IncomingMessage | undefined;
  const req2 = request({ host: '127.0.0.1', port: ports[1], path: '/v1/events?limit=1', agent: false }, (res) => {
    res2 = res;
    res.pause();
    res.on('close', () => {
      closed = true;
    });
    res.on('error', () => {
      closed = true;
    });
  });
  req2.on('error', () => {
    closed = true;
  });
  req2.end();
  while (tight.stats().clients === 0) await new Promise((r) => setTimeout(r, 5));
  await fillUntil(() => tight.stats().clients === 0, 'cut the client');
  // What it was sent before the cut it may still read; then its connection is over.
  res2!.resume();
  const deadline = Date.now() + 30_000;
  while (!closed) {
    assert.ok(Date.now() < deadline, 'the client was not disconnected');
    await new Promise((r) => setTimeout(r, 10));
  }
});
