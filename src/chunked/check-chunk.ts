// What a chunk must be before it is joined, beyond its checksum and frame count: it decodes
// cleanly, it lasts what its frames of the source last, and its stream parameters (codec,
// profile, size, pixel format, aspect, colour) are its siblings'. The worker that encoded it
// finds all of these with one ffprobe that decodes it whole, and its entry vouches for them with
// the checksum; the assembler looks at the file itself only for what no entry says. A
// chunk joined with another profile or size plays wrong from that seam on, and the concat
// demuxer does not say so. The assembler encodes a chunk that fails again and never joins it.
import * as z from 'zod';
import { ffmpegInputArg, ffprobeRun, parseFfprobeJson } from '../ffmpeg/probe.js';
import { NommerError } from '../errors.js';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import type { VideoChunkParams } from './tasks.js';

/** The stream parameters chunks of one output must share. */
const PARAM_KEYS = [
  'codec_name',
  'profile',
  'width',
  'height',
  'pix_fmt',
  'sample_aspect_ratio',
  'color_range',
  'color_space',
  'color_transfer',
  'color_primaries',
  'field_order',
] as const;

const param = z.union([z.string(), z.number()]).optional();
const chunkProbe = z.object({
  streams: z
    .array(
      z.object({
        nb_read_packets: z.string().optional(),
        nb_read_frames: z.string().optional(),
        codec_name: param,
        profile: param,
        width: param,
        height: param,
        pix_fmt: param,
        sample_aspect_ratio: param,
        color_range: param,
        color_space: param,
        color_transfer: param,
        color_primaries: param,
        field_order: param,
      }),
    )
    .optional(),
  format: z.object({ duration: z.string().optional() }).optional(),
});

export interface ChunkFacts {
  /** Video packets (one per frame for VP9/AV1 in WebM). */
  frames: number;
  /** Container duration, seconds (NaN when it has none). */
  duration: number;
  /** The stream parameters, as one comparable string (`key=value;...`). */
  params: string;
}

/** What one ffprobe that decoded a chunk whole saw: its facts, the frames that decoded, and what
 * the decoder said (nothing when clean). */
export interface ChunkInspection extends ChunkFacts {
  decoded: number;
  errors: string;
}

/** Frames, duration and stream parameters of a chunk, in one ffprobe (no decoding). */
export async function chunkFacts(ffprobe: string, path: string, signal?: AbortSignal): Promise<ChunkFacts> {
  const { frames, duration, params } = await probeChunk(ffprobe, path, false, signal);
  return { frames, duration, params };
}

/**
 * A chunk's facts and a whole decode of it, in one ffprobe (-count_frames decodes every frame,
 * and a decoder error shows on its stderr as it would on ffmpeg's). Fails when ffprobe cannot
 * read the file at all.
 */
export function inspectChunk(ffprobe: string, path: string, signal?: AbortSignal): Promise<ChunkInspection> {
  return probeChunk(ffprobe, path, true, signal);
}

async function probeChunk(ffprobe: string, path: string, decode: boolean, signal?: AbortSignal) {
  const { stdout, stderr } = await ffprobeRun(
    ffprobe,
    [
      '-select_streams',
      'V:0',
      ...(decode ? ['-count_frames'] : []),
      '-count_packets',
      '-print_format',
      'json',
      '-show_entries',
      `stream=nb_read_packets${decode ? ',nb_read_frames' : ''},${PARAM_KEYS.join(',')}:format=duration`,
      ffmpegInputArg(path),
    ],
    signal,
  );
  const j = parseFfprobeJson(chunkProbe, stdout);
  const s = j?.streams?.[0];
  return {
    frames: Number(s?.nb_read_packets ?? 0) || 0,
    duration: Number(j?.format?.duration ?? Number.NaN),
    params: s ? PARAM_KEYS.map((k) => `${k}=${String(s[k] ?? '')}`).join(';') : '',
    decoded: Number(s?.nb_read_frames ?? 0) || 0,
    errors: stderr.trim(),
  };
}

/** The facts a chunk's entry vouches for (with its checksum), when its worker recorded them. */
export function factsOfEntry(entry: { frames: number; facts?: { duration: number; params: string } } | undefined) {
  return entry?.facts ? { frames: entry.frames, ...entry.facts } : undefined;
}

/** Why a decode result does not vouch for `frames` clean frames, or null. */
export function decodeProblem(d: { frames: number; errors: string }, frames: number): string | null {
  if (d.errors) return `it does not decode cleanly: ${d.errors.split('\n')[0]}`;
  if (d.frames !== frames) return `it decodes to ${d.frames} frames, expected ${frames}`;
  return null;
}

/** The parameters most chunks share (the first chunk's on a tie): what each must have. */
export function siblingParams(all: readonly string[]): string {
  const count = new Map<string, number>();
  for (const p of all) count.set(p, (count.get(p) ?? 0) + 1);
  let best = all[0] ?? '';
  for (const [p, n] of count) if (n > (count.get(best) ?? 0)) best = p;
  return best;
}

/**
 * Why a chunk's facts disagree with its spec and its siblings, or null. Its duration may differ
 * from the spec's by a frame's worth (the last frame's duration is the encoder's, the spec's is
 * the gap to the next chunk) plus the container's millisecond rounding.
 */
export function chunkProblem(
  spec: Pick<VideoChunkParams, 'frames' | 'duration'>,
  facts: ChunkFacts,
  siblings: string,
): string | null {
  if (facts.frames !== spec.frames) return `${facts.frames} frames, expected ${spec.frames}`;
  const slack = spec.duration / spec.frames + 0.002;
  if (!(Math.abs(facts.duration - spec.duration) <= slack))
    return `it lasts ${Number.isFinite(facts.duration) ? `${facts.duration.toFixed(3)} s` : 'no time'}, expected ${spec.duration.toFixed(3)} s`;
  if (facts.params !== siblings)
    return `its stream parameters differ from its siblings' (${diff(facts.params, siblings)})`;
  return null;
}

function diff(a: string, b: string): string {
  const bs = new Map(b.split(';').map((kv) => kv.split('=') as [string, string]));
  return a
    .split(';')
    .map((kv) => kv.split('=') as [string, string])
    .filter(([k, v]) => bs.get(k) !== v)
    .map(([k, v]) => `${k} ${v || 'unset'}, not ${bs.get(k) || 'unset'}`)
    .join(', ');
}

/**
 * A chunk about to be joined: its local file, its spec, the entry its task wrote, and its facts
 * when the caller has already probed this very file (so it is not probed twice).
 */
export interface JoinCandidate {
  path: string;
  spec: VideoChunkParams;
  entry?: { decoded?: number };
  facts?: ChunkFacts;
}

const isInspection = (f: ChunkFacts | ChunkInspection): f is ChunkInspection => 'decoded' in f && 'errors' in f;

/** Whether a chunk's entry vouches (with its checksum) for a clean decode of all its frames. */
const decodeVouched = (c: JoinCandidate) => c.entry?.decoded === c.spec.frames;

/** A chunk's facts, found by ffprobe: with a whole decode when no entry vouches for one. */
function lookAt(ff: FfmpegInstall, c: JoinCandidate, signal?: AbortSignal): Promise<ChunkFacts | ChunkInspection> {
  return decodeVouched(c) ? chunkFacts(ff.ffprobe, c.path, signal) : inspectChunk(ff.ffprobe, c.path, signal);
}

/** Why this chunk cannot be joined among siblings with these parameters, or null. */
async function unfit(
  ff: FfmpegInstall,
  c: JoinCandidate,
  siblings: string,
  signal?: AbortSignal,
  facts?: ChunkFacts | ChunkInspection,
): Promise<string | null> {
  const seen = facts ?? (await lookAt(ff, c, signal));
  const why = chunkProblem(c.spec, seen, siblings);
  if (why || decodeVouched(c)) return why;
  const decode = isInspection(seen) ? seen : await inspectChunk(ff.ffprobe, c.path, signal);
  return decodeProblem({ frames: decode.decoded, errors: decode.errors }, c.spec.frames);
}

/**
 * Check every chunk before the join (duration, parameters against the siblings', a clean decode
 * when its entry does not vouch for one). A chunk that fails is encoded again by `repair` and
 * checked again; one that still fails fails the join (retriable: the task runs again). Replaces
 * repaired chunks in `chunks`.
 */
export async function checkJoinable<C extends JoinCandidate>(
  ff: FfmpegInstall,
  chunks: C[],
  repair: (spec: VideoChunkParams, why: string) => Promise<C>,
  signal?: AbortSignal,
): Promise<void> {
  const facts: Array<ChunkFacts | ChunkInspection> = [];
  for (const c of chunks) facts.push(c.facts ?? (await lookAt(ff, c, signal)));
  const siblings = siblingParams(facts.map((f) => f.params));
  for (const [i, c] of chunks.entries()) {
    const why = await unfit(ff, c, siblings, signal, facts[i]);
    if (!why) continue;
    chunks[i] = await repair(c.spec, why);
    const again = await unfit(ff, chunks[i]!, siblings, signal);
    if (again)
      throw new NommerError('FFMPEG_FAILED', `chunk ${c.spec.index}, encoded again, still cannot be joined: ${again}`, {
        retriable: true,
      });
  }
}
