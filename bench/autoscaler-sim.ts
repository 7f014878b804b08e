// Replays four workload traces through the autoscaler and prints, per trace, instance-hours,
// p50/p95 queue wait and makespan for nommer's policy (scale-in by draining), today's (scale-in by
// idle exit only), a naive one (one instance per job up to max), two clairvoyant bounds and the
// any-policy floor; then the bursty-trace targets at 2 and 4 slots per instance, side by side.
// Run: node dist/bench/autoscaler-sim.js [--seed N] [--throttle RATE] [--idle-exit S] [--slots N] [--max N]

import {
  bigBatchTrace,
  blindPacking,
  burstyTrace,
  clairvoyant,
  clairvoyantNoMigration,
  DEFAULT_DURATIONS,
  DEFAULT_PARAMS,
  floorSeconds,
  meanDuration,
  simulate,
  steadyTrace,
  trickleTrace,
  type SimParams,
  type SimResult,
  type Trace,
} from './sim-core.js';

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

const seed = Number(arg('--seed') ?? 7);
const params: SimParams = {
  ...DEFAULT_PARAMS,
  seed,
  throttleRate: Number(arg('--throttle') ?? 0),
  idleExitSeconds: Number(arg('--idle-exit') ?? DEFAULT_PARAMS.idleExitSeconds),
  slotsPerInstance: Number(arg('--slots') ?? DEFAULT_PARAMS.slotsPerInstance),
  maxInstances: Number(arg('--max') ?? DEFAULT_PARAMS.maxInstances),
};

const fmtS = (s: number) =>
  s < 120 ? `${s.toFixed(0)} s` : s < 7200 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(2)} h`;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const pct = (x: number) =>
  `${((x - 1) * 100)
    .toFixed(1)
    .replace(/^-0\.0$/, '0.0')
    .replace(/^(?!-)/, '+')}%`;

function row(cols: string[], widths: number[]): string {
  return cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

/** A result's instance-hours, its ratio to each reference, and its waits: table columns. */
function costCols(r: SimResult, refs: SimResult[]): string[] {
  return [
    r.instanceHours.toFixed(2),
    ...refs.map((b) => pct(r.instanceSeconds / b.instanceSeconds)),
    fmtS(r.p50Wait),
    fmtS(r.p95Wait),
    fmtS(mean(r.waits)),
  ];
}

function table(tr: Trace, results: SimResult[], refs: SimResult[], bound: SimResult, floor: number): void {
  const work = tr.jobs.reduce((s, j) => s + j.duration, 0);
  console.log(`\n## ${tr.name}: ${tr.description} — ${tr.jobs.length} jobs, ${(work / 3600).toFixed(1)} h of encoding`);
  const widths = [27, 11, 9, 9, 9, 10, 10, 9, 5];
  console.log(
    row(
      ['policy', 'instance-h', 'vs bound', 'p50 wait', 'p95 wait', 'mean wait', 'makespan', 'launches', 'peak'],
      widths,
    ),
  );
  const line = (r: SimResult) =>
    console.log(
      row([r.policy, ...costCols(r, [bound]), fmtS(r.makespan), String(r.launches), String(r.peakInstances)], widths),
    );
  for (const r of [...results, ...refs, bound]) line(r);
  console.log(
    row(
      [
        'floor (any policy)',
        (floor / 3600).toFixed(2),
        pct(floor / bound.instanceSeconds),
        '-',
        '-',
        '-',
        '-',
        '-',
        '-',
      ],
      widths,
    ),
  );
  for (const r of results) {
    if (r.jobsDone !== tr.jobs.length)
      console.log(`!! ${r.policy}: only ${r.jobsDone}/${tr.jobs.length} jobs finished`);
    if (r.busyTerminations > 0) console.log(`!! ${r.policy}: terminated ${r.busyTerminations} busy instances`);
    if (r.throttledCalls > 0) console.log(`   ${r.policy}: ${r.throttledCalls} launch calls throttled (backed off)`);
  }
}

console.log('# nommer autoscaler simulation');
console.log(
  `seed ${seed}; slots per instance ${params.slotsPerInstance}; max ${params.maxInstances}, min ${params.minInstances}; boot uniform ${params.bootMinSeconds}-${params.bootMaxSeconds} s; ` +
    `worker idle exit ${params.idleExitSeconds} s; drain seen after ${params.drainNoticeSeconds} s; tick ${params.tickSeconds} s; list lag ${params.listLagSeconds} s; throttle rate ${params.throttleRate}; ` +
    `billing per second, ${params.billingMinimumSeconds} s minimum`,
);
console.log(
  `encode durations: log-normal, median ${DEFAULT_DURATIONS.medianSeconds} s, sigma ${DEFAULT_DURATIONS.sigma}, clipped to ${DEFAULT_DURATIONS.minSeconds}-${DEFAULT_DURATIONS.maxSeconds} s (mean ≈ ${meanDuration(DEFAULT_DURATIONS).toFixed(0)} s, given to nommer as expectedJobSeconds)`,
);
console.log(
  'policies: nommer = autoscaler + scale-in by draining; today = the same autoscaler, scale-in by idle exit only; naive = one instance per job.',
);
console.log(
  'bound ("vs bound"): clairvoyant, jobs move — knows every arrival and duration, boots ahead so no job waits below max, packs fluidly (ceil(running/slots) instances): a lower bound, for a clairvoyant that never moves a job too.',
);
console.log(
  'clairvoyant, no job moves: a plan on the same schedule that never moves a running job (jobs starting within a boot placed together, longest first): achievable, so the no-migration optimum lies between the bound and it.',
);
console.log(
  'blind packing: the same schedule packed without knowing durations (fullest instance first, no idle exit) — not a bound: the price of not knowing which jobs are long.',
);
console.log('floor: bootMin + Σ durations / slots — no policy can bill less, whatever its waits.');

const traces = [steadyTrace(seed), burstyTrace(seed + 1), bigBatchTrace(seed + 2), trickleTrace(seed + 3)];
for (const tr of traces) {
  const results = (['nommer', 'today', 'naive'] as const).map((p) => simulate(tr, p, params));
  const refs = [blindPacking(tr, params), clairvoyantNoMigration(tr, params)];
  table(tr, results, refs, clairvoyant(tr, params), floorSeconds(tr, params));
}

// The targets: the bursty trace at 2 and 4 slots per instance (the same 60 slots), nommer's
// policy against today's in the same run. MET only against the lower bound, so that it holds
// for the no-migration optimum whatever it is.
{
  const tr = traces[1]!;
  const meanBoot = (params.bootMinSeconds + params.bootMaxSeconds) / 2;
  console.log(
    '\n## targets: bursty trace, 60 slots as 2 or 4 per instance — nommer (drain) beside today (idle exit only)',
  );
  const widths = [6, 8, 11, 10, 9, 10, 9, 9, 10];
  console.log(
    row(
      ['slots', 'policy', 'instance-h', 'vs bound', 'vs plan', 'vs blind', 'p50 wait', 'p95 wait', 'mean wait'],
      widths,
    ),
  );
  const verdicts: string[] = [];
  for (const slots of [2, 4]) {
    const p: SimParams = { ...params, slotsPerInstance: slots, maxInstances: 60 / slots };
    const [bound, plan, blind] = [clairvoyant(tr, p), clairvoyantNoMigration(tr, p), blindPacking(tr, p)];
    const [drain, today] = [simulate(tr, 'nommer', p), simulate(tr, 'today', p)];
    for (const r of [today, drain])
      console.log(row([String(slots), r.policy, ...costCols(r, [bound, plan, blind])], widths));
    const x = (r: SimResult, b: SimResult) => (r.instanceSeconds / b.instanceSeconds).toFixed(3);
    const ratio = drain.instanceSeconds / bound.instanceSeconds;
    const waitsOk = drain.p95Wait <= today.p95Wait && mean(drain.waits) <= mean(today.waits) + 1e-9;
    verdicts.push(
      `${slots} slots: ≤ 1.15 × the no-migration clairvoyant: ${ratio <= 1.15 ? 'MET' : 'NOT MET'} ` +
        `(nommer ${x(drain, bound)}× the bound, ${x(drain, plan)}× the plan; today ${x(today, bound)}×; the plan ${x(plan, bound)}×; blind packing ${x(blind, bound)}×); ` +
        `waits no worse than today: ${waitsOk ? 'MET' : 'NOT MET'}; p95 ≤ boot + 30 s (${(meanBoot + 30).toFixed(0)} s): ${drain.p95Wait <= meanBoot + 30 ? 'MET' : 'NOT MET'}`,
    );
  }
  for (const v of verdicts) console.log(v);
}

// What-if: the bursty excess at 2 and 4 slots is which jobs share an instance (blind packing is
// most of it), not when instances leave: a tail instance waits for its longest job, and no new job
// arrives before it ends for drain to steer away. Handing out the job estimated longest first
// fills each booting instance with jobs of like length. Not nommer today (SQS keeps no order:
// feederd would hold the backlog and send a task per free slot); shown for estimates of several
// accuracies (log-normal error sigma; the durations themselves spread with sigma 0.7).
{
  console.log(
    '\n## what-if: waiting jobs handed out longest-estimated first (nommer + drain), vs the bound; estimate error sigma',
  );
  const widths = [8, 6, 10, 11, 10, 9, 9, 9, 10];
  console.log(
    row(
      ['trace', 'slots', 'estimate', 'instance-h', 'vs bound', 'vs plan', 'p50 wait', 'p95 wait', 'mean wait'],
      widths,
    ),
  );
  for (const tr of [traces[1]!, traces[0]!]) {
    for (const slots of [1, 2, 4]) {
      const p: SimParams = { ...params, slotsPerInstance: slots, maxInstances: 60 / slots };
      const [bound, plan] = [clairvoyant(tr, p), clairvoyantNoMigration(tr, p)];
      for (const sigma of [undefined, 0, 0.25, 0.5, 1]) {
        const r = simulate(tr, 'nommer', sigma === undefined ? p : { ...p, longestFirst: { estimateSigma: sigma } });
        console.log(
          row(
            [tr.name, String(slots), sigma === undefined ? 'arrival' : `σ ${sigma}`, ...costCols(r, [bound, plan])],
            widths,
          ),
        );
      }
    }
  }
}

// What the autoscaler does not control moves the bursty result most: how many jobs share an
// instance (a half-empty instance waits for its longest job) and how long workers idle before
// exiting. Same burst trace, same total slots (60).
{
  const tr = traces[1]!;
  console.log('\n## bursty sensitivity: slots per instance × worker idle exit (max = 60 slots / slots), vs the bound');
  const widths = [8, 10, 14, 14, 12, 12];
  console.log(row(['slots', 'idle exit', 'today inst-h', 'nommer inst-h', 'today', 'nommer'], widths));
  for (const slots of [1, 2, 4]) {
    for (const idle of [15, 60, 120]) {
      const p: SimParams = { ...params, slotsPerInstance: slots, maxInstances: 60 / slots, idleExitSeconds: idle };
      const b = clairvoyant(tr, p);
      const [t, d] = [simulate(tr, 'today', p), simulate(tr, 'nommer', p)];
      console.log(
        row(
          [
            String(slots),
            `${idle} s`,
            t.instanceHours.toFixed(2),
            d.instanceHours.toFixed(2),
            pct(t.instanceSeconds / b.instanceSeconds),
            pct(d.instanceSeconds / b.instanceSeconds),
          ],
          widths,
        ),
      );
    }
  }
  const throttled = simulate(tr, 'nommer', { ...params, throttleRate: 0.2 });
  console.log(
    `\nbursty with 20% of launch calls throttled: ${throttled.jobsDone}/${tr.jobs.length} jobs done, ${throttled.throttledCalls} throttled calls, instance-h ${throttled.instanceHours.toFixed(2)}, p95 wait ${fmtS(throttled.p95Wait)}`,
  );
}

// The spend cap costs waiting, never money: the same burst under caps of a quarter and half of
// the uncapped peak spend, at the built-in on-demand price of the default instance type. (What an
// output minute costs is bench/cost-per-minute.)
{
  const { BUILT_IN_EC2_PRICES } = await import('../src/fleet/prices.js');
  const type = 'c7a.xlarge';
  const onDemand = BUILT_IN_EC2_PRICES.prices[type]!;
  const tr = traces[1]!;
  const free = simulate(tr, 'nommer', { ...params, hourlyPrice: onDemand });
  console.log(`\n## spend cap on the bursty trace (aws.ec2.maxHourlySpend, ${type} at $${onDemand}/h)`);
  const widths = [14, 10, 12, 10, 10, 11];
  console.log(row(['cap $/h', 'peak $/h', 'instance-h', 'p50 wait', 'p95 wait', 'mean wait'], widths));
  for (const cap of [undefined, free.peakHourlySpend / 2, free.peakHourlySpend / 4]) {
    const c = simulate(tr, 'nommer', { ...params, hourlyPrice: onDemand, ...(cap ? { maxHourlySpend: cap } : {}) });
    console.log(
      row(
        [
          cap ? cap.toFixed(2) : 'none',
          c.peakHourlySpend.toFixed(2),
          c.instanceHours.toFixed(2),
          fmtS(c.p50Wait),
          fmtS(c.p95Wait),
          `${fmtS(mean(c.waits))}${cap ? ` (+${fmtS(mean(c.waits) - mean(free.waits))})` : ''}`,
        ],
        widths,
      ),
    );
  }
}
