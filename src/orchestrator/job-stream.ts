// Server-sent events of one job (GET /v1/jobs/:id/events): its history after Last-Event-ID, a
// `snapshot`, then live changes, and `end` once the job is final. src/client/api-client.ts (the
// CLI, the TUI) parses exactly this:
//
//   id: <event id>                  stored events only; progress ticks have none
//   event: job | snapshot | end
//   data: <one line of JSON>        job: {job, event}; snapshot and end: {job}
//
// and a `: ping` comment every 15 s so proxies keep the connection.
//
// Bounded. At most maxClients streams at once; the next one is answered 503 BUSY (retriable).
// Backpressure: the store is the buffer, not memory. While the socket takes writes the stream is
// live; once res.write returns false nothing more is queued for that client: progress ticks are
// dropped (the next event carries the numbers), and stored events are read back from the store
// after 'drain', from the last id sent (what a reconnect with Last-Event-ID would do). So history
// and state changes reach every client that stays connected, and what Node holds per client is
// one socket's high-water mark and a message. A client that falls further behind than
// maxUnsentBytes is cut off; it reconnects with Last-Event-ID.
//
// GET /v1/events is every job's stream, for the dashboard's list (one connection, where a stream
// per job would soon meet the browser's six connections per origin): a `snapshot` {jobs} of the
// newest jobs, then a `job` {job, event} per change of any job, new ones included. Nothing is
// read back from history: the snapshot is taken after subscribing, in the same tick, so no change
// falls between them. Its backpressure coalesces: while the socket is full only each job's latest
// change is kept (one per job, so memory is bounded by the jobs that changed, at most
// maxPendingJobs before the client is cut off and reconnects to a fresh snapshot).
import type { ServerResponse } from 'node:http';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { FINAL_STATES } from '../jobs/types.js';
import type { Job, JobEvent, Store } from './store/index.js';
import type * as z from 'zod';
import type { allJobsStreamEvents, jobStreamEvents, PublicEvent, PublicJob } from '../api/contract.js';

/** Concurrent event streams per feederd. */
export const MAX_SSE_CLIENTS = 256;
/** How far (bytes) a client may fall behind before it is cut off. */
export const SSE_MAX_UNSENT_BYTES = 1024 * 1024;
export const SSE_PING_MS = 15_000;
/** Once the job is final, how long a client that does not read gets before its socket is closed. */
export const SSE_END_GRACE_MS = 30_000;
/** Stored events read per query while catching up. */
const PAGE = 200;

const HEADERS = {
  'content-type': 'text/event-stream',
  'cache-control': 'no-cache',
  connection: 'keep-alive',
  'x-accel-buffering': 'no',
};

export interface JobStreamOptions {
  /** The same store the API serves. */
  store: Store;
  /** How clients see a job and an event (api.ts's publicJob and publicEvent). */
  publicJob: (j: Job) => PublicJob;
  publicEvent: (e: JobEvent) => PublicEvent;
  maxClients?: number;
  maxUnsentBytes?: number;
  /** Every job's stream: jobs with a change not yet written before the client is cut off. */
  maxPendingJobs?: number;

  pingMs?: number;
  endGraceMs?: number;
}

export interface JobStreamStats {
  /** Open streams (a stream that has sent `end` counts until its socket is done). */
  clients: number;
  /** What Node holds unsent for them, summed (response and socket buffers). */
  bufferedBytes: number;
  /** Bytes of stored events they are behind by (to be read back from the store), summed. */
  behindBytes: number;
}

interface OpenStream {
  res: ServerResponse;
  behind(): number;
}

export class JobStreams {
  readonly maxClients: number;
  readonly maxUnsentBytes: number;
  readonly pingMs: number;
  readonly endGraceMs: number;
  private readonly streams = new Set<OpenStream>();

  constructor(private readonly o: JobStreamOptions) {
    this.maxClients = o.maxClients ?? MAX_SSE_CLIENTS;
    this.maxUnsentBytes = o.maxUnsentBytes ?? SSE_MAX_UNSENT_BYTES;
    this.pingMs = o.pingMs ?? SSE_PING_MS;
    this.endGraceMs = o.endGraceMs ?? SSE_END_GRACE_MS;
  }

  stats(): JobStreamStats {
    let bufferedBytes = 0,
      behindBytes = 0;
    for (const s of this.streams) {
      bufferedBytes += s.res.writableLength;
      behindBytes += s.behind();
    }
    return { clients: this.streams.size, bufferedBytes, behindBytes };
  }

  /** Serve the stream of `job` (the route has checked that it exists). */
  handle(req: FastifyRequest, reply: FastifyReply, job: Job): void {
    const res = this.open(req, reply);
    if (res) this.serve(res, job.id, lastEventId(req.headers['last-event-id']));
  }

  /** Serve every job's stream: a snapshot of the newest `limit` jobs, then each change. */
  handleAll(req: FastifyRequest, reply: FastifyReply, limit: number): void {
    const res = this.open(req, reply);
    if (res) this.serveAll(res, limit);
  }

  /** The response to stream on, with its headers sent; null when answered already (busy, HEAD). */
  private open(req: FastifyRequest, reply: FastifyReply): ServerResponse | null {
    if (this.streams.size >= this.maxClients) {
      void reply
        .status(503)
        .header('retry-after', '5')
        .send({
          error: {
            code: 'BUSY',
            message: `feederd is serving its maximum of ${this.maxClients} event streams; try again shortly`,
            retriable: true,
          },
        });
      return null;
    }
    const res = reply.raw;
    reply.hijack();
    res.writeHead(200, HEADERS);
    // Node sends no body for HEAD: a stream would stay open with nothing to say.
    if (req.method === 'HEAD') {
      res.end();
      return null;
    }
    return res;
  }

  private serveAll(res: ServerResponse, limit: number): void {
    const { store, publicJob, publicEvent } = this.o;
    const maxPending = this.o.maxPendingJobs ?? 10_000;
    const message = sseWriter<ReturnType<typeof allJobsStreamEvents>>();
    const change = (j: Job, e: JobEvent) => message('job', { job: publicJob(j), event: publicEvent(e) });
    /** Jobs whose latest change waits for 'drain' (insertion order: the order they changed in). */
    const pending = new Map<string, string>();
    let full = false;
    let closed = false;
    const write = (chunk: string): void => {
      if (closed) return;
      if (!res.write(chunk) && !full) {
        full = true;
        res.once('drain', onDrain);
      }
    };
    const onDrain = () => {
      full = false;
      for (const [id, chunk] of pending) {
        pending.delete(id);
        write(chunk);
        if (full) return;
      }
    };
    const unsubscribe = store.subscribe((c) => {
      if (closed) return;
      if (!full) {
        write(change(c.job, c.event));
        return;
      }
      pending.delete(c.jobId);
      pending.set(c.jobId, change(c.job, c.event));
      if (pending.size > maxPending) res.destroy();
    });
    const ping = setInterval(() => {
      if (!full) write(': ping\n\n');
    }, this.pingMs);
    const entry: OpenStream = { res, behind: () => [...pending.values()].reduce((n, c) => n + c.length, 0) };
    const onClose = () => {
      if (closed) return;
      closed = true;
      unsubscribe();
      clearInterval(ping);
      res.removeListener('drain', onDrain);
      pending.clear();
      this.streams.delete(entry);
    };
    this.streams.add(entry);
    res.on('close', onClose);
    res.on('error', () => {
      res.destroy();
      onClose();
    });
    if (res.destroyed) {
      onClose();
      return;
    }
    write(message('snapshot', { jobs: store.listJobs({ limit, cursor: null }).jobs.map(publicJob) }));
  }

  private serve(res: ServerResponse, jobId: string, afterId: number): void {
    const stream = new OneJobStream(res, jobId, afterId, {
      ...this.o,
      maxUnsentBytes: this.maxUnsentBytes,
      pingMs: this.pingMs,
      endGraceMs: this.endGraceMs,
    });
    const entry: OpenStream = { res, behind: () => stream.behindBytes() };
    this.streams.add(entry);
    stream.start(() => this.streams.delete(entry));
  }
}

type OneJobStreamOptions = Pick<JobStreamOptions, 'store' | 'publicJob' | 'publicEvent'> & {
  maxUnsentBytes: number;
  pingMs: number;
  endGraceMs: number;
};

/** One client's stream of one job: history from the store, a snapshot, live changes, `end`. */
class OneJobStream {
  private readonly message = sseWriter<ReturnType<typeof jobStreamEvents>>();
  private lastSent: number;
  /** Caught up with the store and the socket takes writes: changes are written as they come. */
  private live = false;
  private waitingDrain = false;
  private snapshotSent = false;
  /** `end` written or the client cut off: nothing more is sent. */
  private done = false;
  private closed = false;
  /** Bytes of stored events that came while not live and are not written yet; from which id. */
  private behind = 0;
  private behindFrom = Number.POSITIVE_INFINITY;
  private grace: NodeJS.Timeout | undefined;
  private ping: NodeJS.Timeout | undefined;
  private unsubscribe: () => void = () => {};
  private onGone: () => void = () => {};

  constructor(
    private readonly res: ServerResponse,
    private readonly jobId: string,
    afterId: number,
    private readonly o: OneJobStreamOptions,
  ) {
    this.lastSent = afterId;
  }

  behindBytes(): number {
    return this.behind;
  }

  /** Subscribe, ping, and write what the store has; `onGone` runs once when the socket closes. */
  start(onGone: () => void): void {
    this.onGone = onGone;
    this.unsubscribe = this.o.store.subscribe((c) => {
      if (c.jobId === this.jobId && !this.done) this.onChange(c.job, c.event);
    });
    this.ping = setInterval(() => {
      if (!this.waitingDrain) this.write(': ping\n\n');
    }, this.o.pingMs);
    // Every way out (end flushed, client gone, cut, socket error) ends in 'close'.
    this.res.on('close', this.onClose);
    this.res.on('error', () => {
      this.cut();
      this.onClose();
    });
    if (this.res.destroyed) {
      this.onClose();
      return;
    }
    this.catchUp();
  }

  private jobMessage(j: Job, e: JobEvent): string {
    return this.message('job', { job: this.o.publicJob(j), event: this.o.publicEvent(e) }, e.id);
  }

  private write(chunk: string): boolean {
    if (this.done) return false;
    const ok = this.res.write(chunk);
    if (!ok) {
      this.live = false;
      if (!this.waitingDrain) {
        this.waitingDrain = true;
        this.res.once('drain', this.onDrain);
      }
    }
    return ok;
  }

  private readonly onDrain = (): void => {
    this.waitingDrain = false;
    this.catchUp();
  };

  // Until the store has no more after lastSent (then: snapshot once, `end` if final, live) or
  // the socket is full (then again on 'drain').
  private catchUp(): void {
    while (!this.done) {
      const page = this.o.store.listJobEvents(this.jobId, { afterId: this.lastSent, limit: PAGE });
      if (page.length === 0) break;
      const job = this.o.store.getJob(this.jobId);
      if (!job) {
        this.cut();
        return;
      }
      if (!this.writePage(job, page)) return;
    }
    if (this.done) return;
    const now = this.o.store.getJob(this.jobId);
    if (!now) {
      this.cut();
      return;
    }
    if (!this.snapshotSent) {
      this.snapshotSent = true;
      this.write(this.message('snapshot', { job: this.o.publicJob(now) }));
    }
    if (FINAL_STATES.has(now.state)) {
      this.end(now);
      return;
    }
    this.behind = 0;
    this.behindFrom = Number.POSITIVE_INFINITY;
    this.live = !this.waitingDrain;
  }

  /** Write stored events; false when the socket filled up (catchUp goes on after 'drain'). */
  private writePage(job: Job, page: JobEvent[]): boolean {
    for (const e of page) {
      const chunk = this.jobMessage(job, e);
      this.lastSent = e.id ?? this.lastSent;
      if (e.id !== null && e.id >= this.behindFrom) this.behind = Math.max(0, this.behind - Buffer.byteLength(chunk));
      if (!this.write(chunk)) {
        if (FINAL_STATES.has(job.state)) this.armGrace();
        return false;
      }
    }
    return true;
  }

  private onChange(job: Job, e: JobEvent): void {
    if (e.id !== null && e.id <= this.lastSent) return;
    if (this.live) {
      this.write(this.jobMessage(job, e));
      if (e.id !== null) {
        this.lastSent = e.id;
        if (FINAL_STATES.has(job.state)) this.end(job);
      }
      return;
    }
    // Not live: a progress tick is dropped; a stored event waits in the store for catchUp.
    if (e.id === null) return;
    this.behindFrom = Math.min(this.behindFrom, e.id);
    this.behind += Buffer.byteLength(this.jobMessage(job, e));
    if (this.res.writableLength + this.behind > this.o.maxUnsentBytes) {
      this.cut();
      return;
    }
    // The job is over: a client that does not catch up soon is not coming back for it.
    if (FINAL_STATES.has(job.state)) this.armGrace();
  }

  private stop(): void {
    this.unsubscribe();
    clearInterval(this.ping);
  }

  private armGrace(): void {
    this.grace ??= setTimeout(() => this.res.destroy(), this.o.endGraceMs);
  }

  private end(j: Job): void {
    if (this.done) return;
    this.write(this.message('end', { job: this.o.publicJob(j) }));
    this.done = true;
    this.live = false;
    this.stop();
    this.res.end();
    if (!this.res.writableFinished) this.armGrace();
  }

  private cut(): void {
    if (this.closed) return;
    this.done = true;
    this.live = false;
    this.stop();
    this.res.destroy();
  }

  private readonly onClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.done = true;
    this.live = false;
    this.stop();
    clearTimeout(this.grace);
    this.res.removeListener('drain', this.onDrain);
    this.onGone();
  };
}

/** A stream's message writer: each event's data as the contract has it for that event (api/contract.ts). */
function sseWriter<E extends Record<string, z.ZodType>>() {
  return <K extends keyof E & string>(type: K, data: z.output<E[K]>, id?: number | null): string =>
    `${id ? `id: ${id}\n` : ''}event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
}

/** The Last-Event-ID header as an event id to resume after (0: from the start). */
function lastEventId(header: string | string[] | undefined): number {
  const n = Number(Array.isArray(header) ? header[0] : (header ?? 0));
  return Number.isFinite(n) && n > 0 ? n : 0;
}
