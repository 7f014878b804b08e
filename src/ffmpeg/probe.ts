// Probes an input with ffprobe and reduces its JSON to what nommer decides from (ProbeInfo).
// Bad inputs become typed errors here, where they enter: missing, unreadable, not media.
import { execFile } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import * as z from 'zod';
import { NommerError } from '../errors.js';
import { firstFrameSideDataArgs, hdrOf, hdrTransfer } from './hdr.js';
import { keptProbe } from './probe-cache.js';
import type { AudioStreamInfo, ProbeInfo, VideoStreamInfo } from './types.js';

// ffprobe's JSON (-print_format json), the fields nommer reads. ffprobe leaves out what a stream
// does not have, so all but a stream's index are optional; other fields are dropped.
const disposition = z.object({
  attached_pic: z.number().optional(),
  default: z.number().optional(),
  forced: z.number().optional(),
});

const streamFields = {
  codec_type: z.string().optional(),
  codec_name: z.string().optional(),
  width: z.number().optional(),
  height: z.number().optional(),
  sample_aspect_ratio: z.string().optional(),
  r_frame_rate: z.string().optional(),
  avg_frame_rate: z.string().optional(),
  nb_frames: z.string().optional(),
  field_order: z.string().optional(),
  pix_fmt: z.string().optional(),
  bits_per_raw_sample: z.string().optional(),
  color_range: z.string().optional(),
  color_space: z.string().optional(),
  color_transfer: z.string().optional(),
  color_primaries: z.string().optional(),
  start_time: z.string().optional(),
  channels: z.number().optional(),
  channel_layout: z.string().optional(),
  sample_rate: z.string().optional(),
  disposition: disposition.optional(),
  tags: z.record(z.string(), z.string()).optional(),
  // Loose: a Matroska/WebM stream's mastering display and content light are stream side data,
  // which hdr.ts reads from here (a strict object dropped them, so an HDR10 WebM or MKV input
  // came out with no static metadata).
  side_data_list: z
    .array(z.looseObject({ side_data_type: z.string().optional(), rotation: z.number().optional() }))
    .optional(),
};

const format = z.object({
  format_name: z.string().optional(),
  duration: z.string().optional(),
  size: z.string().optional(),
  bit_rate: z.string().optional(),
  start_time: z.string().optional(),
});

/** `-show_format -show_streams` output: every stream has its index. */
export const ffprobeOutput = z.object({
  format: format.optional(),
  streams: z.array(z.object({ index: z.number().int(), ...streamFields })).optional(),
});
export type FfprobeOutput = z.infer<typeof ffprobeOutput>;
type RawStream = NonNullable<FfprobeOutput['streams']>[number];

/** `-show_entries` output: only the entries asked for, so a stream's index may be absent too. */
export const ffprobeEntries = z.object({
  format: format.optional(),
  streams: z.array(z.object({ index: z.number().int().optional(), ...streamFields })).optional(),
});

/** ffprobe's stdout as `schema`; undefined when it is not ffprobe's JSON (the caller says why). */
export function parseFfprobeJson<T>(schema: z.ZodType<T>, stdout: string): T | undefined {
  try {
    const r = schema.safeParse(JSON.parse(stdout));
    return r.success ? r.data : undefined;
  } catch {
    return undefined;
  }
}

/** Local paths are given to ffmpeg as `file:` URLs of absolute paths, so names that start with
 * `-` or look like protocols (`concat:`, `http:`) are never interpreted. */
export function ffmpegInputArg(pathOrUrl: string): string {
  if (/^https?:\/\//i.test(pathOrUrl)) return pathOrUrl;
  return `file:${resolve(pathOrUrl)}`;
}

export function parseRate(rate: string | undefined): number {
  if (!rate) return 0;
  const [n, d] = rate.split('/').map(Number);
  if (!n || !Number.isFinite(n)) return 0;
  if (d === undefined) return n;
  return d ? n / d : 0;
}

function num(s: string | undefined): number | undefined {
  if (s === undefined || s === 'N/A') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : undefined;
}

function rotationOf(s: RawStream): number {
  const rotation = s.side_data_list?.find((d) => typeof d.rotation === 'number')?.rotation;
  // Display-matrix rotation is counter-clockwise; the rotate tag (older muxers) is clockwise.
  const deg = rotation !== undefined ? -rotation : Number(s.tags?.rotate ?? 0);
  const r = (((Math.round(deg / 90) * 90) % 360) + 360) % 360;
  return r;
}

function bitDepth(s: RawStream): number {
  const raw = num(s.bits_per_raw_sample);
  if (raw && raw > 8) return raw;
  const m = /(?:p|le|be)?(9|10|12|14|16)(?:le|be)?$/.exec(s.pix_fmt ?? '');
  return m ? Number(m[1]) : 8;
}

export function toProbeInfo(raw: FfprobeOutput): ProbeInfo {
  const streams = raw.streams ?? [];
  const vs = streams.find((s) => s.codec_type === 'video' && !s.disposition?.attached_pic) ?? undefined;
  const as = streams.find((s) => s.codec_type === 'audio');
  let video: VideoStreamInfo | undefined;
  if (vs?.width && vs.height) {
    const rotation = rotationOf(vs);
    const sar = parseRate(vs.sample_aspect_ratio?.replace(':', '/')) || 1;
    let dw = Math.round(vs.width * (sar > 0 ? sar : 1));
    let dh = vs.height;
    if (rotation === 90 || rotation === 270) [dw, dh] = [dh, dw];
    const avg = parseRate(vs.avg_frame_rate);
    const r = parseRate(vs.r_frame_rate);
    const fps = avg || r;
    video = {
      index: vs.index,
      codec: vs.codec_name ?? 'unknown',
      width: vs.width,
      height: vs.height,
      displayWidth: dw,
      displayHeight: dh,
      rotation,
      fps,
      rFrameRate: vs.r_frame_rate ?? '0/0',
      avgFrameRate: vs.avg_frame_rate ?? '0/0',
      vfr: avg > 0 && r > 0 && Math.abs(avg - r) / r > 0.01,
      frameCount: num(vs.nb_frames),
      interlaced: ['tt', 'bb', 'tb', 'bt'].includes(vs.field_order ?? ''),
      fieldOrder: vs.field_order,
      pixFmt: vs.pix_fmt,
      bitDepth: bitDepth(vs),
      colorRange: vs.color_range,
      colorSpace: vs.color_space,
      colorTransfer: vs.color_transfer,
      colorPrimaries: vs.color_primaries,
      startTime: num(vs.start_time) ?? 0,
      attachedPic: false,
    };
  }
  let audio: AudioStreamInfo | undefined;
  if (as && (as.channels ?? 0) > 0) {
    audio = {
      index: as.index,
      codec: as.codec_name ?? 'unknown',
      channels: as.channels!,
      channelLayout: as.channel_layout,
      sampleRate: num(as.sample_rate) ?? 48000,
      startTime: num(as.start_time) ?? 0,
    };
  }
  return {
    format: raw.format?.format_name ?? 'unknown',
    duration: num(raw.format?.duration) ?? 0,
    sizeBytes: num(raw.format?.size) ?? 0,
    bitRate: num(raw.format?.bit_rate),
    video,
    audio,
  };
}

/** Useful last lines of an ffmpeg/ffprobe stderr: drop banners and blank lines, keep the tail. */
export function stderrTail(stderr: string, lines = 6): string {
  return stderr
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l && !/^\s*(built with|configuration:|lib\w+\s+\d)/.test(l))
    .slice(-lines)
    .join('\n');
}

export async function checkLocalInput(path: string): Promise<void> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR')
      throw new NommerError('INPUT_NOT_FOUND', `input not found: ${path}`, { hint: 'check the path' });
    throw new NommerError('INPUT_UNREADABLE', `cannot read input ${path}: ${code}`, { hint: 'check its permissions' });
  }
  if (st.isDirectory())
    throw new NommerError('INPUT_UNREADABLE', `input is a directory, not a media file: ${path}`, {
      hint: 'give a file',
    });
  if (!st.isFile())
    throw new NommerError('INPUT_UNREADABLE', `input is not a regular file (FIFO, socket or device): ${path}`, {
      hint: 'copy it to a file first',
    });
  if (st.size === 0)
    throw new NommerError('INPUT_UNDECODABLE', `input is empty (0 bytes): ${path}`, {
      hint: 'the file is empty; check where it came from',
    });
}

/**
 * Demuxers whose input names other files or URLs to open (a downloaded HLS playlist could make a
 * worker encode any media file on its disk). nommer takes media files, not playlists.
 */
const REFERENCING_FORMATS = new Set([
  'hls',
  'applehttp',
  'concat',
  'ffconcat',
  'dash',
  'webm_dash_manifest',
  'imf',
  'tee',
]);

export async function probeInput(
  ffprobe: string,
  input: string,
  opts: { signal?: AbortSignal; timeoutMs?: number } = {},
): Promise<ProbeInfo> {
  const remote = /^https?:\/\//i.test(input);
  if (!remote) await checkLocalInput(input);
  const args = ['-v', 'error', '-print_format', 'json', '-show_format', '-show_streams', ffmpegInputArg(input)];
  // feederd probed this very file when it planned the job: its output is kept (probe-cache.ts).
  const kept = keptProbe(ffprobe, input, args);
  const { stdout, stderr, code } =
    kept.stdout !== undefined
      ? { stdout: kept.stdout, stderr: '', code: 0 }
      : await new Promise<{ stdout: string; stderr: string; code: number | null }>((resolvePromise, reject) => {
          execFile(
            ffprobe,
            args,
            { maxBuffer: 16 << 20, timeout: opts.timeoutMs ?? 60_000, signal: opts.signal },
            (err, stdout, stderr) => {
              if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
                return reject(
                  new NommerError('FFMPEG_MISSING', `ffprobe not found at ${ffprobe}`, {
                    hint: 'install ffmpeg, or set NOMMER_FFPROBE',
                  }),
                );
              if (err && err.name === 'AbortError')
                return reject(new NommerError('CANCELED', 'canceled while probing'));
              resolvePromise({ stdout, stderr, code: err ? (typeof err.code === 'number' ? err.code : 1) : 0 });
            },
          );
        });
  const raw = parseFfprobeJson(ffprobeOutput, stdout);
  const formats = (raw?.format?.format_name ?? '').split(',');
  const playlist = formats.find((f) => REFERENCING_FORMATS.has(f));
  if (playlist) {
    throw new NommerError(
      'INPUT_UNREADABLE',
      `input ${input} is a ${playlist} playlist or manifest, not a media file`,
      {
        hint: 'playlists make ffmpeg open the files or URLs they name; give the media file itself',
      },
    );
  }
  const info = raw ? toProbeInfo(raw) : undefined;
  if (code !== 0 || !info || (!info.video && !info.audio)) {
    const tail = stderrTail(stderr, 3);
    throw new NommerError(
      'INPUT_UNDECODABLE',
      `cannot decode ${input}: ${tail ? tail.split('\n').pop() : 'no audio or video stream found'}`,
      {
        hint: 'is it a media file? ffprobe could not read it',
        detail: tail,
      },
    );
  }
  if (kept.stdout === undefined) kept.keep(stdout);
  if (info.video && hdrTransfer(info.video.colorTransfer)) {
    // HDR: the static metadata is often in the first frame only (HEVC SEI, AV1 OBUs).
    const frameArgs = firstFrameSideDataArgs(info.video.index, ffmpegInputArg(input));
    const frame = await keptFfprobeText(ffprobe, input, frameArgs, opts.signal).catch((err: NommerError) => {
      if (err.code === 'CANCELED') throw err;
      return ''; // undecodable first frame: no static metadata found, the transfer still holds
    });
    const sideData = raw?.streams?.find((s) => s.index === info.video?.index)?.side_data_list;
    info.video.hdr = hdrOf(info.video, sideData, frame);
  }
  return info;
}

/** Runs ffprobe with `args` (after `-v error`) and gives its stdout; failures become typed errors. */
export async function ffprobeText(bin: string, args: string[], signal?: AbortSignal): Promise<string> {
  return (await ffprobeRun(bin, args, signal)).stdout;
}

/**
 * ffprobeText for a probe of `input` (a local file, else it just runs), kept in the probe cache:
 * the same probe of the same unchanged file again reads what was kept. A chunked job's planner and
 * its scene task list the same source's packets, which for a film means reading the whole file.
 */
export async function keptFfprobeText(
  bin: string,
  input: string,
  args: string[],
  signal?: AbortSignal,
): Promise<string> {
  // Keyed by the whole argv ffprobeText runs, so a probe with probeInput's arguments shares its entry.
  const kept = keptProbe(bin, input, ['-v', 'error', ...args]);
  if (kept.stdout !== undefined) return kept.stdout;
  const out = await ffprobeText(bin, args, signal);
  kept.keep(out);
  return out;
}

/**
 * ffprobeText, with what ffprobe said on stderr when it succeeded: at `-v error`, nothing unless
 * something was wrong (a decoder error while it counted frames, say).
 */
export function ffprobeRun(
  bin: string,
  args: string[],
  signal?: AbortSignal,
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    execFile(bin, ['-v', 'error', ...args], { maxBuffer: 1 << 30, signal }, (err, stdout, stderr) => {
      if (err && (err as NodeJS.ErrnoException).code === 'ENOENT')
        return reject(
          new NommerError('FFMPEG_MISSING', `ffprobe not found at ${bin}`, {
            hint: 'install ffmpeg, or set NOMMER_FFPROBE',
          }),
        );
      if (err && err.name === 'AbortError') return reject(new NommerError('CANCELED', 'canceled while probing'));
      if (err)
        return reject(
          new NommerError(
            'INPUT_UNDECODABLE',
            `cannot list the frames of the input: ${stderrTail(stderr, 1) || err.message}`,
            { detail: stderrTail(stderr) },
          ),
        );
      resolve({ stdout, stderr });
    });
  });
}

/** Video packets in a file (one per shown frame for VP9 and AV1 in WebM), counted without decoding. */
export async function countVideoPackets(ffprobe: string, path: string, signal?: AbortSignal): Promise<number> {
  const out = await ffprobeText(
    ffprobe,
    [
      '-select_streams',
      'V:0',
      '-count_packets',
      '-show_entries',
      'stream=nb_read_packets',
      '-of',
      'csv=p=0',
      ffmpegInputArg(path),
    ],
    signal,
  ).catch((err: NommerError) => {
    throw err.code === 'INPUT_UNDECODABLE'
      ? new NommerError('INPUT_UNDECODABLE', `cannot read ${path}: ${err.message}`)
      : err;
  });
  // The count leads the output: a stream with side data (an HDR WebM's mastering display) gets
  // an empty field for it, "72,", which is not a number.
  const n = Number(/^\d+/.exec(out.trim())?.[0]);
  return Number.isFinite(n) ? n : 0;
}
