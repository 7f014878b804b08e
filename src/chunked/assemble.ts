// The last step of a chunked job: check every chunk against the manifest (present, checksum as
// its task reported, exactly its frames), re-encode any that is missing, short or corrupt (never
// drop one), then join them and mux the audio in ONE ffmpeg run:
// - the concat demuxer with each chunk's exact duration gives exact seam timestamps;
// - `-cues_to_front 1` in that same run puts the Cues first (a second remux pass shifted video
//   7 ms against Opus and made seeks land a keyframe early; a pipe gets no Cues at all);
// - `-itsoffset` carries the source's first-frame offset, which every joined chunk loses.
// It writes to `dest`, a path the Storage port prepared; the caller commits it. Intermediates are
// removed by `cleanup`, which the caller runs once the output is committed and reported.
// Quality: the joined file is measured against the whole source (the output's own filters, frames
// by number), and carries the chunks' CRF searches (from their manifest entries) when it had a
// target; each chunk was verified and corrected on its worker, so only chunks that missed were
// ever re-encoded.
import { stat, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { NommerError, asNommerError } from '../errors.js';
import type { FfmpegInstall } from '../ffmpeg/locate.js';
import { measureOutputLoudness, noAudioLoudness, withOutputFigures, type OutputLoudness } from '../ffmpeg/loudness.js';
import { runFfmpeg } from '../ffmpeg/run.js';
import { writeWebmHdr } from '../ffmpeg/webm-hdr.js';
import type { Progress } from '../jobs/types.js';
import type { Storage } from '../ports/storage.js';
import { encodeAudioPiece, encodeVideoChunk } from './encode-chunk.js';
import { audioPieceEntry, videoChunkEntry, type ChunkManifestEntry } from './entries.js';
import { loadPiece } from '../pieces.js';
import type * as z from 'zod';
import { countVideoPackets } from '../ffmpeg/probe.js';
import type { JoinParams, VideoChunkParams } from './tasks.js';
import { removeScratch } from '../scratch.js';
import { pieceSource, wholeVideo } from './encode-chunk.js';
import { checkJoinable, chunkFacts, factsOfEntry, type ChunkFacts } from './check-chunk.js';
import { measureOutput, whyNotMeasured } from '../quality/encode-quality.js';
import { enforceGates } from '../quality/gates.js';
import type { ResolvedPreset } from '../presets/schema.js';
import {
  formatTarget,
  inWindow,
  parseTarget,
  scoreOf,
  type ChunkedSearchRecord,
  type OutputQuality,
} from '../quality/types.js';

export interface AssembleRequest {
  ffmpeg: FfmpegInstall;
  storage: Storage;
  /** The chunks (and audio) to join: an assemble task's params with its chunk list fetched. */
  params: JoinParams;
  /** The job's output preset (to re-encode a chunk). */
  preset: ResolvedPreset;
  /** The source as a local path or URL, fetched only if a piece must be re-encoded. */
  input: () => Promise<string>;
  /** Where the joined file is written (a prepared output's path). */
  dest: string;
  /** Private scratch directory for fetched pieces. */
  workDir: string;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  onSpawn?: (pid: number) => void;
  /** Told about each re-encoded piece and why. */
  onRepair?: (piece: string, why: string) => void;
}

export interface AssembleResult {
  bytes: number;
  frames: number;
  /** Pieces re-encoded here, with why. */
  repaired: Array<{ piece: string; why: string }>;
  /** The joined output's scores (and its chunks' searches under a target); absent for no video. */
  quality?: OutputQuality;
  /** The output's loudness, when its preset asks for it: measured on the joined output. */
  loudness?: OutputLoudness;
  /** Remove the intermediates (after the output is safely stored). */
  cleanup: () => Promise<void>;
}

/** A concat demuxer list: absolute paths, each chunk's exact duration (but the last's). */
export function concatList(files: ReadonlyArray<{ path: string; duration: number | null }>): string {
  const quote = (p: string) => `'${resolve(p).replace(/'/g, "'\\''")}'`;
  return `ffconcat version 1.0\n${files.map((f) => `file ${quote(f.path)}\n${f.duration === null ? '' : `duration ${f.duration.toFixed(6)}\n`}`).join('')}`;
}

/** The one joining command (arguments after the binary; the runner adds its own flags). */
export function joinArgs(o: { list: string; audio: string | null; videoOffset: number; out: string }): string[] {
  return [
    ...(o.videoOffset > 0 ? ['-itsoffset', o.videoOffset.toFixed(6)] : []),
    '-f',
    'concat',
    '-safe',
    '0',
    '-i',
    `file:${resolve(o.list)}`,
    ...(o.audio ? ['-i', `file:${resolve(o.audio)}`] : []),
    '-map',
    '0:v:0',
    ...(o.audio ? ['-map', '1:a:0'] : []),
    '-c',
    'copy',
    '-cues_to_front',
    '1',
    '-f',
    'webm',
    o.out,
  ];
}

/** Why a fetched piece cannot be used, or null when it matches what its task reported. */
async function checkPiece(
  r: AssembleRequest,
  uri: string,
  expectFrames: number | null,
): Promise<{
  path: string | null;
  why: string | null;
  entry?: ChunkEntry;
  facts?: ChunkFacts;
  loudness?: OutputLoudness;
}> {
  if (expectFrames === null) {
    const audio = await loadPiece(r.storage, uri, audioPieceEntry, r.workDir, (e) => e.sha256, r.signal);
    if ('why' in audio) return { path: null, why: audio.why };
    // The piece's loudness record (measured on the piece), measured again on the output.
    return { path: audio.path, why: null, ...(audio.entry.loudness ? { loudness: audio.entry.loudness } : {}) };
  }
  const got = await loadPiece(r.storage, uri, videoChunkEntry, r.workDir, (e) => e.sha256, r.signal);
  if ('why' in got) return { path: null, why: got.why };
  const path = got.path!;
  // Its frames here, and its duration and stream parameters for the join's check: as its entry
  // vouches for them with the checksum, else from one probe.
  const facts = factsOfEntry(got.entry) ?? (await chunkFacts(r.ffmpeg.ffprobe, path, r.signal));
  const frames = facts.frames;
  if (frames !== expectFrames)
    return { path, why: `${frames < expectFrames ? 'short' : 'long'}: ${frames} frames, expected ${expectFrames}` };
  return { path, why: null, entry: got.entry, facts };
}

export async function assembleChunks(r: AssembleRequest): Promise<AssembleResult> {
  const p = r.params;
  let input: string | undefined;
  const total = p.manifest.length + (p.audio ? 1 : 0) + 2;
  let done = 0;
  const a: Assembly = {
    r,
    repaired: [],
    source: async () => (input ??= await r.input()),
    tick: () => r.onProgress?.({ fraction: Math.min(0.99, ++done / total) }),
  };
  const chunks = await checkedChunks(a);
  const { audio, loudness } = await checkedAudio(a);
  const list = join(r.workDir, 'chunks.ffconcat');
  await writeFile(
    list,
    concatList(chunks.map((c, i) => ({ path: c.path, duration: i === chunks.length - 1 ? null : c.spec.duration }))),
  );
  try {
    return await joinPieces(a, chunks, list, audio, loudness);
  } catch (err) {
    throw asNommerError(err);
  }
}

type Chunk = { path: string; spec: VideoChunkParams; entry?: ChunkEntry; facts?: ChunkFacts };

/**
 * What the steps of one assembly share: the pieces re-encoded so far (in order, which also names
 * the repair files), the source (fetched once, and only if a piece must be re-encoded), and the
 * progress count.
 */
interface Assembly {
  r: AssembleRequest;
  repaired: AssembleResult['repaired'];
  source: () => Promise<string>;
  tick: () => void;
}

/** A chunk that cannot be used, encoded again here from the source. */
async function repairChunk(a: Assembly, spec: VideoChunkParams, why: string): Promise<Chunk> {
  const { r, repaired } = a;
  const piece = `chunk ${spec.index}`;
  repaired.push({ piece, why });
  r.onRepair?.(piece, why);
  const path = join(r.workDir, `repair-${spec.index}-${repaired.length}.webm`);
  const entry = await encodeVideoChunk({
    ffmpeg: r.ffmpeg,
    input: await a.source(),
    preset: r.preset,
    dest: path,
    chunk: spec,
    signal: r.signal,
    onSpawn: r.onSpawn,
  });
  return { path, spec, entry, facts: factsOfEntry(entry) };
}

/** Every chunk of the manifest, checked against its entry and as a sibling of the others; any that fails re-encoded. */
async function checkedChunks(a: Assembly): Promise<Chunk[]> {
  const { r } = a;
  const chunks: Chunk[] = [];
  for (const spec of r.params.manifest) {
    const { path, why, entry, facts } = await checkPiece(r, spec.uri, spec.frames);
    chunks.push(why ? await repairChunk(a, spec, why) : { path: path!, spec, entry, facts });
    a.tick();
  }
  // Decode, duration, and the same stream parameters as the siblings: a chunk that fails is encoded again.
  await checkJoinable(r.ffmpeg, chunks, (spec, why) => repairChunk(a, spec, why), r.signal);
  return chunks;
}

/**
 * The audio piece, checked or re-encoded, with its loudness record (measured on the piece, and
 * measured again on the output once joined); with no audio, the record of none when the preset asks.
 */
async function checkedAudio(a: Assembly): Promise<{ audio: string | null; loudness?: OutputLoudness }> {
  const { r } = a;
  const p = r.params;
  if (!p.audio) {
    const target = r.preset.audio?.loudness;
    return { audio: null, ...(target ? { loudness: noAudioLoudness(target) } : {}) };
  }
  const c = await checkPiece(r, p.audio.uri, null);
  let audio = c.path;
  let loudness = c.loudness;
  if (c.why) {
    a.repaired.push({ piece: 'audio', why: c.why });
    r.onRepair?.('audio', c.why);
    audio = join(r.workDir, 'repair-audio.webm');
    ({ loudness } = await encodeAudioPiece({
      ffmpeg: r.ffmpeg,
      input: await a.source(),
      preset: r.preset,
      dest: audio,
      signal: r.signal,
      onSpawn: r.onSpawn,
    }));
  }
  a.tick();
  return { audio, loudness };
}

/** The one joining run, then the joined file checked (its frames), measured (quality, loudness) and described. */
async function joinPieces(
  a: Assembly,
  chunks: readonly Chunk[],
  list: string,
  audio: string | null,
  audioLoudness: OutputLoudness | undefined,
): Promise<AssembleResult> {
  const { r } = a;
  const p = r.params;
  const dest = resolve(r.dest);
  let loudness = audioLoudness;
  await runFfmpeg(r.ffmpeg.ffmpeg, joinArgs({ list, audio, videoOffset: p.videoOffset, out: dest }), {
    signal: r.signal,
    onSpawn: r.onSpawn,
  });
  const whole = await wholeOutput(r, dest, a.source);
  // A kept HDR source's static metadata into the joined WebM's Colour, as a whole-file encode's
  // (each chunk is 10-bit and tagged, but ffmpeg 5.1 writes no MasteringMetadata for any).
  const hdr = whole?.video.hdr;
  if (hdr?.mode === 'kept' && whole?.src.probe.video?.hdr) await writeWebmHdr(dest, whole.src.probe.video.hdr);
  a.tick();
  const frames = await countVideoPackets(r.ffmpeg.ffprobe, dest, r.signal);
  if (frames !== p.totalFrames)
    throw new NommerError('FFMPEG_FAILED', `the joined video has ${frames} frames, expected ${p.totalFrames}`, {
      retriable: true,
    });
  const measured = whole ? await joinedQuality(r, dest, whole, chunks) : undefined;
  const quality = measured && hdr ? { ...measured, hdr } : measured;
  if (loudness && !('skipped' in loudness))
    loudness = withOutputFigures(
      loudness,
      await measureOutputLoudness(r.ffmpeg.ffmpeg, `file:${dest}`, { signal: r.signal, onSpawn: r.onSpawn }),
    );
  a.tick();
  const bytes = (await stat(dest)).size;
  r.onProgress?.({ fraction: 1, etaSeconds: 0 });
  return {
    bytes,
    frames,
    repaired: a.repaired,
    ...(quality ? { quality } : {}),
    ...(loudness ? { loudness } : {}),
    cleanup: () => removeScratch(r.storage, p),
  };
}

/** The source, probed, and the output's video as compiled for the whole of it; undefined when
 * the output has no video. */
async function wholeOutput(r: AssembleRequest, dest: string, source: () => Promise<string>) {
  const preset = r.preset;
  if (!preset.video) return undefined;
  const src = await pieceSource({ ffmpeg: r.ffmpeg, input: await source(), preset, dest, signal: r.signal });
  return { preset, src, video: wholeVideo(src) };
}

/** The joined output measured against the whole source, with its chunks' searches. */
async function joinedQuality(
  r: AssembleRequest,
  dest: string,
  whole: NonNullable<Awaited<ReturnType<typeof wholeOutput>>>,
  chunks: ReadonlyArray<{ spec: VideoChunkParams; entry?: ChunkEntry }>,
): Promise<OutputQuality> {
  const { preset, src, video } = whole;
  const gated = (q: OutputQuality) => enforceGates(q, preset.quality?.gates, `the output (${preset.name})`);
  const why = whyNotMeasured(preset, src.probe, video);
  if (why) return gated({ skipped: why });
  const measured = await measureOutput({
    ffmpeg: r.ffmpeg.ffmpeg,
    input: src.input,
    probe: src.probe,
    video,
    path: dest,
    signal: r.signal,
  });
  const text = preset.quality?.target;
  if (!text) return gated(measured);
  const target = parseTarget(text);
  // A chunk's own search (one without, as a repaired chunk may be, has none to give).
  const records = chunks.flatMap((c) => {
    const s = c.entry?.quality?.search;
    return s && !('chunks' in s) ? [{ index: c.spec.index, ...s }] : [];
  });
  const score = scoreOf(measured, target);
  const search: ChunkedSearchRecord = {
    target: formatTarget(target),
    chunks: records,
    seconds: Math.round(records.reduce((s, c) => s + (c.seconds ?? 0), 0) * 1000) / 1000,
    reached: score !== undefined && inWindow(target, score),
  };
  return gated({ ...measured, search });
}

/** A chunk's entry: as read back (a re-encoded chunk's is as written). */
type ChunkEntry = z.infer<typeof videoChunkEntry> | ChunkManifestEntry;
