// An adaptive-streaming package's ladder, per title: which renditions a source gets and the
// WebM-encoding preset of each. Pure: no I/O.
// - A rung is the picture's shorter side ("240p", "720p"; a portrait video's width). The source
//   gets every rung no taller than itself, and always at least the smallest (at the source's
//   size when the source is smaller still): a ladder never upscales.
// - Sizes come from the displayed (rotated, square-pixel) size with its aspect kept, even, and
//   every rendition is scaled to square pixels (setsar=1): ffmpeg's own `-s:v` on a 4:3 source
//   kept the aspect with SAR 160:213, which players and HLS's RESOLUTION do not expect.
// - Keyframes at exactly every segment start and nowhere else, in every rendition (a fixed GOP of
//   segmentSeconds x fps, scene-cut keyframes off): segments then start on a keyframe, aligned
//   across renditions, so a player switches at any segment boundary.
// - Rate control is the preset's constrained quality: the ladder's CRF and ceiling for that size
//   and frame rate (compile.ts ladderRate scales the bitrates for high frame rates).
import type { ProbeInfo, VideoStreamInfo } from '../ffmpeg/types.js';
import { outputSize } from '../presets/compile.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { NommerError } from '../errors.js';

export interface Rendition {
  /** The rung asked for (shorter side, px). */
  rung: number;
  width: number;
  height: number;
}

/** The largest box any side can be (the schema's limit): only the rung bounds the size. */
const UNBOUNDED = 16384;

export function isPackagePreset(p: unknown): boolean {
  return typeof p === 'object' && p !== null && 'container' in p && p.container === 'cmaf';
}

export function abrOf(preset: ResolvedPreset): NonNullable<ResolvedPreset['abr']> {
  if (preset.container !== 'cmaf' || !preset.abr || !preset.video)
    throw new NommerError('PRESET_INVALID', `preset "${preset.name}" is not an adaptive-streaming package`);
  return preset.abr;
}

/** A package has no quality target yet (its renditions run the ladder's constrained quality):
 * one asked for is refused, not silently dropped. */
export function refuseTarget(preset: ResolvedPreset): void {
  if (preset.quality?.target)
    throw new NommerError(
      'USAGE',
      `preset "${preset.name}" makes an adaptive-streaming package, which takes no quality target (${preset.quality.target})`,
      { hint: 'drop --target (each rung runs the ladder constrained quality), or encode single files with a target' },
    );
}

/** The source's picture (not cover art), if any. */
export function mainVideo(probe: ProbeInfo): VideoStreamInfo | undefined {
  return probe.video && !probe.video.attachedPic ? probe.video : undefined;
}

/** The picture a package is made of; a source without one is refused. */
export function packageVideo(probe: ProbeInfo, preset: Pick<ResolvedPreset, 'name'>): VideoStreamInfo {
  const v = mainVideo(probe);
  if (!v)
    throw new NommerError(
      'INPUT_NO_STREAMS',
      `preset "${preset.name}" makes a video package and the input has no video`,
      {
        hint: 'use the opus preset for audio-only inputs',
      },
    );
  return v;
}

/** The size of a rung's rendition of this source (never larger than the source). */
export function renditionSize(
  src: Pick<VideoStreamInfo, 'displayWidth' | 'displayHeight'>,
  rung: number,
): { width: number; height: number } {
  return outputSize(src, UNBOUNDED, rung);
}

/** The renditions of this source, smallest first; distinct sizes only. */
export function planLadder(preset: ResolvedPreset, src: Pick<VideoStreamInfo, 'displayWidth' | 'displayHeight'>) {
  const rungs = [...abrOf(preset).rungs].sort((a, b) => a - b);
  const short = Math.min(src.displayWidth, src.displayHeight);
  const fit = rungs.filter((r) => r <= short);
  const chosen = fit.length ? fit : [rungs[0]!];
  const out: Rendition[] = [];
  for (const rung of chosen) {
    const size = renditionSize(src, rung);
    if (!out.some((r) => r.width === size.width && r.height === size.height)) out.push({ rung, ...size });
  }
  return out;
}

/** Whether this rung is in the source's ladder (a rendition task of a rung above it does nothing). */
export function rungApplies(
  preset: ResolvedPreset,
  src: Pick<VideoStreamInfo, 'displayWidth' | 'displayHeight'>,
  rung: number,
): boolean {
  return planLadder(preset, src).some((r) => r.rung === rung);
}

/** The preset one rendition is encoded with: the package's video only, in WebM, at the rung's
 * size, keyframes fixed at every segment start. */
export function renditionPreset(preset: ResolvedPreset, rung: number): ResolvedPreset {
  const abr = abrOf(preset);
  return {
    ...preset,
    name: `${preset.name}-${rung}p`,
    container: 'webm',
    extension: 'webm',
    abr: null,
    audio: null,
    quality: { measure: false },
    video: {
      ...preset.video!,
      maxWidth: UNBOUNDED,
      maxHeight: rung,
      keyframeSeconds: abr.segmentSeconds,
      fixedGop: true,
      passes: 1,
    },
  };
}

/** The preset of the package's one audio rendition: its audio only, in WebM (Opus). */
export function audioPreset(preset: ResolvedPreset): ResolvedPreset {
  abrOf(preset);
  return {
    ...preset,
    name: `${preset.name}-audio`,
    container: 'webm',
    extension: 'webm',
    abr: null,
    video: null,
    quality: { measure: false },
    audio: preset.audio ? { ...preset.audio, optional: true } : null,
  };
}

/** What the `rung` of a rendition is called. */
export function rungName(rung: number): string {
  return `${rung}p`;
}
