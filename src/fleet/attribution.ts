// Who pays for the fleet: each instance's bill split over the jobs it ran, pro rata by the
// seconds their tasks held its slots, so boot time, the idle tail before self-termination and
// half-empty slots are all paid by the work that caused them. An instance that ran nothing (it
// booted for a backlog others drained) is split over every job of the period the same way. The
// split is in whole nanodollars with largest remainders, so the job costs add up exactly to the
// fleet's bill: Σ jobs = Σ instances = Σ billed seconds × price. Pure.

export const NANO = 1e9;

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

/** EC2 bills Linux per second with a 60 s minimum. */
export function billedSeconds(i: BilledInstance, minimumSeconds = 60): number {
  return Math.max(minimumSeconds, Math.ceil(Math.max(0, i.endedAt - i.launchedAt) / 1000));
}

/** Split `total` (an integer) over `weights` in proportion, exactly: largest remainders. */
export function splitExactly(total: number, weights: number[]): number[] {
  const sum = weights.reduce((a, b) => a + b, 0);
  if (sum <= 0 || weights.length === 0) return weights.map(() => 0);
  const raw = weights.map((w) => (total * w) / sum);
  const out = raw.map(Math.floor);
  let left = total - out.reduce((a, b) => a + b, 0);
  const order = raw.map((r, i) => ({ i, frac: r - Math.floor(r) })).sort((a, b) => b.frac - a.frac || a.i - b.i);
  for (let k = 0; left > 0 && k < order.length; k++, left--) out[order[k]!.i]!++;
  return out;
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
    const secs = billedSeconds(inst, minimumSeconds);
    const bill = Math.round((secs * inst.pricePerHour * NANO) / 3600);
    const perJob = held.get(inst.id);
    const usedMs = perJob ? [...perJob.values()].reduce((a, b) => a + b, 0) : 0;
    out.push({ id: inst.id, billedSeconds: secs, nanoUsd: bill, idleSeconds: Math.max(0, secs - usedMs / 1000) });
    if (!perJob || usedMs === 0) {
      orphan += bill;
      continue;
    }
    const ids = [...perJob.keys()];
    const shares = splitExactly(
      bill,
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
    usd: nanos.get(jobId)! / NANO,
  }));
  return { jobs, instances: out, totalNanoUsd: out.reduce((s, i) => s + i.nanoUsd, 0) };
}
