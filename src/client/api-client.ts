// The JSON API client the CLI commands use to talk to feederd. It finds feederd through the data
// dir (feederd.json written at start: address and token), or NOMMER_API / --api.
import { readFile } from 'node:fs/promises';
import { NommerError } from '../errors.js';
import { dataPaths } from '../paths.js';

export interface ApiEndpoint {
  url: string;
  token?: string;
  pid?: number;
}

export async function discoverApi(home: string, override?: string, token?: string): Promise<ApiEndpoint | null> {
  const url = (override ?? process.env.NOMMER_API)?.replace(/\/+$/, '');
  if (url) {
    // The data dir's feederd at that address: its kept token, unless one is given.
    const rec = await readFile(dataPaths(home).api, 'utf8').then(
      (t) => JSON.parse(t) as Partial<ApiEndpoint>,
      () => undefined,
    );
    return { url, token: token ?? process.env.NOMMER_TOKEN ?? (rec?.url === url ? rec.token : undefined) };
  }
  try {
    const rec = JSON.parse(await readFile(dataPaths(home).api, 'utf8')) as Partial<ApiEndpoint>;
    // A stopped feederd leaves its token (kept for the next run) but no address.
    if (!rec.url) return null;
    return { url: rec.url, token: token ?? process.env.NOMMER_TOKEN ?? rec.token };
  } catch {
    return null;
  }
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

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
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
    if (!res.ok) {
      const e = (
        data as { error?: { code?: string; message?: string; retriable?: boolean; hint?: string } } | undefined
      )?.error;
      const code = (e?.code ?? (res.status === 401 ? 'UNAUTHORIZED' : 'API_ERROR')) as never;
      throw new NommerError(code, e?.message ?? `feederd answered HTTP ${res.status}`, {
        retriable: e?.retriable ?? false,
        hint: e?.hint ?? (res.status === 401 ? "set NOMMER_TOKEN to feederd's token" : undefined),
      });
    }
    return data as T;
  }

  health() {
    return this.request<{ ok: boolean; version: string; backend: string }>('GET', '/v1/health');
  }

  /**
   * Server-sent events of a job: calls onEvent for each until the stream ends or the signal aborts.
   * Reconnects (with Last-Event-ID) if the connection drops, a bounded number of times.
   */
  async events(jobId: string, onEvent: (type: string, data: unknown) => void, signal?: AbortSignal): Promise<void> {
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
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
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
            onEvent(type, JSON.parse(data));
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
