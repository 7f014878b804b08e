// What nommer has spent so far today and this month (UTC days and months, as AWS bills), from
// the store: the jobs' recorded costs, and the EC2 instance ledger's bills (store/instance-
// ledger.ts) when feederd's fleet manager launched instances. On EC2 the instance bills are the
// spend (boot and idle included; jobs are a split of them, exact once settled); with no ledger
// instances (the local backend, your own workers), the job costs are.
//
// A job counts in the period it finished in (a running one: now); an instance in the period it
// ended in (a live one: now, billed up to now, EC2's 60 s minimum included).
import type { Db } from '../adapters/local/db.js';
import { bill, formatUsd as money, usdOf } from './money.js';
import { instanceBillsSince, jobCostsSince } from '../orchestrator/store/spend-rows.js';

export interface PeriodSpend {
  /** ISO time the period starts (UTC). */
  from: string;
  jobs: {
    count: number;
    workerSeconds: number;
    /** Σ their costs, of the jobs with a price. */
    usd: number;
    /** Jobs with no price for their worker time (counted in workerSeconds only). */
    unpriced: number;
  };
  instances: {
    count: number;
    /** Σ bills: settled ones exactly, live ones up to now. */
    usd: number;
    /** Of which no job took a share (they ran nothing while nothing else ran). */
    unattributedUsd: number;
    /** Still running, billed so far. */
    live: number;
    /** Instances of a type with no known price (not in usd). */
    unpriced: number;
  };
  /** The spend: the instance bills when there are ledger instances, else the job costs. */
  usd: number;
  basis: 'instances' | 'jobs';
}

export interface Spend {
  at: string;
  timezone: 'UTC';
  today: PeriodSpend;
  month: PeriodSpend;
}

export function periodStarts(now: number): { day: number; month: number } {
  const d = new Date(now);
  return {
    day: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), d.getUTCDate()),
    month: Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1),
  };
}

export function spendSummary(db: Db, now: number = Date.now()): Spend {
  const starts = periodStarts(now);
  const jobs = jobCostsSince(db, starts.month, now).map((r) => ({
    at: r.finishedAt ?? now,
    ms: r.workerMs,
    nano: r.nanoUsd,
  }));
  const instances = instanceBillsSince(db, starts.month, now).map((r) => {
    const end = r.endedAt ?? now;
    // A settled instance's bill is the ledger's; a live one's is the same bill, up to now.
    const nano = r.billedNano ?? (r.pricePerHour === null ? null : bill(r, end, r.pricePerHour).nanoUsd);
    return { at: end, live: r.endedAt === null, bill: nano, unattributed: r.unattributedNano ?? 0 };
  });
  const period = (from: number): PeriodSpend => {
    const js = jobs.filter((j) => j.at >= from);
    const is = instances.filter((i) => i.at >= from);
    const jobNano = js.reduce((s, j) => s + (j.nano ?? 0), 0);
    const instNano = is.reduce((s, i) => s + (i.bill ?? 0), 0);
    const basis = is.length > 0 ? 'instances' : 'jobs';
    return {
      from: new Date(from).toISOString(),
      jobs: {
        count: js.length,
        workerSeconds: js.reduce((s, j) => s + j.ms, 0) / 1000,
        usd: usdOf(jobNano),
        unpriced: js.filter((j) => j.nano === null).length,
      },
      instances: {
        count: is.length,
        usd: usdOf(instNano),
        unattributedUsd: usdOf(is.reduce((s, i) => s + i.unattributed, 0)),
        live: is.filter((i) => i.live).length,
        unpriced: is.filter((i) => i.bill === null).length,
      },
      usd: usdOf(basis === 'instances' ? instNano : jobNano),
      basis,
    };
  };
  return { at: new Date(now).toISOString(), timezone: 'UTC', today: period(starts.day), month: period(starts.month) };
}

/** The spend lines `nommer fleet` prints. */
export function formatSpend(s: Spend): string[] {
  const col = (p: PeriodSpend) => [
    `${money(p.usd)}`,
    `${money(p.jobs.usd)} (${p.jobs.count} job${p.jobs.count === 1 ? '' : 's'}, ${p.jobs.workerSeconds.toFixed(1)} worker-s)`,
    `${money(p.instances.usd)} (${p.instances.count} instance${p.instances.count === 1 ? '' : 's'}${p.instances.live ? `, ${p.instances.live} live` : ''})`,
  ];
  const t = col(s.today);
  const m = col(s.month);
  const w = Math.max(...t.map((x) => x.length), 'today'.length);
  const rows = [
    ['spend (UTC)', 'today'.padEnd(w), 'this month'],
    ['total', t[0]!.padEnd(w), m[0]!],
    ['jobs', t[1]!.padEnd(w), m[1]!],
    ['instances', t[2]!.padEnd(w), m[2]!],
  ];
  const lines = rows.map((r) => `${r[0]!.padEnd(12)}${r[1]}  ${r[2]}`.trimEnd());
  lines.push(
    s.month.basis === 'instances'
      ? "total: the EC2 instance bills from feederd's ledger (boot and idle included; jobs are a split of them)"
      : "total: the jobs' recorded costs (no EC2 instances launched by feederd in this period)",
  );
  const unpriced = s.month.jobs.unpriced + s.month.instances.unpriced;
  if (unpriced > 0)
    lines.push(
      `${s.month.jobs.unpriced} job(s) and ${s.month.instances.unpriced} instance(s) this month have no price: set local.costPerHour or aws.ec2.prices`,
    );
  if (s.month.instances.unattributedUsd > 0)
    lines.push(`${money(s.month.instances.unattributedUsd)} of instance time ran no job and was charged to none`);
  return lines;
}
