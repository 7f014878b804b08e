// Budgets while jobs run: a job submitted with a cost limit (--max-cost) is failed with
// BUDGET_EXCEEDED as soon as its cost so far (finished attempts plus the running ones' time, at
// the job's slot price) passes the limit. Failing raises the job's fence, so its workers stop.
import { nanoUsdOfMs, usdOf } from '../cost/money.js';
import type { Logger } from '../log.js';
import { sql } from './store/rows.js';
import type { Store } from './store/index.js';

/**
 * Running jobs with a limit past it. A running attempt counts up to its last sign of life (its
 * latest event), not to now: after feederd was down, a task whose worker finished meanwhile is
 * not billed for the outage.
 */
function overBudget(store: Store, now: number): Array<{ id: string; limit: number; usd: number }> {
  const rows = sql(
    store.db,
    `SELECT j.id, json_extract(j.options, '$.maxCostUsd') AS max_usd,
      json_extract(j.options, '$.pricing.usdPerSlotHour') AS per_hour,
      j.worker_ms + (SELECT coalesce(sum(max(0, min(@now, coalesce(t.heartbeat_at, t.started_at)) - t.started_at)), 0)
        FROM tasks t WHERE t.job_id = j.id AND t.state = 'running' AND t.started_at IS NOT NULL) AS held_ms
    FROM jobs j WHERE j.state = 'running' AND json_extract(j.options, '$.maxCostUsd') IS NOT NULL`,
  ).all({ now }) as Array<{ id: string; max_usd: number; per_hour: number | null; held_ms: number }>;
  return rows
    .filter((r) => r.per_hour !== null)
    .map((r) => ({ id: r.id, limit: r.max_usd, usd: usdOf(nanoUsdOfMs(r.held_ms, r.per_hour!)) }))
    .filter((r) => r.usd > r.limit);
}

export class BudgetWatch {
  private timer?: NodeJS.Timeout;
  constructor(
    private readonly store: Store,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {}

  /** One check: fail each running job past its limit. Returns the ids failed. */
  check(): string[] {
    const failed: string[] = [];
    for (const j of overBudget(this.store, this.now())) {
      try {
        this.store.failJob(j.id, {
          code: 'BUDGET_EXCEEDED',
          message: `stopped at $${j.usd.toFixed(4)}, past its limit of $${j.limit} (--max-cost)`,
          retriable: false,
        });
        failed.push(j.id);
        this.log.warn({ job: j.id, usd: j.usd, limit: j.limit }, 'job stopped: over its cost limit');
      } catch (err) {
        // It ended meanwhile (JOB_STATE): nothing to stop.
        this.log.debug({ job: j.id, err: String(err) }, 'budget check: job already ended');
      }
    }
    return failed;
  }

  private stopped = false;

  start(): void {
    if (this.stopped || this.timer) return;
    this.timer = setInterval(() => this.check(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
  }
}
