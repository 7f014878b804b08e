// The task graph of an adaptive-streaming package and the parameters each task carries
// (validated where a worker receives them): one `rendition-<rung>p` task per rung of the preset,
// `audio` once, `extras` (poster, seek thumbnails, WebVTT subtitles) and `package` after all of
// them, which muxes the renditions into CMAF segments with DASH and HLS manifests and writes the
// package. Every rung of the preset gets a task even before the source is probed (feederd may not
// be able to read it): a rendition task whose rung is taller than the source does nothing but
// say so, so the graph never depends on a probe. Pieces live under the job's scratch prefix, like
// a chunked job's (the same cleanup removes them).
import { z } from 'zod';
import type { PlannedTask } from '../chunked/tasks.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { abrOf, rungName } from './ladder.js';

export const renditionParams = z.object({
  kind: z.literal('rendition'),
  rung: z.number().int().positive(),
  /** Where the encoded rendition goes (scratch); its manifest entry goes to `<uri>.json`. */
  uri: z.string().min(1),
});
export type RenditionParams = z.infer<typeof renditionParams>;

export const abrAudioParams = z.object({
  kind: z.literal('abr-audio'),
  uri: z.string().min(1),
});
export type AbrAudioParams = z.infer<typeof abrAudioParams>;

export const extrasParams = z.object({
  kind: z.literal('extras'),
  /** The extras' index (a JSON list of the files stored beside it, under `<uri>.d/`). */
  uri: z.string().min(1),
});
export type ExtrasParams = z.infer<typeof extrasParams>;

export const packageParams = z.object({
  kind: z.literal('package'),
  /** Every rendition piece, smallest rung first (named `manifest` as a chunked job's pieces are,
   * so the same cleanup finds them). */
  manifest: z.array(renditionParams).min(1),
  audio: abrAudioParams,
  extras: extrasParams,
  scratch: z.string().min(1),
});
export type PackageParams = z.infer<typeof packageParams>;

/** Where an extras file is stored, beside its index. */
export function extrasFileUri(indexUri: string, name: string): string {
  return `${indexUri}.d/${name}`;
}

/**
 * Tasks for a package. `scratch` ends with '/'. Weights: renditions share 88% of the job's
 * progress by pixel count (about what they cost), audio 2%, extras 4%, packaging 6%.
 */
export function packageTasks(preset: ResolvedPreset, opts: { scratch: string }): PlannedTask[] {
  const rungs = [...abrOf(preset).rungs].sort((a, b) => a - b);
  const pixels = (r: number) => r * r;
  const all = rungs.reduce((s, r) => s + pixels(r), 0);
  const manifest: RenditionParams[] = rungs.map((rung) => ({
    kind: 'rendition',
    rung,
    uri: `${opts.scratch}rendition-${rungName(rung)}.webm`,
  }));
  const audio: AbrAudioParams = { kind: 'abr-audio', uri: `${opts.scratch}audio.webm` };
  const extras: ExtrasParams = { kind: 'extras', uri: `${opts.scratch}extras.json` };
  const tasks: PlannedTask[] = manifest.map((p) => ({
    key: `rendition-${rungName(p.rung)}`,
    type: 'chunk',
    params: p,
    weight: round4((0.88 * pixels(p.rung)) / all) || 0.0001,
  }));
  tasks.push({ key: 'audio', type: 'chunk', params: audio, weight: 0.02 });
  tasks.push({ key: 'extras', type: 'chunk', params: extras, weight: 0.04 });
  const pack: PackageParams = { kind: 'package', manifest, audio, extras, scratch: opts.scratch };
  tasks.push({ key: 'package', type: 'assemble', deps: tasks.map((t) => t.key), params: pack, weight: 0.06 });
  return tasks;
}

const round4 = (x: number) => Math.round(x * 1e4) / 1e4;
