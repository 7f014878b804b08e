// Scene detection for a chunked job: where the source cuts from one shot to the next, so the
// planner can start chunks there (each chunk's first frame, a keyframe of the encode, then opens
// a shot instead of landing mid-shot). One ffmpeg pass: the video decoded cheaply (no audio, no
// loop filter where the decoder has one), scaled down to a thumbnail, scored by `scdet` (mean
// absolute frame difference against the previous frame, 0-100), and every frame scoring above
// the threshold written with its index and time by `metadata=print` to a file (the index is the
// link's frame count, so it is the frame's index in presentation order).
//
// Measured (bench/scenes.ts): the decode dominates; 160 px wide costs little to score and still
// sees every hard cut of the test titles. scdet's own default threshold (10) is the default.
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { NommerError } from '../errors.js';
import { ffmpegInputArg } from '../ffmpeg/probe.js';
import { runFfmpeg } from '../ffmpeg/run.js';
import type { FrameTimeline } from './plan.js';

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
  onSpawn?: (pid: number) => void;
  /** Called with the frames decoded so far. */
  onFrames?: (frames: number) => void;
  now?: () => number;
}

/** A filter graph option value that needs no escaping (the metadata file's path goes in one). */
const SAFE_PATH = /^[A-Za-z0-9_./-]+$/;

/** The detection command (arguments after the binary; the runner adds its own flags). Pure. */
export function sceneArgs(input: string, out: string, o: { threshold: number; width: number }): string[] {
  if (!SAFE_PATH.test(out)) throw new NommerError('INTERNAL', `scene list path needs escaping: ${out}`);
  const w = Math.max(16, Math.round(o.width / 2) * 2);
  const graph = [
    `scale=${w}:-2:flags=fast_bilinear`,
    // threshold=100 keeps scdet from logging; the metadata filter decides what a cut is.
    'scdet=threshold=100',
    `metadata=mode=print:key=lavfi.scd.score:value=${o.threshold}:function=greater:file=${out}`,
  ].join(',');
  return [
    // The decoder does less where it can: no deblocking (H.264, HEVC); scores barely move.
    '-skip_loop_filter',
    'all',
    '-copyts',
    '-i',
    ffmpegInputArg(input),
    '-map',
    '0:V:0',
    '-an',
    '-sn',
    '-dn',
    '-vf',
    graph,
    '-f',
    'null',
    '-',
  ];
}

/** `frame:75   pts:38400   pts_time:3` then `lavfi.scd.score=18.444`, per cut, as cuts. */
export function parseSceneList(text: string): SceneCut[] {
  const cuts: SceneCut[] = [];
  let head: { frame: number; time: number } | null = null;
  for (const line of text.split('\n')) {
    const h = /^frame:\s*(\d+)\s+pts:\S*\s+pts_time:(\S+)/.exec(line);
    if (h) {
      head = { frame: Number(h[1]), time: Number(h[2]) };
      continue;
    }
    const s = /^lavfi\.scd\.score=(\S+)/.exec(line);
    if (s && head) {
      // Frame 0 has nothing before it; a time ffmpeg could not tell is no cut to plan on.
      if (head.frame > 0 && Number.isFinite(head.time)) cuts.push({ ...head, score: Number(s[1]) });
      head = null;
    }
  }
  return cuts;
}

/** Detect the source's scene cuts (local path or URL). */
export async function detectScenes(ffmpeg: string, input: string, opts: SceneOptions = {}): Promise<SceneRecord> {
  const now = opts.now ?? Date.now;
  const threshold = opts.threshold ?? sceneDefaults.threshold;
  const width = opts.width ?? sceneDefaults.width;
  const t0 = now();
  const dir = await mkdtemp(join(tmpdir(), 'nommer-scenes-'));
  let frames = 0;
  try {
    const out = join(dir, 'cuts.txt');
    await runFfmpeg(ffmpeg, sceneArgs(input, out, { threshold, width }), {
      signal: opts.signal,
      onSpawn: opts.onSpawn,
      onProgress: (b) => {
        if (b.frame !== undefined) {
          frames = b.frame;
          opts.onFrames?.(frames);
        }
      },
    });
    const text = await readFile(out, 'utf8').catch(() => '');
    const seconds = Math.round((now() - t0) / 10) / 100;
    return { v: 1, method: 'scdet', threshold, width, frames, seconds, cuts: parseSceneList(text) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * The cuts on the planner's timeline: a cut's index is trusted when its time is that frame's
 * (within half a frame); otherwise it moves to the frame at its time, and one that matches no
 * frame is dropped. Ascending, no repeats, never frame 0.
 */
export function cutsOnTimeline(cuts: readonly SceneCut[], tl: Pick<FrameTimeline, 'times' | 'fps'>): SceneCut[] {
  const half = 0.5 / (tl.fps > 0 ? tl.fps : 25);
  const at = (frame: number, time: number) => {
    const t = tl.times[frame];
    return t !== undefined && Math.abs(t - time) <= half;
  };
  const out = new Map<number, SceneCut>();
  for (const c of cuts) {
    const frame = at(c.frame, c.time) ? c.frame : nearestFrame(tl.times, c.time, half);
    if (frame === null || frame <= 0) continue;
    const prev = out.get(frame);
    if (!prev || prev.score < c.score) out.set(frame, { ...c, frame, time: tl.times[frame]! });
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
