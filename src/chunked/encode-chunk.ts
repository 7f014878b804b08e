// Worker side of a chunked job, per piece: encode one video chunk (exactly its frames, proven
// by counting them) or the whole audio once. Both compile the job's preset with the ordinary
// compiler (video only, or audio only), so a chunk is encoded with the very settings of an
// unchunked encode. This file owns what makes a chunk a chunk, its input options (-copyts, the
// seek) and its frame selection (trim, setpts); it hands them to the compiler, which builds the
// command whole (presets/compile.ts owns everything else in it).
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { NommerError } from '../errors.js';
import { ffmpegCapabilities, type FfmpegInstall } from '../ffmpeg/locate.js';
import { countVideoPackets, ffmpegInputArg, probeInput } from '../ffmpeg/probe.js';
import { TaskProgress } from '../ffmpeg/progress.js';
import { runFfmpeg } from '../ffmpeg/run.js';
import type { ProbeInfo } from '../ffmpeg/types.js';
import type { Progress } from '../jobs/types.js';
import { compileJob } from '../presets/compile.js';
import { parseResolvedPreset } from '../presets/registry.js';
import type { ResolvedPreset } from '../presets/schema.js';
import type { VideoChunkParams } from './tasks.js';

/** What a chunk task measured: the assembler checks the chunk it fetches against it. */
export interface ChunkManifestEntry {
  index: number;
  frames: number;
  bytes: number;
  sha256: string;
  /** True when the seek was not trusted and the chunk was decoded from the input's start. */
  decodedFromStart?: boolean;
}

export interface PieceRequest {
  ffmpeg: FfmpegInstall;
  /** Local path or http(s) URL. */
  input: string;
  /** The job's output preset (the chunk takes its video, the audio piece its audio). */
  preset: Record<string, unknown> | ResolvedPreset;
  /** Local file to write (the caller stores it). */
  dest: string;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  onSpawn?: (pid: number) => void;
}

/** What compiling a piece needs, once probed: the same for every run of it. */
export interface PieceSource {
  /** As ffmpeg should read it (see ffmpegInputArg). */
  input: string;
  probe: ProbeInfo;
  /** The job's output preset, whole: the piece keeps its video or its audio. */
  preset: Record<string, unknown> | ResolvedPreset;
  dest: string;
  encoders: ReadonlySet<string>;
}

type ChunkWindow = Pick<VideoChunkParams, 'seek' | 'selectStart' | 'selectEnd'>;

/**
 * How a chunk reads the input: keep source timestamps (-copyts) and, unless decoding from the
 * start, seek (without dropping anything: -noaccurate_seek) to a keyframe before the chunk.
 */
export function chunkInputOptions(chunk: Pick<VideoChunkParams, 'seek'>, opts: { fromStart?: boolean } = {}): string[] {
  const seek = !opts.fromStart && chunk.seek !== null ? ['-ss', chunk.seek.toFixed(6), '-noaccurate_seek'] : [];
  return ['-copyts', ...seek];
}

/** A chunk's frames, ahead of the preset's filters: those whose timestamps fall in the chunk's
 * window, with time restarted at 0. */
export function chunkFilters(chunk: Pick<VideoChunkParams, 'selectStart' | 'selectEnd'>): string[] {
  return [
    `trim=start=${chunk.selectStart.toFixed(6)}${chunk.selectEnd === null ? '' : `:end=${chunk.selectEnd.toFixed(6)}`}`,
    'setpts=PTS-STARTPTS',
  ];
}

/** The one command of a piece: the preset reduced to its video or its audio, compiled with the
 * piece's own input options and filters. Only chunkable presets reach here: one pass. */
function compilePiece(
  src: PieceSource,
  only: 'video' | 'audio',
  extra: { inputOptions?: string[]; videoFilterPrefix?: string[] } = {},
): string[] {
  const full = parseResolvedPreset(src.preset);
  const preset = parseResolvedPreset({ ...full, ...(only === 'video' ? { audio: null } : { video: null }) });
  const compiled = compileJob({
    input: src.input,
    ...extra,
    probe: src.probe,
    outputs: [{ preset, path: src.dest }],
    encoders: src.encoders,
    passlogDir: tmpdir(),
  });
  if (compiled.commands.length !== 1)
    throw new NommerError(
      'PRESET_INVALID',
      `preset "${full.name}" needs ${compiled.commands.length} ffmpeg runs; only one-pass presets can be chunked`,
    );
  if (only === 'video' && !compiled.outputs[0]!.video)
    throw new NommerError('INTERNAL', 'compiled command has no video encoder');
  return compiled.commands[0]!.args;
}

/** A video chunk's command: the preset's video, reading from the chunk's seek and keeping only
 * the chunk's frames. Pure. */
export function videoChunkCommand(src: PieceSource, chunk: ChunkWindow, opts: { fromStart?: boolean } = {}): string[] {
  return compilePiece(src, 'video', {
    inputOptions: chunkInputOptions(chunk, opts),
    videoFilterPrefix: chunkFilters(chunk),
  });
}

/** The audio piece's command: the preset's audio over the whole input. Pure. */
export function audioPieceCommand(src: PieceSource): string[] {
  return compilePiece(src, 'audio');
}

async function pieceSource(req: PieceRequest): Promise<PieceSource> {
  const probe = await probeInput(req.ffmpeg.ffprobe, req.input, { signal: req.signal });
  const caps = await ffmpegCapabilities(req.ffmpeg.ffmpeg);
  return { input: ffmpegInputArg(req.input), probe, preset: req.preset, dest: req.dest, encoders: caps.encoders };
}

export async function sha256File(path: string): Promise<string> {
  const h = createHash('sha256');
  for await (const c of createReadStream(path)) h.update(c as Buffer);
  return h.digest('hex');
}

/** Encode one video chunk into req.dest; fails unless it holds exactly chunk.frames frames. */
export async function encodeVideoChunk(
  req: PieceRequest & { chunk: VideoChunkParams; now?: () => number },
): Promise<ChunkManifestEntry> {
  const now = req.now ?? Date.now;
  const src = await pieceSource(req);
  const run = async (fromStart: boolean) => {
    const args = videoChunkCommand(src, req.chunk, { fromStart });
    await rm(req.dest, { force: true });
    const progress = new TaskProgress([1], req.chunk.duration, now());
    await runFfmpeg(req.ffmpeg.ffmpeg, args, {
      signal: req.signal,
      onSpawn: req.onSpawn,
      onProgress: (b) => req.onProgress?.(progress.update(0, b, now())),
    });
    return countVideoPackets(req.ffmpeg.ffprobe, req.dest, req.signal);
  };
  let frames = await run(false);
  let decodedFromStart = false;
  if (frames !== req.chunk.frames && req.chunk.seek !== null) {
    // The seek landed somewhere the timestamps did not line up: decode from the start (exact, slower).
    frames = await run(true);
    decodedFromStart = true;
  }
  if (frames !== req.chunk.frames) {
    throw new NommerError(
      'FFMPEG_FAILED',
      `chunk ${req.chunk.index} has ${frames} frames, expected ${req.chunk.frames} (frames ${req.chunk.startFrame}–${req.chunk.endFrame - 1})`,
      {
        hint: "the input's timestamps may be broken; submit it with chunking off",
      },
    );
  }
  const st = await stat(req.dest);
  return {
    index: req.chunk.index,
    frames,
    bytes: st.size,
    sha256: await sha256File(req.dest),
    ...(decodedFromStart ? { decodedFromStart } : {}),
  };
}

/** Encode the whole audio once into req.dest (so no seam ever touches it). */
export async function encodeAudioPiece(
  req: PieceRequest & { duration?: number; now?: () => number },
): Promise<{ bytes: number; sha256: string }> {
  const now = req.now ?? Date.now;
  const args = audioPieceCommand(await pieceSource(req));
  await rm(req.dest, { force: true });
  const progress = new TaskProgress([1], req.duration ?? 0, now());
  await runFfmpeg(req.ffmpeg.ffmpeg, args, {
    signal: req.signal,
    onSpawn: req.onSpawn,
    onProgress: (b) => req.onProgress?.(progress.update(0, b, now())),
  });
  const st = await stat(req.dest);
  if (st.size === 0) throw new NommerError('FFMPEG_FAILED', 'ffmpeg wrote no audio');
  return { bytes: st.size, sha256: await sha256File(req.dest) };
}
