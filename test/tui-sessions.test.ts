// The views' sessions without a terminal or a daemon: submit following several jobs through a
// stand-in API client, and encode's single pseudo-job fed from progress callbacks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiClient } from '../src/client/api-client.js';
import { NommerError } from '../src/errors.js';
import { openEncodeView } from '../src/tui/encode-view.js';
import { followJobsView } from '../src/tui/follow-jobs.js';
import type { JobView } from '../src/tui/model.js';
import { job } from './helpers/tui.js';

function sink() {
  let text = '';
  return {
    write: (t: string) => {
      text += t;
    },
    get text() {
      return text;
    },
    get lines() {
      return text.split('\n').filter(Boolean);
    },
  };
}

/** An API client whose event streams replay the given updates of each job, then end. */
function fakeClient(streams: Record<string, JobView[]>): ApiClient & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    async events(id: string, onEvent: (m: { type: string; data: unknown }) => void) {
      const updates = streams[id]!;
      for (const j of updates) {
        await new Promise((r) => setTimeout(r, 1));
        onEvent({ type: 'job', data: { job: j, event: { type: j.state, message: '', at: '' } } });
      }
      onEvent({ type: 'end', data: { job: updates.at(-1) } });
    },
    async summary() {
      calls.push('GET /v1/summary');
      return { queue: { waiting: 0, inFlight: 0 }, fleet: [] };
    },
  } as unknown as ApiClient & { calls: string[] };
}

const succeeded = (id: string) =>
  job(id, { state: 'succeeded', progress: 1, outputs: [{ preset: 'webm', uri: `/out/${id}.webm`, bytes: 2048 }] });

test('submit follows several jobs in one view; exit 0 when all succeeded, outputs on stdout', async () => {
  const client = fakeClient({
    a: [job('a', { state: 'running', phase: 'encoding', worker: 'w1', progress: 0.5 }), succeeded('a')],
    b: [job('b'), job('b', { state: 'running', phase: 'encoding', worker: 'w2' }), succeeded('b')],
  });
  const out = sink(),
    err = sink();
  const code = await followJobsView({
    client,
    jobs: [job('a'), job('b')] as never,
    mode: 'plain',
    stdout: out,
    stderr: err,
  });
  assert.equal(code, 0);
  assert.deepEqual(out.lines, ['/out/a.webm  (webm, 2.0 KiB)', '/out/b.webm  (webm, 2.0 KiB)']);
  assert.match(err.text, /^a {2}running \(encoding\) on w1$/m);
  assert.match(err.text, /^b {2}succeeded$/m);
});

test("submit exits 1 when any job did not succeed; --json ends with every job's final state", async () => {
  const client = fakeClient({
    a: [succeeded('a')],
    b: [
      job('b', { state: 'failed', error: { code: 'INPUT_UNDECODABLE', message: 'cannot decode', retriable: false } }),
    ],
  });
  const out = sink();
  const code = await followJobsView({
    client,
    jobs: [job('a'), job('b')] as never,
    mode: 'json',
    stdout: out,
    stderr: sink(),
  });
  assert.equal(code, 1);
  const lines = out.lines.map((l) => JSON.parse(l) as { job?: JobView; jobs?: JobView[] });
  assert.deepEqual(
    lines.at(-1)!.jobs!.map((j) => `${j.id}:${j.state}`),
    ['a:succeeded', 'b:failed'],
  );
  assert.ok(
    lines.slice(0, -1).every((l) => l.job),
    'JSON lines before the result',
  );
  assert.deepEqual(client.calls, [], 'no summary polling without the terminal view');
});

test('quiet submit prints only the outputs, and what failed on stderr', async () => {
  const client = fakeClient({
    a: [succeeded('a')],
    b: [job('b', { state: 'failed', error: { code: 'INPUT_NOT_FOUND', message: 'gone', retriable: false } })],
  });
  const out = sink(),
    err = sink();
  assert.equal(
    await followJobsView({ client, jobs: [job('a'), job('b')] as never, mode: 'quiet', stdout: out, stderr: err }),
    1,
  );
  assert.deepEqual(out.lines, ['/out/a.webm  (webm, 2.0 KiB)']);
  assert.deepEqual(err.lines, ['b  failed: INPUT_NOT_FOUND: gone']);
});

test('encode view: progress lines from the callback, then each output on stdout', async () => {
  const out = sink(),
    err = sink();
  const view = await openEncodeView({
    mode: 'plain',
    input: '/m/clip.mov',
    outputs: [{ preset: 'webm', uri: '/m/clip.webm' }],
    cancel: () => undefined,
    stdout: out,
    stderr: err,
  });
  assert.ok(view.onProgress);
  view.onProgress({ fraction: 0.25, fps: 60, speed: 2, etaSeconds: 3 });
  await view.succeeded([{ path: '/m/clip.webm', bytes: 1_048_576 }]);
  assert.deepEqual(err.lines, [
    'encode  running',
    'encode  running (encoding)',
    'encode  25.0%  60 fps  2.00x  ETA 0:03',
    'encode  succeeded',
  ]);
  assert.deepEqual(out.lines, ['/m/clip.webm  (webm, 1.0 MiB)']);
});

test('encode view: a canceled encode shows as canceled, a failure with its code; --json draws nothing', async () => {
  const err = sink();
  const v1 = await openEncodeView({
    mode: 'plain',
    input: '/m/a.mov',
    outputs: [{ preset: 'webm', uri: '/m/a.webm' }],
    cancel: () => undefined,
    stdout: sink(),
    stderr: err,
  });
  await v1.failed(new NommerError('CANCELED', 'canceled'));
  assert.equal(err.lines.at(-1), 'encode  canceled');
  const v2 = await openEncodeView({
    mode: 'plain',
    input: '/m/a.mov',
    outputs: [{ preset: 'webm', uri: '/m/a.webm' }],
    cancel: () => undefined,
    stdout: sink(),
    stderr: err,
  });
  await v2.failed(new NommerError('ENCODER_MISSING', 'libvpx-vp9 is not in this ffmpeg'));
  assert.equal(err.lines.at(-1), 'encode  failed: ENCODER_MISSING: libvpx-vp9 is not in this ffmpeg');
  const out = sink();
  const v3 = await openEncodeView({
    mode: 'json',
    input: '/m/a.mov',
    outputs: [{ preset: 'webm', uri: '/m/a.webm' }],
    cancel: () => undefined,
    stdout: out,
    stderr: out,
  });
  assert.equal(v3.onProgress, undefined);
  await v3.succeeded([{ path: '/m/a.webm', bytes: 1 }]);
  assert.equal(out.text, '', 'the command prints the one JSON object itself');
});

test('SIGINT while encoding cancels the encode', async () => {
  let canceled = 0;
  const view = await openEncodeView({
    mode: 'plain',
    input: '/m/a.mov',
    outputs: [{ preset: 'webm', uri: '/m/a.webm' }],
    cancel: () => {
      canceled++;
    },
    stdout: sink(),
    stderr: sink(),
  });
  process.emit('SIGINT');
  assert.equal(canceled, 1);
  await view.failed(new NommerError('CANCELED', 'canceled'));
  assert.equal(process.listenerCount('SIGINT'), 0, 'the handler is gone with the view');
});
