// Adaptive-streaming ladders (issue 13), measured on this machine: on a 720p clip, the ladder's
// wall time against the sum of single encodes of its rungs (each measured alone), and the ladder
// on 2 workers against 1; then what N workers of their own would take, simulated from the task
// times measured alone (each rung a task, audio and extras tasks, packaging last).
// Then the same ladder with its rungs chunked (as feederd plans a long input), timed per task
// alone, and N workers simulated from that.
// Run: node dist/bench/abr.js [--seconds 12] [--size 1280x720] [--speed 4] [--chunk 4]
// Each "worker" here is a lane of the same 2-core machine, as a local feederd runs them.
import { mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePackage } from '../src/abr/run-local.js';
import { encodePackageAudio, encodeRendition } from '../src/abr/worker-task.js';
import { planLadder } from '../src/abr/ladder.js';
import { localFileStorage } from '../src/backends.js';
import { simulateWallTime } from '../src/chunked/plan.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { applyOverrides } from '../src/presets/overrides.js';
import { getPreset } from '../src/presets/registry.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('--seconds', '12'));
const [W, H] = arg('--size', '1280x720').split('x').map(Number) as [number, number];
const SPEED = arg('--speed', '4');
const CHUNK = Number(arg('--chunk', '4'));
const ff = locateFfmpeg();
const dir = mkdtempSync(join(tmpdir(), 'nommer-bench-abr-'));
const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;

try {
  const source = join(dir, 'source.mp4');
  const gen = spawnSync(
    ff.ffmpeg,
    [
      '-hide_banner',
      '-loglevel',
      'error',
      '-y',
      '-f',
      'lavfi',
      '-i',
      `testsrc2=size=${W}x${H}:rate=24`,
      '-f',
      'lavfi',
      '-i',
      'sine=frequency=440:sample_rate=48000',
      '-t',
      String(SECONDS),
      '-c:v',
      'libx264',
      '-preset',
      'ultrafast',
      '-pix_fmt',
      'yuv420p',
      '-c:a',
      'aac',
      source,
    ],
    { encoding: 'utf8' },
  );
  if (gen.status !== 0) throw new Error(gen.stderr);
  const preset = applyOverrides(getPreset('abr'), [`video.speed=${SPEED}`]);
  const ladder = planLadder(preset, { displayWidth: W, displayHeight: H });
  console.log(
    `abr ladder bench: ${SECONDS} s of ${W}x${H} at 24 fps, VP9 speed ${SPEED}; rungs ${ladder.map((r) => `${r.width}x${r.height}`).join(', ')}`,
  );

  // 1. Each rung (and the audio) encoded alone: what single encodes of the rungs cost.
  const env = { ffmpeg: ff, input: async () => source, preset };
  const singles: number[] = [];
  for (const r of ladder) {
    const t0 = performance.now();
    await encodeRendition(env, r.rung, join(dir, `single-${r.rung}.webm`));
    singles.push(performance.now() - t0);
    console.log(`  single encode ${r.height}p: ${s(singles.at(-1)!)}`);
  }
  const t0 = performance.now();
  await encodePackageAudio(env, join(dir, 'single-audio.webm'));
  const audioMs = performance.now() - t0;
  console.log(`  single encode audio: ${s(audioMs)}`);
  const sumSingles = singles.reduce((a, b) => a + b, 0) + audioMs;

  // 2. The ladder, whole (every task, extras and packaging included), on 1 and on 2 workers.
  const ladderRun = async (lanes: number) => {
    const times = new Map<string, number>();
    const out = join(dir, `pkg-${lanes}`);
    const t = performance.now();
    const r = await encodePackage({
      ffmpeg: ff,
      storage: localFileStorage(),
      input: source,
      preset,
      dir: out,
      lanes,
      onTask: (k, ms) => times.set(k, ms),
    });
    return { ms: performance.now() - t, times, files: r.package.files };
  };
  const one = await ladderRun(1);
  const two = await ladderRun(2);
  console.log('');
  console.log(`sum of single encodes (rungs + audio): ${s(sumSingles)}`);
  console.log(
    `ladder, 1 worker:  ${s(one.ms)}  = ${(one.ms / sumSingles).toFixed(2)}x the sum of single encodes (extras ${s(one.times.get('extras') ?? 0)}, packaging ${s(one.times.get('package') ?? 0)}, ${one.files} files)`,
  );
  console.log(
    `ladder, 2 workers: ${s(two.ms)}  = ${(one.ms / two.ms).toFixed(2)}x faster than 1 worker (both lanes share this machine's 2 cores)`,
  );

  for (const [i, r] of ladder.entries())
    console.log(
      `  ${r.height}p: alone ${s(singles[i]!)}, as the ladder's task ${s(one.times.get(`rendition-${r.rung}p`) ?? 0)} (1 worker), ${s(two.times.get(`rendition-${r.rung}p`) ?? 0)} (2 workers)`,
    );

  // 3. N workers of their own, from the task times measured alone on 1 worker.
  const pieces = [...one.times.entries()].filter(([k]) => k !== 'package').map(([, ms]) => ms / 1000);
  const tail = (one.times.get('package') ?? 0) / 1000;
  console.log('');
  console.log('simulated, N workers each a machine like this one (tasks as measured alone above, packaging last):');
  const base = simulateWallTime(pieces, 1, { serialTail: tail });
  for (const n of [1, 2, 4, 8]) {
    const w = simulateWallTime(pieces, n, { serialTail: tail });
    console.log(`  ${String(n).padStart(2)} workers: ${w.toFixed(2)} s  (${(base / w).toFixed(2)}x)`);
  }
  console.log('  (the top rung is the longest task: more workers than rungs gain little unless the rungs are chunked)');

  // 4. The rungs chunked (as feederd does an input over chunking.thresholdSeconds), 1 worker, each task timed alone.
  const chunkTimes = new Map<string, number>();
  const tc = performance.now();
  await encodePackage({
    ffmpeg: ff,
    storage: localFileStorage(),
    input: source,
    preset,
    dir: join(dir, 'pkg-chunked'),
    chunkSeconds: CHUNK,
    onTask: (k, ms) => chunkTimes.set(k, ms),
  });
  const chunkedMs = performance.now() - tc;
  const cPieces = [...chunkTimes.entries()].filter(([k]) => k !== 'package').map(([, ms]) => ms / 1000);
  const cTail = (chunkTimes.get('package') ?? 0) / 1000;
  console.log('');
  console.log(
    `chunked rungs (~${CHUNK} s chunks, ${cPieces.length - 2} chunk tasks), 1 worker: ${s(chunkedMs)} (${(chunkedMs / one.ms).toFixed(2)}x the unchunked ladder; joining and packaging ${s(cTail * 1000)})`,
  );
  const cBase = simulateWallTime(cPieces, 1, { serialTail: cTail });
  for (const n of [1, 2, 4, 8, 16]) {
    const w = simulateWallTime(cPieces, n, { serialTail: cTail });
    console.log(`  ${String(n).padStart(2)} workers: ${w.toFixed(2)} s  (${(cBase / w).toFixed(2)}x)`);
  }
} finally {
  rmSync(dir, { recursive: true, force: true });
}
