// The progress view's state model: job updates, listings, summaries and keys in, rows out.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  allFinal,
  elapsedSeconds,
  exitCodeOf,
  fleetCounts,
  initialState,
  keyAction,
  reduce,
  type Action,
  type ViewKind,
  type ViewState,
} from '../src/tui/model.js';
import { job } from './helpers/tui.js';

function run(actions: Action[], kind: ViewKind = 'submit'): ViewState {
  return actions.reduce(reduce, initialState(kind));
}

test('job updates make one row per job, in the order first seen, and later updates replace the row', () => {
  const s = run([
    { type: 'job', job: job('a') },
    { type: 'job', job: job('b') },
    {
      type: 'job',
      job: job('a', { state: 'running', phase: 'encoding', progress: 0.4, worker: 'w1' }),
      event: { type: 'progress', message: '' },
    },
  ]);
  assert.deepEqual(s.order, ['a', 'b']);
  assert.equal(s.rows.a!.job.progress, 0.4);
  assert.equal(s.rows.a!.job.worker, 'w1');
  assert.equal(s.selected, 'a', 'the first job is selected');
});

test('the last history event is kept for the row, progress ticks do not replace it', () => {
  const s = run([
    {
      type: 'job',
      job: job('a', { state: 'queued', attempt: 2 }),
      event: { type: 'restarted', message: 'worker lost' },
    },
    { type: 'job', job: job('a', { state: 'queued', attempt: 2 }), event: { type: 'progress', message: 'tick' } },
  ]);
  assert.equal(s.rows.a!.event, 'restarted: worker lost');
});

test('a listing replaces the rows in its order and keeps the selection when the job is still listed', () => {
  let s = run([{ type: 'jobs', jobs: [job('a'), job('b'), job('c')] }], 'watch');
  s = reduce(s, { type: 'select', delta: 1 });
  assert.equal(s.selected, 'b');
  s = reduce(s, { type: 'jobs', jobs: [job('d'), job('b'), job('a')] });
  assert.deepEqual(s.order, ['d', 'b', 'a']);
  assert.equal(s.selected, 'b');
  s = reduce(s, { type: 'jobs', jobs: [job('e')] });
  assert.equal(s.selected, 'e', 'a selection that left the listing moves to the first row');
});

test('arrow keys move the selection within the rows and stop at the ends', () => {
  let s = run([
    { type: 'job', job: job('a') },
    { type: 'job', job: job('b') },
    { type: 'job', job: job('c') },
  ]);
  const press = (input: string, key = {}) => {
    const a = keyAction(s, input, key);
    if (a) s = reduce(s, a);
  };
  press('', { downArrow: true });
  press('', { downArrow: true });
  press('', { downArrow: true });
  assert.equal(s.selected, 'c');
  press('', { upArrow: true });
  assert.equal(s.selected, 'b');
  press('k');
  press('k');
  assert.equal(s.selected, 'a');
});

test('c asks before canceling the selected job; y confirms, n or Esc does not', () => {
  let s = run([{ type: 'job', job: job('a', { state: 'running', phase: 'encoding' }) }]);
  s = reduce(s, keyAction(s, 'c', {})!);
  assert.equal(s.confirm, 'a');
  assert.equal(keyAction(s, 'j', {}), null, 'other keys wait for the answer');
  const aborted = reduce(s, keyAction(s, 'n', {})!);
  assert.equal(aborted.confirm, null);
  assert.equal(aborted.rows.a!.cancelRequested, false);
  assert.equal(reduce(s, keyAction(s, '', { escape: true })!).confirm, null);
  s = reduce(s, keyAction(s, 'y', {})!);
  assert.equal(s.confirm, null);
  assert.equal(s.rows.a!.cancelRequested, true);
  assert.match(s.notice!.text, /canceling a/);
  s = reduce(s, { type: 'job', job: job('a', { state: 'canceled' }) });
  assert.equal(s.rows.a!.cancelRequested, false);
  assert.equal(s.notice, null, 'the notice goes once the job is canceled');
});

test('canceling a finished job says there is nothing to cancel and asks nothing', () => {
  let s = run([{ type: 'job', job: job('a', { state: 'succeeded' }) }]);
  s = reduce(s, { type: 'cancel-request' });
  assert.equal(s.confirm, null);
  assert.match(s.notice!.text, /already succeeded/);
});

test('a cancel the API refuses is shown as an error notice', () => {
  let s = run([
    { type: 'job', job: job('a', { state: 'running' }) },
    { type: 'cancel-request' },
    { type: 'cancel-confirm' },
  ]);
  s = reduce(s, { type: 'cancel-failed', id: 'a', message: 'job a is already succeeded' });
  assert.equal(s.notice!.tone, 'error');
  assert.equal(s.rows.a!.cancelRequested, false);
});

test('q and Ctrl-C quit; after the view ended keys do nothing', () => {
  const s = run([{ type: 'job', job: job('a') }]);
  assert.deepEqual(keyAction(s, 'q', {}), { type: 'quit' });
  assert.deepEqual(keyAction(s, 'c', { ctrl: true }), { type: 'quit' });
  const ended = reduce(s, { type: 'quit' });
  assert.equal(ended.ended, 'quit');
  assert.equal(keyAction(ended, 'c', {}), null);
  assert.equal(reduce(ended, { type: 'done' }).ended, 'quit', 'the first reason to end stays');
});

test('exit code is 0 only when every job succeeded', () => {
  const ok = run([
    { type: 'job', job: job('a', { state: 'succeeded' }) },
    { type: 'job', job: job('b', { state: 'succeeded' }) },
  ]);
  assert.equal(allFinal(ok), true);
  assert.equal(exitCodeOf(ok), 0);
  const one = reduce(ok, {
    type: 'job',
    job: job('b', { state: 'failed', error: { code: 'INPUT_UNDECODABLE', message: 'no', retriable: false } }),
  });
  assert.equal(exitCodeOf(one), 1);
  const running = reduce(ok, { type: 'job', job: job('c', { state: 'running' }) });
  assert.equal(allFinal(running), false);
  assert.equal(exitCodeOf(running), 1);
  assert.equal(exitCodeOf(initialState('submit')), 1, 'no jobs is not success');
});

test('fleet counts: booting from the fleet, busy from the tasks in flight unless workers say', () => {
  assert.deepEqual(
    fleetCounts({
      queue: { waiting: 3, inFlight: 1 },
      fleet: [
        { id: 'w1', state: 'running' },
        { id: 'w2', state: 'running' },
        { id: 'w3', state: 'booting' },
      ],
    }),
    { busy: 1, idle: 1, booting: 1 },
  );
  assert.deepEqual(fleetCounts({ queue: { waiting: 0, inFlight: 5 }, fleet: [{ id: 'w1', state: 'running' }] }), {
    busy: 1,
    idle: 0,
    booting: 0,
  });
  assert.deepEqual(
    fleetCounts({
      queue: { waiting: 0, inFlight: 0 },
      fleet: [
        { id: 'w1', state: 'running', busy: true },
        { id: 'w2', state: 'running', busy: false },
      ],
    }),
    { busy: 1, idle: 1, booting: 0 },
  );
  assert.deepEqual(fleetCounts({ queue: { waiting: -1, inFlight: -1 }, fleet: [] }), { busy: 0, idle: 0, booting: 0 });
});

test('elapsed runs to now while running and to the finish once final', () => {
  const t0 = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(elapsedSeconds(job('a'), t0), undefined);
  assert.equal(elapsedSeconds(job('a', { state: 'running', startedAt: new Date(t0).toISOString() }), t0 + 12_000), 12);
  assert.equal(
    elapsedSeconds(
      job('a', {
        state: 'succeeded',
        startedAt: new Date(t0).toISOString(),
        finishedAt: new Date(t0 + 5000).toISOString(),
      }),
      t0 + 60_000,
    ),
    5,
  );
});

test('the reducer never mutates the state it is given', () => {
  const s = run([{ type: 'job', job: job('a') }]);
  const frozen = JSON.stringify(s);
  reduce(s, { type: 'job', job: job('a', { state: 'running' }) });
  reduce(s, { type: 'cancel-request' });
  reduce(s, { type: 'summary', summary: { queue: { waiting: 1, inFlight: 0 }, fleet: [] } });
  assert.equal(JSON.stringify(s), frozen);
});
