// The worker's side of the `scenes` kind (tasks/scenes.ts): the input is read where it is (an S3
// input is fetched by the worker, as a chunk's is), its frames listed, its cuts detected, and the
// chunks planned at them with feederd's lengths; the record goes under the job's scratch prefix
// and the result names it. For a local input, whose keyframe plan feederd made, a source whose
// cuts cannot be found is no failed task: the result says why, and the job keeps that plan. A
// remote input's job has no plan but this one (feederd cannot read the input), so here the frames
// are the plan: cuts that cannot be found give a keyframe plan, and an input that cannot be
// listed fails the task with the input's own error.
import { NommerError, asNommerError } from '../errors.js';
import { pinnedObject } from '../tasks/planned.js';
import { storePlannedObjects } from '../tasks/plan-objects.js';
import type { ScenesParams } from '../tasks/params.js';
import { scenePlanRecord, type ScenePlanRecord, type ScenesResult } from '../tasks/scenes.js';
import { lazyInput, type TaskContext, type TaskRun } from '../worker/task-context.js';
import { planChunks, type FrameTimeline } from './plan.js';
import { probeTimeline } from './probe-frames.js';
import { detectScenes, type SceneRecord } from './scenes.js';

export async function runScenes(ctx: TaskContext, p: ScenesParams): Promise<TaskRun & { result: ScenesResult }> {
  await ctx.phase('downloading');
  const input = await lazyInput(ctx)();
  await ctx.phase('encoding');
  let record: ScenePlanRecord;
  try {
    record = await detectAndPlan(ctx, input, p);
  } catch (err) {
    if (ctx.signal.aborted || isRemotePlan(p)) throw err;
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
      cuts: s?.cuts.length ?? 0,
      chunks: record.plan.chunks.length,
      seconds: s?.seconds ?? 0,
      threshold: s?.threshold ?? p.threshold,
    },
  };
}

/** A remote input's scene task: feederd made no plan, the worker's is the job's first. */
function isRemotePlan(p: ScenesParams): boolean {
  return p.totalFrames === undefined;
}

async function detectAndPlan(ctx: TaskContext, input: string, p: ScenesParams): Promise<ScenePlanRecord> {
  const ffprobe = ctx.ffmpeg.ffprobe;
  const { timeline, hasAudio, method } = await probeTimeline(ffprobe, input, { signal: ctx.signal });
  if (isRemotePlan(p)) refuseMissingAudio(ctx, hasAudio);
  const seconds = durationOf(timeline);
  if (p.oneChunkUnder !== undefined && seconds < p.oneChunkUnder) {
    const skipped = `${seconds.toFixed(1)} s is shorter than chunking.thresholdSeconds (${p.oneChunkUnder} s): one chunk`;
    return recordOf(timeline, p, { skipped, oneChunk: true }, hasAudio, method);
  }
  let scenes: SceneRecord;
  try {
    scenes = await detectScenes(ffprobe, input, timeline, { threshold: p.threshold, signal: ctx.signal });
  } catch (err) {
    if (ctx.signal.aborted || !isRemotePlan(p)) throw err;
    const skipped = `scene detection failed: ${asNommerError(err).message}`;
    return recordOf(timeline, p, { skipped }, hasAudio, method);
  }
  const record = recordOf(timeline, p, { scenes }, hasAudio, method);
  if (p.totalFrames !== undefined && record.plan.totalFrames !== p.totalFrames)
    throw new Error(`the input has ${record.plan.totalFrames} frames here, ${p.totalFrames} where the job was planned`);
  return record;
}

/** The plan at the cuts found, or at keyframes when none were looked for (one chunk if asked). */
function recordOf(
  timeline: FrameTimeline,
  p: ScenesParams,
  how: { scenes: SceneRecord } | { skipped: string; oneChunk?: boolean },
  hasAudio: boolean,
  method: 'packets' | 'frames',
): ScenePlanRecord {
  const scenes = 'scenes' in how ? how.scenes : undefined;
  const oneChunk = 'oneChunk' in how && how.oneChunk === true;
  const plan = planChunks(timeline, {
    chunkSeconds: oneChunk ? Number.MAX_SAFE_INTEGER : p.chunkSeconds,
    workers: oneChunk ? 1 : p.workers,
    ...(scenes
      ? {
          scenes: {
            cuts: scenes.cuts.map((c) => c.frame),
            minChunkSeconds: p.minChunkSeconds,
            maxChunkSeconds: p.maxChunkSeconds,
          },
        }
      : {}),
  });
  const chunks = plan.chunks.map(({ endTime: _end, ...c }) => c);
  return {
    ...(scenes ? { scenes } : { skipped: 'skipped' in how ? how.skipped : 'no cuts looked for' }),
    hasAudio,
    timeline: method,
    plan: { chunks, totalFrames: plan.totalFrames, videoOffset: plan.videoOffset },
  };
}

/** A remote input without the audio its preset requires fails here, as a plain encode would. */
function refuseMissingAudio(ctx: TaskContext, hasAudio: boolean): void {
  const preset = ctx.task.outputs[0]?.preset;
  if (hasAudio || !preset?.audio || preset.audio.optional !== false) return;
  throw new NommerError('INPUT_NO_STREAMS', `preset "${preset.name}" needs an audio stream and the input has none`, {
    hint: 'check the input has audio',
  });
}

function durationOf(t: FrameTimeline): number {
  const n = t.times.length;
  return n === 0 ? 0 : t.times[n - 1]! + 1 / (t.fps > 0 ? t.fps : 25) - t.times[0]!;
}
