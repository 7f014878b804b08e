// nommer's overhead on one encode, measured side by side in one run, alternating, several runs:
// 1. `nommer encode` of one file against the exact argument array `nommer encode --dry-run --json`
//    prints, run as raw ffmpeg: CPU-seconds (user+sys of the process and every child it waited
//    for, from /usr/bin/time) and wall time, with quality measuring on (the default), off, and by
//    the decode pass (quality.ssim=true: what the default did before issue 25);
//    and, within each nommer run, what each part cost: the encode, the measuring, the probe,
//    asking ffmpeg its capabilities, and node itself (ffmpeg and ffprobe stand-ins time each child).
// 2. `nommer submit` through a running feederd (one worker) against the argv of `submit
//    --dry-run`: wall time (the worker's CPU is not this process's child).
// --baseline DIR adds the same two nommer runs from another built checkout (DIR/bin/nommer, e.g. a
// worktree of main) to the same alternation: a before/after of a change, side by side in one run.
//   node dist/bench/encode-overhead.js [--seconds 6] [--runs 3] [--only encode|submit] [--baseline DIR]
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { makeMezzanine, timed } from './encode-util.js';
import { NOMMER_BIN, fmt, median, nommerSync, run } from './util.js';

const argValue = (name: string, def: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? process.argv[i + 1]! : def;
};
const seconds = Number(argValue('--seconds', '6'));
const runs = Number(argValue('--runs', '3'));
const only = argValue('--only', 'both');
const baseline = argValue('--baseline', '');

const dir = mkdtempSync(join(tmpdir(), 'nommer-bench-'));
const env = { NOMMER_HOME: join(dir, 'home'), NOMMER_PORT: '0', NOMMER_LOG_LEVEL: 'warn' };

/** The clip every run encodes (see makeMezzanine). */
function makeClip(): string {
  const clip = join(dir, 'clip.mp4');
  makeMezzanine(clip, seconds);
  return clip;
}

/** The ffmpeg command nommer would run for `args` (--dry-run --json), writing to `rawOut` instead. */
function rawCommand(args: string[], out: string, rawOut: string): string[] {
  const dry = nommerSync([...args, '--dry-run', '--json'], env);
  if (dry.status !== 0) throw new Error(dry.stderr);
  const [command] = (JSON.parse(dry.stdout) as { commands: string[][] }).commands;
  const [bin, ...argv] = command!;
  return [bin!, '-y', ...argv.map((a) => (a === out ? rawOut : a))];
}

interface Sample {
  cpuS: number;
  wallS: number;
}

const med = (xs: Sample[], k: keyof Sample) => median(xs.map((x) => x[k]));

/**
 * Stand-ins for ffmpeg and ffprobe (NOMMER_FFMPEG / NOMMER_FFPROBE) that run the real ones under
 * /usr/bin/time, appending "user sys wall command" to $NOMMER_BENCH_TIMES: what each child of one
 * `nommer encode` cost, in that very run.
 */
function timingWrappers(ffmpegBin: string): { ffmpeg: string; ffprobe: string } {
  const wrap = join(dir, 'wrap');
  mkdirSync(wrap, { recursive: true });
  const paths = { ffmpeg: join(wrap, 'ffmpeg'), ffprobe: join(wrap, 'ffprobe') };
  for (const [name, real] of [
    ['ffmpeg', ffmpegBin],
    ['ffprobe', join(dirname(ffmpegBin), 'ffprobe')],
  ] as const) {
    writeFileSync(
      paths[name],
      `#!/bin/sh\nexec /usr/bin/time -a -o "$NOMMER_BENCH_TIMES" -f '%U %S %e %C' ${real} "$@"\n`,
    );
    chmodSync(paths[name], 0o755);
  }
  return paths;
}

type Part = 'encode (ffmpeg)' | 'measuring (ffmpeg)' | 'ffprobe' | 'ffmpeg capabilities' | 'nommer (node)';
const PARTS: Part[] = ['encode (ffmpeg)', 'measuring (ffmpeg)', 'ffprobe', 'ffmpeg capabilities', 'nommer (node)'];

/** One run's CPU-seconds by part: each child from the wrappers' lines, node = total − children. */
function breakdown(timesFile: string, totalCpu: number): Record<Part, number> {
  const parts = Object.fromEntries(PARTS.map((p) => [p, 0])) as Record<Part, number>;
  const lines = existsSync(timesFile) ? readFileSync(timesFile, 'utf8').trim().split('\n') : [];
  let children = 0;
  for (const line of lines) {
    const m = /^([\d.]+) ([\d.]+) [\d.]+ (.*)$/.exec(line);
    if (!m) continue;
    const cpu = Number(m[1]) + Number(m[2]);
    const cmd = m[3]!;
    const part: Part = /ffprobe /.test(cmd)
      ? 'ffprobe'
      : / -(version|encoders|filters)( |$)/.test(cmd)
        ? 'ffmpeg capabilities'
        : // the measuring run also reads -progress; it writes to the null muxer, the encode to files
          / -f null -$/.test(cmd) || !/ -progress /.test(cmd)
          ? 'measuring (ffmpeg)'
          : 'encode (ffmpeg)';
    parts[part] += cpu;
    children += cpu;
  }
  parts['nommer (node)'] = Math.max(0, totalCpu - children);
  return parts;
}

async function encodeVsRaw(clip: string): Promise<void> {
  const out = join(dir, 'clip.webm');
  const rawOut = join(dir, 'raw.webm');
  const ffmpegArgv = rawCommand(['encode', clip], out, rawOut);
  const wrappers = timingWrappers(ffmpegArgv[0]!);
  const nommer = (extra: string[], bin = NOMMER_BIN) => [
    process.execPath,
    bin,
    'encode',
    clip,
    '-o',
    out,
    '-f',
    '--quiet',
    ...extra,
  ];
  const variants: Array<[label: string, argv: string[]]> = [
    ['raw ffmpeg (same argv)', ffmpegArgv],
    ['nommer encode --no-quality', nommer(['--no-quality'])],
    ['nommer encode (measuring)', nommer([])],
    // The decode pass the default was until issue 25 (and still is with SSIM asked for).
    ['nommer encode (decode pass)', nommer(['--set', 'quality.ssim=true'])],
  ];
  if (baseline) {
    const bin = join(baseline, 'bin', 'nommer');
    variants.push(['baseline --no-quality', nommer(['--no-quality'], bin)], ['baseline (measuring)', nommer([], bin)]);
  }
  console.log(
    `# nommer encode vs the same ffmpeg argv: ${seconds} s 1280x720 24 fps clip (fractal + grain, H.264 + AAC), preset webm; ${runs} runs, alternating; CPU = user+sys incl. children`,
  );
  console.log(`raw: ${ffmpegArgv.join(' ')}`);
  const samples = variants.map(() => [] as Sample[]);
  const parts = variants.map(() => [] as Array<Record<Part, number>>);
  let n = 0;
  for (let r = 0; r < runs; r++) {
    for (const [i, [label, argv]] of variants.entries()) {
      rmSync(out, { force: true });
      rmSync(rawOut, { force: true });
      const times = join(dir, `children${n}.txt`);
      const s = await timed(argv, join(dir, `t${n++}.txt`), {
        ...env,
        NOMMER_FFMPEG: wrappers.ffmpeg,
        NOMMER_FFPROBE: wrappers.ffprobe,
        NOMMER_BENCH_TIMES: times,
      });
      samples[i]!.push(s);
      parts[i]!.push(breakdown(times, s.cpuS));
      process.stderr.write(`run ${r + 1} ${label}: ${s.cpuS.toFixed(2)} CPU-s, ${s.wallS.toFixed(2)} s wall\n`);
    }
  }
  const rawCpu = med(samples[0]!, 'cpuS');
  console.log(
    `\n${'run (medians)'.padEnd(28)} ${'CPU-s'.padStart(7)} ${'vs raw'.padStart(7)} ${'wall'.padStart(7)}  ${PARTS.map((p) => p.padStart(p.length)).join('  ')}  ${'all but the encode'.padStart(18)}`,
  );
  for (const [i, [label]] of variants.entries()) {
    const s = samples[i]!;
    const byPart = PARTS.map((p) => median(parts[i]!.map((x) => x[p])));
    const encode = byPart[0]!;
    const rest = i === 0 ? 0 : median(parts[i]!.map((x) => PARTS.slice(1).reduce((t, p) => t + x[p], 0)));
    console.log(
      `${label.padEnd(28)} ${med(s, 'cpuS').toFixed(2).padStart(7)} ${(med(s, 'cpuS') / rawCpu).toFixed(3).padStart(7)} ${med(s, 'wallS').toFixed(1).padStart(7)}  ` +
        `${PARTS.map((p, k) => (i === 0 ? (k === 0 ? med(s, 'cpuS') : 0) : byPart[k]!).toFixed(2).padStart(p.length)).join('  ')}  ` +
        `${i === 0 ? '' : `${rest.toFixed(2)} (${((rest / Math.max(encode, 1e-9)) * 100).toFixed(1)}% of its encode)`.padStart(18)}`,
    );
  }
  console.log(
    '(parts of each nommer run measured in that run: its children under /usr/bin/time, node = total − children; the first run asks ffmpeg its capabilities, later ones read them from the cache)',
  );
  measuringShares(variants, samples, parts);
}

/**
 * What measuring adds to one encode: each measuring run's CPU over the --no-quality run's (medians
 * of the same alternating runs), as a share of that run's encode. Measuring by the encoder
 * (the default for VP9) is inside the encode run itself, so the whole difference counts.
 */
function measuringShares(
  variants: ReadonlyArray<[label: string, argv: string[]]>,
  samples: Sample[][],
  parts: Array<Array<Record<Part, number>>>,
): void {
  const off = variants.findIndex(([label]) => label === 'nommer encode --no-quality');
  const offCpu = med(samples[off]!, 'cpuS');
  const offEncode = median(parts[off]!.map((x) => x['encode (ffmpeg)']));
  console.log(
    `\nmeasuring's cost: CPU-s over --no-quality (median ${offCpu.toFixed(2)}), as a share of its encode (${offEncode.toFixed(2)})`,
  );
  for (const [i, [label]] of variants.entries()) {
    if (!/measuring|decode pass/.test(label) || /^baseline/.test(label)) continue;
    const extra = med(samples[i]!, 'cpuS') - offCpu;
    const measuring = median(parts[i]!.map((x) => x['measuring (ffmpeg)']));
    console.log(
      `${label.padEnd(28)} +${extra.toFixed(2)} CPU-s (${((extra / offEncode) * 100).toFixed(1)}%); of it a measuring run ${measuring.toFixed(2)} CPU-s`,
    );
  }
}

async function submitVsRaw(clip: string): Promise<void> {
  const out = join(dir, 'clip.webm');
  const rawOut = join(dir, 'raw.webm');
  const [bin, ...argv] = rawCommand(['submit', clip], out, rawOut);
  const start = nommerSync(['feederd', '--daemon', '--workers', '1'], env);
  if (start.status !== 0) throw new Error(start.stderr);
  console.log(
    `\n# nommer submit through feederd (1 worker) vs the same ffmpeg argv: wall time, ${runs} runs, alternating`,
  );
  const raw: number[] = [],
    nom: number[] = [];
  for (let i = 0; i < runs; i++) {
    rmSync(rawOut, { force: true });
    const r = await run(bin!, argv);
    if (r.code !== 0) throw new Error(r.stderr);
    raw.push(r.ms);
    rmSync(out, { force: true });
    const n = await run(process.execPath, [NOMMER_BIN, 'submit', clip, '--quiet'], env);
    if (n.code !== 0) throw new Error(n.stderr);
    nom.push(n.ms);
    console.log(
      `run ${i + 1}: raw ffmpeg ${fmt(r.ms)}   nommer submit ${fmt(n.ms)}   ratio ${(n.ms / r.ms).toFixed(3)}`,
    );
  }
  console.log(`median: raw ffmpeg ${fmt(median(raw))}, nommer submit ${fmt(median(nom))}`);
  console.log(`nommer/raw wall-time ratio (median): ${(median(nom) / median(raw)).toFixed(3)}`);
}

try {
  const clip = makeClip();
  if (only !== 'submit') await encodeVsRaw(clip);
  if (only !== 'encode') await submitVsRaw(clip);
} finally {
  if (only !== 'encode') nommerSync(['feederd', 'stop'], env);
  rmSync(dir, { recursive: true, force: true });
}
