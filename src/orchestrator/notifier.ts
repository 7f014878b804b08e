// Webhooks: each state change of a job with a notify URL is POSTed there as JSON, signed
// (HMAC-SHA256 over "<timestamp>.<body>") when a secret is configured, retried with exponential
// backoff. Deliveries run beside dispatch and never block it. Progress ticks are not sent.
//
// Bounded, so a bulk submit against a slow receiver cannot make feederd open sockets without end:
// - at most `perHostConcurrency` requests at once per receiver (host:port), and `maxInFlight` over
//   all receivers; the rest wait their turn. Requests go through node:http(s) Agents whose
//   maxSockets is that same limit, so it is a hard bound on sockets too (fetch's pool is not: it
//   opens a new socket when the last one is not yet back in the pool, ~2x the requests);
// - at most `maxQueued` undelivered events over all jobs. Beyond that the oldest event that is
//   not a job's final one (succeeded/failed/canceled) is dropped, and only when every queued
//   event is final, the oldest final one. Each drop is a warning naming the job.
// - a job's events go out in the order they happened: the next waits for the previous one's
//   delivery or its last failed attempt. Different jobs proceed in parallel (up to the limits).
// Payloads carry no URL secrets: userinfo and presigned/credential query strings are redacted
// (redact.ts). Userinfo in the notify URL itself becomes a Basic Authorization header for the
// receiver it names, and is never in the body.
import { createHmac } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import { FINAL_STATES } from '../jobs/types.js';
import type { Logger } from '../log.js';
import { redactDeep } from '../redact.js';
import type { Store, StoreChange } from './store/index.js';

export const SIGNATURE_HEADER = 'x-nommer-signature';

/** Requests at once to one receiver (host:port) unless configured. */
export const DEFAULT_PER_HOST_CONCURRENCY = 4;
/** Requests at once over all receivers unless configured. */
export const DEFAULT_MAX_IN_FLIGHT = 64;
/** Undelivered events (all jobs) kept unless configured. */
export const DEFAULT_MAX_QUEUED = 10_000;
/** A receiver's answer body is read (so the socket can be reused) up to this much, then cut off. */
const MAX_RESPONSE_BYTES = 64 * 1024;
/** An idle keep-alive socket to a receiver is closed after this long. */
const IDLE_SOCKET_MS = 4000;

/** `t=<unix seconds>,v1=<hex hmac>`; a receiver recomputes HMAC(secret, `${t}.${rawBody}`). */
export function signPayload(secret: string, body: string, timestampSeconds: number): string {
  const mac = createHmac('sha256', secret).update(`${timestampSeconds}.${body}`).digest('hex');
  return `t=${timestampSeconds},v1=${mac}`;
}

export interface NotifierOptions {
  secret?: string;
  timeoutMs: number;
  maxAttempts: number;
  /** First retry delay; doubles each time. */
  baseDelayMs?: number;
  /** Requests at once to one receiver (host:port). Default DEFAULT_PER_HOST_CONCURRENCY. */
  perHostConcurrency?: number;
  /** Requests at once over all receivers. Default DEFAULT_MAX_IN_FLIGHT. */
  maxInFlight?: number;
  /** Undelivered events over all jobs before the oldest are dropped. Default DEFAULT_MAX_QUEUED. */
  maxQueued?: number;
}

interface Delivery {
  jobId: string;
  event: string;
  final: boolean;
  /** The notify URL without userinfo. */
  url: string;
  host: string;
  authorization?: string;
  body: string;
  /** Taken by its job's loop (waiting for a slot, sending, or between attempts). */
  started: boolean;
  /** A request is on the wire. */
  sending: boolean;
  /** Aborted when dropped or when the notifier stops. */
  readonly ctl: AbortController;
}

/** A counting semaphore whose waiters are served in order and can give up (signal). */
class Limiter {
  private active = 0;
  private readonly waiters = new Set<() => void>();
  constructor(private readonly limit: number) {}

  get idle(): boolean {
    return this.active === 0 && this.waiters.size === 0;
  }

  acquire(signal: AbortSignal): Promise<boolean> {
    if (signal.aborted) return Promise.resolve(false);
    if (this.active < this.limit && this.waiters.size === 0) {
      this.active++;
      return Promise.resolve(true);
    }
    return new Promise((resolve) => {
      const grant = () => {
        signal.removeEventListener('abort', giveUp);
        this.active++;
        resolve(true);
      };
      const giveUp = () => {
        this.waiters.delete(grant);
        resolve(false);
      };
      this.waiters.add(grant);
      signal.addEventListener('abort', giveUp, { once: true });
    });
  }

  release(): void {
    this.active--;
    const next = this.waiters.values().next();
    if (!next.done) {
      this.waiters.delete(next.value);
      next.value();
    }
  }
}

/** A delay that an abort ends early; it does not keep the process alive. */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    t.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}

/**
 * POST `body` and resolve with the status once the answer is read (its body discarded, at most
 * MAX_RESPONSE_BYTES, so the keep-alive socket goes back to the agent). Rejects on network errors
 * and on `signal` (timeout, drop, stop), which destroys the socket.
 */
function send(
  url: URL,
  agent: http.Agent,
  headers: Record<string, string>,
  body: string,
  signal: AbortSignal,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = url.protocol === 'https:' ? https.request : http.request;
    const req = request(
      url,
      { method: 'POST', agent, signal, headers: { ...headers, 'content-length': String(Buffer.byteLength(body)) } },
      (res) => {
        const status = res.statusCode ?? 0;
        let seen = 0;
        res.on('data', (chunk: Buffer) => {
          seen += chunk.length;
          if (seen > MAX_RESPONSE_BYTES) res.destroy();
        });
        res.on('end', () => resolve(status));
        // Cut off (too long, timed out, aborted): the status already came.
        res.on('close', () => resolve(status));
        res.on('error', () => resolve(status));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

export class Notifier {
  /** Each job's undelivered events in order; the head is the one being delivered. */
  private readonly jobs = new Map<string, Delivery[]>();
  /** The loop delivering each job's events. */
  private readonly loops = new Map<string, Promise<void>>();
  /** Every undelivered event, oldest first, split so the drop order is cheap to find. */
  private readonly queuedNonFinal = new Set<Delivery>();
  private readonly queuedFinal = new Set<Delivery>();
  private readonly hosts = new Map<string, Limiter>();
  private readonly all: Limiter;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly perHost: number;
  private readonly maxQueued: number;
  private stopped = false;

  constructor(
    private readonly opts: NotifierOptions,
    private readonly log: Logger,
  ) {
    this.perHost = Math.max(1, opts.perHostConcurrency ?? DEFAULT_PER_HOST_CONCURRENCY);
    this.all = new Limiter(Math.max(1, opts.maxInFlight ?? DEFAULT_MAX_IN_FLIGHT));
    this.maxQueued = Math.max(1, opts.maxQueued ?? DEFAULT_MAX_QUEUED);
    // maxSockets counts a host's sockets in use; an idle one is reused before a new one is made,
    // and closed after IDLE_SOCKET_MS (below Node servers' 5 s keep-alive, so we close first).
    const agentOpts = {
      keepAlive: true,
      maxSockets: this.perHost,
      maxFreeSockets: this.perHost,
      timeout: IDLE_SOCKET_MS,
    };
    this.agents = { http: new http.Agent(agentOpts), https: new https.Agent(agentOpts) };
  }

  attach(store: Store): () => void {
    return store.subscribe((c) => this.onChange(c));
  }

  /** Undelivered events, and requests on the wire now. */
  stats(): { queued: number; sending: number } {
    let sending = 0;
    for (const q of this.jobs.values()) if (q[0]?.sending) sending++;
    return { queued: this.queuedNonFinal.size + this.queuedFinal.size, sending };
  }

  private onChange(c: StoreChange): void {
    if (!c.job.notifyUrl || c.event.type === 'progress') return;
    const final = FINAL_STATES.has(c.event.state);
    if (this.stopped) {
      if (final) this.log.warn({ job: c.job.id, event: c.event.type }, 'webhook not sent: notifier stopped');
      return;
    }
    let target: URL;
    try {
      target = new URL(c.job.notifyUrl);
      if (target.protocol !== 'http:' && target.protocol !== 'https:')
        throw new Error(`unsupported scheme ${target.protocol}`);
    } catch (err) {
      this.log.warn(
        { job: c.job.id, event: c.event.type, err: (err as Error).message },
        'webhook not sent: bad notify URL',
      );
      return;
    }
    let authorization: string | undefined;
    if (target.username || target.password) {
      const user = decodeURIComponent(target.username);
      const pass = decodeURIComponent(target.password);
      authorization = `Basic ${Buffer.from(`${user}:${pass}`).toString('base64')}`;
      target.username = '';
      target.password = '';
    }
    const payload = redactDeep({
      event: c.event.type,
      at: new Date(c.event.at).toISOString(),
      job: {
        id: c.job.id,
        state: c.job.state,
        phase: c.job.phase,
        attempt: c.job.attempt,
        progress: c.job.progress,
        input: c.job.input,
        outputs: c.job.outputs.map((o) => ({
          preset: o.preset.name,
          uri: o.uri,
          bytes: o.bytes,
          ...(o.quality ? { quality: o.quality } : {}),
          ...(o.package ? { package: o.package } : {}),
        })),
        error: c.job.error,
        cost: c.job.cost,
      },
      message: c.event.message,
    });
    this.enqueue({
      jobId: c.job.id,
      event: c.event.type,
      final,
      url: target.href,
      host: target.host,
      authorization,
      body: JSON.stringify(payload),
      started: false,
      sending: false,
      ctl: new AbortController(),
    });
  }

  private enqueue(d: Delivery): void {
    (d.final ? this.queuedFinal : this.queuedNonFinal).add(d);
    let q = this.jobs.get(d.jobId);
    if (!q) {
      q = [];
      this.jobs.set(d.jobId, q);
    }
    q.push(d);
    while (this.queuedNonFinal.size + this.queuedFinal.size > this.maxQueued) {
      const victim = this.oldestDroppable(this.queuedNonFinal) ?? this.oldestDroppable(this.queuedFinal);
      if (!victim) break;
      this.drop(victim);
    }
    if (!this.loops.has(d.jobId) && this.jobs.has(d.jobId)) this.loops.set(d.jobId, this.run(d.jobId));
  }

  /** The oldest event in `set` that has no request on the wire. */
  private oldestDroppable(set: Set<Delivery>): Delivery | undefined {
    for (const d of set) if (!d.sending) return d;
    return undefined;
  }

  private drop(d: Delivery): void {
    this.log.warn(
      { job: d.jobId, event: d.event, final: d.final, limit: this.maxQueued },
      d.final
        ? 'webhook dropped: too many queued deliveries (a final event)'
        : 'webhook dropped: too many queued deliveries',
    );
    this.forget(d);
    d.ctl.abort();
    if (d.started) return; // its loop sees the abort and moves on
    const q = this.jobs.get(d.jobId);
    const i = q?.indexOf(d) ?? -1;
    if (q && i !== -1) q.splice(i, 1);
    if (q?.length === 0) this.jobs.delete(d.jobId);
  }

  private forget(d: Delivery): void {
    this.queuedNonFinal.delete(d);
    this.queuedFinal.delete(d);
  }

  /** Deliver one job's events in order, each to success or its last attempt. */
  private async run(jobId: string): Promise<void> {
    await Promise.resolve(); // enqueue registers this loop before it can end
    try {
      for (;;) {
        const q = this.jobs.get(jobId);
        const d = q?.[0];
        if (!q || !d || this.stopped) return;
        d.started = true;
        await this.deliver(d);
        this.forget(d);
        if (q[0] === d) q.shift();
        if (q.length === 0 && this.jobs.get(jobId) === q) this.jobs.delete(jobId);
      }
    } finally {
      // In the same turn as the empty queue was seen: an event enqueued later starts a new loop.
      this.loops.delete(jobId);
    }
  }

  private async deliver(d: Delivery): Promise<void> {
    const base = this.opts.baseDelayMs ?? 1000;
    for (let attempt = 1; attempt <= this.opts.maxAttempts; attempt++) {
      if (d.ctl.signal.aborted) return;
      const outcome = await this.attempt(d, attempt);
      if (outcome !== 'retry') return;
      if (attempt < this.opts.maxAttempts) await pause(base * 2 ** (attempt - 1), d.ctl.signal);
    }
    if (!d.ctl.signal.aborted)
      this.log.warn(
        { job: d.jobId, event: d.event, attempts: this.opts.maxAttempts },
        'webhook not delivered; giving up',
      );
  }

  /** One POST, inside the receiver's and the global limit. */
  private async attempt(d: Delivery, attempt: number): Promise<'done' | 'retry' | 'aborted'> {
    const signal = d.ctl.signal;
    let host = this.hosts.get(d.host);
    if (!host) {
      host = new Limiter(this.perHost);
      this.hosts.set(d.host, host);
    }
    const hostLimiter = host;
    try {
      if (!(await hostLimiter.acquire(signal))) return 'aborted';
      try {
        if (!(await this.all.acquire(signal))) return 'aborted';
        try {
          return await this.post(d, attempt);
        } finally {
          this.all.release();
        }
      } finally {
        hostLimiter.release();
      }
    } finally {
      if (hostLimiter.idle && this.hosts.get(d.host) === hostLimiter) this.hosts.delete(d.host);
    }
  }

  private async post(d: Delivery, attempt: number): Promise<'done' | 'retry' | 'aborted'> {
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'nommer-webhook' };
    if (d.authorization) headers.authorization = d.authorization;
    if (this.opts.secret)
      headers[SIGNATURE_HEADER] = signPayload(this.opts.secret, d.body, Math.floor(Date.now() / 1000));
    // One signal for the timeout (the answer's body included) and for drop/stop.
    const req = new AbortController();
    const timer = setTimeout(
      () => req.abort(new DOMException('webhook timed out', 'TimeoutError')),
      this.opts.timeoutMs,
    );
    const onAbort = () => req.abort(d.ctl.signal.reason);
    d.ctl.signal.addEventListener('abort', onAbort, { once: true });
    d.sending = true;
    try {
      const url = new URL(d.url);
      const status = await send(
        url,
        url.protocol === 'https:' ? this.agents.https : this.agents.http,
        headers,
        d.body,
        req.signal,
      );
      if (status >= 200 && status < 300) return 'done';
      // 4xx other than 408/429: the receiver said no; retrying will not change its mind.
      // (3xx too: redirects are not followed.)
      if (status < 500 && status !== 408 && status !== 429) {
        this.log.warn({ job: d.jobId, event: d.event, status }, 'webhook refused; not retrying');
        return 'done';
      }
      this.log.warn({ job: d.jobId, event: d.event, status, attempt }, 'webhook failed');
      return 'retry';
    } catch (err) {
      if (d.ctl.signal.aborted) return 'aborted';
      this.log.warn({ job: d.jobId, event: d.event, attempt, err: (err as Error).message }, 'webhook failed');
      return 'retry';
    } finally {
      d.sending = false;
      clearTimeout(timer);
      d.ctl.signal.removeEventListener('abort', onAbort);
    }
  }

  /**
   * Wait (bounded) for the deliveries queued and under way, then stop: requests still on the wire
   * are aborted, nothing is retried or sent after, and the final events left undelivered are
   * logged (warnings naming each job). Returns within `timeoutMs` (plus a tick).
   */
  async drain(timeoutMs: number): Promise<void> {
    let timedOut = false;
    const bound = new Promise<void>((resolve) =>
      setTimeout(() => {
        timedOut = true;
        resolve();
      }, timeoutMs).unref(),
    );
    // Events may keep coming while we wait (new jobs' loops start as old ones end).
    while (this.loops.size > 0 && !timedOut) await Promise.race([Promise.allSettled([...this.loops.values()]), bound]);
    this.stopped = true;
    const left = [...this.queuedNonFinal, ...this.queuedFinal];
    for (const d of this.queuedFinal)
      this.log.warn({ job: d.jobId, event: d.event }, 'webhook not delivered: shutting down (a final event)');
    if (left.length > 0)
      this.log.warn(
        { undelivered: left.length, final: this.queuedFinal.size },
        'webhooks not delivered: shutting down',
      );
    for (const d of left) {
      this.forget(d);
      d.ctl.abort();
    }
    this.jobs.clear();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}
