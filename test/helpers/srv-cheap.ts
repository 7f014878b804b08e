// Cheap jobs for the tests where encoding is not what is tested (processes, faults, delivery,
// the API): what those tests prove does not depend on how well or how slowly a video is encoded,
// and each avoidable encode or ffmpeg start costs CPU every run of the suite (issue 24).

/**
 * feederd config: no SSIM/PSNR measuring of video outputs (one more ffmpeg run per output, over
 * the source and the output). Only for tests that assert nothing about quality figures.
 */
export const NO_QUALITY = { quality: { measure: false } } as const;

/**
 * A job's `set` for VP9/VP8 outputs: libvpx's fastest speed (about 2/3 of the CPU of the default
 * speed 2 here). Video presets only: an audio preset refuses a video setting (OVERRIDE_INVALID).
 */
export const FAST_VIDEO = ['video.speed=8'];

/** `config` with NO_QUALITY under it (the test's own keys win). */
export function noQuality(config: Record<string, unknown> = {}): Record<string, unknown> {
  return { ...NO_QUALITY, ...config };
}

/** A job's `set` without the quality record (NO_QUALITY for one job rather than for a feederd). */
export const NO_QUALITY_SET = ['quality.measure=false'];

/** A webm job's `set` where neither the picture nor its quality record is tested. */
export const CHEAP_WEBM = [...FAST_VIDEO, ...NO_QUALITY_SET];

/**
 * Chunked webm jobs (the chunk helper's users): CHEAP_WEBM at CRF 32 under a 4x bitrate cap, small
 * outputs whose seams still show.
 */
export const CHUNKED_WEBM = [...FAST_VIDEO, 'video.crf=32', 'video.bitrateScale=4', ...NO_QUALITY_SET];
