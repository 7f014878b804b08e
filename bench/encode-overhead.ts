// nommer's overhead on one encode: the same 720p VP9 encode run as raw ffmpeg (the exact
// argument array `nommer submit --dry-run --json` prints) and as `nommer submit` on the local
// backend (feederd already running, one worker), alternating, several runs. Prints the ratio.
//   node dist/bench/encode-overhead.js [--seconds 30] [--runs 3]
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NOMMER_BIN, fmt, median, nommerSync, run } from './util.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const seconds = arg('--seconds', 30);
const runs = arg('--runs', 3);

const dir = mkdtempSync(join(tmpdir(), 'nommer-bench-'));
const env = { NOMMER_HOME: join(dir, 'home'), NOMMER_PORT: '0', NOMMER_LOG_LEVEL: 'warn' };
try {
  const clip = join(dir, 'clip.mp4');
  const gen = await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'testsrc2=size=1280x720:rate=30,noise=alls=12:allf=t',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    String(seconds),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-crf',
    '18',
    '-c:a',
    'aac',
    clip,
  ]);
  if (gen.code !== 0) throw new Error(gen.stderr);
  const dry = nommerSync(['submit', clip, '--dry-run', '--json'], env);
  if (dry.status !== 0) throw new Error(dry.stderr);
  const [argv] = (JSON.parse(dry.stdout) as { commands: string[][] }).commands;
  const out = join(dir, 'clip.webm');
  const rawOut = join(dir, 'raw.webm');
  const rawArgs = argv!.slice(1).map((a) => (a === out ? rawOut : a));
  const start = nommerSync(['feederd', '--daemon', '--workers', '1'], env);
  if (start.status !== 0) throw new Error(start.stderr);
  console.log(
    `encode overhead: ${seconds} s 1280x720 30 fps clip, preset webm (VP9 + Opus), ${runs} runs each, alternating`,
  );
  console.log(`raw ffmpeg: ${argv![0]} ${rawArgs.join(' ')}\n`);
  const raw: number[] = [],
    nom: number[] = [];
  for (let i = 0; i < runs; i++) {
    rmSync(rawOut, { force: true });
    const r = await run(argv![0]!, ['-y', ...rawArgs]);
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
  console.log(`\nmedian: raw ffmpeg ${fmt(median(raw))}, nommer submit ${fmt(median(nom))}`);
  console.log(`nommer/raw wall-time ratio (median): ${(median(nom) / median(raw)).toFixed(3)}  (target ≤ 1.03)`);
} finally {
  nommerSync(['feederd', 'stop'], env);
  rmSync(dir, { recursive: true, force: true });
}
