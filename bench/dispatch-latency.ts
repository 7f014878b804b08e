// Dispatch latency: from `POST /v1/jobs` returning to feederd applying the worker's first status
// event of the task (the job's startedAt, ms resolution), so it includes the way back through
// the status queue. Jobs one at a time (each a 1 s audio clip to Opus), the
// median and p95 of N.
//   --backend aws (default): over SQS on loopback (moto), one aws worker.
//   --backend local: feederd's own worker processes on the shared SQLite file (--workers, 2);
//     --idle-seconds S first measures the CPU time feederd and its workers use doing nothing.
//   node dist/bench/dispatch-latency.js [--backend aws|local] [--jobs 20] [--workers 2] [--idle-seconds 0]
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../src/client/api-client.js';
import { setupAws } from '../src/adapters/aws/setup.js';
import { startMoto } from '../test/helpers/moto.js';
import { NOMMER_BIN, fmt, median, percentile, run } from './util.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const jobs = arg('--jobs', 20);
const backendAt = process.argv.indexOf('--backend');
const backend = backendAt > 0 ? process.argv[backendAt + 1] : 'aws';
if (backend !== 'aws' && backend !== 'local') throw new Error(`--backend: aws or local, not ${backend}`);
const workers = arg('--workers', 2);
const idleSeconds = arg('--idle-seconds', 0);
const moto = backend === 'aws' ? await startMoto() : null;
const dir = mkdtempSync(join(tmpdir(), 'nommer-bench-'));
const env = {
  ...process.env,
  NOMMER_HOME: join(dir, 'home'),
  NOMMER_LOG_LEVEL: 'warn',
  AWS_ACCESS_KEY_ID: 'testing',
  AWS_SECRET_ACCESS_KEY: 'testing',
  AWS_REGION: 'us-east-1',
};
const procs: Array<ReturnType<typeof spawn>> = [];
try {
  if (moto) await configureAws(moto.endpoint);
  else writeFileSync(join(dir, 'nommer.config.json'), JSON.stringify({ backend: 'local', local: { workers } }));
  const clip = join(dir, 'a.wav');
  const gen = await run('ffmpeg', [
    '-hide_banner',
    '-loglevel',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    'sine=frequency=440:sample_rate=48000',
    '-t',
    '1',
    clip,
  ]);
  if (gen.code !== 0) throw new Error(gen.stderr);
  const feederd = spawn(process.execPath, [NOMMER_BIN, 'feederd', '--port', '0'], { cwd: dir, env, stdio: 'ignore' });
  procs.push(feederd);
  if (moto)
    procs.push(
      spawn(process.execPath, [NOMMER_BIN, 'worker', '--backend', 'aws', '--id', 'bench-w'], {
        cwd: dir,
        env,
        stdio: 'ignore',
      }),
    );
  const apiFile = join(dir, 'home', 'feederd.json');
  for (let i = 0; i < 200 && !existsSync(apiFile); i++) await new Promise((r) => setTimeout(r, 100));
  if (idleSeconds > 0) await measureIdle(feederd.pid!);
  // feederd requires its token (kept in feederd.json beside the address).
  const api = JSON.parse(readFileSync(apiFile, 'utf8')) as { url: string; token?: string };
  const client = new ApiClient({ url: api.url, token: api.token });
  const lat: number[] = [];
  for (let i = 0; i <= jobs; i++) {
    const t0 = Date.now();
    const { job } = await client.createJob({
      input: clip,
      outputs: [{ preset: 'opus', uri: moto ? `s3://bench/out/${i}.opus` : join(dir, `out-${i}.opus`) }],
    });
    const posted = Date.now();
    // startedAt: when feederd applied the worker's first status event of the task (feederd's clock).
    let started: string | null = null;
    await client.events(job.id, (m) => {
      started ??= m.data.job.startedAt;
    });
    if (started === null) throw new Error(`job ${job.id} ended without a start`);
    const at = Date.parse(started);
    if (i > 0) lat.push(at - posted); // the first job warms up the worker
    if (i === 0) console.log(`first job (cold worker): ${fmt(at - t0)}`);
  }
  console.log(
    `dispatch latency ${moto ? 'over SQS on loopback' : `on the local backend (${workers} workers)`}, ${jobs} jobs: median ${fmt(median(lat))}, p95 ${fmt(percentile(lat, 95))}, max ${fmt(Math.max(...lat))}  (target: median < 1 s)`,
  );
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1500));
  for (const p of procs) p.kill('SIGKILL');
  await moto?.stop();
  rmSync(dir, { recursive: true, force: true });
}

async function configureAws(endpoint: string): Promise<void> {
  await setupAws(
    { endpoint, forcePathStyle: true, region: 'us-east-1' },
    { bucket: 'bench', queuePrefix: 'lat', maxReceiveCount: 5 },
  );
  writeFileSync(
    join(dir, 'nommer.config.json'),
    JSON.stringify({
      backend: 'aws',
      aws: { bucket: 'bench', queuePrefix: 'lat', endpoint, forcePathStyle: true, region: 'us-east-1' },
    }),
  );
}

/** CPU seconds (user + system) of a process and its children, from /proc (Linux). */
function treeCpuSeconds(root: number): { seconds: number; pids: number } {
  const hz = 100; // USER_HZ: 100 on every Linux nommer runs on
  let ticks = 0,
    pids = 0;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // gone meanwhile
    }
    // Fields after the command's closing parenthesis: state ppid ... utime(14) stime(15).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (Number(name) !== root && Number(f[1]) !== root) continue;
    ticks += Number(f[11]) + Number(f[12]);
    pids++;
  }
  return { seconds: ticks / hz, pids };
}

/** The CPU time feederd and its workers use over idleSeconds with nothing to do. */
async function measureIdle(root: number): Promise<void> {
  // Let the workers start and settle (their start-up is not idle time).
  for (let i = 0; i < 100 && treeCpuSeconds(root).pids < 1 + (moto ? 0 : workers); i++)
    await new Promise((r) => setTimeout(r, 100));
  await new Promise((r) => setTimeout(r, 3000));
  const a = treeCpuSeconds(root);
  await new Promise((r) => setTimeout(r, idleSeconds * 1000));
  const b = treeCpuSeconds(root);
  console.log(
    `idle: feederd + ${b.pids - 1} workers used ${(b.seconds - a.seconds).toFixed(2)} CPU-s in ${idleSeconds} s (load ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]})`,
  );
}
