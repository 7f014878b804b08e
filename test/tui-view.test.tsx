// The Ink view, rendered off-terminal: what its frames show for running, finished and failed jobs,
// and the live controller answering keys and coalescing redraws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { render } from 'ink-testing-library';
import { JobsView, fit, visibleJobs } from '../src/tui/jobs-view.js';
import { startInkView } from '../src/tui/ink-view.js';
import { initialState, reduce, type Action, type JobView, type ViewKind, type ViewState } from '../src/tui/model.js';
import { ViewStore } from '../src/tui/store.js';
import { bar } from '../src/tui/format.js';

const T0 = Date.parse('2025-06-01T12:00:00Z');

function job(id: string, patch: Partial<JobView> = {}): JobView {
  return {
    id,
    state: 'queued',
    phase: null,
    progress: 0,
    fps: null,
    speed: null,
    eta: null,
    attempt: 1,
    maxAttempts: 3,
    input: `/media/${id}.mov`,
    outputs: [{ preset: 'webm', uri: `/media/${id}.webm` }],
    worker: null,
    error: null,
    startedAt: null,
    finishedAt: null,
    ...patch,
  };
}

const running = (id: string, patch: Partial<JobView> = {}) =>
  job(id, {
    state: 'running',
    phase: 'encoding',
    progress: 0.42,
    fps: 118.4,
    speed: 2.44,
    eta: 65,
    worker: 'w7-1',
    startedAt: new Date(T0).toISOString(),
    ...patch,
  });

function state(actions: Action[], kind: ViewKind = 'submit'): ViewState {
  return actions.reduce(reduce, initialState(kind));
}

function frame(s: ViewState, now = T0 + 47_000): string {
  const r = render(<JobsView state={s} now={now} barWidth={20} />);
  const f = r.lastFrame() ?? '';
  r.unmount();
  return f;
}

test('a running job shows its state, a block progress bar, percent, fps, speed, elapsed, ETA and worker', () => {
  const f = frame(state([{ type: 'job', job: running('j_run') }]));
  assert.match(f, /encoding/);
  assert.ok(f.includes(bar(0.42, 20)), f);
  assert.match(f, /████████▍░+/);
  assert.match(f, /\b42%/);
  assert.match(f, /118 fps/);
  assert.match(f, /2\.4x/);
  assert.match(f, /0:47/, 'elapsed');
  assert.match(f, /ETA 1:05/);
  assert.match(f, /w7-1/);
  assert.match(f, /j_run\.mov/);
  assert.match(f, /q quit \(the jobs keep running\)/);
});

test('the footer shows the queue and the fleet as busy / idle / booting', () => {
  const f = frame(
    state([
      { type: 'job', job: running('a') },
      {
        type: 'summary',
        summary: {
          queue: { waiting: 4, inFlight: 1 },
          fleet: [
            { id: 'w1', state: 'running' },
            { id: 'w2', state: 'running' },
            { id: 'w3', state: 'booting' },
          ],
        },
      },
    ]),
  );
  assert.match(f, /queue: 4 waiting, 1 in flight/);
  assert.match(f, /workers: 1 busy, 1 idle, 1 booting/);
});

test('a finished job shows 100% and each output with its size', () => {
  const f = frame(
    state([
      {
        type: 'job',
        job: job('done', {
          state: 'succeeded',
          progress: 1,
          startedAt: new Date(T0).toISOString(),
          finishedAt: new Date(T0 + 9000).toISOString(),
          outputs: [
            { preset: 'webm', uri: '/out/done.webm', bytes: 411_000 },
            { preset: 'poster', uri: '/out/done.webp', bytes: 20_480 },
          ],
        }),
      },
      { type: 'done' },
    ]),
  );
  assert.match(f, /succeeded/);
  assert.match(f, /100%/);
  assert.ok(f.includes(bar(1, 20)));
  assert.match(f, /→ \/out\/done\.webm {2}\(webm, 401 KiB\)/);
  assert.match(f, /→ \/out\/done\.webp {2}\(poster, 20\.0 KiB\)/);
  assert.match(f, /0:09/, 'elapsed stops at the finish');
  assert.match(f, /\bdone\b/);
});

test('a failed job shows its error code and one-line message', () => {
  const f = frame(
    state([
      {
        type: 'job',
        job: job('bad', {
          state: 'failed',
          error: {
            code: 'INPUT_UNDECODABLE',
            message: 'ffmpeg cannot decode /media/bad.mov\nmore detail',
            retriable: false,
          },
        }),
      },
      { type: 'done' },
    ]),
  );
  assert.match(f, /failed/);
  assert.match(f, /✗ INPUT_UNDECODABLE: ffmpeg cannot decode \/media\/bad\.mov$/m);
  assert.doesNotMatch(f, /more detail/);
  assert.match(f, /not all succeeded/);
});

test('several jobs: one row each, the selected one marked, outputs listed for a multi-output job', () => {
  const f = frame(
    state([
      {
        type: 'job',
        job: running('a', {
          outputs: [
            { preset: 'webm', uri: '/o/a.webm' },
            { preset: 'poster', uri: '/o/a.webp' },
          ],
        }),
      },
      { type: 'job', job: job('b') },
      { type: 'select', delta: 1 },
    ]),
  );
  const lines = f.split('\n');
  assert.ok(
    lines.some((l) => /^ {2}a\.mov .*encoding/.test(l)),
    f,
  );
  assert.ok(
    lines.some((l) => /^› b\.mov .*queued/.test(l)),
    f,
  );
  assert.match(f, /├ webm: \/o\/a\.webm/);
  assert.match(f, /└ poster: \/o\/a\.webp/);
  assert.match(f, /following 2 jobs: 1 running, 1 queued/);
});

test('the cancel confirmation, and what quitting says for each command', () => {
  const s = state([{ type: 'job', job: running('a') }, { type: 'cancel-request' }]);
  assert.match(frame(s), /Cancel job a\? \[y\/N\]/);
  assert.match(frame(reduce(s, { type: 'quit' })), /stopped following; the jobs keep running/);
  const enc = state([{ type: 'job', job: running('encode') }], 'encode');
  assert.match(frame(enc), /q \/ Ctrl-C cancel the encode/);
  assert.match(frame(state([{ type: 'job', job: running('a') }, { type: 'quit' }], 'watch')), /stopped watching/);
});

test('more jobs than the terminal has rows: a run of whole jobs around the selection, the rest counted', () => {
  let s = state(
    Array.from({ length: 40 }, (_, i) => ({ type: 'job' as const, job: job(`j${String(i).padStart(2, '0')}`) })),
  );
  for (let i = 0; i < 15; i++) s = reduce(s, { type: 'select', delta: 1 });
  const v = visibleJobs(s, 20);
  assert.ok(v.ids.includes('j15'));
  assert.equal(v.ids.length, 18);
  assert.equal(v.above + v.ids.length + v.below, 40);
  const r = render(<JobsView state={s} now={T0} height={25} />);
  const f = r.lastFrame()!;
  r.unmount();
  assert.ok(f.split('\n').length <= 24, `${f.split('\n').length} lines`);
  assert.match(f, /↑ \d+ more/);
  assert.match(f, /↓ \d+ more/);
  assert.match(f, /› j15\.mov/);
  assert.deepEqual(visibleJobs(state([{ type: 'job', job: job('a') }]), 20), { ids: ['a'], above: 0, below: 0 });
});

test('fit pads short names and shortens long ones keeping both ends', () => {
  assert.equal(fit('a.mov', 8), 'a.mov   ');
  assert.equal(fit('a-very-long-recording-name.mov', 12), 'a-very…e.mov');
  assert.equal(fit('a-very-long-recording-name.mov', 12).length, 12);
});

// --- the live controller, on fake terminal streams ---

class FakeStdout extends EventEmitter {
  readonly frames: string[] = [];
  columns = 120;
  rows = 30;
  isTTY = true;
  write = (s: string) => {
    this.frames.push(s);
    return true;
  };
  /** The last frame with text in it (Ink also writes bare cursor codes). */
  get last(): string {
    return [...this.frames].reverse().find((f) => /\w/.test(f.replace(/\u001B\[[0-9;?]*[A-Za-z]/g, ''))) ?? '';
  }
}

class FakeStdin extends EventEmitter {
  isTTY = true;
  private data: string | null = null;
  write(s: string) {
    this.data = s;
    this.emit('readable');
    this.emit('data', s);
  }
  read() {
    const d = this.data;
    this.data = null;
    return d;
  }
  setEncoding() {}
  setRawMode() {}
  resume() {}
  pause() {}
  ref() {}
  unref() {}
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('the live view answers keys: arrows select, c then y asks to cancel the selected job, q quits', async () => {
  const store = new ViewStore(initialState('submit'));
  store.dispatch({ type: 'job', job: running('a') });
  store.dispatch({ type: 'job', job: job('b') });
  const stdout = new FakeStdout();
  const stdin = new FakeStdin();
  const canceled: string[] = [];
  let quit = false;
  const view = startInkView(store, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: stdin as unknown as NodeJS.ReadStream,
    debug: true,
    onAction: (a) => {
      const c = store.get().confirm;
      store.dispatch(a);
      if (a.type === 'cancel-confirm' && c) canceled.push(c);
      if (a.type === 'quit') quit = true;
    },
  });
  await tick(20);
  stdin.write('\u001B[B'); // down arrow
  await tick(20);
  assert.equal(store.get().selected, 'b');
  assert.match(stdout.last, /› b\.mov/);
  stdin.write('\u001B[A');
  await tick(20);
  stdin.write('c');
  await tick(20);
  assert.match(stdout.last, /Cancel job a\? \[y\/N\]/);
  stdin.write('y');
  await tick(20);
  assert.deepEqual(canceled, ['a']);
  assert.match(stdout.last, /canceling a…/);
  stdin.write('\u0003'); // Ctrl-C
  await tick(20);
  assert.equal(quit, true);
  await view.close();
  assert.match(stdout.last, /stopped following; the jobs keep running/);
});

test('the live view coalesces a burst of updates into a few redraws', async () => {
  const store = new ViewStore(initialState('submit'));
  store.dispatch({ type: 'job', job: running('a', { progress: 0 }) });
  const stdout = new FakeStdout();
  const view = startInkView(store, {
    stdout: stdout as unknown as NodeJS.WriteStream,
    stdin: new FakeStdin() as unknown as NodeJS.ReadStream,
    debug: true,
    minFrameMs: 200,
    onAction: (a) => store.dispatch(a),
  });
  await tick(20);
  const before = stdout.frames.length;
  const t0 = Date.now();
  for (let i = 1; i <= 100; i++) {
    store.dispatch({ type: 'job', job: running('a', { progress: i / 100 }) });
    await tick(5);
  }
  const took = Date.now() - t0;
  await tick(250);
  const redraws = stdout.frames.length - before;
  // At most one redraw per 200 ms (plus the trailing one), however slow the machine makes the burst.
  assert.ok(redraws >= 1 && redraws <= Math.ceil(took / 200) + 2, `100 updates over ${took} ms drew ${redraws} frames`);
  assert.ok(redraws < 50);
  assert.match(stdout.last, /100%|99%/);
  await view.close();
});
