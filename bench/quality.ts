// What quality costs and what a target buys, measured on this machine on two generated clips of
// very different complexity (a flat test pattern, a noisy zooming fractal), for VP9 (webm) and
// AV1 (av1):
// - measuring: the plain preset with quality.measure=false against the same with measuring on
//   (the encode writes the source frames as compared beside the output, when small enough, and
//   one ffmpeg run decodes the output and computes SSIM and PSNR against them);
// - target mode: `--target ssim=X` with X the plain preset's own SSIM, so the sizes compare at
//   equal SSIM; its total time (search on samples, final encode, verification) against the
//   plain preset's (the goal: at most 1.5x), in wall time and in the ffmpeg runs' CPU time
//   (steadier on a shared machine). `--seconds 6` makes the inputs their own samples.
// Run: node dist/bench/quality.js [--seconds 30] [--size 320x180] [--fps 24]
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encode } from '../src/encode.js';
import { localFileStorage } from '../src/backends.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { getPreset } from '../src/presets/registry.js';
import { applyOverrides } from '../src/presets/overrides.js';
import type { OutputQuality, SearchRecord } from '../src/quality/types.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('--seconds', '30'));
const SIZE = arg('--size', '320x180');
const FPS = Number(arg('--fps', '24'));
const ff = locateFfmpeg();
const dir = mkdtempSync(join(tmpdir(), 'nommer-bench-quality-'));

function clip(name: string, source: string): string {
  const path = join(dir, name);
  const r = spawnSync(
    ff.ffmpeg,
    [
      ...['-hide_banner', '-loglevel', 'error', '-y', '-f', 'lavfi', '-i', source, '-t', String(SECONDS)],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-qp', '0', '-pix_fmt', 'yuv420p', path],
    ],
    { encoding: 'utf8' },
  );
  if (r.status !== 0) throw new Error(r.stderr);
  return path;
}

/**
 * CPU seconds of this process's finished children (ffmpeg runs), from /proc/self/stat (cutime +
 * cstime, in clock ticks of 1/100 s); NaN elsewhere. On a shared machine this varies much less
 * than wall time.
 */
function childCpuSeconds(): number {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[13]) + Number(fields[14])) / 100;
  } catch {
    return Number.NaN;
  }
}

async function timed(input: string, preset: string, sets: string[], out: string) {
  const cpu0 = childCpuSeconds();
  const t0 = performance.now();
  const r = await encode({
    ffmpeg: ff,
    storage: localFileStorage(),
    input,
    outputs: [{ preset: applyOverrides(getPreset(preset), sets), path: out }],
    force: true,
  });
  return {
    seconds: (performance.now() - t0) / 1000,
    cpu: childCpuSeconds() - cpu0,
    bytes: statSync(out).size,
    quality: r.outputs[0]!.quality as OutputQuality,
  };
}

const clips = [
  { name: 'flat', path: clip('flat.mkv', `testsrc2=size=${SIZE}:rate=${FPS}`) },
  { name: 'noisy', path: clip('noisy.mkv', `mandelbrot=size=${SIZE}:rate=${FPS},noise=alls=5:allf=t`) },
];
console.log(`quality bench: ${SECONDS} s clips at ${SIZE}, ${FPS} fps; ffmpeg ${ff.ffmpeg}\n`);
const rows: string[][] = [
  [
    'clip',
    'preset',
    'plain s',
    '+measure s',
    'measure %',
    'plain SSIM',
    'target',
    'target s',
    'x plain',
    'CPU s plain/+measure/target',
    'CPU x plain',
    'search s',
    'probes',
    'crf plain→target',
    'target SSIM',
    'size vs plain',
    'cap bound',
  ],
];
for (const c of clips) {
  for (const preset of ['webm', 'av1']) {
    const out = join(dir, `${c.name}-${preset}.webm`);
    const off = await timed(c.path, preset, ['quality.measure=false'], out);
    const on = await timed(c.path, preset, [], out);
    const x = Math.round(on.quality.ssim! * 1000) / 1000;
    const target = await timed(c.path, preset, [`quality.target=ssim=${x}`], out);
    const s = target.quality.search as SearchRecord;
    const plainCrf = s.tried.find((p) => p.on === 'samples')?.crf;
    rows.push([
      c.name,
      preset,
      off.seconds.toFixed(2),
      on.seconds.toFixed(2),
      `${(((on.seconds - off.seconds) / off.seconds) * 100).toFixed(0)}% (ffmpeg run ${on.quality.seconds?.toFixed(2)} s)`,
      on.quality.ssim!.toFixed(4),
      `ssim=${x}`,
      target.seconds.toFixed(2),
      `${(target.seconds / off.seconds).toFixed(2)}x`,
      `${off.cpu.toFixed(1)}/${on.cpu.toFixed(1)}/${target.cpu.toFixed(1)}`,
      `${(target.cpu / off.cpu).toFixed(2)}x`,
      s.seconds.toFixed(2),
      `${s.tried.filter((p) => p.on === 'samples').length}${s.predicted !== undefined ? '+pred.' : ''} on ${s.samples.count}x samples (${s.samples.seconds} s)${s.corrections ? ` +${s.corrections} corr.` : ''}`,
      `${plainCrf}→${s.crf}`,
      `${target.quality.ssim!.toFixed(4)}${s.reached ? '' : ' MISSED'}`,
      `${((target.bytes / on.bytes) * 100).toFixed(0)}%`,
      String(s.capBound),
    ]);
  }
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
for (const r of rows) console.log(r.map((v, i) => v.padEnd(widths[i]!)).join('  '));
console.log(
  '\n"x plain": target mode total (search + final encode + verification + measuring) over the plain preset without measuring.',
);
console.log(
  '"CPU": CPU seconds of the ffmpeg runs (user + system) of the plain preset without measuring, with it, and target mode; "CPU x plain": target over plain.',
);
console.log('"size vs plain": target mode output size over the plain output, both at (about) the same SSIM.');
console.log(
  '"+pred.": the search settled on a CRF its probes predicted, not probed itself (the final file is measured).',
);
rmSync(dir, { recursive: true, force: true });
