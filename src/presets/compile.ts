// The preset compiler: (input, probe, outputs with resolved presets, available encoders) ->
// ffmpeg argument arrays. Pure: no I/O, no clock. Decisions a video engineer signs:
// - Constrained quality: a CRF target with a bitrate ceiling from the preset's ladder, scaled
//   by the output's pixel count and frame rate (bare CRF on grain runs to tens of Mb/s).
// - The source frame rate is kept; VFR timestamps pass through (Theora, which cannot carry VFR,
//   gets the average rate). Deinterlace only what the probe says is interlaced.
// - Only ever scale down, to even dimensions, from the displayed (rotated, square-pixel) size;
//   ffmpeg autorotates, so sizes come from displayWidth/displayHeight and nothing rotates twice.
// - All one-pass outputs share one command (the input is decoded once); a two-pass output gets
//   its own pass-1 and pass-2 commands; a still gets a command that seeks before decoding.
// - Target mode (a CRF chosen by the quality search, quality/run-search.ts): the CRF rules; the
//   ladder's ceiling would defeat the target, so it is kept only as a safety cap TARGET_CAP_FACTOR
//   times higher (the search record says when an output came near it), and no floor.
// An argv is a value: every command is put together whole from named parts (the input's
// options and -i, then per output its video, audio, pass and sink parts) and nothing edits it
// afterwards. A caller that reads the input its own way says so in the job instead: input
// options before -i and video filters ahead of the preset's (chunked/encode-chunk.ts gives a
// chunk's -copyts, seek and trim that way). The runner (ffmpeg/run.ts) puts its own flags
// (-hide_banner -nostdin -progress) in front; outputs go to temp paths, so no -y here and every
// output names its muxer with -f.
import { isAbsolute } from 'node:path';
import { NommerError } from '../errors.js';
import { carriesHdr, outputHdr, svtAv1HdrParams, tonemapFilters, type OutputHdr } from '../ffmpeg/hdr.js';
import type { AudioStreamInfo, ProbeInfo, VideoStreamInfo } from '../ffmpeg/types.js';
import {
  bitrateKbps,
  type AudioCodec,
  type AudioSettings,
  type Container,
  type ResolvedPreset,
  type VideoCodec,
  type VideoSettings,
} from './schema.js';

/** Encoders that make each codec, in order of preference. ffmpeg's native opus/vorbis encoders
 * are experimental and left out. */
export const CODEC_ENCODERS: Record<VideoCodec | AudioCodec, readonly string[]> = {
  vp9: ['libvpx-vp9'],
  vp8: ['libvpx'],
  av1: ['libsvtav1', 'libaom-av1'],
  theora: ['libtheora'],
  webp: ['libwebp'],
  opus: ['libopus'],
  vorbis: ['libvorbis'],
};

const CODEC_NAMES: Record<VideoCodec | AudioCodec, string> = {
  vp9: 'a VP9',
  vp8: 'a VP8',
  av1: 'an AV1',
  theora: 'a Theora',
  webp: 'a WebP',
  opus: 'an Opus',
  vorbis: 'a Vorbis',
};

// A cmaf package is never compiled whole: its renditions are WebM (src/abr/ladder.ts), packaged after.
const MUXERS: Record<Container, string> = { webm: 'webm', ogg: 'ogg', opus: 'opus', webp: 'webp', cmaf: 'webm' };

/** The first encoder of `codec` this ffmpeg has, or undefined. */
export function chooseEncoder(codec: VideoCodec | AudioCodec, encoders: ReadonlySet<string>): string | undefined {
  return CODEC_ENCODERS[codec].find((e) => encoders.has(e));
}

/** What a preset needs from ffmpeg: per stream, any one of these encoders. */
export function requiredEncoders(
  preset: ResolvedPreset,
): Array<{ stream: 'video' | 'audio'; codec: VideoCodec | AudioCodec; anyOf: readonly string[] }> {
  const out: Array<{ stream: 'video' | 'audio'; codec: VideoCodec | AudioCodec; anyOf: readonly string[] }> = [];
  if (preset.video) out.push({ stream: 'video', codec: preset.video.codec, anyOf: CODEC_ENCODERS[preset.video.codec] });
  if (preset.audio) out.push({ stream: 'audio', codec: preset.audio.codec, anyOf: CODEC_ENCODERS[preset.audio.codec] });
  return out;
}

function encoderFor(preset: ResolvedPreset, codec: VideoCodec | AudioCodec, encoders: ReadonlySet<string>): string {
  const enc = chooseEncoder(codec, encoders);
  if (enc) return enc;
  const anyOf = CODEC_ENCODERS[codec];
  throw new NommerError(
    'ENCODER_MISSING',
    `preset "${preset.name}" needs ${CODEC_NAMES[codec]} encoder (${anyOf.join(' or ')}) and this ffmpeg has none`,
    {
      hint: `install an ffmpeg built with ${anyOf[0]}, or set NOMMER_FFMPEG to one`,
    },
  );
}

// ---- geometry --------------------------------------------------------------------------------

/** Output size: the displayed size fitted (down only) into the preset's box turned to the
 * picture's orientation, then made even (4:2:0 needs it). */
export function outputSize(
  v: Pick<VideoStreamInfo, 'displayWidth' | 'displayHeight'>,
  maxWidth: number,
  maxHeight: number,
): { width: number; height: number } {
  const dw = Math.max(1, v.displayWidth),
    dh = Math.max(1, v.displayHeight);
  const boxLong = Math.max(maxWidth, maxHeight),
    boxShort = Math.min(maxWidth, maxHeight);
  const ratio = Math.min(1, boxLong / Math.max(dw, dh), boxShort / Math.min(dw, dh));
  const even = (n: number) => Math.max(2, Math.floor(n / 2) * 2);
  return { width: even(Math.round(dw * ratio)), height: even(Math.round(dh * ratio)) };
}

/**
 * Frames in a fixed GOP of at least `seconds` (an adaptive ladder's segment): rounded UP, since
 * ffmpeg's dash muxer starts a segment only at a keyframe at least seg_duration after the last
 * one — at 29.97 fps a 119-frame GOP (3.97 s) made every segment two GOPs, 7.94 s.
 */
export function gopFrames(fps: number, seconds: number): number {
  const rate = fps > 0 && Number.isFinite(fps) ? fps : 30;
  return Math.max(1, Math.ceil(rate * seconds - 1e-9));
}

/** libvpx tile columns (log2): one per 256 px of width at most, as Google's VOD settings. */
export function tileColumns(width: number): number {
  return Math.max(0, Math.min(6, Math.floor(Math.log2(Math.max(1, width / 256)))));
}

// ---- rate control ----------------------------------------------------------------------------

export interface Rate {
  crf?: number;
  targetKbps: number;
  minKbps: number;
  maxKbps: number;
}

/** Ladder factor for a frame rate: ×1 up to the reference, ×highFactor at highFps, linear in
 * between, proportional above. */
export function fpsFactor(fps: number, s: VideoSettings['fpsScale']): number {
  if (!(fps > s.referenceFps)) return 1;
  if (fps <= s.highFps) return 1 + ((s.highFactor - 1) * (fps - s.referenceFps)) / (s.highFps - s.referenceFps);
  return (s.highFactor * fps) / s.highFps;
}

/** Rate control for an output of width × height at fps, from the preset's ladder: interpolated by
 * pixel count between rungs, proportional beyond the ends, times fps factor and bitrateScale. */
export function ladderRate(v: VideoSettings, width: number, height: number, fps: number): Rate | undefined {
  if (!v.ladder || v.ladder.length === 0) return undefined;
  const rungs = [...v.ladder]
    .map((r) => ({ ...r, px: r.width * r.height, minKbps: r.minKbps ?? r.targetKbps / 2 }))
    .sort((a, b) => a.px - b.px);
  const px = width * height;
  let target: number, min: number, max: number, crf: number | undefined;
  const lo = rungs[0]!,
    hi = rungs[rungs.length - 1]!;
  if (px <= lo.px || rungs.length === 1) {
    const k = px / lo.px;
    [target, min, max, crf] = [lo.targetKbps * k, lo.minKbps * k, lo.maxKbps * k, lo.crf];
    if (rungs.length === 1 && px > lo.px) crf = lo.crf;
  } else if (px >= hi.px) {
    const k = px / hi.px;
    [target, min, max, crf] = [hi.targetKbps * k, hi.minKbps * k, hi.maxKbps * k, hi.crf];
  } else {
    const i = rungs.findIndex((r) => r.px >= px);
    const a = rungs[i - 1]!,
      b = rungs[i]!;
    const t = (px - a.px) / (b.px - a.px);
    const lerp = (x: number, y: number) => x + (y - x) * t;
    target = lerp(a.targetKbps, b.targetKbps);
    min = lerp(a.minKbps, b.minKbps);
    max = lerp(a.maxKbps, b.maxKbps);
    crf = a.crf !== undefined && b.crf !== undefined ? Math.round(lerp(a.crf, b.crf)) : (b.crf ?? a.crf);
  }
  const k = fpsFactor(fps, v.fpsScale) * v.bitrateScale;
  const kbps = (n: number) => Math.max(1, Math.round(n * k));
  return { crf, targetKbps: kbps(target), minKbps: kbps(min), maxKbps: kbps(max) };
}

/** Audio bitrate (kbit/s) for a channel count: the preset's fixed bitrate, else its per-channel
 * table interpolated between listed counts and proportional beyond them, else 64k a channel. */
export function audioKbps(a: AudioSettings, channels: number): number {
  if (a.bitrate) return bitrateKbps(a.bitrate);
  const table = Object.entries(a.channelBitrates ?? {})
    .map(([n, b]) => [Number(n), bitrateKbps(b)] as const)
    .sort((x, y) => x[0] - y[0]);
  if (table.length === 0) return 64 * channels;
  const exact = table.find(([n]) => n === channels);
  if (exact) return exact[1];
  const first = table[0]!,
    last = table[table.length - 1]!;
  if (channels < first[0]) return Math.round((first[1] * channels) / first[0]);
  if (channels > last[0]) return Math.round((last[1] * channels) / last[0]);
  const i = table.findIndex(([n]) => n > channels);
  const [n0, b0] = table[i - 1]!,
    [n1, b1] = table[i]!;
  return Math.round(b0 + ((b1 - b0) * (channels - n0)) / (n1 - n0));
}

/** Channel layouts Opus (mapping family 1) and Vorbis define, by channel count. */
const LAYOUTS = ['', 'mono', 'stereo', '3.0', 'quad', '5.0', '5.1', '6.1', '7.1'] as const;

// ---- per-output plans ------------------------------------------------------------------------

export interface CompiledVideo {
  encoder: string;
  codec: VideoCodec;
  width: number;
  height: number;
  pixFmt: string;
  /** The -vf chain, or '' when frames go to the encoder as decoded (after autorotation). */
  filters: string;
  crf?: number;
  q?: number;
  rate?: Rate;
  speed?: number;
  keyframeFrames?: number;
  deinterlaced: boolean;
  /** Target mode: the safety cap (kbit/s) the chosen CRF runs under. */
  capKbps?: number;
  /** An HDR source: what this output keeps of it (ffmpeg/hdr.ts). A kept mastering display or
   * content light in WebM is written into the container after the encode (ffmpeg/webm-hdr.ts). */
  hdr?: OutputHdr;
}

export interface CompiledAudio {
  encoder: string;
  codec: AudioCodec;
  channels: number;
  layout: string;
  bitrateKbps: number;
  sampleRate?: number;
}

export interface CompiledOutput {
  path: string;
  preset: string;
  container: Container;
  muxer: string;
  video?: CompiledVideo;
  audio?: CompiledAudio;
}

export interface CompiledCommand {
  /** ffmpeg arguments, without the binary and without progress/banner flags. */
  args: string[];
  /** Relative cost, for progress across commands. */
  weight: number;
  label: string;
}

export interface CompileJobInput {
  /** As ffmpeg should read it (a `file:` URL or an http(s) URL). */
  input: string;
  /** Options for reading the input, placed just before its -i in every command (after a still's
   * own -ss), e.g. -copyts, -ss … -noaccurate_seek, -itsoffset. */
  inputOptions?: readonly string[];
  /** Video filters run ahead of each output's own (deinterlace, scale), e.g. a trim and setpts
   * that select a window of frames; every video output gets them. */
  videoFilterPrefix?: readonly string[];
  /** Audio filters run ahead of each output's own (aformat), e.g. a package's trim or delay that
   * starts the audio at the first video frame. */
  audioFilterPrefix?: readonly string[];
  probe: ProbeInfo;
  /** `crf`: target mode at this CRF (chosen by the quality search), see TARGET_CAP_FACTOR.
   * `levelFilters`: the audio filters that set the output's loudness, after audioChain's (the
   * gain, and a limiter where one must act: ffmpeg/loudness.ts decides them by measuring). */
  outputs: Array<{ preset: ResolvedPreset; path: string; crf?: number; levelFilters?: readonly string[] }>;
  encoders: ReadonlySet<string>;
  /** Directory for two-pass statistics files. */
  passlogDir: string;
  /** Encoder threads per output; unset lets each encoder pick. */
  threads?: number;
}

export interface CompiledJob {
  commands: CompiledCommand[];
  outputs: CompiledOutput[];
}

// Only values known to be plain words reach the colour flags (they come from ffprobe).
const COLOR_VALUE = /^[a-z0-9][a-z0-9_.-]*$/;
const UNKNOWN_COLOR = new Set(['unknown', 'unspecified', 'reserved']);

/** A tone-mapped output is BT.709 SDR, and says so. */
const BT709_ARGS = ['-color_primaries', 'bt709', '-color_trc', 'bt709', '-colorspace', 'bt709', '-color_range', 'tv'];

function colorArgs(v: VideoStreamInfo, hdr: OutputHdr | undefined): string[] {
  if (hdr?.mode === 'tonemapped') return BT709_ARGS;
  const args: string[] = [];
  const add = (flag: string, value: string | undefined) => {
    if (value && COLOR_VALUE.test(value) && !UNKNOWN_COLOR.has(value)) args.push(flag, value);
  };
  add('-color_primaries', v.colorPrimaries);
  add('-color_trc', v.colorTransfer);
  add('-colorspace', v.colorSpace);
  // yuvj* sources are converted to limited-range yuv420p on the way; say so rather than copy "pc".
  add('-color_range', v.pixFmt?.startsWith('yuvj') ? 'tv' : v.colorRange);
  return args;
}

function outputTarget(path: string): string {
  // Absolute paths are passed as they are (the caller maps them back); anything else gets `file:`
  // so a name like "-x.webm" or "pipe:1" is never read as an option or protocol.
  return isAbsolute(path) ? path : `file:${path}`;
}

/** One output's video: its options for the only (or second) pass and, for a two-pass output,
 * for the first pass, which differs only in speed. Both are built whole by the same builder. */
interface VideoPlan {
  args: string[];
  firstPassArgs?: string[];
  info: CompiledVideo;
}

/** In target mode the ladder's ceiling, times this, is only a safety cap. */
export const TARGET_CAP_FACTOR = 8;

function planVideo(
  preset: ResolvedPreset,
  v: VideoSettings,
  src: VideoStreamInfo,
  encoder: string,
  threads: number | undefined,
  filterPrefix: readonly string[],
  targetCrf?: number,
): VideoPlan {
  const { width, height } = outputSize(src, v.maxWidth, v.maxHeight);
  const codedW = src.rotation === 90 || src.rotation === 270 ? src.height : src.width;
  const codedH = src.rotation === 90 || src.rotation === 270 ? src.width : src.height;
  const filters: string[] = [...filterPrefix];
  if (src.interlaced) filters.push(`${v.deinterlace}=mode=send_frame:parity=auto:deint=all`);
  // HDR is kept (10 bits) where the codec can and the preset wants it, else tone-mapped: an
  // 8-bit picture tagged PQ bands, and one untagged shows washed out.
  const hdr = src.hdr ? outputHdr(src.hdr, v.hdr === 'keep' && carriesHdr(v.codec) ? 'kept' : 'tonemapped') : undefined;
  if (hdr?.mode === 'tonemapped') filters.push(...tonemapFilters(src, src.hdr!));
  if (width !== codedW || height !== codedH) filters.push(`scale=${width}:${height}`, 'setsar=1');
  const highDepth =
    hdr?.mode === 'kept' || (v.highBitDepth && src.bitDepth > 8 && (v.codec === 'vp9' || v.codec === 'av1'));
  const pixFmt = highDepth ? 'yuv420p10le' : 'yuv420p';
  const fps = src.fps > 0 && Number.isFinite(src.fps) ? src.fps : 30;
  const keyframeFrames = v.fixedGop
    ? gopFrames(fps, v.keyframeSeconds)
    : Math.max(1, Math.floor(fps * v.keyframeSeconds));
  const rate = ladderRate(v, width, height, fps);
  const tuning = v.tuning?.[encoder];
  const crf = targetCrf ?? v.crf ?? tuning?.crf ?? rate?.crf;
  const speed = v.speed ?? tuning?.speed;
  const capKbps = targetCrf !== undefined && rate ? Math.round(rate.maxKbps * TARGET_CAP_FACTOR) : undefined;
  const info: CompiledVideo = {
    encoder,
    codec: v.codec,
    width,
    height,
    pixFmt,
    filters: filters.join(','),
    keyframeFrames,
    deinterlaced: src.interlaced,
    rate,
    crf,
    speed,
    ...(capKbps !== undefined ? { capKbps } : {}),
    ...(hdr ? { hdr } : {}),
  };
  const hdrParams = hdr?.mode === 'kept' ? svtAv1HdrParams(src.hdr!) : [];

  const videoArgs = (speed: number | undefined): string[] => [
    '-c:v',
    encoder,
    ...(filters.length ? ['-vf', filters.join(',')] : []),
    '-pix_fmt',
    pixFmt,
    ...encoderOptions(preset, v, info, { encoder, width, keyframeFrames, rate, crf, speed, capKbps, hdrParams }),
    ...(threads && encoder !== 'libwebp' ? ['-threads', String(threads)] : []),
    ...(v.codec !== 'webp' && v.codec !== 'theora' ? colorArgs(src, hdr) : []),
    ...timestampArgs(v, src, fps),
  ];
  // Two-pass is libvpx only (the schema says so): the first pass runs at its own -speed/-cpu-used.
  return { args: videoArgs(speed), firstPassArgs: v.passes === 2 ? videoArgs(v.firstPassSpeed) : undefined, info };
}

/** What an encoder's options are built from: the output's plan so far. */
interface EncoderPlan {
  encoder: string;
  width: number;
  keyframeFrames: number;
  rate: Rate | undefined;
  crf: number | undefined;
  speed: number | undefined;
  /** Target mode: the CRF rules under this cap, with no floor. */
  capKbps?: number;
  /** SVT-AV1 parameters of a kept HDR source's static metadata. */
  hdrParams?: readonly string[];
}

/** One encoder family's options; `need` makes the error for a setting the preset lacks. */
interface EncoderArgsInput extends EncoderPlan {
  v: VideoSettings;
  /** Where a builder records q (and a still's lack of keyframes). */
  info: CompiledVideo;
  need: (what: string) => NommerError;
}

/** The encoder's own options: rate control, speed and keyframes. Records q (and a still's lack
 * of keyframes) in info. One builder per encoder family, below. */
function encoderOptions(preset: ResolvedPreset, v: VideoSettings, info: CompiledVideo, o: EncoderPlan): string[] {
  const need = (what: string) =>
    new NommerError('PRESET_INVALID', `preset "${preset.name}" gives no ${what} for ${v.codec}`, {
      hint: 'add it to the preset',
    });
  const e: EncoderArgsInput = { ...o, v, info, need };
  switch (o.encoder) {
    case 'libvpx-vp9':
    case 'libvpx':
      return libvpxArgs(e);
    case 'libsvtav1':
      return svtAv1Args(e);
    case 'libaom-av1':
      return aomAv1Args(e);
    case 'libtheora':
      return theoraArgs(e);
    case 'libwebp':
      return webpArgs(e);
    default:
      throw new NommerError('INTERNAL', `no argument builder for encoder ${o.encoder}`);
  }
}

/** VP9 and VP8 (libvpx): constrained quality, a CRF between the ladder's floor and ceiling, or
 * under the target mode's cap alone. */
function libvpxArgs({
  encoder,
  width,
  keyframeFrames,
  rate,
  crf,
  speed,
  capKbps,
  v,
  need,
}: EncoderArgsInput): string[] {
  if (!rate) throw need('bitrate ladder');
  if (crf === undefined) throw need('crf');
  const vp9 = encoder === 'libvpx-vp9';
  const rateArgs =
    capKbps !== undefined
      ? ['-b:v', `${capKbps}k`]
      : ['-b:v', `${rate.targetKbps}k`, '-minrate', `${rate.minKbps}k`, '-maxrate', `${rate.maxKbps}k`];
  return [
    '-crf',
    String(crf),
    ...rateArgs,
    '-quality',
    'good',
    vp9 ? '-speed' : '-cpu-used',
    String(speed ?? (vp9 ? 2 : 1)),
    ...(vp9 ? ['-row-mt', '1', '-tile-columns', String(tileColumns(width))] : []),
    '-auto-alt-ref',
    '1',
    '-lag-in-frames',
    String(v.lagInFrames),
    '-g',
    String(keyframeFrames),
    ...(v.fixedGop ? ['-keyint_min', String(keyframeFrames)] : []),
  ];
}

function svtAv1Args({ keyframeFrames, rate, crf, speed, capKbps, hdrParams, v, need }: EncoderArgsInput): string[] {
  if (!rate) throw need('bitrate ladder');
  // SVT-AV1 in ffmpeg 5.1 takes -b:v only as VBR, which drops the quality target; its
  // capped CRF (crf + mbr, SVT-AV1 ≥ 1.4) is the constrained-quality mode we want.
  return [
    '-crf',
    String(crf ?? 35),
    '-preset',
    String(speed ?? 8),
    '-svtav1-params',
    [
      `keyint=${keyframeFrames}`,
      `mbr=${capKbps ?? rate.maxKbps}`,
      ...(v.fixedGop ? ['scd=0'] : []),
      ...(hdrParams ?? []),
    ].join(':'),
  ];
}

function aomAv1Args({ width, keyframeFrames, rate, crf, speed, capKbps, v, need }: EncoderArgsInput): string[] {
  if (!rate) throw need('bitrate ladder');
  // libaom with -crf and -b:v is constrained quality: -b:v caps the average.
  return [
    '-crf',
    String(crf ?? 34),
    '-b:v',
    `${capKbps ?? rate.maxKbps}k`,
    '-usage',
    'good',
    '-cpu-used',
    String(speed ?? 6),
    '-row-mt',
    '1',
    '-tiles',
    `${2 ** tileColumns(width)}x1`,
    '-g',
    String(keyframeFrames),
    ...(v.fixedGop ? ['-keyint_min', String(keyframeFrames)] : []),
  ];
}

function theoraArgs({ keyframeFrames, rate, v, info, need }: EncoderArgsInput): string[] {
  // libtheora takes a quality or a bitrate, not both; quality mode has no ceiling (26 Mb/s
  // on a noisy 360p clip at q 7), so without an explicit q it runs as ABR at the ladder's
  // target, which leaves headroom under the ceiling for its overshoot (~17% on 2 s of noise).
  let quality: string[];
  if (v.q !== undefined) quality = ['-q:v', String(v.q)];
  else if (rate) quality = ['-b:v', `${rate.targetKbps}k`];
  else throw need('bitrate ladder or q');
  info.q = v.q;
  return [...quality, '-g', String(keyframeFrames)];
}

/** A still: a quality, no keyframes. */
function webpArgs({ speed, v, info }: EncoderArgsInput): string[] {
  const q = v.q ?? 80;
  info.q = q;
  info.keyframeFrames = undefined;
  return ['-quality', String(q), '-compression_level', String(Math.min(6, speed ?? 4)), '-frames:v', '1'];
}

/** Frame timing: CFR sources need nothing; VFR keeps its timestamps, except in Theora. */
function timestampArgs(v: VideoSettings, src: VideoStreamInfo, fps: number): string[] {
  if (!src.vfr || v.codec === 'webp') return [];
  if (v.codec === 'theora') {
    // Theora's header has one frame rate: resample VFR to the average rate.
    const r =
      /^\d+\/\d+$/.test(src.avgFrameRate) && !src.avgFrameRate.endsWith('/0') ? src.avgFrameRate : fps.toFixed(3);
    return ['-fps_mode', 'cfr', '-r', r];
  }
  // Keep the source timestamps; a frame-count GOP cannot bound time on VFR, so force
  // keyframes by time as well.
  return ['-fps_mode', 'passthrough', '-force_key_frames', `expr:gte(t,n_forced*${v.keyframeSeconds})`];
}

/** An output's channels and layout: the source's, downmixed to the preset's maximum. */
export function audioLayout(a: AudioSettings, src: AudioStreamInfo): { channels: number; layout: string } {
  const channels = Math.max(1, Math.min(src.channels, a.maxChannels, LAYOUTS.length - 1));
  return { channels, layout: LAYOUTS[channels]! };
}

/**
 * An output's audio filters before its level is set: the caller's prefix, then the format the
 * encoder gets (channel layout, and the preset's sample rate). The loudness measurement
 * (ffmpeg/loudness.ts) runs this same chain, so it measures the downmix the output carries.
 */
export function audioChain(a: AudioSettings, src: AudioStreamInfo, filterPrefix: readonly string[] = []): string[] {
  const { layout } = audioLayout(a, src);
  const aformat = [a.sampleRate ? `sample_rates=${a.sampleRate}` : '', `channel_layouts=${layout}`]
    .filter(Boolean)
    .join(':');
  return [...filterPrefix, `aformat=${aformat}`];
}

function planAudio(
  a: AudioSettings,
  src: AudioStreamInfo,
  encoder: string,
  filterPrefix: readonly string[] = [],
  levelFilters: readonly string[] = [],
): { args: string[]; info: CompiledAudio } {
  const { channels, layout } = audioLayout(a, src);
  const kbps = audioKbps(a, channels);
  const args = [
    '-c:a',
    encoder,
    '-af',
    [...audioChain(a, src, filterPrefix), ...levelFilters].join(','),
    '-b:a',
    `${kbps}k`,
    // Opus needs the Vorbis channel mapping (family 1) for more than two channels.
    ...(encoder === 'libopus' ? ['-vbr', 'on', ...(channels > 2 ? ['-mapping_family', '1'] : [])] : []),
  ];
  return { args, info: { encoder, codec: a.codec, channels, layout, bitrateKbps: kbps, sampleRate: a.sampleRate } };
}

/** One output as named parts of an argv; compileJob puts the parts of each command together. */
interface OutputPlan {
  out: CompiledOutput;
  preset: ResolvedPreset;
  /** -map and options of the video stream ([] without video), for the only or second pass. */
  video: string[];
  /** The same for the first pass of a two-pass output. */
  firstPassVideo?: string[];
  /** -map and options of the audio stream, or []. */
  audio: string[];
  /** -f muxer and the output path: the last arguments of this output. */
  sink: string[];
  still?: { at: number };
  weight: number;
}

function planOutput(
  job: CompileJobInput,
  preset: ResolvedPreset,
  path: string,
  targetCrf?: number,
  levelFilters?: readonly string[],
): OutputPlan {
  const { probe } = job;
  const srcVideo = probe.video && !probe.video.attachedPic ? probe.video : undefined;
  const srcAudio = probe.audio;
  const useVideo = Boolean(preset.video && srcVideo);
  const useAudio = Boolean(preset.audio && srcAudio);
  if (preset.video && !srcVideo && !(preset.video.optional && useAudio)) {
    throw new NommerError(
      'INPUT_NO_STREAMS',
      `preset "${preset.name}" needs a video stream and the input has none${srcAudio ? ' (it is audio only)' : ''}`,
      {
        hint: srcAudio ? 'use the opus preset for audio-only inputs' : 'check the input is a video',
      },
    );
  }
  if (preset.audio && !srcAudio && !(preset.audio.optional && useVideo)) {
    throw new NommerError('INPUT_NO_STREAMS', `preset "${preset.name}" needs an audio stream and the input has none`, {
      hint: srcVideo ? 'choose a video preset such as webm' : 'check the input has audio',
    });
  }
  const out: CompiledOutput = {
    path,
    preset: preset.name,
    container: preset.container,
    muxer: MUXERS[preset.container],
  };
  let video: string[] = [];
  let firstPassVideo: string[] | undefined;
  if (useVideo) {
    const v = planVideo(
      preset,
      preset.video!,
      srcVideo!,
      encoderFor(preset, preset.video!.codec, job.encoders),
      job.threads,
      job.videoFilterPrefix ?? [],
      targetCrf,
    );
    out.video = v.info;
    const map = ['-map', `0:${srcVideo!.index}`];
    video = [...map, ...v.args];
    if (v.firstPassArgs) firstPassVideo = [...map, ...v.firstPassArgs];
  }
  let audio: string[] = [];
  if (useAudio) {
    const a = planAudio(
      preset.audio!,
      srcAudio!,
      encoderFor(preset, preset.audio!.codec, job.encoders),
      job.audioFilterPrefix,
      levelFilters,
    );
    out.audio = a.info;
    audio = ['-map', `0:${srcAudio!.index}`, ...a.args];
  }
  const sink = ['-f', out.muxer, outputTarget(path)];
  const still = preset.video?.codec === 'webp' ? { at: Math.max(0, probe.duration * preset.video.stillAt) } : undefined;
  const weight = still ? 0.05 : useVideo ? 1 : 0.1;
  return { out, preset, video, firstPassVideo, audio, sink, still, weight };
}

const round = (n: number) => Math.round(n * 100) / 100;
const NULL_SINK = process.platform === 'win32' ? 'NUL' : '/dev/null';

/** The two runs of a two-pass output, sharing one statistics log: pass 1 analyses the video
 * alone (no audio, null muxer), pass 2 encodes everything into the output. */
function twoPassCommands(
  input: readonly string[],
  p: OutputPlan,
  firstPassVideo: readonly string[],
  passlog: string,
): CompiledCommand[] {
  const pass = (n: 1 | 2) => ['-pass', String(n), '-passlogfile', passlog];
  return [
    {
      args: [...input, ...firstPassVideo, ...pass(1), '-an', '-f', 'null', NULL_SINK],
      weight: 0.4,
      label: `${p.preset.name} pass 1/2`,
    },
    { args: [...input, ...p.video, ...p.audio, ...pass(2), ...p.sink], weight: 1, label: `${p.preset.name} pass 2/2` },
  ];
}

/** Compile a job's outputs into the ffmpeg runs that make them, in order: stills, then every
 * one-pass output in one run, then each two-pass output's two runs. */
export function compileJob(job: CompileJobInput): CompiledJob {
  if (job.outputs.length === 0) throw new NommerError('USAGE', 'a job needs at least one output');
  const plans = job.outputs.map((o) => {
    const { preset } = o;
    if (preset.container === 'cmaf')
      throw new NommerError('INTERNAL', `preset "${preset.name}" is a package; its renditions are compiled one by one`);
    return planOutput(job, preset, o.path, o.crf, o.levelFilters);
  });
  const input = (seek: string[] = []) => [...seek, ...(job.inputOptions ?? []), '-i', job.input];
  const commands: CompiledCommand[] = [];

  for (const p of plans.filter((p) => p.still)) {
    // Seeking before -i decodes only from the nearest keyframe, and is frame-accurate when transcoding.
    const at = p.still!.at;
    commands.push({
      args: [...input(['-ss', at.toFixed(3)]), ...p.video, ...p.audio, ...p.sink],
      weight: p.weight,
      label: `${p.preset.name} (still at ${at.toFixed(1)} s)`,
    });
  }
  const onePass = plans.filter((p) => !p.still && !p.firstPassVideo);
  if (onePass.length > 0) {
    commands.push({
      args: [...input(), ...onePass.flatMap((p) => [...p.video, ...p.audio, ...p.sink])],
      weight: round(onePass.reduce((s, p) => s + p.weight, 0)),
      label: onePass.map((p) => p.preset.name).join(' + '),
    });
  }
  for (const [n, p] of plans.entries()) {
    if (p.firstPassVideo) commands.push(...twoPassCommands(input(), p, p.firstPassVideo, `${job.passlogDir}/${n}`));
  }
  return { commands, outputs: plans.map((p) => p.out) };
}
