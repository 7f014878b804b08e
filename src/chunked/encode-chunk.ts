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
import { countVideoPackets, ffmpegInputArg, probeInput } from '../ffmpeg/probe.js';
import { TaskProgress } from '../ffmpeg/progress.js';
import { runFfmpeg } from '../ffmpeg/run.js';
import type { ProbeInfo } from '../ffmpeg/types.js';
import type { Progress } from '../jobs/types.js';
import { compileJob } from '../presets/compile.js';
import type { ResolvedPreset } from '../presets/schema.js';
import type { VideoChunkParams } from './tasks.js';
import { decodeChunk, decodeProblem } from './check-chunk.js';
import {
  averageKbps,
  measureAgainstSource,
  rawReference,
  sampleEncoder,
  takeProbe,
  targetOf,
  type RawReference,
} from '../quality/encode-quality.js';
import { reachTarget } from '../quality/run-search.js';

import type { OutputQuality } from '../quality/types.js';
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

/** Encode one video chunk into req.dest; fails unless it holds exactly chunk.frames frames. */
export async function encodeVideoChunk(
  req: PieceRequest & { chunk: VideoChunkParams; now?: () => number },
): Promise<ChunkManifestEntry> {
  const now = req.now ?? Date.now;
  const src = await pieceSource(req);
  const { preset } = src;
  const target = await targetOf(preset, req.ffmpeg.ffmpeg);
  let decodedFromStart = false;
  const run = async (fromStart: boolean, crf: number | undefined, ref: RawReference | undefined) => {
    const args = [...videoChunkCommand(src, req.chunk, { fromStart, crf }), ...(ref?.args ?? [])];
    await rm(req.dest, { force: true });
    if (ref) await rm(ref.path, { force: true });
    const progress = new TaskProgress([1], req.chunk.duration, now());
    await runFfmpeg(req.ffmpeg.ffmpeg, args, {
      signal: req.signal,
      onSpawn: req.onSpawn,
      onProgress: (b) => req.onProgress?.(progress.update(0, b, now())),
    });
    return countVideoPackets(req.ffmpeg.ffprobe, req.dest, req.signal);
  };
  /** Encode the chunk (from its seek, else from the start) and prove its frame count. */
  const encodeExact = async (crf: number | undefined, ref?: RawReference) => {
    let frames = await run(decodedFromStart, crf, ref);
    if (frames !== req.chunk.frames && req.chunk.seek !== null && !decodedFromStart) {
      // The seek landed somewhere the timestamps did not line up: decode from the start (exact, slower).
      decodedFromStart = true;
      frames = await run(true, crf, ref);
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
    return frames;
  };
  const compiledVideo = (crf?: number) =>
    compilePieceJob(src, 'video', {
      inputOptions: chunkInputOptions(req.chunk, { fromStart: decodedFromStart }),
      videoFilterPrefix: chunkFilters(req.chunk),
      crf,
    }).outputs[0]!.video!;
  /** Measure the chunk against its frames of the source (or the raw reference its encode wrote of them). */
  const measureChunk = (crf: number | undefined, raw?: RawReference) =>
    measureAgainstSource({
      ffmpeg: req.ffmpeg.ffmpeg,
      path: req.dest,
      input: src.input,
      inputOptions: chunkInputOptions(req.chunk, { fromStart: decodedFromStart }),
      probe: src.probe,
      video: compiledVideo(crf),
      rawReference: raw,
      signal: req.signal,
      onSpawn: req.onSpawn,
    });

  let frames: number;
  let quality: OutputQuality | undefined;
  if (target) {
    const workDir = dirname(req.dest);
    const enc = sampleEncoder({
      ffmpeg: req.ffmpeg.ffmpeg,
      input: src.input,
      inputOptions: chunkInputOptions(req.chunk),
      videoFilterPrefix: chunkFilters(req.chunk),
      duration: req.chunk.duration,
      probe: src.probe,
      preset,
      encoders: src.encoders,
      target,
      workDir,
      signal: req.signal,
      onSpawn: req.onSpawn,
    });
    frames = 0;
    /** A short chunk is its own sample: the probe at this CRF ran the final's command, take it. */
    const fromProbe = async (crf: number) => {
      if (decodedFromStart) return undefined;
      const args = videoChunkCommand(src, req.chunk, { fromStart: false, crf });
      const q = await takeProbe(enc, crf, [args], req.dest);
      if (!q) return undefined;
      const n = await countVideoPackets(req.ffmpeg.ffprobe, req.dest, req.signal);
      // Not the chunk's frames: encodeExact finds out why (it decodes from the start if need be).
      if (n !== req.chunk.frames) return undefined;
      frames = n;
      return q;
    };
    try {
      const { record, final } = await reachTarget({
        target,
        start: compiledVideo().crf ?? 32,
        samples: enc.samples,
        capKbps: compiledVideo(0).capKbps ?? null,
        probe: enc.probe,
        now,
        encodeFinal: async (crf) => {
          const taken = await fromProbe(crf);
          if (taken) return { quality: taken, kbps: await averageKbps(req.dest, req.chunk.duration) };
          // The encode writes the chunk's source frames beside it, so measuring decodes only the chunk.
          const ref = await rawReference({
            dir: dirname(req.dest),
            name: `${basename(req.dest)}.reference.nut`,
            video: compiledVideo(crf),
            referenceStream: src.probe.video!.index,
            frames: req.chunk.frames,
          });
          try {
            frames = await encodeExact(crf, ref);
            return {
              quality: await measureChunk(crf, ref),
              kbps: await averageKbps(req.dest, req.chunk.duration),
            };
          } finally {
            if (ref) await rm(ref.path, { force: true });
          }
        },
      });
      quality = { ...final.quality, search: record };
    } finally {
      await enc.dispose();
    }
  } else {
    // Without a target only the joined output is measured (by the assembler): a chunk's own
    // scores would cost a measurement per chunk that nobody reads.
    frames = await encodeExact(undefined);
  }
  // A chunk that does not decode cleanly is never stored: the task fails, and runs again.
  const undecodable = decodeProblem(await decodeChunk(req.ffmpeg.ffmpeg, req.dest, req.signal), frames);
  if (undecodable)
    throw new NommerError('FFMPEG_FAILED', `chunk ${req.chunk.index}: ${undecodable}`, { retriable: true });
  const st = await stat(req.dest);
  return {
    index: req.chunk.index,
    frames,
    decoded: frames,
    bytes: st.size,
    sha256: await sha256File(req.dest),
    ...(decodedFromStart ? { decodedFromStart } : {}),
    ...(quality ? { quality } : {}),
  };
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
