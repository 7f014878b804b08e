// The store and status-event rig the unit tests share: a fresh SQLite store in a temp dir, a plain
// one-output job, and a status event as a worker sends it. One place, so a change to the event's
// or the job's shape is made once (it was copied into fifteen test files).
import { after } from 'node:test';
import { join } from 'node:path';
import { MESSAGE_VERSION, type StatusEvent } from '../../src/messages.js';
import { openStore, type NewJob, type Store } from '../../src/orchestrator/store/index.js';
import { tempDir } from './media.js';

/**
 * A function that opens a new store file each call, all under one temp dir removed after the
 * file's tests. `prefix` names the dir and the files (a failing test's leftovers say whose they are).
 */
export function storeFactory(prefix = 'store'): { fresh: () => Store; dir: { path: string } } {
  const d = tempDir(`nommer-${prefix}-`);
  after(() => d.cleanup());
  let n = 0;
  return { fresh: () => openStore(join(d.path, `${prefix}-${++n}.db`)), dir: { path: d.path } };
}

/** A one-output webm job from a local file; `over` changes any field. */
export function plainJob(over: Partial<NewJob> = {}): NewJob {
  return {
    input: 'file:///media/in.mp4',
    outputs: [{ preset: { name: 'webm-vp9', container: 'webm' }, uri: 'file:///media/out.webm' }],
    ...over,
  };
}

/**
 * A status event of the job's plain encode task (`<jobId>.encode`, attempt 1, worker w1, now), as
 * the current message version; `over` sets anything else (task, attempt, time, outputs, ...).
 */
export function statusEvent(
  jobId: string,
  seq: number,
  type: StatusEvent['type'],
  over: Partial<StatusEvent> = {},
): StatusEvent {
  return {
    v: MESSAGE_VERSION,
    kind: 'status',
    jobId,
    taskId: `${jobId}.encode`,
    attempt: 1,
    seq,
    worker: 'w1',
    at: Date.now(),
    type,
    ...over,
  };
}
