// Chunked vs unchunked encoding, measured on this machine for VP9 (webm preset) and AV1 (av1
// preset), then a simulation of a 10-minute input on N = 1..32 workers built from what was
// measured (encode rate, per-chunk start-up, audio, assembly).
// Run: node dist/bench/chunked.js [--seconds 20] [--size 640x360] [--workers 2] [--chunk 5]
// Each local worker here is a slot of the same 2-core machine, as a local feederd runs them;
// in the simulation each worker is a machine of its own.
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FsStorage } from '../src/adapters/local/fs-storage.js';
import { chunkCount, planChunks, simulateWallTime } from '../src/chunked/plan.js';
import { probeTimeline } from '../src/chunked/probe-frames.js';
import { chunkedTasks } from '../src/chunked/tasks.js';
import { standaloneContext } from '../src/worker/task-context.js';
import { runTask } from '../src/worker/runners.js';
import { encode } from '../src/encode.js';
import { localFileStorage } from '../src/backends.js';
import { sha256File } from '../src/hash.js';
import { countVideoPackets } from '../src/ffmpeg/probe.js';
import { probeInput } from '../src/ffmpeg/probe.js';
import { ffmpegCapabilities } from '../src/ffmpeg/locate.js';
import { locateFfmpeg } from '../src/ffmpeg/locate.js';
import { MESSAGE_VERSION, receivedTask } from '../src/messages.js';
import { getPreset } from '../src/presets/registry.js';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const SECONDS = Number(arg('--seconds', '20'));
const [W, H] = arg('--size', '640x360').split('x').map(Number) as [number, number];
const WORKERS = Number(arg('--workers', '2'));
const CHUNK = Number(arg('--chunk', '5'));
const ff = locateFfmpeg();
const dir = mkdtempSync(join(tmpdir(), 'nommer-bench-chunked-'));
const now = () => performance.now() / 1000;

function ssim(a: string, b: string): number {
  const r = spawnSync(
    ff.ffmpeg,
    [
      '-hide_banner',
      '-nostats',
      '-i',
      a,
      '-i',
      b,
      '-lavfi',
      '[0:v]settb=1/30,setpts=N[x];[1:v]settb=1/30,setpts=N[y];[x][y]ssim',
      '-f',
      'null',
      '-',
    ],
    { encoding: 'utf8' },
  );
  return Number(/All:([0-9.]+)/.exec(r.stderr)?.[1]);
}

const source = join(dir, 'source.mp4');
const made = spawnSync(ff.ffmpeg, [
  '-v',
  'error',
  '-y',
  '-f',
  'lavfi',
  '-i',
  `testsrc2=size=${W}x${H}:rate=25`,
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
  '-g',
  '50',
  '-c:a',
  'aac',
  source,
]);
if (made.status !== 0) throw new Error(String(made.stderr));

interface Measured {
  codec: string;
  whole: number;
  chunked: number;
  chunks: number;
  chunkTimes: number[];
  /** The audio task timed alone (what the extrapolation uses). */
  audio: number;
  /** The same task as it ran in the 2-worker schedule, beside chunks. */
  audioBesideChunks: number;
  assemble: number;
  probe: number;
  ssim: number;
  size: number;
  bytesPerSecond: number;
  copyPerSecond: number;
}

/** A spawn that does nothing: the fixed cost of each ffmpeg/ffprobe process here. */
function spawnCost(): number {
  const t = now();
  for (let i = 0; i < 3; i++) spawnSync(ff.ffprobe, ['-v', 'error', '-version']);
  return (now() - t) / 3;
}

/** Seconds per source second of what assembly does per byte: checksum, packet count, stream copy. */
async function copyCost(file: string): Promise<number> {
  const t = now();
  await sha256File(file);
  await countVideoPackets(ff.ffprobe, file);
  spawnSync(ff.ffmpeg, ['-v', 'error', '-y', '-i', file, '-c', 'copy', '-cues_to_front', '1', join(dir, 'copy.webm')]);
  return Math.max(0, now() - t - 2 * spawnCost()) / SECONDS;
}

async function measure(presetName: string): Promise<Measured> {
  const preset = getPreset(presetName, {}) as unknown as Record<string, unknown> & { name: string };
  const whole = join(dir, `${presetName}-whole.webm`);
  let t = now();
  await encode({
    ffmpeg: ff,
    storage: localFileStorage(),
    input: source,
    outputs: [{ preset: preset as never, path: whole }],
    force: true,
  });
  const wholeTime = now() - t;

  const out = join(dir, `${presetName}-chunked.webm`);
  t = now();
  const src = await probeTimeline(ff.ffprobe, source);
  const plan = planChunks(src.timeline, { chunkSeconds: CHUNK, workers: WORKERS });
  const probe = now() - t;
  const tasks = chunkedTasks(plan, { scratch: `${join(dir, presetName, 'chunks')}/`, audio: src.hasAudio });
  const storage = new FsStorage();
  const run = async (key: string) => {
    const task = tasks.find((x) => x.key === key)!;
    const msg = receivedTask().parse({
      v: MESSAGE_VERSION,
      kind: 'task',
      jobId: 'bench',
      taskId: `bench.${key}`,
      attempt: 1,
      type: task.type,
      input: source,
      outputs: [{ preset, uri: out }],
      force: true,
      params: task.params,
    });
    const work = mkdtempSync(join(dir, 'w-'));
    const s = now();
    const r = await runTask(standaloneContext({ task: msg, storage, ffmpeg: ff, scratch: work }));
    return { r, seconds: now() - s };
  };
  // The queue's order: chunks first, then audio; WORKERS at a time; then the assembly.
  const keys = tasks.filter((x) => x.type === 'chunk').map((x) => x.key);
  const times = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: WORKERS }, async () => {
      while (next < keys.length) {
        const k = keys[next++]!;
        times.set(k, (await run(k)).seconds);
      }
    }),
  );
  // The extrapolation needs the audio task's own cost: above it ran beside chunks that held the
  // cores (SVT-AV1 takes both), so time it again, alone. The wall time above keeps the real schedule.
  const audioAlone = keys.includes('audio') ? (await run('audio')).seconds : 0;
  const asm = await run('assemble');
  await asm.r.cleanup?.();
  // The extra audio run is measurement, not part of the chunked job's wall time.
  const chunkedTime = now() - t - audioAlone;
  return {
    codec: presetName,
    whole: wholeTime,
    chunked: chunkedTime,
    chunks: plan.chunks.length,
    chunkTimes: keys.filter((k) => k !== 'audio').map((k) => times.get(k)!),
    audio: audioAlone,
    audioBesideChunks: times.get('audio') ?? 0,
    assemble: asm.seconds,
    probe,
    ssim: ssim(out, whole),
    size: statSync(out).size / statSync(whole).size,
    bytesPerSecond: statSync(out).size / SECONDS,
    copyPerSecond: await copyCost(out),
  };
}

const f2 = (x: number) => x.toFixed(2);
// What every chunk task pays besides encoding its frames.
const startup = await (async () => {
  const t = now();
  await probeInput(ff.ffprobe, source);
  await ffmpegCapabilities(ff.ffmpeg);
  await countVideoPackets(ff.ffprobe, source);
  await sha256File(source);
  spawnSync(ff.ffmpeg, ['-v', 'error', '-ss', '2', '-i', source, '-t', '2', '-map', '0:v', '-f', 'null', '-']);
  return now() - t;
})();
console.log(
  `# chunked vs unchunked on this machine: ${SECONDS} s of ${W}x${H} testsrc2 @25 fps + stereo, ${WORKERS} workers, ~${CHUNK} s chunks`,
);
const results: Measured[] = [];
for (const p of ['webm', 'av1']) {
  const m = await measure(p);
  results.push(m);
  console.log(
    `${p.padEnd(5)} unchunked ${f2(m.whole)} s | chunked ${f2(m.chunked)} s (${m.chunks} chunks; plan ${f2(m.probe)} s, chunks ${m.chunkTimes.map(f2).join('/')} s, audio ${f2(m.audio)} s alone (${f2(m.audioBesideChunks)} s beside chunks), assemble ${f2(m.assemble)} s)` +
      ` | speed-up ${f2(m.whole / m.chunked)}× | SSIM vs unchunked ${m.ssim.toFixed(4)} | size ${f2(m.size)}×`,
  );
}

// ---- simulation: a 10-minute input on N workers, each a machine of its own ------------------
console.log('\n# simulation: 10-minute input, chunkSeconds 60 (config default) and 10; each worker its own machine');
console.log('# per worker: encode rate from the unchunked run on this machine; per chunk: start-up measured above');
const FILM = 600;
for (const m of results) {
  const rate = m.whole / SECONDS; // seconds of encode per second of source, one encode on the whole machine
  // Start-up per chunk: probe + encoder list + frame count + checksum (measured), plus decoding
  // the GOP before the chunk (2 s of source at the decoder's speed, measured).
  const perChunk = startup;
  // Serial parts at 10 minutes: their fixed cost as measured, plus what grows with the input
  // (listing packets at planning; checksum, count and stream copy at assembly).
  const spawn = spawnCost();
  const audio = startup + Math.max(0, m.audio - startup) * (FILM / SECONDS);
  const assemble = m.assemble + m.copyPerSecond * (FILM - SECONDS) + 0.5; // + a dispatch poll
  const plan = m.probe + Math.max(0, m.probe - 3 * spawn) * (FILM / SECONDS - 1);
  const whole = rate * FILM;
  for (const chunkSeconds of [60, 10]) {
    const row: string[] = [];
    for (const n of [1, 2, 4, 8, 16, 32]) {
      const count = chunkCount(FILM, chunkSeconds, n);
      // The audio task's id sorts before the chunks', so the dispatcher sends it first.
      const chunks = [audio, ...Array.from({ length: count }, () => (FILM / count) * rate)];
      const wall = plan + simulateWallTime(chunks, n, { perChunkOverhead: perChunk }) + assemble;
      row.push(`N=${n}: ${f2(whole / wall)}× (${count} chunks)`);
    }
    console.log(`${m.codec.padEnd(5)} chunk ${String(chunkSeconds).padStart(2)} s | ${row.join(' | ')}`);
  }
  const serial = plan + assemble;
  console.log(
    `${m.codec.padEnd(5)} serial: plan ${f2(plan)} s + assemble ${f2(assemble)} s of ${f2(whole)} s unchunked -> at most ${f2(whole / serial)}× with unlimited workers; audio task ${f2(audio)} s; per-chunk start-up ${f2(perChunk)} s`,
  );
}
rmSync(dir, { recursive: true, force: true });
