// A chunked job's scene task has succeeded (tasks/scenes.ts): read the plan it stored (by URI and
// SHA-256), make the chunks and join it calls for, and hand them to the store, which puts them in
// place of the keyframe chunks in the transaction that applies the success (store/replace-chunks.ts).
// A detection that failed, or a record that cannot be read, keeps the keyframe plan, and the job's
// options say why.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chunkedTasks } from '../chunked/tasks.js';
import { asNommerError } from '../errors.js';
import type { StatusEvent } from '../messages.js';
import { fetchPinned } from '../pieces.js';
import type { Storage } from '../ports/storage.js';
import { storePlannedObjects } from '../tasks/plan-objects.js';
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
    const keep = (why: string): ChunkReplan => ({
      after: ev.taskId,
      tasks: [],
      chunking: { scenes: { skipped: why } },
    });
    const result = scenesResult.safeParse(ev.result ?? {});
    if (!result.success) return keep('the scene task reported no plan');
    if ('failed' in result.data) return keep(`scene detection failed: ${result.data.failed}`);
    let record: ScenePlanRecord;
    try {
      record = await fetchRecord(storage, result.data.record);
    } catch (err) {
      return keep(`the scene task's plan could not be read: ${asNommerError(err).message}`);
    }
    return replanOf(storage, job, ev.taskId, chunking.scratch, record);
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

/** The chunks and join of the plan at the cuts (the job's audio task stays), their list stored. */
async function replanOf(
  storage: Storage,
  job: JobDetail,
  after: string,
  scratch: string,
  record: ScenePlanRecord,
): Promise<ChunkReplan> {
  const { plan, scenes } = record;
  const audio = job.tasks.some((t) => t.type === 'audio');
  const planned = chunkedTasks(plan, { scratch, audio }).filter((t) => t.type !== 'audio');
  await storePlannedObjects(storage, planned);
  const tasks = planned.map(({ objects: _o, ...t }) => (t.type === 'chunk' ? { ...t, deps: [SCENES_KEY] } : t));
  return {
    after,
    tasks,
    chunking: {
      chunks: plan.chunks.length,
      frames: plan.totalFrames,
      plan: plan.chunks.map((c) => ({ start: c.startTime, frames: c.frames, sceneCut: c.sceneCut })),
      scenes: { cuts: scenes.cuts.length, threshold: scenes.threshold, seconds: scenes.seconds },
    },
  };
}
