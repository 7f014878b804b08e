// Without a terminal: which output a following command picks, and the plain and JSON lines fed
// by the same state model as the Ink view.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chooseOutputMode, isCi } from '../src/tui/output-mode.js';
import { JsonLinesReporter } from '../src/tui/jsonl.js';
import { initialState, type JobView } from '../src/tui/model.js';
import { PlainReporter } from '../src/tui/plain.js';
import { ViewStore } from '../src/tui/store.js';
import { job } from './helpers/tui.js';

function sink() {
  const lines: string[] = [];
  return {
    lines,
    write: (t: string) => {
      lines.push(...t.split('\n').filter(Boolean));
    },
  };
}

test('Ink only on a real terminal; plain for pipes, TERM=dumb and CI; JSON and quiet as asked', () => {
  const tty = { isTTY: true };
  assert.equal(chooseOutputMode({}, tty, { TERM: 'xterm-256color' }), 'tui');
  assert.equal(chooseOutputMode({}, { isTTY: false }, { TERM: 'xterm' }), 'plain');
  assert.equal(chooseOutputMode({}, {}, {}), 'plain');
  assert.equal(chooseOutputMode({}, tty, { TERM: 'dumb' }), 'plain');
  assert.equal(chooseOutputMode({}, tty, { TERM: 'xterm', CI: 'true' }), 'plain');
  assert.equal(chooseOutputMode({}, tty, { TERM: 'xterm', GITHUB_ACTIONS: 'true', CI_JOB_ID: '1' }), 'plain');
  assert.equal(chooseOutputMode({}, tty, { TERM: 'xterm', CI: 'false' }), 'tui');
  assert.equal(chooseOutputMode({ json: true }, tty, { TERM: 'xterm' }), 'json');
  assert.equal(chooseOutputMode({ quiet: true }, tty, { TERM: 'xterm' }), 'quiet');
  assert.equal(isCi({ CONTINUOUS_INTEGRATION: '1' }), true);
});

test('plain lines: one per change of state, phase or worker, progress at most every interval, no escape codes', () => {
  let now = 0;
  const out = sink();
  const store = new ViewStore(initialState('submit'));
  const r = new PlainReporter(out, 5000, () => now);
  store.subscribe(r.listener);
  const enc = (progress: number) =>
    job('a', { state: 'running', phase: 'encoding', worker: 'w1', progress, fps: 120, speed: 2.4, eta: 10 });
  store.dispatch({ type: 'job', job: job('a') });
  store.dispatch({ type: 'job', job: job('a', { state: 'running', phase: 'downloading', worker: 'w1' }) });
  for (let i = 0; i <= 20; i++) {
    now = i * 500;
    store.dispatch({ type: 'job', job: enc(i / 20) });
  }
  store.dispatch({ type: 'job', job: job('a', { state: 'succeeded', progress: 1, worker: 'w1' }) });
  store.dispatch({
    type: 'job',
    job: job('b', { state: 'failed', error: { code: 'INPUT_NOT_FOUND', message: 'no such file', retriable: false } }),
  });
  assert.deepEqual(out.lines, [
    'a  queued',
    'a  running (downloading) on w1',
    'a  running (encoding) on w1',
    'a   0.0%  120 fps  2.40x  ETA 0:10',
    'a  50.0%  120 fps  2.40x  ETA 0:10',
    'a 100.0%  120 fps  2.40x  ETA 0:10',
    'a  succeeded',
    'b  failed: INPUT_NOT_FOUND: no such file',
  ]);
  assert.ok(out.lines.every((l) => !l.includes('\u001B')));
});

test('plain lines show notices once', () => {
  const out = sink();
  const store = new ViewStore(initialState('watch'));
  store.subscribe(new PlainReporter(out).listener);
  store.dispatch({ type: 'notice', text: 'cannot reach feederd', tone: 'error' });
  store.dispatch({ type: 'jobs', jobs: [] });
  assert.deepEqual(out.lines, ['cannot reach feederd']);
});

test('JSON lines: one object per line, each state change, progress at most once a second per job, summaries when they change', () => {
  let now = 0;
  const out = sink();
  const store = new ViewStore(initialState('submit'));
  store.subscribe(new JsonLinesReporter(out, 1000, () => now).listener);
  store.dispatch({ type: 'job', job: job('a'), event: { type: 'created', message: 'queued' } });
  for (let i = 0; i < 10; i++) {
    now = i * 250;
    store.dispatch({
      type: 'job',
      job: job('a', { state: 'running', phase: 'encoding', progress: i / 10 }),
      event: { type: 'progress', message: '' },
    });
  }
  const summary = { queue: { waiting: 0, inFlight: 1 }, fleet: [{ id: 'w1', state: 'running' }] };
  store.dispatch({ type: 'summary', summary });
  store.dispatch({ type: 'summary', summary: { ...summary } });
  store.dispatch({
    type: 'job',
    job: job('a', { state: 'succeeded', progress: 1 }),
    event: { type: 'succeeded', message: 'done' },
  });
  const objs = out.lines.map((l) => JSON.parse(l) as { job?: JobView; event?: { type: string }; summary?: unknown });
  assert.deepEqual(
    objs.map((o) => (o.job ? `${o.job.state}:${o.job.progress}` : 'summary')),
    ['queued:0', 'running:0', 'running:0.4', 'running:0.8', 'summary', 'succeeded:1'],
  );
  assert.equal(objs[0]!.event!.type, 'created');
  assert.equal(objs[1]!.event, undefined, 'progress ticks carry no event');
  assert.equal(objs.at(-1)!.event!.type, 'succeeded');
});
