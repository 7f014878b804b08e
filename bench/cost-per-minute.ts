// What an output minute costs on an EC2 fleet: CPU-seconds measured here per output minute (the
// preset compiler's exact argv for `webm` (VP9) and `av1` (SVT-AV1) at 720p and 1080p, on short
// real-looking clips, decode included), billed as vCPU-seconds ÷ utilization, at the built-in
// on-demand list prices (src/fleet/prices.ts) of an x86 and a Graviton type, on demand and on
// spot, beside MediaConvert's price per output minute.
//   node dist/bench/cost-per-minute.js [--seconds 4] [--slots 2] [--spot-fraction 0.35]
//
// What it assumes, and says so in its output:
// - A CPU-second here is a vCPU-second there. Both columns' types (c7a: AMD, c7g: Graviton3) give
//   one physical core per vCPU, as this machine's AMD EPYC does; Graviton is not measured here,
//   so its column is the x86 work at Graviton's price (an assumption, not a result).
// - Utilization: the slots' cores are kept busy while they run a job (slots sized by threads), so
//   the fleet's own utilization is what is lost: busy slot-time over billed slot-time, from the
//   autoscaler simulation (bench/sim-core.ts, nommer's policy) on its steady and bursty traces.
// - Spot is not knowable offline (feederd reads DescribeSpotPriceHistory at run time): a fraction
//   of on-demand, given on the command line.
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { probeInput } from '../src/ffmpeg/probe.js';
import { BUILT_IN_EC2_PRICES, REFERENCE_PRICES } from '../src/fleet/prices.js';
import { ffmpeg, presetArgv, timedFfmpeg } from './encode-util.js';
import { burstyTrace, DEFAULT_PARAMS, simulate, steadyTrace, type SimParams, type Trace } from './sim-core.js';

const argValue = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
};
const seconds = Number(argValue('--seconds', '4'));
const slots = Number(argValue('--slots', '2'));
const spotFraction = Number(argValue('--spot-fraction', '0.35'));
const FPS = 24;

const SIZES: Array<[label: string, w: number, h: number]> = [
  ['720p', 1280, 720],
  ['1080p', 1920, 1080],
];
const CODECS: Array<[label: string, preset: string, encoder: string]> = [
  ['VP9 (webm)', 'webm', 'libvpx-vp9'],
  ['AV1 (av1)', 'av1', 'libsvtav1'],
];
/** x86 and Graviton, each a whole core per vCPU; the others of the table for reference. */
const TYPES = { x86: 'c7a.xlarge', graviton: 'c7g.xlarge' } as const;

/** vCPUs of an instance type from its size (c7a.xlarge: 4). */
function vcpus(type: string): number {
  const size = type.split('.')[1] ?? '';
  if (size === 'large') return 2;
  const m = /^(\d*)xlarge$/.exec(size);
  if (!m) throw new Error(`no vCPU count for ${type}`);
  return 4 * Number(m[1] || 1);
}

/** $ per vCPU-second of a type on demand, from the built-in table. */
function perVcpuSecond(type: string): number {
  const usd = BUILT_IN_EC2_PRICES.prices[type];
  if (usd === undefined) throw new Error(`${type} is not in the built-in price table`);
  return usd / vcpus(type) / 3600;
}

/** A real-looking source: a zooming fractal with film-like grain (never flat bars), as an H.264 mezzanine. */
function makeClip(dir: string, w: number, h: number): string {
  const path = join(dir, `src-${h}p.mp4`);
  const graph = `mandelbrot=size=${w}x${h}:rate=${FPS},noise=alls=1:allf=t,format=yuv420p`;
  ffmpeg([
    '-v',
    'error',
    '-f',
    'lavfi',
    '-i',
    graph,
    '-t',
    String(seconds),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-crf',
    '12',
    path,
  ]);
  return path;
}

/** Busy slot-seconds over billed slot-seconds of nommer's policy on a trace. */
function fleetUtilization(tr: Trace, p: SimParams): number {
  const r = simulate(tr, 'nommer', p);
  const work = tr.jobs.reduce((s, j) => s + j.duration, 0);
  return work / (r.instanceSeconds * p.slotsPerInstance);
}

interface Measured {
  codec: string;
  size: string;
  lines: number;
  cpuPerMin: number;
  coreUse: number;
}

async function measure(dir: string): Promise<Measured[]> {
  const out: Measured[] = [];
  let n = 0;
  for (const [size, w, h] of SIZES) {
    const input = makeClip(dir, w, h);
    const probe = await probeInput('ffprobe', input);
    for (const [codec, preset, encoder] of CODECS) {
      const file = join(dir, `out${n}.${preset === 'webm' ? 'webm' : 'mkv'}`);
      const argv = presetArgv({ preset, encoder, probe, input, out: file });
      const t = await timedFfmpeg(argv, join(dir, `time${n++}.txt`));
      rmSync(file, { force: true });
      out.push({
        codec,
        size,
        lines: h,
        cpuPerMin: (t.cpuS / seconds) * 60,
        coreUse: t.cpuS / (t.wallS * cpus().length),
      });
      process.stderr.write(`${codec} ${size}: ${t.cpuS.toFixed(1)} CPU-s, ${t.wallS.toFixed(1)} s wall\n`);
    }
  }
  return out;
}

const usd = (x: number) => `$${x.toFixed(4)}`;
const pad = (cols: string[], widths: number[]) =>
  cols.map((c, i) => (i < 2 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'nommer-cost-'));
  try {
    const load = loadavg()[0]!;
    const rows = await measure(dir);
    const p: SimParams = { ...DEFAULT_PARAMS, slotsPerInstance: slots, maxInstances: Math.floor(60 / slots) };
    const fleets: Array<[string, number]> = [
      ['steady', fleetUtilization(steadyTrace(7), p)],
      ['bursty', fleetUtilization(burstyTrace(8), p)],
    ];
    const mc = REFERENCE_PRICES.find((r) => r.name.startsWith('AWS Elemental MediaConvert'))!;

    console.log(`# cost per output minute: ${seconds} s clips at ${FPS} fps, video only (Opus costs next to nothing)`);
    console.log(
      `measured on this machine: ${cpus().length} × ${cpus()[0]?.model ?? 'CPU'}, load average ${load.toFixed(1)} at the start (CPU-seconds are the encoder's user+sys; its core use, CPU ÷ (wall × cores), is understated on a busy machine)`,
    );
    const mw = [12, 6, 14, 14];
    console.log(`\n${pad(['codec', 'size', 'CPU-s/out-min', 'core use here'], mw)}`);
    for (const r of rows)
      console.log(pad([r.codec, r.size, r.cpuPerMin.toFixed(1), `${(r.coreUse * 100).toFixed(0)}%`], mw));

    console.log(
      `\nfleet utilization (busy slot-time ÷ billed slot-time, nommer's policy in the autoscaler simulation, ${slots} slots per instance): ` +
        fleets.map(([name, u]) => `${name} ${(u * 100).toFixed(0)}%`).join(', '),
    );
    const od = { x86: perVcpuSecond(TYPES.x86), graviton: perVcpuSecond(TYPES.graviton) };
    console.log(
      `prices (${BUILT_IN_EC2_PRICES.source}, ${BUILT_IN_EC2_PRICES.recorded}): ${TYPES.x86} (x86, AMD) $${BUILT_IN_EC2_PRICES.prices[TYPES.x86]}/h for ${vcpus(TYPES.x86)} vCPU; ` +
        `${TYPES.graviton} (Graviton3) $${BUILT_IN_EC2_PRICES.prices[TYPES.graviton]}/h for ${vcpus(TYPES.graviton)} vCPU; ` +
        `spot assumed at ${(spotFraction * 100).toFixed(0)}% of on-demand (not measured: feederd reads it from DescribeSpotPriceHistory)`,
    );
    console.log(
      'Graviton columns: the x86 CPU-seconds measured here at Graviton prices — Graviton speed is not measured here.',
    );
    console.log(
      `$ per output minute = CPU-s per output minute ÷ fleet utilization × $ per vCPU-second; ${mc.name}: $${mc.sd} SD / $${mc.hd} HD (${mc.source}, ${mc.recorded})`,
    );
    const w = [12, 6, 8, 10, 10, 12, 13, 14];
    console.log(
      `\n${pad(['codec', 'size', 'fleet', 'x86 OD', 'x86 spot', 'Graviton OD', 'Graviton spot', 'MediaConvert'], w)}`,
    );
    for (const r of rows) {
      for (const [fleet, u] of fleets) {
        const vcpuS = r.cpuPerMin / u;
        const ref = r.lines >= 720 ? mc.hd : mc.sd;
        console.log(
          pad(
            [
              r.codec,
              r.size,
              fleet,
              usd(vcpuS * od.x86),
              usd(vcpuS * od.x86 * spotFraction),
              usd(vcpuS * od.graviton),
              usd(vcpuS * od.graviton * spotFraction),
              `${usd(ref)} (${((vcpuS * od.x86) / ref).toFixed(2)}×)`,
            ],
            w,
          ),
        );
      }
    }
    console.log('(×: x86 on demand as a fraction of MediaConvert)');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
