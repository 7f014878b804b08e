// Worker side of a chunked job, per piece: encode one video chunk (exactly its frames, proven
// by counting them) or the whole audio once. Both compile the job's preset with the ordinary
// compiler (video only, or audio only), so a chunk is encoded with the very settings of an
// unchunked encode. This file owns what makes a chunk a chunk, its input options (-copyts, the
// seek) and its frame selection (trim, setpts); it hands them to the compiler, which builds the
// command whole (presets/compile.ts owns everything else in it).
// Quality, per chunk and on the worker that encodes it: with a target, the chunk's CRF is searched
// on the chunk (samples of it when it is long), and the chunk measured against its own frames of
// the source, verified and corrected, before it is stored.
import { sha256File } from '../hash.js';
import { rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname } from 'node:path';
import { NommerError } from '../errors.js';
import { ffmpegCapabilities, type FfmpegInstall } from '../ffmpeg/locate.js';
import { fitOutputLevel, pieceLoudness, type OutputLoudness } from '../ffmpeg/loudness.js';
import { ffmpegInputArg, probeInput } from '../ffmpeg/probe.js';
import { TaskProgress } from '../ffmpeg/progress.js';
import { runFfmpeg } from '../ffmpeg/run.js';
import type { ProbeInfo } from '../ffmpeg/types.js';
import type { Progress } from '../jobs/types.js';
import { compileJob } from '../presets/compile.js';
import type { ResolvedPreset } from '../presets/schema.js';
import type { VideoChunkParams } from './tasks.js';
import { decodeProblem, inspectChunk, type ChunkInspection } from './check-chunk.js';
import {
  averageKbps,
  measureAgainstSource,
  rawReference,
  sampleEncoder,
  takeProbe,
  targetOf,
  type RawReference,
  type SampleEncoder,
} from '../quality/encode-quality.js';
import { reachTarget, type FinalEncode } from '../quality/run-search.js';

import type { OutputQuality, QualityTarget } from '../quality/types.js';
import type { ChunkManifestEntry } from './entries.js';

export interface PieceRequest {
  ffmpeg: FfmpegInstall;
  /** Local path or http(s) URL. */
  input: string;
  /** The job's output preset (the chunk takes its video, the audio piece its audio). */
  preset: ResolvedPreset;
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
  preset: ResolvedPreset;
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
  extra: { inputOptions?: string[]; videoFilterPrefix?: string[]; crf?: number; levelFilters?: readonly string[] } = {},
): string[] {
  return compilePieceJob(src, only, extra).commands[0]!.args;
}

function compilePieceJob(
  src: PieceSource,
  only: 'video' | 'audio',
  extra: { inputOptions?: string[]; videoFilterPrefix?: string[]; crf?: number; levelFilters?: readonly string[] } = {},
): ReturnType<typeof compileJob> {
  const preset: ResolvedPreset = { ...src.preset, ...(only === 'video' ? { audio: null } : { video: null }) };
  const { crf, levelFilters, ...reading } = extra;
  const compiled = compileJob({
    input: src.input,
    ...reading,
    probe: src.probe,
    outputs: [{ preset, path: src.dest, crf, levelFilters }],
    encoders: src.encoders,
    passlogDir: tmpdir(),
  });
  if (compiled.commands.length !== 1)
    throw new NommerError(
      'PRESET_INVALID',
      `preset "${preset.name}" needs ${compiled.commands.length} ffmpeg runs; only one-pass presets can be chunked`,
    );
  if (only === 'video' && !compiled.outputs[0]!.video)
    throw new NommerError('INTERNAL', 'compiled command has no video encoder');
  return compiled;
}

/** What the output's video is, compiled for the whole source (the assembler measures with it). */
export function wholeVideo(src: PieceSource): NonNullable<ReturnType<typeof compileJob>['outputs'][number]['video']> {
  return compilePieceJob(src, 'video').outputs[0]!.video!;
}

/** A video chunk's command: the preset's video, reading from the chunk's seek and keeping only
 * the chunk's frames. Pure. */
export function videoChunkCommand(
  src: PieceSource,
  chunk: ChunkWindow,
  opts: { fromStart?: boolean; crf?: number } = {},
): string[] {
  return compilePiece(src, 'video', {
    inputOptions: chunkInputOptions(chunk, opts),
    videoFilterPrefix: chunkFilters(chunk),
    crf: opts.crf,
  });
}

/** The audio piece's command: the preset's audio over the whole input (at the level its loudness
 * fit chose, if any). Pure. */
export function audioPieceCommand(src: PieceSource, levelFilters?: readonly string[]): string[] {
  return compilePiece(src, 'audio', { levelFilters });
}

export async function pieceSource(req: PieceRequest): Promise<PieceSource> {
  const probe = await probeInput(req.ffmpeg.ffprobe, req.input, { signal: req.signal });
  const caps = await ffmpegCapabilities(req.ffmpeg.ffmpeg);
  return { input: ffmpegInputArg(req.input), probe, preset: req.preset, dest: req.dest, encoders: caps.encoders };
}

type VideoChunkRequest = PieceRequest & { chunk: VideoChunkParams; now?: () => number };

/** What the steps of one chunk's encode share; `decodedFromStart` and `frames` change as it runs. */
interface ChunkRun {
  req: VideoChunkRequest;
  now: () => number;
  src: PieceSource;
  /** Set once a seek landed wrong: every later run of this chunk decodes from the start. */
  decodedFromStart: boolean;
  /** The frames of the chunk's last encode (proven to be the chunk's). */
  frames: number;
  /** What the one ffprobe after the last encode saw of it: its packets, a whole decode, its facts. */
  seen?: ChunkInspection;
}

/** Encode one video chunk into req.dest; fails unless it holds exactly chunk.frames frames. */
export async function encodeVideoChunk(req: VideoChunkRequest): Promise<ChunkManifestEntry> {
  const src = await pieceSource(req);
  const target = await targetOf(src.preset, req.ffmpeg.ffmpeg);
  const run: ChunkRun = { req, now: req.now ?? Date.now, src, decodedFromStart: false, frames: 0 };
  let quality: OutputQuality | undefined;
  if (target) {
    quality = await encodeToTarget(run, target);
  } else {
    // Without a target only the joined output is measured (by the assembler): a chunk's own
    // scores would cost a measurement per chunk that nobody reads.
    run.frames = await encodeExact(run, undefined);
  }
  const { frames, decodedFromStart, seen } = run;
  if (!seen) throw new NommerError('INTERNAL', `chunk ${req.chunk.index} was encoded but never looked at`);
  // A chunk that does not decode cleanly is never stored: the task fails, and runs again.
  const undecodable = decodeProblem({ frames: seen.decoded, errors: seen.errors }, frames);
  if (undecodable)
    throw new NommerError('FFMPEG_FAILED', `chunk ${req.chunk.index}: ${undecodable}`, { retriable: true });
  const st = await stat(req.dest);
  return {
    index: req.chunk.index,
    frames,
    decoded: frames,
    bytes: st.size,
    sha256: await sha256File(req.dest),
    ...(Number.isFinite(seen.duration) ? { facts: { duration: seen.duration, params: seen.params } } : {}),
    ...(decodedFromStart ? { decodedFromStart } : {}),
    ...(quality ? { quality } : {}),
  };
}

/** One encode of the chunk (from its seek, or from the start) into req.dest, looked at whole: its frame count. */
async function runChunk(run: ChunkRun, fromStart: boolean, crf: number | undefined, ref: RawReference | undefined) {
  const { req, now } = run;
  const args = [...videoChunkCommand(run.src, req.chunk, { fromStart, crf }), ...(ref?.args ?? [])];
  await rm(req.dest, { force: true });
  if (ref) await rm(ref.path, { force: true });
  const progress = new TaskProgress([1], req.chunk.duration, now());
  await runFfmpeg(req.ffmpeg.ffmpeg, args, {
    signal: req.signal,
    onSpawn: req.onSpawn,
    onProgress: (b) => req.onProgress?.(progress.update(0, b, now())),
  });
  return lookAtChunk(run);
}

/** The chunk in req.dest, counted, decoded and described by one ffprobe: its packet count. */
async function lookAtChunk(run: ChunkRun): Promise<number> {
  const { req } = run;
  run.seen = await inspectChunk(req.ffmpeg.ffprobe, req.dest, req.signal).catch((err: NommerError) => {
    throw err.code === 'INPUT_UNDECODABLE'
      ? new NommerError('INPUT_UNDECODABLE', `cannot read ${req.dest}: ${err.message}`)
      : err;
  });
  return run.seen.frames;
}

/** Encode the chunk (from its seek, else from the start) and prove its frame count. */
async function encodeExact(run: ChunkRun, crf: number | undefined, ref?: RawReference): Promise<number> {
  const { chunk } = run.req;
  let frames = await runChunk(run, run.decodedFromStart, crf, ref);
  if (frames !== chunk.frames && chunk.seek !== null && !run.decodedFromStart) {
    // The seek landed somewhere the timestamps did not line up: decode from the start (exact, slower).
    run.decodedFromStart = true;
    frames = await runChunk(run, true, crf, ref);
  }
  if (frames !== chunk.frames) {
    throw new NommerError(
      'FFMPEG_FAILED',
      `chunk ${chunk.index} has ${frames} frames, expected ${chunk.frames} (frames ${chunk.startFrame}–${chunk.endFrame - 1})`,
      {
        hint: "the input's timestamps may be broken; submit it with chunking off",
      },
    );
  }
  return frames;
}

/** The chunk's video as compiled at `crf` (the preset's own when undefined), read as it is now. */
function compiledVideo(run: ChunkRun, crf?: number) {
  return compilePieceJob(run.src, 'video', {
    inputOptions: chunkInputOptions(run.req.chunk, { fromStart: run.decodedFromStart }),
    videoFilterPrefix: chunkFilters(run.req.chunk),
    crf,
  }).outputs[0]!.video!;
}

/** Measure the chunk against its frames of the source (or the raw reference its encode wrote of them). */
function measureChunk(run: ChunkRun, crf: number | undefined, raw?: RawReference) {
  const { req } = run;
  return measureAgainstSource({
    ffmpeg: req.ffmpeg.ffmpeg,
    path: req.dest,
    input: run.src.input,
    inputOptions: chunkInputOptions(req.chunk, { fromStart: run.decodedFromStart }),
    probe: run.src.probe,
    video: compiledVideo(run, crf),
    rawReference: raw,
    signal: req.signal,
    onSpawn: req.onSpawn,
  });
}

/** The chunk encoded at the CRF a search on it (or its samples) chose, verified: its quality. */
async function encodeToTarget(run: ChunkRun, target: QualityTarget): Promise<OutputQuality> {
  const { req, src } = run;
  const enc = sampleEncoder({
    ffmpeg: req.ffmpeg.ffmpeg,
    input: src.input,
    inputOptions: chunkInputOptions(req.chunk),
    videoFilterPrefix: chunkFilters(req.chunk),
    duration: req.chunk.duration,
    probe: src.probe,
    preset: src.preset,
    encoders: src.encoders,
    target,
    workDir: dirname(req.dest),
    signal: req.signal,
    onSpawn: req.onSpawn,
  });
  try {
    const { record, final } = await reachTarget({
      target,
      start: compiledVideo(run).crf ?? 32,
      samples: enc.samples,
      capKbps: compiledVideo(run, 0).capKbps ?? null,
      probe: enc.probe,
      now: run.now,
      encodeFinal: (crf) => encodeFinal(run, enc, crf),
    });
    return { ...final.quality, search: record };
  } finally {
    await enc.dispose();
  }
}

/** The chunk's final encode at `crf`, measured: the probe's own when it ran this very command. */
async function encodeFinal(run: ChunkRun, enc: SampleEncoder, crf: number): Promise<FinalEncode> {
  const { req } = run;
  const taken = await fromProbe(run, enc, crf);
  if (taken) return { quality: taken, kbps: await averageKbps(req.dest, req.chunk.duration) };
  // The encode writes the chunk's source frames beside it, so measuring decodes only the chunk.
  const ref = await rawReference({
    dir: dirname(req.dest),
    name: `${basename(req.dest)}.reference.nut`,
    video: compiledVideo(run, crf),
    referenceStream: run.src.probe.video!.index,
    frames: req.chunk.frames,
  });
  try {
    run.frames = await encodeExact(run, crf, ref);
    return {
      quality: await measureChunk(run, crf, ref),
      kbps: await averageKbps(req.dest, req.chunk.duration),
    };
  } finally {
    if (ref) await rm(ref.path, { force: true });
  }
}

/** A short chunk is its own sample: the probe at this CRF ran the final's command, take it. */
async function fromProbe(run: ChunkRun, enc: SampleEncoder, crf: number) {
  const { req } = run;
  if (run.decodedFromStart) return undefined;
  const args = videoChunkCommand(run.src, req.chunk, { fromStart: false, crf });
  const q = await takeProbe(enc, crf, [args], req.dest);
  if (!q) return undefined;
  const n = await lookAtChunk(run);
  // Not the chunk's frames: encodeExact finds out why (it decodes from the start if need be).
  if (n !== req.chunk.frames) return undefined;
  run.frames = n;
  return q;
}

/**
 * Encode the whole audio once into req.dest (so no seam ever touches it). With a loudness target
 * the whole audio is measured here, once, and the piece is the fit's last trial; its record (as
 * measured on the piece) goes in the entry, and the assembler measures it again on the output.
 */
export async function encodeAudioPiece(
  req: PieceRequest & { duration?: number; now?: () => number },
): Promise<{ bytes: number; sha256: string; loudness?: OutputLoudness }> {
  const now = req.now ?? Date.now;
  const src = await pieceSource(req);
  const encode = async (levelFilters?: readonly string[]) => {
    await rm(req.dest, { force: true });
    const progress = new TaskProgress([1], req.duration ?? 0, now());
    await runFfmpeg(req.ffmpeg.ffmpeg, audioPieceCommand(src, levelFilters), {
      signal: req.signal,
      onSpawn: req.onSpawn,
      onProgress: (b) => req.onProgress?.(progress.update(0, b, now())),
    });
    return req.dest;
  };
  const level = await fitOutputLevel({
    ffmpeg: req.ffmpeg.ffmpeg,
    audio: src.preset.audio,
    probe: src.probe,
    input: src.input,
    encode,
    signal: req.signal,
    onSpawn: req.onSpawn,
  });
  if (!level || !('fit' in level)) await encode();
  const st = await stat(req.dest);
  if (st.size === 0) throw new NommerError('FFMPEG_FAILED', 'ffmpeg wrote no audio');
  return {
    bytes: st.size,
    sha256: await sha256File(req.dest),
    ...(level ? { loudness: pieceLoudness(level) } : {}),
  };
}
