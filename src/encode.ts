// One encode, start to finish, on local files: probe -> compile presets to ffmpeg runs -> run them
// into paths the Storage port prepared (private temp names) -> commit all outputs or none.
// `nommer encode` calls encode(); a worker calls encodeInto() with outputs it prepared itself, so
// it can check its task is still current between the encode and the commit.
// Quality: every moving-video output is measured against its source after the encode
// (quality/encode-quality.ts); an output whose preset has a quality target gets its CRF from a
// search on samples first, and is verified (and corrected) after (quality/run-search.ts).
// Loudness: an output whose preset asks for it gets its level from a measurement and audio-only
// trial encodes first (ffmpeg/loudness.ts), and is measured again on the output after.
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { NommerError, asNommerError } from './errors.js';
import { ffmpegCapabilities, type FfmpegInstall } from './ffmpeg/locate.js';
import {
  finishLevel,
  fitOutputLevel,
  levelFiltersOf,
  measureCommandOf,
  measureOutputLoudness,
  type OutputLevel,
} from './ffmpeg/loudness.js';
import { ffmpegInputArg, probeInput } from './ffmpeg/probe.js';
import { type FfmpegProgressBlock, TaskProgress } from './ffmpeg/progress.js';
import { runFfmpeg } from './ffmpeg/run.js';
import type { ProbeInfo } from './ffmpeg/types.js';
import type { OutputLoudness } from './jobs/outputs.js';
import type { Progress } from './jobs/types.js';
import { compileJob, type CompiledJob, type CompiledOutput } from './presets/compile.js';
import type { ResolvedPreset } from './presets/schema.js';
import { commitAll, discardAll, type PreparedOutput, type Storage } from './ports/storage.js';
import {
  averageKbps,
  measureAgainstSource,
  measureOutput,
  rawReference,
  sampleEncoder,
  takeProbe,
  targetOf,
  whyNotMeasured,
  withReferences,
  sampleEveryOf,
  type RawReference,
  type SampleEncoder,
} from './quality/encode-quality.js';
import {
  type EncoderReport,
  encoderQuality,
  fileIndexOf,
  measuredByEncoder,
  readVstats,
  withEncoderPsnr,
} from './quality/encoder-psnr.js';
import { enforceGates } from './quality/gates.js';
import type { FinalEncode, SamplesSearch, TargetRun } from './quality/run-search.js';
import type { OutputQuality, QualityTarget } from './quality/types.js';
import { isHttpUri, isLocalUri, localPathOf } from './uri.js';

export interface EncodeOutput {
  preset: ResolvedPreset;
  /** Destination: a local path, or a URI the storage handles. */
  path: string;
}

export interface EncodeRequest {
  ffmpeg: FfmpegInstall;
  /** Where outputs are prepared and committed (local files for `nommer encode`). */
  storage: Storage;
  /** Local file path (or an http(s) URL ffmpeg reads directly). */
  input: string;
  outputs: EncodeOutput[];
  /** Overwrite destinations that exist. Never the input itself. */
  force?: boolean;
  signal?: AbortSignal;
  onProgress?: (p: Progress) => void;
  /** Called when the probe is done, before encoding starts. */
  onProbe?: (p: ProbeInfo) => void;
  /** Called with each ffmpeg pid. */
  onSpawn?: (pid: number) => void;
  /** Give only the argument arrays that would run; run nothing. */
  dryRun?: boolean;
  /** Now, for progress ETA; tests pass their own clock. */
  now?: () => number;
  /** Names the temporary files (with a random part: two deliveries of a task never share one). */
  tempTag?: string;
  /** Scratch dir for outputs that are not local files. */
  scratchDir?: string;
}

export interface IntoOutput {
  preset: ResolvedPreset;
  /** Where ffmpeg writes (a prepared output's path). */
  path: string;
  /** The destination, shown in dry runs and checked against the input. */
  dest: string;
}

export interface EncodeIntoRequest
  extends Omit<EncodeRequest, 'storage' | 'outputs' | 'force' | 'tempTag' | 'scratchDir'> {
  outputs: IntoOutput[];
}

export interface EncodeResult {
  probe: ProbeInfo;
  /** `quality` for every output with video: its scores, or why it was not measured. `loudness`
   * for every output whose preset asks for it. */
  outputs: Array<{ path: string; bytes: number; quality?: OutputQuality; loudness?: OutputLoudness }>;
  /** The ffmpeg argument arrays, ffmpeg binary first, as they ran (with final paths). */
  commands: string[][];
}

/** The job's own rules for its outputs: never the input itself, never two outputs on one file. */
export function checkOutputsOfJob(input: string, dests: readonly string[]): void {
  const seen = new Set<string>();
  for (const d of dests) {
    const key = isLocalUri(d) ? resolve(localPathOf(d)) : d;
    if (!isHttpUri(input) && isLocalUri(input) && isLocalUri(d) && resolve(localPathOf(input)) === key) {
      throw new NommerError('OUTPUT_EXISTS', `output ${d} is the input itself`, {
        hint: 'choose another output path with -o',
      });
    }
    if (seen.has(key))
      throw new NommerError('USAGE', `two outputs write to the same file: ${d}`, {
        hint: 'give each output its own -o path',
      });
    seen.add(key);
  }
}

/** Probe, check, prepare every output, encode, and commit them all or none. */
export async function encode(req: EncodeRequest): Promise<EncodeResult> {
  const force = req.force ?? false;
  checkOutputsOfJob(
    req.input,
    req.outputs.map((o) => o.path),
  );
  for (const o of req.outputs) await req.storage.checkOutput(o.path, { overwrite: force });
  if (req.dryRun) {
    return encodeInto({ ...req, outputs: req.outputs.map((o) => ({ preset: o.preset, path: o.path, dest: o.path })) });
  }
  const scratchDir = req.scratchDir ?? tmpdir();
  const prepared: PreparedOutput[] = [];
  try {
    for (const o of req.outputs)
      prepared.push(await req.storage.prepareOutput(o.path, { overwrite: force, tag: req.tempTag, scratchDir }));
    const r = await encodeInto({
      ...req,
      outputs: req.outputs.map((o, i) => ({ preset: o.preset, path: prepared[i]!.path, dest: o.path })),
    });
    const stored = await commitAll(prepared, { signal: req.signal });
    req.onProgress?.({ fraction: 1, etaSeconds: 0 });
    return {
      ...r,
      outputs: stored.map((s, i) => ({
        path: isLocalUri(s.uri) ? resolve(localPathOf(s.uri)) : s.uri,
        bytes: r.outputs[i]!.bytes,
        ...(r.outputs[i]!.quality ? { quality: r.outputs[i]!.quality } : {}),
        ...(r.outputs[i]!.loudness ? { loudness: r.outputs[i]!.loudness } : {}),
      })),
    };
  } catch (err) {
    await discardAll(prepared);
    throw asNommerError(err);
  }
}

/** Share of an encode's progress that a CRF search takes (it encodes about as much as the output). */
const SEARCH_SHARE = 0.3;

type CompiledVideo = NonNullable<CompiledOutput['video']>;
/** The measurement of a probe encode taken as the output. */
type ProbeQuality = NonNullable<Awaited<ReturnType<typeof takeProbe>>>;

/** One output's CRF search: its result on samples, and what verifyFinal needs to check (and
 * correct) the final encode. */
interface OutputSearch {
  s: SamplesSearch;
  run: Omit<TargetRun, 'probe'>;
}

/**
 * What the steps of one encodeInto share. The per-output arrays are indexed like req.outputs and
 * filled step by step: levels before the searches (a search compiles with the level's filters),
 * searches before the encode (the encode compiles at their CRFs).
 */
interface IntoRun {
  req: EncodeIntoRequest;
  now: () => number;
  probe: ProbeInfo;
  encoders: ReadonlySet<string>;
  /** Scratch for two-pass logs, loudness trials, kept probe encodes and raw references; removed
   * at the end of the encode. */
  passlogDir: string;
  /** The input as ffmpeg reads it. */
  input: string;
  presets: ResolvedPreset[];
  /** Each output's level, where its preset asks for loudness (fitted before the encode). */
  levels: Array<OutputLevel | undefined>;
  /** Each target output's search; undefined for an output without a quality target. */
  searches: Array<OutputSearch | undefined>;
  /** Each target output's probe encoder. Their kept probe encodes live in passlogDir, removed with it. */
  sampleEncoders: Array<SampleEncoder | undefined>;
  /** The commands as shown in the result; a correction adds its own. */
  commands: string[][];
  /** Corrections run so far, to name each one's raw reference apart. */
  reruns: number;
  /** What each output's encoder reported of its PSNR, for an output measured that way (encoder-psnr.ts). */
  reports: Array<EncoderReport | undefined>;
}

/**
 * Probe and run ffmpeg into the given paths; nothing is committed. Each output must be non-empty.
 * The caller owns the paths (discard them on failure).
 */
export async function encodeInto(req: EncodeIntoRequest): Promise<EncodeResult> {
  const probe = await probeInput(req.ffmpeg.ffprobe, req.input, { signal: req.signal });
  req.onProbe?.(probe);
  const caps = await ffmpegCapabilities(req.ffmpeg.ffmpeg);
  const run: IntoRun = {
    req,
    now: req.now ?? Date.now,
    probe,
    encoders: caps.encoders,
    passlogDir: await mkdtemp(join(tmpdir(), 'nommer-pass-')),
    input: ffmpegInputArg(req.input),
    presets: req.outputs.map((o) => o.preset),
    levels: [],
    searches: [],
    sampleEncoders: [],
    commands: [],
    reruns: 0,
    reports: [],
  };
  try {
    const plain = compileOutputs(run, []);
    const targets: Array<QualityTarget | undefined> = [];
    for (const p of run.presets) targets.push(await targetOf(p, req.ffmpeg.ffmpeg));
    // A dry run shows the preset's own CRF: in target mode the CRF is searched when it runs.
    if (req.dryRun) return dryRunResult(run, plain);
    for (const [i, p] of run.presets.entries()) run.levels[i] = await fitLevel(run, i, p);
    for (const [i, target] of targets.entries())
      if (target) run.searches[i] = await searchCrf(run, i, target, plain.outputs[i]!.video?.crf ?? 32);
    const compiled = compileOutputs(
      run,
      run.searches.map((x) => x?.s.crf),
    );
    run.commands = compiled.commands.map((c) => shown(run, [req.ffmpeg.ffmpeg, ...c.args]));
    const { taken, refs } = await encodeAll(run, compiled);
    const outputs: EncodeResult['outputs'] = [];
    for (const i of req.outputs.keys()) outputs.push(await finishOutput(run, i, compiled.outputs[i]!, refs[i], taken));
    return { probe, outputs, commands: run.commands };
  } catch (err) {
    throw asNommerError(err);
  } finally {
    await rm(run.passlogDir, { recursive: true, force: true });
  }
}

/** The job's outputs compiled at these CRFs (undefined: the preset's own), or only output `only`. */
function compileOutputs(run: IntoRun, crfs: ReadonlyArray<number | undefined>, only?: number): CompiledJob {
  return compileJob({
    input: run.input,
    probe: run.probe,
    outputs: run.req.outputs
      .map((o, i) => ({
        preset: run.presets[i]!,
        path: o.path,
        crf: crfs[i],
        levelFilters: levelFiltersOf(run.levels[i]),
      }))
      .filter((_, i) => only === undefined || i === only),
    encoders: run.encoders,
    passlogDir: run.passlogDir,
  });
}

/** An argv as the user should see it: each prepared (temporary) path shown as its destination. */
function shown(run: IntoRun, argv: string[]): string[] {
  const paths = run.req.outputs.map((o) => o.path);
  return argv.map((a) => {
    const i = paths.indexOf(a);
    if (i < 0) return a;
    const dest = run.req.outputs[i]!.dest;
    return isLocalUri(dest) ? resolve(localPathOf(dest)) : dest;
  });
}

/** The commands a dry run gives: what would run, at the presets' own CRFs. */
function dryRunResult(run: IntoRun, plain: CompiledJob): EncodeResult {
  // A loudness target's measurement runs first; the gain it decides is not in the commands.
  const measures = run.presets.flatMap((p) => {
    const m = measureCommandOf({ audio: p.audio, probe: run.probe, input: run.input });
    return m ? [m] : [];
  });
  return {
    probe: run.probe,
    outputs: [],
    commands: [...measures, ...plain.commands.map((c) => c.args)].map((a) => shown(run, [run.req.ffmpeg.ffmpeg, ...a])),
  };
}

/** Output i's loudness level (undefined when its preset asks for none), fitted by trial encodes. */
function fitLevel(run: IntoRun, i: number, p: ResolvedPreset): Promise<OutputLevel | undefined> {
  const { req } = run;
  return fitOutputLevel({
    ffmpeg: req.ffmpeg.ffmpeg,
    audio: p.audio,
    probe: run.probe,
    input: run.input,
    // A trial is the output's audio alone, compiled as the output's (the same chain and encoder).
    encode: async (levelFilters) => {
      const path = join(run.passlogDir, `loudness-${i}.${p.extension}`);
      const one = compileJob({
        input: run.input,
        probe: run.probe,
        outputs: [{ preset: { ...p, video: null }, path, levelFilters }],
        encoders: run.encoders,
        passlogDir: run.passlogDir,
      });
      await rm(path, { force: true });
      for (const c of one.commands)
        await runFfmpeg(req.ffmpeg.ffmpeg, c.args, { signal: req.signal, onSpawn: req.onSpawn });
      return path;
    },
    signal: req.signal,
    onSpawn: req.onSpawn,
  });
}

/** Output i's CRF, searched on samples from `start` (the preset's own CRF). */
async function searchCrf(run: IntoRun, i: number, target: QualityTarget, start: number): Promise<OutputSearch> {
  const { req, now } = run;
  const enc = sampleEncoder({
    ffmpeg: req.ffmpeg.ffmpeg,
    input: run.input,
    duration: run.probe.duration,
    probe: run.probe,
    preset: run.presets[i]!,
    encoders: run.encoders,
    target,
    workDir: run.passlogDir,
    signal: req.signal,
    onSpawn: req.onSpawn,
  });
  run.sampleEncoders[i] = enc;
  // The search shows as the first SEARCH_SHARE of the progress, a step per probe.
  let probes = 0;
  const probeSamples = async (crf: number) => {
    const score = await enc.probe(crf);
    req.onProgress?.({ fraction: SEARCH_SHARE * Math.min(1, ++probes / 4) });
    return score;
  };
  // The search's modules load only when a target asks for one (as the HDR writer below, for HDR).
  const { searchOnSamples } = await import('./quality/run-search.js');
  const s = await searchOnSamples({ target, start, samples: enc.samples, capKbps: null, probe: probeSamples, now });
  const capKbps = compileOutputs(run, [...Array(i).fill(undefined), s.crf], i).outputs[0]!.video?.capKbps ?? null;
  return {
    s,
    run: {
      target,
      start,
      samples: enc.samples,
      capKbps,
      now,
      encodeFinal: (crf) => encodeOneAgain(run, i, crf),
    },
  };
}

/**
 * A lone output of a short input, its own sample, whose search settled on a probed CRF: the
 * probe ran this very command (video only, no other output sharing it), so take its file and
 * its measurement instead of encoding and measuring the same again.
 */
async function fromProbe(run: IntoRun, i: number, crf: number, argv: readonly (readonly string[])[]) {
  const enc = run.sampleEncoders[i];
  if (!enc || run.req.outputs.length !== 1) return undefined;
  return takeProbe(enc, crf, argv, run.req.outputs[i]!.path);
}

/** How often output i's quality is sampled (every nth frame). */
function everyOf(run: IntoRun, i: number): number {
  return sampleEveryOf(run.presets[i]!, Boolean(run.searches[i]));
}

/**
 * Each output to be measured gets its source frames written beside it by its own encode (when
 * small enough), so measuring it decodes only the output, not the source again. `n` names the
 * reference of the nth correction apart from the first encode's.
 */
function referenceOf(
  run: IntoRun,
  i: number,
  video: CompiledVideo | undefined,
  n: number,
): Promise<RawReference | undefined> {
  const { probe, presets } = run;
  return video && probe.video && (run.searches[i] || (presets[i]!.video && !whyNotMeasured(presets[i]!, probe, video)))
    ? rawReference({
        dir: run.passlogDir,
        name: `reference-${i}-${n}.nut`,
        video,
        referenceStream: probe.video.index,
        frames: probe.duration * (probe.video?.fps ?? 0),
        every: everyOf(run, i),
      })
    : Promise.resolve(undefined);
}

/** Output i's quality against the source (from its raw reference, when one was written). */
function measure(run: IntoRun, i: number, video: CompiledVideo, ref: RawReference | undefined) {
  return measureAgainstSource({
    ffmpeg: run.req.ffmpeg.ffmpeg,
    path: run.req.outputs[i]!.path,
    input: run.input,
    probe: run.probe,
    video,
    rawReference: ref,
    every: everyOf(run, i),
    signal: run.req.signal,
  });
}

/**
 * Run the compiled commands, with progress after the search's share; or, for a lone output whose
 * probe ran its very command, take the probe's encode instead (`taken`: its measurement).
 */
async function encodeAll(run: IntoRun, compiled: CompiledJob) {
  const { req, now } = run;
  const share = run.searches.some(Boolean) ? SEARCH_SHARE : 0;
  const progress = new TaskProgress(
    compiled.commands.map((c) => c.weight),
    run.probe.duration,
    now(),
  );
  const crf0 = run.searches[0]?.s.crf;
  const taken =
    crf0 !== undefined
      ? await fromProbe(
          run,
          0,
          crf0,
          compiled.commands.map((c) => c.args),
        )
      : undefined;
  const byEncoder = taken ? [] : encoderMeasured(run, compiled);
  const refs: Array<RawReference | undefined> = [];
  if (!taken)
    for (const [i, o] of compiled.outputs.entries())
      refs[i] = byEncoder.includes(i) ? undefined : await referenceOf(run, i, o.video, 0);
  const runArgs = withReferences(
    compiled.commands,
    req.outputs.map((o, i) => ({ outputPath: o.path, ref: refs[i] })),
  );
  const paths = req.outputs.map((o) => o.path);
  for (const [i] of taken ? [] : compiled.commands.entries()) {
    const psnrPaths = byEncoder.map((j) => paths[j]!).filter((p) => compiled.commands[i]!.args.includes(p));
    const vstats = join(run.passlogDir, `vstats-${i}.log`);
    let end: FfmpegProgressBlock | undefined;
    await runFfmpeg(
      req.ffmpeg.ffmpeg,
      psnrPaths.length ? withEncoderPsnr(runArgs[i]!, psnrPaths, vstats) : runArgs[i]!,
      {
        signal: req.signal,
        onSpawn: req.onSpawn,
        onProgress: (b) => {
          if (b.end) end = b;
          const p = progress.update(i, b, now());
          req.onProgress?.(share ? { ...p, fraction: share + (1 - share) * p.fraction } : p);
        },
      },
    );
    for (const path of psnrPaths) {
      const file = fileIndexOf(compiled.commands[i]!.args, paths, path);
      run.reports[paths.indexOf(path)] = {
        psnrAll: end?.psnrAll?.[`${file}:0`],
        lumaFrames: await readVstats(vstats, file),
        frames: end?.frame,
      };
    }
  }
  return { taken, refs };
}

/**
 * The outputs whose quality their encoder reports (measuredByEncoder), each the first output
 * with video of the run that writes it: ffmpeg reports the whole output's PSNR for that one only.
 */
function encoderMeasured(run: IntoRun, compiled: CompiledJob): number[] {
  const paths = run.req.outputs.map((o) => o.path);
  return compiled.outputs.flatMap((o, i) => {
    const video = o.video;
    if (!video || whyNotMeasured(run.presets[i]!, run.probe, video)) return [];
    if (!measuredByEncoder(run.presets[i]!, video, Boolean(run.searches[i]))) return [];
    const writer = [...compiled.commands].reverse().find((c) => c.args.includes(paths[i]!));
    const first = writer && paths.findIndex((p, j) => compiled.outputs[j]!.video && writer.args.includes(p));
    return first === i ? [i] : [];
  });
}

/** A correction re-encodes only the output that missed, into its own path. */
async function encodeOneAgain(run: IntoRun, i: number, crf: number): Promise<FinalEncode> {
  const { req } = run;
  const one = compileOutputs(run, [...Array(i).fill(undefined), crf], i);
  await rm(req.outputs[i]!.path, { force: true });
  const again = await fromProbe(
    run,
    i,
    crf,
    one.commands.map((c) => c.args),
  );
  const ref = again ? undefined : await referenceOf(run, i, one.outputs[0]!.video, ++run.reruns);
  if (!again)
    for (const args of withReferences(one.commands, [{ outputPath: req.outputs[i]!.path, ref }]))
      await runFfmpeg(req.ffmpeg.ffmpeg, args, { signal: req.signal, onSpawn: req.onSpawn });
  run.commands.push(...one.commands.map((c) => shown(run, [req.ffmpeg.ffmpeg, ...c.args])));
  const quality = again ?? (await measure(run, i, one.outputs[0]!.video!, ref));
  return { quality, kbps: await averageKbps(req.outputs[i]!.path, run.probe.duration) };
}

/**
 * Output i after its encode: checked non-empty, its quality measured (and, in target mode,
 * verified and corrected), HDR metadata written, gates enforced, loudness measured.
 */
async function finishOutput(
  run: IntoRun,
  i: number,
  compiled: CompiledOutput,
  ref: RawReference | undefined,
  taken: ProbeQuality | undefined,
): Promise<EncodeResult['outputs'][number]> {
  const { req, probe } = run;
  const o = req.outputs[i]!;
  const st = await stat(o.path).catch(() => undefined);
  if (!st || st.size === 0)
    throw new NommerError('FFMPEG_FAILED', `ffmpeg wrote no data for ${o.dest}`, {
      hint: 'the input may have no stream this preset can use',
    });
  const video = compiled.video;
  let quality = await qualityOf(run, i, video, ref, i === 0 ? taken : undefined);
  // A kept HDR source's static metadata goes into the WebM's Colour (ffmpeg 5.1 drops it).
  const hdr = video?.hdr;
  if (hdr?.mode === 'kept' && compiled.muxer === 'webm' && probe.video?.hdr)
    await (await import('./ffmpeg/webm-hdr.js')).writeWebmHdr(o.path, probe.video.hdr);
  if (hdr && quality) quality = { ...quality, hdr };
  if (quality) quality = enforceGates(quality, run.presets[i]!.quality?.gates, `output ${o.dest}`);
  const level = run.levels[i];
  const loudness = level
    ? await finishLevel(level, () =>
        measureOutputLoudness(req.ffmpeg.ffmpeg, `file:${o.path}`, { signal: req.signal, onSpawn: req.onSpawn }),
      )
    : undefined;
  const size = (await stat(o.path)).size;
  return { path: o.path, bytes: size, ...(quality ? { quality } : {}), ...(loudness ? { loudness } : {}) };
}

/**
 * Output i's quality: in target mode verified against the window (and corrected) with its search
 * record; otherwise measured, or why not; none for an output without video. `taken`: the
 * measurement of a probe encode taken as this output.
 */
async function qualityOf(
  run: IntoRun,
  i: number,
  video: CompiledVideo | undefined,
  ref: RawReference | undefined,
  taken: ProbeQuality | undefined,
): Promise<OutputQuality | undefined> {
  const { req, probe } = run;
  const path = req.outputs[i]!.path;
  const search = run.searches[i];
  if (search) {
    const first = taken ? taken : await measure(run, i, video!, ref);
    const { verifyFinal } = await import('./quality/run-search.js');
    const r = await verifyFinal(search.run, search.s, {
      quality: first,
      kbps: await averageKbps(path, probe.duration),
    });
    return { ...r.final.quality, search: r.record };
  }
  if (!run.presets[i]!.video) return undefined;
  const why = whyNotMeasured(run.presets[i]!, probe, video);
  if (why) return { skipped: why };
  // From the encoder where it reported the whole output; else decoded (without a raw reference).
  const report = run.reports[i];
  const fromEncoder = report && encoderQuality(report, probe.video?.fps ?? 30);
  return (
    fromEncoder ??
    (await measureOutput({
      ffmpeg: req.ffmpeg.ffmpeg,
      input: run.input,
      probe,
      video: video!,
      path,
      rawReference: ref,
      every: everyOf(run, i),
      signal: req.signal,
    }))
  );
}
