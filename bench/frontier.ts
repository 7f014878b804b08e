// Presets on the measured frontier: encodes real-looking 720p content (lavfi fractals, cellular
// automata and a test card, with film-like grain and motion, mixed) at every VP9 speed, SVT-AV1
// preset and libaom cpu-used asked for, each at 4 CRF points around the preset's own, with the
// exact argv the preset compiler builds (`--set video.speed=N`; the CRF points in target mode, i.e.
// under the quality search's safety cap rather than the ladder's ceiling, so the curve is the
// encoder's and not the cap's). Prints CPU-seconds per output minute (the encoder's user+sys,
// from /usr/bin/time: far steadier than wall time on a loaded machine), kb/s, SSIM and PSNR at
// the preset's CRF, and BD-rate (bench/bd-rate.ts, on SSIM-dB and on PSNR) against today's
// default of webm (VP9) and of av1 (SVT-AV1). All ratios come from this one run.
//   node dist/bench/frontier.js [--seconds 4] [--clips 3] [--vp9 0-5] [--svt 4-12] [--aom 4-8]
//                               [--baseline-vp9 2] [--baseline-svt 8] [--jobs 1]
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { probeInput } from '../src/ffmpeg/probe.js';
import type { ProbeInfo } from '../src/ffmpeg/types.js';
import { type RdPoint, bdRate, ssimDb } from './bd-rate.js';
import { ffmpeg, presetArgv, timedFfmpeg } from './encode-util.js';

const argValue = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
};
const range = (s: string): number[] => {
  if (s === 'none') return [];
  const [a, b] = s.split('-').map(Number);
  return Array.from({ length: (b ?? a!) - a! + 1 }, (_, i) => a! + i);
};
const seconds = Number(argValue('--seconds', '4'));
const clipCount = Number(argValue('--clips', '3'));
const CRF_OFFSETS = [-6, -2, 2, 6];
const FPS = 24;

/** Real-looking 720p sources: detail, motion and grain, never flat bars. */
const SOURCES: Array<[name: string, graph: string]> = [
  ['mandelbrot zoom + grain', `mandelbrot=size=1280x720:rate=${FPS},noise=alls=1:allf=t,format=yuv420p`],
  [
    'life, soft + panning test card',
    `life=size=1280x720:rate=${FPS}:mold=10:ratio=0.12:life_color=#e0c080:death_color=#203050,boxblur=3[l];` +
      `testsrc2=size=1280x720:rate=${FPS},hue=H=t*0.5[t];[l][t]blend=all_mode=softlight,noise=alls=1:allf=t,format=yuv420p`,
  ],
  [
    'cellauto over moving fractal',
    `cellauto=size=128x72:rate=${FPS}:rule=30:random_fill_ratio=0.3,scale=1280:720:flags=bicubic,gblur=sigma=6[c];` +
      `mandelbrot=size=1280x720:rate=${FPS}:start_scale=1.5:inner=period[m];[m][c]blend=all_mode=overlay:all_opacity=0.35,noise=alls=1:allf=t,format=yuv420p`,
  ],
];

interface Setting {
  family: 'vp9' | 'svt' | 'aom';
  speed: number;
  label: string;
}

interface Point extends RdPoint {
  crf: number;
  cpuS: number;
  ssim: number;
  psnr: number;
}

const exec = promisify(execFile);

async function quality(encoded: string, reference: string): Promise<{ ssim: number; psnr: number }> {
  const graph = '[0:v]split[a0][a1];[1:v]split[b0][b1];[a0][b0]ssim;[a1][b1]psnr';
  const { stderr: log } = await exec(
    'ffmpeg',
    ['-hide_banner', '-nostdin', '-i', encoded, '-i', reference, '-lavfi', graph, '-f', 'null', '-'],
    { maxBuffer: 64 << 20 },
  );
  const ssim = Number(/SSIM .*All:([\d.]+)/.exec(log)?.[1]);
  const psnr = Number(/PSNR .*average:([\d.inf]+)/.exec(log)?.[1]);
  if (!Number.isFinite(ssim) || !Number.isFinite(psnr)) throw new Error(`no SSIM/PSNR in: ${log.slice(-500)}`);
  return { ssim, psnr };
}

/** Runs the tasks, `jobs` at a time (CPU-seconds do not depend on how many run at once). */
async function pool<T>(tasks: Array<() => Promise<T>>, jobs: number): Promise<T[]> {
  const out: T[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await tasks[i]!();
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  return out;
}

/** The preset compiler's argv for this setting at this CRF, video only. */
function argvFor(s: Setting, probe: ProbeInfo, input: string, out: string, crf: number | undefined): string[] {
  return presetArgv({
    preset: s.family === 'vp9' ? 'webm' : 'av1',
    overrides: [`video.speed=${s.speed}`],
    encoder: s.family === 'vp9' ? 'libvpx-vp9' : s.family === 'svt' ? 'libsvtav1' : 'libaom-av1',
    probe,
    input,
    out,
    crf,
  });
}

/** The CRF the preset itself would use for this clip (the middle of the sweep). */
function presetCrf(s: Setting, probe: ProbeInfo, input: string, out: string): number {
  const args = argvFor(s, probe, input, out, undefined);
  return Number(args[args.indexOf('-crf') + 1]);
}

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'nommer-frontier-'));
  try {
    const clips: Array<{ name: string; path: string; probe: ProbeInfo }> = [];
    for (const [name, graph] of SOURCES.slice(0, clipCount)) {
      const path = join(dir, `src${clips.length}.y4m`);
      ffmpeg(['-v', 'error', '-f', 'lavfi', '-i', graph, '-t', String(seconds), '-pix_fmt', 'yuv420p', path]);
      clips.push({ name, path, probe: await probeInput('ffprobe', path) });
    }
    const settings: Setting[] = [
      ...range(argValue('--vp9', '0-5')).map((n) => ({ family: 'vp9' as const, speed: n, label: `VP9 speed ${n}` })),
      ...range(argValue('--svt', '4-12')).map((n) => ({
        family: 'svt' as const,
        speed: n,
        label: `SVT-AV1 preset ${n}`,
      })),
      ...range(argValue('--aom', '4-8')).map((n) => ({
        family: 'aom' as const,
        speed: n,
        label: `libaom cpu-used ${n}`,
      })),
    ];
    const baseVp9 = Number(argValue('--baseline-vp9', '2'));
    const baseSvt = Number(argValue('--baseline-svt', '8'));
    console.log(
      `# frontier: ${clips.length} clip(s) of ${seconds} s, 1280x720 ${FPS} fps (${clips.map((c) => c.name).join('; ')})`,
    );
    console.log(
      `# CRF points: preset CRF ${CRF_OFFSETS.map((o) => (o > 0 ? `+${o}` : String(o))).join('/')}; CPU = encoder user+sys`,
    );
    const jobs = Number(argValue('--jobs', '1'));
    let n = 0;
    /** One encode and its measurement, in files of its own. */
    const point = (s: Setting, clip: (typeof clips)[number], crf: number) => async (): Promise<Point> => {
      const id = n++;
      const out = join(dir, `out${id}.${s.family === 'vp9' ? 'webm' : 'mkv'}`);
      const { cpuS } = await timedFfmpeg(argvFor(s, clip.probe, clip.path, out, crf), join(dir, `time${id}.txt`));
      const kbps = (statSync(out).size * 8) / 1000 / seconds;
      const q = await quality(out, clip.path);
      rmSync(out);
      process.stderr.write(
        `${s.label} ${clip.name} crf ${crf}: ${cpuS.toFixed(1)} cpu-s ${kbps.toFixed(0)} kb/s SSIM ${q.ssim}\n`,
      );
      return { crf, cpuS, kbps, ssim: q.ssim, psnr: q.psnr, db: ssimDb(q.ssim) };
    };
    const tasks = settings.flatMap((s) =>
      clips.flatMap((clip) => {
        const mid = presetCrf(s, clip.probe, clip.path, join(dir, 'x.webm'));
        return CRF_OFFSETS.map((off) => point(s, clip, mid + off));
      }),
    );
    const points = await pool(tasks, jobs);
    const per = CRF_OFFSETS.length * clips.length;
    const results = new Map<string, { setting: Setting; perClip: Point[][] }>();
    settings.forEach((s, i) => {
      const mine = points.slice(i * per, (i + 1) * per);
      const perClip = clips.map((_, c) => mine.slice(c * CRF_OFFSETS.length, (c + 1) * CRF_OFFSETS.length));
      results.set(s.label, { setting: s, perClip });
    });
    report(results, seconds, `VP9 speed ${baseVp9}`, `SVT-AV1 preset ${baseSvt}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;

/** BD-rate of test against reference averaged over the clips, on SSIM-dB or PSNR. */
function meanBd(ref: Point[][] | undefined, test: Point[][], metric: 'ssim' | 'psnr'): string {
  if (!ref) return '   n/a';
  const pick = (ps: Point[]) => ps.map((p) => ({ kbps: p.kbps, db: metric === 'ssim' ? p.db : p.psnr }));
  const per = test.map((t, i) => bdRate(pick(ref[i]!), pick(t)));
  if (per.some((x) => x === undefined)) return '   n/a';
  const m = mean(per as number[]);
  return `${m >= 0 ? '+' : ''}${m.toFixed(1)}%`.padStart(6);
}

function report(
  results: Map<string, { setting: Setting; perClip: Point[][] }>,
  seconds: number,
  vp9Base: string,
  svtBase: string,
) {
  const vp9Ref = results.get(vp9Base)?.perClip;
  const svtRef = results.get(svtBase)?.perClip;
  const cpuAt = (pc: Point[][]) => mean(pc.map((ps) => mean(ps.map((p) => p.cpuS))));
  const baseCpu = vp9Ref ? cpuAt(vp9Ref) : undefined;
  console.log(
    `\n${'setting'.padEnd(22)} ${'CPU-s/out-min'.padStart(13)} ${'vs webm'.padStart(7)} ${'kb/s'.padStart(6)} ${'SSIM'.padStart(6)} ${'PSNR'.padStart(5)}` +
      `  BD-rate vs ${vp9Base} (SSIM-dB / PSNR)  vs ${svtBase} (SSIM-dB / PSNR)`,
  );
  for (const [label, { perClip }] of results) {
    // At the preset's own CRF (the second and third sweep points straddle it: their mean).
    const at = (f: (p: Point) => number) => mean(perClip.map((ps) => (f(ps[1]!) + f(ps[2]!)) / 2));
    const cpuPerMin = (cpuAt(perClip) / seconds) * 60;
    console.log(
      `${label.padEnd(22)} ${cpuPerMin.toFixed(1).padStart(13)} ${baseCpu ? (cpuAt(perClip) / baseCpu).toFixed(2).padStart(7) : '    n/a'} ` +
        `${at((p) => p.kbps)
          .toFixed(0)
          .padStart(6)} ${at((p) => p.ssim).toFixed(4)} ${at((p) => p.psnr).toFixed(2)}` +
        `  ${meanBd(vp9Ref, perClip, 'ssim')} / ${meanBd(vp9Ref, perClip, 'psnr')}                  ` +
        `${meanBd(svtRef, perClip, 'ssim')} / ${meanBd(svtRef, perClip, 'psnr')}`,
    );
  }
}

await main();
