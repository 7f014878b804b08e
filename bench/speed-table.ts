// The default speed table of the cost estimate (src/cost/estimate.ts): slot-seconds one media
// second takes with each built-in preset family at 360p, each encode run alone, one after the
// other, through `nommer encode` (quality measuring off: the table is the encode's cost).
// Run on a quiet machine: node dist/bench/speed-table.js [--seconds 10]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { NOMMER_BIN } from './util.js';

const i = process.argv.indexOf('--seconds');
const seconds = Number(i >= 0 ? process.argv[i + 1] : 10);
const dir = mkdtempSync(join(tmpdir(), 'nommer-speed-'));
try {
  const input = join(dir, 'in.mp4');
  const made = spawnSync(
    'ffmpeg',
    [
      ...['-v', 'error', '-f', 'lavfi', '-i', `testsrc2=size=640x360:rate=30:duration=${seconds}`],
      ...['-f', 'lavfi', '-i', `sine=frequency=440:duration=${seconds}`],
      ...['-c:v', 'libx264', '-preset', 'ultrafast', '-c:a', 'aac', '-shortest', input],
    ],
    { encoding: 'utf8' },
  );
  if (made.status !== 0) throw new Error(`ffmpeg could not make the clip: ${made.stderr}`);
  console.log(`# slot-seconds per media second, 640x360 30 fps, ${seconds} s clip, ${cpus().length} cores, each alone`);
  const families: Array<[family: string, preset: string, ext: string]> = [
    ['vp9', 'webm', 'webm'],
    ['av1', 'av1', 'webm'],
    ['vp8', 'webm-vp8', 'webm'],
    ['theora', 'ogg', 'ogg'],
    ['webp', 'poster', 'webp'],
    ['audio', 'opus', 'opus'],
  ];
  for (const [family, preset, ext] of families) {
    const t0 = performance.now();
    const r = spawnSync(
      process.execPath,
      [
        NOMMER_BIN,
        'encode',
        input,
        '--preset',
        preset,
        '-o',
        join(dir, `out-${preset}.${ext}`),
        '--no-quality',
        '--force',
      ],
      { encoding: 'utf8', env: { ...process.env, NOMMER_HOME: join(dir, 'home') } },
    );
    const wall = (performance.now() - t0) / 1000;
    if (r.status !== 0) {
      console.log(`${family.padEnd(7)} ${preset.padEnd(9)} failed: ${r.stderr.trim().split('\n')[0]}`);
      continue;
    }
    console.log(
      `${family.padEnd(7)} ${preset.padEnd(9)} ${wall.toFixed(2)} s  ->  ${(wall / seconds).toFixed(3)} slot-s per media s`,
    );
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
