// What a preset may say. Presets are data (templates/presets/*.json and the user's config); this
// module owns their shape: the file schema (every field optional, so a preset can `extends`
// another and change a few things) and the resolved schema (complete, defaults filled, checked
// across fields) that the compiler reads. Every value a preset can hold is typed — numbers,
// enums, bitrate strings — so no preset or override can smuggle an ffmpeg option in.
import * as z from 'zod';
import { POOLS } from '../jobs/quality-record.js';
import { lazySchema } from '../lazy-schema.js';

/** A bitrate as ffmpeg takes it: digits with an optional k or M suffix ("96k", "1.5M", "64000"). */
export const BITRATE_RE = /^\d+(\.\d+)?[kM]?$/;
export const bitrate = lazySchema(() =>
  z.string().regex(BITRATE_RE, { error: 'must be a bitrate like 96k, 1.5M or 64000' }),
);

/** Bitrate string -> kbit/s. */
export function bitrateKbps(s: string): number {
  const m = /^(\d+(?:\.\d+)?)([kM]?)$/.exec(s);
  if (!m) throw new Error(`not a bitrate: ${s}`);
  const n = Number(m[1]);
  return m[2] === 'M' ? n * 1000 : m[2] === 'k' ? n : n / 1000;
}

export const PRESET_NAME_RE = /^[a-z0-9][a-z0-9._-]{0,63}$/;
const presetName = lazySchema(() =>
  z.string().regex(PRESET_NAME_RE, { error: 'must be lower-case letters, digits, ".", "_" or "-" (at most 64)' }),
);

/** `cmaf`: an adaptive-streaming package (a directory of CMAF segments with DASH and HLS
 * manifests, see src/abr/), not one file. */
export const CONTAINERS = ['webm', 'ogg', 'opus', 'webp', 'cmaf'] as const;
export const VIDEO_CODECS = ['vp9', 'vp8', 'av1', 'theora', 'webp'] as const;
export const AUDIO_CODECS = ['opus', 'vorbis'] as const;
export type Container = (typeof CONTAINERS)[number];
export type VideoCodec = (typeof VIDEO_CODECS)[number];
export type AudioCodec = (typeof AUDIO_CODECS)[number];

/** Which codecs each container can carry. */
export const CONTAINER_CODECS: Record<Container, { video: readonly VideoCodec[]; audio: readonly AudioCodec[] }> = {
  webm: { video: ['vp9', 'vp8', 'av1'], audio: ['opus', 'vorbis'] },
  ogg: { video: ['theora'], audio: ['vorbis', 'opus'] },
  opus: { video: [], audio: ['opus'] },
  webp: { video: ['webp'], audio: [] },
  cmaf: { video: ['vp9', 'av1'], audio: ['opus'] },
};

/** One rung of a bitrate ladder: the rate control for an output of this size at the reference
 * frame rate. Sizes in between are interpolated by pixel count. */
export const ladderRung = lazySchema(() =>
  z.strictObject({
    width: z.number().int().min(16).max(16384),
    height: z.number().int().min(16).max(16384),
    /** Quality target for this size (VP9's CRF rises as the picture gets smaller). */
    crf: z.number().int().min(0).max(63).optional(),
    targetKbps: z.number().positive().max(1_000_000),
    minKbps: z.number().positive().max(1_000_000).optional(),
    maxKbps: z.number().positive().max(1_000_000),
  }),
);
export type LadderRung = z.infer<ReturnType<typeof ladderRung>>;

/** Frame-rate scaling of the ladder: ×1 up to referenceFps, ×highFactor at highFps, linear in
 * between, proportional above. */
export const fpsScale = lazySchema(() =>
  z.strictObject({
    referenceFps: z.number().positive().max(240),
    highFps: z.number().positive().max(480),
    highFactor: z.number().min(1).max(4),
  }),
);

/** Per-encoder tuning, for codecs that several encoders can make (AV1: libsvtav1, libaom-av1). */
export const encoderTuning = lazySchema(() =>
  z.strictObject({
    crf: z.number().int().min(0).max(63).optional(),
    speed: z.number().int().min(0).max(16).optional(),
  }),
);

// Scalar fields are what overrides (`-s video.crf=30`) may set; keep them flat and typed.
const videoShape = lazySchema(() => ({
  codec: z.enum(VIDEO_CODECS),
  /** Quality target (CRF) for vp8/vp9/av1. When set, wins over per-encoder and per-rung values. */
  crf: z.number().int().min(0).max(63).optional(),
  /** Quality for theora (0-10) and webp (0-100). Theora in quality mode has no bitrate ceiling. */
  q: z.number().min(0).max(100).optional(),
  /** Encoder speed: libvpx -speed/-cpu-used, SVT-AV1 -preset, libaom -cpu-used. */
  speed: z.number().int().min(0).max(16).optional(),
  /** Multiplies the ladder's bitrates (a more efficient codec needs fewer bits). */
  bitrateScale: z.number().min(0.05).max(10).default(1),
  passes: z.union([z.literal(1), z.literal(2)]).default(1),
  /** Speed of the analysis pass of a two-pass encode. */
  firstPassSpeed: z.number().int().min(0).max(16).default(4),
  /** The output fits a maxWidth × maxHeight box turned to the picture's orientation (a portrait
   * video fits maxHeight × maxWidth). Only ever scales down. */
  maxWidth: z.number().int().min(16).max(16384).default(1920),
  maxHeight: z.number().int().min(16).max(16384).default(1080),
  /** Longest time between keyframes: bounds seeking cost. */
  keyframeSeconds: z.number().min(0.5).max(10).default(4),
  /** Keyframes at exactly every keyframeSeconds and nowhere else (no scene-cut keyframes): what
   * aligned segments of an adaptive ladder need. */
  fixedGop: z.boolean().default(false),
  /** Keep 10-bit sources 10-bit (yuv420p10le) when the codec can; otherwise 8-bit yuv420p. */
  highBitDepth: z.boolean().default(false),
  /** An HDR source (PQ or HLG): `keep` encodes it in 10 bits with its tags and static metadata
   * (VP9 and AV1; codecs without 10 bits tone-map instead); `tonemap` makes 8-bit BT.709 SDR. */
  hdr: z.enum(['keep', 'tonemap']).default('keep'),
  /** Deinterlacer, used only when the probe says the source is interlaced. */
  deinterlace: z.enum(['bwdif', 'yadif']).default('bwdif'),
  /** libvpx look-ahead (frames) for alt-ref frames. */
  lagInFrames: z.number().int().min(0).max(25).default(25),
  /** For stills (webp): where to take the frame, as a fraction of the duration. */
  stillAt: z.number().min(0).max(0.99).default(0.1),
  /** When true, an input without video still gets an (audio-only) output; else INPUT_NO_STREAMS. */
  optional: z.boolean().default(false),
}));
const videoObjects = lazySchema(() => ({
  ladder: z.array(ladderRung()).min(1).max(32).optional(),
  fpsScale: fpsScale().default({ referenceFps: 30, highFps: 60, highFactor: 1.5 }),
  tuning: z.record(z.string().regex(/^[a-z0-9_-]+$/), encoderTuning()).optional(),
}));

const audioShape = lazySchema(() => ({
  codec: z.enum(AUDIO_CODECS),
  /** A fixed bitrate for any channel count; when unset, channelBitrates decides. */
  bitrate: bitrate().optional(),
  /** Downmix inputs with more channels than this. */
  maxChannels: z.number().int().min(1).max(8).default(8),
  /** Output sample rate; unset keeps the source's (the encoder may still pick the nearest it supports). */
  sampleRate: z
    .union([
      z.literal(8000),
      z.literal(12000),
      z.literal(16000),
      z.literal(22050),
      z.literal(24000),
      z.literal(32000),
      z.literal(44100),
      z.literal(48000),
    ])
    .optional(),
  /** When false, an input without audio is an error (INPUT_NO_STREAMS) instead of a silent output. */
  optional: z.boolean().default(true),
}));
/** Loudness normalization (EBU R128 / ITU-R BS.1770, src/ffmpeg/loudness.ts): the audio is
 * measured, then given a linear gain to `integrated` that keeps its true peak at or under
 * `truePeak`; where no linear gain can, a limiter acts on the peaks (and the record says so).
 * With `lra`, a program whose loudness range is wider is compressed to it (not linear either). */
export const loudnessSchema = lazySchema(() =>
  z.strictObject({
    /** Integrated loudness to reach, LUFS (-23 broadcast, -16 or -14 streaming). */
    integrated: z.number().min(-70).max(-5),
    /** Ceiling of the true peak, dBTP, measured on the encoded output. */
    truePeak: z.number().min(-9).max(0).default(-1),
    /** Widest loudness range to keep, LU; unset: the range is left as it is. */
    lra: z.number().min(1).max(50).optional(),
  }),
);
export type LoudnessSettings = z.infer<ReturnType<typeof loudnessSchema>>;

const audioObjects = lazySchema(() => ({
  /** Bitrate by channel count ("1", "2", "6"...); counts in between are interpolated. */
  channelBitrates: z.record(z.string().regex(/^[1-8]$/), bitrate()).optional(),
  /** Unset: levels pass through as they are. */
  loudness: loudnessSchema().optional(),
}));

/** A quality target as text: `ssim=0.985`, `psnr=40`, `vmaf=93`, or a pooled figure of the frames
 * such as `ssim.p5=0.95` (quality/types.ts parses it). */
export const QUALITY_TARGET_RE = new RegExp(`^(ssim|psnr|vmaf)(\\.(${POOLS.join('|')}))?[=:]\\d+(\\.\\d+)?$`);
const qualityShape = lazySchema(() => ({
  /** Measure SSIM/PSNR of the output against its source (default: on). */
  measure: z.boolean().optional(),
  /**
   * Measure SSIM too, by decoding the output after the encode (with PSNR, from the decode).
   * Without it, an output whose encoder reports PSNR (VP8, VP9, libaom AV1) gets its PSNR from
   * the encode itself, at no extra cost; a target or a gate on SSIM measures SSIM anyway.
   */
  ssim: z.boolean().optional(),
  /** Measure every Nth frame when no target is asked for (1: every frame, as a target always does). */
  sampleEvery: z.number().int().min(1).max(1000).optional(),
  /** Search the CRF that reaches this score (vp8, vp9, av1), e.g. ssim=0.985. */
  target: z
    .string()
    .regex(QUALITY_TARGET_RE, { error: 'must be metric=value, e.g. ssim=0.985, ssim.p5=0.95, psnr=40 or vmaf=93' })
    .optional(),
}));

/** A gate's figure: `ssim.p5` (a pooled figure of SSIM or PSNR), or `ssim`, `psnr`, `vmaf` (the average). */
export const GATE_FIGURE_RE = new RegExp(`^((ssim|psnr|vmaf)|(ssim|psnr)\\.(${POOLS.join('|')}))$`);
/** What a figure can be: SSIM 0..1, PSNR 0..100 dB, VMAF 0..100. */
const FIGURE_MAX: Record<string, number> = { ssim: 1, psnr: 100, vmaf: 100 };

/**
 * Quality gates: a floor per figure (`{ "ssim.p5": { "min": 0.93, "action": "fail" } }`). Under a
 * `fail` floor the output is not stored and its job fails; under a `flag` floor (the default) it
 * is kept and its record says so (quality/gates.ts).
 */
export const qualityGatesSchema = lazySchema(() =>
  z
    .record(
      z.string(),
      z.strictObject({
        min: z.number({ error: 'must be a number: the lowest score the figure may have' }),
        action: z.enum(['fail', 'flag'], { error: 'must be "fail" or "flag"' }).default('flag'),
      }),
    )
    .superRefine((gates, ctx) => {
      for (const [figure, g] of Object.entries(gates)) {
        // The key is checked here, not by the record's key schema: zod's message for a bad key names no figure.
        if (!GATE_FIGURE_RE.test(figure)) {
          const pools = POOLS.join(', ');
          const message = `must be a figure: ssim, psnr, vmaf (their average) or ssim.<pool> / psnr.<pool>, a pool of ${pools}`;
          ctx.addIssue({ code: 'custom', message, path: [figure] });
          continue;
        }
        const max = FIGURE_MAX[figure.split('.')[0]!]!;
        if (!(g.min >= 0 && g.min <= max))
          ctx.addIssue({ code: 'custom', message: `must be from 0 to ${max} for ${figure}`, path: [figure, 'min'] });
      }
    }),
);
export type QualityGates = z.infer<ReturnType<typeof qualityGatesSchema>>;
const qualityObjects = lazySchema(() => ({
  gates: qualityGatesSchema().optional(),
}));

/** An adaptive-streaming package (container cmaf): its ladder of renditions and extras. */
const abrShape = lazySchema(() => ({
  /** Segment length; every rendition has a keyframe at every segment start. */
  segmentSeconds: z.number().min(1).max(10).default(4),
  /** Seek thumbnails: one tile every this many seconds (0: none). */
  thumbnailSeconds: z.number().min(0).max(60).default(2),
  thumbnailWidth: z.number().int().min(32).max(640).default(160),
  /** A poster image (poster.webp). */
  poster: z.boolean().default(true),
  /** Text subtitle streams of the source become WebVTT tracks. */
  subtitles: z.boolean().default(true),
}));
const abrObjects = lazySchema(() => ({
  /** The rungs, as the picture's shorter side in pixels ("240p", "720p"...): the renditions are
   * those no taller than the source, and always at least the smallest. */
  rungs: z.array(z.number().int().min(16).max(4320)).min(1).max(12),
}));

export const videoSchema = lazySchema(() => z.strictObject({ ...videoShape(), ...videoObjects() }));
export const abrSchema = lazySchema(() => z.strictObject({ ...abrShape(), ...abrObjects() }));
export type AbrSettings = z.infer<ReturnType<typeof abrSchema>>;
export const qualitySchema = lazySchema(() => z.strictObject({ ...qualityShape(), ...qualityObjects() }));
export type QualitySettings = z.infer<ReturnType<typeof qualitySchema>>;
export const audioSchema = lazySchema(() => z.strictObject({ ...audioShape(), ...audioObjects() }));

/** The scalar fields an override may set, per section, with their schemas. */
export const OVERRIDABLE = lazySchema(
  (): {
    video: Record<string, z.ZodType>;
    audio: Record<string, z.ZodType>;
    quality: Record<string, z.ZodType>;
    abr: Record<string, z.ZodType>;
  } => ({
    // The codec is what a preset is; changing it is choosing another preset.
    video: Object.fromEntries(Object.entries(videoShape()).filter(([k]) => k !== 'codec')),
    audio: Object.fromEntries(Object.entries(audioShape()).filter(([k]) => k !== 'codec')),
    quality: qualityShape(),
    abr: abrShape(),
  }),
);

/** Settings that are objects inside a section, whose fields an override may set one by one
 * (`audio.loudness.integrated=-16`), or drop whole (`audio.loudness=none`). */
export const OVERRIDABLE_OBJECTS = lazySchema((): { audio: { loudness: ReturnType<typeof loudnessSchema> } } => ({
  audio: { loudness: loudnessSchema() },
}));

const presetCommon = lazySchema(() => ({
  name: presetName(),
  description: z.string().max(300),
  container: z.enum(CONTAINERS),
  /** File extension of outputs, without the dot. */
  extension: z.string().regex(/^[a-z0-9]{1,8}$/),
}));

/** The same fields without their defaults, and nullable: a preset that `extends` another must
 * not reset the fields it does not mention, and can unset one with null. Defaults are applied
 * once, to the resolved preset. */
function withoutDefaults<T extends Record<string, z.ZodType>>(shape: T): Record<keyof T, z.ZodType> {
  const out = {} as Record<keyof T, z.ZodType>;
  for (const [k, s] of Object.entries(shape) as Array<[keyof T, z.ZodType]>) {
    out[k] = (s instanceof z.ZodDefault ? (s.def.innerType as z.ZodType) : s).nullable();
  }
  return out;
}

/** What a preset file (or a user preset in config) may say. Unknown keys are mistakes. */
export const presetFileSchema = lazySchema(() =>
  z.strictObject({
    name: presetName().optional(),
    description: presetCommon().description.optional(),
    extends: presetName().optional(),
    container: presetCommon().container.optional(),
    extension: presetCommon().extension.optional(),
    video: z
      .strictObject(withoutDefaults({ ...videoShape(), ...videoObjects() }))
      .partial()
      .nullable()
      .optional(),
    audio: z
      .strictObject(withoutDefaults({ ...audioShape(), ...audioObjects() }))
      .partial()
      .nullable()
      .optional(),
    quality: z
      .strictObject(withoutDefaults({ ...qualityShape(), ...qualityObjects() }))
      .partial()
      .nullable()
      .optional(),
    abr: z
      .strictObject(withoutDefaults({ ...abrShape(), ...abrObjects() }))
      .partial()
      .nullable()
      .optional(),
  }),
);
export type PresetFile = z.infer<ReturnType<typeof presetFileSchema>>;

/** A preset with `extends` resolved, defaults filled and checked across fields: what the compiler reads. */
export const resolvedPresetSchema = lazySchema(() =>
  z
    .strictObject({
      ...presetCommon(),
      video: videoSchema().nullable(),
      audio: audioSchema().nullable(),
      /** Absent: measured, no target. */
      quality: qualitySchema().nullish(),
      /** Only for container cmaf (which needs it). */
      abr: abrSchema().nullish(),
    })
    .superRefine((p, ctx) => {
      const allowed = CONTAINER_CODECS[p.container];
      if (!p.video && !p.audio)
        ctx.addIssue({ code: 'custom', message: 'a preset needs video, audio or both', path: ['video'] });
      if (p.video && !allowed.video.includes(p.video.codec)) {
        ctx.addIssue({
          code: 'custom',
          message: `${p.container} cannot carry ${p.video.codec} video${allowed.video.length ? ` (it takes ${allowed.video.join(', ')})` : ' (audio only)'}`,
          path: ['video', 'codec'],
        });
      }
      if (p.audio && !allowed.audio.includes(p.audio.codec)) {
        ctx.addIssue({
          code: 'custom',
          message: `${p.container} cannot carry ${p.audio.codec} audio${allowed.audio.length ? ` (it takes ${allowed.audio.join(', ')})` : ' (no audio)'}`,
          path: ['audio', 'codec'],
        });
      }
      if (p.container === 'cmaf') {
        if (!p.abr)
          ctx.addIssue({ code: 'custom', message: 'a cmaf package needs an abr section (its rungs)', path: ['abr'] });
        if (!p.video) ctx.addIssue({ code: 'custom', message: 'a cmaf package needs video', path: ['video'] });
        if (p.video && p.video.passes !== 1)
          ctx.addIssue({ code: 'custom', message: 'a cmaf package is encoded in one pass', path: ['video', 'passes'] });
        if (p.abr && [...p.abr.rungs].sort((a, b) => a - b).some((r, i, a) => i > 0 && r === a[i - 1]))
          ctx.addIssue({ code: 'custom', message: 'abr.rungs has the same rung twice', path: ['abr', 'rungs'] });
      } else if (p.abr) {
        ctx.addIssue({ code: 'custom', message: 'abr settings are only for container cmaf', path: ['abr'] });
      }
      const v = p.video;
      if (v) {
        const needsLadder = v.codec !== 'webp' && !(v.codec === 'theora' && v.q !== undefined);
        if (needsLadder && !v.ladder)
          ctx.addIssue({
            code: 'custom',
            message: `${v.codec} needs a bitrate ladder (a quality target alone has no ceiling)`,
            path: ['video', 'ladder'],
          });
        if (v.codec === 'theora' && v.q !== undefined && v.q > 10)
          ctx.addIssue({ code: 'custom', message: 'theora quality q is 0-10', path: ['video', 'q'] });
        if (v.codec === 'vp8' && v.crf !== undefined && v.crf < 4)
          ctx.addIssue({ code: 'custom', message: 'vp8 crf is 4-63', path: ['video', 'crf'] });
        if (v.codec === 'webp' && v.passes !== 1)
          ctx.addIssue({ code: 'custom', message: 'a still has one pass', path: ['video', 'passes'] });
        if (v.passes === 2 && v.codec !== 'vp9' && v.codec !== 'vp8')
          ctx.addIssue({
            code: 'custom',
            message: `two-pass is supported for vp9 and vp8, not ${v.codec}`,
            path: ['video', 'passes'],
          });
        for (const [i, r] of (v.ladder ?? []).entries()) {
          if (r.minKbps !== undefined && r.minKbps > r.targetKbps)
            ctx.addIssue({
              code: 'custom',
              message: 'minKbps is above targetKbps',
              path: ['video', 'ladder', i, 'minKbps'],
            });
          if (r.maxKbps < r.targetKbps)
            ctx.addIssue({
              code: 'custom',
              message: 'maxKbps is below targetKbps',
              path: ['video', 'ladder', i, 'maxKbps'],
            });
        }
        if (v.fpsScale.highFps <= v.fpsScale.referenceFps)
          ctx.addIssue({
            code: 'custom',
            message: 'fpsScale.highFps must be above referenceFps',
            path: ['video', 'fpsScale'],
          });
      }
    }),
);

export type ResolvedPreset = z.infer<ReturnType<typeof resolvedPresetSchema>>;
export type VideoSettings = z.infer<ReturnType<typeof videoSchema>>;
export type AudioSettings = z.infer<ReturnType<typeof audioSchema>>;

/** Zod issues as one line a person can act on: "video.crf: Too big: expected number to be <=63". */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ');
}
