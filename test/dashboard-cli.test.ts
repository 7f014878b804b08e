// The command-line side of issue 16: `nommer dashboard --print` (a one-time link, not the token);
// `nommer status` with feederd stopped reads the store (read-only); a second data dir's feederd
// that finds the configured port taken by another data dir's feederd takes a free port and
// records it, and the CLI finds it there.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeClip, tempDir } from './helpers/media.js';
import { startFeederd, waitForJob } from './helpers/feederd.js';
import { nommer } from './helpers/cli.js';
import { nommerInProcess } from './helpers/srv-inproc.js';
import type { PublicJob } from '../src/orchestrator/api.js';

const dirs: Array<{ cleanup(): void }> = [];
let shared: ReturnType<typeof startFeederd> | undefined;
after(async () => {
  await (await shared)?.kill().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});
const dir = () => {
  const d = tempDir('nommer-dashboard-cli-');
  dirs.push(d);
  return d.path;
};

/**
 * One feederd for the first two tests (a start costs seconds of CPU): the dashboard test uses it
 * running, the status test then stops it and reads its store.
 */
const feederd = () => (shared ??= startFeederd(dir(), { workers: 1 }));

test('nommer dashboard --print prints a one-time login link that is not the token; CI never opens a browser', async () => {
  const f = await feederd();
  const d = f.dir;
  const token = (JSON.parse(readFileSync(join(f.home, 'feederd.json'), 'utf8')) as { token: string }).token;
  const r = await nommer(['dashboard', '--print'], { env: f.env, cwd: d });
  assert.equal(r.code, 0, r.stderr);
  const url = r.stdout.trim();
  assert.match(url, new RegExp(`^${f.client.endpoint.url}/login\\?code=[\\w-]{20,}$`));
  assert.ok(!url.includes(token), 'the link does not carry the API token');
  assert.match(r.stderr, /once, within a minute/);
  // CI=true and no display: printed, not opened, even without --print. In this process (the
  // command's decision; the real binary ran above): a `nommer` start costs about a second of CPU.
  const ci = await nommerInProcess(['dashboard', '--json'], {
    env: { NOMMER_HOME: f.home, CI: 'true', DISPLAY: '' },
    cwd: d,
  });
  assert.equal(ci.code, 0, ci.stderr);
  const j = JSON.parse(ci.stdout) as { url: string; opened: boolean };
  assert.equal(j.opened, false);
  // The link works once: the first visit sets the cookie, the second is refused.
  const first = await fetch(j.url, { redirect: 'manual' });
  assert.equal(first.status, 200);
  assert.match(first.headers.get('set-cookie') ?? '', /HttpOnly; SameSite=Strict/);
  assert.equal((await fetch(j.url)).status, 401);
  // Without the token no code is issued.
  const anon = await fetch(`${f.client.endpoint.url}/v1/dashboard/login-codes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{}',
  });
  assert.equal(anon.status, 401);
});

test('nommer status with feederd stopped lists past jobs from the store, read-only', async () => {
  const f = await feederd();
  const d = f.dir;
  const clip = makeClip(join(d, 'a.mp4'), { seconds: 1, width: 160, height: 120 });
  const job = (await f.client.createJob({ input: clip, outputs: [{ preset: 'opus' }] })).job;
  await waitForJob(f.client, job.id, (j) => j.state === 'succeeded');
  await f.stop();
  const db = join(f.home, 'nommer.db');
  const before = statSync(db).mtimeMs;
  // The first through the real binary; the rest in this process (what status reads and prints).
  const list = await nommer(['status', '--json'], { env: f.env, cwd: d });
  assert.equal(list.code, 0, list.stderr);
  const data = JSON.parse(list.stdout) as {
    jobs: PublicJob[];
    summary: { offline?: boolean; jobs: { total: number } };
  };
  assert.deepEqual(
    data.jobs.map((j) => [j.id, j.state]),
    [[job.id, 'succeeded']],
  );
  assert.equal(data.summary.offline, true);
  assert.equal(data.summary.jobs.total, 1);
  const inProcess = { env: { NOMMER_HOME: f.home }, cwd: d };
  const text = await nommerInProcess(['status'], inProcess);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, new RegExp(`${job.id}\\s+succeeded`));
  assert.match(text.stdout, /feederd is not running \(jobs read from the store\)/);
  const one = await nommerInProcess(['status', job.id], inProcess);
  assert.equal(one.code, 0, one.stderr);
  assert.match(one.stdout, /state\s+succeeded/);
  assert.match(one.stdout, /events:\n.*created/);
  const none = await nommerInProcess(['status', 'j_nope'], inProcess);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no job j_nope/);
  assert.equal(statSync(db).mtimeMs, before, 'the store file is not written');
});

async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  const port = (s.address() as { port: number }).port;
  await new Promise((r) => s.close(r));
  return port;
}

test("a second data dir's feederd finds the port taken by another's, takes a free one and records it", async () => {
  const port = await freePort();
  const homes: Array<{ env: NodeJS.ProcessEnv; cwd: string; home: string }> = [];
  for (const name of ['a', 'b']) {
    const cwd = join(dir(), name);
    const home = join(cwd, 'home');
    mkdirSync(cwd, { recursive: true });
    writeFileSync(join(cwd, 'nommer.config.json'), JSON.stringify({ api: { port } }));
    homes.push({ cwd, home, env: { NOMMER_HOME: home, NOMMER_LOG_LEVEL: 'warn' } });
  }
  try {
    const urls: string[] = [];
    for (const h of homes) {
      const r = await nommer(['feederd', '--daemon', '--workers', '0', '--json'], { env: h.env, cwd: h.cwd });
      assert.equal(r.code, 0, r.stderr);
      const recorded = JSON.parse(readFileSync(join(h.home, 'feederd.json'), 'utf8')) as { url: string };
      assert.equal((JSON.parse(r.stdout) as { url: string }).url, recorded.url);
      urls.push(recorded.url);
    }
    assert.equal(new URL(urls[0]!).port, String(port), 'the first takes the configured port');
    assert.notEqual(new URL(urls[1]!).port, String(port), 'the second another');
    // Each data dir's CLI talks to its own feederd.
    for (const h of homes) {
      // In this process (a `nommer` start costs about a second of CPU): which feederd it reads.
      const s = await nommerInProcess(['status', '--json'], { env: h.env, cwd: h.cwd });
      assert.equal(s.code, 0, s.stderr);
      assert.equal((JSON.parse(s.stdout) as { summary: { offline?: boolean } }).summary.offline, undefined);
    }
    // A port asked for on the command line is not second-guessed.
    const c = await nommer(['feederd', '--port', String(port), '--workers', '0'], {
      env: { ...homes[1]!.env, NOMMER_HOME: join(homes[1]!.cwd, 'home2') },
      cwd: homes[1]!.cwd,
    });
    assert.equal(c.code, 2);
    assert.match(c.stderr, new RegExp(`port ${port} on 127\\.0\\.0\\.1 is in use`));
  } finally {
    for (const h of homes) await nommer(['feederd', 'stop'], { env: h.env, cwd: h.cwd });
  }
});
