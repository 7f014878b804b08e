// Scene detection's speed on this machine: × realtime (source seconds per wall second) and
// CPU-seconds per source second (user+sys of ffmpeg and its threads, from /usr/bin/time: steadier
// than wall time on a shared machine), at 720p and 1080p, on H.264 titles joined from lavfi clips
// with light film-grain noise at a delivered source's bit rate (4 Mb/s at 720p, 8 Mb/s at 1080p,
// so the decoder works as on a real source), with the cuts they have.
// Beside the default (ffprobe over a movie source, 160 px), variants that show what each choice
// costs or saves; the wall time includes listing the frames' times (the planner's timeline).
// Run: node dist/bench/scenes.js [--seconds 20] [--runs 3]
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { detectScenes, sceneArgs } from '../src/chunked/scenes.js';
import { probeTimeline } from '../src/chunked/probe-frames.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { RUNNER_FLAGS } from '../src/ffmpeg/run.js';
import { makeCutTitle } from '../test/helpers/scenes.js';
import { median } from './util.js';

const exec = promisify(execFile);
const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('--seconds', '20'));
const RUNS = Number(arg('--runs', '3'));
const ff = locateFfmpeg();
const dir = mkdtempSync(join(tmpdir(), 'nommer-bench-scenes-'));

/** Clip lengths adding up to about `seconds` (2-5 s shots). */
function shots(seconds: number): number[] {
  const out: number[] = [];
  for (let i = 0, left = seconds; left > 0; i++) {
    const s = Math.min(left, 2 + (i % 4));
    out.push(s);
    left -= s;
  }
  return out;
}

/** user+sys CPU-seconds of one run of a binary with these arguments. */
async function cpuSeconds(bin: string, args: string[]): Promise<number> {
  const timeFile = join(dir, 'time.txt');
  await exec('/usr/bin/time', ['-f', '%U %S', '-o', timeFile, bin, ...args], { maxBuffer: 64 << 20 });
  const [u, s] = readFileSync(timeFile, 'utf8').trim().split(/\s+/).map(Number);
  return u! + s!;
}

interface Variant {
  name: string;
  bin: string;
  args: (input: string) => string[];
}

const VARIANTS: Variant[] = [
  {
    name: 'default (ffprobe, 160 px)',
    bin: ff.ffprobe,
    args: (i) => ['-v', 'error', ...sceneArgs(i, { threshold: 10, width: 160 })],
  },
  {
    name: 'scored at 640 px',
    bin: ff.ffprobe,
    args: (i) => ['-v', 'error', ...sceneArgs(i, { threshold: 10, width: 640 })],
  },
  {
    name: 'ffmpeg, no loop filter, 160 px',
    bin: ff.ffmpeg,
    args: (i) => [
      ...RUNNER_FLAGS.filter((f) => f !== '-progress' && f !== 'pipe:1'),
      '-skip_loop_filter',
      'all',
      '-i',
      i,
      '-an',
      '-vf',
      'scale=160:-2:flags=fast_bilinear,scdet=threshold=10',
      '-f',
      'null',
      '-',
    ],
  },
  {
    name: 'decode only (the floor)',
    bin: ff.ffmpeg,
    args: (i) => ['-v', 'error', '-i', i, '-map', '0:V:0', '-an', '-f', 'null', '-'],
  },
];

async function main(): Promise<void> {
  console.log(
    `scene detection, ${SECONDS} s titles, median of ${RUNS} runs (wall); CPU from /usr/bin/time; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(' ')} on ${cpus().length} cores`,
  );
  // Bit rates of delivered H.264 (a streaming service's 720p and 1080p rungs).
  for (const [w, h, kbps] of [
    [1280, 720, 4000],
    [1920, 1080, 8000],
  ] as const) {
    const title = makeCutTitle(join(dir, `title-${h}.mp4`), shots(SECONDS), {
      width: w,
      height: h,
      noise: 4,
      kbps,
    });
    const duration = title.frames / title.fps;
    const walls: number[] = [];
    let found: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const t0 = performance.now();
      const rec = await detectScenes(ff.ffprobe, title.path, (await probeTimeline(ff.ffprobe, title.path)).timeline);
      walls.push((performance.now() - t0) / 1000);
      found = rec.cuts.map((c) => c.frame);
    }
    const missed = title.cuts.filter((c) => !found.includes(c)).length;
    const extra = found.filter((c) => !title.cuts.includes(c)).length;
    const wall = median(walls);
    console.log(
      `\n${h}p H.264 (${duration.toFixed(1)} s, ${title.cuts.length} cuts): ${(duration / wall).toFixed(1)}× realtime wall (${wall.toFixed(2)} s); cuts missed ${missed}, extra ${extra}`,
    );
    for (const v of VARIANTS) {
      const cpu = await cpuSeconds(v.bin, v.args(title.path));
      console.log(`  ${v.name.padEnd(36)} ${cpu.toFixed(2)} CPU-s = ${(duration / cpu).toFixed(1)}× realtime per core`);
    }
  }
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
