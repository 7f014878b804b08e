// Webhooks: each state change of a job with a notify URL is POSTed there as JSON, signed
// (HMAC-SHA256 over "<timestamp>.<body>") when a secret is configured, retried with exponential
// backoff. Deliveries run beside dispatch and never block it. Progress ticks are not sent.
import { createHmac } from 'node:crypto';
import type { Logger } from '../log.js';
import type { Store, StoreChange } from './store/index.js';

export const SIGNATURE_HEADER = 'x-nommer-signature';

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
}

export class Notifier {
  private readonly pending = new Set<Promise<void>>();
  private stopped = false;
  constructor(private readonly opts: NotifierOptions, private readonly log: Logger) {}

  attach(store: Store): () => void {
    return store.subscribe((c) => this.onChange(c));
  }

  private onChange(c: StoreChange): void {
    if (!c.job.notifyUrl || c.event.type === 'progress' || this.stopped) return;
    const body = JSON.stringify({
      event: c.event.type,
      at: new Date(c.event.at).toISOString(),
      job: { id: c.job.id, state: c.job.state, phase: c.job.phase, attempt: c.job.attempt, progress: c.job.progress, input: c.job.input, outputs: c.job.outputs.map((o) => ({ preset: o.preset.name, uri: o.uri, bytes: o.bytes })), error: c.job.error },
      message: c.event.message,
    });
    const p = this.deliver(c.job.notifyUrl, body, c.job.id).finally(() => this.pending.delete(p));
    this.pending.add(p);
  }

  private async deliver(url: string, body: string, jobId: string): Promise<void> {
    const base = this.opts.baseDelayMs ?? 1000;
    for (let attempt = 1; attempt <= this.opts.maxAttempts && !this.stopped; attempt++) {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'nommer-webhook' };
      if (this.opts.secret) headers[SIGNATURE_HEADER] = signPayload(this.opts.secret, body, Math.floor(Date.now() / 1000));
      try {
        const res = await fetch(url, { method: 'POST', headers, body, signal: AbortSignal.timeout(this.opts.timeoutMs), redirect: 'manual' });
        if (res.ok) return;
        // 4xx other than 408/429: the receiver said no; retrying will not change its mind.
        if (res.status < 500 && res.status !== 408 && res.status !== 429) {
          this.log.warn({ job: jobId, status: res.status }, 'webhook refused; not retrying');
          return;
        }
        this.log.warn({ job: jobId, status: res.status, attempt }, 'webhook failed');
      } catch (err) {
        this.log.warn({ job: jobId, attempt, err: (err as Error).message }, 'webhook failed');
      }
      if (attempt < this.opts.maxAttempts) await new Promise((r) => setTimeout(r, base * 2 ** (attempt - 1)).unref());
    }
  }

  /** Wait (bounded) for deliveries under way, then stop retrying. */
  async drain(timeoutMs: number): Promise<void> {
    await Promise.race([Promise.allSettled([...this.pending]), new Promise((r) => setTimeout(r, timeoutMs).unref())]);
    this.stopped = true;
  }
}
