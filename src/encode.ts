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
import { TaskProgress } from './ffmpeg/progress.js';
import { runFfmpeg } from './ffmpeg/run.js';
import type { ProbeInfo } from './ffmpeg/types.js';
import { writeWebmHdr } from './ffmpeg/webm-hdr.js';
import type { OutputLoudness } from './jobs/outputs.js';
import type { Progress } from './jobs/types.js';
import { compileJob } from './presets/compile.js';
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
import { enforceGates } from './quality/gates.js';
import { searchOnSamples, verifyFinal, type SamplesSearch } from './quality/run-search.js';
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

/**
 * Probe and run ffmpeg into the given paths; nothing is committed. Each output must be non-empty.
 * The caller owns the paths (discard them on failure).
 */
export async function encodeInto(req: EncodeIntoRequest): Promise<EncodeResult> {
  const now = req.now ?? Date.now;
  const probe = await probeInput(req.ffmpeg.ffprobe, req.input, { signal: req.signal });
  req.onProbe?.(probe);
  const caps = await ffmpegCapabilities(req.ffmpeg.ffmpeg);
  const passlogDir = await mkdtemp(join(tmpdir(), 'nommer-pass-'));
  const paths = req.outputs.map((o) => o.path);
  const input = ffmpegInputArg(req.input);
  const presets = req.outputs.map((o) => o.preset);
  /** Each output's level, where its preset asks for loudness (fitted before the encode). */
  const levels: Array<OutputLevel | undefined> = [];
  const compile = (crfs: ReadonlyArray<number | undefined>, only?: number) =>
    compileJob({
      input,
      probe,
      outputs: req.outputs
        .map((o, i) => ({ preset: presets[i]!, path: o.path, crf: crfs[i], levelFilters: levelFiltersOf(levels[i]) }))
        .filter((_, i) => only === undefined || i === only),
      encoders: caps.encoders,
      passlogDir,
    });
  const show = (argv: string[]) =>
    argv.map((a) => {
      const i = paths.indexOf(a);
      return i >= 0
        ? isLocalUri(req.outputs[i]!.dest)
          ? resolve(localPathOf(req.outputs[i]!.dest))
          : req.outputs[i]!.dest
        : a;
    });
  try {
    const plain = compile([]);
    const targets: Array<QualityTarget | undefined> = [];
    for (const p of presets) targets.push(await targetOf(p, req.ffmpeg.ffmpeg));
    // A dry run shows the preset's own CRF: in target mode the CRF is searched when it runs.
    if (req.dryRun) {
      // A loudness target's measurement runs first; the gain it decides is not in the commands.
      const measures = presets.flatMap((p) => {
        const m = measureCommandOf({ audio: p.audio, probe, input });
        return m ? [m] : [];
      });
      return {
        probe,
        outputs: [],
        commands: [...measures, ...plain.commands.map((c) => c.args)].map((a) => show([req.ffmpeg.ffmpeg, ...a])),
      };
    }
    for (const [i, p] of presets.entries())
      levels[i] = await fitOutputLevel({
        ffmpeg: req.ffmpeg.ffmpeg,
        audio: p.audio,
        probe,
        input,
        // A trial is the output's audio alone, compiled as the output's (the same chain and encoder).
        encode: async (levelFilters) => {
          const path = join(passlogDir, `loudness-${i}.${p.extension}`);
          const one = compileJob({
            input,
            probe,
            outputs: [{ preset: { ...p, video: null }, path, levelFilters }],
            encoders: caps.encoders,
            passlogDir,
          });
          await rm(path, { force: true });
          for (const c of one.commands)
            await runFfmpeg(req.ffmpeg.ffmpeg, c.args, { signal: req.signal, onSpawn: req.onSpawn });
          return path;
        },
        signal: req.signal,
        onSpawn: req.onSpawn,
      });

    const searches: Array<{ s: SamplesSearch; run: Parameters<typeof verifyFinal>[0] } | undefined> = [];
    // Their kept probe encodes live in passlogDir, removed with it.
    const encoders: Array<SampleEncoder | undefined> = [];
    for (const [i, target] of targets.entries()) {
      if (!target) continue;
      const enc = sampleEncoder({
        ffmpeg: req.ffmpeg.ffmpeg,
        input,
        duration: probe.duration,
        probe,
        preset: presets[i]!,
        encoders: caps.encoders,
        target,
        workDir: passlogDir,
        signal: req.signal,
        onSpawn: req.onSpawn,
      });
      encoders[i] = enc;
      const start = plain.outputs[i]!.video?.crf ?? 32;
      // The search shows as the first SEARCH_SHARE of the progress, a step per probe.
      let probes = 0;
      const probeSamples = async (crf: number) => {
        const score = await enc.probe(crf);
        req.onProgress?.({ fraction: SEARCH_SHARE * Math.min(1, ++probes / 4) });
        return score;
      };
      const s = await searchOnSamples({
        target,
        start,
        samples: enc.samples,
        capKbps: null,
        probe: probeSamples,
        now,
      });
      const capKbps = compile([...Array(i).fill(undefined), s.crf], i).outputs[0]!.video?.capKbps ?? null;
      searches[i] = {
        s,
        run: {
          target,
          start,
          samples: enc.samples,
          capKbps,
          now,
          encodeFinal: (crf) => encodeOneAgain(i, crf),
        },
      };
    }
    const crfs = searches.map((x) => x?.s.crf);
    const share = searches.some(Boolean) ? SEARCH_SHARE : 0;
    const compiled = compile(crfs);
    const commands = compiled.commands.map((c) => show([req.ffmpeg.ffmpeg, ...c.args]));
    const progress = new TaskProgress(
      compiled.commands.map((c) => c.weight),
      probe.duration,
      now(),
    );
    /**
     * A lone output of a short input, its own sample, whose search settled on a probed CRF: the
     * probe ran this very command (video only, no other output sharing it), so take its file and
     * its measurement instead of encoding and measuring the same again.
     */
    const fromProbe = async (i: number, crf: number, argv: readonly (readonly string[])[]) => {
      const enc = encoders[i];
      if (!enc || req.outputs.length !== 1) return undefined;
      return takeProbe(enc, crf, argv, req.outputs[i]!.path);
    };
    const taken =
      crfs[0] !== undefined
        ? await fromProbe(
            0,
            crfs[0],
            compiled.commands.map((c) => c.args),
          )
        : undefined;
    // Each output to be measured gets its source frames written beside it by its own encode
    // (when small enough), so measuring it decodes only the output, not the source again.
    const frames = probe.duration * (probe.video?.fps ?? 0);
    const everyOf = (i: number) => sampleEveryOf(presets[i]!, Boolean(searches[i]));
    const referenceOf = (i: number, video: (typeof compiled.outputs)[number]['video'], n: number) =>
      video && probe.video && (searches[i] || (presets[i]!.video && !whyNotMeasured(presets[i]!, probe, video)))
        ? rawReference({
            dir: passlogDir,
            name: `reference-${i}-${n}.nut`,
            video,
            referenceStream: probe.video.index,
            frames,
            every: everyOf(i),
          })
        : Promise.resolve(undefined);
    const refs: Array<RawReference | undefined> = [];
    if (!taken) for (const [i, o] of compiled.outputs.entries()) refs[i] = await referenceOf(i, o.video, 0);
    const runArgs = withReferences(
      compiled.commands,
      req.outputs.map((o, i) => ({ outputPath: o.path, ref: refs[i] })),
    );
    for (const [i] of taken ? [] : compiled.commands.entries()) {
      await runFfmpeg(req.ffmpeg.ffmpeg, runArgs[i]!, {
        signal: req.signal,
        onSpawn: req.onSpawn,
        onProgress: (b) => {
          const p = progress.update(i, b, now());
          req.onProgress?.(share ? { ...p, fraction: share + (1 - share) * p.fraction } : p);
        },
      });
    }
    const measure = (
      i: number,
      video: NonNullable<(typeof compiled.outputs)[number]['video']>,
      ref: RawReference | undefined,
    ) =>
      measureAgainstSource({
        ffmpeg: req.ffmpeg.ffmpeg,
        path: req.outputs[i]!.path,
        input,
        probe,
        video,
        rawReference: ref,
        every: everyOf(i),
        signal: req.signal,
      });
    let reruns = 0;
    // A correction re-encodes only the output that missed, into its own path.
    async function encodeOneAgain(i: number, crf: number) {
      const one = compile([...Array(i).fill(undefined), crf], i);
      await rm(req.outputs[i]!.path, { force: true });
      const again = await fromProbe(
        i,
        crf,
        one.commands.map((c) => c.args),
      );
      const ref = again ? undefined : await referenceOf(i, one.outputs[0]!.video, ++reruns);
      if (!again)
        for (const args of withReferences(one.commands, [{ outputPath: req.outputs[i]!.path, ref }]))
          await runFfmpeg(req.ffmpeg.ffmpeg, args, { signal: req.signal, onSpawn: req.onSpawn });
      commands.push(...one.commands.map((c) => show([req.ffmpeg.ffmpeg, ...c.args])));
      const quality = again ?? (await measure(i, one.outputs[0]!.video!, ref));
      return { quality, kbps: await averageKbps(req.outputs[i]!.path, probe.duration) };
    }

    const outputs: EncodeResult['outputs'] = [];
    for (const [i, o] of req.outputs.entries()) {
      const st = await stat(o.path).catch(() => undefined);
      if (!st || st.size === 0)
        throw new NommerError('FFMPEG_FAILED', `ffmpeg wrote no data for ${o.dest}`, {
          hint: 'the input may have no stream this preset can use',
        });
      const video = compiled.outputs[i]!.video;
      let quality: OutputQuality | undefined;
      const search = searches[i];
      if (search) {
        const first = i === 0 && taken ? taken : await measure(i, video!, refs[i]);
        const r = await verifyFinal(search.run, search.s, {
          quality: first,
          kbps: await averageKbps(o.path, probe.duration),
        });
        quality = { ...r.final.quality, search: r.record };
      } else if (presets[i]!.video) {
        const why = whyNotMeasured(presets[i]!, probe, video);
        quality = why
          ? { skipped: why }
          : await measureOutput({
              ffmpeg: req.ffmpeg.ffmpeg,
              input,
              probe,
              video: video!,
              path: o.path,
              rawReference: refs[i],
              every: everyOf(i),
              signal: req.signal,
            });
      }
      // A kept HDR source's static metadata goes into the WebM's Colour (ffmpeg 5.1 drops it).
      const hdr = video?.hdr;
      if (hdr?.mode === 'kept' && compiled.outputs[i]!.muxer === 'webm' && probe.video?.hdr)
        await writeWebmHdr(o.path, probe.video.hdr);
      if (hdr && quality) quality = { ...quality, hdr };
      if (quality) quality = enforceGates(quality, presets[i]!.quality?.gates, `output ${o.dest}`);
      const level = levels[i];
      const loudness = level
        ? await finishLevel(level, () =>
            measureOutputLoudness(req.ffmpeg.ffmpeg, `file:${o.path}`, { signal: req.signal, onSpawn: req.onSpawn }),
          )
        : undefined;
      const size = (await stat(o.path)).size;
      outputs.push({ path: o.path, bytes: size, ...(quality ? { quality } : {}), ...(loudness ? { loudness } : {}) });
    }
    return { probe, outputs, commands };
  } catch (err) {
    throw asNommerError(err);
  } finally {
    await rm(passlogDir, { recursive: true, force: true });
  }
}
