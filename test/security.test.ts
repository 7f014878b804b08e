// API security, against a real feederd: loopback by default; any other address needs a token
// (16+ characters) and feederd refuses to start without one; the token guards every route but
// health; request size limits; no secret (API token, webhook secret, AWS key, credentials in a
// URL) in logs, error messages or job records; webhook signatures verified with the very code
// README shows.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { writeFileSync } from 'node:fs';
import { makeClip, tempDir } from './helpers/media.js';
import { NOMMER_BIN, nommer } from './helpers/cli.js';
import { isFinal, startFeederd, waitForJob, writeConfig, type RunningFeederd } from './helpers/feederd.js';
import { until } from './helpers/faults.js';
import { ApiClient } from '../src/client/api-client.js';
import { signPayload, SIGNATURE_HEADER } from '../src/orchestrator/notifier.js';

const TOKEN = 'tok-7f3a9c0e51d24b8e9a6f';
const WEBHOOK_SECRET = 'whsec-2b7d4e9f10a3c6e8';
const AWS_SECRET = 'AWSSECRETdoNotLog0123456789abcdef';
const running: Array<{ kill(): Promise<void> }> = [];
const dirs: Array<{ cleanup(): void }> = [];
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  for (const d of dirs) d.cleanup();
});
function dir(): string {
  const d = tempDir('nommer-sec-');
  dirs.push(d);
  return d.path;
}

/** feederd with debug logging captured (the shared helper keeps logs at warn). */
async function feederdWithLog(
  d: string,
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ proc: ChildProcess; url: string; log: () => string; stop(): Promise<void>; kill(): Promise<void> }> {
  const home = join(d, 'home');
  let log = '';
  const proc = spawn(process.execPath, [NOMMER_BIN, 'feederd', '--port', '0', '--shutdown-grace', '2', ...args], {
    cwd: d,
    env: { ...process.env, ...env, NOMMER_HOME: home, NOMMER_LOG_LEVEL: 'debug' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  proc.stdout!.setEncoding('utf8').on('data', (c: string) => {
    log += c;
  });
  proc.stderr!.setEncoding('utf8').on('data', (c: string) => {
    log += c;
  });
  const exited = new Promise<void>((r) => proc.once('exit', () => r()));
  await until(() => existsSync(join(home, 'feederd.json')) || proc.exitCode !== null, 20_000, 'feederd to start');
  if (proc.exitCode !== null) throw new Error(`feederd exited: ${log}`);
  const { url } = JSON.parse(readFileSync(join(home, 'feederd.json'), 'utf8')) as { url: string };
  return {
    proc,
    url,
    log: () => log,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await exited;
      }
    },
    async kill() {
      if (proc.exitCode === null) {
        proc.kill('SIGKILL');
        await exited;
      }
    },
  };
}

test('feederd listens on loopback by default; its address file (with any token) is private to the user', async () => {
  const d = dir();
  const f: RunningFeederd = await startFeederd(d, { workers: 0 });
  running.push(f);
  assert.match(f.client.endpoint.url, /^http:\/\/127\.0\.0\.1:\d+$/);
  assert.equal(statSync(join(f.home, 'feederd.json')).mode & 0o777, 0o600);
  await f.stop();
});

test('any other address without a token: feederd refuses to start, with one clear line and exit 2; a short token is refused too', async () => {
  const d = dir();
  writeConfig(d, {});
  const env = { NOMMER_HOME: join(d, 'home'), NOMMER_TOKEN: '' };
  for (const host of ['0.0.0.0', '::', '192.0.2.10']) {
    const r = await nommer(['feederd', '--host', host, '--port', '0', '--workers', '0'], {
      env,
      cwd: d,
      timeoutMs: 30_000,
    });
    assert.equal(r.code, 2, `${host}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`refusing to listen on ${host.replace(/\./g, '\\.')} without an API token`));
    assert.doesNotMatch(r.stderr, /\n\s+at /);
  }
  const viaEnv = await nommer(['feederd', '--port', '0', '--workers', '0'], {
    env: { ...env, NOMMER_HOST: '0.0.0.0' },
    cwd: d,
    timeoutMs: 30_000,
  });
  assert.equal(viaEnv.code, 2, viaEnv.stderr);
  const short = await nommer(['feederd', '--host', '0.0.0.0', '--port', '0', '--workers', '0'], {
    env: { ...env, NOMMER_TOKEN: 'short' },
    cwd: d,
    timeoutMs: 30_000,
  });
  assert.equal(short.code, 2, short.stderr);
  assert.match(short.stderr, /api\.token must be at least 16 characters/);
  assert.doesNotMatch(short.stderr, /short"/, 'the rejected token is not echoed');
  assert.equal(existsSync(join(d, 'home', 'feederd.json')), false, 'nothing listened');
});

test('with a token, feederd binds beyond loopback and every route but health needs it; the CLI finds it; the default body limit holds', async () => {
  const d = dir();
  writeConfig(d, {});
  const f = await feederdWithLog(d, ['--host', '0.0.0.0', '--workers', '0'], { NOMMER_TOKEN: TOKEN });
  running.push(f);
  // The address file says 0.0.0.0 or the port only; talk to it over loopback.
  const port = new URL(f.url.replace('0.0.0.0', '127.0.0.1')).port;
  const base = `http://127.0.0.1:${port}`;
  const get = (path: string, auth?: string) =>
    fetch(base + path, { headers: auth === undefined ? {} : { authorization: auth } });
  assert.equal((await get('/v1/health')).status, 200);
  const health = await (await get('/v1/health')).text();
  assert.doesNotMatch(health, new RegExp(TOKEN));
  for (const auth of [
    undefined,
    '',
    'Bearer ',
    `Bearer ${TOKEN.slice(0, -1)}x`,
    `Bearer ${TOKEN}x`,
    `Bearer ${TOKEN.slice(0, 8)}`,
    `bearer ${TOKEN}`,
    `Basic ${Buffer.from(`u:${TOKEN}`).toString('base64')}`,
    TOKEN,
  ]) {
    for (const path of ['/v1/jobs', '/v1/summary', '/v1/jobs/j_x', '/v1/jobs/j_x/events']) {
      const res = await get(path, auth);
      assert.equal(res.status, 401, `${path} with ${JSON.stringify(auth)}`);
      const body = await res.text();
      assert.match(body, /UNAUTHORIZED/);
      assert.doesNotMatch(body, new RegExp(TOKEN.slice(0, 8)), 'the error does not echo the token');
    }
  }
  const post = await fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: '{"input":"/x.mp4"}',
  });
  assert.equal(post.status, 401, 'creating needs the token too');
  assert.equal((await get('/v1/jobs', `Bearer ${TOKEN}`)).status, 200);
  // Default 1 MiB body limit, checked after authentication.
  const big = await fetch(`${base}/v1/jobs`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` },
    body: JSON.stringify({ input: '/x.mp4', set: ['y'.repeat(1_200_000)] }),
  });
  assert.equal(big.status, 413);
  assert.equal(((await big.json()) as { error: { code: string } }).error.code, 'BODY_TOO_LARGE');
  // The CLI reads the token from the (0600) address file of its data dir.
  const st = await nommer(['status', '--json', '--api', base], {
    env: { NOMMER_HOME: join(d, 'home'), NOMMER_TOKEN: TOKEN },
    cwd: d,
  });
  assert.equal(st.code, 0, st.stderr);
  const bad = await nommer(['status', '--api', base], {
    env: { NOMMER_HOME: join(d, 'home'), NOMMER_TOKEN: 'wrong-token-of-enough-length' },
    cwd: d,
  });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /UNAUTHORIZED|missing or wrong API token/);
  await f.stop();
  assert.doesNotMatch(f.log(), new RegExp(TOKEN), 'the token is never logged');
});

test('no secret in logs, error messages or job records: API token, webhook secret, AWS key, URL credentials and presigned signatures', async () => {
  const d = dir();
  writeConfig(d, { jobs: { leaseSeconds: 3, maxAttempts: 1 } });
  const receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => res.end('ok'));
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  const hook = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  const files = createServer((_req, res) => {
    res.statusCode = 404;
    res.end();
  });
  await new Promise<void>((r) => files.listen(0, '127.0.0.1', r));
  const filePort = (files.address() as { port: number }).port;
  const f = await feederdWithLog(d, ['--workers', '1'], {
    NOMMER_TOKEN: TOKEN,
    NOMMER_WEBHOOK_SECRET: WEBHOOK_SECRET,
    AWS_SECRET_ACCESS_KEY: AWS_SECRET,
    AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE',
  });
  running.push(f);
  try {
    const client = new ApiClient({ url: f.url, token: TOKEN });
    const clip = makeClip(join(d, 'ok.mp4'), { seconds: 1 });
    const ok = (
      await client.createJob({
        input: clip,
        outputs: [{ preset: 'opus' }],
        notifyUrl: hook,
      })
    ).job;
    const remote = (
      await client.createJob({
        input: `http://alice:hunter2pass@127.0.0.1:${filePort}/missing.mp4?X-Amz-Signature=SIGSECRETvalue&X-Amz-Credential=AKIDEXAMPLE`,
        outputs: [{ preset: 'opus', uri: join(d, 'r.opus') }],
        notifyUrl: hook,
      })
    ).job;
    assert.equal((await waitForJob(client, ok.id, isFinal)).state, 'succeeded');
    const failed = await waitForJob(client, remote.id, isFinal);
    assert.equal(failed.state, 'failed');
    assert.equal(failed.error!.code, 'INPUT_NOT_FOUND');
    // The error a person reads names the file but not its credentials or signature.
    assert.doesNotMatch(failed.error!.message, /hunter2pass|SIGSECRETvalue|alice/);
    const detail = await client.getJob(remote.id);
    // Event messages and errors are for people and logs: no credentials there (the job's own
    // input field, and its `created` record, hold the URL as submitted: the worker needs it).
    assert.doesNotMatch(
      JSON.stringify(detail.events.map((e) => [e.message, (e.data as { error?: unknown } | null)?.error])),
      /hunter2pass|SIGSECRETvalue/,
    );
    await f.stop();
    const logs = [f.log(), readFileSync(join(d, 'home', 'workers.log'), 'utf8')].join('\n');
    assert.ok(logs.length > 0);
    for (const secret of [TOKEN, WEBHOOK_SECRET, AWS_SECRET, 'hunter2pass', 'SIGSECRETvalue'])
      assert.doesNotMatch(logs, new RegExp(secret), `${secret} is not logged`);
    // Job records hold the job as submitted (the worker needs its URL), but never nommer's own secrets.
    const db = Buffer.concat(
      ['nommer.db', 'nommer.db-wal']
        .map((n) => join(d, 'home', n))
        .filter(existsSync)
        .map((p) => readFileSync(p)),
    ).toString('latin1');
    for (const secret of [TOKEN, WEBHOOK_SECRET, AWS_SECRET])
      assert.equal(db.includes(secret), false, `${secret} is not in the store`);
  } finally {
    receiver.close();
    files.close();
  }
});

test("webhook signatures: README's verification code accepts a real delivery and rejects a changed body, another secret and an old timestamp", async () => {
  const d = dir();
  // The code exactly as README shows it, made importable.
  const readme = readFileSync(join(NOMMER_BIN, '..', '..', 'README.md'), 'utf8');
  const block = /### Webhooks[\s\S]*?```js\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(block, 'README has a js verification example under Webhooks');
  const mod = join(d, 'verify.mjs');
  writeFileSync(mod, `${block}\nexport { verify };\n`);
  const { verify } = (await import(pathToFileURL(mod).href)) as {
    verify: (header: string, raw: string, secret: string, tol?: number) => boolean;
  };

  const got: Array<{ header: string; body: string }> = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8').on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      got.push({ header: String(req.headers[SIGNATURE_HEADER] ?? ''), body });
      res.end();
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  try {
    const f = await startFeederd(d, { workers: 1, config: { webhooks: { secret: WEBHOOK_SECRET } } });
    running.push(f);
    const clip = makeClip(join(d, 'h.mp4'), { seconds: 1 });
    const { job } = await f.client.createJob({
      input: clip,
      outputs: [{ preset: 'opus' }],
      notifyUrl: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/h`,
    });
    await waitForJob(f.client, job.id, isFinal);
    await until(() => got.some((g) => g.body.includes('"succeeded"')), 15_000, 'the succeeded delivery');
    await f.stop();
    for (const g of got) {
      assert.match(g.header, /^t=\d+,v1=[0-9a-f]{64}$/);
      assert.equal(verify(g.header, g.body, WEBHOOK_SECRET), true, 'a genuine delivery verifies');
      assert.equal(
        verify(
          g.header,
          `${g.body.replace('"succeeded"', '"failed"').replace('"running"', '"failed"').replace('"queued"', '"failed"')} `,
          WEBHOOK_SECRET,
        ),
        false,
        'a changed body does not',
      );
      assert.equal(verify(g.header, g.body, 'another-secret-of-length'), false, 'another secret does not');
      assert.doesNotMatch(g.body, new RegExp(WEBHOOK_SECRET), 'the secret is not in the payload');
    }
    const old = Math.floor(Date.now() / 1000) - 3600;
    assert.equal(
      verify(signPayload(WEBHOOK_SECRET, got[0]!.body, old), got[0]!.body, WEBHOOK_SECRET),
      false,
      'a replayed (hour-old) delivery does not',
    );
  } finally {
    receiver.close();
  }
});
