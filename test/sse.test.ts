// The event stream of a job (GET /v1/jobs/:id/events) against a real store and the real API on a
// loopback port, read by a plain HTTP client: history, snapshot, live changes and `end`;
// Last-Event-ID; the limit on streams; a client that never reads; nothing left running after.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { request, type IncomingHttpHeaders, type IncomingMessage } from 'node:http';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { tempDir } from './helpers/media.js';
import { buildApi, publicEvent, publicJob, type ApiDeps, type PublicJob } from '../src/orchestrator/api.js';
import { JobStreams, type JobStreamOptions } from '../src/orchestrator/job-stream.js';
import { openStore, type Job, type NewJob, type Store } from '../src/orchestrator/store/index.js';
import { ApiClient } from '../src/client/api-client.js';
import type { StatusEvent } from '../src/messages.js';
import { statusEvent } from './helpers/store.js';
import { STREAM_QUIET_READ_MS, waitForJob } from './helpers/feederd.js';

const dir = tempDir('nommer-sse-');
let store: Store;
before(() => {
  store = openStore(join(dir.path, 'sse.db'));
});
after(() => {
  store.close();
  dir.cleanup();
});

// ---------------------------------------------------------------------------------------------
// Fixtures

const newJob = (over: Partial<NewJob> = {}): Job =>
  store.createJob({
    input: 'file:///media/in.mp4',
    outputs: [{ preset: { name: 'webm-vp9', container: 'webm' }, uri: 'file:///media/out.webm' }],
    ...over,
  }).job;

let seq = 0;
function status(job: Job, type: StatusEvent['type'], over: Partial<StatusEvent> = {}): void {
  const r = store.applyStatusEvent(statusEvent(job.id, ++seq, type, over));
  assert.ok(r.applied, JSON.stringify(r));
}

const storedIds = (job: Job): number[] => store.listJobEvents(job.id, { limit: 10_000 }).map((e) => e.id!);

interface Api {
  app: FastifyInstance;
  port: number;
  streams?: JobStreams;
  close(): Promise<void>;
}

const apis = new Set<Api>();
async function startApi(streamOpts?: Omit<JobStreamOptions, 'store' | 'publicJob' | 'publicEvent'>): Promise<Api> {
  const streams = streamOpts ? new JobStreams({ store, publicJob, publicEvent, ...streamOpts }) : undefined;
  // Cast: the API's hooks for cancel and retry are changing; these streams need none of them.
  const app = buildApi({
    store,
    version: 'test',
    backend: 'local',
    bodyLimitBytes: 1 << 20,
    userPresets: {},
    defaultPreset: 'webm-vp9',
    maxAttempts: 3,
    summary: async () => ({ queue: { waiting: 0, inFlight: 0 }, fleet: [] }),
    onWork: () => undefined,
    onCancel: async () => undefined,
    onRetry: async () => undefined,
    ...(streams ? { jobStreams: streams } : {}),
  } as ApiDeps);
  await app.listen({ host: '127.0.0.1', port: 0 });
  const port = (app.server.address() as { port: number }).port;
  const api: Api = {
    app,
    port,
    streams,
    close: async () => {
      apis.delete(api);
      await app.close();
    },
  };
  apis.add(api);
  return api;
}

/** Waits for a condition, polling; fails after `ms` (generous: a slow machine only waits longer). */
async function waitFor(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}

interface Msg {
  id: number | null;
  event: string;
  data: { job: PublicJob; event?: { type: string; state: string; id: number } };
}

/** A raw SSE reader over node:http: what the CLI's client and browsers' EventSource see. */
class SseClient {
  status = 0;
  headers: IncomingHttpHeaders = {};
  body = '';
  messages: Msg[] = [];
  pings = 0;
  /** The server ended the response properly. */
  ended = false;
  /** The connection is gone, for whatever reason. */
  closed = false;
  res?: IncomingMessage;
  private buf = '';
  private readonly req;

  constructor(port: number, path: string, headers: Record<string, string> = {}, paused = false) {
    this.req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'GET',
        agent: false,
        headers: { accept: 'text/event-stream', ...headers },
      },
      (res) => {
        this.res = res;
        this.status = res.statusCode ?? 0;
        this.headers = res.headers;
        res.setEncoding('utf8');
        res.on('data', (c: string) => this.feed(c));
        if (paused) res.pause();
        res.on('end', () => {
          this.ended = true;
        });
        res.on('close', () => {
          this.closed = true;
        });
        res.on('error', () => {
          this.closed = true;
        });
      },
    );
    this.req.on('error', () => {
      this.closed = true;
    });
    this.req.end();
  }

  static async open(
    port: number,
    path: string,
    headers: Record<string, string> = {},
    paused = false,
  ): Promise<SseClient> {
    const c = new SseClient(port, path, headers, paused);
    await waitFor(() => c.status !== 0 || c.closed, `a response to ${path}`);
    return c;
  }

  get ids(): number[] {
    return this.messages.filter((m) => m.id !== null).map((m) => m.id!);
  }
  get types(): string[] {
    return this.messages.map((m) => (m.event === 'job' ? `job:${m.data.event!.type}` : m.event));
  }
  has(event: string): boolean {
    return this.messages.some((m) => m.event === event);
  }
  resume(): void {
    this.res!.resume();
  }
  destroy(): void {
    this.req.destroy();
  }

  private feed(chunk: string): void {
    if (this.status !== 200) {
      this.body += chunk;
      return;
    }
    this.buf += chunk;
    let sep: number;
    while ((sep = this.buf.indexOf('\n\n')) >= 0) {
      const raw = this.buf.slice(0, sep);
      this.buf = this.buf.slice(sep + 2);
      let id: number | null = null,
        event = 'message',
        data = '';
      for (const line of raw.split('\n')) {
        if (line === ': ping') this.pings++;
        else if (line.startsWith('id: ')) id = Number(line.slice(4));
        else if (line.startsWith('event: ')) event = line.slice(7);
        else if (line.startsWith('data: ')) data += line.slice(6);
      }
      if (data) this.messages.push({ id, event, data: JSON.parse(data) as Msg['data'] });
    }
  }
}

const eventsPath = (job: Job) => `/v1/jobs/${job.id}/events`;

// ---------------------------------------------------------------------------------------------

test('a job that is already final: its history, a snapshot, `end`, and the stream closes', async () => {
  const api = await startApi();
  try {
    const job = newJob();
    store.cancelJob(job.id, { reason: 'test' });
    const c = await SseClient.open(api.port, eventsPath(job));
    assert.equal(c.status, 200);
    assert.match(String(c.headers['content-type']), /^text\/event-stream/);
    // Before the fix the response never ended (finish() ran before the ping timer existed).
    await waitFor(() => c.ended, 'the stream of a final job to end');
    assert.deepEqual(c.types, ['job:created', 'job:canceled', 'snapshot', 'end']);
    assert.deepEqual(c.ids, storedIds(job));
    assert.equal(c.messages[2]!.id, null, 'snapshot has no id');
    assert.equal(c.messages[3]!.id, null, 'end has no id');
    assert.equal(c.messages[3]!.data.job.state, 'canceled');
    assert.equal(c.messages[1]!.data.event!.state, 'canceled');
  } finally {
    await api.close();
  }
});

test('a live job: its changes as they happen, progress ticks without ids, then `end` when it succeeds', async () => {
  const api = await startApi({});
  try {
    const job = newJob();
    const c = await SseClient.open(api.port, eventsPath(job));
    await waitFor(() => c.has('snapshot'), 'the snapshot');
    assert.deepEqual(c.types, ['job:created', 'snapshot']);
    assert.equal(c.messages[1]!.data.job.state, 'queued');

    status(job, 'started', { phase: 'encoding' });
    await waitFor(() => c.messages.length === 3, 'started');
    status(job, 'progress', { progress: { fraction: 0.5, fps: 30 } });
    await waitFor(() => c.messages.length === 4, 'a progress tick');
    status(job, 'phase', { phase: 'uploading' });
    await waitFor(() => c.messages.length === 5, 'the phase change');
    assert.equal(c.ended, false, 'still open while the job runs');
    status(job, 'succeeded', { outputs: [{ uri: 'file:///media/out.webm', bytes: 123 }] });
    await waitFor(() => c.ended, 'the end of the stream');

    assert.deepEqual(c.types, [
      'job:created',
      'snapshot',
      'job:started',
      'job:progress',
      'job:phase',
      'job:succeeded',
      'end',
    ]);
    const tick = c.messages[3]!;
    assert.equal(tick.id, null, 'progress ticks are not stored and have no id');
    assert.equal(tick.data.job.progress, 0.5);
    assert.deepEqual(c.ids, storedIds(job), 'every stored event, in order, with its id');
    assert.equal(c.messages.at(-1)!.data.job.state, 'succeeded');
    await waitFor(() => api.streams!.stats().clients === 0, 'the stream to be forgotten');
  } finally {
    await api.close();
  }
});

test('the CLI client follows a stream to `end` (same wire format)', async () => {
  const api = await startApi();
  try {
    const job = newJob();
    const client = new ApiClient({ url: `http://127.0.0.1:${api.port}` });
    const seen: string[] = [];
    let final: PublicJob | undefined;
    await client.events(job.id, (m) => {
      seen.push(m.type);
      // Drive the job once the client is caught up, so every change comes live.
      if (m.type === 'snapshot') {
        status(job, 'started');
        status(job, 'failed', { error: { code: 'FFMPEG_FAILED', message: 'boom', retriable: false } });
      }
      if (m.type === 'end') final = m.data.job;
    });
    assert.deepEqual(seen, ['job', 'snapshot', 'job', 'job', 'end']);
    assert.equal(final?.state, 'failed');
  } finally {
    await api.close();
  }
});

test("the tests' waitForJob reads the job when its stream says it changed, not every 100 ms", async () => {
  const api = await startApi({});
  try {
    const job = newJob();
    const client = new ApiClient({ url: `http://127.0.0.1:${api.port}` });
    let reads = 0;
    const getJob = client.getJob.bind(client);
    client.getJob = (id: string) => {
      reads++;
      return getJob(id);
    };
    const t0 = Date.now();
    const waiting = waitForJob(client, job.id, (j) => j.state === 'running');
    await waitFor(() => api.streams!.stats().clients === 1, "the helper's stream");
    // The job is quiet: the helper reads it at the start, after the stream's history and snapshot
    // (they may come apart), and after each quiet interval; every 100 ms it would read ~9 times.
    await new Promise((r) => setTimeout(r, 900));
    const quiet = reads;
    const allowed = 3 + Math.floor((Date.now() - t0) / STREAM_QUIET_READ_MS);
    status(job, 'started', { phase: 'encoding' });
    assert.equal((await waiting).state, 'running', 'the change the stream announced is seen');
    assert.ok(quiet <= allowed, `${quiet} reads of a quiet job in ${Date.now() - t0} ms (at most ${allowed})`);
    await waitFor(() => api.streams!.stats().clients === 0, "the helper's stream to close");
  } finally {
    await api.close();
  }
});

test('Last-Event-ID: only what came after it is replayed; a bad one replays everything', async () => {
  const api = await startApi();
  try {
    const job = newJob();
    status(job, 'started', { phase: 'downloading' });
    status(job, 'phase', { phase: 'encoding' });
    status(job, 'phase', { phase: 'uploading' });
    const all = storedIds(job);
    assert.equal(all.length, 4);

    const c = await SseClient.open(api.port, eventsPath(job), { 'last-event-id': String(all[1]) });
    await waitFor(() => c.has('snapshot'), 'the snapshot');
    assert.deepEqual(c.ids, all.slice(2));
    assert.deepEqual(c.types, ['job:phase', 'job:phase', 'snapshot']);
    // What came meanwhile, live, then the end.
    store.cancelJob(job.id);
    await waitFor(() => c.ended, 'the end');
    assert.deepEqual(c.ids, storedIds(job).slice(2));

    const bad = await SseClient.open(api.port, eventsPath(job), { 'last-event-id': 'not-a-number' });
    await waitFor(() => bad.ended, 'the end');
    assert.deepEqual(bad.ids, storedIds(job));
    const last = await SseClient.open(api.port, eventsPath(job), { 'last-event-id': String(storedIds(job).at(-1)) });
    await waitFor(() => last.ended, 'the end');
    assert.deepEqual(last.types, ['snapshot', 'end'], 'nothing after the last id: snapshot and end only');
  } finally {
    await api.close();
  }
});

test('unknown job: 404 JSON; HEAD answers the headers and closes', async () => {
  const api = await startApi();
  try {
    const c = await SseClient.open(api.port, '/v1/jobs/j_nope/events');
    assert.equal(c.status, 404);
    await waitFor(() => c.ended, 'the 404 body');
    assert.equal((JSON.parse(c.body) as { error: { code: string } }).error.code, 'JOB_NOT_FOUND');
    const job = newJob();
    const head = await fetch(`http://127.0.0.1:${api.port}${eventsPath(job)}`, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.match(String(head.headers.get('content-type')), /^text\/event-stream/);
  } finally {
    await api.close();
  }
});

test('at most maxClients streams: the next gets 503 BUSY (retriable), a slot frees when a client leaves, and closing the API ends them all', async () => {
  const api = await startApi({ maxClients: 2 });
  try {
    const job = newJob();
    const a = await SseClient.open(api.port, eventsPath(job));
    const b = await SseClient.open(api.port, eventsPath(job));
    await waitFor(() => a.has('snapshot') && b.has('snapshot'), 'two streams');
    const c = await SseClient.open(api.port, eventsPath(job));
    assert.equal(c.status, 503);
    await waitFor(() => c.ended, 'the 503 body');
    assert.deepEqual(JSON.parse(c.body), {
      error: {
        code: 'BUSY',
        message: 'feederd is serving its maximum of 2 event streams; try again shortly',
        retriable: true,
      },
    });
    assert.equal(c.headers['retry-after'], '5');
    assert.equal(api.streams!.stats().clients, 2);

    a.destroy();
    await waitFor(() => api.streams!.stats().clients === 1, 'the slot of the client that left');
    const d = await SseClient.open(api.port, eventsPath(job));
    assert.equal(d.status, 200);
    await waitFor(() => d.has('snapshot'), 'the snapshot');

    await api.close();
    await waitFor(() => b.closed && d.closed, 'open streams to close with the API');
    assert.equal(api.streams!.stats().clients, 0);
  } finally {
    await api.close();
  }
});

test('a client that never reads: feederd buffers a bounded amount, other clients get every event, and it is cut off and resumes with Last-Event-ID', async () => {
  const maxUnsentBytes = 256 * 1024;
  const api = await startApi({ maxUnsentBytes });
  const streams = api.streams!;
  try {
    // The largest job the API accepts (16 outputs, 4 KiB URIs): about 64 KiB per message, so the
    // kernel's socket buffers fill after some megabytes, whatever their size on this machine.
    const outputs = Array.from({ length: 16 }, (_, i) => ({
      preset: { name: 'webm-vp9', container: 'webm' },
      uri: `file:///media/${String(i).padStart(2, '0')}-${'x'.repeat(4000)}.webm`,
    }));
    const job = newJob({ outputs });
    status(job, 'started', { phase: 'encoding' });
    const fast = await SseClient.open(api.port, eventsPath(job));
    const slow = await SseClient.open(api.port, eventsPath(job), {}, true);
    await waitFor(() => fast.has('snapshot') && streams.stats().clients === 2, 'both streams');
    const messageBytes = Buffer.byteLength(JSON.stringify({ job: publicJob(store.getJob(job.id)!) }));
    assert.ok(messageBytes > 60_000, `messages are large (${messageBytes} bytes)`);

    // Stored changes and progress ticks, one pair at a time: each reaches the fast client while the
    // slow one reads nothing, until feederd gives up on the slow one. Bounded: far more than any
    // kernel buffers, and an unbounded feederd would never cut it off.
    const maxSteps = 4000;
    let steps = 0;
    let maxBuffered = 0;
    for (; steps < maxSteps && streams.stats().clients === 2; steps++) {
      status(job, 'phase', { phase: steps % 2 ? 'encoding' : 'uploading' });
      status(job, 'progress', { progress: { fraction: (steps % 100) / 100 } });
      const latest = storedIds(job).at(-1)!;
      await waitFor(() => fast.ids.at(-1) === latest, `the fast client to get event ${latest}`);
      const s = streams.stats();
      maxBuffered = Math.max(maxBuffered, s.bufferedBytes);
      // Per client: at most a socket's high-water mark and a message or two, never a backlog.
      assert.ok(s.bufferedBytes <= 2 * (64 * 1024 + 2 * messageBytes), `feederd holds ${s.bufferedBytes} bytes unsent`);
      assert.ok(s.behindBytes <= maxUnsentBytes + messageBytes, `behind by ${s.behindBytes} bytes`);
    }
    assert.equal(
      streams.stats().clients,
      1,
      `the slow client was cut off (after ${steps} changes; held at most ${maxBuffered} bytes)`,
    );
    assert.deepEqual(fast.ids, storedIds(job), 'the fast client got every stored event, in order');

    // The slow client reads what reached its socket, then finds it closed without `end`...
    slow.resume();
    await waitFor(() => slow.closed, 'the slow client to see its stream closed');
    assert.equal(slow.has('end'), false);
    const got = slow.ids;
    assert.ok(got.length > 0);
    assert.deepEqual(got, storedIds(job).slice(0, got.length), 'what it got is the history, in order, without gaps');
    // ...and resumes where it stopped: nothing lost.
    const again = await SseClient.open(api.port, eventsPath(job), { 'last-event-id': String(got.at(-1)) });
    await waitFor(() => again.has('snapshot'), 'the resumed stream to catch up');
    store.cancelJob(job.id);
    await waitFor(() => again.ended && fast.ended, 'both streams to end');
    assert.deepEqual([...got, ...again.ids], storedIds(job));
    assert.deepEqual(fast.ids, storedIds(job));
    await waitFor(() => streams.stats().clients === 0, 'every stream to be forgotten');
  } finally {
    await api.close();
  }
});

test('a client that reads slowly gets everything: history and changes wait in the store, not in memory', async () => {
  const api = await startApi({ maxUnsentBytes: 64 * 1024 * 1024 });
  const streams = api.streams!;
  try {
    const outputs = Array.from({ length: 16 }, (_, i) => ({
      preset: { name: 'webm-vp9', container: 'webm' },
      uri: `file:///media/${i}-${'y'.repeat(4000)}.webm`,
    }));
    const job = newJob({ outputs });
    status(job, 'started', { phase: 'encoding' });
    // A history of megabytes, more than one page of it (pages are 200 events).
    let phases = 0;
    const phase = () => status(job, 'phase', { phase: ++phases % 2 ? 'encoding' : 'uploading' });
    for (let i = 0; i < 300; i++) phase();
    const c = await SseClient.open(api.port, eventsPath(job), {}, true);
    await waitFor(() => streams.stats().clients === 1, 'the stream');
    // Until the kernel's buffers are full and Node holds some (bounded: far more than they take).
    for (let i = 0; i < 4000 && streams.stats().bufferedBytes === 0; i++) {
      phase();
      await new Promise((r) => setImmediate(r));
    }
    assert.ok(streams.stats().bufferedBytes > 0, 'the socket is full');
    // More changes while it is behind; they are not queued in memory.
    for (let i = 0; i < 100; i++) {
      status(job, 'phase', { phase: i % 2 ? 'encoding' : 'uploading' });
      status(job, 'progress', { progress: { fraction: i / 100 } });
    }
    assert.ok(
      streams.stats().bufferedBytes <= 64 * 1024 + 2 * 80_000,
      `feederd holds ${streams.stats().bufferedBytes} bytes`,
    );
    store.cancelJob(job.id);
    c.resume();
    await waitFor(() => c.ended, 'the end');
    assert.deepEqual(c.ids, storedIds(job), 'every stored event, in order, none twice');
    assert.ok(c.has('snapshot'));
    assert.equal(c.messages.at(-1)!.event, 'end');
  } finally {
    await api.close();
  }
});

test('a client that never reads the stream of a finished job is let go after the grace period', async () => {
  const api = await startApi({ endGraceMs: 50 });
  const streams = api.streams!;
  try {
    const outputs = Array.from({ length: 16 }, (_, i) => ({
      preset: { name: 'webm-vp9', container: 'webm' },
      uri: `file:///media/${i}-${'z'.repeat(4000)}.webm`,
    }));
    const job = newJob({ outputs });
    status(job, 'started', { phase: 'encoding' });
    for (let i = 0; i < 300; i++) status(job, 'phase', { phase: i % 2 ? 'encoding' : 'uploading' });
    store.cancelJob(job.id);
    const c = await SseClient.open(api.port, eventsPath(job), {}, true);
    assert.equal(c.status, 200);
    // Whether the socket took it all (`end` sent) or not (behind), its slot and timers go.
    await waitFor(() => streams.stats().clients === 0, 'the stream to be let go');
    c.destroy();
  } finally {
    await api.close();
  }
});

test('pings keep an idle stream alive; its timer goes with it', async () => {
  const api = await startApi({ pingMs: 20 });
  try {
    const job = newJob();
    const c = await SseClient.open(api.port, eventsPath(job));
    await waitFor(() => c.pings >= 2, 'pings');
    c.destroy();
    await waitFor(() => api.streams!.stats().clients === 0, 'the stream to be forgotten');
  } finally {
    await api.close();
  }
});

test('nothing is left running: no timers once the streams and the API are gone', async () => {
  for (const a of [...apis]) await a.close();
  // Sockets close on the next turns of the loop; a leaked ping or grace timer would stay forever.
  await waitFor(
    () => !process.getActiveResourcesInfo().includes('Timeout'),
    `no timers left (${process.getActiveResourcesInfo().join(', ')})`,
    10_000,
  );
});
