// What a package's record says (job.outputs[i].package): read by status, the API and webhooks.
import { z } from 'zod';

export const renditionInfo = z.object({
  rung: z.number(),
  width: z.number(),
  height: z.number(),
  codec: z.string(),
  /** Bytes of its segments (init included): what a player downloads at this rung. */
  bytes: z.number(),
  /** Average bitrate over the title. */
  kbps: z.number(),
});
export type RenditionInfo = z.infer<typeof renditionInfo>;

export const packageInfo = z.object({
  /** File names in the package directory. */
  dash: z.string(),
  hls: z.string(),
  segmentSeconds: z.number(),
  duration: z.number(),
  renditions: z.array(renditionInfo),
  audio: z.object({ codec: z.string(), channels: z.number(), kbps: z.number() }).nullable(),
  subtitles: z.array(z.object({ file: z.string(), language: z.string(), label: z.string() })),
  poster: z.string().nullable(),
  thumbnails: z.string().nullable(),
  /** How many files the package holds. */
  files: z.number(),
});
export type PackageInfo = z.infer<typeof packageInfo>;

/** The package a task's result reports, or undefined. */
export function packageOfResult(result: Record<string, unknown> | null | undefined): PackageInfo | undefined {
  const r = packageInfo.safeParse(result?.package);
  return r.success ? r.data : undefined;
}
