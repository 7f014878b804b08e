// A batch through feederd against the same ffmpeg encodes run raw (issue 25: "CPU-seconds ≤ 1.05 ×
// the same ffmpeg encodes run raw, measuring included" and "the machine ≥ 95% busy").
// K real-looking 720p clips are submitted at once (`nommer submit a b c ...`) to a freshly started
// feederd with its default local workers, preset and measuring; the raw side runs the argv of
// `submit --dry-run --json` for each clip with a plain pool of the same parallelism. Alternating,
// side by side in one run, each side gets:
// - CPU-seconds of its whole process tree: feederd runs in the foreground under /usr/bin/time and
//   is stopped with SIGTERM after the batch, so its figure holds itself, its workers and their
//   ffmpeg/ffprobe children (all reaped); the `nommer submit` client's CPU is added (its own
//   /usr/bin/time). Raw: each ffmpeg under /usr/bin/time.
// - wall time of the batch (submit's start to its end; raw: the pool's);
// - how busy the machine was over that window (1 − idle/total from /proc/stat, all cores: other
//   processes count too), and the side's own share: CPU-seconds / (wall × cores).
// --workers 1,2 runs both sides at each parallelism (feederd through NOMMER_WORKERS), in the same
// alternation: how many local workers keep the machine busy, and at what CPU.
//   node dist/bench/batch.js [--clips 4] [--seconds 2] [--runs 3] [--workers N[,M...]] [--no-quality-too]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultWorkers } from '../src/config.js';
import { sleep } from '../src/sleep.js';
import { makeMezzanine, timed } from './encode-util.js';
import { NOMMER_BIN, argValue, median, nommerSync } from './util.js';

const clips = Number(argValue('--clips', '4'));
const seconds = Number(argValue('--seconds', '2'));
const runs = Number(argValue('--runs', '3'));
const workersArg = argValue('--workers', '');
/** Parallelisms to compare; none given: feederd's default (and raw with as many runners). */
const parallelisms = workersArg ? workersArg.split(',').map(Number) : [defaultWorkers()];
const noQualityToo = process.argv.includes('--no-quality-too');

const dir = mkdtempSync(join(tmpdir(), 'nommer-batch-'));
const home = join(dir, 'home');
const env: NodeJS.ProcessEnv = {
  NOMMER_HOME: home,
  NOMMER_PORT: '0',
};

interface Sample {
  cpuS: number;
  wallS: number;
  /** 1 − idle/total of all cores over the batch window. */
  busy: number;
}

/** Jiffies of all cores: [idle incl. iowait, total]. */
function cpuTimes(): [number, number] {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3]! + f[4]!;
  return [idle, f.slice(0, 8).reduce((a, b) => a + b, 0)];
}

/** Runs `fn`, returning how busy the machine was while it ran. */
async function busyDuring<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const [i0, t0] = cpuTimes();
  const r = await fn();
  const [i1, t1] = cpuTimes();
  return [r, 1 - (i1 - i0) / Math.max(1, t1 - t0)];
}

/** The ffmpeg command a job of `clip` runs (submit --dry-run --json), writing to `rawOut`. */
function rawCommand(clip: string, rawOut: string): string[] {
  const dry = nommerSync(['submit', clip, '--dry-run', '--json'], env);
  if (dry.status !== 0) throw new Error(dry.stderr);
  const [command] = (JSON.parse(dry.stdout) as { commands: string[][] }).commands;
  const out = clip.replace(/\.mp4$/, '.webm');
  const [bin, ...argv] = command!;
  if (!argv.includes(out)) throw new Error(`no ${out} in ${command!.join(' ')}`);
  return [bin!, '-y', ...argv.map((a) => (a === out ? rawOut : a))];
}

/** The raw side: `workers` runners take the next command until none is left. */
async function rawBatch(commands: string[][], workers: number): Promise<Sample> {
  let next = 0,
    cpuS = 0,
    n = 0;
  const t0 = performance.now();
  const runner = async () => {
    while (next < commands.length) {
      const argv = commands[next++]!;
      rmSync(argv[argv.length - 1]!, { force: true });
      cpuS += (await timed(argv, join(dir, `raw-time${n++}.txt`))).cpuS;
    }
  };
  const [, busy] = await busyDuring(() => Promise.all(Array.from({ length: workers }, runner)));
  return { cpuS, wallS: (performance.now() - t0) / 1000, busy };
}

/** Starts feederd in the foreground under /usr/bin/time; resolves once it has written its pid. */
async function startFeederd(timeFile: string, workers: number | undefined) {
  const pidFile = join(home, 'feederd.pid');
  rmSync(pidFile, { force: true });
  const child = spawn('/usr/bin/time', ['-f', '%U %S %e', '-o', timeFile, process.execPath, NOMMER_BIN, 'feederd'], {
    env: { ...process.env, ...env, ...(workers ? { NOMMER_WORKERS: String(workers) } : {}) },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr = (stderr + c.toString()).slice(-4000);
  });
  const exited = once(child, 'close') as Promise<[number | null]>;
  while (!existsSync(pidFile)) {
    if (child.exitCode !== null) throw new Error(`feederd exited: ${stderr}`);
    await sleep(50);
  }
  const pid = Number(readFileSync(pidFile, 'utf8'));
  return {
    /** SIGTERM to feederd itself (not to time), then its tree's CPU-seconds. */
    async stop(): Promise<number> {
      process.kill(pid, 'SIGTERM');
      const [code] = await exited;
      if (code !== 0) throw new Error(`feederd exited with ${code}: ${stderr}`);
      const [u, s] = readFileSync(timeFile, 'utf8').trim().split('\n').pop()!.split(' ').map(Number);
      return u! + s!;
    },
  };
}

/** The nommer side: a fresh feederd, one `submit` of every clip (it waits for all), feederd stopped. */
async function nommerBatch(inputs: string[], extra: string[], n: number, workers?: number): Promise<Sample> {
  for (const c of inputs) rmSync(c.replace(/\.mp4$/, '.webm'), { force: true });
  const feederd = await startFeederd(join(dir, `feederd-time${n}.txt`), workers);
  const argv = [process.execPath, NOMMER_BIN, 'submit', ...inputs, '--quiet', ...extra];
  const [client, busy] = await busyDuring(() => timed(argv, join(dir, `submit-time${n}.txt`), env));
  const treeCpu = await feederd.stop();
  return { cpuS: treeCpu + client.cpuS, wallS: client.wallS, busy };
}

function report(labels: string[], samples: Sample[][]): void {
  const med = (i: number, k: keyof Sample) => median(samples[i]!.map((s) => s[k]));
  const cores = cpus().length;
  console.log(
    `\n${'side (medians)'.padEnd(34)} ${'CPU-s'.padStart(7)} ${'vs raw'.padStart(7)} ${'wall s'.padStart(7)} ${'vs raw'.padStart(7)} ${'machine busy'.padStart(12)} ${'own share'.padStart(9)}`,
  );
  let raw = 0;
  for (const [i, label] of labels.entries()) {
    // Each feederd side against the raw side of its own parallelism (the one listed before it).
    if (label.startsWith('raw')) raw = i;
    const own = median(samples[i]!.map((s) => s.cpuS / (s.wallS * cores)));
    console.log(
      `${label.padEnd(34)} ${med(i, 'cpuS').toFixed(2).padStart(7)} ${(med(i, 'cpuS') / med(raw, 'cpuS')).toFixed(3).padStart(7)} ` +
        `${med(i, 'wallS').toFixed(2).padStart(7)} ${(med(i, 'wallS') / med(raw, 'wallS')).toFixed(3).padStart(7)} ` +
        `${`${(med(i, 'busy') * 100).toFixed(1)}%`.padStart(12)} ${`${(own * 100).toFixed(1)}%`.padStart(9)}`,
    );
  }
  console.log(
    `(CPU: user+sys of the whole tree incl. feederd's start and stop and the submit client; machine busy: all ${cores} cores from /proc/stat over the batch, other processes included; own share: the side's CPU-s / (wall × ${cores}))`,
  );
}

async function main(): Promise<void> {
  const inputs = Array.from({ length: clips }, (_, i) => join(dir, `clip${i}.mp4`));
  for (const [i, c] of inputs.entries()) makeMezzanine(c, seconds, 3 - i * 0.4);
  const commands = inputs.map((c, i) => rawCommand(c, join(dir, `raw${i}.webm`)));
  type Side = [string, (n: number) => Promise<Sample>];
  const sides = parallelisms.flatMap((w): Side[] => {
    // Without --workers feederd runs as it is (no NOMMER_WORKERS): its own default.
    const fw = workersArg ? w : undefined;
    return [
      [`raw ffmpeg, ${w} at once`, () => rawBatch(commands, w)],
      [`feederd, ${w} worker(s)${fw ? '' : ' (default)'}`, (n) => nommerBatch(inputs, [], n, fw)],
      ...(noQualityToo
        ? [[`feederd --no-quality, ${w}`, (n: number) => nommerBatch(inputs, ['--no-quality'], n, fw)] as Side]
        : []),
    ];
  });
  console.log(
    `# batch of ${clips} × ${seconds} s 1280x720 24 fps clips (fractal + grain, H.264 + AAC) submitted at once; workers (raw runners alike): ${parallelisms.join(', ')} (default here: ${defaultWorkers()}) on ${cpus().length} cores; ${runs} runs, alternating; load ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  console.log(`raw: ${commands[0]!.join(' ')}`);
  const samples = sides.map(() => [] as Sample[]);
  let n = 0;
  for (let r = 0; r < runs; r++) {
    for (const [i, [label, side]] of sides.entries()) {
      const s = await side(n++);
      samples[i]!.push(s);
      process.stderr.write(
        `run ${r + 1} ${label}: ${s.cpuS.toFixed(2)} CPU-s, ${s.wallS.toFixed(2)} s wall, machine ${(s.busy * 100).toFixed(1)}% busy\n`,
      );
    }
  }
  report(
    sides.map(([l]) => l),
    samples,
  );
  console.log(`load at the end: ${readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`);
}

try {
  await main();
} finally {
  rmSync(dir, { recursive: true, force: true });
}
