// The task graph of an adaptive-streaming package and the parameters each task carries
// (validated where a worker receives them): one `rendition-<rung>p` task per rung of the preset,
// `audio` once, `extras` (poster, seek thumbnails, WebVTT subtitles) and `package` after all of
// them, which muxes the renditions into CMAF segments with DASH and HLS manifests and writes the
// package. Every rung of the preset gets a task even before the source is probed (feederd may not
// be able to read it): a rendition task whose rung is taller than the source does nothing but
// say so, so the graph never depends on a probe. Pieces live under the job's scratch prefix, like
// a chunked job's (the same cleanup removes them).
import * as z from 'zod';
import {
  chunkKey,
  chunkRange,
  pinnedObject,
  type PlannedChunks,
  type PlannedObject,
  type PlannedTask,
} from '../tasks/planned.js';
import {
  abrAudioParams,
  audioChunkParams,
  extrasParams,
  renditionChunkParams,
  renditionParams,
  videoChunkParams,
  type AbrAudioParams,
  type ExtrasParams,
  packagePieces,
  type PackageParams,
  type PackagePieces,
  type StoredRef,
  type RenditionChunkParams,
  type RenditionParams,
} from '../tasks/params.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { abrOf, rungName } from './ladder.js';

/** A package's manifests and its index, beside its segments. */
export const DASH_MANIFEST = 'manifest.mpd';
export const HLS_MANIFEST = 'master.m3u8';
export const PACKAGE_INDEX = 'nommer-package.json';

export {
  abrAudioParams,
  extrasParams,
  packageParams,
  renditionChunkParams,
  renditionParams,
  type AbrAudioParams,
  type ExtrasParams,
  type PackageParams,
  type RenditionChunkParams,
  type RenditionParams,
} from '../tasks/params.js';

/** Any piece task: a chunked job's video chunk or audio, or a package's rendition (whole or a
 * chunk of it), audio or extras. */
export const pieceParams = z.discriminatedUnion('kind', [
  videoChunkParams,
  audioChunkParams,
  renditionParams,
  renditionChunkParams,
  abrAudioParams,
  extrasParams,
]);

/** Where an extras file is stored, beside its index. */
export function extrasFileUri(indexUri: string, name: string): string {
  return `${indexUri}.d/${name}`;
}

/**
 * Tasks for a package. `scratch` ends with '/'. Weights: renditions share 88% of the job's
 * progress by pixel count (about what they cost), audio 2%, extras 4%, packaging 6%.
 */
export function packageTasks(
  preset: ResolvedPreset,
  opts: {
    scratch: string;
    /** The rungs the source gets, when feederd could probe it (else every rung: those above the
     * source then do nothing but say so). */
    rungs?: readonly number[];
    /** Chunk every rung (a long input): its rungs (those the source gets) and the chunk plan, cut
     * on the ladder's GOP. */
    chunked?: { rungs: readonly number[]; plan: PlannedChunks };
  },
): PlannedTask[] {
  const rungs = [...(opts.chunked?.rungs ?? opts.rungs ?? abrOf(preset).rungs)].sort((a, b) => a - b);
  const pixels = (r: number) => r * r;
  const all = rungs.reduce((s, r) => s + pixels(r), 0);
  if (opts.chunked) return chunkedPackageTasks(rungs, opts.chunked.plan, opts.scratch, pixels, all);
  const manifest: RenditionParams[] = rungs.map((rung) => ({
    kind: 'rendition',
    rung,
    uri: `${opts.scratch}rendition-${rungName(rung)}.webm`,
  }));
  const tasks: PlannedTask[] = manifest.map((p) => ({
    key: `rendition-${rungName(p.rung)}`,
    type: 'rendition',
    params: p,
    weight: round4((0.88 * pixels(p.rung)) / all) || 0.0001,
  }));
  return withPackaging(tasks, opts.scratch, manifest);
}

/** The renditions' tasks, then the audio, the extras, and the packaging after all of them. */
function withPackaging(
  renditions: PlannedTask[],
  scratch: string,
  manifest: PackagePieces['renditions'],
  chunked?: Pick<PlannedChunks, 'videoOffset' | 'totalFrames'>,
): PlannedTask[] {
  const audio: AbrAudioParams = { kind: 'abr-audio', uri: `${scratch}audio.webm` };
  const extras: ExtrasParams = { kind: 'extras', uri: `${scratch}extras.json` };
  const tasks = [
    ...renditions,
    { key: 'audio', type: 'package-audio', params: audio, weight: 0.02 },
    { key: 'extras', type: 'extras', params: extras, weight: 0.04 },
  ] satisfies PlannedTask[];
  const list = piecesObject(scratch, manifest);
  const pack: PackageParams = {
    kind: 'package',
    pieces: list.ref,
    audio,
    extras,
    scratch,
    ...(chunked ? { videoOffset: chunked.videoOffset, totalFrames: chunked.totalFrames } : {}),
  };
  const packaging: PlannedTask = {
    key: 'package',
    type: 'package',
    deps: tasks.map((t) => t.key),
    params: pack,
    weight: 0.06,
    objects: [list.object],
  };
  return [...tasks, packaging];
}

/** The package's piece list as an object to store under its scratch prefix, and its reference. */
export function piecesObject(
  scratch: string,
  renditions: PackagePieces['renditions'],
): { ref: StoredRef; object: PlannedObject } {
  return pinnedObject(`${scratch}package-pieces.json`, packagePieces, { renditions });
}

function chunkedPackageTasks(
  rungs: number[],
  plan: PlannedChunks,
  scratch: string,
  pixels: (r: number) => number,
  all: number,
): PlannedTask[] {
  const manifest: RenditionChunkParams[] = rungs.flatMap((rung) =>
    plan.chunks.map((c) => ({
      kind: 'rendition-chunk' as const,
      rung,
      ...chunkRange(c),
      uri: `${scratch}${rungName(rung)}/${chunkKey(c.index)}.webm`,
    })),
  );
  const tasks: PlannedTask[] = manifest.map((p) => ({
    key: `rendition-${rungName(p.rung)}-${chunkKey(p.index)}`,
    type: 'rendition-chunk',
    params: p,
    weight: round4((0.88 * pixels(p.rung) * p.frames) / (all * plan.totalFrames)) || 0.0001,
  }));
  return withPackaging(tasks, scratch, manifest, plan);
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
