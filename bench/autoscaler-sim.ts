// Replays four workload traces through the autoscaler and prints, per trace, instance-hours,
// p50/p95 queue wait and makespan for nommer's policy, a naive one (one instance per job up to
// max), the clairvoyant bound and the any-policy floor; then checks the bursty-trace targets.
// Run: node dist/bench/autoscaler-sim.js [--seed N] [--throttle RATE] [--idle-exit S] [--slots N] [--max N]

import {
  bigBatchTrace,
  burstyTrace,
  clairvoyant,
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

function row(cols: string[], widths: number[]): string {
  return cols.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
}

function table(tr: Trace, results: SimResult[], bound: SimResult, floor: number): void {
  const work = tr.jobs.reduce((s, j) => s + j.duration, 0);
  console.log(`\n## ${tr.name}: ${tr.description} — ${tr.jobs.length} jobs, ${(work / 3600).toFixed(1)} h of encoding`);
  const widths = [20, 11, 9, 9, 9, 10, 9, 5];
  console.log(
    row(['policy', 'instance-h', 'vs bound', 'p50 wait', 'p95 wait', 'makespan', 'launches', 'peak'], widths),
  );
  const line = (r: SimResult) =>
    console.log(
      row(
        [
          r.policy,
          r.instanceHours.toFixed(2),
          `${((r.instanceSeconds / bound.instanceSeconds - 1) * 100).toFixed(1).replace(/^(?!-)/, '+')}%`,
          fmtS(r.p50Wait),
          fmtS(r.p95Wait),
          fmtS(r.makespan),
          String(r.launches),
          String(r.peakInstances),
        ],
        widths,
      ),
    );
  for (const r of results) line(r);
  line(bound);
  console.log(
    row(
      [
        'floor (any policy)',
        (floor / 3600).toFixed(2),
        `${((floor / bound.instanceSeconds - 1) * 100).toFixed(1)}%`,
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
    `worker idle exit ${params.idleExitSeconds} s; tick ${params.tickSeconds} s; list lag ${params.listLagSeconds} s; throttle rate ${params.throttleRate}; ` +
    `billing per second, ${params.billingMinimumSeconds} s minimum`,
);
console.log(
  `encode durations: log-normal, median ${DEFAULT_DURATIONS.medianSeconds} s, sigma ${DEFAULT_DURATIONS.sigma}, clipped to ${DEFAULT_DURATIONS.minSeconds}-${DEFAULT_DURATIONS.maxSeconds} s (mean ≈ ${meanDuration(DEFAULT_DURATIONS).toFixed(0)} s, given to nommer as expectedJobSeconds)`,
);
console.log(
  'clairvoyant bound: knows every arrival and duration, boots ahead so no job waits below max, packs jobs fluidly (ceil(running/slots) instances), fastest boot billed per launch, keeps an instance through gaps ≤ a boot.',
);
console.log('floor: bootMin + Σ durations / slots — no policy can bill less, whatever its waits.');

const traces = [steadyTrace(seed), burstyTrace(seed + 1), bigBatchTrace(seed + 2), trickleTrace(seed + 3)];
let burstyOk: { hours: boolean; wait: boolean; ratio: number; p95: number; target: number } | undefined;
for (const tr of traces) {
  const nommer = simulate(tr, 'nommer', params);
  const naive = simulate(tr, 'naive', params);
  const bound = clairvoyant(tr, params);
  table(tr, [nommer, naive], bound, floorSeconds(tr, params));
  if (tr.name === 'bursty') {
    const meanBoot = (params.bootMinSeconds + params.bootMaxSeconds) / 2;
    const ratio = nommer.instanceSeconds / bound.instanceSeconds;
    burstyOk = {
      hours: ratio <= 1.15,
      wait: nommer.p95Wait <= meanBoot + 30,
      ratio,
      p95: nommer.p95Wait,
      target: meanBoot + 30,
    };
  }
}

if (burstyOk) {
  console.log('\n## targets (bursty trace, nommer policy)');
  console.log(
    `instance-hours within 15% of the clairvoyant bound: ${burstyOk.hours ? 'MET' : 'NOT MET'} (${((burstyOk.ratio - 1) * 100).toFixed(1)}% above)`,
  );
  console.log(
    `p95 queue wait ≤ boot time + 30 s (mean boot ${((params.bootMinSeconds + params.bootMaxSeconds) / 2).toFixed(0)} s + 30 = ${burstyOk.target.toFixed(0)} s): ${burstyOk.wait ? 'MET' : 'NOT MET'} (p95 ${burstyOk.p95.toFixed(0)} s)`,
  );
}

// What the autoscaler does not control moves the bursty result most: how many jobs share an
// instance (a half-empty instance waits for its longest job; the fluid bound does not) and how
// long workers idle before exiting. Same burst trace, same total slots (60), nommer policy.
{
  const tr = traces[1]!;
  console.log(
    '\n## bursty sensitivity: slots per instance × worker idle exit (max = 60 slots / slots), nommer vs its clairvoyant bound',
  );
  const widths = [8, 10, 11, 12, 9];
  console.log(row(['slots', 'idle exit', 'instance-h', 'vs bound', 'p95 wait'], widths));
  for (const slots of [1, 2, 4]) {
    for (const idle of [15, 60, 120]) {
      const p: SimParams = { ...params, slotsPerInstance: slots, maxInstances: 60 / slots, idleExitSeconds: idle };
      const r = simulate(tr, 'nommer', p);
      const b = clairvoyant(tr, p);
      console.log(
        row(
          [
            String(slots),
            `${idle} s`,
            r.instanceHours.toFixed(2),
            `+${((r.instanceSeconds / b.instanceSeconds - 1) * 100).toFixed(1)}%`,
            fmtS(r.p95Wait),
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

// ---- what a job costs on the simulated fleet ----
// One real encode measured alone, here: a 720p30 VP9 + Opus clip through `nommer encode`, to turn
// the simulated fleet's billed instance-seconds into dollars per output minute. This machine
// stands in for one worker slot (its core count is printed); the price is the built-in
// on-demand list price of the default instance type.
{
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir, cpus } = await import('node:os');
  const { join } = await import('node:path');
  const { spawnSync } = await import('node:child_process');
  const { NOMMER_BIN } = await import('./util.js');
  const { BUILT_IN_EC2_PRICES, REFERENCE_PRICES } = await import('../src/fleet/prices.js');
  const dir = mkdtempSync(join(tmpdir(), 'nommer-cost-bench-'));
  try {
    const clipSeconds = 10;
    const input = join(dir, 'in.mp4');
    const made = spawnSync(
      'ffmpeg',
      [
        '-v',
        'error',
        '-f',
        'lavfi',
        '-i',
        `testsrc2=size=1280x720:rate=30:duration=${clipSeconds}`,
        '-f',
        'lavfi',
        '-i',
        `sine=frequency=440:duration=${clipSeconds}`,
        '-c:v',
        'libx264',
        '-preset',
        'ultrafast',
        '-c:a',
        'aac',
        '-shortest',
        input,
      ],
      { encoding: 'utf8' },
    );
    if (made.status !== 0) throw new Error(`ffmpeg could not make the clip: ${made.stderr}`);
    const t0 = performance.now();
    const enc = spawnSync(
      process.execPath,
      [NOMMER_BIN, 'encode', input, '--preset', 'webm', '-o', join(dir, 'out.webm'), '--json'],
      {
        encoding: 'utf8',
        env: { ...process.env, NOMMER_HOME: join(dir, 'home') },
      },
    );
    const wall = (performance.now() - t0) / 1000;
    if (enc.status !== 0) throw new Error(`nommer encode failed: ${enc.stderr}`);
    const secPerOutputMinute = wall / (clipSeconds / 60);
    const type = 'c7a.xlarge';
    const onDemand = BUILT_IN_EC2_PRICES.prices[type]!;
    // Spot is not knowable offline: feederd is to read it from DescribeSpotPriceHistory. Here an
    // assumed 35% of on-demand, a typical discount for compute-optimized types, clearly labelled.
    const spot = onDemand * 0.35;
    const tr = traces[1]!;
    const r = simulate(tr, 'nommer', params);
    const outputMinutes = tr.jobs.reduce((s, j) => s + j.duration, 0) / secPerOutputMinute;
    const perMinute = (price: number) => (r.instanceSeconds * price) / 3600 / outputMinutes;
    console.log(`\n## cost per output minute: 720p VP9 + Opus on the simulated bursty fleet`);
    console.log(
      `measured alone on this machine (${cpus().length} cores, one worker slot): ${clipSeconds} s 720p30 clip encoded in ${wall.toFixed(1)} s = ${secPerOutputMinute.toFixed(0)} s of slot time per output minute`,
    );
    console.log(
      `bursty trace: ${outputMinutes.toFixed(0)} output minutes; billed ${r.instanceHours.toFixed(2)} instance-h (boot and idle included) at ${params.slotsPerInstance} slot(s) per instance`,
    );
    console.log(
      `${type} on demand $${onDemand}/h (${BUILT_IN_EC2_PRICES.source}, ${BUILT_IN_EC2_PRICES.recorded}): $${perMinute(onDemand).toFixed(4)} per output minute`,
    );
    console.log(
      `${type} spot, assumed 35% of on-demand ($${spot.toFixed(4)}/h): $${perMinute(spot).toFixed(4)} per output minute`,
    );
    for (const ref of REFERENCE_PRICES)
      console.log(
        `reference: ${ref.name} $${ref.sd} SD / $${ref.hd} HD per output minute (${ref.source}, ${ref.recorded})`,
      );

    // The spend cap costs waiting, never money: the same burst under caps of a quarter and half
    // of the uncapped peak spend.
    const free = simulate(tr, 'nommer', { ...params, hourlyPrice: onDemand });
    console.log(`\n## spend cap on the bursty trace (aws.ec2.maxHourlySpend, ${type} at $${onDemand}/h)`);
    const widths = [14, 10, 12, 10, 10, 11];
    console.log(row(['cap $/h', 'peak $/h', 'instance-h', 'p50 wait', 'p95 wait', 'mean wait'], widths));
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
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
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
