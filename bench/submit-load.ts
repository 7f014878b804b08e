// The job store under load: 10,000 submissions through the JSON API (16 at a time), then
// `status` queries (the API calls `nommer status` makes, and the CLI itself) with 10,000 and
// with 100,000 jobs in the store. feederd runs with no workers, so nothing is encoded.
//   node dist/bench/submit-load.js [--jobs 10000] [--total 100000]
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApiClient } from '../src/client/api-client.js';
import { openStore } from '../src/orchestrator/store/index.js';
import { getPreset } from '../src/presets/registry.js';
import { NOMMER_BIN, fmt, median, nommerSync, percentile, run } from './util.js';

const arg = (name: string, def: number) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const jobs = arg('--jobs', 10_000);
const total = arg('--total', 100_000);

const dir = mkdtempSync(join(tmpdir(), 'nommer-bench-'));
const home = join(dir, 'home');
const env = { NOMMER_HOME: home, NOMMER_PORT: '0', NOMMER_LOG_LEVEL: 'warn' };
async function timeStatus(client: ApiClient, label: string) {
  const api: number[] = [];
  for (let i = 0; i < 50; i++) {
    const t0 = performance.now();
    await Promise.all([client.listJobs({ limit: 20 }), client.summary()]);
    api.push(performance.now() - t0);
  }
  const cli: number[] = [];
  for (let i = 0; i < 5; i++) cli.push((await run(process.execPath, [NOMMER_BIN, 'status'], env)).ms);
  const node = (await run(process.execPath, ['-e', '0'])).ms;
  console.log(
    `${label}: status API (list 20 + summary) median ${fmt(median(api))}, p95 ${fmt(percentile(api, 95))};  \`nommer status\` CLI wall median ${fmt(median(cli))} (of which starting node itself: ${fmt(node)})`,
  );
}
try {
  const input = join(dir, 'in.mov');
  writeFileSync(input, 'x');
  const start = nommerSync(['feederd', '--daemon', '--workers', '0'], env);
  if (start.status !== 0) throw new Error(start.stderr);
  const { url } = JSON.parse(readFileSync(join(home, 'feederd.json'), 'utf8')) as { url: string };
  const client = new ApiClient({ url });
  const t0 = performance.now();
  let next = 0;
  const lat: number[] = [];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (next < jobs) {
        const i = next++;
        const s = performance.now();
        await client.createJob({
          input,
          outputs: [{ preset: 'webm', uri: join(dir, `out-${i}.webm`) }],
        });
        lat.push(performance.now() - s);
      }
    }),
  );
  const took = performance.now() - t0;
  console.log(
    `${jobs} submissions through the API: ${fmt(took)} (${(jobs / (took / 1000)).toFixed(0)}/s; per request median ${fmt(median(lat))}, p95 ${fmt(percentile(lat, 95))})  (target < 10 s)`,
  );
  await timeStatus(client, `${jobs.toLocaleString()} jobs`);
  // Fill up to `total` straight through the store (the API path was measured above).
  nommerSync(['feederd', 'stop'], env);
  const store = openStore(join(home, 'nommer.db'));
  const preset = getPreset('webm') as unknown as Record<string, unknown> & { name: string };
  const t1 = performance.now();
  store.db.transaction(() => {
    for (let i = jobs; i < total; i++)
      store.createJob({ input, outputs: [{ preset, uri: join(dir, `out-${i}.webm`) }] });
  })();
  console.log(`(filled the store to ${total.toLocaleString()} jobs directly in ${fmt(performance.now() - t1)})`);
  store.close();
  const again = nommerSync(['feederd', '--daemon', '--workers', '0'], env);
  if (again.status !== 0) throw new Error(again.stderr);
  const { url: url2 } = JSON.parse(readFileSync(join(home, 'feederd.json'), 'utf8')) as { url: string };
  const c2 = new ApiClient({ url: url2 });
  // The jobs put straight into the store are still to be sent to the queue; time status once
  // that backlog is dispatched, so the figure is the query's, not the dispatcher's.
  const t2 = performance.now();
  for (let i = 0; i < 600; i++) {
    const s = await c2.summary();
    if (s.queue.waiting >= total) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  console.log(
    `(feederd dispatched the ${(total - jobs).toLocaleString()}-job backlog in ${fmt(performance.now() - t2)})`,
  );
  await timeStatus(c2, `${total.toLocaleString()} jobs`);
} finally {
  nommerSync(['feederd', 'stop'], env);
  rmSync(dir, { recursive: true, force: true });
}
