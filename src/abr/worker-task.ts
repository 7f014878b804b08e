// What a worker does with the tasks of an adaptive-streaming package (see tasks.ts): encode one
// rendition, the audio, or the extras into the job's scratch prefix, each with a manifest entry
// that vouches for it; or package them. Packaging checks every piece against its entry and
// re-encodes any that is missing or corrupt (never drops one), muxes them all in ONE ffmpeg run of
// the dash muxer (CMAF segments, manifest.mpd, and master.m3u8 over the same segments, stream
// copy), lists the subtitles in both manifests, and commits the package's files all or none:
// segments first and the manifests last, so a manifest never names a segment not yet there.
import { copyFile, mkdir, readdir, readFile, rm, rmdir, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NommerError } from '../errors.js';
import { ffmpegCapabilities, type FfmpegInstall } from '../ffmpeg/locate.js';
import {
  fitOutputLevel,
  measureOutputLoudness,
  pieceLoudness,
  noAudioLoudness,
  withOutputFigures,
  type OutputLoudness,
} from '../ffmpeg/loudness.js';
import { ffmpegInputArg, probeInput } from '../ffmpeg/probe.js';
import { TaskProgress } from '../ffmpeg/progress.js';
import { runFfmpeg } from '../ffmpeg/run.js';
import type { HdrInfo, OutputHdr, ProbeInfo } from '../ffmpeg/types.js';
import { vp9CodecsString, writeInitHdr } from '../ffmpeg/mp4-hdr.js';
import { writeWebmHdr } from '../ffmpeg/webm-hdr.js';
import { withCodecs, withColourProperties, withVideoRange } from './hdr.js';
import { sha256File } from '../hash.js';
import type { Progress } from '../jobs/types.js';
import {
  commitAllUndoable,
  discardAll,
  type CommittedSet,
  type PreparedOutput,
  type Storage,
} from '../ports/storage.js';
import { compileJob } from '../presets/compile.js';
import type { ResolvedPreset } from '../presets/schema.js';
import { packagePieces, type JoinParams, type PackagePieces } from '../tasks/params.js';
import { isLocalUri, localPathOf } from '../uri.js';
import { lazyInput, type TaskContext, type TaskRun } from '../worker/task-context.js';
import {
  addSubtitlesToDash,
  addSubtitlesToHls,
  extractSubtitles,
  makeThumbnails,
  probeSubtitles,
  shiftVtt,
} from './extras.js';
import { abrOf, audioPreset, mainVideo, packageVideo, renditionPreset, rungApplies, rungName } from './ladder.js';
import {
  DASH_MANIFEST,
  HLS_MANIFEST,
  PACKAGE_INDEX,
  extrasFileUri,
  type AbrAudioParams,
  type ExtrasParams,
  type PackageParams,
  type RenditionChunkParams,
  type RenditionParams,
} from './tasks.js';
import type { PackageInfo, RenditionInfo } from './types.js';
import { ratesOf, segmentsOf, vodPlaylist, withBandwidths, type SegmentRates } from './hls.js';
import { fetchPinned, fetchRecord, loadPiece, readEntry, storePiece, tryFetch } from '../pieces.js';
import {
  extrasEntry,
  packageAudioEntry,
  packageIndex,
  renditionEntry,
  type ExtrasEntry,
  type PackageAudioEntry,
  type PackageIndex,
  type RenditionEntry,
} from './entries.js';
import { packageFileUri, removePackageScratch } from '../scratch.js';

export { DASH_MANIFEST, HLS_MANIFEST, PACKAGE_INDEX } from './tasks.js';

interface PieceEnv {
  ffmpeg: FfmpegInstall;
  /** The source, as a local path or URL, fetched when first needed. */
  input: () => Promise<string>;
  preset: ResolvedPreset;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** A local run's probes of the source, shared by its tasks (TaskContext.sourceProbes). */
  sourceProbes?: Map<string, Promise<ProbeInfo>>;
}

async function probeSource(env: PieceEnv): Promise<{ input: string; probe: ProbeInfo }> {
  const input = await env.input();
  const probing = env.sourceProbes?.get(input) ?? probeInput(env.ffmpeg.ffprobe, input, { signal: env.signal });
  env.sourceProbes?.set(input, probing);
  return { input, probe: await probing };
}

/** Run one compiled ffmpeg command with progress over `duration` seconds of media. */
async function runOne(env: PieceEnv, args: string[], duration: number): Promise<void> {
  const progress = new TaskProgress([1], duration, Date.now());
  await runFfmpeg(env.ffmpeg.ffmpeg, args, {
    signal: env.signal,
    onProgress: (b) => env.onProgress?.(progress.update(0, b, Date.now())),
  });
}

/** Encode one rung into `dest`; an entry that says `skipped` when the rung is taller than the source. */
export async function encodeRendition(env: PieceEnv, rung: number, dest: string): Promise<RenditionEntry> {
  const { input, probe } = await probeSource(env);
  const v = packageVideo(probe, env.preset);
  if (!rungApplies(env.preset, v, rung))
    return {
      kind: 'rendition',
      rung,
      skipped: true,
      why: `the source is ${v.displayWidth}x${v.displayHeight}: a ${rungName(rung)} rendition would upscale it`,
    };
  const caps = await ffmpegCapabilities(env.ffmpeg.ffmpeg);
  const compiled = compileJob({
    input: ffmpegInputArg(input),
    probe,
    outputs: [{ preset: renditionPreset(env.preset, rung), path: dest }],
    encoders: caps.encoders,
    passlogDir: tmpdir(),
  });
  const video = compiled.outputs[0]!.video!;
  await rm(dest, { force: true });
  await runOne(env, compiled.commands[0]!.args, probe.duration);
  const st = await stat(dest);
  if (st.size === 0) throw new NommerError('FFMPEG_FAILED', `ffmpeg wrote an empty ${rungName(rung)} rendition`);
  // The rung carries a kept HDR source's static metadata in its Colour, whence packaging takes it.
  if (video.hdr?.mode === 'kept' && probe.video?.hdr) await writeWebmHdr(dest, probe.video.hdr);
  return {
    kind: 'rendition',
    rung,
    width: video.width,
    height: video.height,
    codec: video.codec,
    encoder: video.encoder,
    ...(video.crf !== undefined ? { crf: video.crf } : {}),
    ...(video.rate ? { maxKbps: video.rate.maxKbps } : {}),
    keyframeFrames: video.keyframeFrames,
    duration: probe.duration,
    bytes: st.size,
    sha256: await sha256File(dest),
  };
}

/**
 * The package's time origin is its first video frame: the renditions start there (the packaging
 * run zeroes each input), so the audio must too — its lead over the video trimmed, its lag padded
 * with silence. Without this an MPEG-TS source whose audio starts 1 s before its video played the
 * video 1 s early. Empty when they start together (or there is no video).
 */
export function audioAlignment(probe: ProbeInfo): string[] {
  const v = mainVideo(probe);
  if (!v || !probe.audio) return [];
  const lag = probe.audio.startTime - v.startTime;
  if (Math.abs(lag) < 0.001) return [];
  return lag < 0
    ? ['asetpts=PTS-STARTPTS', `atrim=start=${(-lag).toFixed(6)}`, 'asetpts=PTS-STARTPTS']
    : ['asetpts=PTS-STARTPTS', `adelay=delays=${Math.round(lag * 1000)}:all=1`];
}

/** How far the first video frame is past the source's start (subtitles are timed from the start). */
export function videoLead(probe: ProbeInfo): number {
  const v = mainVideo(probe);
  if (!v) return 0;
  const start = Math.min(v.startTime, probe.audio?.startTime ?? v.startTime);
  return Math.max(0, v.startTime - start);
}

/** Encode the audio once into `dest`; an entry that says `none` when there is no audio to package.
 * With a loudness target the whole audio is measured here, once (ffmpeg/loudness.ts): the piece
 * is the fit's last trial, and its record goes in the entry for the package to measure again. */
export async function encodePackageAudio(env: PieceEnv, dest: string): Promise<PackageAudioEntry> {
  const { input, probe } = await probeSource(env);
  if (!probe.audio || !env.preset.audio) return { kind: 'abr-audio', none: true };
  const caps = await ffmpegCapabilities(env.ffmpeg.ffmpeg);
  const compile = (levelFilters?: readonly string[]) =>
    compileJob({
      input: ffmpegInputArg(input),
      probe,
      audioFilterPrefix: audioAlignment(probe),
      outputs: [{ preset: audioPreset(env.preset), path: dest, levelFilters }],
      encoders: caps.encoders,
      passlogDir: tmpdir(),
    });
  const compiled = compile();
  const encode = async (levelFilters?: readonly string[]) => {
    await rm(dest, { force: true });
    await runOne(env, compile(levelFilters).commands[0]!.args, probe.duration);
    return dest;
  };
  const level = await fitOutputLevel({
    ffmpeg: env.ffmpeg.ffmpeg,
    audio: env.preset.audio,
    probe,
    input: ffmpegInputArg(input),
    filterPrefix: audioAlignment(probe),
    encode,
    signal: env.signal,
  });
  if (!level || !('fit' in level)) await encode();
  const st = await stat(dest);
  if (st.size === 0) throw new NommerError('FFMPEG_FAILED', 'ffmpeg wrote no audio');
  const a = compiled.outputs[0]!.audio!;
  return {
    kind: 'abr-audio',
    codec: a.codec,
    channels: a.channels,
    kbps: a.bitrateKbps,
    bytes: st.size,
    sha256: await sha256File(dest),
    ...(level ? { loudness: pieceLoudness(level) } : {}),
  };
}

/** Make the extras (poster, seek thumbnails, WebVTT subtitles) in `dir`; the index lists them. */
export async function makeExtras(env: PieceEnv, dir: string): Promise<ExtrasEntry> {
  const abr = abrOf(env.preset);
  const { input, probe } = await probeSource(env);
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  let subtitles: ExtrasEntry['subtitles'] = [];
  let skipped: ExtrasEntry['skippedSubtitles'] = [];
  if (abr.subtitles) {
    const streams = await probeSubtitles(env.ffmpeg.ffprobe, input, env.signal);
    if (streams.length) {
      const r = await extractSubtitles({ ffmpeg: env.ffmpeg, input, dir, streams, signal: env.signal });
      // Timed from the package's origin, the first video frame.
      const lead = videoLead(probe);
      if (lead > 0)
        for (const t of r.tracks) {
          const path = join(dir, t.file);
          await writeFile(path, shiftVtt(await readFile(path, 'utf8'), -lead));
        }
      subtitles = r.tracks;
      skipped = r.skipped;
      files.push(...r.tracks.map((t) => t.file));
    }
  }
  let poster: string | null = null;
  let thumbnails: ExtrasEntry['thumbnails'] = null;
  const v = mainVideo(probe);
  if (v && (abr.poster || abr.thumbnailSeconds > 0)) {
    const t = await makeThumbnails({
      ffmpeg: env.ffmpeg,
      input,
      duration: probe.duration,
      displayWidth: v.displayWidth,
      displayHeight: v.displayHeight,
      dir,
      everySeconds: abr.thumbnailSeconds > 0 ? abr.thumbnailSeconds : Math.max(1, probe.duration),
      tileWidth: abr.thumbnailWidth,
      signal: env.signal,
    });
    if (abr.poster) {
      poster = t.poster;
      files.push(t.poster);
    } else await rm(join(dir, t.poster), { force: true });
    if (abr.thumbnailSeconds > 0) {
      thumbnails = { vtt: t.vtt, sprites: t.sprites, tile: t.tile, count: t.count };
      files.push(t.vtt, ...t.sprites);
    } else for (const f of [t.vtt, ...t.sprites]) await rm(join(dir, f), { force: true });
  }
  const sums: Record<string, string> = {};
  for (const f of files) sums[f] = await sha256File(join(dir, f));
  return { kind: 'extras', files, sha256: sums, subtitles, skippedSubtitles: skipped, poster, thumbnails };
}

/** What a package's piece needs from its task: the preset, the input fetched when first needed. */
async function envOf(ctx: TaskContext): Promise<PieceEnv> {
  await ctx.phase('encoding');
  const preset = ctx.task.outputs[0]!.preset;
  return {
    ffmpeg: ctx.ffmpeg,
    input: lazyInput(ctx),
    preset,
    signal: ctx.signal,
    onProgress: ctx.onProgress,
    ...(ctx.sourceProbes ? { sourceProbes: ctx.sourceProbes } : {}),
  };
}

/** A rung encoded whole (or only an entry saying why not: a rung taller than the source). */
export async function runRendition(
  ctx: TaskContext,
  p: RenditionParams,
): Promise<TaskRun & { result: RenditionEntry }> {
  const env = await envOf(ctx);
  const local = join(ctx.scratch, `rendition-${rungName(p.rung)}.webm`);
  const entry = await encodeRendition(env, p.rung, local);
  await storePiece(ctx, entry.skipped ? null : local, p.uri, entry);
  return { outputs: [], result: entry };
}

/** A package's rung as a preset of its own: what a chunk of that rung is encoded with (its runner
 * is a chunked job's video chunk's: worker/runners.ts). */
export function rungPreset(ctx: Pick<TaskContext, 'task'>, rung: number): ResolvedPreset {
  return renditionPreset(ctx.task.outputs[0]!.preset, rung);
}

/**
 * Joins a chunked rung's chunks into one rendition, each checked and a bad one re-encoded: a
 * chunked job's assembler (chunked/assemble.ts), passed in by worker/runners.ts so that packages
 * and chunked jobs do not import each other.
 */
export type JoinChunks = (r: {
  ffmpeg: FfmpegInstall;
  storage: Storage;
  params: JoinParams;
  preset: ResolvedPreset;
  input: () => Promise<string>;
  dest: string;
  workDir: string;
  signal?: AbortSignal;
  onRepair?: (piece: string, why: string) => void;
}) => Promise<unknown>;

export async function runPackageAudio(
  ctx: TaskContext,
  p: AbrAudioParams,
): Promise<TaskRun & { result: PackageAudioEntry }> {
  const env = await envOf(ctx);
  const local = join(ctx.scratch, 'audio.webm');
  const entry = await encodePackageAudio(env, local);
  await storePiece(ctx, entry.none ? null : local, p.uri, entry);
  return { outputs: [], result: entry };
}

/** The extras' files, stored beside their entry, then the entry. */
export async function runExtras(
  ctx: TaskContext,
  p: ExtrasParams,
): Promise<TaskRun & { result: { kind: 'extras'; files: number } }> {
  const env = await envOf(ctx);
  const dir = join(ctx.scratch, 'extras');
  const entry = await makeExtras(env, dir);
  await ctx.beforeCommit();
  for (const f of entry.files)
    await ctx.storage.store(join(dir, f), extrasFileUri(p.uri, f), { overwrite: true, signal: ctx.signal });
  await storePiece(ctx, null, p.uri, entry);
  return { outputs: [], result: { kind: 'extras', files: entry.files.length } };
}

// ---- packaging -------------------------------------------------------------------------------

/** The one packaging command: every rendition's video and the audio, copied into CMAF segments
 * with a DASH manifest and HLS playlists over the same segments. */
export function packageArgs(o: {
  renditions: readonly string[];
  audio: string | null;
  segmentSeconds: number;
  outDir: string;
  /** The ladder's one display aspect (see displayAspect), or null to keep the streams' own. */
  aspect: string | null;
}): string[] {
  const inputs = [...o.renditions, ...(o.audio ? [o.audio] : [])].flatMap((f) => ['-i', `file:${f}`]);
  const maps = o.renditions.flatMap((_, i) => ['-map', `${i}:v:0`]);
  const aspect = o.aspect ? o.renditions.flatMap((_, i) => [`-aspect:v:${i}`, o.aspect!]) : [];
  const audioMap = o.audio ? ['-map', `${o.renditions.length}:a:0`] : [];
  return [
    ...inputs,
    ...maps,
    ...audioMap,
    '-c',
    'copy',
    ...aspect,
    '-map_metadata',
    '-1',
    '-f',
    'dash',
    '-dash_segment_type',
    'mp4',
    '-seg_duration',
    String(o.segmentSeconds),
    '-use_template',
    '1',
    '-use_timeline',
    '1',
    '-hls_playlist',
    '1',
    '-adaptation_sets',
    o.audio ? 'id=0,streams=v id=1,streams=a' : 'id=0,streams=v',
    join(o.outDir, DASH_MANIFEST),
  ];
}

/**
 * The display aspect every rendition is labelled with: the largest one's own, reduced. ffmpeg's
 * dash muxer demands one exact display aspect per adaptation set, and even sizes rarely have it
 * (240 lines of a 16:9 picture are 426.67 wide): the smaller renditions then carry a pixel aspect
 * a fraction of a percent from square (426x240 gets 640:639), where ffmpeg's `-s` gave 160:213.
 */
export function displayAspect(sizes: ReadonlyArray<{ width: number; height: number }>): string | null {
  if (sizes.length === 0) return null;
  const top = sizes.reduce((a, b) => (b.width * b.height > a.width * a.height ? b : a));
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b));
  const g = gcd(top.width, top.height);
  return `${top.width / g}:${top.height / g}`;
}

/** The files of the package already at `dir` (from its index), or none. */
async function previousPackage(storage: Storage, dir: string, work: string, signal?: AbortSignal): Promise<string[]> {
  await mkdir(join(work, 'previous'), { recursive: true });
  const index = await fetchRecord(
    storage,
    packageFileUri(dir, PACKAGE_INDEX),
    packageIndex,
    join(work, 'previous'),
    signal,
  );
  return index?.files ?? [];
}

/** Files of a package prepared and committed at once (a 2-hour title is ~10k objects on S3). */
const COMMIT_LANES = 8;

/** Run `fn` over `items`, `lanes` at a time; the first failure stops new starts and is thrown. */
async function inLanes<T>(items: readonly T[], lanes: number, fn: (x: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const lane = async () => {
    while (!failed && next < items.length) {
      const x = items[next++]!;
      try {
        await fn(x);
      } catch (err) {
        failed = true;
        throw err;
      }
    }
  };
  const results = await Promise.allSettled(Array.from({ length: Math.min(lanes, items.length) }, lane));
  const bad = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (bad) throw bad.reason;
}

/** The commit order in groups: segments (any order among them), then media playlists, then the
 * manifests, then the index. */
function commitGroups(files: readonly string[]): string[][] {
  const groups = new Map<number, string[]>();
  for (const f of commitOrder([...files])) {
    const r = commitRank(f);
    groups.set(r, [...(groups.get(r) ?? []), f]);
  }
  return [...groups.entries()].sort((a, b) => a[0] - b[0]).map(([, g]) => g);
}

/**
 * Commit the groups in order, each group's files several at a time, all or none: on a failure
 * everything already in place is taken back. The way back is kept for the worker loop (its undo
 * if the task's end cannot be reported).
 */
async function commitPackage(groups: PreparedOutput[][], signal?: AbortSignal): Promise<CommittedSet> {
  const sets: CommittedSet[] = [];
  try {
    for (const g of groups)
      await inLanes(g, COMMIT_LANES, async (po) => {
        sets.push(await commitAllUndoable([po], { signal }));
      });
  } catch (err) {
    for (const c of [...sets].reverse()) await c.undo().catch(() => undefined);
    await discardAll(groups.flat());
    throw err;
  }
  return {
    results: sets.flatMap((c) => c.results),
    undo: async () => {
      let first: unknown;
      for (const c of [...sets].reverse())
        await c.undo().catch((e) => {
          first ??= e;
        });
      if (first !== undefined) throw first;
    },
    finish: async () => {
      await Promise.all(sets.map((c) => c.finish()));
    },
  };
}

function commitRank(f: string): number {
  if (f === PACKAGE_INDEX) return 3;
  if (f === DASH_MANIFEST || f === HLS_MANIFEST) return 2;
  return f.endsWith('.m3u8') || f.endsWith('.mpd') ? 1 : 0;
}

/** Manifests last: a player that finds one finds every segment it names. */
function commitOrder(files: string[]): string[] {
  return [...files].sort((a, b) => commitRank(a) - commitRank(b) || a.localeCompare(b));
}

/** A rendition's video, ready to package: its file and what packaging and the record need. */
interface RungVideo {
  path: string;
  rung: number;
  width: number;
  height: number;
  codec: string;
  duration: number;
  /** An HDR rung: its transfer and static metadata, as its WebM carries them. */
  hdr?: HdrInfo;
  bitDepth?: number;
}

function hdrOfRung(probe: ProbeInfo): Pick<RungVideo, 'hdr' | 'bitDepth'> {
  const v = probe.video;
  return v?.hdr ? { hdr: v.hdr, bitDepth: v.bitDepth } : {};
}

/** Every rung's video, each checked; any that cannot be used is made again here. */
async function renditionsOf(
  ctx: TaskContext,
  joinChunks: JoinChunks,
  p: PackageParams,
  pieces: PackagePieces['renditions'],
  preset: ResolvedPreset,
  env: PieceEnv,
  input: () => Promise<string>,
  work: string,
): Promise<RungVideo[]> {
  const renditions: RungVideo[] = [];
  const chunked = pieces.filter((r): r is RenditionChunkParams => r.kind === 'rendition-chunk');
  for (const rung of [...new Set(chunked.map((c) => c.rung))]) {
    const own = chunked.filter((c) => c.rung === rung);
    renditions.push(await joinedRung(ctx, joinChunks, p, own, rung, preset, input, work));
  }
  for (const r of pieces) {
    if (r.kind !== 'rendition') continue;
    const video = await storedRung(ctx, r, env, work);
    if (video) renditions.push(video);
  }
  return renditions;
}

/** A chunked rung: its chunks checked (and any bad one re-encoded) and joined, as any chunked job's. */
async function joinedRung(
  ctx: TaskContext,
  joinChunks: JoinChunks,
  p: PackageParams,
  chunks: readonly RenditionChunkParams[],
  rung: number,
  preset: ResolvedPreset,
  input: () => Promise<string>,
  work: string,
): Promise<RungVideo> {
  const path = join(work, `joined-${rungName(rung)}.webm`);
  const own = chunks.map((c) => ({ ...c, kind: 'video' as const }));
  await mkdir(join(work, rungName(rung)), { recursive: true });
  await joinChunks({
    ffmpeg: ctx.ffmpeg,
    storage: ctx.storage,
    params: {
      manifest: own,
      audio: null,
      videoOffset: p.videoOffset ?? 0,
      totalFrames: p.totalFrames ?? own.reduce((n, c) => n + c.frames, 0),
      scratch: p.scratch,
    },
    preset: renditionPreset(preset, rung),
    input,
    dest: path,
    workDir: join(work, rungName(rung)),
    signal: ctx.signal,
    onRepair: (piece, why) => ctx.onRepair?.(`${rungName(rung)} ${piece}`, why),
  });
  const probe = await probeInput(ctx.ffmpeg.ffprobe, path, { signal: ctx.signal });
  if (!probe.video) throw new NommerError('FFMPEG_FAILED', `the joined ${rungName(rung)} rendition has no video`);
  const { width, height } = probe.video;
  return {
    path,
    rung,
    width,
    height,
    codec: preset.video!.codec,
    duration: probe.duration,
    ...hdrOfRung(probe),
  };
}

/** A rung encoded whole: fetched and checked, or encoded again here; null for a rung its task skipped. */
async function storedRung(
  ctx: TaskContext,
  r: RenditionParams,
  env: PieceEnv,
  work: string,
): Promise<RungVideo | null> {
  let got = await loadPiece(ctx.storage, r.uri, renditionEntry, work, (e) => (e.skipped ? null : e.sha256), ctx.signal);
  if ('why' in got) {
    ctx.onRepair?.(`rendition ${rungName(r.rung)}`, got.why);
    const local = join(work, `again-${rungName(r.rung)}.webm`);
    const entry = await encodeRendition(env, r.rung, local);
    got = { entry, path: entry.skipped ? null : local };
  }
  const e = got.entry;
  if (!got.path || e.skipped) return null;
  return {
    path: got.path,
    rung: e.rung,
    width: e.width,
    height: e.height,
    codec: e.codec,
    duration: e.duration,
    ...hdrOfRung(await probeInput(ctx.ffmpeg.ffprobe, got.path, { signal: ctx.signal })),
  };
}

/**
 * An HDR ladder's signals, which the dash muxer leaves out: each rung's static metadata in its
 * init segment (stream i is rendition i), VIDEO-RANGE in the HLS master, the colour descriptors in
 * the MPD, VP9's codecs string in full in both. What the package kept, for its record; undefined
 * for SDR.
 */
async function signalHdr(outDir: string, renditions: readonly RungVideo[]): Promise<OutputHdr | undefined> {
  const first = renditions[0]?.hdr;
  if (renditions.some((r) => r.hdr?.transfer !== first?.transfer))
    throw new NommerError('INTERNAL', 'the rungs of a package differ in HDR transfer', {
      hint: 'every rung is encoded with one preset from one source; report it with the preset used',
    });
  if (!first) return undefined;
  // The short codecs string ffmpeg wrote (what the init says, less its colour) -> the full one.
  const full = new Map<string, string>();
  for (const [i, r] of renditions.entries()) {
    const init = join(outDir, `init-stream${i}.m4s`);
    await writeInitHdr(init, r.hdr!);
    const codecs = vp9CodecsString(await readFile(init));
    if (codecs) full.set(codecs.split('.').slice(0, 4).join('.'), codecs);
  }
  const mpd = join(outDir, DASH_MANIFEST);
  await writeFile(mpd, withCodecs(withColourProperties(await readFile(mpd, 'utf8'), first.transfer), full));
  const master = join(outDir, HLS_MANIFEST);
  await writeFile(master, withCodecs(withVideoRange(await readFile(master, 'utf8'), first.transfer), full));
  const all = <K extends 'masteringDisplay' | 'contentLight'>(k: K) => renditions.every((r) => Boolean(r.hdr?.[k]));
  return {
    source: first.transfer,
    mode: 'kept',
    transfer: first.transfer,
    bitDepth: renditions.every((r) => r.bitDepth === 10) ? 10 : 8,
    masteringDisplay: all('masteringDisplay'),
    contentLight: all('contentLight'),
  };
}

/** The extras, fetched and checked, or made again here. */
async function extrasOf(
  ctx: TaskContext,
  p: PackageParams,
  env: PieceEnv,
  work: string,
): Promise<{ extras: ExtrasEntry; extrasDir: string }> {
  const extrasDir = join(work, 'extras');
  const entry = await readEntry(ctx.storage, p.extras.uri, extrasEntry, work, ctx.signal);
  if (entry && (await fetchExtras(ctx, p.extras.uri, entry, extrasDir))) return { extras: entry, extrasDir };
  ctx.onRepair?.('extras', entry ? 'a file of it is missing or corrupt' : 'its manifest entry is missing');
  const again = join(work, 'extras-again');
  return { extras: await makeExtras(env, again), extrasDir: again };
}

export async function runPackageTask(
  ctx: TaskContext,
  p: PackageParams,
  joinChunks: JoinChunks,
): Promise<TaskRun<ReturnType<typeof packageResult>>> {
  const { task } = ctx;
  const out = task.outputs[0]!;
  const env = await envOf(ctx);
  const { preset, input } = env;
  const abr = abrOf(preset);
  const manifestUri = packageFileUri(out.uri, DASH_MANIFEST);
  await ctx.storage.checkOutput(manifestUri, { overwrite: task.force });
  const work = join(ctx.scratch, 'pieces');
  const outDir = join(ctx.scratch, 'package');
  await mkdir(work, { recursive: true });
  await mkdir(outDir, { recursive: true });

  const pieces = (await fetchPinned(ctx.storage, p.pieces, packagePieces, work, ctx.signal)).renditions;
  const renditions = await renditionsOf(ctx, joinChunks, p, pieces, preset, env, input, work);
  if (renditions.length === 0)
    throw new NommerError('INTERNAL', 'the package has no rendition (every rung was skipped)');
  const audio = await audioOf(ctx, p, env, work);
  const { extras, extrasDir } = await extrasOf(ctx, p, env, work);

  await ctx.phase('encoding');
  const duration = Math.max(...renditions.map((r) => r.duration));
  await runFfmpeg(
    ctx.ffmpeg.ffmpeg,
    packageArgs({
      renditions: renditions.map((r) => r.path),
      audio: audio.path,
      segmentSeconds: abr.segmentSeconds,
      outDir,
      aspect: displayAspect(renditions),
    }),
    { signal: ctx.signal },
  );

  const hdr = await signalHdr(outDir, renditions);
  await addExtras(outDir, extras, extrasDir, duration);
  await finishHls(outDir);
  const indexSha256 = await writePackageIndex(outDir, preset.name, abr.segmentSeconds);
  const files = commitOrder(await readdir(outDir));
  const info = {
    ...(await describe(outDir, files, renditions, audio.entry, extras, abr.segmentSeconds, duration)),
    ...(hdr ? { hdr } : {}),
  };
  const loudness = await packageLoudness(ctx, preset, audio.entry, outDir, renditions.length);
  const previous = task.force ? await previousPackage(ctx.storage, out.uri, work, ctx.signal) : [];
  const stale = previous.filter((f) => !files.includes(f));
  await ctx.phase('uploading');
  await ctx.beforeCommit();
  const committed = await commitPackageFiles(ctx, out.uri, outDir, files);
  const bytes = committed.results.reduce((s, r) => s + r.bytes, 0);
  return {
    outputs: [{ uri: out.uri, bytes }],
    committed,
    result: {
      ...packageResult(out.uri, info, indexSha256, Math.max(...renditions.map((r) => r.height)) || null),
      ...(loudness ? { loudness: [{ uri: out.uri, loudness }] } : {}),
    },
    cleanup: async () => {
      // Files of the package this one replaced that it does not have (segments past its end, rungs it lacks).
      for (const f of stale) await ctx.storage.remove(packageFileUri(out.uri, f)).catch(() => undefined);
      await removePackageScratch(ctx.storage, p, pieces);
    },
  };
}

/** The audio piece, fetched and checked, or made again here (never dropped). */
async function audioOf(
  ctx: TaskContext,
  p: PackageParams,
  env: PieceEnv,
  work: string,
): Promise<{ entry: PackageAudioEntry; path: string | null }> {
  const got = await loadPiece(
    ctx.storage,
    p.audio.uri,
    packageAudioEntry,
    work,
    (e) => (e.none ? null : e.sha256),
    ctx.signal,
  );
  if (!('why' in got)) return got;
  ctx.onRepair?.('audio', got.why);
  const local = join(work, 'again-audio.webm');
  const entry = await encodePackageAudio(env, local);
  return { entry, path: entry.none ? null : local };
}

/** The extras' files into the package; subtitles listed in both manifests, as ffmpeg's dash muxer carries none. */
async function addExtras(outDir: string, extras: ExtrasEntry, extrasDir: string, duration: number): Promise<void> {
  const tracks = extras.subtitles;
  for (const f of extras.files) await copyFile(join(extrasDir, f), join(outDir, f));
  if (!tracks.length) return;
  const mpd = await readFile(join(outDir, DASH_MANIFEST), 'utf8');
  await writeFile(join(outDir, DASH_MANIFEST), addSubtitlesToDash(mpd, tracks));
  const master = await readFile(join(outDir, HLS_MANIFEST), 'utf8');
  const hls = addSubtitlesToHls(master, tracks, duration);
  await writeFile(join(outDir, HLS_MANIFEST), hls.master);
  for (const pl of hls.playlists) await writeFile(join(outDir, pl.name), pl.text);
}

/** HLS as the spec says it (hls.ts), which the dash muxer does not write: VOD media playlists, each variant's peak bandwidth. */
async function finishHls(outDir: string): Promise<void> {
  const rates = new Map<string, SegmentRates>();
  for (const f of await readdir(outDir))
    if (/^media_\d+\.m3u8$/.test(f)) {
      const text = vodPlaylist(await readFile(join(outDir, f), 'utf8'));
      await writeFile(join(outDir, f), text);
      const sizes = new Map<string, number>();
      for (const seg of segmentsOf(text)) sizes.set(seg.file, (await stat(join(outDir, seg.file))).size);
      rates.set(
        f,
        ratesOf(text, (x) => sizes.get(x) ?? 0),
      );
    }
  const masterPath = join(outDir, HLS_MANIFEST);
  await writeFile(masterPath, withBandwidths(await readFile(masterPath, 'utf8'), rates));
}

/**
 * The package's own index: what it holds, so a --force over it can remove what it no longer has.
 * Written last of the package's files (it lists them); its sha256 goes into the task's result.
 */
async function writePackageIndex(outDir: string, preset: string, segmentSeconds: number): Promise<string> {
  const own = (await readdir(outDir)).filter((f) => f !== PACKAGE_INDEX);
  const index: PackageIndex = {
    madeBy: 'nommer',
    preset,
    segmentSeconds,
    files: own.sort(),
  };
  await writeFile(join(outDir, PACKAGE_INDEX), `${JSON.stringify(index, null, 2)}\n`);
  return sha256File(join(outDir, PACKAGE_INDEX));
}

/**
 * The package's files prepared at their destination and committed in order (commitPackage). On a
 * failure nothing of it is left behind: what was prepared is discarded, and a local directory made
 * for it removed.
 */
async function commitPackageFiles(
  ctx: TaskContext,
  uri: string,
  outDir: string,
  files: readonly string[],
): Promise<CommittedSet> {
  const prepared: PreparedOutput[] = [];
  const madeDir = isLocalUri(uri) ? await makeLocalDir(localPathOf(uri)) : false;
  try {
    const byName = new Map<string, PreparedOutput>();
    await inLanes(files, COMMIT_LANES, async (f) => {
      const po = await ctx.storage.prepareOutput(packageFileUri(uri, f), {
        overwrite: ctx.task.force,
        tag: ctx.tag,
        scratchDir: ctx.scratch,
      });
      prepared.push(po);
      byName.set(f, po);
      await copyFile(join(outDir, f), po.path);
    });
    return await commitPackage(
      commitGroups(files).map((g) => g.map((f) => byName.get(f)!)),
      ctx.signal,
    );
  } catch (err) {
    await discardAll(prepared);
    if (madeDir) await rmdir(localPathOf(uri)).catch(() => undefined);
    throw err;
  }
}

/**
 * What a package's success event carries: its record (bounded by its rungs and subtitle tracks),
 * its index by reference, and its media. What it committed is listed in the package's own index,
 * never here: a file list grows with the title (18,000 segments for 10 hours of 6 rungs at 2 s)
 * and once made the event too large for SQS. A package that lands after its job ended is taken
 * back file by file from that index.
 */
export function packageResult(uri: string, info: PackageInfo, indexSha256: string, height: number | null) {
  return {
    package: info,
    packageIndex: { uri: packageFileUri(uri, PACKAGE_INDEX), sha256: indexSha256 },
    // For the cost per output minute (cost/output-media.ts): the package's length at its top rendition's height.
    media: [{ uri, seconds: info.duration, height }],
  };
}

/**
 * The package's loudness record, when its preset asks for it: the audio piece's, measured again
 * on the package's own audio (stream `audioStream`'s HLS playlist over the CMAF segments).
 */
async function packageLoudness(
  ctx: TaskContext,
  preset: ResolvedPreset,
  audio: PackageAudioEntry,
  outDir: string,
  audioStream: number,
): Promise<OutputLoudness | undefined> {
  const target = preset.audio?.loudness;
  if (!target) return undefined;
  if (audio.none) return noAudioLoudness(target);
  if (!audio.loudness) return undefined;
  const playlist = `file:${join(outDir, `media_${audioStream}.m3u8`)}`;
  return withOutputFigures(
    audio.loudness,
    await measureOutputLoudness(ctx.ffmpeg.ffmpeg, playlist, { signal: ctx.signal }),
  );
}

/** Make the package's local directory; true when it did not exist (so a failure removes it). */
async function makeLocalDir(dir: string): Promise<boolean> {
  const had = await stat(dir).catch(() => undefined);
  if (had && !had.isDirectory())
    throw new NommerError('OUTPUT_EXISTS', `${dir} exists and is not a directory; a package is a directory`, {
      hint: 'choose another -o for the package',
    });
  await mkdir(dir, { recursive: true });
  return !had;
}

async function fetchExtras(ctx: TaskContext, uri: string, entry: ExtrasEntry, dir: string): Promise<boolean> {
  await mkdir(dir, { recursive: true });
  for (const f of entry.files) {
    const got = await tryFetch(ctx.storage, extrasFileUri(uri, f), join(dir, 'fetch'), ctx.signal);
    if (!got || entry.sha256[f] !== (await sha256File(got))) return false;
    await copyFile(got, join(dir, f));
  }
  return true;
}

async function describe(
  dir: string,
  files: string[],
  renditions: readonly RungVideo[],
  audio: PackageAudioEntry,
  extras: ExtrasEntry,
  segmentSeconds: number,
  duration: number,
): Promise<PackageInfo> {
  const list: RenditionInfo[] = [];
  for (const [i, r] of renditions.entries()) {
    // Stream i's segments (the dash muxer names them by stream), so the figure is what a player downloads.
    const own = files.filter((f) => f === `init-stream${i}.m4s` || f.startsWith(`chunk-stream${i}-`));
    let bytes = 0;
    for (const f of own) bytes += (await stat(join(dir, f))).size;
    list.push({
      rung: r.rung,
      width: r.width,
      height: r.height,
      codec: r.codec,
      bytes,
      kbps: duration > 0 ? Math.round((bytes * 8) / duration / 1000) : 0,
    });
  }
  return {
    dash: DASH_MANIFEST,
    hls: HLS_MANIFEST,
    segmentSeconds,
    duration,
    renditions: list,
    audio: audio.none ? null : { codec: audio.codec, channels: audio.channels, kbps: audio.kbps },
    subtitles: extras.subtitles.map((t) => ({
      file: t.file,
      language: t.language,
      label: t.label,
    })),
    poster: extras.poster,
    thumbnails: extras.thumbnails?.vtt ?? null,
    files: files.length,
  };
}
