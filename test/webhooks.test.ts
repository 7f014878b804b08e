// Webhooks: a job's notify URL gets a signed POST on each state change, retried when the
// receiver fails, and never blocks the job.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { createHmac, timingSafeEqual } from 'node:crypto';
import { join } from 'node:path';
import { makeClip, tempDir } from './helpers/media.js';
import { isFinal, startFeederd, waitForJob, type RunningFeederd } from './helpers/feederd.js';
import { signPayload, SIGNATURE_HEADER } from '../src/orchestrator/notifier.js';
import type { PublicJob } from '../src/orchestrator/api.js';

const secret = 'a-webhook-secret-of-some-length';
const running: RunningFeederd[] = [];
const d = tempDir();
after(async () => {
  for (const f of running) await f.kill().catch(() => undefined);
  d.cleanup();
});

/** What the README tells receivers to do. */
function verify(header: string, rawBody: string, key: string, toleranceSeconds = 300): boolean {
  const parts = Object.fromEntries(header.split(',').map((kv) => kv.split('=') as [string, string]));
  const t = Number(parts.t);
  if (!Number.isFinite(t) || Math.abs(Date.now() / 1000 - t) > toleranceSeconds) return false;
  const expected = createHmac('sha256', key).update(`${t}.${rawBody}`).digest();
  const given = Buffer.from(parts.v1 ?? '', 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

test('signature format: t=<seconds>,v1=<hex hmac of "t.body">', () => {
  const sig = signPayload('k', '{"a":1}', 1700000000);
  assert.equal(sig, `t=1700000000,v1=${createHmac('sha256', 'k').update('1700000000.{"a":1}').digest('hex')}`);
});

test('state changes are POSTed, signed, and retried after a receiver error', async () => {
  const received: Array<{
    event: string;
    state: string;
    valid: boolean;
    psnr?: number;
    source?: string;
    workerSeconds?: number;
  }> = [];
  let calls = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      calls++;
      // The first delivery fails: nommer must retry it.
      if (calls === 1) {
        res.statusCode = 503;
        return res.end();
      }
      const j = JSON.parse(body) as {
        event: string;
        job: {
          state: string;
          outputs: Array<{ quality?: { psnr?: number; source?: string } }>;
          cost?: { workerSeconds: number };
        };
      };
      received.push({
        event: j.event,
        state: j.job.state,
        valid: verify(String(req.headers[SIGNATURE_HEADER]), body, secret),
        psnr: j.job.outputs[0]?.quality?.psnr,
        source: j.job.outputs[0]?.quality?.source,
        workerSeconds: j.job.cost?.workerSeconds,
      });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  try {
    const f = await startFeederd(d.path, { config: { webhooks: { secret } } });
    running.push(f);
    const clip = makeClip(join(d.path, 'w.mp4'), { seconds: 1 });
    const { job } = await f.client.createJob({
      input: clip,
      notifyUrl: `http://127.0.0.1:${port}/hook`,
    });
    assert.equal((await waitForJob(f.client, job.id, isFinal)).state, 'succeeded');
    const deadline = Date.now() + 15_000;
    while (!received.some((r) => r.event === 'succeeded') && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    assert.ok(
      received.some((r) => r.event === 'succeeded' && r.state === 'succeeded'),
      JSON.stringify(received),
    );
    assert.ok(received.length >= 2, 'several state changes were sent');
    // The final payload says how good the output is and what the job took.
    const fin = received.find((r) => r.event === 'succeeded')!;
    // (VP9 by default: PSNR from the encoder.)
    assert.ok(typeof fin.psnr === 'number' && fin.psnr > 20 && fin.psnr <= 100, `psnr ${fin.psnr}`);
    assert.equal(fin.source, 'encoder');
    assert.ok(typeof fin.workerSeconds === 'number' && fin.workerSeconds > 0, `workerSeconds ${fin.workerSeconds}`);
    assert.ok(
      received.every((r) => r.valid),
      'every delivery carries a valid signature',
    );
    assert.ok(calls > received.length, 'the failed delivery was retried');
    await f.stop();
  } finally {
    server.close();
  }
});

test('the event stream (SSE) replays history and ends when the job is final', async () => {
  const f = await startFeederd(d.path);
  running.push(f);
  const clip = makeClip(join(d.path, 's.mp4'), { seconds: 1 });
  const { job } = await f.client.createJob({
    input: clip,
    outputs: [{ preset: 'opus' }],
  });
  const types: string[] = [];
  let last: PublicJob | undefined;
  await f.client.events(job.id, (m) => {
    types.push(m.type);
    last = m.data.job;
  });
  assert.equal(types[types.length - 1], 'end');
  assert.equal(last!.state, 'succeeded');
  assert.ok(types.includes('job'));
  await f.stop();
});
