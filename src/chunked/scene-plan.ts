// Where a scene-cut chunked job's chunks begin. Walking from the start, each boundary goes on
// the detected cut that makes the chunk nearest the wanted length, among those that keep it within
// [min, max] and leave at least `min` after it; the input's end counts as a candidate too, once it
// is within reach. Where a long shot has no cut in reach, the boundary goes on the source
// keyframe nearest the wanted length (cheapest to decode from), else on the frame there.
// Pure: no I/O. After Av1an's scene-based splitting, planned once for a whole fleet.
import type { FrameTimeline } from './plan.js';

export interface SceneChunking {
  /** Shortest chunk the planner makes (seconds), but a last one it cannot avoid. */
  minChunkSeconds: number;
  /** Longest chunk (seconds); a longer shot is cut at a keyframe or a frame. */
  maxChunkSeconds: number;
}

export interface ChunkLengths {
  wanted: number;
  min: number;
  max: number;
}

export interface Boundary {
  /** First frame of a chunk. */
  frame: number;
  /** Whether it is a detected scene cut (else frame 0, a keyframe or a fixed frame). */
  sceneCut: boolean;
}

const EPS = 1e-6;

/**
 * The lengths to plan with: the wanted length is the source split into `count` chunks (the fleet
 * fill of chunkCount), kept within [min, max]; min is raised so no plan exceeds `maxChunks`.
 */
export function wantedLengths(duration: number, count: number, s: SceneChunking, maxChunks: number): ChunkLengths {
  const min = Math.max(s.minChunkSeconds, duration / Math.max(1, maxChunks));
  const max = Math.max(s.maxChunkSeconds, 2 * min);
  const wanted = Math.min(max, Math.max(min, duration / Math.max(1, count)));
  return { wanted, min, max };
}

/** Chunk starts for a timeline and its scene cuts (frame indices). The first is frame 0. */
export function sceneBoundaries(tl: FrameTimeline, cuts: readonly number[], len: ChunkLengths): Boundary[] {
  const { times } = tl;
  const n = times.length;
  const end = times[n - 1]! + 1 / (tl.fps > 0 ? tl.fps : 25);
  const sorted = [...new Set(cuts)].filter((c) => c > 0 && c < n).sort((a, b) => a - b);
  const out: Boundary[] = [{ frame: 0, sceneCut: false }];
  let prev = 0;
  for (;;) {
    const t0 = times[prev]!;
    const remaining = end - t0;
    // A cut in reach, else a keyframe or a frame.
    const cut = bestCut(times, sorted, prev, end, len);
    const f = cut ? cut.frame : fallbackFrame(tl, prev, remaining, len);
    if (f === null) break;
    // The end is a candidate once in reach: stop when no boundary makes a chunk nearer the wanted length.
    const gap = Math.abs(times[f]! - t0 - len.wanted);
    if (remaining <= len.max + EPS && Math.abs(remaining - len.wanted) <= gap) break;
    out.push({ frame: f, sceneCut: cut !== null });
    prev = f;
  }
  return out;
}

/** The cut after `prev` that makes the chunk nearest the wanted length, within bounds. */
function bestCut(
  times: readonly number[],
  cuts: readonly number[],
  prev: number,
  end: number,
  len: ChunkLengths,
): { frame: number; gap: number } | null {
  const t0 = times[prev]!;
  let best: { frame: number; gap: number } | null = null;
  for (const c of cuts) {
    if (c <= prev) continue;
    const l = times[c]! - t0;
    if (l > len.max + EPS) break;
    if (l < len.min - EPS || end - times[c]! < len.min - EPS) continue;
    const gap = Math.abs(l - len.wanted);
    if (!best || gap < best.gap) best = { frame: c, gap };
  }
  return best;
}

/**
 * Where to cut a shot longer than the longest chunk: the keyframe nearest the target length when
 * one is within a quarter of the wanted length of it (a chunk that starts on a keyframe decodes
 * less before its first frame), else the frame at the target. The target is the wanted length,
 * or half what is left when the wanted length would leave less than `min`.
 */
function fallbackFrame(tl: FrameTimeline, prev: number, remaining: number, len: ChunkLengths): number | null {
  const { times } = tl;
  const t0 = times[prev]!;
  const hi = Math.min(len.max, remaining - len.min);
  if (hi < len.min - EPS) return null; // too short to cut in two
  const target = Math.min(Math.max(remaining - len.wanted < len.min ? remaining / 2 : len.wanted, len.min), hi);
  let best: number | null = null;
  for (const k of tl.keyframes) {
    if (k <= prev) continue;
    const l = times[k]! - t0;
    if (l > hi + EPS) break;
    if (l < len.min - EPS || Math.abs(l - target) > len.wanted / 4) continue;
    if (best === null || Math.abs(l - target) < Math.abs(times[best]! - t0 - target)) best = k;
  }
  if (best !== null) return best;
  const f = frameAtOrAfter(times, t0 + target);
  return f > prev && f < times.length ? f : null;
}

/** The first frame at or after time t (binary search; times ascend). */
function frameAtOrAfter(times: readonly number[], t: number): number {
  let lo = 0;
  let hi = times.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (times[mid]! < t - EPS) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
