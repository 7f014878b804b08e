// Dispatch latency over SQS on loopback (moto): from `POST /v1/jobs` returning to feederd seeing
// the worker's "encoding" phase (the worker publishes it right before it probes and starts
// ffmpeg), so it includes the way back through the status queue. One aws worker, jobs one at a
// time (each a 1 s audio clip to Opus), the median and p95 of N.
//   node dist/bench/dispatch-latency.js [--jobs 20]
import { spawn } from 'node:child_process';
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
const moto = await startMoto();
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
  await setupAws(
    { endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' },
    { bucket: 'bench', queuePrefix: 'lat', maxReceiveCount: 5 },
  );
  writeFileSync(
    join(dir, 'nommer.config.json'),
    JSON.stringify({
      backend: 'aws',
      aws: { bucket: 'bench', queuePrefix: 'lat', endpoint: moto.endpoint, forcePathStyle: true, region: 'us-east-1' },
    }),
  );
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
  procs.push(spawn(process.execPath, [NOMMER_BIN, 'feederd', '--port', '0'], { cwd: dir, env, stdio: 'ignore' }));
  procs.push(
    spawn(process.execPath, [NOMMER_BIN, 'worker', '--backend', 'aws', '--id', 'bench-w'], {
      cwd: dir,
      env,
      stdio: 'ignore',
    }),
  );
  const apiFile = join(dir, 'home', 'feederd.json');
  for (let i = 0; i < 200 && !existsSync(apiFile); i++) await new Promise((r) => setTimeout(r, 100));
  const client = new ApiClient({ url: (JSON.parse(readFileSync(apiFile, 'utf8')) as { url: string }).url });
  const lat: number[] = [];
  for (let i = 0; i <= jobs; i++) {
    const t0 = performance.now();
    const { job } = await client.createJob({
      input: clip,
      outputs: [{ preset: 'opus', uri: `s3://bench/out/${i}.opus` }],
    });
    const posted = performance.now();
    let started = 0;
    await client.events(job.id, (m) => {
      const j = m.data.job;
      if (!started && j.phase === 'encoding') started = performance.now();
    });
    if (i > 0) lat.push(started - posted); // the first job warms up the worker's SDK clients
    if (i === 0) console.log(`first job (cold worker): ${fmt(started - t0)}`);
  }
  console.log(
    `dispatch latency over SQS on loopback, ${jobs} jobs: median ${fmt(median(lat))}, p95 ${fmt(percentile(lat, 95))}, max ${fmt(Math.max(...lat))}  (target: median < 1 s)`,
  );
} finally {
  for (const p of procs) p.kill('SIGTERM');
  await new Promise((r) => setTimeout(r, 1500));
  for (const p of procs) p.kill('SIGKILL');
  await moto.stop();
  rmSync(dir, { recursive: true, force: true });
}
