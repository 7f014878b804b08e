// The JSON API client the CLI commands use to talk to feederd. It finds feederd through the data
// dir (feederd.json written at start: address and token), or NOMMER_API / --api.
import { ERROR_CODES, NommerError, type ErrorCode } from '../errors.js';
import { dataPaths } from '../paths.js';
import { readEndpointFile, readEndpointFileOrNone } from './endpoint-file.js';
import * as z from 'zod';
import * as c from '../api/contract.js';
import type {
  Created,
  CreateJobBody,
  DryRunView,
  Health,
  JobAnswer,
  JobDetailView,
  JobPage,
  JobStreamMessage,
  LoginCode,
  PresetList,
  Summary,
  CreateWatchBody,
  WatchAnswer,
  WatchList,
} from '../api/contract.js';

export interface ApiEndpoint {
  url: string;
  token?: string;
  pid?: number;
}

export async function discoverApi(home: string, override?: string, token?: string): Promise<ApiEndpoint | null> {
  const url = (override ?? process.env.NOMMER_API)?.replace(/\/+$/, '');
  if (url) {
    // The data dir's feederd at that address: its kept token, unless one is given.
    const rec = readEndpointFileOrNone(dataPaths(home).api);
    return { url, token: token ?? process.env.NOMMER_TOKEN ?? (rec?.url === url ? rec.token : undefined) };
  }
  const rec = readEndpointFile(dataPaths(home).api);
  // A stopped feederd leaves its token (kept for the next run) but no address.
  if (!rec?.url) return null;
  return { url: rec.url, token: token ?? process.env.NOMMER_TOKEN ?? rec.token };
}

export class ApiClient {
  constructor(
    readonly endpoint: ApiEndpoint,
    private readonly timeoutMs = 30_000,
  ) {}

  private headers(json: boolean): Record<string, string> {
    const h: Record<string, string> = {};
    if (json) h['content-type'] = 'application/json';
    if (this.endpoint.token) h.authorization = `Bearer ${this.endpoint.token}`;
    return h;
  }

  /**
   * One call, its answer as JSON (undefined when empty), or the error feederd answered as a
   * NommerError. Untyped: the route methods below parse the answer with the contract's schema.
   */
  async call(method: string, path: string, body?: unknown): Promise<unknown> {
    let res: Response;
    try {
      res = await fetch(this.endpoint.url + path, {
        method,
        headers: this.headers(body !== undefined),
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(this.timeoutMs),
      });
    } catch (err) {
      throw new NommerError(
        'API_UNREACHABLE',
        `cannot reach feederd at ${this.endpoint.url}: ${(err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message}`,
        { retriable: true, hint: 'start it with `nommer feederd --daemon`, or check --api / NOMMER_API' },
      );
    }
    const text = await res.text();
    let data: unknown;
    try {
      data = text ? JSON.parse(text) : undefined;
    } catch {
      data = undefined;
    }
    if (!res.ok) throw answeredError(res.status, data);
    return data;
  }

  /** A call whose answer must fit `schema`; one that does not is an API_ERROR naming the route. */
  private async get<S extends z.ZodType>(
    schema: S,
    method: string,
    path: string,
    body?: unknown,
  ): Promise<z.output<S>> {
    const r = schema.safeParse(await this.call(method, path, body));
    if (r.success) return r.data;
    const first = r.error.issues[0];
    throw new NommerError(
      'API_ERROR',
      `feederd's answer to ${method} ${path.split('?')[0]} is not what this client expects: ${first ? `${first.path.join('.') || '(body)'}: ${first.message}` : 'invalid'}`,
      { hint: 'feederd and this CLI may be different versions: restart feederd with this one' },
    );
  }

  health(): Promise<Health> {
    return this.get(c.health(), 'GET', '/v1/health');
  }

  /** A new job, or the one its idempotency key already made. */
  createJob(body: CreateJobBody): Promise<Created> {
    return this.get(c.created(), 'POST', '/v1/jobs', { ...body, dryRun: false });
  }

  /** The outputs as feederd would resolve them, and its estimate: nothing is created. */
  dryRun(body: CreateJobBody): Promise<DryRunView> {
    return this.get(c.dryRun(), 'POST', '/v1/jobs', { ...body, dryRun: true });
  }

  listJobs(q: { state?: string | readonly string[]; limit?: number; cursor?: string | null } = {}): Promise<JobPage> {
    const params = new URLSearchParams();
    if (q.state?.length) params.set('state', [q.state].flat().join(','));
    if (q.limit !== undefined) params.set('limit', String(q.limit));
    if (q.cursor) params.set('cursor', q.cursor);
    const query = params.toString();
    return this.get(c.jobPage(), 'GET', `/v1/jobs${query ? `?${query}` : ''}`);
  }

  getJob(id: string): Promise<JobDetailView> {
    return this.get(c.jobDetail(), 'GET', `/v1/jobs/${encodeURIComponent(id)}`);
  }

  cancelJob(id: string): Promise<JobAnswer> {
    return this.get(c.jobAnswer(), 'POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`, {});
  }

  retryJob(id: string): Promise<JobAnswer> {
    return this.get(c.jobAnswer(), 'POST', `/v1/jobs/${encodeURIComponent(id)}/retry`, {});
  }

  presets(): Promise<PresetList> {
    return this.get(c.presetList(), 'GET', '/v1/presets');
  }

  summary(): Promise<Summary> {
    return this.get(c.summary(), 'GET', '/v1/summary');
  }

  /** A one-time dashboard login link (`nommer dashboard`). */
  loginCode(): Promise<LoginCode> {
    return this.get(c.loginCode(), 'POST', '/v1/dashboard/login-codes', {});
  }

  /** A new watch, checked by feederd (the folder or prefix there, the presets known). */
  addWatch(body: CreateWatchBody): Promise<WatchAnswer> {
    return this.get(c.watchAnswer(), 'POST', '/v1/watches', body);
  }

  listWatches(): Promise<WatchList> {
    return this.get(c.watchList(), 'GET', '/v1/watches');
  }

  /** The watch as it was; WATCH_NOT_FOUND when there is none by that id. */
  removeWatch(id: string): Promise<WatchAnswer> {
    return this.get(c.watchAnswer(), 'DELETE', `/v1/watches/${encodeURIComponent(id)}`);
  }

  /**
   * Server-sent events of a job: calls onEvent for each until the stream ends or the signal aborts.
   * Reconnects (with Last-Event-ID) if the connection drops, a bounded number of times.
   */
  async events(jobId: string, onEvent: (m: JobStreamMessage) => void, signal?: AbortSignal): Promise<void> {
    let lastId: string | undefined;
    for (let tries = 0; tries < 20 && !signal?.aborted; tries++) {
      try {
        const res = await fetch(`${this.endpoint.url}/v1/jobs/${encodeURIComponent(jobId)}/events`, {
          headers: {
            ...this.headers(false),
            accept: 'text/event-stream',
            ...(lastId ? { 'last-event-id': lastId } : {}),
          },
          signal,
        });
        if (!res.ok || !res.body) throw new NommerError('API_ERROR', `event stream: HTTP ${res.status}`);
        const decoder = new TextDecoder();
        let buf = '';
        for await (const chunk of res.body) {
          buf += decoder.decode(chunk, { stream: true });
          let sep: number;
          while ((sep = buf.indexOf('\n\n')) >= 0) {
            const raw = buf.slice(0, sep);
            buf = buf.slice(sep + 2);
            let type = 'message',
              data = '',
              id: string | undefined;
            for (const line of raw.split('\n')) {
              if (line.startsWith('event:')) type = line.slice(6).trim();
              else if (line.startsWith('data:')) data += line.slice(5).trim();
              else if (line.startsWith('id:')) id = line.slice(3).trim();
            }
            if (id) lastId = id;
            if (!data) continue;
            const m = parseStreamed(jobId, type, data);
            if (m) onEvent(m);
            if (type === 'end') return;
          }
        }
        return;
      } catch (err) {
        if (signal?.aborted) return;
        if (err instanceof NommerError && err.code === 'API_ERROR') throw err;
        await new Promise((r) => setTimeout(r, 500));
      }
    }
  }
}

/** One event of a job's stream, or API_ERROR (not a dropped connection to retry) when it does not parse. */
function parseStreamed(jobId: string, type: string, data: string): JobStreamMessage | null {
  try {
    return c.parseJobStreamMessage(type, JSON.parse(data));
  } catch (err) {
    const why = err instanceof z.ZodError ? (err.issues[0]?.message ?? 'invalid') : 'not JSON';
    throw new NommerError(
      'API_ERROR',
      `feederd's '${type}' event for job ${jobId} is not what this client expects: ${why}`,
      {
        hint: 'feederd and this CLI may be different versions: restart feederd with this one',
      },
    );
  }
}

/** What feederd answered with an error status, as the NommerError it names. */
function answeredError(status: number, data: unknown): NommerError {
  const r = c.errorBody().safeParse(data);
  const e = r.success ? r.data.error : undefined;
  return new NommerError(
    e && isErrorCode(e.code) ? e.code : status === 401 ? 'UNAUTHORIZED' : 'API_ERROR',
    // A code this client does not know (a newer feederd's) stays in the message.
    e ? (isErrorCode(e.code) ? e.message : `${e.code}: ${e.message}`) : `feederd answered HTTP ${status}`,
    {
      retriable: e?.retriable ?? false,
      hint: e?.hint ?? (status === 401 ? "set NOMMER_TOKEN to feederd's token" : undefined),
    },
  );
}

const isErrorCode = (code: string): code is ErrorCode => (ERROR_CODES as readonly string[]).includes(code);
