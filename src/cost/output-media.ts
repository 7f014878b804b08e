// How long and how tall each output is, measured on the encoded file by the worker that made it,
// so a job's cost can be put per output minute and compared with hosted transcoders' list prices,
// which charge per output minute, SD or HD by the output's height. A WebM's own header gives both
// (ffmpeg/webm-media.ts: the fields ffprobe would report, with no process started), an Ogg Opus
// file's pages its length (ffmpeg/ogg-media.ts), a still WebP's header its height and 0 seconds
// (ffmpeg/webp-media.ts); any other file is probed with ffprobe. The
// worker sends the list in its task's result (`result.media`); the store keeps the job's
// (jobs.output_media). A file none of these can read is left out: cost bookkeeping never fails a
// job.
import * as z from 'zod';
import { probeInput } from '../ffmpeg/probe.js';
import { readOggOpusSeconds } from '../ffmpeg/ogg-media.js';
import { readWebmMedia } from '../ffmpeg/webm-media.js';
import { readWebpStill } from '../ffmpeg/webp-media.js';

export const outputMedia = z.object({
  uri: z.string(),
  /** Seconds of media in the output. */
  seconds: z.number().nonnegative(),
  /** Lines of the output's video; null for audio only. */
  height: z.number().int().positive().nullable(),
});
export type OutputMedia = z.infer<typeof outputMedia>;

/** Lines at which hosted transcoders' HD price starts (MediaConvert, Coconut, Transcoder API: 720). */
export const HD_FROM_LINES = 720;

/** Each encoded file's length and height (before it is committed); the ones that can be read. */
export async function measureOutputMedia(
  ffprobe: string,
  files: ReadonlyArray<{ uri: string; path: string }>,
  signal?: AbortSignal,
): Promise<OutputMedia[]> {
  const out: OutputMedia[] = [];
  for (const f of files) {
    try {
      const webm = await readWebmMedia(f.path);
      if (webm) {
        out.push({ uri: f.uri, ...webm });
        continue;
      }
      const opus = await readOggOpusSeconds(f.path);
      if (opus !== undefined) {
        out.push({ uri: f.uri, seconds: opus, height: null });
        continue;
      }
      const still = await readWebpStill(f.path);
      if (still) {
        out.push({ uri: f.uri, ...still });
        continue;
      }
      const p = await probeInput(ffprobe, f.path, { signal, timeoutMs: 30_000 });
      out.push({ uri: f.uri, seconds: p.duration, height: p.video?.height ?? null });
    } catch (err) {
      if (signal?.aborted) throw err;
      /* unreadable here: the job's cost per output minute stays unknown for it */
    }
  }
  return out;
}

/** The `media` list of a task's result, when it has a valid one. */
export function mediaOfResult(result: unknown): OutputMedia[] {
  const r = z.object({ media: z.array(outputMedia) }).safeParse(result);
  return r.success ? r.data.media : [];
}

/** Minutes of output, in all and at HD height, from a job's stored output_media. */
export function outputMinutes(media: readonly OutputMedia[]): { minutes: number; hdMinutes: number } {
  let s = 0;
  let hd = 0;
  for (const m of media) {
    s += m.seconds;
    if (m.height !== null && m.height >= HD_FROM_LINES) hd += m.seconds;
  }
  return { minutes: s / 60, hdMinutes: hd / 60 };
}
