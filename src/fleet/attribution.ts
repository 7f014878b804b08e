// Who pays for the fleet: each instance's bill split over the jobs it ran, pro rata by the
// seconds their tasks held its slots, so boot time, the idle tail before self-termination and
// half-empty slots are all paid by the work that caused them. An instance that ran nothing (it
// booted for a backlog others drained) is split over every job of the period the same way. The
// split is in whole nanodollars with largest remainders, so the job costs add up exactly to the
// fleet's bill: Σ jobs = Σ instances = Σ billed seconds × price. The bills, the rounding and the
// split are cost/money.ts's. Pure.
import { bill, billedSeconds, NANO, splitExactly, usdOf } from '../cost/money.js';

export { billedSeconds, NANO, splitExactly };

export interface BilledInstance {
  id: string;
  /** ms since the epoch */
  launchedAt: number;
  /** ms since the epoch; when it stopped billing */
  endedAt: number;
  /** $/hour (on demand, or the spot price it paid) */
  pricePerHour: number;
}

export interface SlotUse {
  jobId: string;
  instanceId: string;
  /** ms since the epoch: lease to ack (or to the end of the attempt) */
  start: number;
  end: number;
}

export interface JobCost {
  jobId: string;
  /** Seconds its tasks held a slot, retries included. */
  workerSeconds: number;
  nanoUsd: number;
  usd: number;
}

export interface Attribution {
  jobs: JobCost[];
  instances: Array<{ id: string; billedSeconds: number; nanoUsd: number; idleSeconds: number }>;
  /** Σ instance bills, in nanodollars (equal to Σ jobs' nanoUsd when any job ran). */
  totalNanoUsd: number;
}

export function attributeCosts(instances: BilledInstance[], uses: SlotUse[], minimumSeconds = 60): Attribution {
  const held = new Map<string, Map<string, number>>(); // instance -> job -> ms
  const jobMs = new Map<string, number>();
  for (const u of uses) {
    const ms = Math.max(0, u.end - u.start);
    let perJob = held.get(u.instanceId);
    if (!perJob) held.set(u.instanceId, (perJob = new Map()));
    perJob.set(u.jobId, (perJob.get(u.jobId) ?? 0) + ms);
    jobMs.set(u.jobId, (jobMs.get(u.jobId) ?? 0) + ms);
  }
  const nanos = new Map<string, number>([...jobMs.keys()].map((j) => [j, 0]));
  const out: Attribution['instances'] = [];
  let orphan = 0;
  for (const inst of instances) {
    const { billedSeconds: secs, nanoUsd } = bill(inst, inst.endedAt, inst.pricePerHour, minimumSeconds);
    const perJob = held.get(inst.id);
    const usedMs = perJob ? [...perJob.values()].reduce((a, b) => a + b, 0) : 0;
    out.push({ id: inst.id, billedSeconds: secs, nanoUsd, idleSeconds: Math.max(0, secs - usedMs / 1000) });
    if (!perJob || usedMs === 0) {
      orphan += nanoUsd;
      continue;
    }
    const ids = [...perJob.keys()];
    const shares = splitExactly(
      nanoUsd,
      ids.map((j) => perJob.get(j)!),
    );
    for (const [k, j] of ids.entries()) nanos.set(j, nanos.get(j)! + shares[k]!);
  }
  if (orphan > 0) {
    const ids = [...jobMs.keys()];
    const shares = splitExactly(
      orphan,
      ids.map((j) => jobMs.get(j)!),
    );
    for (const [k, j] of ids.entries()) nanos.set(j, nanos.get(j)! + shares[k]!);
  }
  const jobs = [...jobMs.keys()].map((jobId) => ({
    jobId,
    workerSeconds: jobMs.get(jobId)! / 1000,
    nanoUsd: nanos.get(jobId)!,
    usd: usdOf(nanos.get(jobId)!),
  }));
  return { jobs, instances: out, totalNanoUsd: out.reduce((s, i) => s + i.nanoUsd, 0) };
}
