// Webhooks under load and with secrets: a real store (SQLite file) drives the notifier, real HTTP
// receivers on 127.0.0.1 answer. Sockets per receiver stay within the limit for a bulk of jobs; a
// job's events arrive in order even when an earlier one is answered late; no payload carries URL
// credentials or presigned query strings; the queue is bounded without losing final events
// silently; drain returns within its bound with deliveries pending.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { tempDir } from './helpers/media.js';
import { openStore, type Store, type NewJob } from '../src/orchestrator/store/index.js';
import { Notifier, DEFAULT_PER_HOST_CONCURRENCY, type NotifierOptions } from '../src/orchestrator/notifier.js';
import { redactUrl, redactText } from '../src/redact.js';
import type { Logger } from '../src/log.js';
import { statusEvent as ev } from './helpers/store.js';

const dir = tempDir('nommer-webhooks-');
const cleanups: Array<() => unknown> = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  dir.cleanup();
});

let n = 0;
function freshStore(): Store {
  const store = openStore(join(dir.path, `store-${++n}.db`));
  cleanups.push(() => store.close());
  return store;
}

interface Logged {
  level: string;
  obj: Record<string, unknown>;
  msg: string;
}
function captureLog(): { log: Logger; lines: Logged[] } {
  const lines: Logged[] = [];
  const at = (level: string) => (obj: Record<string, unknown>, msg: string) => {
    lines.push({ level, obj, msg });
  };
  const log = {
    warn: at('warn'),
    info: at('info'),
    error: at('error'),
    debug: at('debug'),
    trace: at('trace'),
    fatal: at('fatal'),
  } as Record<string, unknown>;
  log.child = () => log;
  return { log: log as unknown as Logger, lines };
}

interface Hit {
  jobId: string;
  event: string;
  body: string;
  headers: IncomingMessage['headers'];
}
interface Receiver {
  server: Server;
  url: string;
  hits: Hit[];
  /** Sockets open now and the most ever open at once. */
  open: number;
  maxOpen: number;
  /** Requests being answered now and the most at once. */
  active: number;
  maxActive: number;
}

/** A receiver; `answer` decides when and how each request is answered (default: 200 at once). */
async function receiver(answer?: (hit: Hit, res: ServerResponse, r: Receiver) => void): Promise<Receiver> {
  const r = { hits: [], open: 0, maxOpen: 0, active: 0, maxActive: 0 } as unknown as Receiver;
  r.server = createServer((req, res) => {
    r.active++;
    r.maxActive = Math.max(r.maxActive, r.active);
    res.on('close', () => {
      r.active--;
    });
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      const j = JSON.parse(body) as { event: string; job: { id: string } };
      const hit = { jobId: j.job.id, event: j.event, body, headers: req.headers };
      r.hits.push(hit);
      if (answer) answer(hit, res, r);
      else res.end('ok');
    });
  });
  r.server.on('connection', (socket) => {
    r.open++;
    r.maxOpen = Math.max(r.maxOpen, r.open);
    socket.on('close', () => {
      r.open--;
    });
  });
  await new Promise<void>((ok) => r.server.listen(0, '127.0.0.1', ok));
  r.url = `http://127.0.0.1:${(r.server.address() as { port: number }).port}/hook`;
  cleanups.push(
    () =>
      new Promise<void>((ok) => {
        r.server.closeAllConnections();
        r.server.close(() => ok());
      }),
  );
  return r;
}

/** Wait for a condition, at most `ms`; fails with `what` when it never holds. */
async function waitFor(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const job = (notifyUrl: string, over: Partial<NewJob> = {}): NewJob => ({
  input: 'file:///media/in.mp4',
  outputs: [{ preset: { name: 'webm-vp9', container: 'webm' }, uri: 'file:///media/out.webm' }],
  notifyUrl,
  ...over,
});

function notifier(store: Store, opts: Partial<NotifierOptions> = {}): { notifier: Notifier; lines: Logged[] } {
  const { log, lines } = captureLog();
  const nf = new Notifier({ timeoutMs: 10_000, maxAttempts: 3, baseDelayMs: 5, ...opts }, log);
  const detach = nf.attach(store);
  cleanups.push(async () => {
    detach();
    await nf.drain(0);
  });
  return { notifier: nf, lines };
}

/** Answer what the receiver holds, again and again, until `done`. */
async function answerUntil(held: ServerResponse[], done: () => boolean, what: string): Promise<void> {
  for (;;) {
    for (const res of held.splice(0)) res.end('ok');
    if (done()) return;
    await waitFor(() => held.length > 0 || done(), what);
  }
}

const EVENTS = ['created', 'started', 'phase', 'succeeded'];

/** created (by createJob), started, phase, succeeded: four webhooks per job. */
function runJob(store: Store, id: string): void {
  assert.ok(store.applyStatusEvent(ev(id, 0, 'started')).applied);
  assert.ok(store.applyStatusEvent(ev(id, 1, 'phase', { phase: 'uploading' })).applied);
  assert.ok(
    store.applyStatusEvent(ev(id, 2, 'succeeded', { outputs: [{ uri: 'file:///media/out.webm', bytes: 1 }] })).applied,
  );
}

function eventsOf(r: Receiver, jobId: string): string[] {
  return r.hits.filter((h) => h.jobId === jobId).map((h) => h.event);
}

test('200 jobs to one slow receiver: never more than the per-host limit of sockets, every job in order', async () => {
  // Slow: each answer waits a little, so requests pile up behind the limit.
  const r = await receiver((_hit, res) => {
    setTimeout(() => res.end('ok'), 5);
  });
  const store = freshStore();
  notifier(store);
  const ids: string[] = [];
  for (let i = 0; i < 200; i++) ids.push(store.createJob(job(r.url)).job.id);
  for (const id of ids) runJob(store, id);
  await waitFor(
    () => r.hits.length >= ids.length * EVENTS.length,
    `${ids.length * EVENTS.length} deliveries (got ${r.hits.length})`,
    60_000,
  );
  assert.equal(r.hits.length, ids.length * EVENTS.length, 'each event once');
  assert.ok(
    r.maxOpen <= DEFAULT_PER_HOST_CONCURRENCY,
    `at most ${DEFAULT_PER_HOST_CONCURRENCY} sockets at once, saw ${r.maxOpen}`,
  );
  assert.ok(
    r.maxActive <= DEFAULT_PER_HOST_CONCURRENCY,
    `at most ${DEFAULT_PER_HOST_CONCURRENCY} requests at once, saw ${r.maxActive}`,
  );
  assert.ok(r.maxActive > 1, 'different jobs were delivered in parallel');
  for (const id of ids) assert.deepEqual(eventsOf(r, id), EVENTS, `job ${id} in order`);
});

test('a per-host limit is per receiver: another host is not held up by a stuck one', async () => {
  const held: ServerResponse[] = [];
  const stuck = await receiver((_hit, res) => {
    held.push(res);
  });
  const fine = await receiver();
  const store = freshStore();
  notifier(store, { perHostConcurrency: 2 });
  const stuckIds = [1, 2, 3, 4].map(() => store.createJob(job(stuck.url)).job.id);
  const fineId = store.createJob(job(fine.url)).job.id;
  runJob(store, fineId);
  await waitFor(() => fine.hits.length === EVENTS.length, 'the other receiver got its job');
  await waitFor(() => held.length === 2, 'the stuck receiver holds 2 requests');
  assert.equal(stuck.maxActive, 2);
  assert.equal(stuck.maxOpen, 2);
  await answerUntil(held, () => stuck.hits.length === stuckIds.length, 'the stuck receiver answering at last');
  assert.ok(stuck.maxActive <= 2 && stuck.maxOpen <= 2);
});

test("a job's later events wait for the earlier one, even when it is answered late and after a retry", async () => {
  let first: ServerResponse | undefined;
  let failedOnce = false;
  const r = await receiver((hit, res) => {
    if (hit.event === 'created' && hit.jobId === slowId && !first && !failedOnce) {
      first = res;
      return;
    }
    res.end('ok');
  });
  const store = freshStore();
  notifier(store);
  const slowId = store.createJob(job(r.url)).job.id;
  const otherId = store.createJob(job(r.url)).job.id;
  runJob(store, slowId);
  runJob(store, otherId);
  // The other job is not held up by the slow one's first event.
  await waitFor(() => eventsOf(r, otherId).length === EVENTS.length, "the other job's events");
  await waitFor(() => first !== undefined, 'the first event of the slow job is held');
  assert.deepEqual(eventsOf(r, slowId), ['created'], 'nothing after the unanswered event was sent');
  // Answer it late, and with an error: it is retried, and only then do the others follow.
  failedOnce = true;
  first!.statusCode = 503;
  first!.end();
  await waitFor(() => eventsOf(r, slowId).length === EVENTS.length + 1, 'the retry and the rest');
  assert.deepEqual(eventsOf(r, slowId), ['created', ...EVENTS], 'the retried event first, then the rest in order');
  assert.deepEqual(eventsOf(r, otherId), EVENTS);
});

test('no payload carries URL credentials or presigned query strings', async () => {
  const r = await receiver();
  const store = freshStore();
  notifier(store, { secret: 'a-webhook-secret-of-some-length' });
  const input = 'https://user:secret@host.example/x.mp4?X-Amz-Signature=abc';
  const presignedOut =
    'https://bucket.s3.example/out.webm?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDcred&X-Amz-Signature=outsig';
  const hook = r.url.replace('http://', 'http://hookuser:hookpass@');
  const { job: j } = store.createJob(
    job(hook, {
      input,
      outputs: [
        { preset: { name: 'webm-vp9', container: 'webm' }, uri: presignedOut },
        { preset: { name: 'opus', container: 'ogg' }, uri: 's3://bucket/out.opus' },
      ],
    }),
  );
  store.applyStatusEvent(ev(j.id, 0, 'started'));
  store.applyStatusEvent(
    ev(j.id, 1, 'failed', {
      error: { code: 'INPUT_UNREADABLE', message: `could not read ${input}: 403`, retriable: false },
    }),
  );
  await waitFor(() => r.hits.some((h) => h.event === 'failed'), 'the final event');
  const secrets = ['secret', 'abc', 'user:', 'AKIDcred', 'outsig', 'hookpass', 'hookuser'];
  for (const h of r.hits) {
    for (const s of secrets) assert.ok(!h.body.includes(s), `"${s}" in the ${h.event} payload: ${h.body}`);
  }
  const last = JSON.parse(r.hits.find((h) => h.event === 'failed')!.body) as {
    job: { input: string; outputs: Array<{ uri: string }>; error: { message: string } };
  };
  assert.equal(last.job.input, 'https://host.example/x.mp4?redacted');
  assert.deepEqual(
    last.job.outputs.map((o) => o.uri),
    ['https://bucket.s3.example/out.webm?redacted', 's3://bucket/out.opus'],
  );
  assert.equal(last.job.error.message, 'could not read https://host.example/x.mp4?redacted: 403');
  // The notify URL's own credentials go only to that receiver, as Basic auth, never in the body.
  assert.equal(r.hits[0]!.headers.authorization, `Basic ${Buffer.from('hookuser:hookpass').toString('base64')}`);
});

test('redactUrl: userinfo and credential-bearing queries go, the rest stays', () => {
  assert.equal(redactUrl('https://user:secret@host/x.mp4?X-Amz-Signature=abc'), 'https://host/x.mp4?redacted');
  assert.equal(redactUrl('https://u@host:8443/a?width=3'), 'https://host:8443/a?width=3');
  assert.equal(redactUrl('https://host/a?width=3&page=2#top'), 'https://host/a?width=3&page=2#top');
  assert.equal(redactUrl('http://host/a?sig=x&sv=1'), 'http://host/a?redacted');
  assert.equal(redactUrl('https://cdn/a.mp4?Policy=p&Signature=s&Key-Pair-Id=k'), 'https://cdn/a.mp4?redacted');
  assert.equal(redactUrl('https://host/a?access_token=t'), 'https://host/a?redacted');
  assert.equal(redactUrl('https://host/a#token=t'), 'https://host/a#redacted');
  assert.equal(redactUrl('https://us%40er:p@ss@host/a'), 'https://host/a');
  assert.equal(redactUrl('s3://bucket/key.mp4'), 's3://bucket/key.mp4');
  assert.equal(redactUrl('/media/in.mp4'), '/media/in.mp4');
  assert.equal(redactUrl('file:///media/in.mp4'), 'file:///media/in.mp4');
  assert.equal(
    redactText('GET "https://a:b@h/x?token=1" failed, see http://h/y?q=1'),
    'GET "https://h/x?redacted" failed, see http://h/y?q=1',
  );
});

test('the queue is bounded: the oldest non-final events are dropped first, each logged with its job', async () => {
  const held: ServerResponse[] = [];
  const r = await receiver((_hit, res) => {
    held.push(res);
  });
  const store = freshStore();
  const { lines } = notifier(store, { perHostConcurrency: 1, maxQueued: 12 });
  const ids = Array.from({ length: 10 }, () => store.createJob(job(r.url)).job.id);
  await waitFor(() => held.length === 1, 'the first request is on the wire');
  for (const id of ids)
    store.applyStatusEvent(ev(id, 0, 'failed', { error: { code: 'X', message: 'no', retriable: false } }));
  // 30 events (created, started, failed per job), room for 12: 18 non-final ones go, no final one.
  const drops = lines.filter((l) => l.level === 'warn' && l.msg.startsWith('webhook dropped'));
  assert.equal(drops.length, 30 - 12);
  assert.ok(
    drops.every(
      (l) =>
        l.obj.final === false &&
        ['created', 'started'].includes(l.obj.event as string) &&
        ids.includes(l.obj.job as string),
    ),
    JSON.stringify(drops),
  );
  await answerUntil(held, () => ids.every((id) => eventsOf(r, id).includes('failed')), 'every final event');
  for (const id of ids) assert.equal(eventsOf(r, id).at(-1), 'failed', `job ${id}'s final event arrived, last`);
  assert.equal(r.hits.length, 12);
});

test('when only final events are queued, dropping one is a warning naming the job', async () => {
  const held: ServerResponse[] = [];
  const r = await receiver((_hit, res) => {
    held.push(res);
  });
  const store = freshStore();
  const { lines } = notifier(store, { perHostConcurrency: 1, maxQueued: 2 });
  // One 'created' on the wire, the others dropped for room; then only final (canceled) events come.
  const ids = Array.from({ length: 4 }, () => store.createJob(job(r.url)).job.id);
  await waitFor(() => held.length === 1, 'the first request is on the wire');
  for (const id of ids) store.cancelJob(id);
  const finals = lines.filter((l) => l.level === 'warn' && l.msg.startsWith('webhook dropped') && l.obj.final === true);
  assert.ok(finals.length > 0, 'some final events had to go');
  assert.ok(finals.every((l) => ids.includes(l.obj.job as string)));
  await answerUntil(held, () => ids.some((id) => eventsOf(r, id).includes('canceled')), 'the kept final events');
});

test('drain returns within its bound with deliveries pending, and names the jobs whose final event was not sent', async () => {
  const held: ServerResponse[] = [];
  const r = await receiver((_hit, res) => {
    held.push(res);
  });
  const store = freshStore();
  const { notifier: nf, lines } = notifier(store);
  const ids = Array.from({ length: 20 }, () => store.createJob(job(r.url)).job.id);
  for (const id of ids) runJob(store, id);
  await waitFor(() => held.length === DEFAULT_PER_HOST_CONCURRENCY, 'requests held by the receiver');
  const bound = 200;
  const t0 = Date.now();
  let returned = false;
  const drained = nf.drain(bound).then(() => {
    returned = true;
  });
  // Bounded wait: far beyond the bound, so only a drain that hangs fails.
  await waitFor(() => returned, 'drain to return', bound + 5_000);
  await drained;
  assert.ok(Date.now() - t0 < bound + 5_000);
  assert.deepEqual(nf.stats(), { queued: 0, sending: 0 });
  const notSent = lines
    .filter((l) => l.msg.startsWith('webhook not delivered: shutting down (a final event)'))
    .map((l) => l.obj.job);
  assert.deepEqual(new Set(notSent), new Set(ids), 'each job whose final event was not delivered is named');
  // Nothing more goes out after drain: the held requests were aborted, no retries follow.
  await waitFor(() => r.active === 0, 'the aborted requests to close');
  store.createJob(job(r.url));
  assert.equal(nf.stats().queued, 0, 'a stopped notifier takes no new deliveries');
});
