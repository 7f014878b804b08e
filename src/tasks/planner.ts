// feederd's side of chunking, at job creation: decide whether a job is chunked and, if so, plan
// its task graph (chunk-NNN ×N + audio -> assemble). Only what one ffmpeg pass makes into one
// WebM (VP9 or AV1) is chunked; anything else, an input feederd cannot read, or one too short
// to gain, is encoded as usual and the job's options say why.
import type { ResolvedPreset } from '../presets/schema.js';
import { randomUUID } from 'node:crypto';
import { isAbsolute } from 'node:path';
import { NommerError, asNommerError } from '../errors.js';
import { isPackagePreset, packageVideo, planLadder, refuseTarget } from '../abr/ladder.js';
import { probeInput } from '../ffmpeg/probe.js';
import type { ProbeInfo } from '../ffmpeg/types.js';
import { gopFrames } from '../presets/compile.js';
import { packageTasks } from '../abr/tasks.js';
import { isLocalUri, localPathOf } from '../uri.js';
import { planChunks, type ChunkPlan, type FrameTimeline } from '../chunked/plan.js';
import { detectScenes, sceneDefaults } from '../chunked/scenes.js';
import type { ScenesParams } from './params.js';
import { SCENES_KEY, sceneRecordUri } from './scenes.js';
import { probeTimeline } from '../chunked/probe-frames.js';
import { chunkedTasks } from '../chunked/tasks.js';
import type { PlannedTask } from './planned.js';
import type { Storage } from '../ports/storage.js';
import { storePlannedObjects } from './plan-objects.js';

export interface ChunkingSettings {
  enabled: boolean;
  thresholdSeconds: number;
  chunkSeconds: number;
  /** Cut at scene changes (default true), scored above sceneThreshold, chunks within [min, max]. */
  scenes?: boolean;
  sceneThreshold?: number;
  minChunkSeconds?: number;
  maxChunkSeconds?: number;
}

export interface ChunkPlannerOptions {
  /** ffprobe's path, looked up when first needed (feederd itself runs without ffmpeg). */
  ffprobe: () => string;
  chunking: ChunkingSettings;
  /** Encode slots in the fleet, now (chunk counts fill whole waves of them). */
  workers: () => number;
  /** Where intermediates go: a directory path or an s3:// prefix, ending with '/'. */
  scratchBase: string;
  /** Where a plan's by-reference objects are stored (a chunked job's chunk list, a package's piece list). */
  storage: Storage;
  /**
   * Detect scene cuts in a task run first on a worker (the `scenes` kind, whose plan then
   * replaces the keyframe chunks: orchestrator/scene-replan.ts), instead of here before the job is
   * created. feederd, with a status applier to do the replacing, says true.
   */
  scenesOnWorker?: boolean;
}

export type ChunkDecision =
  | {
      tasks: PlannedTask[];
      summary:
        | ({ chunks: number; scratch: string; frames: number; timeline: 'packets' | 'frames' } & ScenePlanned)
        | { package: true; rungs: number; scratch: string; chunks?: number };
    }
  | { tasks: null; reason: string };

/** An output as feederd resolved it: its preset already checked (presets/registry.ts). */
type OutputLike = { preset: ResolvedPreset; uri: string };

/** Why these outputs cannot be chunked, or null when they can. */
export function unchunkableReason(outputs: readonly OutputLike[]): string | null {
  if (outputs.length !== 1) return `a chunked job has exactly one output (this one has ${outputs.length})`;
  const p = outputs[0]!.preset;
  if (p.container !== 'webm' || !p.video) return `preset "${p.name}" is not WebM video`;
  if (p.video.codec !== 'vp9' && p.video.codec !== 'av1')
    return `preset "${p.name}" encodes ${p.video.codec}; chunking is for VP9 and AV1`;
  if (p.video.passes !== undefined && p.video.passes !== 1)
    return `preset "${p.name}" is two-pass; chunking is for one-pass presets`;
  return null;
}

export function makeChunkPlanner(o: ChunkPlannerOptions) {
  /** `chunked`: the job's own choice (true/false), or undefined to follow config and the threshold.
   * The lists the planned tasks read by reference are stored before the plan is returned. */
  return async (
    input: string,
    outputs: readonly OutputLike[],
    chunked: boolean | undefined,
  ): Promise<ChunkDecision> => {
    const decision = await decide(o, input, outputs, chunked);
    if (decision.tasks) await storePlannedObjects(o.storage, decision.tasks);
    return decision;
  };
}

async function decide(
  o: ChunkPlannerOptions,
  input: string,
  outputs: readonly OutputLike[],
  chunked: boolean | undefined,
): Promise<ChunkDecision> {
  // A package is always a graph of tasks (a rendition per rung), chunked or not.
  const pkg = await packagePlan(o, input, outputs, chunked);
  if (pkg) return pkg;
  if (chunked === false) return { tasks: null, reason: 'chunking turned off for this job' };
  if (chunked === undefined && !o.chunking.enabled) return { tasks: null, reason: 'chunking is off in config' };
  const why = unchunkableReason(outputs);
  if (why) return { tasks: null, reason: why };
  if (!isLocalUri(input) || !isAbsolute(localPathOf(input))) return remotePlan(o, outputs, chunked);
  if (chunked === undefined && (await lengthOf(o, input)) < o.chunking.thresholdSeconds) return tooShort(o);
  let src;
  try {
    src = await probeTimeline(o.ffprobe(), localPathOf(input));
  } catch (err) {
    // The ordinary encode reports a bad input with its proper error.
    return { tasks: null, reason: `could not list the input's frames: ${asNommerError(err).message}` };
  }
  const plan = planChunks(src.timeline, { chunkSeconds: o.chunking.chunkSeconds, workers: o.workers() });
  if (chunked === undefined && plan.duration < o.chunking.thresholdSeconds) return tooShort(o);
  if (plan.chunks.length < 2) return { tasks: null, reason: 'too short to split into chunks' };
  const preset = outputs[0]!.preset;
  if (preset.audio && preset.audio.optional === false && !src.hasAudio)
    return { tasks: null, reason: 'the preset needs audio and the input has none' };
  const scratch = `${o.scratchBase}${randomUUID()}/`;
  const audio = src.hasAudio && Boolean(preset.audio);
  if (o.scenesOnWorker && o.chunking.scenes !== false) {
    const tasks = withSceneTask(chunkedTasks(plan, { scratch, audio }), sceneTaskParams(o, scratch, plan.totalFrames));
    return { tasks, summary: summaryOf(plan, scratch, src.method, { pending: 'detected by a worker first' }) };
  }
  const scenes = await planAtScenes(o, input, src.timeline);
  const planned = scenes.plan ?? plan;
  const tasks = chunkedTasks(planned, { scratch, audio });
  return { tasks, summary: summaryOf(planned, scratch, src.method, scenes.summary) };
}

/**
 * The input's length as its container gives it (one plain probe), or Infinity when it gives none
 * or cannot be probed. Followed from config, most jobs are shorter than the threshold: this tells
 * them apart before the frames are listed (two more ffprobe starts, the second reading every
 * packet of the input), which only a job that may be chunked needs. The listed frames' length is
 * checked against the threshold again after the listing.
 */
async function lengthOf(o: ChunkPlannerOptions, input: string): Promise<number> {
  const info = await probeInput(o.ffprobe(), localPathOf(input)).catch(() => undefined);
  return info && info.duration > 0 ? info.duration : Number.POSITIVE_INFINITY;
}

function tooShort(o: ChunkPlannerOptions): ChunkDecision {
  return { tasks: null, reason: `shorter than chunking.thresholdSeconds (${o.chunking.thresholdSeconds} s)` };
}

function summaryOf(planned: ChunkPlan, scratch: string, timeline: 'packets' | 'frames', scenes: SceneSummary) {
  return {
    chunks: planned.chunks.length,
    scratch,
    frames: planned.totalFrames,
    timeline,
    plan: planned.chunks.map((c) => ({ start: c.startTime, frames: c.frames, sceneCut: c.sceneCut })),
    scenes,
  };
}

/** The scene task's params: feederd's lengths and threshold, its record under the job's scratch. */
function sceneTaskParams(o: ChunkPlannerOptions, scratch: string, totalFrames?: number): ScenesParams {
  const c = o.chunking;
  return {
    kind: 'scenes',
    uri: sceneRecordUri(scratch),
    threshold: c.sceneThreshold ?? sceneDefaults.threshold,
    chunkSeconds: c.chunkSeconds,
    minChunkSeconds: c.minChunkSeconds ?? c.chunkSeconds / 2,
    maxChunkSeconds: c.maxChunkSeconds ?? c.chunkSeconds * 2,
    workers: o.workers(),
    ...(totalFrames !== undefined ? { totalFrames } : {}),
  };
}

/** The scene task first: every video chunk waits for it (the plan it makes replaces them), and
 * the audio too when only the scene task can say whether the input has any. */
function withSceneTask(tasks: PlannedTask[], params: ScenesParams, waiting = new Set(['chunk'])): PlannedTask[] {
  const chunks = tasks.map((t) => (waiting.has(t.type) ? { ...t, deps: [...(t.deps ?? []), SCENES_KEY] } : t));
  return [{ key: SCENES_KEY, type: 'scenes', params, weight: 0.02 }, ...chunks];
}

/**
 * A remote input (s3://, http(s)://), which feederd does not read: the scene task, on the worker
 * that fetches the input, lists its frames and makes the whole plan (chunked/scene-task.ts). Until
 * then the job holds one placeholder chunk, and its audio, which both wait for that task and are
 * replaced by its plan (scene-replan.ts), never run. Followed from config, a remote input shorter
 * than the threshold becomes one chunk: only the worker learns its length.
 */
function remotePlan(
  o: ChunkPlannerOptions,
  outputs: readonly OutputLike[],
  chunked: boolean | undefined,
): ChunkDecision {
  if (!o.scenesOnWorker || o.chunking.scenes === false)
    return {
      tasks: null,
      reason: 'a remote input is planned by the worker that reads it, with chunking.scenes on; this one is remote',
    };
  const preset = outputs[0]!.preset;
  const scratch = `${o.scratchBase}${randomUUID()}/`;
  const placeholder = planChunks({ times: [0], keyframes: [0], formatStart: 0, fps: 25 }, { chunkSeconds: 1 });
  const params: ScenesParams = {
    ...sceneTaskParams(o, scratch),
    ...(chunked === undefined ? { oneChunkUnder: o.chunking.thresholdSeconds } : {}),
  };
  const tasks = withSceneTask(
    chunkedTasks(placeholder, { scratch, audio: Boolean(preset.audio) }),
    params,
    new Set(['chunk', 'audio']),
  );
  const pending = 'the input is remote: the worker that reads it lists its frames and cuts first';
  return { tasks, summary: { chunks: 1, scratch, frames: 0, timeline: 'packets', plan: [], scenes: { pending } } };
}

export type ChunkPlanner = ReturnType<typeof makeChunkPlanner>;

/** The tasks of an adaptive-streaming package, or null when the job makes none. A long local
 * input gets every rung it has chunked, cut on the ladder's GOP, so the fleet encodes the chunks
 * of all rungs at once; otherwise a task per rung. */
async function packagePlan(
  o: ChunkPlannerOptions,
  input: string,
  outputs: readonly OutputLike[],
  chunked: boolean | undefined,
): Promise<ChunkDecision | null> {
  const pkg = outputs.find((x) => isPackagePreset(x.preset));
  if (!pkg) return null;
  if (outputs.length !== 1)
    throw new NommerError(
      'USAGE',
      `preset "${pkg.preset.name}" makes an adaptive-streaming package, which is a job of its own (this one has ${outputs.length} outputs)`,
      { hint: 'submit the package alone, and the other presets as another job' },
    );
  const preset = pkg.preset;
  refuseTarget(preset);
  const scratch = `${o.scratchBase}${randomUUID()}/`;
  const whole = (rungs?: number[]): ChunkDecision => ({
    tasks: packageTasks(preset, { scratch, ...(rungs ? { rungs } : {}) }),
    summary: { package: true, rungs: rungs?.length ?? preset.abr!.rungs.length, scratch },
  });
  // Remote inputs are probed by the workers (a rung task above the source does nothing).
  if (!isLocalUri(input) || !isAbsolute(localPathOf(input))) return whole();
  let info: ProbeInfo;
  try {
    info = await probeInput(o.ffprobe(), localPathOf(input));
  } catch {
    return whole(); // the workers report an unreadable input with its proper error
  }
  const v = packageVideo(info, preset);
  const rungs = planLadder(preset, v).map((r) => r.rung);
  const wanted = chunked === true || (chunked === undefined && o.chunking.enabled);
  if (!wanted || v.vfr) return whole(rungs);
  try {
    const src = await probeTimeline(o.ffprobe(), localPathOf(input));
    const gop = gopFrames(v.fps, preset.abr!.segmentSeconds);
    const plan = planChunks(src.timeline, {
      chunkSeconds: Math.max(o.chunking.chunkSeconds, preset.abr!.segmentSeconds),
      workers: o.workers(),
      cutEvery: gop,
    });
    if ((chunked === undefined && plan.duration < o.chunking.thresholdSeconds) || plan.chunks.length < 2)
      return whole(rungs);
    const tasks = packageTasks(preset, { scratch, chunked: { rungs, plan } });
    return { tasks, summary: { package: true, rungs: rungs.length, scratch, chunks: plan.chunks.length } };
  } catch {
    return whole(rungs); // frames could not be listed: a task per rung
  }
}

type SceneSummary = { cuts: number; threshold: number; seconds: number } | { skipped: string } | { pending: string };
type ScenePlanned = { plan?: Array<{ start: number; frames: number; sceneCut: boolean }>; scenes?: SceneSummary };

/**
 * The plan cut at the input's scene changes, or why not (the keyframe plan stands then). Run
 * where the plan is made, on feederd, for a local input (with ffprobe, as the timeline).
 */
async function planAtScenes(
  o: ChunkPlannerOptions,
  input: string,
  timeline: FrameTimeline,
): Promise<{ plan?: ChunkPlan; summary: SceneSummary }> {
  const c = o.chunking;
  if (c.scenes === false) return { summary: { skipped: 'chunking.scenes is off' } };
  try {
    const rec = await detectScenes(o.ffprobe(), localPathOf(input), timeline, { threshold: c.sceneThreshold });
    const plan = planChunks(timeline, {
      chunkSeconds: c.chunkSeconds,
      workers: o.workers(),
      scenes: {
        cuts: rec.cuts.map((x) => x.frame),
        minChunkSeconds: c.minChunkSeconds ?? c.chunkSeconds / 2,
        maxChunkSeconds: c.maxChunkSeconds ?? c.chunkSeconds * 2,
      },
    });
    return { plan, summary: { cuts: rec.cuts.length, threshold: rec.threshold, seconds: rec.seconds } };
  } catch (err) {
    return { summary: { skipped: `scene detection failed: ${asNommerError(err).message}` } };
  }
}
