// The instance ledger (migration 0008): every EC2 worker feederd's fleet manager launched or
// saw, with its launch, last sighting and end, its type, market and $/hour, and the slot time
// each job held on it. When an instance has ended and none of its tasks still runs, it is
// settled: its bill (billed seconds x price, EC2's 60 s minimum) is split over the jobs it ran by
// slot time, in whole nanodollars (fleet/attribution.ts), so boot time and the idle tail before
// it powered itself off are paid by the work that caused them, and the settled job costs add up
// to the settled bills exactly. An instance that ran nothing (it booted for a backlog others
// drained) is split over the jobs that ran on instances alive at the same time; with none, its
// bill stays in the ledger as unattributed (`nommer fleet` counts it in the spend).
//
// An end is noticed, not reported: an instance is taken as ended when feederd terminates it,
// when the cloud lists it as stopping or terminated (EC2 stops billing at shutting-down), or
// when it is no longer listed after having been; the time is when feederd noticed, at most one
// fleet tick (15 s) after the real end, so a bill errs high by at most a tick.
import type { Db } from '../../adapters/local/db.js';
import { attributeCosts, billedSeconds, splitExactly } from '../../fleet/attribution.js';
import type { InstancePrice } from '../../fleet/prices.js';
import type { WorkerNode } from '../../ports/fleet.js';
import { sql } from './rows.js';

/** The instance a worker id belongs to: `i-abc/1` (one slot of a multi-slot worker) is `i-abc`. */
export function instanceOfWorker(worker: string): string {
  return worker.replace(/\/\d+$/, '');
}

/** An attempt's slot time, to the instance it ran on (inside saveOutcome's transaction). */
export function recordInstanceUse(
  db: Db,
  worker: string,
  jobId: string,
  startedAt: number,
  heldMs: number,
  /** The part priced at the worker's own instance type (save-outcome.ts), taken back when settled. */
  typed?: { ms: number; nano: number },
): void {
  sql(
    db,
    `INSERT INTO instance_use (instance_id, job_id, held_ms, first_at, last_at, typed_ms, typed_nano)
    VALUES (@i, @j, @ms, @start, @end, @tms, @tnano)
    ON CONFLICT (instance_id, job_id) DO UPDATE SET held_ms = held_ms + excluded.held_ms,
      first_at = min(first_at, excluded.first_at), last_at = max(last_at, excluded.last_at),
      typed_ms = typed_ms + excluded.typed_ms, typed_nano = typed_nano + excluded.typed_nano`,
  ).run({
    i: instanceOfWorker(worker),
    j: jobId,
    ms: Math.round(heldMs),
    start: startedAt,
    end: startedAt + heldMs,
    tms: Math.round(typed?.ms ?? 0),
    tnano: typed?.nano ?? 0,
  });
}

export interface InstanceRecord {
  id: string;
  instanceType: string | null;
  spot: boolean;
  pricePerHour: number | null;
  priceBasis: string;
  launchedAt: number;
  firstTaskAt: number | null;
  lastSeenAt: number;
  endedAt: number | null;
  settledAt: number | null;
  billedSeconds: number | null;
  billedNanoUsd: number | null;
  unattributedNanoUsd: number | null;
}

interface InstanceRow {
  id: string;
  instance_type: string | null;
  spot: number;
  price_per_hour: number | null;
  price_basis: string;
  launched_at: number;
  first_task_at: number | null;
  last_seen_at: number;
  ended_at: number | null;
  settled_at: number | null;
  billed_seconds: number | null;
  billed_nano: number | null;
  unattributed_nano: number | null;
}

function fromRow(r: InstanceRow): InstanceRecord {
  return {
    id: r.id,
    instanceType: r.instance_type,
    spot: r.spot === 1,
    pricePerHour: r.price_per_hour,
    priceBasis: r.price_basis,
    launchedAt: r.launched_at,
    firstTaskAt: r.first_task_at,
    lastSeenAt: r.last_seen_at,
    endedAt: r.ended_at,
    settledAt: r.settled_at,
    billedSeconds: r.billed_seconds,
    billedNanoUsd: r.billed_nano,
    unattributedNanoUsd: r.unattributed_nano,
  };
}

export function listInstances(db: Db, opts: { since?: number } = {}): InstanceRecord[] {
  return (
    sql(db, 'SELECT * FROM instances WHERE coalesce(ended_at, last_seen_at) >= ? ORDER BY launched_at, id').all(
      opts.since ?? 0,
    ) as InstanceRow[]
  ).map(fromRow);
}

export interface InstanceSettlement {
  id: string;
  billedSeconds: number;
  billedNanoUsd: number;
  /** job id -> its share, nanodollars */
  shares: Map<string, number>;
  unattributedNanoUsd: number;
}

/** Prices for an instance: its type's on-demand (or spot) $/hour, or undefined when unknown. */
export type PriceOf = (node: WorkerNode) => InstancePrice | undefined;

export class InstanceLedger {
  constructor(
    private readonly db: Db,
    private readonly priceOf: PriceOf,
    /** EC2 Linux bills at least this many seconds per launch. */
    private readonly minimumSeconds = 60,
  ) {}

  /** Instances just launched (they may not be listed for a while). */
  launched(nodes: readonly WorkerNode[], now: number): void {
    const tx = this.db.transaction(() => {
      for (const n of nodes) this.insert(n, now);
    });
    tx();
  }

  /** What the cloud lists now: new ones recorded, live ones seen, gone ones ended. Then settles what it can. */
  observed(nodes: readonly WorkerNode[], now: number): InstanceSettlement[] {
    const tx = this.db.transaction(() => {
      const listed = new Set<string>();
      for (const n of nodes) {
        if (n.kind !== 'ec2') continue;
        listed.add(n.id);
        this.insert(n, now);
        if (n.state === 'stopping' || n.state === 'terminated') this.end(n.id, now);
        else
          sql(
            this.db,
            'UPDATE instances SET last_seen_at = max(last_seen_at, ?) WHERE id = ? AND ended_at IS NULL',
          ).run(now, n.id);
      }
      // Listed before (seen after its launch) and not now: it is gone.
      const open = sql(this.db, 'SELECT id FROM instances WHERE ended_at IS NULL AND last_seen_at > launched_at')
        .pluck()
        .all() as string[];
      for (const id of open) if (!listed.has(id)) this.end(id, now);
    });
    tx();
    return this.settle(now);
  }

  /** Instances feederd itself terminated. */
  terminated(ids: readonly string[], now: number): void {
    const tx = this.db.transaction(() => {
      for (const id of ids) this.end(id, now);
    });
    tx();
  }

  /** Settle every ended instance none of whose tasks still runs. */
  settle(now: number): InstanceSettlement[] {
    const ready = sql(
      this.db,
      `SELECT * FROM instances i WHERE settled_at IS NULL AND ended_at IS NOT NULL AND NOT EXISTS
        (SELECT 1 FROM tasks t WHERE t.state = 'running' AND (t.worker = i.id OR t.worker LIKE i.id || '/%'))
      ORDER BY ended_at, id`,
    ).all() as InstanceRow[];
    const out: InstanceSettlement[] = [];
    for (const r of ready) {
      const s = this.db.transaction(() => this.settleOne(r, now))();
      if (s) out.push(s);
    }
    return out;
  }

  private insert(n: WorkerNode, now: number): void {
    if (sql(this.db, 'SELECT 1 FROM instances WHERE id = ?').get(n.id)) return;
    // Priced once, when first recorded: the price in force at its launch.
    const p = this.priceOf(n);
    sql(
      this.db,
      `INSERT OR IGNORE INTO instances (id, instance_type, spot, price_per_hour, price_basis, launched_at, last_seen_at)
      VALUES (@id, @type, @spot, @price, @basis, @at, @at)`,
    ).run({
      id: n.id,
      type: n.instanceType ?? null,
      spot: n.spot ? 1 : 0,
      price: p?.usd ?? null,
      basis: p?.basis ?? `no price known for ${n.instanceType ?? 'an instance of unknown type'}`,
      at: Math.min(n.launchedAt, now),
    });
  }

  private end(id: string, now: number): void {
    sql(this.db, 'UPDATE instances SET ended_at = ? WHERE id = ? AND ended_at IS NULL').run(now, id);
  }

  private settleOne(r: InstanceRow, now: number): InstanceSettlement | undefined {
    const firstTask = sql(this.db, 'SELECT min(first_at) FROM instance_use WHERE instance_id = ? AND held_ms > 0')
      .pluck()
      .get(r.id) as number | null;
    if (r.price_per_hour === null) {
      // Nothing to split: the jobs keep their slot-time price.
      sql(this.db, 'UPDATE instances SET settled_at = ?, first_task_at = ? WHERE id = ?').run(now, firstTask, r.id);
      return undefined;
    }
    const inst = { id: r.id, launchedAt: r.launched_at, endedAt: r.ended_at!, pricePerHour: r.price_per_hour };
    const uses = sql(
      this.db,
      'SELECT job_id, held_ms, typed_ms, typed_nano FROM instance_use WHERE instance_id = ? AND held_ms > 0',
    ).all(r.id) as Array<{ job_id: string; held_ms: number; typed_ms: number; typed_nano: number }>;
    const secs = billedSeconds(inst, this.minimumSeconds);
    const shares = new Map<string, number>();
    let bill: number;
    if (uses.length > 0) {
      const a = attributeCosts(
        [inst],
        uses.map((u) => ({ jobId: u.job_id, instanceId: r.id, start: 0, end: u.held_ms })),
        this.minimumSeconds,
      );
      bill = a.totalNanoUsd;
      for (const j of a.jobs) shares.set(j.jobId, j.nanoUsd);
      const held = new Map(uses.map((u) => [u.job_id, u.held_ms]));
      const typed = new Map(uses.map((u) => [u.job_id, u]));
      for (const [jobId, nano] of shares) {
        // What was priced at the worker's own type is paid by the bill now, not twice.
        const t = typed.get(jobId)!;
        sql(
          this.db,
          'UPDATE jobs SET typed_ms = max(0, typed_ms - ?), typed_nano = max(0, typed_nano - ?) WHERE id = ?',
        ).run(t.typed_ms, t.typed_nano, jobId);
        sql(this.db, 'UPDATE instance_use SET share_nano = ? WHERE instance_id = ? AND job_id = ?').run(
          nano,
          r.id,
          jobId,
        );
        sql(this.db, 'UPDATE jobs SET settled_ms = settled_ms + ?, settled_nano = settled_nano + ? WHERE id = ?').run(
          held.get(jobId)!,
          nano,
          jobId,
        );
      }
    } else {
      bill = attributeCosts([inst], [], this.minimumSeconds).totalNanoUsd;
      // Ran nothing: the jobs that ran on instances alive at the same time pay, by their slot time there.
      const weights = sql(
        this.db,
        `SELECT u.job_id, sum(u.held_ms) AS ms FROM instance_use u JOIN instances i ON i.id = u.instance_id
        WHERE u.held_ms > 0 AND i.id != @id AND i.launched_at < @end AND coalesce(i.ended_at, @now) > @start
        GROUP BY u.job_id ORDER BY u.job_id`,
      ).all({ id: r.id, start: r.launched_at, end: r.ended_at, now }) as Array<{ job_id: string; ms: number }>;
      const split = splitExactly(
        bill,
        weights.map((w) => w.ms),
      );
      for (const [k, w] of weights.entries()) {
        if (split[k]! === 0) continue;
        shares.set(w.job_id, split[k]!);
        sql(this.db, 'INSERT INTO instance_use (instance_id, job_id, held_ms, share_nano) VALUES (?, ?, 0, ?)').run(
          r.id,
          w.job_id,
          split[k]!,
        );
        sql(this.db, 'UPDATE jobs SET settled_nano = settled_nano + ? WHERE id = ?').run(split[k]!, w.job_id);
      }
    }
    const given = [...shares.values()].reduce((a, b) => a + b, 0);
    sql(
      this.db,
      `UPDATE instances SET settled_at = @now, billed_seconds = @secs, billed_nano = @bill, unattributed_nano = @left,
        first_task_at = @first WHERE id = @id`,
    ).run({ now, secs, bill, left: bill - given, first: firstTask, id: r.id });
    return { id: r.id, billedSeconds: secs, billedNanoUsd: bill, shares, unattributedNanoUsd: bill - given };
  }
}
