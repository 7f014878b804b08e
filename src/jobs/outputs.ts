// What a job's record says about each of its outputs besides its URI and size: its quality
// (scores, and the CRF search of a target), its loudness (when its preset normalizes it) and,
// for an adaptive-streaming package, the package's renditions, manifests and extras; and reading
// them from a task's result. These are the job record's own fields, so they live with the job
// model: the state machine fills them in without importing the features (quality/, abr/,
// ffmpeg/loudness.ts) that produce them, and those re-export them.
import * as z from 'zod';
import type { OutputHdr } from '../ffmpeg/types.js';
import {
  type GateResult,
  gateResultSchema,
  outputHdrSchema,
  type PooledLuma,
  pooledLumaSchema,
  type PooledQuality,
  pooledQualitySchema,
} from './quality-record.js';

export {
  type GateResult,
  POOLS,
  type PooledLuma,
  type Pool,
  type PooledQuality,
  type PooledScores,
} from './quality-record.js';

/** Scores of one output against its source, frames paired by number, at the output's size. */
export interface Quality {
  /** ffmpeg's `ssim` filter, "All" (0..1). */
  ssim: number;
  /** ffmpeg's `psnr` filter, "average" (dB); 100 when the pictures are identical. */
  psnr: number;
  /** libvmaf's score (0..100), where the ffmpeg has libvmaf. */
  vmaf?: number;
  /** SSIM and PSNR pooled over the measured frames, from the filters' per-frame scores. */
  pooled?: PooledQuality;
}

/** One encode tried during a search (on the samples, or the final file). */
export interface SearchProbe {
  crf: number;
  score: number;
  /** Where it was measured: the samples, or the final output (a correction follows a miss). */
  on: 'samples' | 'final';
}

/** What a CRF search did for one output (or one chunk). */
export interface SearchRecord {
  target: string;
  /** The CRF of the output as stored. */
  crf: number;
  /** The final output's score in the target's metric. */
  score: number;
  /** True when the final output landed in the target's window. */
  reached: boolean;
  /** Why it did not (a target out of the encoder's reach says so here). */
  note?: string;
  /** Samples the search encoded: how many, and the seconds of input they cover in all. */
  samples: { count: number; seconds: number };
  tried: SearchProbe[];
  /**
   * When the search settled on a CRF it did not probe (the probes' curve put it at the aim):
   * the score that curve predicted there. The final output's own score is `score`.
   */
  predicted?: number;
  /** Re-encodes of the final output after it missed the window. */
  corrections: number;
  /** The safety bitrate cap (kbit/s) the CRF ran under, and whether the output came near it. */
  capKbps: number | null;
  capBound: boolean;
  /** Wall time of the search, probes and corrections included (not the final encode). */
  seconds: number;
}

/** A chunked output's search: one record per chunk, searched on the workers. */
export interface ChunkedSearchRecord {
  target: string;
  chunks: Array<SearchRecord & { index: number }>;
  /** Sum of the chunks' search times (they ran in parallel). */
  seconds: number;
  reached: boolean;
}

/** What a job output's record says about quality (job.outputs[i].quality). */
// A type, not an interface: a task's result schema reads it as a record (tasks/results.ts).
export type OutputQuality = Partial<Quality> & {
  /** Why nothing was measured (a still, measuring turned off, a failure to measure). */
  skipped?: string;
  /** Wall time of the measurement, seconds. */
  seconds?: number;
  search?: SearchRecord | ChunkedSearchRecord;
  /** An HDR source: what the output kept of it (ffmpeg/hdr.ts). */
  hdr?: OutputHdr;
  /** Which frames the scores are over: all ('full') or every Nth (quality/encode-quality.ts). */
  sampling?: Sampling;
  /** The output's quality gates (config or preset `quality.gates`) and how it fared. */
  gates?: GateResult[];
  /**
   * Where the scores come from: 'encoder', the encoder's own PSNR of the frames it
   * reconstructed (quality/encoder-psnr.ts: PSNR only, no SSIM); 'decode' or absent (older
   * records), the output decoded and compared with its source after the encode.
   */
  source?: 'encoder' | 'decode';
  /** From the encoder: its frames' luma PSNR pooled (it reports no chroma per frame). */
  pooledLuma?: PooledLuma;
};
/** Every `every`th frame of the output from frame `first` (0-based); `first` is absent in older records. */
export type Sampling = 'full' | { every: number; first?: number };

const finite = z.number().refine(Number.isFinite);

// The search records as read back (a task's result, the job row): typed against the interfaces
// above, so the schema and the type cannot drift apart and no reader casts.
const searchRecordSchema = z.object({
  target: z.string(),
  crf: z.number(),
  score: z.number(),
  reached: z.boolean(),
  note: z.string().optional(),
  samples: z.object({ count: z.number(), seconds: z.number() }),
  tried: z.array(z.object({ crf: z.number(), score: z.number(), on: z.enum(['samples', 'final']) })),
  predicted: z.number().optional(),
  corrections: z.number(),
  capKbps: z.number().nullable(),
  capBound: z.boolean(),
  seconds: z.number(),
}) satisfies z.ZodType<SearchRecord>;

const chunkedSearchRecordSchema = z.object({
  target: z.string(),
  chunks: z.array(searchRecordSchema.extend({ index: z.number() })),
  seconds: z.number(),
  reached: z.boolean(),
}) satisfies z.ZodType<ChunkedSearchRecord>;

export const outputQualitySchema = z.looseObject({
  ssim: finite.optional(),
  psnr: finite.optional(),
  vmaf: finite.optional(),
  skipped: z.string().optional(),
  seconds: finite.optional(),
  // A chunked output's search first: its `chunks` tell it apart.
  search: z.union([chunkedSearchRecordSchema, searchRecordSchema]).optional(),
  hdr: outputHdrSchema.optional(),
  sampling: z
    .union([z.literal('full'), z.object({ every: z.number().int().min(2), first: z.number().int().min(0).optional() })])
    .optional(),
  pooled: pooledQualitySchema.optional(),
  gates: z.array(gateResultSchema).optional(),
  source: z.enum(['encoder', 'decode']).optional(),
  pooledLuma: pooledLumaSchema.optional(),
}) satisfies z.ZodType<OutputQuality>;

/** A task result's `quality` list: one entry per output URI. */
export const reportedQualitySchema = z.array(z.object({ uri: z.string(), quality: outputQualitySchema }));
export type ReportedQuality = Array<{ uri: string; quality: OutputQuality }>;

/** The quality entries of a task result (invalid or absent ones are none). */
export function qualityOfResult(result: Record<string, unknown> | undefined | null): ReportedQuality {
  const r = reportedQualitySchema.safeParse(result?.quality);
  return r.success ? r.data : [];
}

// ---- loudness -------------------------------------------------------------------------------

/** Loudness as ITU-R BS.1770 / EBU R128 measure it (ffmpeg's ebur128 filter, true peak 4×
 * oversampled). */
export const loudnessFigures = z.object({
  /** Integrated loudness, LUFS. */
  integrated: finite,
  /** True peak, dBTP. */
  truePeak: finite,
  /** Loudness range, LU. */
  lra: finite,
});
export type LoudnessFigures = z.infer<typeof loudnessFigures>;

const loudnessTarget = z.object({ integrated: finite, truePeak: finite, lra: finite.optional() });

/** What an output's record says of its loudness (job.outputs[i].loudness), when its preset asks
 * for it: the input's and the output's figures (the output's measured on the output itself), the
 * gain, and whether it stayed linear; or why nothing was done (no audio, silence). */
export const outputLoudnessSchema = z.union([
  z.object({
    target: loudnessTarget,
    /** The input's audio as the encoder gets it (downmixed and resampled as the output is). */
    input: loudnessFigures,
    output: loudnessFigures,
    /** The gain applied (before a limiter or compressor, where one acts), dB. */
    gainDb: finite,
    /** True when one gain applied to the whole program: no limiter, no compressor. */
    linear: z.boolean(),
    /** Why the gain did not stay linear: what a linear gain would have done. */
    why: z.string().optional(),
    /** Set when the output missed its target or its ceiling, saying by how much. */
    missed: z.string().optional(),
  }),
  z.object({ target: loudnessTarget, skipped: z.string() }),
]);
export type OutputLoudness = z.infer<typeof outputLoudnessSchema>;

/** A task result's `loudness` list: one entry per output URI. */
export const reportedLoudnessSchema = z.array(z.object({ uri: z.string(), loudness: outputLoudnessSchema }));

/** The loudness entries of a task result (invalid or absent ones are none). */
export function loudnessOfResult(
  result: Record<string, unknown> | undefined | null,
): Array<{ uri: string; loudness: OutputLoudness }> {
  const r = reportedLoudnessSchema.safeParse(result?.loudness);
  return r.success ? r.data : [];
}

// ---- packages -------------------------------------------------------------------------------

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
  /** An HDR source: what every rung kept of it (init segments, manifests). */
  hdr: outputHdrSchema.optional(),
});
export type PackageInfo = z.infer<typeof packageInfo>;

/** The package a task's result reports, or undefined. */
export function packageOfResult(result: Record<string, unknown> | null | undefined): PackageInfo | undefined {
  const r = packageInfo.safeParse(result?.package);
  return r.success ? r.data : undefined;
}
