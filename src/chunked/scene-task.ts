// The worker's side of the `scenes` kind (tasks/scenes.ts): the input is read where it is (an S3
// input is fetched by the worker, as a chunk's is), its frames listed, its cuts detected, and the
// chunks planned at them with feederd's lengths; the record goes under the job's scratch prefix
// and the result names it. A source whose cuts cannot be found is no failed task: the result says
// why, and the job keeps its keyframe plan.
import { asNommerError } from '../errors.js';
import { pinnedObject } from '../tasks/planned.js';
import { storePlannedObjects } from '../tasks/plan-objects.js';
import type { ScenesParams } from '../tasks/params.js';
import { scenePlanRecord, type ScenePlanRecord, type ScenesResult } from '../tasks/scenes.js';
import { lazyInput, type TaskContext, type TaskRun } from '../worker/task-context.js';
import { planChunks } from './plan.js';
import { probeTimeline } from './probe-frames.js';
import { detectScenes } from './scenes.js';

export async function runScenes(ctx: TaskContext, p: ScenesParams): Promise<TaskRun & { result: ScenesResult }> {
  await ctx.phase('downloading');
  const input = await lazyInput(ctx)();
  await ctx.phase('encoding');
  let record: ScenePlanRecord;
  try {
    record = await detectAndPlan(ctx, input, p);
  } catch (err) {
    if (ctx.signal.aborted) throw err;
    return { outputs: [], result: { failed: asNommerError(err).message } };
  }
  const { ref, object } = pinnedObject(p.uri, scenePlanRecord, record);
  await ctx.phase('uploading');
  await ctx.beforeCommit();
  await storePlannedObjects(ctx.storage, [{ objects: [object] }]);
  const s = record.scenes;
  return {
    outputs: [],
    result: {
      record: ref,
      cuts: s.cuts.length,
      chunks: record.plan.chunks.length,
      seconds: s.seconds,
      threshold: s.threshold,
    },
  };
}

async function detectAndPlan(ctx: TaskContext, input: string, p: ScenesParams): Promise<ScenePlanRecord> {
  const ffprobe = ctx.ffmpeg.ffprobe;
  const { timeline } = await probeTimeline(ffprobe, input, { signal: ctx.signal });
  const scenes = await detectScenes(ffprobe, input, timeline, { threshold: p.threshold, signal: ctx.signal });
  const plan = planChunks(timeline, {
    chunkSeconds: p.chunkSeconds,
    workers: p.workers,
    scenes: {
      cuts: scenes.cuts.map((c) => c.frame),
      minChunkSeconds: p.minChunkSeconds,
      maxChunkSeconds: p.maxChunkSeconds,
    },
  });
  if (plan.totalFrames !== p.totalFrames)
    throw new Error(`the input has ${plan.totalFrames} frames here, ${p.totalFrames} where the job was planned`);
  const chunks = plan.chunks.map(({ endTime: _end, ...c }) => c);
  return { scenes, plan: { chunks, totalFrames: plan.totalFrames, videoOffset: plan.videoOffset } };
}
