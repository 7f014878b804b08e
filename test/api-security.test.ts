// The local API lets in only who it should, by default: a token on every request but health
// (made at first start, kept in the data dir), a Host that names this API (DNS rebinding), no
// foreign Origin, JSON bodies only (cross-site "simple" POSTs), and a data dir only its owner
// can read. Through a real feederd and raw HTTP requests.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeClip, tempDir } from './helpers/media.js';
import { nommer } from './helpers/cli.js';
import { startFeederd, type RunningFeederd } from './helpers/feederd.js';

const running: RunningFeederd[] = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  for (const f of running) await f.stop().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});

interface Raw {
  status: number;
  body: string;
}

/** One HTTP request to feederd's port with exactly these headers (no client library in between). */
function raw(
  f: RunningFeederd,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Raw> {
  const { port } = new URL(f.client.endpoint.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port: Number(port),
        method,
        path,
        headers: { ...headers, ...(body !== undefined ? { 'content-length': String(Buffer.byteLength(body)) } : {}) },
      },
      (res) => {
        let text = '';
        res
          .setEncoding('utf8')
          .on('data', (c: string) => {
            text += c;
          })
          .on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const hostOf = (f: RunningFeederd) => new URL(f.client.endpoint.url).host;
const auth = (f: RunningFeederd) => ({ authorization: `Bearer ${f.client.endpoint.token}` });

test('DNS rebinding: a request whose Host is a foreign name gets a 4xx and the target file is untouched, even with force', async () => {
  const d = tempDir('nommer-apisec-');
  dirs.push(d);
  const f = await startFeederd(d.path, { workers: 1 });
  running.push(f);
  const clip = makeClip(join(d.path, 'c.mp4'), { seconds: 1, width: 160, height: 120 });
  const victim = join(d.path, 'precious.txt');
  writeFileSync(victim, "the user's own file");
  const port = new URL(f.client.endpoint.url).port;
  const body = JSON.stringify({ input: clip, outputs: [{ preset: 'poster', uri: victim }], force: true });
  // The page knows no token; here even one is sent, so it is the Host check that refuses.
  const r = await raw(
    f,
    'POST',
    '/v1/jobs',
    { host: `evil.example:${port}`, 'content-type': 'application/json', ...auth(f) },
    body,
  );
  assert.equal(r.status, 421, r.body);
  assert.match(r.body, /HOST_REFUSED/);
  assert.equal(
    (await raw(f, 'GET', '/v1/jobs', { host: `evil.example:${port}`, ...auth(f) })).status,
    421,
    'nor can it list jobs',
  );
  assert.equal(
    (await raw(f, 'GET', '/v1/jobs', { host: `127.0.0.1:${Number(port) + 1}`, ...auth(f) })).status,
    421,
    'the port must be ours too',
  );
  const list = await f.client.listJobs();
  assert.equal(list.jobs.length, 0, 'no job was created');
  assert.equal(readFileSync(victim, 'utf8'), "the user's own file");
  // localhost and [::1] name this API as well as 127.0.0.1.
  for (const h of [`localhost:${port}`, `[::1]:${port}`, hostOf(f)])
    assert.equal((await raw(f, 'GET', '/v1/jobs', { host: h, ...auth(f) })).status, 200, h);
});

test('a foreign Origin is refused; a cross-site "simple" POST (text/plain) to cancel gets 415 and cancels nothing', async () => {
  const d = tempDir('nommer-apisec-');
  dirs.push(d);
  const f = await startFeederd(d.path, { workers: 0 });
  running.push(f);
  const clip = makeClip(join(d.path, 'c.mp4'), { seconds: 1, width: 160, height: 120 });
  const job = (
    await f.client.createJob({
      input: clip,
      outputs: [{ preset: 'poster' }],
    })
  ).job;
  const origin = await raw(f, 'GET', '/v1/jobs', { host: hostOf(f), origin: 'http://evil.example', ...auth(f) });
  assert.equal(origin.status, 403, origin.body);
  assert.match(origin.body, /ORIGIN_REFUSED/);
  const simple = await raw(
    f,
    'POST',
    `/v1/jobs/${job.id}/cancel`,
    { host: hostOf(f), 'content-type': 'text/plain', ...auth(f) },
    'x',
  );
  assert.equal(simple.status, 415, simple.body);
  const form = await raw(
    f,
    'POST',
    '/v1/jobs',
    { host: hostOf(f), 'content-type': 'application/x-www-form-urlencoded', ...auth(f) },
    `input=${encodeURIComponent(clip)}`,
  );
  assert.equal(form.status, 415, form.body);
  const still = await f.client.getJob(job.id);
  assert.equal(still.job.state, 'queued');
  // Its own origin is fine (the dashboard will be served from it).
  assert.equal(
    (await raw(f, 'GET', '/v1/jobs', { host: hostOf(f), origin: `http://${hostOf(f)}`, ...auth(f) })).status,
    200,
  );
});

test('without a configured token feederd makes one at first start, keeps it (0600) across restarts, and the CLI finds it; without it only health answers', async () => {
  const d = tempDir('nommer-apisec-');
  dirs.push(d);
  let f = await startFeederd(d.path, { workers: 0 });
  running.push(f);
  const token = f.client.endpoint.token;
  assert.ok(token && token.length >= 32, 'a generated token');
  assert.equal((await raw(f, 'GET', '/v1/jobs', { host: hostOf(f) })).status, 401);
  assert.equal(
    (await raw(f, 'GET', '/v1/jobs', { host: hostOf(f), authorization: 'Bearer wrong-token-0123456789' })).status,
    401,
  );
  assert.equal((await raw(f, 'GET', '/v1/health', { host: hostOf(f) })).status, 200);
  const st = await nommer(['status', '--json'], { env: { NOMMER_HOME: f.home }, cwd: d.path, timeoutMs: 30_000 });
  assert.equal(st.code, 0, st.stderr);
  // The data dir and what is in it are the owner's only.
  assert.equal(statSync(f.home).mode & 0o777, 0o700);
  for (const name of ['feederd.json', 'nommer.db', 'nommer.db-wal', 'workers.log']) {
    let mode: number | undefined;
    try {
      mode = statSync(join(f.home, name)).mode & 0o777;
    } catch {
      continue;
    }
    assert.equal(mode, 0o600, name);
  }
  await f.stop();
  const kept = JSON.parse(readFileSync(join(f.home, 'feederd.json'), 'utf8')) as { token?: string; url?: string };
  assert.equal(kept.token, token, 'kept for the next start');
  assert.equal(kept.url, undefined, 'no address while stopped');
  f = await startFeederd(d.path, { workers: 0, keepToken: true });
  running.push(f);
  assert.equal(f.client.endpoint.token, token, 'the same token after a restart');
});
