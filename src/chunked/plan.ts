// Chunk planning for a chunked encode: (the source's frame timeline, keyframes, chunk length,
// fleet size) -> chunks cut on source keyframes, each with an exact frame range, the times that
// select exactly those frames, and where to seek first. Pure: no I/O, no clock.
//
// Why it looks like this (measured with ffmpeg 5.1 on VP9 chunks):
// - Chunks are cut by frame, not by a seek time: time-based seeks on an MPEG-4 AVI with B-frames
//   lost the first frame and duplicated one at a seam. A chunk decodes from a keyframe one GOP
//   before its start (timestamps right after a seek can be guessed wrong) and keeps the frames
//   whose decoded timestamps fall in [start, end), where start and end sit half a frame before
//   the boundary frames: no rounding can move a frame across a seam. The worker then checks the
//   chunk holds exactly `frames` frames; ranges are disjoint and cover the source, so equal
//   counts prove the partition.
// - A source whose first frame is not at time 0 keeps that offset (`videoOffset`); the assembler
//   carries it over, since every concatenated chunk starts at 0.

import { sceneBoundaries, wantedLengths, type SceneChunking } from './scene-plan.js';

export interface FrameTimeline {
  /** Decoded (presentation) timestamp of every video frame, seconds, in presentation order. */
  times: readonly number[];
  /** Indices into `times` of the keyframes (frames a decoder can start from), ascending. */
  keyframes: readonly number[];
  /** The container's start time (what ffmpeg subtracts from every stream when it encodes). */
  formatStart: number;
  /** Frames per second, for the last frame's duration. */
  fps: number;
}

export interface ChunkPlanOptions {
  /** Wanted chunk length, seconds. */
  chunkSeconds: number;
  /** Encode slots in the fleet: the plan prefers a chunk count that fills every wave. */
  workers?: number;
  /**
   * Cut only at frames that are multiples of this (a ladder's fixed GOP: every chunk then starts
   * on a segment boundary), instead of at the source's keyframes. A chunk still decodes from the
   * source keyframe before the one at or before its first frame.
   */
  cutEvery?: number;
  /**
   * Cut at these scene cuts (frame indices, ascending) where one is in reach, each chunk between
   * minChunkSeconds and maxChunkSeconds long (see scene-plan.ts); instead of cutEvery.
   */
  scenes?: SceneChunking & { cuts: readonly number[] };
}

export interface ChunkSpec {
  index: number;
  /** First frame (inclusive) and last frame (exclusive), in presentation order. */
  startFrame: number;
  endFrame: number;
  /** endFrame - startFrame: what the encoded chunk must hold. */
  frames: number;
  /** Source time of the first frame, and of the frame after the last (null: to the end). */
  startTime: number;
  endTime: number | null;
  /** The chunk's duration when joined: next chunk's start minus this one's (last: to the end of the last frame). */
  duration: number;
  /** Keep decoded frames with timestamp in [selectStart, selectEnd) (source timeline, -copyts). */
  selectStart: number;
  selectEnd: number | null;
  /** Seek (ffmpeg -ss, relative to the container's start) before decoding; null: decode from the start. */
  seek: number | null;
  /** Whether the chunk starts on a detected scene cut. */
  sceneCut: boolean;
}

export interface ChunkPlan {
  chunks: ChunkSpec[];
  totalFrames: number;
  /** Seconds from the container's start to the first video frame: added back when joining. */
  videoOffset: number;
  /** Source video duration (first frame to end of last frame). */
  duration: number;
}

/**
 * How many chunks: about duration / chunkSeconds, raised to fill the fleet (every slot busy) and
 * rounded up to whole waves, as long as chunks stay at least half the wanted length.
 */
/**
 * Most chunks one job is split into. The assemble task carries every chunk's entry, and a task
 * message must fit SQS's 256 KiB: at about 930 chunks it did not, and dispatch stopped. 500 keeps
 * it near half that (a test checks), and is more parallelism than any fleet nommer scales to.
 * Longer inputs get longer chunks.
 */
export const MAX_CHUNKS = 500;

export function chunkCount(duration: number, chunkSeconds: number, workers = 1): number {
  if (!(duration > 0) || !(chunkSeconds > 0)) return 1;
  const minLen = chunkSeconds / 2;
  const most = Math.max(1, Math.floor(duration / minLen));
  let n = Math.max(1, Math.round(duration / chunkSeconds));
  const w = Math.max(1, Math.floor(workers));
  if (w > 1) {
    const waves = Math.ceil(n / w) * w;
    n = Math.max(n, Math.min(waves, most));
  }
  return Math.min(n, most, MAX_CHUNKS);
}

/** Keyframe index (into keyframes) whose time is closest to t, among those strictly after `after`. */
function nearestKeyframe(tl: FrameTimeline, t: number, afterPos: number): number {
  let best = -1;
  let bestGap = Infinity;
  for (let k = afterPos + 1; k < tl.keyframes.length; k++) {
    const gap = Math.abs(tl.times[tl.keyframes[k]!]! - t);
    if (gap < bestGap) {
      best = k;
      bestGap = gap;
    } else if (tl.times[tl.keyframes[k]!]! > t) break;
  }
  return best;
}

/** Half the shortest gap between frame i and its neighbours: a margin no timestamp rounding crosses. */
function halfGap(times: readonly number[], i: number, fps: number): number {
  const gaps = [times[i]! - (times[i - 1] ?? -Infinity), (times[i + 1] ?? Infinity) - times[i]!].filter(
    (g) => g > 0 && Number.isFinite(g),
  );
  const g = gaps.length ? Math.min(...gaps) : 1 / (fps > 0 ? fps : 25);
  return g / 2;
}

const round6 = (x: number) => Math.round(x * 1e6) / 1e6;

/** Plan the chunks. One chunk (the whole input) when it cannot be split usefully. */
export function planChunks(tl: FrameTimeline, opts: ChunkPlanOptions): ChunkPlan {
  const n = tl.times.length;
  if (n === 0) throw new Error('planChunks: the input has no video frames');
  for (let i = 1; i < n; i++)
    if (!(tl.times[i]! > tl.times[i - 1]!)) throw new Error(`planChunks: frame times must increase (frame ${i})`);
  const frameDur = 1 / (tl.fps > 0 ? tl.fps : 25);
  const first = tl.times[0]!;
  const duration = tl.times[n - 1]! + frameDur - first;
  // A decoder can always start at frame 0.
  const keys = [...new Set([0, ...tl.keyframes.filter((k) => k >= 0 && k < n)])].sort((a, b) => a - b);
  const timeline: FrameTimeline = { ...tl, keyframes: keys };
  const wanted = chunkCount(duration, opts.chunkSeconds, opts.workers);

  // Boundaries: scene cuts (scene-plan.ts), or the allowed cut nearest each ideal one (a
  // keyframe, or a multiple of cutEvery), strictly increasing.
  const sceneAt = new Set<number>();
  let boundaries: number[];
  if (opts.scenes) {
    const bs = sceneBoundaries(timeline, opts.scenes.cuts, wantedLengths(duration, wanted, opts.scenes, MAX_CHUNKS));
    boundaries = bs.map((b) => b.frame);
    for (const b of bs) if (b.sceneCut) sceneAt.add(b.frame);
  } else {
    const every = opts.cutEvery !== undefined && opts.cutEvery >= 1 ? Math.floor(opts.cutEvery) : null;
    const cand: FrameTimeline =
      every === null
        ? timeline
        : { ...tl, keyframes: Array.from({ length: Math.ceil(n / every) }, (_, i) => i * every) };
    const cutIdx: number[] = [0];
    for (let c = 1; c < wanted; c++) {
      const k = nearestKeyframe(cand, first + (duration * c) / wanted, cutIdx.at(-1)!);
      if (k < 0) break;
      cutIdx.push(k);
    }
    boundaries = cutIdx.map((k) => cand.keyframes[k]!);
  }
  // `seekFrom[i]` indexes into keys: the keyframe at or before boundary i.
  let k = 0;
  const seekFrom = boundaries.map((f) => {
    while (k + 1 < keys.length && keys[k + 1]! <= f) k++;
    return k;
  });

  const chunks: ChunkSpec[] = boundaries.map((startFrame, index) => {
    const last = index === boundaries.length - 1;
    const endFrame = last ? n : boundaries[index + 1]!;
    const startTime = tl.times[startFrame]!;
    const endTime = last ? null : tl.times[endFrame]!;
    // Seek to the keyframe one before the chunk's own, so the frames we keep are decoded in
    // steady state; a chunk starting at the first or second keyframe decodes from the start.
    const seekKey = seekFrom[index]! >= 2 ? keys[seekFrom[index]! - 1]! : null;
    const seek =
      seekKey === null
        ? null
        : round6(Math.max(0, tl.times[seekKey]! - tl.formatStart - halfGap(tl.times, seekKey, tl.fps)));
    return {
      index,
      startFrame,
      endFrame,
      frames: endFrame - startFrame,
      startTime,
      endTime,
      duration: round6((endTime ?? tl.times[n - 1]! + frameDur) - startTime),
      selectStart: round6(startTime - halfGap(tl.times, startFrame, tl.fps)),
      selectEnd: endTime === null ? null : round6(endTime - halfGap(tl.times, endFrame, tl.fps)),
      seek: seek === 0 ? null : seek,
      sceneCut: sceneAt.has(startFrame),
    };
  });
  return {
    chunks,
    totalFrames: n,
    videoOffset: round6(Math.max(0, first - tl.formatStart)),
    duration: round6(duration),
  };
}

/**
 * Wall time of a chunked encode on `workers` slots, from per-chunk encode times (seconds), a
 * fixed start-up cost per chunk (fetch, seek, encoder warm-up) and a serial tail (audio left to
 * finish + assembly). Chunks go to the next free slot in order (what a FIFO queue does).
 */
export function simulateWallTime(
  chunkSeconds: readonly number[],
  workers: number,
  opts: { perChunkOverhead?: number; serialTail?: number } = {},
): number {
  const slots = new Array<number>(Math.max(1, workers)).fill(0);
  for (const c of chunkSeconds) {
    let i = 0;
    for (let k = 1; k < slots.length; k++) if (slots[k]! < slots[i]!) i = k;
    slots[i] = slots[i]! + c + (opts.perChunkOverhead ?? 0);
  }
  return Math.max(...slots) + (opts.serialTail ?? 0);
}
