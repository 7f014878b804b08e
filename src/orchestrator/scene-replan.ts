// A chunked job's scene task has succeeded (tasks/scenes.ts): read the plan it stored (by URI and
// SHA-256), make the chunks and join it calls for, and hand them to the store, which puts them in
// place of the keyframe chunks in the transaction that applies the success (store/replace-chunks.ts).
// A detection that failed, or a record that cannot be read, keeps the keyframe plan, and the job's
// options say why. A remote input's job has no keyframe plan to keep (feederd could not read the
// input; its chunks are placeholders): its plan is always the worker's, a record that cannot be
// read is a failed apply (the event comes again), and the audio, which waited for the worker to
// say whether the input has any, is planned with the chunks.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkedTasks } from '../chunked/tasks.js';
import { asNommerError } from '../errors.js';
import type { StatusEvent } from '../messages.js';
import { fetchPinned } from '../pieces.js';
import type { Storage } from '../ports/storage.js';
import { storePlannedObjects } from '../tasks/plan-objects.js';
import { TASK_PARAMS } from '../tasks/params.js';
import { SCENES_KEY, scenePlanRecord, scenesResult, type ScenePlanRecord } from '../tasks/scenes.js';
import type { Store } from './store/index.js';
import type { ChunkReplan } from './store/replace-chunks.js';
import type { JobDetail } from './store/types.js';

export function makeSceneReplanner(
  store: Store,
  storage: Storage,
): (ev: StatusEvent) => Promise<ChunkReplan | undefined> {
  return async (ev) => {
    if (ev.type !== 'succeeded') return undefined;
    const job = store.getJob(ev.jobId);
    const task = job?.tasks.find((t) => t.id === ev.taskId);
    const chunking = job?.options.chunking;
    if (!job || task?.type !== 'scenes' || !chunking || !('timeline' in chunking)) return undefined;
    const remote = TASK_PARAMS.scenes.safeParse(task.params).data?.totalFrames === undefined;
    const keep = (why: string): ChunkReplan => {
      if (remote) throw new Error(`a remote input's chunks have no plan but the scene task's: ${why}`);
      return { after: ev.taskId, tasks: [], chunking: { scenes: { skipped: why } } };
    };
    const result = scenesResult.safeParse(ev.result ?? {});
    if (!result.success) return keep('the scene task reported no plan');
    if ('failed' in result.data) return keep(`scene detection failed: ${result.data.failed}`);
    let record: ScenePlanRecord;
    try {
      record = await fetchRecord(storage, result.data.record);
    } catch (err) {
      return keep(`the scene task's plan could not be read: ${asNommerError(err).message}`);
    }
    return replanOf(storage, job, ev.taskId, chunking.scratch, record, remote);
  };
}

async function fetchRecord(storage: Storage, ref: { uri: string; sha256: string }): Promise<ScenePlanRecord> {
  const dir = await mkdtemp(join(tmpdir(), 'nommer-scenes-'));
  try {
    return await fetchPinned(storage, ref, scenePlanRecord, dir);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** The chunks and join of the plan at the cuts, their list stored. The job's audio task stays,
 * unless the input is remote: its audio is planned here, if the worker found any. */
async function replanOf(
  storage: Storage,
  job: JobDetail,
  after: string,
  scratch: string,
  record: ScenePlanRecord,
  remote: boolean,
): Promise<ChunkReplan> {
  const { plan, scenes } = record;
  const audio = job.tasks.some((t) => t.type === 'audio') && (!remote || record.hasAudio !== false);
  const planned = chunkedTasks(plan, { scratch, audio }).filter((t) => remote || t.type !== 'audio');
  await storePlannedObjects(storage, planned);
  const tasks = planned.map(({ objects: _o, ...t }) => (t.type === 'assemble' ? t : { ...t, deps: [SCENES_KEY] }));
  return {
    after,
    tasks,
    ...(remote ? { replaceAudio: true } : {}),
    chunking: {
      chunks: plan.chunks.length,
      frames: plan.totalFrames,
      ...(record.timeline ? { timeline: record.timeline } : {}),
      plan: plan.chunks.map((c) => ({ start: c.startTime, frames: c.frames, sceneCut: c.sceneCut })),
      scenes: scenes
        ? { cuts: scenes.cuts.length, threshold: scenes.threshold, seconds: scenes.seconds }
        : { skipped: record.skipped ?? 'no cuts looked for' },
    },
  };
}
