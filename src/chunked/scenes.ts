// Scene detection for a chunked job: where the source cuts from one shot to the next, so the
// planner can start chunks there (each chunk's first frame, a keyframe of the encode, then opens
// a shot instead of landing mid-shot). One pass of ffprobe over a filter graph: the video decoded
// (lavfi's movie source, no audio), scaled down to a thumbnail, scored by `scdet` (mean absolute
// frame difference against the previous frame, 0-100), and only the frames scoring above the
// threshold listed with their times, which the planner's timeline turns into frame indices.
// ffprobe, not ffmpeg: feederd plans chunks, and it runs no encoder (.dependency-cruiser.cjs).
//
// Measured (bench/scenes.ts): the decode dominates; 160 px wide costs little to score and still
// sees every hard cut of the test titles. scdet's own default threshold (10) is the default.
import * as z from 'zod';
import { NommerError } from '../errors.js';
import { ffmpegInputArg, ffprobeText } from '../ffmpeg/probe.js';
import type { FrameTimeline } from './plan.js';
import { parseCompact } from './probe-frames.js';

export const sceneCut = z.object({
  /** Index of the shot's first frame, in presentation order. */
  frame: z.number().int().positive(),
  /** Its presentation time, seconds (source timeline). */
  time: z.number(),
  /** scdet's score (0-100): how different it is from the frame before. */
  score: z.number().nonnegative(),
});
export type SceneCut = z.infer<typeof sceneCut>;

/** What scene detection found in a source: a record of the job (it crosses processes as JSON). */
export const sceneRecord = z.object({
  v: z.literal(1),
  method: z.literal('scdet'),
  /** Frames scoring above this were taken as cuts. */
  threshold: z.number().nonnegative(),
  /** Width the frames were scored at (pixels). */
  width: z.number().int().positive(),
  /** Frames decoded and scored. */
  frames: z.number().int().nonnegative(),
  /** Wall seconds the pass took. */
  seconds: z.number().nonnegative(),
  cuts: z.array(sceneCut),
});
export type SceneRecord = z.infer<typeof sceneRecord>;

export const sceneDefaults = { threshold: 10, width: 160 } as const;

export interface SceneOptions {
  /** scdet score above which a frame starts a new shot (0-100). */
  threshold?: number;
  /** Width to score at (even; the height follows the aspect ratio). */
  width?: number;
  signal?: AbortSignal;
  now?: () => number;
}

/** A value for a filter's option, inside a filter graph: escaped for both levels (ffmpeg-filters,
 * "Notes on filtergraph escaping"), so a file name cannot add filters or options. */
export function filterGraphValue(v: string): string {
  const option = v.replace(/[\\':]/g, (c) => `\\${c}`);
  return option.replace(/[\\'[\],;]/g, (c) => `\\${c}`);
}

/** The detection's ffprobe arguments (after `-v error`). Pure. */
export function sceneArgs(input: string, o: { threshold: number; width: number }): string[] {
  const w = Math.max(16, Math.round(o.width / 2) * 2);
  const graph = [
    // The input's best video stream, decoded on every core.
    `movie=filename=${filterGraphValue(ffmpegInputArg(input))}:streams=dv:dec_threads=0`,
    `scale=${w}:-2:flags=fast_bilinear`,
    // threshold=100 keeps scdet quiet; the metadata filter keeps the frames above ours.
    'scdet=threshold=100',
    `metadata=mode=select:key=lavfi.scd.score:value=${o.threshold}:function=greater`,
  ].join(',');
  return [
    '-f',
    'lavfi',
    '-i',
    graph,
    '-show_entries',
    'frame=pts_time:frame_tags=lavfi.scd.score',
    '-of',
    'compact=p=0',
  ];
}

/** `pts_time=3.000000|tag:lavfi.scd.score=18.448` lines as (time, score); frames without a time are no cut. */
export function parseSceneList(text: string): Array<{ time: number; score: number }> {
  return parseCompact(text)
    .map((r) => ({ time: Number(r.pts_time), score: Number(r['tag:lavfi.scd.score']) }))
    .filter((c) => Number.isFinite(c.time) && Number.isFinite(c.score) && c.score >= 0);
}

/** Detect the source's scene cuts (local path or URL), as frames of its timeline (probeTimeline's). */
export async function detectScenes(
  ffprobe: string,
  input: string,
  timeline: Pick<FrameTimeline, 'times' | 'fps'>,
  opts: SceneOptions = {},
): Promise<SceneRecord> {
  const now = opts.now ?? Date.now;
  const threshold = opts.threshold ?? sceneDefaults.threshold;
  const width = opts.width ?? sceneDefaults.width;
  const t0 = now();
  const text = await ffprobeText(ffprobe, sceneArgs(input, { threshold, width }), opts.signal).catch((err) => {
    throw new NommerError('INPUT_UNDECODABLE', `scene detection could not read ${input}: ${err.message}`);
  });
  const seconds = Math.round((now() - t0) / 10) / 100;
  const cuts = cutsOnTimeline(parseSceneList(text), timeline);
  return { v: 1, method: 'scdet', threshold, width, frames: timeline.times.length, seconds, cuts };
}

/**
 * The cuts on the planner's timeline: each at the frame whose time is its own (within half a
 * frame); one that matches no frame is dropped. Ascending, no repeats, never frame 0.
 */
export function cutsOnTimeline(
  cuts: ReadonlyArray<{ time: number; score: number }>,
  tl: Pick<FrameTimeline, 'times' | 'fps'>,
): SceneCut[] {
  const half = 0.5 / (tl.fps > 0 ? tl.fps : 25);
  const out = new Map<number, SceneCut>();
  for (const c of cuts) {
    const frame = nearestFrame(tl.times, c.time, half);
    if (frame === null || frame <= 0) continue;
    const prev = out.get(frame);
    if (!prev || prev.score < c.score) out.set(frame, { frame, time: tl.times[frame]!, score: c.score });
  }
  return [...out.values()].sort((a, b) => a.frame - b.frame);
}

function nearestFrame(times: readonly number[], t: number, tolerance: number): number | null {
  let lo = 0;
  let hi = times.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! < t) lo = mid + 1;
    else hi = mid;
  }
  const best = [lo - 1, lo]
    .filter((i) => i >= 0 && i < times.length)
    .sort((a, b) => Math.abs(times[a]! - t) - Math.abs(times[b]! - t))[0];
  return best !== undefined && Math.abs(times[best]! - t) <= tolerance ? best : null;
}
