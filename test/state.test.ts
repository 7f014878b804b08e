// The pure job state machine: every legal and illegal transition, duplicates, reordering and
// stale attempts, with no database and no clock.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import {
  applyStatus,
  cancelJob,
  checkTaskGraph,
  failJob,
  isLegalJobTransition,
  LEGAL_JOB_TRANSITIONS,
  requeueTask,
  retryJob,
  type Applied,
  type JobSnapshot,
  type Outcome,
  type TaskSnapshot,
} from '../src/jobs/state.js';
import { JOB_STATES, type JobState } from '../src/jobs/types.js';
import type { StatusEvent } from '../src/messages.js';
import { statusEvent } from './helpers/store.js';

const NOW = 1_700_000_000_000;

function job(over: Partial<JobSnapshot> = {}): JobSnapshot {
  return {
    id: 'j1',
    state: 'queued',
    phase: null,
    attempt: 1,
    maxAttempts: 3,
    progress: 0,
    fps: null,
    speed: null,
    eta: null,
    worker: null,
    startedAt: null,
    finishedAt: null,
    error: null,
    outputs: [
      { preset: { name: 'vp9' }, uri: 'file:///out/a.webm' },
      { preset: { name: 'opus' }, uri: 'file:///out/a.opus' },
    ],
    ...over,
  };
}

function task(over: Partial<TaskSnapshot> = {}): TaskSnapshot {
  return {
    id: 'j1.encode',
    type: 'encode',
    state: 'queued',
    phase: null,
    attempt: 1,
    maxAttempt: 3,
    seqApplied: -1,
    deps: [],
    progress: 0,
    weight: 1,
    worker: null,
    startedAt: null,
    finishedAt: null,
    heartbeatAt: null,
    error: null,
    result: null,
    ...over,
  };
}

function ev(seq: number, type: StatusEvent['type'], over: Partial<StatusEvent> = {}): StatusEvent {
  return statusEvent('j1', seq, type, { at: NOW, ...over });
}

function applied(o: Outcome): Applied {
  if (!o.applied) assert.fail(`expected the change to apply, but it was refused: ${o.reason} (${o.detail})`);
  return o;
}

function refused(o: Outcome, reason: string): void {
  assert.equal(o.applied, false, `expected refusal ${reason}`);
  if (!o.applied) assert.equal(o.reason, reason, o.detail);
}

/** Feed events one by one into an ordinary single-task job, the way the store does. */
function run(
  events: StatusEvent[],
  j = job(),
  ts = [task()],
): { job: JobSnapshot; tasks: TaskSnapshot[]; outcomes: Outcome[] } {
  const outcomes: Outcome[] = [];
  for (const e of events) {
    const o = applyStatus(j, ts, e, { now: NOW + e.seq });
    outcomes.push(o);
    if (o.applied) {
      j = o.job;
      ts = ts.map((t) => o.tasks.find((c) => c.id === t.id) ?? t);
    }
  }
  return { job: j, tasks: ts, outcomes };
}

function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object') {
    for (const v of Object.values(x)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}

const running = () => run([ev(0, 'started'), ev(1, 'phase', { phase: 'encoding' })]);

describe('legal transitions table', () => {
  test('lists exactly the transitions of the design', () => {
    const pairs = new Set(LEGAL_JOB_TRANSITIONS.map(([a, b]) => `${a}->${b}`));
    assert.deepEqual([...pairs].sort(), [
      'canceled->queued',
      'failed->queued',
      'queued->canceled',
      'queued->failed',
      'queued->running',
      'running->canceled',
      'running->failed',
      'running->queued',
      'running->running',
      'running->succeeded',
    ]);
  });

  test('a final state is never left except by retry, and succeeded is never left at all', () => {
    for (const to of JOB_STATES) {
      assert.equal(isLegalJobTransition('succeeded', to), false, `succeeded->${to}`);
      assert.equal(isLegalJobTransition('failed', to), to === 'queued', `failed->${to}`);
      assert.equal(isLegalJobTransition('canceled', to), to === 'queued', `canceled->${to}`);
    }
    assert.equal(isLegalJobTransition('queued', 'succeeded'), false);
  });

  test('no status event, in any job state, makes an illegal transition', () => {
    const states: JobState[] = [...JOB_STATES];
    const types: StatusEvent['type'][] = ['started', 'phase', 'progress', 'succeeded', 'failed', 'released'];
    for (const state of states) {
      const taskState = state === 'queued' ? 'queued' : state === 'running' ? 'running' : state;
      for (const type of types) {
        for (const retriable of [true, false]) {
          const j = job({ state });
          const t = task({ state: taskState as TaskSnapshot['state'], seqApplied: state === 'queued' ? -1 : 0 });
          const o = applyStatus(
            j,
            [t],
            ev(5, type, {
              phase: 'encoding',
              progress: { fraction: 0.5 },
              error: { code: 'FFMPEG_FAILED', message: 'x', retriable },
            }),
            { now: NOW },
          );
          if (o.applied && o.job.state !== state) {
            const legal =
              isLegalJobTransition(state, o.job.state) ||
              (state === 'queued' && isLegalJobTransition('running', o.job.state));
            assert.ok(legal, `${state} + ${type} -> ${o.job.state}`);
          }
          if (['succeeded', 'failed', 'canceled'].includes(state)) refused(o, 'job-final');
        }
      }
    }
  });
});

describe('status events on an ordinary job', () => {
  test('started: queued -> running, downloading, on the reporting worker', () => {
    const o = applied(applyStatus(job(), [task()], ev(0, 'started'), { now: NOW }));
    assert.equal(o.job.state, 'running');
    assert.equal(o.job.phase, 'downloading');
    assert.equal(o.job.worker, 'w1');
    assert.equal(o.job.startedAt, NOW);
    assert.equal(o.tasks[0]!.state, 'running');
    assert.equal(o.tasks[0]!.seqApplied, 0);
    assert.equal(o.tasks[0]!.heartbeatAt, NOW);
    assert.deepEqual(
      o.events.map((e) => e.type),
      ['started'],
    );
    assert.deepEqual(o.dispatch, []);
  });

  test('phase: running -> running with the new phase, recorded in the history', () => {
    const { job: j, outcomes } = running();
    assert.equal(j.state, 'running');
    assert.equal(j.phase, 'encoding');
    assert.deepEqual(
      applied(outcomes[1]!).events.map((e) => [e.type, e.phase]),
      [['phase', 'encoding']],
    );
  });

  test('progress: numbers move, no history line', () => {
    const r = run([
      ev(0, 'started'),
      ev(1, 'progress', { phase: 'encoding', progress: { fraction: 0.25, fps: 48, speed: 1.9, etaSeconds: 30 } }),
    ]);
    assert.equal(r.job.progress, 0.25);
    assert.equal(r.job.fps, 48);
    assert.equal(r.job.speed, 1.9);
    assert.equal(r.job.eta, 30);
    assert.deepEqual(
      applied(r.outcomes[1]!).events.map((e) => e.type),
      ['phase'],
    );
    const more = applied(applyStatus(r.job, r.tasks, ev(2, 'progress', { progress: { fraction: 0.5 } }), { now: NOW }));
    assert.equal(more.job.progress, 0.5);
    assert.deepEqual(more.events, []);
  });

  test('succeeded: running -> succeeded with the output sizes and progress 1', () => {
    const r = run([
      ev(0, 'started'),
      ev(1, 'progress', { progress: { fraction: 0.9 } }),
      ev(2, 'succeeded', {
        outputs: [
          { uri: 'file:///out/a.webm', bytes: 1000 },
          { uri: 'file:///out/a.opus', bytes: 50 },
        ],
      }),
    ]);
    assert.equal(r.job.state, 'succeeded');
    assert.equal(r.job.progress, 1);
    assert.equal(r.job.phase, null);
    assert.equal(r.job.finishedAt, NOW + 2);
    assert.deepEqual(
      r.job.outputs.map((o) => o.bytes),
      [1000, 50],
    );
    assert.equal(r.tasks[0]!.state, 'succeeded');
    assert.deepEqual(
      applied(r.outcomes[2]!).events.map((e) => e.type),
      ['succeeded'],
    );
  });

  test('a retriable failure with attempts left: running -> queued on a new attempt, dispatched again', () => {
    const r = run([
      ev(0, 'started'),
      ev(1, 'failed', { error: { code: 'STORAGE_FAILED', message: 'S3 503', retriable: true } }),
    ]);
    assert.equal(r.job.state, 'queued');
    assert.equal(r.job.attempt, 2);
    assert.equal(r.job.error, null);
    const t = r.tasks[0]!;
    assert.deepEqual([t.state, t.attempt, t.seqApplied, t.progress, t.worker], ['queued', 2, -1, 0, null]);
    const o = applied(r.outcomes[1]!);
    assert.deepEqual(o.dispatch, ['j1.encode']);
    assert.deepEqual(
      o.events.map((e) => e.type),
      ['retrying'],
    );
    assert.match(o.events[0]!.message, /STORAGE_FAILED.*attempt 2 of 3/);
  });

  test('a retriable failure on the last attempt: running -> failed', () => {
    const r = run(
      [
        ev(0, 'started', { attempt: 3 }),
        ev(1, 'failed', { attempt: 3, error: { code: 'STORAGE_FAILED', message: 'S3 503', retriable: true } }),
      ],
      job({ attempt: 3 }),
      [task({ attempt: 3 })],
    );
    assert.equal(r.job.state, 'failed');
    assert.deepEqual(r.job.error, { code: 'STORAGE_FAILED', message: 'S3 503', retriable: true });
    assert.equal(r.job.finishedAt, NOW + 1);
    assert.deepEqual(applied(r.outcomes[1]!).dispatch, []);
  });

  test('a permanent failure on the first attempt: running -> failed at once', () => {
    const r = run([
      ev(0, 'started'),
      ev(1, 'failed', { error: { code: 'INPUT_UNDECODABLE', message: 'moov atom not found', retriable: false } }),
    ]);
    assert.equal(r.job.state, 'failed');
    assert.equal(r.job.error?.code, 'INPUT_UNDECODABLE');
    assert.equal(r.tasks[0]!.state, 'failed');
    assert.deepEqual(
      applied(r.outcomes[1]!).events.map((e) => e.type),
      ['failed'],
    );
  });

  test('a failure without an error is a permanent INTERNAL failure, not a silent one', () => {
    const r = run([ev(0, 'started'), ev(1, 'failed')]);
    assert.equal(r.job.state, 'failed');
    assert.equal(r.job.error?.code, 'INTERNAL');
    assert.equal(r.job.error?.retriable, false);
  });

  test('released: running -> queued on the same attempt, nothing dispatched (the queue redelivers)', () => {
    const r = run([ev(0, 'started'), ev(1, 'released')]);
    assert.equal(r.job.state, 'queued');
    assert.equal(r.job.attempt, 1);
    assert.equal(r.tasks[0]!.state, 'queued');
    assert.equal(r.tasks[0]!.seqApplied, 1);
    assert.deepEqual(applied(r.outcomes[1]!).dispatch, []);
    // The next delivery numbers its events above the first one's.
    const again = applied(applyStatus(r.job, r.tasks, ev(1_000_000, 'started', { worker: 'w2' }), { now: NOW }));
    assert.equal(again.job.state, 'running');
    assert.equal(again.job.worker, 'w2');
  });

  test('released on a task that never started changes nothing but the seq', () => {
    const o = applied(applyStatus(job(), [task()], ev(0, 'released'), { now: NOW }));
    assert.equal(o.job.state, 'queued');
    assert.deepEqual(
      o.events.map((e) => e.type),
      ['released'],
    );
  });
});

describe('duplicates, reordering and stale attempts', () => {
  test('the same event twice is applied once', () => {
    const r = run([ev(0, 'started'), ev(0, 'started')]);
    refused(r.outcomes[1]!, 'duplicate');
  });

  test('a progress with a lower seq after succeeded changes nothing', () => {
    const r = run([ev(0, 'started'), ev(5, 'succeeded'), ev(3, 'progress', { progress: { fraction: 0.4 } })]);
    refused(r.outcomes[2]!, 'job-final');
    assert.equal(r.job.state, 'succeeded');
    assert.equal(r.job.progress, 1);
  });

  test('an older progress after a newer one is dropped, so progress never goes backwards', () => {
    const r = run([
      ev(0, 'started'),
      ev(3, 'progress', { progress: { fraction: 0.6 } }),
      ev(2, 'progress', { progress: { fraction: 0.3 } }),
    ]);
    refused(r.outcomes[2]!, 'duplicate');
    assert.equal(r.job.progress, 0.6);
  });

  test("an earlier delivery's success after a later delivery started is still the task's success", () => {
    // Delivery 1 (seq 1e6…) committed its output; delivery 2 (seq 2e6…) had taken over the lease.
    const r = run([
      ev(1_000_000, 'started'),
      ev(2_000_000, 'started', { worker: 'w2' }),
      ev(1_000_003, 'succeeded', { outputs: [{ uri: '/o.webm', bytes: 9 }] }),
      ev(2_000_004, 'failed', {
        worker: 'w2',
        error: { code: 'OUTPUT_EXISTS', message: 'output exists: /o.webm', retriable: false },
      }),
    ]);
    applied(r.outcomes[2]!);
    assert.equal(r.job.state, 'succeeded');
    refused(r.outcomes[3]!, 'job-final');
  });

  test('an event overtaking `started` starts the task; the late `started` is then a duplicate', () => {
    const r = run([ev(1, 'phase', { phase: 'encoding' }), ev(0, 'started')]);
    const o = applied(r.outcomes[0]!);
    assert.equal(o.job.state, 'running');
    assert.equal(o.job.phase, 'encoding');
    assert.deepEqual(
      o.events.map((e) => e.type),
      ['started'],
    );
    refused(r.outcomes[1]!, 'duplicate');
  });

  test('succeeded overtaking everything still finishes the job (queued -> running -> succeeded)', () => {
    const o = applied(applyStatus(job(), [task()], ev(9, 'succeeded'), { now: NOW }));
    assert.equal(o.job.state, 'succeeded');
    assert.equal(o.job.startedAt, NOW);
    assert.deepEqual(
      o.events.map((e) => e.type),
      ['started', 'succeeded'],
    );
  });

  test('events of an earlier attempt change nothing after a retry', () => {
    const r = run([
      ev(0, 'started'),
      ev(1, 'failed', { error: { code: 'WORKER_LOST', message: 'gone', retriable: true } }),
      ev(2, 'progress', { progress: { fraction: 0.9 } }),
    ]);
    refused(r.outcomes[2]!, 'stale-attempt');
    assert.equal(r.job.state, 'queued');
    const late = applyStatus(r.job, r.tasks, ev(7, 'succeeded', { attempt: 1 }), { now: NOW });
    refused(late, 'stale-attempt');
  });

  test('events from an attempt not yet made are stale too', () => {
    refused(applyStatus(job(), [task()], ev(0, 'started', { attempt: 2 }), { now: NOW }), 'stale-attempt');
  });

  test('a redelivered message outranks the lost worker: takeover is recorded, the lost worker is ignored', () => {
    const r = run([
      ev(0, 'started'),
      ev(1, 'progress', { phase: 'encoding', progress: { fraction: 0.7 } }),
      ev(1_000_000, 'started', { worker: 'w2' }),
      ev(2, 'progress', { progress: { fraction: 0.8 } }),
    ]);
    const takeover = applied(r.outcomes[2]!);
    assert.deepEqual(
      takeover.events.map((e) => e.type),
      ['restarted'],
    );
    assert.match(takeover.events[0]!.message, /w2 took over from w1/);
    assert.equal(takeover.job.progress, 0);
    assert.equal(takeover.job.worker, 'w2');
    refused(r.outcomes[3]!, 'duplicate');
  });

  test('events for canceled and failed jobs change nothing', () => {
    for (const state of ['canceled', 'failed'] as const) {
      refused(applyStatus(job({ state }), [task({ state: 'canceled' })], ev(0, 'started'), { now: NOW }), 'job-final');
    }
  });

  test('an event for another job or an unknown task is refused', () => {
    refused(applyStatus(job(), [task()], ev(0, 'started', { jobId: 'j2' }), { now: NOW }), 'job-mismatch');
    refused(applyStatus(job(), [task()], ev(0, 'started', { taskId: 'j1.nope' }), { now: NOW }), 'task-unknown');
  });

  test('applying never mutates its inputs', () => {
    const j = deepFreeze(job());
    const ts = deepFreeze([task()]);
    applied(applyStatus(j, ts, ev(0, 'started'), { now: NOW }));
    applied(cancelJob(j, ts, { now: NOW }));
  });
});

describe('operations', () => {
  test('cancel: queued -> canceled, the task with it', () => {
    const o = applied(cancelJob(job(), [task()], { now: NOW, reason: 'user asked' }));
    assert.equal(o.job.state, 'canceled');
    assert.equal(o.job.finishedAt, NOW);
    assert.deepEqual(
      o.tasks.map((t) => t.state),
      ['canceled'],
    );
    assert.deepEqual(
      o.events.map((e) => [e.type, e.message]),
      [['canceled', 'canceled: user asked']],
    );
  });

  test('cancel: running -> canceled', () => {
    const r = running();
    const o = applied(cancelJob(r.job, r.tasks, { now: NOW }));
    assert.equal(o.job.state, 'canceled');
    assert.equal(o.job.phase, null);
  });

  test('cancel of a finished job is refused', () => {
    for (const state of ['succeeded', 'failed', 'canceled'] as const)
      refused(cancelJob(job({ state }), [task({ state: 'succeeded' })], { now: NOW }), 'job-state');
  });

  test('retry: failed -> queued on a new attempt with a fresh budget, error cleared', () => {
    const r = run([
      ev(0, 'started'),
      ev(1, 'failed', { error: { code: 'INPUT_NOT_FOUND', message: 'no such file', retriable: false } }),
    ]);
    const o = applied(retryJob(r.job, r.tasks, { now: NOW }));
    assert.equal(o.job.state, 'queued');
    assert.equal(o.job.attempt, 2);
    assert.equal(o.job.error, null);
    assert.equal(o.job.finishedAt, null);
    const t = o.tasks[0]!;
    assert.deepEqual([t.state, t.attempt, t.maxAttempt, t.seqApplied], ['queued', 2, 4, -1]);
    assert.deepEqual(o.dispatch, ['j1.encode']);
    assert.deepEqual(
      o.events.map((e) => e.type),
      ['retried'],
    );
  });

  test('retry: canceled -> queued', () => {
    const c = applied(cancelJob(job(), [task()], { now: NOW }));
    const o = applied(retryJob(c.job, c.tasks, { now: NOW }));
    assert.equal(o.job.state, 'queued');
    assert.equal(o.tasks[0]!.attempt, 2);
  });

  test('retry of a queued, running or succeeded job is refused', () => {
    for (const state of ['queued', 'running', 'succeeded'] as const)
      refused(retryJob(job({ state }), [task()], { now: NOW }), 'job-state');
  });

  test('worker lost: running -> queued on a new attempt', () => {
    const r = running();
    const o = applied(requeueTask(r.job, r.tasks, 'j1.encode', { now: NOW }));
    assert.equal(o.job.state, 'queued');
    assert.equal(o.tasks[0]!.attempt, 2);
    assert.deepEqual(o.dispatch, ['j1.encode']);
    assert.deepEqual(
      o.events.map((e) => e.type),
      ['worker_lost'],
    );
    assert.match(o.events[0]!.message, /WORKER_LOST: worker w1 stopped reporting/);
  });

  test('worker lost on the last attempt: running -> failed with WORKER_LOST', () => {
    const r = run([ev(0, 'started', { attempt: 3 })], job({ attempt: 3 }), [task({ attempt: 3 })]);
    const o = applied(requeueTask(r.job, r.tasks, 'j1.encode', { now: NOW }));
    assert.equal(o.job.state, 'failed');
    assert.equal(o.job.error?.code, 'WORKER_LOST');
    assert.deepEqual(o.dispatch, []);
  });

  test('worker lost is refused for finished jobs and tasks', () => {
    refused(
      requeueTask(job({ state: 'succeeded' }), [task({ state: 'succeeded' })], 'j1.encode', { now: NOW }),
      'job-final',
    );
    refused(
      requeueTask(
        job({ state: 'running' }),
        [task({ state: 'succeeded' }), task({ id: 'j1.b', state: 'running' })],
        'j1.encode',
        { now: NOW },
      ),
      'task-state',
    );
    refused(requeueTask(job(), [task()], 'j1.zzz', { now: NOW }), 'task-unknown');
  });

  test('fail: queued or running -> failed by the orchestrator; refused once final', () => {
    const err = { code: 'MESSAGE_INVALID', message: 'worker rejected the task', retriable: false };
    assert.equal(applied(failJob(job(), [task()], err, { now: NOW })).job.state, 'failed');
    const r = running();
    const o = applied(failJob(r.job, r.tasks, err, { now: NOW }));
    assert.equal(o.job.state, 'failed');
    assert.deepEqual(o.job.error, err);
    assert.deepEqual(
      o.tasks.map((t) => t.state),
      ['canceled'],
    );
    refused(failJob(o.job, o.tasks, err, { now: NOW }), 'job-state');
  });
});

describe('a job graph (a first task -> chunks -> assemble)', () => {
  const graph = () => [
    task({ id: 'j1.probe', type: 'chunk', weight: 1 }),
    task({ id: 'j1.c1', type: 'chunk', state: 'waiting', deps: ['j1.probe'], weight: 4 }),
    task({ id: 'j1.c2', type: 'chunk', state: 'waiting', deps: ['j1.probe'], weight: 4 }),
    task({ id: 'j1.asm', type: 'assemble', state: 'waiting', deps: ['j1.c1', 'j1.c2'], weight: 1 }),
  ];
  const on = (taskId: string, seq: number, type: StatusEvent['type'], over: Partial<StatusEvent> = {}) =>
    ev(seq, type, { taskId, ...over });

  test('a probe that succeeds makes the chunks ready; progress is the weighted sum; all done -> succeeded', () => {
    let r = run(
      [on('j1.probe', 0, 'started'), on('j1.probe', 1, 'succeeded', { result: { chunks: 2 } })],
      job(),
      graph(),
    );
    const probeDone = applied(r.outcomes[1]!);
    assert.deepEqual(probeDone.dispatch.sort(), ['j1.c1', 'j1.c2']);
    assert.deepEqual(
      probeDone.events.map((e) => e.type),
      ['task_succeeded'],
    );
    assert.equal(r.job.state, 'running');
    assert.equal(r.job.progress, 0.1);
    assert.deepEqual(r.tasks.find((t) => t.id === 'j1.probe')!.result, { chunks: 2 });

    r = run([on('j1.c1', 0, 'progress', { progress: { fraction: 0.5 } })], r.job, r.tasks);
    assert.equal(r.job.progress, (1 + 4 * 0.5) / 10);
    assert.deepEqual(
      applied(r.outcomes[0]!).events.map((e) => e.type),
      ['task_started'],
    );

    r = run([on('j1.c1', 1, 'succeeded'), on('j1.c2', 0, 'succeeded')], r.job, r.tasks);
    assert.deepEqual(applied(r.outcomes[1]!).dispatch, ['j1.asm']);
    assert.equal(r.job.state, 'running');
    r = run([on('j1.asm', 0, 'succeeded')], r.job, r.tasks);
    assert.equal(r.job.state, 'succeeded');
    assert.equal(r.job.progress, 1);
  });

  test('a chunk that fails retriably is retried alone while the job keeps running', () => {
    let r = run(
      [
        on('j1.probe', 0, 'succeeded'),
        on('j1.c1', 0, 'succeeded'),
        on('j1.c2', 0, 'failed', { error: { code: 'DISK_FULL', message: 'full', retriable: true } }),
      ],
      job(),
      graph(),
    );
    assert.equal(r.job.state, 'running');
    assert.equal(r.tasks.find((t) => t.id === 'j1.c2')!.attempt, 2);
    assert.equal(r.tasks.find((t) => t.id === 'j1.c1')!.state, 'succeeded');
    r = run(
      [on('j1.c2', 0, 'failed', { attempt: 2, error: { code: 'FFMPEG_FAILED', message: 'bad', retriable: false } })],
      r.job,
      r.tasks,
    );
    assert.equal(r.job.state, 'failed');
    assert.equal(r.tasks.find((t) => t.id === 'j1.asm')!.state, 'canceled');
    // A retry keeps what succeeded and redoes the rest.
    const o = applied(retryJob(r.job, r.tasks, { now: NOW }));
    assert.deepEqual(o.tasks.map((t) => [t.id, t.state]).sort(), [
      ['j1.asm', 'waiting'],
      ['j1.c2', 'queued'],
    ]);
    assert.deepEqual(o.dispatch, ['j1.c2']);
  });

  test('the task graph is checked: unknown deps, duplicate ids and cycles are named', () => {
    assert.equal(
      checkTaskGraph([
        { id: 'a', deps: [] },
        { id: 'b', deps: ['a'] },
      ]),
      null,
    );
    assert.match(checkTaskGraph([{ id: 'a', deps: ['x'] }])!, /depends on x/);
    assert.match(
      checkTaskGraph([
        { id: 'a', deps: [] },
        { id: 'a', deps: [] },
      ])!,
      /twice/,
    );
    assert.match(
      checkTaskGraph([
        { id: 'a', deps: ['b'] },
        { id: 'b', deps: ['a'] },
      ])!,
      /cycle/,
    );
    assert.match(checkTaskGraph([])!, /at least one task/);
  });
});
